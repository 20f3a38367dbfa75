"""Rounding and totals (ADR 0040): half-up to halalas, VAT per category on the category's total."""

from decimal import Decimal

import pytest

from billing.money import halalas, invoice_totals, line_amount, split

D = Decimal


@pytest.mark.parametrize(
    ("value", "rounded"),
    [("0.005", "0.01"), ("0.015", "0.02"), ("2.675", "2.68"), ("0.0049", "0.00"), ("1.004999", "1.00")],
)
def test_half_up_to_halalas(value, rounded):
    # 2.675 is 2.67499… as a float: only Decimal rounds it up, as ZATCA expects.
    assert halalas(D(value)) == D(rounded)


def test_a_line_is_rounded_before_it_is_summed():
    assert line_amount(type="time", quantity=D("0.33"), unit_price=D("0.05")) == D("0.02")  # 0.0165


def test_vat_is_computed_on_the_category_total_not_summed_from_rounded_lines():
    # given 100 lines of 0.03: each line's VAT would be 0.0045 → 0.00, summing to 0.00
    lines = [(D("0.03"), "standard")] * 100
    # when
    totals = invoice_totals(lines, vat_rate=D("15"))
    # then VAT is 15 % of 3.00, as BR-S-09 wants
    assert (totals.subtotal, totals.vat_amount, totals.total_amount) == (D("3.00"), D("0.45"), D("3.45"))


def test_vat_of_a_half_halala_rounds_up():
    totals = invoice_totals([(D("0.10"), "standard")], vat_rate=D("5"))  # 0.005
    assert totals.vat_amount == D("0.01")


def test_discounts_reduce_the_taxable_amount():
    lines = [
        (line_amount(type="time", quantity=D("3"), unit_price=D("333.33")), "standard"),  # 999.99
        (line_amount(type="discount", quantity=D("1"), unit_price=D("99.99")), "standard"),
    ]
    totals = invoice_totals(lines, vat_rate=D("15"))
    assert (totals.subtotal, totals.vat_amount, totals.total_amount) == (D("900.00"), D("135.00"), D("1035.00"))


def test_zero_rated_and_exempt_lines_carry_no_vat_but_count_in_the_subtotal():
    lines = [(D("1000.00"), "standard"), (D("200.00"), "zero_rated"), (D("50.55"), "exempt")]
    totals = invoice_totals(lines, vat_rate=D("15"))
    assert totals.subtotal == D("1250.55")
    assert totals.vat_amount == D("150.00")
    assert totals.total_amount == totals.subtotal + totals.vat_amount
    assert totals.taxable == {"standard": D("1000.00"), "zero_rated": D("200.00"), "exempt": D("50.55")}


@pytest.mark.parametrize("parts", [2, 3, 4, 6, 12])
@pytest.mark.parametrize("amount", ["1000.00", "1150.01", "0.12", "999999.99", "100.00"])
def test_installments_sum_exactly_with_the_remainder_on_the_last(amount, parts):
    shares = split(D(amount), parts)
    assert len(shares) == parts
    assert sum(shares) == D(amount)
    assert len(set(shares[:-1])) <= 1
    assert shares[-1] >= shares[0]
    assert shares[-1] - shares[0] < D("0.01") * parts
