"""The per-firm ZATCA chain: ICVs 1, 2, 3 … each hash over the invoice and the previous hash."""

import pytest
from django.core.management import CommandError, call_command

from billing import selectors, services, zatca
from billing.models import Invoice, ZatcaChainHead
from billing.tests.factories import issued, time_item

pytestmark = pytest.mark.usefixtures("in_firm_a")


@pytest.fixture
def chain(admin_a, firm_a):
    invoices = [issued(actor=admin_a, items=[time_item(hours=str(n))]) for n in (1, 2, 3)]
    return [Invoice.objects.get(pk=invoice.pk) for invoice in invoices]


def test_each_invoice_links_to_the_one_before(chain):
    icv0 = chain[0].icv
    assert [i.icv for i in chain] == [icv0, icv0 + 1, icv0 + 2]
    assert chain[1].previous_hash == chain[0].invoice_hash and chain[2].previous_hash == chain[1].invoice_hash
    head = ZatcaChainHead.objects.get()
    assert (head.icv, head.last_hash) == (chain[2].icv, chain[2].invoice_hash)
    assert selectors.chain_verify() == (icv0 + 2, None)


def test_the_first_invoice_links_to_zatcas_seed(chain):
    first = Invoice.objects.get(icv=1)
    assert first.previous_hash == zatca.FIRST_PREVIOUS_HASH


def test_tampering_with_one_hash_is_named(chain, firm_a, capsys):
    # when someone edits the stored hash of the second invoice
    Invoice.objects.filter(pk=chain[1].pk).update(invoice_hash="AAAA" + chain[1].invoice_hash[4:])
    # then verify names it
    checked, broken = selectors.chain_verify()
    assert (broken.invoice_number, broken.icv) == (chain[1].invoice_number, chain[1].icv)
    assert "hash" in broken.reason
    with pytest.raises(CommandError):
        call_command("zatca_verify", firm=firm_a.slug)
    assert chain[1].invoice_number in capsys.readouterr().out


def test_tampering_with_an_amount_is_named(chain):
    Invoice.objects.filter(pk=chain[2].pk).update(
        vat_amount=0, total_amount=chain[2].subtotal, balance_due=chain[2].subtotal
    )
    assert selectors.chain_verify()[1].invoice_number == chain[2].invoice_number


def test_a_qr_is_drawn_from_the_issued_invoice(chain, firm_a):
    fields = zatca.qr_decode(zatca.invoice_qr(chain[0]))
    assert fields == {
        1: firm_a.name,
        2: firm_a.vat_number,
        3: zatca.zatca_timestamp(chain[0].issued_at),
        4: f"{chain[0].total_amount:.2f}",
        5: f"{chain[0].vat_amount:.2f}",
    }


def test_a_draft_has_no_qr_or_hash(admin_a):
    invoice = services.invoice_create(client=issued(actor=admin_a).client, items=[time_item()], actor=admin_a)
    assert (zatca.invoice_qr(invoice), invoice.invoice_hash, invoice.icv) == (None, "", None)
