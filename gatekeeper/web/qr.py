"""QR codes drawn as inline SVG (segno, pure Python): an authenticator's key, a parent's link."""

from __future__ import annotations

import segno


def qr_svg(text: str, scale: int = 4) -> str:
    """An SVG QR code of `text`: only the code's path, no text node, nothing fetched."""
    return segno.make(text, error="m").svg_inline(scale=scale, dark="#000", light="#fff")
