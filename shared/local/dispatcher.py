"""Delivers SQS messages from the local stack to a handler in-process, as Lambda's SQS event
source mapping does in AWS: batches of up to ten, the real event shape, partial batch
failures honoured (a failed message becomes visible again and, after the queue's
maxReceiveCount, moto moves it to the dead-letter queue)."""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LocalLambdaContext:
    """The attributes handlers and Powertools read from a Lambda context."""

    function_name: str = "local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:000000000000:function:local"
    aws_request_id: str = ""
    timeout_ms: int = 900_000

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self._deadline = time.monotonic() + self.timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class DispatchStats:
    batches: int = 0
    delivered: int = 0
    failed: int = 0


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message in the shape Lambda's SQS event source delivers it."""
    body = message["Body"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class LocalDispatcher:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        handler: Handler,
        function_name: str = "local",
        batch_size: int = 10,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._handler = handler
        self._function_name = function_name
        self._batch_size = batch_size

    def drain(self, max_batches: int = 10_000) -> DispatchStats:
        """Deliver until the queue has nothing visible (or ``max_batches``)."""
        stats = DispatchStats()
        for _ in range(max_batches):
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=self._batch_size,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            stats.batches += 1
            event = {"Records": [sqs_record(m, self._queue_arn, self._region) for m in messages]}
            context = LocalLambdaContext(function_name=self._function_name)
            try:
                response = self._handler(event, context)
                failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
            except Exception:
                failed = {m["MessageId"] for m in messages}
            for message in messages:
                if message["MessageId"] in failed:
                    stats.failed += 1
                    self._sqs.change_message_visibility(
                        QueueUrl=self._queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=0,
                    )
                else:
                    stats.delivered += 1
                    self._sqs.delete_message(
                        QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )
        return stats


@contextmanager
def function_environment(variables: dict[str, str]) -> Iterator[None]:
    """Run in-process handlers with a function's environment (tables, endpoint, region)."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_handler(stack: Any, logical_id: str) -> Handler:
    """The handler a function of the template names (CodeUri + Handler), imported in-process,
    so the local stack runs exactly the code ``sam build`` would package."""
    function = stack.functions[logical_id]
    root = Path(stack.template_path).resolve().parent
    module_name, _, attribute = function.handler.rpartition(".")
    package = ".".join(Path(function.code_uri).parts)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module = importlib.import_module(f"{package}.{module_name}")
    handler: Handler = getattr(module, attribute)
    return handler
