"""DynamoDB adapters: the usage store (rated calls, ledger, balances, breakouts, file
checkpoints), tenant settings and rate cards. Tables and keys: ``template.yaml`` and
docs/data-model.md.

``DynamoUsageStore`` reproduces ``tests/fakes/usage_store.py`` condition for condition (the
exactly-once protocol of ``shared.domain.usage``):

- the lease is one conditional ``UpdateItem`` on the tenant's balance item;
- a chunk commits in ONE ``TransactWriteItems``: the ledger entry (must not exist), the
  balance (fenced by the lease and by the balance read under it), the file checkpoint (this
  chunk must be next); any cancellation for a condition means ``CommitRefused``, nothing
  written;
- rated calls are idempotent puts by key (``BatchWriteItem``, never in a transaction);
- breakout counters are applied once per chunk: each row keeps the set of chunks applied.

Low-level client plus boto3's TypeSerializer/TypeDeserializer: numbers are ``Decimal`` or
``int`` both ways, never float. ``ClientError`` is translated into the errors below once, in
``_errors``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shared.domain.calls import CallRecord, CallStatus
from shared.domain.checkpoint import FileCheckpoint
from shared.domain.errors import BillingError
from shared.domain.rating.calendar import epoch_ms_to_local
from shared.domain.rating.card import RateCard, load_card
from shared.domain.rating.engine import Rating
from shared.domain.rerate import (
    RerateChange,
    breakout_moves,
    change_of_entry,
    entry_fields,
)
from shared.domain.tenants import TenantSettings
from shared.domain.usage import (
    LEDGER_USAGE,
    BreakoutDelta,
    ChunkCommit,
    StoredCall,
    usage_entry_id,
)
from shared.ports import CommitRefused
from shared.services.rerate import Applied

#: a boto3 DynamoDB client (``boto3.client("dynamodb")``); boto3 ships no types
DynamoClient = Any

BATCH_GET_KEYS = 100  # BatchGetItem's limit per request
BATCH_WRITE_ITEMS = 25  # BatchWriteItem's limit per request
CARD_CHUNK_BYTES = 300 * 1024  # gzip'd card bytes per item, well under the 400 KB item limit
_RETRIES = 8  # unprocessed batch items: give up (Throttled) after this many rounds
#: chunk ids one breakout update may guard (a condition expression holds at most 4 KB)
_CHUNKS_PER_BREAKOUT_UPDATE = 40
_UTC = "UTC"

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


# ------------------------------------------------------------------------------ errors


class StoreError(BillingError):
    """A DynamoDB request failed; the message names the operation and the AWS error code."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class Conflict(StoreError):
    """A conditional write found the item in another state than it required."""


class Throttled(StoreError):
    """DynamoDB refused for capacity after the SDK's own retries; retry later."""


class NotFound(StoreError):
    """The table does not exist: a configuration error (wrong table name or region)."""


_THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    }
)
#: cancellation reasons that mean "another writer got there first", not a broken request
_LOST_RACE = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _cancellation_codes(error: ClientError) -> list[str]:
    """One code per item of a cancelled transaction ("None" for the items that were fine)."""
    reasons = error.response.get("CancellationReasons") or []
    return [str(reason.get("Code") or "None") for reason in reasons]


def _translate(error: ClientError, what: str) -> StoreError:
    code = _code(error)
    message = f"DynamoDB {what}: {code}: {error.response.get('Error', {}).get('Message', '')}"
    if code == "ConditionalCheckFailedException":
        return Conflict(message, code)
    if code == "TransactionCanceledException":
        codes = _cancellation_codes(error)
        if any(reason in _THROTTLING for reason in codes):
            return Throttled(message, code)
        if codes and all(reason in _LOST_RACE or reason == "None" for reason in codes):
            return Conflict(message, code)
        return StoreError(message, code)
    if code in _THROTTLING:
        return Throttled(message, code)
    if code == "ResourceNotFoundException":
        return NotFound(message, code)
    return StoreError(message, code)


@contextmanager
def _errors(what: str) -> Iterator[None]:
    """Every DynamoDB call goes through here: ``ClientError`` becomes a ``StoreError``."""
    try:
        yield
    except ClientError as error:
        raise _translate(error, what) from error


# ------------------------------------------------------------------------------ values


def _av(value: Any) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value (refuses float)."""
    result: dict[str, Any] = _SERIALIZER.serialize(value)
    return result


def _item(values: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item from plain values; ``None`` means "no attribute"."""
    return {name: _av(value) for name, value in values.items() if value is not None}


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain values: numbers as Decimal, binary as bytes, sets as sets."""
    values: dict[str, Any] = {}
    for name, raw in item.items():
        value = _DESERIALIZER.deserialize(raw)
        values[name] = value.value if isinstance(value, Binary) else value
    return values


def _int(value: Any, default: int = 0) -> int:
    return default if value is None else int(value)


def _decimal(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(value)


def _values(**values: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments: ``_values(a=1)`` → ``{":a": ...}``."""
    return {f":{name}": _av(value) for name, value in values.items()}


def _names(*names: str) -> dict[str, str]:
    """ExpressionAttributeNames: ``#name`` for every attribute (no reserved-word surprises)."""
    return {f"#{name}": name for name in names}


def _gzip_json(document: Any) -> bytes:
    text = json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return gzip.compress(text.encode("utf-8"), mtime=0)


def _query(client: DynamoClient, table: str, **request: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Query, page after page (1 MB each)."""
    start: dict[str, Any] | None = None
    while True:
        page = dict(request, TableName=table)
        if start is not None:
            page["ExclusiveStartKey"] = start
        with _errors(f"Query {table}"):
            response = client.query(**page)
        yield from response.get("Items", [])
        start = response.get("LastEvaluatedKey")
        if not start:
            return


def _sleep_backoff(attempt: int, sleep: Callable[[float], None]) -> None:
    """Full-jitter exponential backoff: 50 ms, 100 ms, ... capped at 2 s."""
    sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))


# ------------------------------------------------------------------------------ tables


@dataclass(frozen=True, slots=True)
class UsageTables:
    """The table names the usage store writes (generated by CloudFormation)."""

    rated_calls: str
    ledger: str
    balances: str
    breakouts: str
    files: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> UsageTables:
        """From a function's environment (``template.yaml`` sets these variables)."""
        missing = [name for name in USAGE_TABLE_VARIABLES.values() if not env.get(name)]
        if missing:
            raise BillingError(
                f"the usage store needs the table names in {', '.join(missing)} "
                "(template.yaml sets them for RateCallFunction)"
            )
        return cls(**{attr: env[name] for attr, name in USAGE_TABLE_VARIABLES.items()})


#: UsageTables field → the environment variable naming that table
USAGE_TABLE_VARIABLES = {
    "rated_calls": "RATED_CALLS_TABLE",
    "ledger": "LEDGER_TABLE",
    "balances": "BALANCES_TABLE",
    "breakouts": "BREAKOUTS_TABLE",
    "files": "FILES_TABLE",
}


# ------------------------------------------------------------------------------ read models


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One ledger entry as stored; ``amount`` is signed (usage is negative)."""

    tenant: str
    entry_id: str
    kind: str
    amount: Decimal
    currency: str
    file_id: str = ""
    chunk: str = ""
    calls: int = 0
    breakouts: dict[tuple[str, str], BreakoutDelta] = field(default_factory=dict)
    breakouts_applied: bool = True


class BreakoutRow(TypedDict):
    """Traffic of one tenant, UTC day (of start time) and destination. ASR is answered /
    attempts, ACD billed_ms / 1000 / answered: derived by readers."""

    day: str
    destination: str
    attempts: int
    answered: int
    billed_ms: int
    cost: Decimal


@dataclass(frozen=True, slots=True)
class RatedCallRow:
    """One rated call as stored in ``RatedCallsTable``."""

    tenant: str
    call_id: str
    status: str
    cost: Decimal
    currency: str
    content: str
    charged_by: str
    service: str = ""
    direction: str = ""
    account: str = ""
    caller: str = ""
    callee: str = ""
    prefix: str = ""
    destination: str = ""
    band: str = ""
    card: str = ""
    billed_ms: int = 0
    quantity: int = 0
    talk_ms: int = 0
    start_ms: int | None = None
    answer_ms: int | None = None
    end_ms: int | None = None
    line_no: int = 0
    flags: tuple[str, ...] = ()
    tenant_period: str | None = None
    answered_at: str | None = None
    expires_at: int | None = None
    rerate_version: int = 0  # re-rates applied to it (``rerates``): its next entry's version


def _breakouts_blob(breakouts: Mapping[tuple[str, str], BreakoutDelta]) -> bytes:
    rows = [
        [day, destination, delta.attempts, delta.answered, delta.billed_ms, str(delta.cost)]
        for (day, destination), delta in sorted(breakouts.items())
    ]
    return _gzip_json(rows)


def _breakouts_of_blob(blob: bytes | None) -> dict[tuple[str, str], BreakoutDelta]:
    if not blob:
        return {}
    rows = json.loads(gzip.decompress(blob))
    return {
        (day, destination): BreakoutDelta(int(attempts), int(answered), int(billed), Decimal(cost))
        for day, destination, attempts, answered, billed, cost in rows
    }


def _iso_utc(ms: int) -> str:
    """Fixed-width ISO 8601 UTC with milliseconds, so string order is time order."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


# ------------------------------------------------------------------------------ usage store


class DynamoUsageStore:
    """``shared.ports.UsageStore`` on the five rating tables (docs/data-model.md).

    ``zone_of(tenant)`` names the tenant's zone (IANA), which decides the billing period
    (``tenant_period``) of a call (SPEC 5); UTC when it is not given or returns None.
    """

    def __init__(
        self,
        client: DynamoClient,
        tables: UsageTables,
        *,
        zone_of: Callable[[str], str | None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.tables = tables
        self._zone_of = zone_of
        self._sleep = sleep

    # -- file checkpoints --------------------------------------------------------------------

    def checkpoint(self, file_id: str) -> FileCheckpoint | None:
        with _errors(f"GetItem {self.tables.files}"):
            found = self.client.get_item(
                TableName=self.tables.files, Key=_item({"file_id": file_id}), ConsistentRead=True
            ).get("Item")
        return _checkpoint_of(_plain(found)) if found else None

    def start_file(self, checkpoint: FileCheckpoint) -> FileCheckpoint:
        try:
            with _errors(f"PutItem {self.tables.files}"):
                self.client.put_item(
                    TableName=self.tables.files,
                    Item=_item(_checkpoint_values(checkpoint)),
                    ConditionExpression="attribute_not_exists(#file_id)",
                    ExpressionAttributeNames=_names("file_id"),
                )
        except Conflict:
            pass  # another delivery of the same file started it first: use theirs
        stored = self.checkpoint(checkpoint.file_id)
        if stored is None:  # pragma: no cover - a consistent read after a successful put
            raise StoreError(f"file {checkpoint.file_id}: checkpoint vanished after its put")
        return stored

    # -- lease and balance -------------------------------------------------------------------

    def acquire_lease(self, tenant: str, owner: str, now_ms: int, ttl_ms: int) -> bool:
        try:
            with _errors(f"UpdateItem {self.tables.balances} (lease)"):
                self.client.update_item(
                    TableName=self.tables.balances,
                    Key=_item({"tenant": tenant}),
                    UpdateExpression=(
                        "SET #lease_owner = :me, #lease_until = :until, "
                        "#balance = if_not_exists(#balance, :zero)"
                    ),
                    ConditionExpression=(
                        "attribute_not_exists(#lease_owner) OR #lease_until < :now "
                        "OR #lease_owner = :me"
                    ),
                    ExpressionAttributeNames=_names("lease_owner", "lease_until", "balance"),
                    ExpressionAttributeValues=_values(
                        me=owner, until=now_ms + ttl_ms, now=now_ms, zero=0
                    ),
                )
        except Conflict:
            return False
        return True

    def balance(self, tenant: str) -> Decimal:
        with _errors(f"GetItem {self.tables.balances}"):
            found = self.client.get_item(
                TableName=self.tables.balances,
                Key=_item({"tenant": tenant}),
                ConsistentRead=True,
                ProjectionExpression="#balance",
                ExpressionAttributeNames=_names("balance"),
            ).get("Item")
        return _decimal(_plain(found).get("balance")) if found else Decimal(0)

    # -- what is stored ----------------------------------------------------------------------

    def stored_calls(self, tenant: str, call_ids: list[str]) -> dict[str, StoredCall]:
        prefix = f"{tenant}#"
        keys = [_item({"call_key": prefix + call_id}) for call_id in dict.fromkeys(call_ids)]
        found: dict[str, StoredCall] = {}
        for item in self._batch_get(
            self.tables.rated_calls,
            keys,
            projection="#call_key, #content, #charged_by",
            names=_names("call_key", "content", "charged_by"),
        ):
            values = _plain(item)
            call_id = str(values["call_key"])[len(prefix) :]
            found[call_id] = StoredCall(str(values["content"]), str(values["charged_by"]))
        return found

    def committed(self, tenant: str, chunks: set[str]) -> set[str]:
        keys = [
            _item({"tenant": tenant, "entry_id": usage_entry_id(chunk)}) for chunk in sorted(chunks)
        ]
        prefix = f"{LEDGER_USAGE}#"
        return {
            str(_plain(item)["entry_id"])[len(prefix) :]
            for item in self._batch_get(
                self.tables.ledger, keys, projection="#entry_id", names=_names("entry_id")
            )
        }

    def _batch_get(
        self, table: str, keys: list[dict[str, Any]], projection: str, names: dict[str, str]
    ) -> Iterator[dict[str, Any]]:
        """Consistent BatchGetItem in pages of 100 keys, unprocessed keys retried."""
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request: dict[str, Any] = {
                table: {
                    "Keys": keys[start : start + BATCH_GET_KEYS],
                    "ConsistentRead": True,
                    "ProjectionExpression": projection,
                    "ExpressionAttributeNames": names,
                }
            }
            for attempt in range(_RETRIES + 1):
                with _errors(f"BatchGetItem {table}"):
                    response = self.client.batch_get_item(RequestItems=request)
                yield from response.get("Responses", {}).get(table, [])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt == _RETRIES:
                    raise Throttled(
                        f"DynamoDB BatchGetItem {table}: keys still unprocessed "
                        f"after {_RETRIES} retries"
                    )
                _sleep_backoff(attempt, self._sleep)

    # -- writes ------------------------------------------------------------------------------

    def put_calls(
        self,
        tenant: str,
        calls: list[tuple[CallRecord, Rating, str]],
        chunk: str,
        expires_at: int,
    ) -> None:
        # one item per call id (BatchWriteItem refuses two puts of one key): the last wins
        unique = {call.call_id: (call, rating, content) for call, rating, content in calls}
        zone = self._zone(tenant)
        items = [
            {
                "PutRequest": {
                    "Item": _item(
                        _rated_call_values(tenant, call, rating, content, chunk, expires_at, zone)
                    )
                }
            }
            for call, rating, content in unique.values()
        ]
        for start in range(0, len(items), BATCH_WRITE_ITEMS):
            self._batch_write(self.tables.rated_calls, items[start : start + BATCH_WRITE_ITEMS])

    def _batch_write(self, table: str, requests: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {table: requests}
        for attempt in range(_RETRIES + 1):
            with _errors(f"BatchWriteItem {table}"):
                response = self.client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            if attempt == _RETRIES:
                raise Throttled(
                    f"DynamoDB BatchWriteItem {table}: items still unprocessed "
                    f"after {_RETRIES} retries"
                )
            _sleep_backoff(attempt, self._sleep)

    def commit(self, commit: ChunkCommit, owner: str) -> Decimal:
        """One transaction: ledger entry + balance + checkpoint (+ lease release).

        The balance is read first, under the lease, and the transaction requires it unchanged,
        so the balance returned is exactly the one this commit produced (a top-up landing in
        between refuses the commit, which the service retries).
        """
        tables = self.tables
        before = self.balance(commit.tenant)
        count_names = {f"#c{i}": name for i, name in enumerate(commit.counts)}
        count_values = {f":c{i}": _av(value) for i, value in enumerate(commit.counts.values())}
        counts = "".join(
            f", #counts.{alias} = if_not_exists(#counts.{alias}, :zero) + :{alias[1:]}"
            for alias in count_names
        )
        ledger_put = {
            "Put": {
                "TableName": tables.ledger,
                "Item": _item(
                    {
                        "tenant": commit.tenant,
                        "entry_id": commit.entry_id,
                        "kind": LEDGER_USAGE,
                        "amount": commit.amount,
                        "currency": commit.currency,
                        "file_id": commit.file_id,
                        "chunk": commit.chunk,
                        "calls": commit.calls,
                        "breakouts": _breakouts_blob(commit.breakouts),
                        "breakouts_applied": False,
                    }
                ),
                "ConditionExpression": "attribute_not_exists(#entry_id)",
                "ExpressionAttributeNames": _names("entry_id"),
            }
        }
        balance_update = {
            "Update": {
                "TableName": tables.balances,
                "Key": _item({"tenant": commit.tenant}),
                "UpdateExpression": "ADD #balance :amount REMOVE #lease_owner, #lease_until",
                "ConditionExpression": "#lease_owner = :owner AND #balance = :before",
                "ExpressionAttributeNames": _names("balance", "lease_owner", "lease_until"),
                "ExpressionAttributeValues": _values(
                    amount=commit.amount, owner=owner, before=before
                ),
            }
        }
        checkpoint_update = {
            "Update": {
                "TableName": tables.files,
                "Key": _item({"file_id": commit.file_id}),
                "UpdateExpression": (
                    "SET #next_chunk = :next, #next_offset = :offset, #next_line = :line, "
                    f"#done = :done{counts} ADD #total_cost :cost"
                ),
                "ConditionExpression": "#next_chunk = :this",
                "ExpressionAttributeNames": {
                    **_names(
                        "next_chunk", "next_offset", "next_line", "done", "total_cost", "counts"
                    ),
                    **count_names,
                },
                "ExpressionAttributeValues": {
                    **_values(
                        next=commit.chunk_no + 1,
                        offset=commit.next_offset,
                        line=commit.next_line,
                        done=commit.last,
                        cost=-commit.amount,
                        this=commit.chunk_no,
                        zero=0,
                    ),
                    **count_values,
                },
            }
        }
        try:
            with _errors(f"TransactWriteItems (commit {commit.chunk})"):
                self.client.transact_write_items(
                    TransactItems=[ledger_put, balance_update, checkpoint_update]
                )
        except Conflict as refused:
            cause = refused.__cause__
            codes = _cancellation_codes(cause) if isinstance(cause, ClientError) else []
            raise CommitRefused(_refusal(commit, codes)) from refused
        return before + commit.amount

    def apply_breakouts(self, tenant: str, file_id: str) -> dict[str, Decimal]:
        """Apply the unapplied breakout deltas of this file's committed chunks.

        The common case (nothing of these chunks applied yet) takes one UpdateItem per
        (day, destination) for all the chunks together, guarded by "none of these chunks is
        in the row's applied set"; after a crash that left some applied, that guard fails
        and the row is brought up to date chunk by chunk, each with its own guard.
        """
        entries = list(
            self._query_ledger(tenant, f"{LEDGER_USAGE}#{file_id}:", only_unapplied=True)
        )
        rows: dict[tuple[str, str], list[tuple[str, BreakoutDelta]]] = {}
        applied: dict[str, Decimal] = {}
        for entry in entries:
            for key, delta in entry.breakouts.items():
                rows.setdefault(key, []).append((entry.chunk, delta))
        for (day, destination), parts in sorted(rows.items()):
            for start in range(0, len(parts), _CHUNKS_PER_BREAKOUT_UPDATE):
                group = parts[start : start + _CHUNKS_PER_BREAKOUT_UPDATE]
                total = BreakoutDelta()
                for _chunk, delta in group:
                    total.add(delta)
                chunks = [chunk for chunk, _delta in group]
                if self._apply_delta(tenant, day, destination, total, chunks):
                    applied[day] = applied.get(day, Decimal(0)) + total.cost
                    continue
                for chunk, delta in group:  # some already applied: one at a time
                    if self._apply_delta(tenant, day, destination, delta, [chunk]):
                        applied[day] = applied.get(day, Decimal(0)) + delta.cost
        for entry in entries:
            with _errors(f"UpdateItem {self.tables.ledger} (breakouts applied)"):
                self.client.update_item(
                    TableName=self.tables.ledger,
                    Key=_item({"tenant": tenant, "entry_id": entry.entry_id}),
                    UpdateExpression="SET #breakouts_applied = :true",
                    ExpressionAttributeNames=_names("breakouts_applied"),
                    ExpressionAttributeValues=_values(true=True),
                )
        return applied

    def _apply_delta(
        self, tenant: str, day: str, destination: str, delta: BreakoutDelta, chunks: list[str]
    ) -> bool:
        """ADD ``delta`` unless any of ``chunks`` is already applied; whether it was added."""
        guards = " AND ".join(
            f"NOT contains(#applied_chunks, :chunk{i})" for i in range(len(chunks))
        )
        try:
            with _errors(f"UpdateItem {self.tables.breakouts}"):
                self.client.update_item(
                    TableName=self.tables.breakouts,
                    Key=_item({"tenant": tenant, "day_destination": f"{day}#{destination}"}),
                    UpdateExpression=(
                        "SET #day = :day, #destination = :destination "
                        "ADD #attempts :attempts, #answered :answered, #billed_ms :billed, "
                        "#cost :cost, #applied_chunks :chunks"
                    ),
                    ConditionExpression=f"attribute_not_exists(#applied_chunks) OR ({guards})",
                    ExpressionAttributeNames=_names(
                        "day",
                        "destination",
                        "attempts",
                        "answered",
                        "billed_ms",
                        "cost",
                        "applied_chunks",
                    ),
                    ExpressionAttributeValues=_values(
                        day=day,
                        destination=destination,
                        attempts=delta.attempts,
                        answered=delta.answered,
                        billed=delta.billed_ms,
                        cost=delta.cost,
                        chunks=set(chunks),
                        **{f"chunk{i}": chunk for i, chunk in enumerate(chunks)},
                    ),
                )
        except Conflict:
            return False  # (some of) these chunks are already in the row
        return True

    # -- wallet credits ----------------------------------------------------------------------

    def credit(self, tenant: str, entry_id: str, amount: Decimal, currency: str) -> bool:
        """A credit (top-up, refund, adjustment) and its balance change in one transaction.
        Idempotent by ``entry_id``: False (nothing changed) when the entry already exists."""
        kind = entry_id.split("#", 1)[0] if "#" in entry_id else "credit"
        try:
            with _errors(f"TransactWriteItems (credit {entry_id})"):
                self.client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self.tables.ledger,
                                "Item": _item(
                                    {
                                        "tenant": tenant,
                                        "entry_id": entry_id,
                                        "kind": kind,
                                        "amount": amount,
                                        "currency": currency,
                                        "calls": 0,
                                        "breakouts_applied": True,
                                    }
                                ),
                                "ConditionExpression": "attribute_not_exists(#entry_id)",
                                "ExpressionAttributeNames": _names("entry_id"),
                            }
                        },
                        {
                            "Update": {
                                "TableName": self.tables.balances,
                                "Key": _item({"tenant": tenant}),
                                "UpdateExpression": "ADD #balance :amount",
                                "ExpressionAttributeNames": _names("balance"),
                                "ExpressionAttributeValues": _values(amount=amount),
                            }
                        },
                    ]
                )
        except Conflict as refused:
            cause = refused.__cause__
            codes = _cancellation_codes(cause) if isinstance(cause, ClientError) else []
            if codes[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    # -- re-rating (shared.services.rerate) ---------------------------------------------------

    def apply_rerate(self, change: RerateChange) -> Applied:
        """One re-rate adjustment: the ledger entry ``rerate#<call>#v<version>`` (must not
        exist) and the balance ``ADD`` in one transaction, so ledger sum == balance; then
        the call's breakout rows (cost, billed time, and the destination when the fix moved
        it, guarded by the entry id like a chunk); then the rated call's cost, with
        ``previous_cost``, ``rerated_by`` and the entry added to ``rerates`` (its version).

        The version is how many re-rates the call had when read, so every move of a call's
        cost has one ledger key: a second writer that saw the same cost (an overlapping
        range, a concurrent run, a rerun after a crash) collides on it before any money
        moves. RatedCallsTable is never in a transaction (docs/data-model.md), so the call
        is updated after the commit; a collision first finishes the entry it found (its
        breakouts and its call, both guarded), then answers ALREADY when that entry is the
        same move, RETRY when it is another (read the call again, re-rate from there).
        """
        try:
            with _errors(f"TransactWriteItems (rerate {change.entry_id})"):
                self.client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self.tables.ledger,
                                "Item": _item(entry_fields(change) | {
                                    "calls": 1, "breakouts_applied": True,
                                }),
                                "ConditionExpression": "attribute_not_exists(#entry_id)",
                                "ExpressionAttributeNames": _names("entry_id"),
                            }
                        },
                        {
                            "Update": {
                                "TableName": self.tables.balances,
                                "Key": _item({"tenant": change.tenant}),
                                "UpdateExpression": "ADD #balance :amount",
                                "ExpressionAttributeNames": _names("balance"),
                                "ExpressionAttributeValues": _values(amount=change.amount),
                            }
                        },
                    ]
                )
        except Conflict as refused:
            cause = refused.__cause__
            codes = _cancellation_codes(cause) if isinstance(cause, ClientError) else []
            if codes[:1] != ["ConditionalCheckFailed"]:
                raise
            stored = self._ledger_item(change.tenant, change.entry_id)
            if "previous_cost" not in stored:
                return Applied.CONFLICT  # not a re-rate entry of this scheme: for review
            found = change_of_entry(stored)
            if not self._finish_rerate(found):
                return Applied.CONFLICT
            same = (found.old_cost, found.new_cost, found.destination) == (
                change.old_cost, change.new_cost, change.destination
            )
            return Applied.ALREADY if same else Applied.RETRY
        return Applied.WRITTEN if self._finish_rerate(change) else Applied.CONFLICT

    def _finish_rerate(self, change: RerateChange) -> bool:
        """The breakouts and the call of a written entry, each at most once (a crashed or
        concurrent writer may be doing the same): False when the call moved without it."""
        for (day, destination), delta in breakout_moves(change).items():
            self._apply_delta(change.tenant, day, destination, delta, [change.entry_id])
        # the call is at this entry's version with its old cost: the move is made once
        version = (
            "attribute_not_exists(#rerates)" if change.version == 0
            else "size(#rerates) = :version"
        )
        values = _values(
            new=change.new_cost,
            old=change.old_cost,
            entry=change.entry_id,
            entries={change.entry_id},
            prefix=change.prefix,
            destination=change.destination,
            band=change.band,
            card=change.card,
            billed=change.billed_ms,
        )
        if change.version:
            values |= _values(version=change.version)
        key = _item({"call_key": f"{change.tenant}#{change.call_id}"})
        try:
            with _errors(f"UpdateItem {self.tables.rated_calls} (rerate)"):
                self.client.update_item(
                    TableName=self.tables.rated_calls,
                    Key=key,
                    UpdateExpression=(
                        "SET #cost = :new, #previous_cost = :old, #rerated_by = :entry, "
                        "#prefix = :prefix, #destination = :destination, #band = :band, "
                        "#card = :card, #billed_ms = :billed ADD #rerates :entries"
                    ),
                    ConditionExpression=f"#cost = :old AND {version}",
                    ExpressionAttributeNames=_names(
                        "cost", "previous_cost", "rerated_by", "prefix", "destination", "band",
                        "card", "billed_ms", "rerates",
                    ),
                    ExpressionAttributeValues=values,
                )
        except Conflict:
            # another writer finished this entry first, or the call moved some other way
            with _errors(f"GetItem {self.tables.rated_calls}"):
                found = self.client.get_item(
                    TableName=self.tables.rated_calls, Key=key, ConsistentRead=True
                ).get("Item")
            applied = (_plain(found).get("rerates") if found else None) or set()
            return change.entry_id in applied
        return True

    def rated_call_detail(self, tenant: str, call_id: str) -> dict[str, Any] | None:
        """One rated call as ``period_call_detail`` values, read consistently."""
        with _errors(f"GetItem {self.tables.rated_calls}"):
            found = self.client.get_item(
                TableName=self.tables.rated_calls,
                Key=_item({"call_key": f"{tenant}#{call_id}"}),
                ConsistentRead=True,
            ).get("Item")
        if not found:
            return None
        return _call_detail(_rated_call_row(_plain(found)))

    def _ledger_item(self, tenant: str, entry_id: str) -> dict[str, Any]:
        with _errors(f"GetItem {self.tables.ledger}"):
            found = self.client.get_item(
                TableName=self.tables.ledger,
                Key=_item({"tenant": tenant, "entry_id": entry_id}),
                ConsistentRead=True,
            ).get("Item")
        return _plain(found) if found else {}

    # -- reads for the CLI, reports and tests ------------------------------------------------

    def ledger_entries(self, tenant: str) -> list[LedgerEntry]:
        """Every ledger entry of the tenant, in entry id order."""
        return list(self._query_ledger(tenant, None, only_unapplied=False))

    def ledger_sum(self, tenant: str) -> Decimal:
        return sum((entry.amount for entry in self.ledger_entries(tenant)), Decimal(0))

    def _query_ledger(
        self, tenant: str, prefix: str | None, *, only_unapplied: bool
    ) -> Iterator[LedgerEntry]:
        condition = "#tenant = :tenant"
        names = _names("tenant")
        values = _values(tenant=tenant)
        if prefix is not None:
            condition += " AND begins_with(#entry_id, :prefix)"
            names |= _names("entry_id")
            values |= _values(prefix=prefix)
        extra: dict[str, Any] = {}
        if only_unapplied:
            extra["FilterExpression"] = "#breakouts_applied = :false"
            names |= _names("breakouts_applied")
            values |= _values(false=False)
        for item in self._query(
            self.tables.ledger,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
            **extra,
        ):
            yield _ledger_entry(_plain(item))

    def day_spend(self, tenant: str, day: str) -> Decimal:
        return sum((row["cost"] for row in self.breakouts(tenant, day, day)), Decimal(0))

    def breakouts(
        self, tenant: str, day_from: str | None = None, day_to: str | None = None
    ) -> list[BreakoutRow]:
        """The tenant's breakout rows, by day then destination; days are inclusive."""
        condition = "#tenant = :tenant"
        names = _names("tenant")
        values = _values(tenant=tenant)
        # "$" sorts right after "#", so "<day>$" is above every "<day>#<destination>"
        if day_from is not None or day_to is not None:
            names |= _names("day_destination")
        if day_from is not None and day_to is not None:
            condition += " AND #day_destination BETWEEN :low AND :high"
            values |= _values(low=day_from, high=f"{day_to}$")
        elif day_from is not None:
            condition += " AND #day_destination >= :low"
            values |= _values(low=day_from)
        elif day_to is not None:
            condition += " AND #day_destination < :high"
            values |= _values(high=f"{day_to}$")
        rows = []
        for item in self._query(
            self.tables.breakouts,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
        ):
            values_ = _plain(item)
            day, _, destination = str(values_["day_destination"]).partition("#")
            rows.append(
                BreakoutRow(
                    day=day,
                    destination=destination,
                    attempts=_int(values_.get("attempts")),
                    answered=_int(values_.get("answered")),
                    billed_ms=_int(values_.get("billed_ms")),
                    cost=_decimal(values_.get("cost")),
                )
            )
        return rows

    def rated_calls(self, tenant: str, period: str) -> list[RatedCallRow]:
        """The tenant's answered calls of a billing period ("YYYY-MM"), in answer order.

        Read from the ``by_period`` index, which is eventually consistent: read a period
        after it has closed. Unanswered attempts are not in the index (see the breakouts).
        """
        return [
            _rated_call_row(_plain(item))
            for item in self._query(
                self.tables.rated_calls,
                IndexName="by_period",
                KeyConditionExpression="#tenant_period = :period",
                ExpressionAttributeNames=_names("tenant_period"),
                ExpressionAttributeValues=_values(period=f"{tenant}#{period}"),
            )
        ]

    def period_call_detail(self, tenant: str, period: str) -> list[dict[str, Any]]:
        """``rated_calls`` as plain values (``shared.ports.CallDetail``): the dispute
        evidence pack's call detail."""
        return [_call_detail(row) for row in self.rated_calls(tenant, period)]

    def _query(self, table: str, **request: Any) -> Iterator[dict[str, Any]]:
        return _query(self.client, table, **request)

    def _zone(self, tenant: str) -> ZoneInfo:
        name = self._zone_of(tenant) if self._zone_of is not None else None
        return ZoneInfo(name or _UTC)


def _refusal(commit: ChunkCommit, codes: list[str]) -> str:
    what = ("its ledger entry exists", "the lease or the balance moved", "the checkpoint moved")
    failed = [what[i] for i, code in enumerate(codes[:3]) if code in _LOST_RACE]
    return f"chunk {commit.chunk} of tenant {commit.tenant}: " + (
        "; ".join(failed) or "the transaction was cancelled"
    )


def _checkpoint_values(checkpoint: FileCheckpoint) -> dict[str, Any]:
    return {
        "file_id": checkpoint.file_id,
        "tenant": checkpoint.tenant,
        "bucket": checkpoint.bucket,
        "key": checkpoint.key,
        "format": checkpoint.format,
        "header": checkpoint.header,
        "next_chunk": checkpoint.next_chunk,
        "next_offset": checkpoint.next_offset,
        "next_line": checkpoint.next_line,
        "done": checkpoint.done,
        "counts": dict(checkpoint.counts),
        "total_cost": checkpoint.total_cost,
        "currency": checkpoint.currency,
    }


def _checkpoint_of(values: Mapping[str, Any]) -> FileCheckpoint:
    return FileCheckpoint(
        file_id=str(values["file_id"]),
        tenant=str(values.get("tenant", "")),
        bucket=str(values.get("bucket", "")),
        key=str(values.get("key", "")),
        format=str(values.get("format", "")),
        header=str(values.get("header", "")),
        next_chunk=_int(values.get("next_chunk")),
        next_offset=_int(values.get("next_offset")),
        next_line=_int(values.get("next_line"), 1),
        done=bool(values.get("done", False)),
        counts={str(name): int(count) for name, count in values.get("counts", {}).items()},
        total_cost=_decimal(values.get("total_cost")),
        currency=str(values.get("currency", "")),
    )


def _ledger_entry(values: Mapping[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        tenant=str(values["tenant"]),
        entry_id=str(values["entry_id"]),
        kind=str(values.get("kind", "")),
        amount=_decimal(values.get("amount")),
        currency=str(values.get("currency", "")),
        file_id=str(values.get("file_id", "")),
        chunk=str(values.get("chunk", "")),
        calls=_int(values.get("calls")),
        breakouts=_breakouts_of_blob(values.get("breakouts")),
        breakouts_applied=bool(values.get("breakouts_applied", True)),
    )


def _rated_call_values(
    tenant: str,
    call: CallRecord,
    rating: Rating,
    content: str,
    chunk: str,
    expires_at: int,
    zone: ZoneInfo,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "call_key": f"{tenant}#{call.call_id}",
        "tenant": tenant,
        "call_id": call.call_id,
        "content": content,
        "charged_by": chunk,
        "expires_at": expires_at,
        "service": str(call.service),
        "direction": str(call.direction),
        "account": call.account,
        "caller": call.caller,
        "callee": call.callee,
        "prefix": rating.prefix,
        "destination": rating.destination,
        "band": rating.band,
        "billed_ms": rating.billed_ms,
        "quantity": rating.quantity,
        "cost": rating.cost,
        "currency": rating.currency,
        "card": rating.card,
        "status": str(rating.status),
        "flags": list(rating.flags),
        "start_ms": call.start_ms,
        "answer_ms": call.answer_ms,
        "end_ms": call.end_ms,
        "talk_ms": call.talk_ms,
        "line_no": call.line_no,
    }
    # by_period is sparse: only charged calls (answered, or a message/fee with a start time)
    when = call.answer_ms if call.answer_ms is not None else call.start_ms
    if rating.status is CallStatus.RATED and when is not None:
        values["tenant_period"] = f"{tenant}#{epoch_ms_to_local(when, zone):%Y-%m}"
        values["answered_at"] = f"{_iso_utc(when)}#{call.call_id}"
    return values


def _call_detail(row: RatedCallRow) -> dict[str, Any]:
    values = asdict(row)
    values["flags"] = list(row.flags)
    return values


def _rated_call_row(values: Mapping[str, Any]) -> RatedCallRow:
    def optional(name: str) -> int | None:
        found = values.get(name)
        return None if found is None else int(found)

    return RatedCallRow(
        tenant=str(values["tenant"]),
        call_id=str(values["call_id"]),
        status=str(values.get("status", "")),
        cost=_decimal(values.get("cost")),
        currency=str(values.get("currency", "")),
        content=str(values.get("content", "")),
        charged_by=str(values.get("charged_by", "")),
        service=str(values.get("service", "")),
        direction=str(values.get("direction", "")),
        account=str(values.get("account", "")),
        caller=str(values.get("caller", "")),
        callee=str(values.get("callee", "")),
        prefix=str(values.get("prefix", "")),
        destination=str(values.get("destination", "")),
        band=str(values.get("band", "")),
        card=str(values.get("card", "")),
        billed_ms=_int(values.get("billed_ms")),
        quantity=_int(values.get("quantity")),
        talk_ms=_int(values.get("talk_ms")),
        start_ms=optional("start_ms"),
        answer_ms=optional("answer_ms"),
        end_ms=optional("end_ms"),
        line_no=_int(values.get("line_no")),
        flags=tuple(str(flag) for flag in values.get("flags", [])),
        tenant_period=values.get("tenant_period"),
        answered_at=values.get("answered_at"),
        expires_at=optional("expires_at"),
        rerate_version=len(values.get("rerates") or ()),
    )


# ------------------------------------------------------------------------------ tenants


class DynamoTenantDirectory:
    """Tenant settings in ``TenantsTable``: the pydantic model as JSON (amounts as strings)."""

    def __init__(self, client: DynamoClient, table: str) -> None:
        self.client = client
        self.table = table

    def get(self, tenant: str) -> TenantSettings | None:
        stored = self.settings_document(tenant)
        return None if stored is None else TenantSettings.model_validate_json(stored)

    def settings_document(self, tenant: str) -> str | None:
        """The stored settings JSON as written (a compare-and-set conditions on it)."""
        with _errors(f"GetItem {self.table}"):
            found = self.client.get_item(
                TableName=self.table, Key=_item({"tenant_id": tenant}), ConsistentRead=True
            ).get("Item")
        return str(_plain(found)["settings"]) if found else None

    def put(self, settings: TenantSettings) -> None:
        with _errors(f"PutItem {self.table}"):
            self.client.put_item(
                TableName=self.table,
                Item=_item(
                    {"tenant_id": settings.tenant_id, "settings": settings.model_dump_json()}
                ),
            )


# ------------------------------------------------------------------------------ rate cards


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def canonical_card_json(document: Mapping[str, Any]) -> str:
    """The card document as canonical JSON (sorted keys, no spaces, amounts as text)."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


class DynamoCardStore:
    """Rate cards in ``RateCardsTable``: a "meta" item (name, version, chunk count) plus the
    card's canonical JSON, gzip'd and cut into ``chunk#0001``, ``chunk#0002``, ... items.

    ``version`` is the sha256 of the canonical JSON, so callers can cache a compiled card per
    version and ask only for the meta item (``version(name)``) to know it is current.
    """

    META = "meta"
    _READ_ATTEMPTS = 3

    def __init__(self, client: DynamoClient, table: str) -> None:
        self.client = client
        self.table = table

    def put(self, document: dict[str, Any]) -> str:
        """Validate and store a native card document; its version. Storing the same document
        again writes nothing."""
        name = document.get("card")
        card = load_card(document, f"card {name!r}")
        canonical = canonical_card_json(document)
        version = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        previous = self._meta(card.name)
        if previous is not None and previous.get("version") == version:
            return version
        blob = gzip.compress(canonical.encode("utf-8"), mtime=0)
        pieces = [blob[i : i + CARD_CHUNK_BYTES] for i in range(0, len(blob), CARD_CHUNK_BYTES)]
        for number, piece in enumerate(pieces, start=1):  # chunks first, the meta last
            self._put({"card": card.name, "part": _card_part(number), "data": piece})
        self._put(
            {
                "card": card.name,
                "part": self.META,
                "name": card.name,
                "version": version,
                "chunks": len(pieces),
                "currency": card.currency,
                "decimals": card.decimals,
                "rounding": str(card.rounding),
                "bytes": len(blob),
            }
        )
        old_count = _int(previous.get("chunks")) if previous else 0
        for number in range(len(pieces) + 1, old_count + 1):
            with _errors(f"DeleteItem {self.table}"):
                self.client.delete_item(
                    TableName=self.table, Key=_item({"card": card.name, "part": _card_part(number)})
                )
        return version

    def version(self, name: str) -> str | None:
        meta = self._meta(name)
        return None if meta is None else str(meta["version"])

    def get(self, name: str) -> RateCard | None:
        """The card, reassembled and loaded; None when there is no such card. A read racing
        a rewrite (chunks of two versions) is detected by the hash and read again."""
        for _attempt in range(self._READ_ATTEMPTS):
            parts = {
                str(values["part"]): values
                for values in (_plain(item) for item in self._parts(name))
            }
            meta = parts.get(self.META)
            if meta is None:
                return None
            pieces = [
                parts.get(_card_part(n), {}).get("data", b"")
                for n in range(1, _int(meta.get("chunks")) + 1)
            ]
            try:
                text = gzip.decompress(b"".join(pieces)).decode("utf-8")
            except (OSError, EOFError, UnicodeDecodeError):
                continue  # a chunk of another version: read again
            if hashlib.sha256(text.encode("utf-8")).hexdigest() == meta.get("version"):
                document = json.loads(text, parse_float=Decimal)
                return load_card(document, f"card {name!r} (version {meta['version']})")
        raise StoreError(
            f"card {name!r}: its stored parts do not match its meta item "
            f"after {self._READ_ATTEMPTS} reads (a rewrite in progress?)"
        )

    def _meta(self, name: str) -> dict[str, Any] | None:
        with _errors(f"GetItem {self.table}"):
            found = self.client.get_item(
                TableName=self.table,
                Key=_item({"card": name, "part": self.META}),
                ConsistentRead=True,
            ).get("Item")
        return _plain(found) if found else None

    def _put(self, values: Mapping[str, Any]) -> None:
        with _errors(f"PutItem {self.table}"):
            self.client.put_item(TableName=self.table, Item=_item(values))

    def _parts(self, name: str) -> Iterable[dict[str, Any]]:
        return _query(
            self.client,
            self.table,
            KeyConditionExpression="#card = :card",
            ExpressionAttributeNames=_names("card"),
            ExpressionAttributeValues=_values(card=name),
            ConsistentRead=True,
        )


def _card_part(number: int) -> str:
    return f"chunk#{number:04d}"
