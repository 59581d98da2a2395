"""Lists people download as CSV, opened in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from flask import Response


def csv_cell(value) -> str:
    """A cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_download(filename: str, header: Iterable[str], rows: Iterable[Iterable]) -> Response:
    """A CSV attachment: the header as given, every cell of the rows made formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
