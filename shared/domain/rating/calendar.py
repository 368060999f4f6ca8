"""Which bands are in force at an instant, in the rating zone, cached by UTC hour.

The rating loop asks "what is in force at this millisecond, and until when?" for every call.
Answering from a per-hour cache of precomputed segments turns a time-zone conversion per call
into a dictionary hit.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.domain.rating.card import ALWAYS_BAND, Band

MS_PER_HOUR = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Segment = tuple[int, int, frozenset[str]]  # [start_ms, end_ms), bands in force


def local_midnight_ms(day: date, zone: ZoneInfo) -> int:
    """Epoch milliseconds of 00:00 local time on ``day`` in ``zone``."""
    return wall_to_ms(datetime(day.year, day.month, day.day), zone)


def _to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def epoch_ms_to_local(ms: int, zone: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(zone)


def wall_to_ms(wall: datetime, zone: ZoneInfo) -> int:
    """The first instant at which the local clock in ``zone`` reads ``wall`` or later.

    For most wall times that is simply the instant it names (the first one, when a DST
    change repeats it). A wall time skipped by a DST change never shows on the clock; the
    clock passes it at the change itself, so that instant is returned: a band from 01:30 on
    the night clocks jump from 01:00 to 02:00 starts at the jump.
    """
    first = _to_ms(wall.replace(tzinfo=zone, fold=0))
    if epoch_ms_to_local(first, zone).replace(tzinfo=None) == wall:
        return first
    low, high = _to_ms(wall.replace(tzinfo=zone, fold=1)), first  # the jump lies between
    while low < high:
        middle = (low + high) // 2
        if epoch_ms_to_local(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle + 1
    return low


class BandCalendar:
    """Segments of constant band activity for one card's bands, holidays and zone."""

    def __init__(self, bands: dict[str, Band], holidays: frozenset[date], zone: ZoneInfo) -> None:
        self._bands = tuple(bands.values())
        self._holidays = holidays
        self.zone = zone
        cuts = {0, 24 * 60}
        for band in self._bands:
            cuts.update((band.start_minute, band.end_minute))
        self._cuts = sorted(cuts)
        self._by_hour: dict[int, tuple[Segment, ...]] = {}
        self._by_day: dict[date, tuple[Segment, ...]] = {}

    def is_holiday(self, day: date) -> bool:
        return day in self._holidays

    def segment_at(self, ms: int) -> Segment:
        """The segment containing ``ms``: its bounds and the bands in force throughout."""
        segments = self._by_hour.get(ms // MS_PER_HOUR)
        if segments is None:
            segments = self._hour(ms // MS_PER_HOUR)
        for segment in segments:
            if segment[0] <= ms < segment[1]:
                return segment
        raise AssertionError("band calendar has a gap")  # pragma: no cover

    def _hour(self, hour: int) -> tuple[Segment, ...]:
        start, end = hour * MS_PER_HOUR, (hour + 1) * MS_PER_HOUR
        first = epoch_ms_to_local(start, self.zone).date()
        last = epoch_ms_to_local(end - 1, self.zone).date()
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        # A DST change can make a local day's segments start before the first local date
        # seen in the hour; include the neighbours so the hour is always covered.
        days = [days[0] - timedelta(days=1), *days, days[-1] + timedelta(days=1)]
        segments = tuple(
            segment
            for day in days
            for segment in self._day(day)
            if segment[0] < end and segment[1] > start
        )
        self._by_hour[hour] = segments
        return segments

    def _day(self, day: date) -> tuple[Segment, ...]:
        """Segments of one local date, cut wherever the answer to "which bands?" can change:
        at every instant the clock shows a band edge (twice when a DST change repeats the
        hour) and at the DST change itself. Each segment's bands are read off the local
        clock at its start, so repeated and skipped wall-clock times come out right."""
        cached = self._by_day.get(day)
        if cached is not None:
            return cached
        zone = self.zone
        midnight = datetime(day.year, day.month, day.day)
        first, last = wall_to_ms(midnight, zone), wall_to_ms(midnight + timedelta(days=1), zone)
        cuts = {first, last, *_offset_changes(first, last, zone)}
        for minute in self._cuts:
            wall = midnight + timedelta(minutes=minute)
            cuts.add(wall_to_ms(wall, zone))
            for fold in (0, 1):
                instant = _to_ms(wall.replace(tzinfo=zone, fold=fold))
                if epoch_ms_to_local(instant, zone).replace(tzinfo=None) == wall:
                    cuts.add(instant)
        edges = sorted(cut for cut in cuts if first <= cut <= last)
        holiday = day in self._holidays
        segments: list[Segment] = []
        for seg_start, seg_end in itertools.pairwise(edges):
            local = epoch_ms_to_local(seg_start, zone)
            minute = local.hour * 60 + local.minute
            active = frozenset(
                {ALWAYS_BAND}
                | {
                    band.name
                    for band in self._bands
                    if band.start_minute <= minute < band.end_minute
                    and band.applies_on(local.weekday(), holiday)
                }
            )
            if segments and segments[-1][2] == active:
                segments[-1] = (segments[-1][0], seg_end, active)
            else:
                segments.append((seg_start, seg_end, active))
        result = tuple(segments)
        self._by_day[day] = result
        return result


def _offset_changes(first: int, last: int, zone: ZoneInfo) -> list[int]:
    """Instants in [first, last) where the zone's UTC offset changes (at most one a day)."""
    offset_at = lambda ms: epoch_ms_to_local(ms, zone).utcoffset()  # noqa: E731
    if offset_at(first) == offset_at(last - 1):
        return []
    low, high, before = first, last - 1, offset_at(first)
    while low < high:
        middle = (low + high) // 2
        if offset_at(middle) == before:
            low = middle + 1
        else:
            high = middle
    return [low]
