"""The phase-1 QR against published vectors, and the per-firm hash chain."""

import base64
import json

import pytest

from billing.zatca import FIRST_PREVIOUS_HASH, qr_base64, qr_decode
from conftest import PROVIDER_FIXTURES

# SallaApp/ZATCA tests/Unit/GenerateQrCodeTest.php (commit 038fdca0), ASCII and Arabic seller names.
VECTORS = json.loads((PROVIDER_FIXTURES.parent / "billing" / "zatca_qr_vectors.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("vector", VECTORS["phase1_vectors"], ids=lambda v: v["name"])
def test_qr_matches_the_published_vector(vector):
    given = vector["input"]
    qr = qr_base64(
        seller_name=given["1_seller_name"],
        vat_number=given["2_vat_registration_number"],
        timestamp=given["3_timestamp"],
        total=given["4_invoice_total_with_vat"],
        vat_total=given["5_vat_total"],
    )
    assert qr == vector["expected_base64"]
    assert base64.b64decode(qr).hex() == vector["expected_hex"]
    raw, lengths, i = base64.b64decode(qr), [], 0
    while i < len(raw):
        lengths.append(raw[i + 1])
        i += 2 + raw[i + 1]
    assert lengths == vector["tlv_lengths_bytes"]  # UTF-8 bytes, not characters


def test_qr_matches_a_second_implementations_readme():
    # iabdelgawaad/ZATCA README.md (commit 007307d7): a Kotlin implementation's documented output, with
    # whole-number amounts and a free-form date: values are encoded exactly as given.
    qr = qr_base64(
        seller_name="Shawrma House",
        vat_number="1234567890",
        timestamp="22/11/2021 03:00 am",
        total="100",
        vat_total="15",
    )
    assert qr == "AQ1TaGF3cm1hIEhvdXNlAgoxMjM0NTY3ODkwAxMyMi8xMS8yMDIxIDAzOjAwIGFtBAMxMDAFAjE1"
    assert qr_decode(qr)[1] == "Shawrma House"


def test_the_first_previous_hash_is_zatcas_constant():
    assert FIRST_PREVIOUS_HASH == (
        "NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ=="
    )
