"""The statement as CSV: streamed row by row, amounts in major units (``-1000.00``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils import timezone

from escrow.statements import Statement, StatementLine
from marketplace.money import CURRENCIES

CSV_HEADER = (
    "date",
    "description",
    "type",
    "account",
    "currency",
    "amount",
    "balance_after",
    "reference",
)


def _major(amount: int, currency: str) -> str:
    return str(Decimal(amount).scaleb(-CURRENCIES[currency].exponent))


def _cell(text: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas; milestone titles
    are typed by users, so such text is quoted."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_rows(lines: Iterable[StatementLine]) -> Iterator[str]:
    """The statement as CSV text, one line at a time (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_HEADER)
    yield flush()
    for line in lines:
        writer.writerow(
            (
                line.created_at.isoformat(),
                _cell(line.description),
                line.type,
                line.account_kind,
                line.currency.upper(),
                _major(line.amount, line.currency),
                _major(line.balance_after, line.currency),
                _cell(line.reference),
            )
        )
        yield flush()


def csv_response(statement: Statement) -> StreamingHttpResponse:
    """A download of every line of ``statement``, fetched a chunk at a time."""
    response = StreamingHttpResponse(csv_rows(statement), content_type="text/csv")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="smartpay-statement-{stamp}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
