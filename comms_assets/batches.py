"""Rows -> Arrow tables of a few thousand rows, shaped exactly as dlt's own normalizer would.

dlt writes an Arrow table straight to parquet; a list of dicts it first normalizes row by row in
Python, which is most of a load's time. So rows are flattened and typed here, in bulk, the way
dlt does it: nested objects become ``parent__child`` columns, ISO timestamps become timestamps
(dlt's ``iso_timestamp`` detection and coercion), nulls and empty lists add no column. A row that
holds a non-empty list (a child table in dlt's terms), and any batch Arrow cannot type
consistently, is handed to dlt as plain dicts, so the warehouse looks the same either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.data_types.type_helpers import coerce_value
from dlt.common.schema.detections import is_iso_timestamp

from comms_assets.warehouse import column

BATCH_ROWS = 5_000
Batch = pa.Table | list[dict[str, Any]]


def batches(rows: Iterable[dict[str, Any]], primary_key: Iterable[str] = (), size: int = BATCH_ROWS
            ) -> Iterator[Batch]:
    """Arrow tables of up to ``size`` flat rows, and lists of the rows dlt must normalize itself.

    The ``primary_key`` columns are declared not null, as dlt declares them for the table.
    """
    key = [column(name) for name in primary_key]
    flat: list[dict[str, Any]] = []
    nested: list[dict[str, Any]] = []
    for row in rows:
        flattened = _flatten(row)
        if flattened is None:
            nested.append(row)
        else:
            flat.append(flattened)
        if len(flat) >= size:
            yield _table(flat, key)
            flat = []
        if len(nested) >= size:
            yield nested
            nested = []
    if flat:
        yield _table(flat, key)
    if nested:
        yield nested


def add_dlt_ids() -> None:
    """Give Arrow rows the ``_dlt_id`` and ``_dlt_load_id`` dlt gives the rows it normalizes.

    One table can receive both forms. dlt reads these settings when extraction starts, so call
    this before a pipeline runs.
    """
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True


def values(batch: Batch, field: str) -> list[Any]:
    """One field of every row of a batch, from either form."""
    if isinstance(batch, pa.Table):
        return batch.column(column(field)).to_pylist()
    return [row[field] for row in batch]


def _flatten(row: dict[str, Any]) -> dict[str, Any] | None:
    """``{"a": {"b": 1}, "c": 2}`` -> ``{"c": 2, "a__b": 1}``, or ``None`` if a list has items.

    Names and column order as dlt's normalizer makes them (its stack of nested objects, walked
    the same way). The hot loop of a load: exact type checks, since JSON gives plain dicts and
    lists, and cached names.
    """
    out: dict[str, Any] = {}
    stack = [(row, "")]
    while stack:
        tree, prefix = stack.pop()
        for key, value in tree.items():
            kind = type(value)
            if kind is dict:
                stack.append((value, _name(prefix, key)))
            elif kind is list:
                if value:
                    return None
            elif value is not None:
                out[_name(prefix, key)] = value
    return out


@lru_cache(maxsize=4096)  # every row repeats the same few names
def _name(prefix: str, key: str) -> str:
    return column(f"{prefix}__{key}" if prefix else key)


class _DltDecides(Exception):
    """A batch whose types only dlt's normalizer gets right (variant columns, failed coercions)."""


def _table(rows: list[dict[str, Any]], key: list[str]) -> Batch:
    try:
        table = pa.Table.from_pylist(rows)
        for index, field in enumerate(table.schema):
            typed = _as_dlt_types(table.column(index), rows, field.name)
            if typed is not None:
                table = table.set_column(index, field.name, typed)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, _DltDecides):
        return rows
    schema = table.schema
    for name in key:
        index = schema.get_field_index(name)
        if index >= 0 and table.column(index).null_count == 0:
            schema = schema.set(index, schema.field(index).with_nullable(False))
    return table.cast(schema)


def _as_dlt_types(values: pa.ChunkedArray, rows: list[dict[str, Any]], name: str) -> pa.Array | None:
    """The column retyped as dlt would type it, or ``None`` if Arrow's type is already dlt's.

    Strings that dlt detects as ISO timestamps become UTC timestamps, coerced by dlt's own
    function; numbers that mix ints and floats are left to dlt (it keeps the first type and adds
    a variant column for the other).
    """
    if pa.types.is_floating(values.type):
        if any(type(row.get(name)) is int for row in rows):
            raise _DltDecides
        return None
    if not pa.types.is_string(values.type):
        return None
    texts = values.to_pylist()
    first = next((v for v in texts if v), None)
    if first is None or not is_iso_timestamp(str, first):
        return None
    try:
        stamps = [None if v is None else coerce_value("timestamp", "text", v) for v in texts]
    except ValueError as exc:  # dlt keeps such a value in a variant column
        raise _DltDecides from exc
    return pa.array(stamps, pa.timestamp("us", "UTC"))
