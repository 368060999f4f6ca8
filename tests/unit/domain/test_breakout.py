"""Breakout lines: ratios cut once, margins exact, totals per destination."""

from __future__ import annotations

from decimal import Decimal

from shared.domain.breakout import BuyCost, breakout_lines, ratio, totals_by_destination

D = Decimal


def test_ratios_are_cut_half_even_and_undefined_without_a_denominator() -> None:
    assert ratio(2, 3, 2) == D("0.67")
    assert ratio(1, 8, 2) == D("0.12")  # 0.125 → half-even → 0.12
    assert ratio(3, 8, 2) == D("0.38")  # 0.375 → 0.38
    assert ratio(5, 0, 2) is None


def test_lines_merge_rows_of_one_day_and_destination_and_carry_margin() -> None:
    rows = [
        ("2026-03-02", "Germany", 2, 1, 66_000, D("0.0132")),
        ("2026-03-02", "Germany", 1, 1, 60_000, D("0.0120")),
        ("2026-03-01", "France", 1, 0, 0, D(0)),
    ]
    buy = {("2026-03-02", "Germany"): BuyCost(D("0.0100"), 2)}
    france, germany = breakout_lines(rows, buy)
    # 3 attempts, 2 answered: 66.67 %; (66 + 60) s / 2 = 63.0 s; 126 s = 2.100 min
    assert (germany.attempts, germany.answered, germany.asr) == (3, 2, D("66.67"))
    assert (germany.acd, germany.minutes, germany.cost) == (D("63.0"), D("2.100"), D("0.0252"))
    # margin 0.0252 − 0.0100 = 0.0152; 0.0152 / 0.0252 = 60.317… % → 60.32
    assert (germany.margin, germany.margin_pct) == (D("0.0152"), D("60.32"))
    # France: no answered call, nothing sold: buy 0, margin 0, no margin %, no ACD
    assert (france.acd, france.buy_cost, france.margin, france.margin_pct) == (
        None, D(0), D(0), None
    )
    assert france.as_dict()["acd"] is None and germany.as_dict()["margin_pct"] == "60.32"


def test_totals_per_destination_sum_days_and_buy_costs() -> None:
    rows = [
        ("2026-03-01", "Germany", 1, 1, 60_000, D("0.0120")),
        ("2026-03-02", "Germany", 1, 1, 66_000, D("0.0132")),
    ]
    buy = {
        ("2026-03-01", "Germany"): BuyCost(D("0.0060"), 1),
        ("2026-03-02", "Germany"): BuyCost(D("0.0066"), 1, unrated=1),
    }
    (total,) = totals_by_destination(breakout_lines(rows, buy))
    assert (total.day, total.attempts, total.billed_ms, total.cost) == (
        "all", 2, 126_000, D("0.0252")
    )
    assert total.buy == BuyCost(D("0.0126"), 2, 1)
    assert total.margin == D("0.0126")


def test_without_a_buy_card_there_is_no_margin() -> None:
    (line,) = breakout_lines([("2026-03-01", "Germany", 1, 1, 60_000, D("0.0120"))])
    assert (line.buy, line.margin, line.margin_pct) == (None, None, None)
    assert "margin" not in line.as_dict()
