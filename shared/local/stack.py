"""The embedded local stack: moto's server on 127.0.0.1, resources built from ``template.yaml``.

No Docker here, so no ``sam local`` and no LocalStack (SPEC section 10). Instead:

1. moto's server runs in a background thread of this process (``ThreadedMotoServer``) on
   127.0.0.1 and a free port;
2. ``template.yaml`` goes through the SAM transform (samtranslator) offline: local code paths
   become placeholder S3 URIs, managed policy names resolve to made-up ARNs, no AWS call;
3. every resource of a type listed in ``EMULATED_TYPES`` is created through boto3 against
   that endpoint, with ``Ref`` / ``Fn::GetAtt`` / ``Fn::Sub`` (and the condition functions)
   resolved the way CloudFormation would. There is no second list of tables in code: a
   table added to the template exists locally on the next start.

Everything else (IAM roles, Lambda functions, layers, permissions, event source mappings,
HTTP APIs) is listed in ``LocalStack.not_emulated``: functions are invoked in-process with
the environment ``LocalStack.function_environment`` resolves for them, and IAM is not
enforced by moto anyway. The production observability (log groups, CloudWatch alarms and the
dashboard, the SNS alarm topic) is deliberately left there too: nothing in the local flow
reads it, functions log to the console, and tests/infrastructure checks it on the template.

What moto does by itself once the resources exist: an object created in the CDR bucket under
the notification's prefix becomes an S3 event message on the CDR queue (as on AWS, setting the
notification also sends one ``s3:TestEvent`` message first); EventBridge rules deliver matching
events to SQS targets. Queue policies are stored, not enforced. Bucket policies are not applied:
moto checks a bucket policy on object requests but not the ``aws:SecureTransport`` condition, so
the CDR bucket's TLS-only ``Deny`` would refuse every request to this plain-HTTP endpoint
(tests/infrastructure checks that policy on the template instead).

moto keeps its state in process-wide backends, so one ``LocalStack`` runs per process at a time;
``start`` and ``stop`` reset those backends so each stack starts empty and leaves nothing.
The credentials are fake and live only in this module's boto3 session and in
``aws_environment()``; nothing here reads or writes real AWS credentials.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.config import Config

from shared.local.stack_errors import LocalStackError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

LOCAL_HOST = "127.0.0.1"
LOCAL_REGION = "eu-west-1"  # the region infra/samconfig.toml deploys to
LOCAL_STAGE = "local"
LOCAL_STACK_NAME = "telecom-billing-local"
#: moto accepts any credentials; these are never valid anywhere else
FAKE_ACCESS_KEY_ID = "testing"
FAKE_SECRET_ACCESS_KEY = "testing"

EMULATED_TYPES = (
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
    "AWS::DynamoDB::Table",
    "AWS::Events::EventBus",
    "AWS::Events::Rule",
)


# ------------------------------------------------------------------------------ template


class CloudFormationLoader(yaml.SafeLoader):
    """A safe YAML loader that reads CloudFormation short tags as their long JSON form.

    ``!Ref X`` becomes ``{"Ref": "X"}``, ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}``
    and every other ``!Name`` becomes ``{"Fn::Name": ...}``, which is what the SAM transform
    and CloudFormation see.
    """


def _construct_short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - YAML has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}")
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_short_tag)


def load_template(path: Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """``template.yaml`` as a dict, short tags in their long form."""
    try:
        with path.open(encoding="utf-8") as stream:
            document = yaml.load(stream, Loader=CloudFormationLoader)
    except yaml.YAMLError as error:
        raise LocalStackError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise LocalStackError(f"{path}: not a CloudFormation template (no Resources mapping)")
    return document


#: local paths SAM would upload at package time; the transform insists on s3:// URIs
_ARTIFACT_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}
_PLACEHOLDER_BUCKET = "local-artifacts"


class _FakeManagedPolicies(dict[str, str]):
    """Any managed policy name maps to an ARN of that name; no IAM call is made."""

    def get(self, name: str, default: str | None = None) -> str:  # type: ignore[override]
        return f"arn:aws:iam::aws:policy/{name}"


class _OfflineManagedPolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which lists policies through IAM."""

    def load(self) -> dict[str, str]:
        return _FakeManagedPolicies()


_TRANSFORM_LOCK = threading.Lock()


@contextmanager
def _region_for_samtranslator(region: str) -> Iterator[None]:
    """samtranslator reads the region from a default boto3 session; give it ours, briefly."""
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region
    try:
        yield
    finally:
        if previous is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


def transform_template(
    template: Mapping[str, Any],
    parameters: Mapping[str, Any] | None = None,
    region: str = LOCAL_REGION,
) -> dict[str, Any]:
    """The CloudFormation template SAM would deploy, computed offline.

    Local ``CodeUri`` / ``ContentUri`` / ``DefinitionUri`` paths are replaced by placeholder
    ``s3://local-artifacts/<path>`` URIs first, as ``sam validate`` and cfn-lint do.
    """
    try:
        from samtranslator.model.exceptions import InvalidDocumentException
        from samtranslator.translator.transform import transform
    except ImportError as error:  # pragma: no cover - a dev dependency
        raise LocalStackError(
            "the SAM transform needs aws-sam-translator (pip install -e '.[dev]')"
        ) from error
    document = copy.deepcopy(dict(template))
    _placeholder_artifacts(document)
    with _TRANSFORM_LOCK, _region_for_samtranslator(region):
        try:
            result: dict[str, Any] = transform(
                document, dict(parameters or {}), _OfflineManagedPolicyLoader()
            )
        except InvalidDocumentException as error:
            causes = "; ".join(str(cause) for cause in error.causes)
            raise LocalStackError(f"the SAM transform rejected the template: {causes}") from error
    return result


def _placeholder_artifacts(document: dict[str, Any]) -> None:
    globals_function = document.get("Globals", {}).get("Function", {})
    sections = [("AWS::Serverless::Function", globals_function)]
    sections += [
        (resource.get("Type", ""), resource.get("Properties", {}))
        for resource in document["Resources"].values()
        if isinstance(resource, dict)
    ]
    for kind, properties in sections:
        prop = _ARTIFACT_PROPERTIES.get(kind)
        value = properties.get(prop) if prop else None
        if prop and isinstance(value, str) and not value.startswith("s3://"):
            properties[prop] = f"s3://{_PLACEHOLDER_BUCKET}/{value.strip('/') or '.'}"


# ------------------------------------------------------------------------------ resolution


class _NotEmulated(Exception):
    """A value refers to a resource the local stack does not create."""

    def __init__(self, logical_id: str, kind: str) -> None:
        super().__init__(f"{logical_id} ({kind}) is not emulated")
        self.logical_id = logical_id
        self.kind = kind


_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


@dataclass(frozen=True)
class EmulatedResource:
    """A resource created in moto: what ``Ref`` and ``Fn::GetAtt`` return for it."""

    logical_id: str
    type: str
    ref: str
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str | None:
        return self.attributes.get("Arn")


class _Resolver:
    """Evaluates CloudFormation intrinsic functions against what exists locally."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, Any],
        pseudo: Mapping[str, Any],
    ) -> None:
        self.template = template
        self.parameters = {**pseudo, **_parameter_values(template, parameters)}
        self.resources: dict[str, EmulatedResource] = {}
        self._conditions: dict[str, bool] = {}
        self._intrinsics: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": lambda arg: str(arg[0]).join(str(p) for p in self.resolve(arg[1])),
            "Fn::Select": lambda arg: self.resolve(arg[1])[int(self.resolve(arg[0]))],
            "Fn::Split": lambda arg: str(self.resolve(arg[1])).split(arg[0]),
            "Fn::If": self._if,
            "Fn::Equals": lambda arg: str(self.resolve(arg[0])) == str(self.resolve(arg[1])),
            "Fn::Not": lambda arg: not self.resolve(arg[0]),
            "Fn::And": lambda arg: all(self.resolve(item) for item in arg),
            "Fn::Or": lambda arg: any(self.resolve(item) for item in arg),
            "Condition": self.condition,
        }

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self.template.get("Conditions", {})
            if name not in definitions:
                raise LocalStackError(f"condition {name!r} is not defined in Conditions")
            self._conditions[name] = bool(self.resolve(definitions[name]))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            function = self._intrinsics.get(key)
            if function is not None:
                return function(argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _if(self, argument: list[Any]) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        return self._resource(name).ref

    def _get_att(self, argument: Any) -> str:
        logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
        resource = self._resource(logical_id)
        if attribute not in resource.attributes:
            raise LocalStackError(
                f"Fn::GetAtt {logical_id}.{attribute}: the local stack knows "
                f"{sorted(resource.attributes)} for {resource.type}"
            )
        return resource.attributes[attribute]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self.resolve(value) for name, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return str(values[name])
            if "." in name and name.split(".", 1)[0] not in self.parameters:
                return self._get_att(name)
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")

    def _resource(self, logical_id: str) -> EmulatedResource:
        if logical_id in self.resources:
            return self.resources[logical_id]
        declared = self.template["Resources"].get(logical_id)
        if declared is None:
            raise LocalStackError(f"{logical_id!r} is neither a parameter nor a resource")
        raise _NotEmulated(logical_id, declared["Type"])


def _parameter_values(template: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    declared: dict[str, Any] = template.get("Parameters", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise LocalStackError(f"unknown template parameters: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given:
            value = given[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise LocalStackError(f"template parameter {name} has no default; give a value")
        allowed = spec.get("AllowedValues")
        if allowed is not None and str(value) not in [str(item) for item in allowed]:
            raise LocalStackError(f"parameter {name}={value!r} is not one of {allowed}")
        values[name] = value
    return values


def _dependencies(value: Any) -> set[str]:
    """Names a resource definition refers to (Ref, GetAtt, Sub variables)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _dependencies(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(item.split(".", 1)[0] if isinstance(item, str) else item[0])
            elif key == "Fn::Sub":
                text = item if isinstance(item, str) else item[0]
                found |= {name.split(".", 1)[0] for name in _SUB_VARIABLE.findall(text)}
                found |= _dependencies(item)
            else:
                found |= _dependencies(item)
    return found


def _creation_order(resources: Mapping[str, Any], wanted: list[str]) -> list[str]:
    """``wanted`` sorted so that every resource comes after those it refers to."""
    pending = set(wanted)
    edges: dict[str, set[str]] = {}
    for logical_id in wanted:
        depends_on = resources[logical_id].get("DependsOn", [])
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        refs = _dependencies(resources[logical_id].get("Properties", {})) | set(depends_on)
        edges[logical_id] = refs & pending
    order: list[str] = []
    done: set[str] = set()
    while pending:
        ready = sorted(name for name in pending if edges[name] <= done)
        if not ready:
            raise LocalStackError(f"circular references between {sorted(pending)}")
        order += ready
        done |= set(ready)
        pending -= set(ready)
    return order


# ------------------------------------------------------------------------------ the stack


@dataclass(frozen=True)
class LocalFunction:
    """A Lambda function of the template, for in-process invocation."""

    logical_id: str
    code_uri: str  # as written in template.yaml, e.g. "functions/rate_call/"
    handler: str  # "app.handler"
    environment: dict[str, str]


class LocalStack:
    """moto's server plus the template's resources; use as a context manager or start/stop."""

    _running: LocalStack | None = None
    _running_lock = threading.Lock()

    def __init__(
        self,
        template_path: Path = DEFAULT_TEMPLATE,
        *,
        port: int = 0,
        region: str = LOCAL_REGION,
        parameters: Mapping[str, Any] | None = None,
        stack_name: str = LOCAL_STACK_NAME,
        quiet: bool = True,
    ) -> None:
        self.template_path = template_path
        self.region = region
        self.stack_name = stack_name
        self.parameters = {"Stage": LOCAL_STAGE, **(parameters or {})}
        self.resources: dict[str, EmulatedResource] = {}
        #: logical id -> CloudFormation type, for every resource the stack does not create
        self.not_emulated: dict[str, str] = {}
        #: what was left out of an emulated resource, e.g. "CdrBucket: Tags"
        self.skipped: list[str] = []
        self.functions: dict[str, LocalFunction] = {}
        self.transformed: dict[str, Any] = {}
        self.account_id = ""
        self._port = port
        self._quiet = quiet
        self._server: Any = None
        self._endpoint = ""
        self._clients: dict[str, Any] = {}
        self.session = boto3.session.Session(
            aws_access_key_id=FAKE_ACCESS_KEY_ID,
            aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
            region_name=region,
        )

    # -------------------------------------------------------------- lifecycle

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if not self._endpoint:
            raise LocalStackError("the local stack is not running")
        return self._endpoint

    @property
    def port(self) -> int:
        return int(self.endpoint_url.rsplit(":", 1)[1])

    def start(self) -> LocalStack:
        """Start moto's server, transform the template and create its resources."""
        template = load_template(self.template_path)
        with LocalStack._running_lock:
            if LocalStack._running is not None:
                raise LocalStackError(
                    "a local stack already runs in this process (moto's state is process-wide)"
                )
            LocalStack._running = self
        self.resources, self.not_emulated, self.skipped, self.functions = {}, {}, [], {}
        try:
            self._start_server()
            self.account_id = self.client("sts").get_caller_identity()["Account"]
            self.transformed = transform_template(template, self.parameters, self.region)
            self._create_resources(template)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Drop every resource, stop the server and close its port. Safe to call twice."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self._server is not None:
            if self._endpoint:
                with suppress(OSError):  # a server that already died has nothing to reset
                    self._reset_backends()
            self._server.stop()
            # ThreadedMotoServer.stop() ends serve_forever() but leaves the socket listening
            if self._server._server is not None:
                self._server._server.server_close()
            self._server = None
        self._endpoint = ""
        with LocalStack._running_lock:
            if LocalStack._running is self:
                LocalStack._running = None

    def _start_server(self) -> None:
        from moto.server import ThreadedMotoServer

        if self._quiet:  # werkzeug logs one line per request otherwise
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address=LOCAL_HOST, port=self._port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self._endpoint = f"http://{host}:{port}"
        self._reset_backends()  # moto's backends outlive servers within a process

    def _reset_backends(self) -> None:
        request = urllib.request.Request(f"{self._endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    # -------------------------------------------------------------- access

    def client(self, service: str) -> Any:
        """A boto3 client for the local endpoint (fake credentials, path-style S3)."""
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service,
                endpoint_url=self.endpoint_url,
                config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
            )
        return self._clients[service]

    def name(self, logical_id: str) -> str:
        """What ``Ref`` returns: bucket name, queue URL, table name, rule or bus name."""
        return self._emulated(logical_id).ref

    def arn(self, logical_id: str) -> str:
        arn = self._emulated(logical_id).arn
        if arn is None:
            raise LocalStackError(f"{logical_id} has no ARN")
        return arn

    def resources_of_type(self, kind: str) -> dict[str, EmulatedResource]:
        return {key: res for key, res in self.resources.items() if res.type == kind}

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The environment variables the template gives a function (Globals merged in)."""
        if logical_id not in self.functions:
            raise LocalStackError(
                f"{logical_id} is not a function of the template; functions: "
                + ", ".join(sorted(self.functions))
            )
        return dict(self.functions[logical_id].environment)

    def aws_environment(self) -> dict[str, str]:
        """Variables that point the AWS SDKs of an in-process function at this stack."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def describe(self) -> dict[str, Any]:
        """Everything a client of the running stack needs, as JSON-ready data."""
        return {
            "endpoint": self.endpoint_url,
            "region": self.region,
            "account": self.account_id,
            "stage": self.parameters["Stage"],
            "template": str(self.template_path),
            "resources": {
                key: {"type": res.type, "ref": res.ref, **res.attributes}
                for key, res in sorted(self.resources.items())
            },
            "not_emulated": dict(sorted(self.not_emulated.items())),
            "skipped": list(self.skipped),
            "functions": {
                key: {
                    "code_uri": fn.code_uri,
                    "handler": fn.handler,
                    "environment": fn.environment,
                }
                for key, fn in sorted(self.functions.items())
            },
            "aws_environment": self.aws_environment(),
        }

    def _emulated(self, logical_id: str) -> EmulatedResource:
        if logical_id in self.resources:
            return self.resources[logical_id]
        if logical_id in self.not_emulated:
            raise LocalStackError(f"{logical_id} ({self.not_emulated[logical_id]}) is not emulated")
        raise LocalStackError(f"no resource {logical_id!r} in {self.template_path}")

    # -------------------------------------------------------------- creation

    def _create_resources(self, template: Mapping[str, Any]) -> None:
        declared: dict[str, Any] = self.transformed["Resources"]
        resolver = _Resolver(
            self.transformed,
            self.parameters,
            {
                "AWS::Region": self.region,
                "AWS::AccountId": self.account_id,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackName": self.stack_name,
                "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:"
                f"stack/{self.stack_name}/local",
                "AWS::NotificationARNs": [],
            },
        )
        wanted: list[str] = []
        for logical_id, resource in declared.items():
            condition = resource.get("Condition")
            if condition is not None and not resolver.condition(condition):
                continue
            if resource["Type"] in EMULATED_TYPES:
                wanted.append(logical_id)
            else:
                self.not_emulated[logical_id] = resource["Type"]
        creators: dict[str, Callable[[str, dict[str, Any], _Resolver], EmulatedResource]] = {
            "AWS::S3::Bucket": self._create_bucket,
            "AWS::SQS::Queue": self._create_queue,
            "AWS::SQS::QueuePolicy": self._create_queue_policy,
            "AWS::DynamoDB::Table": self._create_table,
            "AWS::Events::EventBus": self._create_event_bus,
            "AWS::Events::Rule": self._create_rule,
        }
        for logical_id in _creation_order(declared, wanted):
            resource = declared[logical_id]
            try:
                created = creators[resource["Type"]](
                    logical_id, resource.get("Properties", {}), resolver
                )
            except _NotEmulated as missing:
                raise LocalStackError(
                    f"{logical_id} ({resource['Type']}) refers to {missing.logical_id} "
                    f"({missing.kind}), which the local stack does not emulate"
                ) from missing
            resolver.resources[logical_id] = created
            self.resources[logical_id] = created
        self._collect_functions(template, resolver)

    def _collect_functions(self, template: Mapping[str, Any], resolver: _Resolver) -> None:
        written = template["Resources"]
        for logical_id, resource in self.transformed["Resources"].items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            properties = resource["Properties"]
            variables = properties.get("Environment", {}).get("Variables", {})
            environment: dict[str, str] = {}
            for name, value in variables.items():
                try:
                    environment[name] = _as_env_value(resolver.resolve(value))
                except _NotEmulated as missing:
                    raise LocalStackError(
                        f"{logical_id}: environment variable {name} refers to "
                        f"{missing.logical_id} ({missing.kind}), which is not emulated"
                    ) from missing
            code_uri = written.get(logical_id, {}).get("Properties", {}).get("CodeUri")
            if code_uri is None:
                code_uri = template.get("Globals", {}).get("Function", {}).get("CodeUri", "")
            self.functions[logical_id] = LocalFunction(
                logical_id=logical_id,
                code_uri=str(code_uri),
                handler=str(properties.get("Handler", "")),
                environment=environment,
            )

    def _generated_name(self, logical_id: str, limit: int, lower: bool = False) -> str:
        """Like CloudFormation's <stack>-<logical id>-<suffix>, without the random suffix."""
        name = f"{self.stack_name}-{logical_id}"[:limit]
        return name.lower() if lower else name

    def _skip_unknown(
        self, logical_id: str, props: Mapping[str, Any], known: Iterable[str]
    ) -> None:
        """Record the properties of a created resource that the local stack did not apply."""
        self.skipped += [f"{logical_id}: {key}" for key in sorted(set(props) - set(known))]

    def _create_bucket(
        self, logical_id: str, props: dict[str, Any], resolver: _Resolver
    ) -> EmulatedResource:
        props = resolver.resolve(props)
        s3 = self.client("s3")
        name = props.get("BucketName") or self._generated_name(logical_id, 63, lower=True)
        create: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        s3.create_bucket(**create)
        if "BucketEncryption" in props:
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    **({"BucketKeyEnabled": rule["BucketKeyEnabled"]}
                       if "BucketKeyEnabled" in rule else {}),
                }
                for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(
                Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules}
            )
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if "OwnershipControls" in props:
            s3.put_bucket_ownership_controls(
                Bucket=name, OwnershipControls=props["OwnershipControls"]
            )
        if "VersioningConfiguration" in props:
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration=props["VersioningConfiguration"]
            )
        if "Tags" in props:
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": props["Tags"]})
        if "NotificationConfiguration" in props:
            s3.put_bucket_notification_configuration(
                Bucket=name,
                NotificationConfiguration=self._notifications(
                    logical_id, props["NotificationConfiguration"]
                ),
            )
        self._skip_unknown(logical_id, props, {
            "BucketName", "BucketEncryption", "PublicAccessBlockConfiguration",
            "OwnershipControls", "VersioningConfiguration", "Tags", "NotificationConfiguration",
        })
        return EmulatedResource(logical_id, "AWS::S3::Bucket", name, {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
        })

    def _notifications(self, logical_id: str, config: dict[str, Any]) -> dict[str, Any]:
        """CloudFormation's notification shape in the S3 API's."""

        def api_filter(entry: dict[str, Any]) -> dict[str, Any]:
            rules = entry.get("Filter", {}).get("S3Key", {}).get("Rules")
            return {"Filter": {"Key": {"FilterRules": rules}}} if rules else {}

        result: dict[str, Any] = {}
        queues = [
            {"QueueArn": entry["Queue"], "Events": [entry["Event"]], **api_filter(entry)}
            for entry in config.get("QueueConfigurations", [])
        ]
        if queues:
            result["QueueConfigurations"] = queues
        if "EventBridgeConfiguration" in config:
            result["EventBridgeConfiguration"] = {}
        for other in ("LambdaConfigurations", "TopicConfigurations"):
            if other in config:  # functions run in-process; SNS is not part of the product
                self.skipped.append(f"{logical_id}: NotificationConfiguration.{other}")
        return result

    _QUEUE_ATTRIBUTES = frozenset({
        "ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue",
        "FifoThroughputLimit", "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId",
        "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
        "RedriveAllowPolicy", "RedrivePolicy", "SqsManagedSseEnabled", "VisibilityTimeout",
    })

    def _create_queue(
        self, logical_id: str, props: dict[str, Any], resolver: _Resolver
    ) -> EmulatedResource:
        props = resolver.resolve(props)
        fifo = bool(props.get("FifoQueue"))
        name = props.get("QueueName") or (
            self._generated_name(logical_id, 75) + ".fifo" if fifo
            else self._generated_name(logical_id, 80)
        )
        attributes = {
            key: _as_attribute(value)
            for key, value in props.items()
            if key in self._QUEUE_ATTRIBUTES
        }
        create: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if "Tags" in props:
            create["tags"] = {tag["Key"]: tag["Value"] for tag in props["Tags"]}
        sqs = self.client("sqs")
        url = sqs.create_queue(**create)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self._skip_unknown(logical_id, props, self._QUEUE_ATTRIBUTES | {"QueueName", "Tags"})
        return EmulatedResource(logical_id, "AWS::SQS::Queue", url, {
            "Arn": arn, "QueueName": name, "QueueUrl": url,
        })

    def _create_queue_policy(
        self, logical_id: str, props: dict[str, Any], resolver: _Resolver
    ) -> EmulatedResource:
        props = resolver.resolve(props)
        for url in props["Queues"]:
            self.client("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
            )
        return EmulatedResource(logical_id, "AWS::SQS::QueuePolicy", ",".join(props["Queues"]))

    def _create_table(
        self, logical_id: str, props: dict[str, Any], resolver: _Resolver
    ) -> EmulatedResource:
        props = resolver.resolve(props)
        name = props.get("TableName") or self._generated_name(logical_id, 255)
        create: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        for key in ("ProvisionedThroughput", "TableClass", "Tags"):
            if key in props:
                create[key] = props[key]
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if key in props:
                create[key] = [
                    {k: v for k, v in index.items() if k != "ContributorInsightsSpecification"}
                    for index in props[key]
                ]
        if "SSESpecification" in props:
            sse = props["SSESpecification"]
            create["SSESpecification"] = {
                "Enabled": bool(sse.get("SSEEnabled")),
                **{k: sse[k] for k in ("SSEType", "KMSMasterKeyId") if k in sse},
            }
        if "StreamSpecification" in props:
            create["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": props["StreamSpecification"]["StreamViewType"],
            }
        if "DeletionProtectionEnabled" in props:
            create["DeletionProtectionEnabled"] = _as_bool(props["DeletionProtectionEnabled"])
        dynamodb = self.client("dynamodb")
        table = dynamodb.create_table(**create)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl is not None and _as_bool(ttl.get("Enabled")):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr is not None and _as_bool(pitr.get("PointInTimeRecoveryEnabled")):
            dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        self._skip_unknown(logical_id, props, {
            "TableName", "AttributeDefinitions", "KeySchema", "BillingMode",
            "ProvisionedThroughput", "TableClass", "Tags", "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes", "SSESpecification", "StreamSpecification",
            "DeletionProtectionEnabled", "TimeToLiveSpecification",
            "PointInTimeRecoverySpecification",
        })
        attributes = {"Arn": table["TableArn"]}
        if "LatestStreamArn" in table:
            attributes["StreamArn"] = table["LatestStreamArn"]
        return EmulatedResource(logical_id, "AWS::DynamoDB::Table", name, attributes)

    def _create_event_bus(
        self, logical_id: str, props: dict[str, Any], resolver: _Resolver
    ) -> EmulatedResource:
        props = resolver.resolve(props)
        arn = self.client("events").create_event_bus(Name=props["Name"])["EventBusArn"]
        return EmulatedResource(logical_id, "AWS::Events::EventBus", props["Name"], {
            "Arn": arn, "Name": props["Name"],
        })

    def _create_rule(
        self, logical_id: str, props: dict[str, Any], resolver: _Resolver
    ) -> EmulatedResource:
        targets = props.get("Targets", [])
        props = resolver.resolve({key: value for key, value in props.items() if key != "Targets"})
        name = props.get("Name") or self._generated_name(logical_id, 64)
        rule: dict[str, Any] = {"Name": name}
        for key in ("EventBusName", "ScheduleExpression", "State", "Description", "RoleArn"):
            if key in props:
                rule[key] = props[key]
        if "EventPattern" in props:
            pattern = props["EventPattern"]
            rule["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        events = self.client("events")
        arn = events.put_rule(**rule)["RuleArn"]
        resolved_targets = []
        for target in targets:
            try:
                resolved_targets.append(resolver.resolve(target))
            except _NotEmulated as missing:  # a Lambda target: invoked in-process instead
                self.skipped.append(
                    f"{logical_id}: target {target.get('Id')} -> {missing.logical_id} "
                    f"({missing.kind})"
                )
        if resolved_targets:
            events.put_targets(
                Rule=name,
                EventBusName=props.get("EventBusName", "default"),
                Targets=resolved_targets,
            )
        self._skip_unknown(logical_id, props, {*rule, "EventPattern"})
        return EmulatedResource(logical_id, "AWS::Events::Rule", name, {"Arn": arn})


def _as_bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _as_attribute(value: Any) -> str:
    """A CloudFormation property value as the string the SQS API takes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _as_env_value(value: Any) -> str:
    """Lambda environment values are strings; CloudFormation renders true as "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
