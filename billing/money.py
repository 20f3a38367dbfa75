"""Invoice arithmetic: every total is computed here, once, in Decimal (ADR 0040).

ZATCA's rule, as its XML implementation standard takes it from EN 16931: round each line's net
amount to halalas; compute each VAT category's tax on the category's taxable total and round that
(BR-S-09 / BR-CO-17), never summing rounded line VATs; the document totals are sums of those rounded
figures (BR-CO-15: total with VAT = total without VAT + VAT). Rounding is ROUND_HALF_UP throughout.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from billing.choices import ItemType, VatCategory

HALALA = Decimal("0.01")
ZERO = Decimal("0.00")
# NUMERIC(14, 2): a trillion riyals on one line is beyond any real invoice; the sums keep headroom.
MONEY_DIGITS, MONEY_PLACES = 14, 2
MAX_MONEY = Decimal("999999999999.99")


def halalas(value: Decimal) -> Decimal:
    """``value`` rounded half-up to two decimals."""
    return Decimal(value).quantize(HALALA, rounding=ROUND_HALF_UP)


def line_amount(*, type: str, quantity: Decimal, unit_price: Decimal) -> Decimal:
    """A line's net amount; a discount line takes its amount off (negative)."""
    amount = halalas(quantity * unit_price)
    return -amount if type == ItemType.DISCOUNT else amount


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    vat_amount: Decimal
    total_amount: Decimal
    taxable: dict[str, Decimal]  # net amount per VAT category


def invoice_totals(lines: Iterable[tuple[Decimal, str]], *, vat_rate: Decimal) -> Totals:
    """Totals of ``(net amount, vat category)`` lines at ``vat_rate`` percent for standard-rated ones."""
    taxable = {category: ZERO for category in VatCategory.values}
    for amount, category in lines:
        taxable[category] += amount
    vat = halalas(taxable[VatCategory.STANDARD] * vat_rate / 100)  # zero-rated and exempt lines carry none
    subtotal = sum(taxable.values(), ZERO)
    return Totals(subtotal=subtotal, vat_amount=vat, total_amount=subtotal + vat, taxable=taxable)


def split(amount: Decimal, parts: int) -> list[Decimal]:
    """``amount`` in ``parts`` equal halala amounts, the remainder on the last: they sum to ``amount``."""
    share = (amount / parts).quantize(HALALA, rounding="ROUND_DOWN")
    return [share] * (parts - 1) + [amount - share * (parts - 1)]
