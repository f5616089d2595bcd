"""The microdata export as Parquet: typed columns, the data dictionary in the file.

The rows are those of the CSV export (``statistics.exports.microdata_rows``),
written as one row group per ``ROW_GROUP`` rows and sent as each group is
written, so memory stays flat however many rows are exported. Each column's
dictionary entry (description, codes, labels in every language) is in that
field's metadata, and the whole dictionary in the schema's, so a researcher
who opens the file with pandas, R's arrow or DuckDB has the labels with it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP = 50_000
TYPES = {
    "string": pa.string(),
    "date": pa.date32(),
    "integer": pa.int32(),
    "integer (0/1)": pa.int8(),
}


class _Drain(io.RawIOBase):
    """A write-only file whose bytes are taken out as they are written."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        chunk, self._chunks = b"".join(self._chunks), []
        return chunk


def schema(dictionary: dict[str, Any]) -> pa.Schema:
    """The Arrow schema of the export's columns, each with its dictionary entry."""
    fields = []
    for spec in dictionary["columns"]:
        kind = TYPES.get(str(spec.get("type")), pa.string())
        metadata = {"dictionary": json.dumps(spec, ensure_ascii=False)}
        if spec.get("description"):
            metadata["description"] = str(spec["description"])
        fields.append(pa.field(spec["name"], kind, nullable=True, metadata=metadata))
    whole = {k: v for k, v in dictionary.items() if k != "columns"}
    return pa.schema(
        fields,
        metadata={
            "dataset": json.dumps(whole, ensure_ascii=False),
            "dictionary": json.dumps(dictionary, ensure_ascii=False),
        },
    )


def _column(values: list[Any], kind: pa.DataType) -> pa.Array:
    if kind == pa.date32():
        values = [dt.date.fromisoformat(v) if isinstance(v, str) else v for v in values]
    return pa.array(values, type=kind)


async def parquet_chunks(
    rows: AsyncIterator[list[Any]],
    dictionary: dict[str, Any],
    counted: Callable[[int], Awaitable[None]] | None = None,
) -> AsyncIterator[bytes]:
    """The Parquet file in pieces, one row group at a time; ``counted`` gets the number
    of rows before the footer is handed over."""
    layout = schema(dictionary)
    sink = _Drain()
    writer = pq.ParquetWriter(sink, layout, compression="zstd")
    batch: list[list[Any]] = []
    count = 0

    def flush() -> bytes:
        columns = list(zip(*batch, strict=True)) if batch else [[] for _ in layout]
        arrays = [
            _column(list(values), field.type) for values, field in zip(columns, layout, strict=True)
        ]
        table = pa.Table.from_arrays(arrays, schema=layout)
        writer.write_table(table, row_group_size=ROW_GROUP)
        batch.clear()
        return sink.take()

    async for row in rows:
        batch.append(row)
        count += 1
        if len(batch) >= ROW_GROUP:
            yield flush()
    if batch or count == 0:
        head = flush()
        if head:
            yield head
    writer.close()
    if counted is not None:
        await counted(count)
    yield sink.take()
