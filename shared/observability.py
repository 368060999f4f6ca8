"""One Logger, Tracer and Metrics for every function, and the rule for logging phone numbers.

Handlers and services import these three objects instead of building their own, so every log
line carries the same ``service`` key and every metric lands in the same namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "billing"
METRICS_NAMESPACE = "TelecomBilling"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)

#: numbers up to this many characters are PBX extensions or short codes and are logged as is
SHORT_NUMBER_MAX_LEN = 6
#: characters kept in the clear at each end of a longer number
VISIBLE_HEAD = 3
VISIBLE_TAIL = 2


def mask_number(number: str) -> str:
    """Return ``number`` with its middle digits replaced by ``*``, for logs.

    A full subscriber number is personal data and must never reach a log. The first three
    characters (``+`` and country code, or a trunk prefix) still tell an operator which route
    or rate a call took, and the last two let support match a log line to a customer's
    complaint without revealing the number. Extensions and short codes of up to six
    characters (``1001``, ``112``) identify no one, so they are shown unchanged. Separators
    (spaces, dashes, ``sip:``, ``@host``) in the middle are kept; only digits are hidden, so
    the masked text keeps the original length and shape.

    >>> mask_number("+351912345678")
    '+35********78'
    >>> mask_number("1001")
    '1001'
    """
    if len(number) <= SHORT_NUMBER_MAX_LEN:
        return number
    head = number[:VISIBLE_HEAD]
    middle = number[VISIBLE_HEAD:-VISIBLE_TAIL]
    tail = number[-VISIBLE_TAIL:]
    return head + "".join("*" if char.isdigit() else char for char in middle) + tail


@contextmanager
def log_level(level: str) -> Iterator[None]:
    """Run with the shared logger at ``level``, then put it back (demo, benchmarks)."""
    previous = logger.log_level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)
