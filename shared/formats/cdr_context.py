"""What a CDR reader needs beyond the bytes (kept apart so readers and the registry share it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from shared.domain.calls import Direction
from shared.domain.rating.numbers import NumberingPlan


@dataclass(frozen=True, slots=True)
class ReaderContext:
    """What a reader needs beyond the bytes: whose file it is and how to read its times."""

    tenant: str
    zone: ZoneInfo
    #: switch dialplan context → direction (SPEC 4: default out)
    contexts: dict[str, Direction] = field(default_factory=dict)
    #: the tenant's dialling plan; Asterisk uses it to tell extensions from outside numbers
    plan: NumberingPlan = field(default_factory=NumberingPlan)
    #: explicit column names for switch formats whose template is configurable (FreeSWITCH)
    columns: tuple[str, ...] | None = None
