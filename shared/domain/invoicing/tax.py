"""Tax per jurisdiction: a rate per line type, telecom surcharges, reverse charge.

Rules are looked up by the place of supply, the buyer's country (as for telecom services in
the EU); a buyer without a country is taxed by the seller's. Tax is computed per rate group:
the charged lines carrying the same tax (name and rate) are summed and the group's tax is
rounded once (``round_invoice_amount``), so the tax total never depends on how many lines
there are (docs/invoicing.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.domain.errors import ValidationError
from shared.domain.invoicing.lines import TELECOM_KINDS, InvoiceLine, LineKind, Rate, TaxCode
from shared.domain.money import round_invoice_amount

REVERSE_CHARGE_NOTE = (
    "Reverse charge: tax to be accounted for by the recipient (buyer's tax id {tax_id})."
)
EXEMPT_NOTE = "Exempt from tax: no tax charged."


def _country(value: str) -> str:
    if value and not (len(value) == 2 and value.isalpha() and value.isupper()):
        raise ValueError(f"a country is an ISO 3166 alpha-2 code like GB, got {value!r}")
    return value


class TaxProfile(BaseModel):
    """The buyer's tax position, kept in the tenant's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str = ""
    business: bool = False
    tax_id: str = ""
    exempt: bool = False

    @field_validator("country")
    @classmethod
    def _check_country(cls, value: str) -> str:
        return _country(value)


class Party(BaseModel):
    """Seller or buyer as printed on a tax invoice (name, address, country, tax id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    address: tuple[str, ...] = ()
    country: str = ""
    tax_id: str = ""
    business: bool = False
    exempt: bool = False

    @field_validator("country")
    @classmethod
    def _check_country(cls, value: str) -> str:
        return _country(value)

    @classmethod
    def buyer(cls, name: str, address: Iterable[str], tax: TaxProfile) -> Party:
        return cls(
            name=name, address=tuple(address), country=tax.country, tax_id=tax.tax_id,
            business=tax.business, exempt=tax.exempt,
        )


class Surcharge(BaseModel):
    """A telecom levy: a percentage of the lines of the given kinds (telecom service)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    rate: Rate
    kinds: frozenset[LineKind] = TELECOM_KINDS


class TaxRules(BaseModel):
    """One jurisdiction's rules: ``rates`` per line kind, else ``default_rate`` (percent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str
    tax_name: str = "VAT"
    default_rate: Rate = Decimal(0)
    rates: dict[LineKind, Rate] = Field(default_factory=dict)
    surcharges: tuple[Surcharge, ...] = ()

    @field_validator("country")
    @classmethod
    def _check_country(cls, value: str) -> str:
        return _country(value)

    def codes_for(self, kind: LineKind) -> tuple[TaxCode, ...]:
        codes = [TaxCode(name=self.tax_name, rate=self.rates.get(kind, self.default_rate))]
        codes += [TaxCode(name=s.name, rate=s.rate) for s in self.surcharges if kind in s.kinds]
        return tuple(codes)


class Treatment(StrEnum):
    STANDARD = "standard"
    REVERSE_CHARGE = "reverse_charge"  # business buyer abroad with a tax id: tax 0, noted
    EXEMPT = "exempt"


def treatment(seller: Party, buyer: Party) -> Treatment:
    """Reverse charge when seller and buyer are in different countries and the buyer is a
    business with a tax id; exempt when the buyer is flagged exempt; else standard."""
    if buyer.exempt:
        return Treatment.EXEMPT
    if (
        buyer.business and buyer.tax_id and buyer.country and seller.country
        and buyer.country != seller.country
    ):
        return Treatment.REVERSE_CHARGE
    return Treatment.STANDARD


def rules_for(seller: Party, buyer: Party, rules: Mapping[str, TaxRules]) -> TaxRules:
    country = buyer.country or seller.country
    found = rules.get(country)
    if found is None:
        raise ValidationError(
            f"no tax rules for {country or 'an empty country'}: configure them before "
            "invoicing (a missing jurisdiction is never taxed at 0 silently)"
        )
    return found


def with_taxes(
    lines: Iterable[InvoiceLine], seller: Party, buyer: Party, rules: Mapping[str, TaxRules]
) -> tuple[tuple[InvoiceLine, ...], tuple[str, ...]]:
    """The lines with their tax codes assigned, and the notes the treatment requires.

    Reverse charge and exemption assign no tax at all (levies included): the buyer
    accounts for it, or none is due."""
    how = treatment(seller, buyer)
    if how is Treatment.REVERSE_CHARGE:
        note = REVERSE_CHARGE_NOTE.format(tax_id=buyer.tax_id)
        return tuple(line.model_copy(update={"taxes": ()}) for line in lines), (note,)
    if how is Treatment.EXEMPT:
        return tuple(line.model_copy(update={"taxes": ()}) for line in lines), (EXEMPT_NOTE,)
    table = rules_for(seller, buyer, rules)
    return tuple(
        line.model_copy(update={"taxes": () if line.informational else table.codes_for(line.kind)})
        for line in lines
    ), ()


class TaxGroup(BaseModel):
    """Tax of one rate group: the base (sum of its lines' amounts) and the tax, rounded once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    rate: Decimal
    base: Decimal
    amount: Decimal


def tax_groups(lines: Iterable[InvoiceLine], currency: str) -> tuple[TaxGroup, ...]:
    """Group charged lines by (tax name, rate) and round each group's tax once:
    tax = round_invoice_amount(base × rate / 100)."""
    bases: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        if not line.charged:
            continue
        for code in line.taxes:
            key = (code.name, code.rate)
            bases[key] = bases.get(key, Decimal(0)) + line.amount
    return tuple(
        TaxGroup(
            name=name, rate=rate, base=base,
            amount=round_invoice_amount(Fraction(base) * Fraction(rate) / 100, currency),
        )
        for (name, rate), base in sorted(bases.items())
    )
