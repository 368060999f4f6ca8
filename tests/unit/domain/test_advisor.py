"""The billing-model advisor against hand-computed cases: peak concurrency with a sweep
line, the cheaper channel plan, the per-server minimum and the break-even channel count."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.advisor import (
    ChannelPrices,
    Peaks,
    Traffic,
    advise,
    month_peaks,
    peak_concurrency,
    price_traffic,
)
from shared.domain.calls import CallRecord, Direction, Service
from shared.domain.errors import ValidationError
from shared.domain.rating.card import load_card
from shared.domain.rating.compiled import compile_card
from shared.domain.rating.numbers import NumberingPlan
from tests.unit.builders import card, ms, rate

D = Decimal


def test_touching_calls_do_not_overlap() -> None:
    # [0, 10) then [10, 20): the first frees its channel as the second takes it
    assert peak_concurrency([(0, 10), (10, 20)]) == 1
    # one millisecond of overlap needs two channels
    assert peak_concurrency([(0, 10), (9, 20)]) == 2


def test_empty_and_nested_intervals() -> None:
    assert peak_concurrency([]) == 0
    assert peak_concurrency([(5, 5)]) == 0  # holds nothing
    # [0,100) holds [10,20) and [15,30): at 15 all three are open
    assert peak_concurrency([(0, 100), (10, 20), (15, 30), (20, 40)]) == 3


def _call(call_id: str, direction: Direction, start: str, end: str, answer: str | None,
          talk_s: int) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        tenant="t",
        callee="4930123456" if direction is Direction.OUT else "4930999000",
        direction=direction,
        start_ms=ms(start),
        answer_ms=ms(answer) if answer else None,
        end_ms=ms(end),
        talk_ms=talk_s * 1000,
        answered=answer is not None,
    )


OUT, IN = Direction.OUT, Direction.IN
CALLS = [
    # outbound: o1 [10:00:00, 10:02:05), o2 [10:01:00, 10:03:00), o3 [10:02:05, 10:02:30)
    _call("o1", OUT, "2026-03-02T10:00:00Z", "2026-03-02T10:02:05Z", "2026-03-02T10:00:05Z", 120),
    _call("o2", OUT, "2026-03-02T10:01:00Z", "2026-03-02T10:03:00Z", "2026-03-02T10:01:10Z", 110),
    _call("o3", OUT, "2026-03-02T10:02:05Z", "2026-03-02T10:02:30Z", None, 0),
    # inbound: i1 [10:02:00, 10:04:02), i2 [10:05:00, 10:06:01)
    _call("i1", IN, "2026-03-02T10:02:00Z", "2026-03-02T10:04:02Z", "2026-03-02T10:02:02Z", 120),
    _call("i2", IN, "2026-03-02T10:05:00Z", "2026-03-02T10:06:01Z", "2026-03-02T10:05:01Z", 60),
    CallRecord(call_id="s1", tenant="t", callee="4930123456", service=Service.SMS),
]


def _traffic() -> Traffic:
    document = card(
        rate("49", "0.0120", initial=60, increment=60, destination="Germany"),
        rate("", "0.0060", initial=60, increment=60, direction="in", destination="Local in"),
    )
    return price_traffic(CALLS, compile_card(load_card(document)), NumberingPlan())


def test_peaks_per_direction_from_a_handful_of_calls() -> None:
    traffic = _traffic()
    # outbound: o1 and o2 overlap from 10:01:00 → 2; at 10:02:05 o1 ends as o3 starts → still 2
    # inbound: i1 and i2 never overlap → 1
    # together: at 10:02:00 o1, o2, i1 → 3; at 10:02:05 o2, o3, i1 → 3 (4 if touching counted)
    assert month_peaks(traffic.intervals) == {"2026-03": Peaks(outbound=2, inbound=1, two_way=3)}
    assert traffic.skipped == {"not voice": 1}


def test_per_minute_cost_is_the_rated_cost() -> None:
    traffic = _traffic()
    # 60/60 rounding: o1 120 s → 2 min × 0.0120 = 0.0240; o2 110 s → 2 min = 0.0240; o3 0;
    # i1 120 s → 2 min × 0.0060 = 0.0120; i2 60 s → 1 min = 0.0060. Total 0.0660
    assert traffic.month_costs == {"2026-03": D("0.0660")}
    assert traffic.month_calls == {"2026-03": 5}


def test_the_cheaper_model_and_by_how_much() -> None:
    traffic = _traffic()
    prices = ChannelPrices(outbound=D("0.02"), inbound=D("0.01"), two_way=D("0.025"))
    advice = advise(
        traffic.month_costs, traffic.month_calls, month_peaks(traffic.intervals), prices, "USD"
    )
    month = advice.months[0]
    # dedicated 2 × 0.02 + 1 × 0.01 = 0.05 beats two-way 3 × 0.025 = 0.075
    assert (month.plan.kind, month.plan.cost) == ("dedicated", D("0.05"))
    assert (month.plan.outbound, month.plan.inbound) == (2, 1)
    # per minute 0.0660 vs per channel 0.05: per channel cheaper by 0.0160
    assert (advice.per_minute, advice.per_channel) == (D("0.0660"), D("0.05"))
    assert (advice.cheaper, advice.difference) == ("per-channel", D("0.0160"))
    # sweep on two-way channels at 0.025: 2 channels cost 0.05 <= 0.066, 3 cost 0.075 > 0.066
    assert advice.break_even_channels == 2
    assert [p.channels for p in advice.sweep] == list(range(11))  # max(10, 2 × peak 3)
    assert (advice.sweep[3].per_channel, advice.sweep[3].enough) == (D("0.075"), True)
    assert advice.sweep[2].enough is False


def test_the_minimum_charge_per_server_applies_to_both_models() -> None:
    traffic = _traffic()
    peaks = month_peaks(traffic.intervals)
    one = ChannelPrices(D("0.02"), D("0.01"), D("0.025"), minimum=D("0.06"))
    advice = advise(traffic.month_costs, traffic.month_calls, peaks, one, "USD")
    # per minute max(0.0660, 0.06) = 0.0660; per channel max(0.05, 0.06) = 0.06
    assert (advice.per_minute, advice.per_channel) == (D("0.0660"), D("0.06"))
    assert (advice.cheaper, advice.difference) == ("per-channel", D("0.0060"))
    two = ChannelPrices(D("0.02"), D("0.01"), D("0.025"), minimum=D("0.06"), servers=2)
    advice = advise(traffic.month_costs, traffic.month_calls, peaks, two, "USD")
    # both raised to 2 × 0.06 = 0.12
    assert (advice.per_minute, advice.per_channel) == (D("0.12"), D("0.12"))
    assert (advice.cheaper, advice.difference) == ("equal", D(0))


def test_months_are_priced_on_their_own_peaks() -> None:
    costs = {"2026-03": D("5"), "2026-04": D("1")}
    peaks = {"2026-03": Peaks(2, 1, 3), "2026-04": Peaks(1, 0, 1)}
    prices = ChannelPrices(D("1.5"), D("1"), D("1.2"), minimum=D("2"))
    advice = advise(costs, {"2026-03": 9, "2026-04": 2}, peaks, prices, "EUR")
    march, april = advice.months
    # March: dedicated 2 × 1.5 + 1 = 4.0 vs two-way 3 × 1.2 = 3.6 → 3.6 (above the minimum 2)
    assert (march.plan.kind, march.per_channel, march.per_minute) == ("two-way", D("3.6"), D("5"))
    # April: two-way 1.2 (dedicated 1.5) → raised to the minimum 2; per minute 1 → 2
    assert (april.plan.kind, april.per_channel, april.per_minute) == ("two-way", D("2"), D("2"))
    # 5 + 2 = 7 per minute, 3.6 + 2 = 5.6 per channel: 1.4 cheaper per channel
    assert (advice.cheaper, advice.difference) == ("per-channel", D("1.4"))
    # n two-way channels cost max(1.2n, 2) twice: n=2 → 4.8 <= 7, n=3 → 7.2 > 7
    assert advice.break_even_channels == 2


def test_a_minimum_far_above_the_channel_price_finds_the_break_even_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given one month of 1.00 usage, two-way channels at 0.01 and a minimum of 1e12: both
    # models cost the minimum until n × 0.01 passes it. The break-even was walked one channel
    # at a time from 0 (1e14 steps: `billing advise --minimum 1e12` never ended); count the
    # month costs it prices, and stop a walk long before it would end
    from shared.domain import advisor

    priced = 0
    month_cost = advisor._month_cost

    def counted(*args: object) -> Decimal:
        nonlocal priced
        priced += 1
        assert priced < 10_000, "the break-even is walked channel by channel"
        return month_cost(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(advisor, "_month_cost", counted)
    prices = ChannelPrices(two_way=D("0.01"), minimum=D("1000000000000"))
    advice = advise({"2026-03": D("1.00")}, {"2026-03": 1}, {"2026-03": Peaks(0, 0, 1)},
                    prices, "USD", sweep_to=3)
    # per minute max(1.00, 1e12) = per channel max(n × 0.01, 1e12) while n × 0.01 <= 1e12:
    # n = 10^14 costs exactly 1e12, one channel more 1e12 + 0.01
    assert (advice.per_minute, advice.per_channel, advice.cheaper) == (
        D("1000000000000"), D("1000000000000"), "equal")
    assert advice.break_even_channels == 10**14
    # two months: 2 × max(n × 0.01, 1e12) <= 2e12 up to the same n
    two = advise({"2026-03": D("1"), "2026-04": D("1")}, {"2026-03": 1, "2026-04": 1},
                 {"2026-03": Peaks(0, 0, 1), "2026-04": Peaks(0, 0, 1)}, prices, "USD",
                 sweep_to=3)
    assert two.break_even_channels == 10**14


def test_a_model_needs_its_prices() -> None:
    with pytest.raises(ValidationError, match="two-way channel price"):
        ChannelPrices(outbound=D("1"))
    with pytest.raises(ValidationError, match="negative"):
        ChannelPrices(two_way=D("-1"))
