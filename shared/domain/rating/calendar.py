"""Which bands are in force at an instant, in the rating zone, cached by UTC hour.

The rating loop asks "what is in force at this millisecond, and until when?" for every call.
Answering from a per-hour cache of precomputed segments turns a time-zone conversion per call
into a dictionary hit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.domain.rating.card import ALWAYS_BAND, Band

MS_PER_HOUR = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Segment = tuple[int, int, frozenset[str]]  # [start_ms, end_ms), bands in force


def local_midnight_ms(day: date, zone: ZoneInfo) -> int:
    """Epoch milliseconds of 00:00 local time on ``day`` in ``zone``."""
    return _to_ms(datetime(day.year, day.month, day.day, tzinfo=zone))


def _to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def epoch_ms_to_local(ms: int, zone: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(zone)


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
        cached = self._by_day.get(day)
        if cached is not None:
            return cached
        weekday, holiday = day.weekday(), day in self._holidays
        midnight = datetime(day.year, day.month, day.day, tzinfo=self.zone)
        next_midnight = datetime.combine(day + timedelta(days=1), midnight.timetz())
        segments: list[Segment] = []
        for low, high in zip(self._cuts, self._cuts[1:], strict=False):
            active = frozenset(
                {ALWAYS_BAND}
                | {
                    band.name
                    for band in self._bands
                    if band.start_minute <= low < band.end_minute
                    and band.applies_on(weekday, holiday)
                }
            )
            seg_start = _to_ms(midnight + timedelta(minutes=low))
            seg_end = (
                _to_ms(next_midnight) if high >= 24 * 60 else _to_ms(midnight + timedelta(minutes=high))
            )
            if seg_end <= seg_start:
                continue  # a wall-clock span skipped by a DST change
            if segments and segments[-1][2] == active and segments[-1][1] == seg_start:
                segments[-1] = (segments[-1][0], seg_end, active)
            else:
                segments.append((seg_start, seg_end, active))
        result = tuple(segments)
        self._by_day[day] = result
        return result
