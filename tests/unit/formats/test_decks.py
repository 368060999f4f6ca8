"""Rate decks → native rate documents (``billing import-deck``, SPEC section 4).

Expected values come from reading the sample files by hand (line numbers quoted next to
them) or from a hand calculation written beside the assertion.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.domain.calls import CallRecord
from shared.domain.errors import CardLoadError
from shared.domain.rating.card import load_card
from shared.domain.rating.compiled import CompiledCard, compile_card
from shared.domain.rating.engine import rate_call
from shared.domain.rating.numbers import NumberingPlan
from shared.formats.decks import (
    DeckImport,
    DeckOptions,
    Reason,
    Severity,
    card_document,
    detect_format,
    dump_card_document,
    parse_deck,
    read_deck,
)

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "acceptance" / "samples"
A_Z_DECK = (
    SAMPLES / "ratedeck_international_PT_carrier__asterisell-v5_itcenter_fccn_2012-09-06__head.csv"
)
SPECIAL = SAMPLES / "special_numbers_rates_PT__asterisell-v5_ptprime_2012-09-06.csv"
EUR = DeckOptions(currency="EUR")


# -- helpers ------------------------------------------------------------------------------


def deck(text: str | bytes, **options: Any) -> DeckImport:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_deck(data, "test.csv", DeckOptions(**{"currency": "EUR", **options}))


def by_prefix(result: DeckImport) -> dict[str, dict[str, Any]]:
    return {rate["prefix"]: rate for rate in result.rates}


def reports(result: DeckImport, severity: Severity) -> list[tuple[int, Reason]]:
    return [(r.line, r.reason) for r in result.reports if r.severity is severity]


def compiled(result: DeckImport, **settings: Any) -> CompiledCard:
    document = card_document(result, currency="EUR", **settings)
    return compile_card(load_card(json.loads(dump_card_document(document))))


def cost(
    card: CompiledCard, callee: str, talk_s: int, answer: str = "2026-03-02T10:00:00+00:00",
    plan: NumberingPlan | None = None,
) -> tuple[Decimal, str]:
    """Rate one answered call; (cost, matched prefix)."""
    from datetime import datetime

    answer_ms = int(datetime.fromisoformat(answer).timestamp() * 1000)
    record = CallRecord(
        call_id="c1", tenant="t", callee=callee, answer_ms=answer_ms, start_ms=answer_ms,
        talk_ms=talk_s * 1000,
    )
    rating = rate_call(record, card, plan or NumberingPlan())
    assert rating.reason is None, rating.detail
    return rating.cost, rating.prefix


# -- the real A–Z deck -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def a_z() -> DeckImport:
    return read_deck(A_Z_DECK, EUR)


def test_real_a_z_deck_every_data_line_is_counted(a_z: DeckImport) -> None:
    # Given the truncated carrier deck: `wc -l` says 5226 lines, the first is the header
    data = A_Z_DECK.read_bytes()
    physical_lines = data.count(b"\n")
    assert physical_lines == 5226
    assert b"\n\n" not in data  # no blank lines to leave out
    # Then every data line is a row, and each row is imported, rejected or skipped
    assert a_z.format == "a-z"
    assert a_z.rows == physical_lines - 1 == 5225
    assert a_z.rows == a_z.imported + a_z.rejected + a_z.skipped
    # the deck is clean: no duplicate prefixes, no bad prices (checked with grep/uniq -d)
    assert (a_z.imported, a_z.rejected, a_z.skipped) == (5225, 0, 0)
    assert len(a_z.rates) == 5225


@pytest.mark.parametrize(
    ("line", "prefix", "destination", "price"),
    [
        (2, "88299", "AeroMobile - GSM aircraft", "1.9989"),  # "1,9989"
        (3, "93", "Afghanistan", "0.1175"),  # "0,1175"
        (8, "355", "Albania", "0.097"),  # "0,097": no digits invented
        (284, "55", "Brazil - ROC", "0.0218"),
        (285, "5511", "Brazil - S\u00bfPaulo", "0.0218"),
        (286, "55115212", "Brazil - S\u00bfPaulo", "0.0218"),
        (288, "55115020", "Brazil Mobile", "0.157"),
        (343, "551152", "Brazil Mobile", "0.157"),
        (3856, "47", "Norway", "0.0121"),
        (3930, "475800070", "Norway Mobile - NetCom", "0.056"),
        (5226, "48177415", "Poland - Non-TP", "0.029"),  # the last line
    ],
)
def test_real_a_z_deck_comma_decimals_are_exact(
    a_z: DeckImport, line: int, prefix: str, destination: str, price: str
) -> None:
    rate = by_prefix(a_z)[prefix]
    assert rate["destination"] == destination
    # the price is text, exactly the deck's digits with a dot: never through a float
    assert rate["tiers"] == [{"price": price, "initial": 60, "increment": 60}]


def test_real_a_z_deck_sao_paulo_rows_are_utf8_and_flagged(a_z: DeckImport) -> None:
    # The sample's "S¿Paulo" is the UTF-8 sequence C2 BF (U+00BF), not a stray byte: the
    # file decodes as UTF-8, and the "¿" stands for characters lost before it was written.
    data = A_Z_DECK.read_bytes()
    assert data.count(b"S\xc2\xbfPaulo") == 3
    data.decode("utf-8")  # does not raise
    # Then the three rows import unchanged, each with a suspect_text warning, and no
    # encoding warning (nothing had to be decoded by the fallback)
    assert reports(a_z, Severity.WARNING) == [
        (285, Reason.SUSPECT_TEXT), (286, Reason.SUSPECT_TEXT), (287, Reason.SUSPECT_TEXT)
    ]
    assert a_z.warnings == 3
    assert a_z.reports[0].raw == '"Brazil - S\u00bfPaulo",5511,"0,0218"'


def test_real_a_z_deck_rates_deep_prefixes_by_longest_match(a_z: DeckImport) -> None:
    card = compiled(a_z)
    # 5511521299: 55115212 (0.0218, line 286) beats 551152 (0.157, line 343) and 5511, 55.
    # 61 s on 60/60 bills 120 s: 2 × 0.0218 = 0.0436
    assert cost(card, "+5511521299", 61) == (Decimal("0.0436"), "55115212")
    # 5511520999: no 5511520 or 55115209 in the deck, so 551152 (0.157): 30 s → 60 s → 0.157
    assert cost(card, "+5511520999", 30) == (Decimal("0.1570"), "551152")
    # 5511502099 → 55115020 (line 288, 0.157): 60 s → 0.157
    assert cost(card, "005511502099", 60) == (Decimal("0.1570"), "55115020")
    # 4758000701 → the 9-digit 475800070 (line 3930, 0.056) over 4758 and 47:
    # 125 s → 180 s → 3 × 0.056 = 0.168
    assert cost(card, "+4758000701", 125) == (Decimal("0.1680"), "475800070")
    # 4712345678 → 471 (line 3998, Norway Mobile - Others, 0.056): 1 s → 60 s → 0.056
    assert cost(card, "+4712345678", 1) == (Decimal("0.0560"), "471")
    # 4721234567: no 472… prefix in the deck, so 47 (line 3856, 0.0121)
    assert cost(card, "+4721234567", 1) == (Decimal("0.0121"), "47")


def test_cli_defaults_apply_only_where_the_deck_is_silent() -> None:
    result = read_deck(A_Z_DECK, DeckOptions(currency="EUR", initial=Decimal(30),
                                             increment=Decimal(6)))
    assert by_prefix(result)["93"]["tiers"] == [
        {"price": "0.1175", "initial": 30, "increment": 6}
    ]
    own = deck("Code,Rate,Increment\n44,0.01,1\n", initial=Decimal(30), increment=Decimal(6))
    # the row's increment wins over --increment; --initial still fills the missing initial
    assert own.rates[0]["tiers"] == [{"price": "0.01", "initial": 30, "increment": 1}]
    alone = deck("Code,Rate,Increment\n44,0.01,1\n")
    # no --initial: a row with only an increment starts with that increment (1/1)
    assert alone.rates[0]["tiers"] == [{"price": "0.01", "initial": 1, "increment": 1}]


# -- encodings -----------------------------------------------------------------------------

LEGACY = (
    b'"DESTINATION","PREFIX","RATE"\n'
    b'"Brazil - S\xbfPaulo",5511,"0,0218"\n'  # 0xBF alone is not UTF-8
    b'"S\xe3o Tom\xe9",239,"0,5"\n'  # cp1252 ã é
    b'"Chile",56,"0,05"\n'
)


def test_non_utf8_row_is_decoded_as_cp1252_imported_and_flagged() -> None:
    result = deck(LEGACY)
    assert (result.rows, result.imported, result.rejected) == (3, 3, 0)
    names = {rate["prefix"]: rate["destination"] for rate in result.rates}
    assert names == {"5511": "Brazil - S\u00bfPaulo", "239": "S\u00e3o Tom\u00e9", "56": "Chile"}
    assert reports(result, Severity.WARNING) == [
        (2, Reason.ENCODING), (2, Reason.SUSPECT_TEXT), (3, Reason.ENCODING)
    ]
    first = result.reports[0]
    assert "0xBF" in first.detail and "Windows-1252" in first.detail
    assert first.raw == '"Brazil - S\u00bfPaulo",5511,"0,0218"'


def test_explicit_legacy_encoding_reads_the_whole_file_without_warnings() -> None:
    result = deck(LEGACY, encoding="latin-1")
    assert {r["prefix"]: r["destination"] for r in result.rates}["239"] == "S\u00e3o Tom\u00e9"
    assert reports(result, Severity.WARNING) == [(2, Reason.SUSPECT_TEXT)]


def test_byte_order_mark_and_crlf_are_not_part_of_the_data() -> None:
    result = deck(b"\xef\xbb\xbfPREFIX,RATE\r\n93,\"0,1175\"\r\n")
    assert result.rates == [
        {"prefix": "93", "tiers": [{"price": "0.1175", "initial": 60, "increment": 60}]}
    ]


# -- A–Z header synonyms and layouts --------------------------------------------------------


def test_astpp_template_columns_with_included_seconds() -> None:
    # ASTPP's sample layout; included seconds are free: billable time is
    # ceil((talk - 30) / 6) × 6, plus the connect cost (ASTPP calc_call_cost)
    result = deck(
        "Code,Prepend,Destination,Connect Cost,Included Seconds,Per Minute Cost,Increment,"
        "Precedence\n"
        "4420,,UK London,0.01,30,0.012,6,1\n"
    )
    assert [(n.reason, n.detail) for n in result.notices] == [
        (Reason.IGNORED_COLUMN, "column 'Prepend' is not a rating field and is ignored"),
        (Reason.IGNORED_COLUMN, "column 'Precedence' is not a rating field and is ignored"),
    ]
    assert result.rates == [{
        "prefix": "4420", "destination": "UK London", "connect_fee": "0.01",
        "tiers": [
            {"from": 0, "price": "0", "initial": 30, "increment": 30},
            {"from": 30, "price": "0.012", "increment": 6},
        ],
    }]
    card = compiled(result)
    # 45 s: 30 free, then 15 s → 3 × 6 s = 18 s × 0.012/60 = 0.0036, + 0.01 = 0.0136
    assert cost(card, "+442071234567", 45) == (Decimal("0.0136"), "4420")
    # 20 s: inside the free seconds, only the connect cost
    assert cost(card, "+442071234567", 20) == (Decimal("0.0100"), "4420")


def test_semicolon_deck_with_interval_and_effective_date() -> None:
    result = deck(
        "Dial Code;Destination;Rate (EUR/min);Effective Date;Billing Interval\n"
        "44;United Kingdom;0,0123;2026-04-01;30/6\n"
    )
    assert result.rates == [{
        "prefix": "44", "destination": "United Kingdom", "effective_from": "2026-04-01",
        "tiers": [{"price": "0.0123", "initial": 30, "increment": 6}],
    }]


def test_native_flat_csv_deck() -> None:
    text = "prefix,destination,price,initial,increment,connect_fee\n49,Germany,0.0140,60,6,0.01\n"
    assert detect_format(text.encode(), "x") == "csv"
    result = deck(text)
    assert result.format == "csv"
    assert result.rates == [{
        "prefix": "49", "destination": "Germany", "connect_fee": "0.01",
        "tiers": [{"price": "0.0140", "initial": 60, "increment": 6}],
    }]


def test_native_csv_format_refuses_an_unknown_column() -> None:
    with pytest.raises(CardLoadError, match="unknown deck column 'rate'"):
        deck("prefix,rate\n49,0.01\n", format="csv")


# -- bad decks -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_deck_is_an_error(text: str) -> None:
    with pytest.raises(CardLoadError, match="empty deck"):
        deck(text)


def test_deck_without_a_header_is_an_error_naming_the_line() -> None:
    with pytest.raises(CardLoadError, match=r"line 1 looks like data, not a header"):
        deck('"Afghanistan",93,"0,1175"\n"Albania",355,"0,097"\n')


def test_wrong_header_is_an_error_listing_the_columns() -> None:
    with pytest.raises(CardLoadError, match=r"no prefix and no price column among 'foo'"):
        deck("foo,bar,baz\nx,y,z\n")


def test_bad_rows_are_reported_one_by_one() -> None:
    result = deck(
        "DESTINATION,PREFIX,RATE\n"  # line 1
        "Afghanistan,93,\"0,1175\"\n"  # 2: fine
        "Nowhere,,\"0,1\"\n"  # 3: empty prefix
        "Typo,93a,\"0,1\"\n"  # 4: not digits
        "Words,94,abc\n"  # 5: non-numeric price
        "Thousands,95,\"1.234,5\"\n"  # 6: thousands separator
        "Negative,96,-0.1\n"  # 7: negative
        "Short,97\n"  # 8: missing field
        "Afghanistan again,93,0.1175\n"  # 9: same prefix, same price → skipped
        "Afghanistan dearer,93,0.2\n"  # 10: same prefix, other price → rejected
        "\n"  # 11: blank, not a row
        "\"Multi\nline\",98,0.3\n"  # 12-13: one record starting on line 12
        "Empty price,99,\n"  # 14
    )
    assert reports(result, Severity.REJECTED) == [
        (3, Reason.EMPTY_PREFIX), (4, Reason.BAD_PREFIX), (5, Reason.BAD_PRICE),
        (6, Reason.BAD_PRICE), (7, Reason.BAD_PRICE), (8, Reason.MALFORMED),
        (10, Reason.DUPLICATE_CONFLICT), (14, Reason.BAD_PRICE),
    ]
    assert reports(result, Severity.SKIPPED) == [(9, Reason.DUPLICATE)]
    # 11 records (lines 2-10, 12 and 14): imported 93 (line 2) and 98 (line 12)
    assert (result.rows, result.imported, result.rejected, result.skipped) == (11, 2, 8, 1)
    assert result.rows == result.imported + result.rejected + result.skipped
    # the first price of 93 is kept and the conflict names both
    assert by_prefix(result)["93"]["tiers"][0]["price"] == "0.1175"
    conflict = next(r for r in result.reports if r.line == 10)
    assert "0.1175 on line 2" in conflict.detail and "0.2" in conflict.detail
    assert conflict.raw == "Afghanistan dearer,93,0.2"
    assert by_prefix(result)["98"]["destination"] == "Multi\nline"
    words = next(r for r in result.reports if r.line == 5)
    assert words.detail.startswith("price 'abc' is not a number")


def test_row_the_native_format_refuses_is_reported_not_fatal() -> None:
    result = deck("prefix,price,band\n44,0.01,peak\n45,0.02,\n")
    assert reports(result, Severity.REJECTED) == [(2, Reason.INVALID_RATE)]
    assert "band 'peak' is not defined" in result.reports[0].detail
    assert [rate["prefix"] for rate in result.rates] == ["45"]


def test_card_document_needs_a_currency() -> None:
    result = parse_deck(b"prefix,price\n44,0.01\n", "x.csv", DeckOptions())
    with pytest.raises(CardLoadError, match="does not name a currency"):
        card_document(result)
    assert card_document(result, currency="GBP")["card"] == "x"


# -- ConnexCS Open Rate Card ----------------------------------------------------------------

# The shape of github.com/connexcs/open-rate-card (schema 1.0.0): cards.<id>.fields names
# the columns of the rates arrays; the line numbers below are this text's lines.
ORC = """{
  "name": "Example Carrier", "schema_version": "1.0.0", "version": "1.0",
  "date": "2026-01-03", "timezone": "Europe/London",
  "cards": {
    "default": {
      "name": "Termination Rates", "type": "termination", "currency": "GBP",
      "endpoint": "default", "tech_prefix": "555",
      "rate": {"default_pulse": 6, "default_initial": 30, "connection": 0},
      "charge": {"precision": 5, "rounding": "half_up"},
      "fields": [{"name": "prefix"}, {"name": "name"}, {"name": "rate"},
                 {"name": "connection_fee"}, {"name": "initial_interval"},
                 {"name": "billing_interval"}, {"name": "effective_date"},
                 {"name": "region"}, {"name": "colour"}],
      "rates": [
        ["441", "UK Landline", 0.0120, 0, 60, 60, "2026-02-01", "Europe", null],
        ["447", "UK Mobile", 0.0285, 0.01, null, null, null, "Europe", "blue"],
        ["", "No prefix", 0.1, 0, 60, 60, null, null, null],
        ["449", "Bad price", "abc", 0, 60, 60, null, null, null],
        ["44", "Too short"]
      ]
    }
  }
}
"""


def test_open_rate_card_imports_with_row_reports() -> None:
    result = parse_deck(ORC.encode(), "carrier.json", DeckOptions())
    assert result.format == "open-rate-card"
    assert (result.rows, result.imported, result.rejected, result.skipped) == (5, 2, 3, 0)
    assert reports(result, Severity.REJECTED) == [
        (17, Reason.EMPTY_PREFIX), (18, Reason.BAD_PRICE), (19, Reason.MALFORMED)
    ]
    # an unknown field with a value is reported on its row (a null one is not news)
    assert reports(result, Severity.WARNING) == [(16, Reason.UNKNOWN_FIELD)]
    assert "colour" in result.reports[0].detail
    assert result.reports[0].raw.startswith('["447", "UK Mobile", 0.0285')
    assert [n.reason for n in result.notices] == [Reason.IGNORED_SETTING]  # tech_prefix
    assert result.rates == [
        {"prefix": "441", "destination": "UK Landline", "effective_from": "2026-02-01",
         "tiers": [{"price": "0.0120", "initial": 60, "increment": 60}]},
        # initial and increment from the card's rate.default_initial / default_pulse
        {"prefix": "447", "destination": "UK Mobile", "connect_fee": "0.01",
         "tiers": [{"price": "0.0285", "initial": 30, "increment": 6}]},
    ]
    document = card_document(result)
    assert {k: document[k] for k in ("card", "currency", "timezone", "decimals", "rounding")} == {
        "card": "Termination Rates", "currency": "GBP", "timezone": "Europe/London",
        "decimals": 5, "rounding": "half_up",
    }
    card = compile_card(load_card(document))
    # 65 s on 30/6: 30 + 6 × 6 = 66 s × 0.0285/60 = 0.03135, + 0.01 → 0.04135 (5 dp)
    record = CallRecord(call_id="c", tenant="t", callee="+447700900123",
                        answer_ms=1_772_445_600_000, talk_ms=65_000)
    assert rate_call(record, card, NumberingPlan()).cost == Decimal("0.04135")


def test_open_rate_card_objects_bidirectional_and_expiry() -> None:
    document = {
        "name": "Objects", "schema_version": "1.0.0", "version": "1.0", "date": "2026-01-03",
        "expiry_date": "2026-12-31T23:59:59Z",
        "cards": {"both": {
            "name": "Both ways", "type": "wholesale", "currency": "USD", "endpoint": "e",
            "direction": "bidirectional",
            "rates": [{"prefix": 1, "destination": "USA", "price": "0.005", "pulse": 6,
                       "mcc": "310"}],
        }},
    }
    result = parse_deck(json.dumps(document).encode(), "o.json", DeckOptions())
    tiers = [{"price": "0.005", "initial": 6, "increment": 6}]
    # an inclusive last second of 2026-12-31 is an exclusive end of 2027-01-01
    assert result.rates == [
        {"prefix": "1", "destination": "USA", "effective_to": "2027-01-01", "tiers": tiers},
        {"prefix": "1", "destination": "USA", "effective_to": "2027-01-01", "direction": "in",
         "tiers": tiers},
    ]
    assert result.reports == []  # mcc is a documented informational field


def test_open_rate_card_errors() -> None:
    with pytest.raises(CardLoadError, match="no 'cards' object"):
        parse_deck(b'{"rates": []}', "x.json", DeckOptions())
    two = {"cards": {"a": {"currency": "USD"}, "b": {"currency": "USD"}}}
    with pytest.raises(CardLoadError, match="choose one with --orc-card"):
        parse_deck(json.dumps(two).encode(), "x.json", DeckOptions())
    assert parse_deck(json.dumps(two).encode(), "x.json", DeckOptions(orc_card="b")).rows == 0
    fax = {"cards": {"a": {"currency": "USD", "traffic_type": "fax"}}}
    with pytest.raises(CardLoadError, match="traffic_type 'fax' has no native service"):
        parse_deck(json.dumps(fax).encode(), "x.json", DeckOptions())
    with pytest.raises(CardLoadError, match="invalid JSON at line 1"):
        parse_deck(b'{"cards": ', "x.json", DeckOptions())


# -- the special-numbers sheet (stretch) --------------------------------------------------------


@pytest.fixture(scope="module")
def special() -> DeckImport:
    return read_deck(SPECIAL, EUR)


def test_special_numbers_rows_add_up(special: DeckImport) -> None:
    # By hand: 122 lines = header + 17 "RATE METHOD NOTE" lines + 104 data rows, of which
    # LocalPT (line 73), "not applied" (line 88) and method 9 (line 111) have no exact meaning
    assert special.format == "special-numbers"
    assert special.rows == 121
    assert special.skipped == 17
    assert reports(special, Severity.REJECTED) == [
        (73, Reason.UNSUPPORTED_METHOD), (88, Reason.UNSUPPORTED_METHOD),
        (111, Reason.UNSUPPORTED_METHOD),
    ]
    assert special.imported == 101
    assert special.rows == special.imported + special.rejected + special.skipped
    pattern_warnings = [r for r in special.reports if r.reason is Reason.PATTERN_LENGTH]
    assert pattern_warnings[0].line == 19  # "7072xxxxx"


def test_special_numbers_methods_as_native_rates(special: DeckImport) -> None:
    rates: dict[str, list[dict[str, Any]]] = {}
    for rate in special.rates:
        rates.setdefault(rate["prefix"], []).append(rate)
    # line 20, method 3 "by call", 0,6: a connect fee and nothing per minute
    assert rates["76020"] == [{
        "prefix": "76020", "destination": "Servi\u00e7o de Tarifa \u00danica por Chamada PT",
        "connect_fee": "0.6", "tiers": [{"price": "0"}],
    }]
    # line 23, method 1: first minute 0,07, then per second at 0,0258 (peak) / 0,0084
    peak, offpeak = rates["8082"]
    assert (peak["band"], offpeak["band"]) == ("peak", "offpeak")
    assert peak["tiers"] == [
        {"from": 0, "price": "0.07", "per": 60, "initial": 60, "increment": 60},
        {"from": 60, "price": "0.0258", "per": 60, "increment": 1},
    ]
    assert offpeak["tiers"][1]["price"] == "0.0084"
    # line 91: max cost 2,8921, same price at all hours → one rate
    assert rates["16209"][0]["max_cost"] == "2.8921"
    assert "band" not in rates["16209"][0]
    assert special.bands["peak"] == {"days": "mon-fri", "from": "09:00", "to": "21:00",
                                     "weight": 10}


def test_special_numbers_card_rates_calls_by_hand(special: DeckImport) -> None:
    card = compiled(special, timezone="Europe/Lisbon")  # Lisbon is UTC+0 in early March
    plan = NumberingPlan(max_extension_digits=4)  # 5-digit service numbers are not extensions
    # 808 201 234 on Monday 10:00 (peak), 95 s: 0.07 + 35 × 0.0258/60 = 0.07 + 0.01505
    # = 0.08505 → 4 dp up → 0.0851
    assert cost(card, "808201234", 95, "2026-03-02T10:00:00+00:00") == (
        Decimal("0.0851"), "8082")
    # answered Monday 20:59:30: the first minute (0.07) starts in peak, the 35 seconds from
    # 21:00:30 are off-peak: 35 × 0.0084/60 = 0.0049 → 0.0749
    assert cost(card, "808201234", 95, "2026-03-02T20:59:30+00:00") == (
        Decimal("0.0749"), "8082")
    # per call (line 20): 0.6 whatever the length
    assert cost(card, "760201234", 200) == (Decimal("0.6000"), "76020")
    # line 113, method 2: first 30 s 0.6179, then 15 s × 0.3496/60 = 0.0874 → 0.7053
    assert cost(card, "12118", 45, plan=plan) == (Decimal("0.7053"), "12118")
    # line 74, method 4 on Saturday (off-peak): first second 0.1749, then 60 s × 0.0179/60
    # = 0.0179 → 0.1928
    assert cost(card, "674400000", 61, "2026-03-07T12:00:00+00:00") == (
        Decimal("0.1928"), "674400000")
    # line 91, 3 h: 0.1142 + 10740 × 0.1142/60 = 20.556, capped at the max cost 2.8921
    assert cost(card, "16209", 3 * 3600, plan=plan) == (Decimal("2.8921"), "16209")


def test_special_numbers_unknown_layout_is_an_error() -> None:
    with pytest.raises(CardLoadError, match="not the special-numbers layout"):
        deck("Call Number / Pattern,Type of rate\n808,1\n", format="special-numbers")


# -- duplicates and effective dates ---------------------------------------------------------


def test_duplicate_prices_compare_as_numbers_not_text() -> None:
    result = deck('PREFIX,RATE\n93,"0,1175"\n93,0.11750\n')
    assert reports(result, Severity.SKIPPED) == [(3, Reason.DUPLICATE)]
    assert result.rejected == 0


def test_a_later_price_ends_the_earlier_one() -> None:
    # line 2's price has no end; line 3's starts on 2026-06-01: line 2 ends then (exclusive)
    result = deck(
        "Code,Rate,Effective Date\n"
        "44,0.010,\n"
        "44,0.012,2026-06-01\n"
        "49,0.02,2026-01-01\n"
    )
    assert [(r.line, r.reason) for r in result.reports] == [(2, Reason.EFFECTIVE_END)]
    assert "now ends on 2026-06-01, when the price on line 3 starts" in result.reports[0].detail
    rates = [(r["prefix"], r.get("effective_from"), r.get("effective_to")) for r in result.rates]
    assert rates == [("44", None, "2026-06-01"), ("44", "2026-06-01", None),
                     ("49", "2026-01-01", None)]
    card = compiled(result)
    # before June the old price, from June the new one (1 s → 60 s)
    assert cost(card, "+442071234567", 1, "2026-05-31T12:00:00+00:00") == (
        Decimal("0.0100"), "44")
    assert cost(card, "+442071234567", 1, "2026-06-01T12:00:00+00:00") == (
        Decimal("0.0120"), "44")
