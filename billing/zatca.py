"""ZATCA e-invoicing, phase 1 and the chain phase 2 builds on (ADR 0043, ADR 0045).

The phase-1 QR is a TLV record per field (tag byte, length byte = the value's UTF-8 byte count,
value) for tags 1-5, concatenated and base64-encoded. Each issued invoice also carries a counter
value (ICV, 1, 2, 3 … per firm, gapless) and a hash over what it says plus the previous invoice's
hash, so removing, inserting or altering an issued invoice breaks the chain at that invoice.
"""

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

# ZATCA's previous-invoice hash for a firm's first invoice: base64 of the hex SHA-256 of "0".
FIRST_PREVIOUS_HASH = base64.b64encode(hashlib.sha256(b"0").hexdigest().encode()).decode()
QR_TAGS = ("seller_name", "vat_number", "timestamp", "total", "vat_total")


def tlv(values: Iterable[tuple[int, str]]) -> bytes:
    out = bytearray()
    for tag, value in values:
        encoded = value.encode("utf-8")
        if len(encoded) > 255:  # one length byte
            raise ValueError(f"TLV value of tag {tag} is {len(encoded)} bytes; at most 255.")
        out += bytes([tag, len(encoded)]) + encoded
    return bytes(out)


def qr_base64(*, seller_name: str, vat_number: str, timestamp: str, total: str, vat_total: str) -> str:
    """The phase-1 QR payload: tags 1-5 in order, base64 (standard alphabet, padded)."""
    fields = (seller_name, vat_number, timestamp, total, vat_total)
    return base64.b64encode(tlv(enumerate(fields, start=1))).decode("ascii")


def qr_decode(payload: str) -> dict[int, str]:
    """The TLV fields of a base64 QR payload, by tag (for tests and the printable page's check)."""
    raw, fields, i = base64.b64decode(payload), {}, 0
    while i < len(raw):
        tag, length = raw[i], raw[i + 1]
        fields[tag] = raw[i + 2 : i + 2 + length].decode("utf-8")
        i += 2 + length
    return fields


def zatca_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC to the second, as ZATCA's samples write it: 2021-07-12T14:25:09Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def invoice_qr(invoice) -> str | None:
    """The QR of an issued invoice; None before approval (no timestamp or seller yet)."""
    if invoice.issued_at is None:
        return None
    return qr_base64(
        seller_name=invoice.seller_name,
        vat_number=invoice.seller_vat_number,
        timestamp=zatca_timestamp(invoice.issued_at),
        total=f"{invoice.total_amount:.2f}",
        vat_total=f"{invoice.vat_amount:.2f}",
    )


def canonical_document(invoice, items) -> bytes:
    """What the hash covers: everything the issued invoice says, in a fixed order (the phase-2 XML's stand-in).

    Not its status, payments or due date (a plan moves it): those change after issue by design.
    """
    document = {
        "uuid": str(invoice.uuid),
        "icv": invoice.icv,
        "invoice_number": invoice.invoice_number,
        "issued_at": zatca_timestamp(invoice.issued_at),
        "issue_date": invoice.issue_date.isoformat(),
        "seller_name": invoice.seller_name,
        "seller_vat_number": invoice.seller_vat_number,
        "client_id": invoice.client_id,
        "case_id": invoice.case_id,
        "currency": invoice.currency,
        "vat_rate": f"{invoice.vat_rate:.2f}",
        "subtotal": f"{invoice.subtotal:.2f}",
        "vat_amount": f"{invoice.vat_amount:.2f}",
        "total_amount": f"{invoice.total_amount:.2f}",
        "items": [
            [
                item.position,
                item.type,
                item.date.isoformat() if item.date else None,
                item.description,
                f"{item.quantity:.2f}",
                f"{item.unit_price:.2f}",
                item.vat_category,
                item.task_code,
                item.activity_code,
                f"{item.amount:.2f}",
            ]
            for item in items
        ],
        "previous_hash": invoice.previous_hash,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def invoice_hash(invoice, items) -> str:
    """base64 of the SHA-256 of the canonical document, as ZATCA encodes invoice hashes."""
    return base64.b64encode(hashlib.sha256(canonical_document(invoice, items)).digest()).decode("ascii")


@dataclass(frozen=True)
class ChainBreak:
    invoice_id: int
    invoice_number: str
    icv: int | None
    reason: str


def chain_verify(invoices: Iterable) -> tuple[int, ChainBreak | None]:
    """Walk issued invoices in ICV order (items prefetched); (how many checked, the first break or None)."""
    expected_previous, expected_icv, checked = FIRST_PREVIOUS_HASH, 1, 0
    for invoice in invoices:
        items = list(invoice.items.all())
        if invoice.icv != expected_icv:
            return checked, ChainBreak(
                invoice.pk, invoice.invoice_number, invoice.icv, f"ICV {expected_icv} is missing"
            )
        if invoice.previous_hash != expected_previous:
            return checked, ChainBreak(
                invoice.pk, invoice.invoice_number, invoice.icv, "its previous hash is not the hash before it"
            )
        if invoice_hash(invoice, items) != invoice.invoice_hash:
            return checked, ChainBreak(
                invoice.pk, invoice.invoice_number, invoice.icv, "its hash does not match its contents"
            )
        checked += 1
        expected_previous, expected_icv = invoice.invoice_hash, expected_icv + 1
    return checked, None
