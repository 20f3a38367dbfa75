"""The ZATCA QR drawn as an inline SVG for the printable invoice (segno: pure Python, no image library)."""

import segno


def qr_svg(payload: str, *, scale: int = 4) -> str:
    # Error correction M: a printed code still reads with a crease or a smudge across it.
    return segno.make(payload, error="m", micro=False).svg_inline(scale=scale, border=2)
