"""Pages of rows -> Arrow tables of a few thousand rows, shaped exactly as dlt's normalizer shapes them.

dlt writes an Arrow table straight to parquet; a list of dicts it first normalizes row by row in
Python, which is most of a load's time. So a batch of rows becomes one Arrow table here, in C++,
and is then given dlt's shape: nested objects become ``parent__child`` columns in dlt's names and
order, strings dlt would detect as ISO timestamps become timestamps (dlt's own detection and
coercion), and columns that are only nulls or empty lists disappear. A row holding a non-empty
list (a child table in dlt's terms), and any batch Arrow cannot type as dlt would, is handed to
dlt as plain dicts, so the warehouse looks the same either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.data_types.type_helpers import coerce_value
from dlt.common.schema.detections import is_iso_timestamp

from comms_assets.warehouse import column

BATCH_ROWS = 5_000
DEDUPLICATED = "x-stage-data-deduplicated"  # dlt's table hint for ``{"deduplicated": True}``
Row = dict[str, Any]
Batch = pa.Table | list[Row]
Path = tuple[str, ...]


def batches(pages: Iterable[list[Row]], primary_key: Iterable[str] = (), size: int = BATCH_ROWS) -> Iterator[Batch]:
    """Arrow tables of about ``size`` rows (whole pages), and lists of rows dlt must normalize itself.

    The ``primary_key`` columns are declared not null, as dlt declares them for the table.
    """
    key = [column(name) for name in primary_key]
    rows: list[Row] = []
    for page in pages:
        rows.extend(page)
        if len(rows) >= size:
            yield from _split(rows, key)
            rows = []
    if rows:
        yield from _split(rows, key)


def declare_distinct(batches: Iterable[Batch], primary_key: Sequence[str]) -> Iterator[Any]:
    """The batches of one merge load, the last telling dlt whether their primary keys were all distinct.

    dlt's merge numbers every staged row by primary key to drop duplicates, which a paging API
    returns when records shift between pages. Within DuckDB's memory bound that runs on disk: for
    1M calls 26 s, against 3 s without. A load that saw every key once says so with the hint behind
    dlt's ``deduplicated`` merge option, and dlt skips the numbering; one that saw a key twice, or
    could not tell, keeps it. The hint is set on every load as a table hint: the
    ``write_disposition`` form can turn it on but never off again. Holds only the keys.
    """
    keys: list[pa.Table] = []
    known = True
    last: Batch | None = None
    for batch in batches:
        found = _keys(batch, primary_key) if known else None
        known = found is not None
        if found is not None:
            keys.append(found)
        if last is not None:
            yield last
        last = batch
    if last is not None:
        distinct = known and _distinct(keys)
        yield dlt.mark.with_hints(last, dlt.mark.make_hints(additional_table_hints={DEDUPLICATED: distinct}))


def add_dlt_ids() -> None:
    """Give Arrow rows the ``_dlt_id`` and ``_dlt_load_id`` dlt gives the rows it normalizes.

    One table can receive both forms. dlt reads these settings when extraction starts, so call
    this before a pipeline runs.
    """
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True


def values(batch: Batch, field: str) -> list[Any]:
    """One top-level field of every row of a batch, from either form."""
    if isinstance(batch, pa.Table):
        return batch.column(column(field)).to_pylist()
    return [row[field] for row in batch]


class _DltDecides(Exception):
    """A batch whose types only dlt's normalizer gets right (variant columns, failed coercions)."""


def _split(rows: list[Row], key: list[str]) -> Iterator[Batch]:
    try:
        columns, lists = _flat_columns(pa.Table.from_pylist(rows))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        yield rows  # mixed types: dlt makes variant columns
        return
    with_items = _rows_with_list_items(lists, len(rows))
    if with_items is not None:
        yield [row for row, has in zip(rows, with_items.to_pylist(), strict=True) if has]
        keep = pc.invert(with_items)
        rows = [row for row, kept in zip(rows, keep.to_pylist(), strict=True) if kept]
        columns = {name: (path, values.filter(keep)) for name, (path, values) in columns.items()}
        if not rows:
            return
    try:
        yield _table(rows, columns, key)
    except _DltDecides:
        yield rows


def _flat_columns(nested: pa.Table) -> tuple[dict[str, tuple[Path, pa.ChunkedArray]], list[pa.ChunkedArray]]:
    """Leaf columns by dlt name (with their path in the rows), in dlt's order, and the list columns.

    dlt flattens a row with a stack of nested objects: a level's values first, then the objects
    it holds, last one first. The same walk over the schema gives the same columns in the same order.
    """
    out: dict[str, tuple[Path, pa.ChunkedArray]] = {}
    lists: list[pa.ChunkedArray] = []
    stack: list[tuple[str, Path, list[tuple[str, pa.ChunkedArray]]]] = [
        ("", (), list(zip(nested.column_names, nested.columns, strict=True)))]
    while stack:
        prefix, path, fields = stack.pop()
        for key, values in fields:
            kind = values.type
            if pa.types.is_struct(kind):
                children = [kind.field(i).name for i in range(kind.num_fields)]
                stack.append((_name(prefix, key), (*path, key), list(zip(children, values.flatten(), strict=True))))
            elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
                lists.append(values)
            elif not pa.types.is_null(kind):
                out[_name(prefix, key)] = ((*path, key), values)
    return out, lists


def _rows_with_list_items(lists: list[pa.ChunkedArray], count: int) -> pa.ChunkedArray | None:
    """A mask of the rows where some list has items, or ``None`` if no row has one."""
    mask = None
    for values in lists:
        has = pc.fill_null(pc.greater(pc.list_value_length(values), 0), False)
        mask = has if mask is None else pc.or_(mask, has)
    return mask if mask is not None and pc.any(mask).as_py() else None


def _table(rows: list[Row], columns: dict[str, tuple[Path, pa.ChunkedArray]], key: list[str]) -> pa.Table:
    arrays, fields = [], []
    for name, (path, values) in columns.items():
        typed = _as_dlt_types(values, rows, path)
        arrays.append(typed)
        nullable = not (name in key and typed.null_count == 0)
        fields.append(pa.field(name, typed.type, nullable=nullable))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _as_dlt_types(values: pa.ChunkedArray, rows: list[Row], path: Path) -> pa.ChunkedArray | pa.Array:
    """The column typed as dlt would type it.

    Strings that dlt detects as ISO timestamps become UTC timestamps, coerced by dlt's own
    function; numbers that mix ints and floats are left to dlt (it keeps the first type and adds
    a variant column for the other).
    """
    if pa.types.is_floating(values.type):
        if any(type(_dig(row, path)) is int for row in rows):
            raise _DltDecides
        return values
    if not pa.types.is_string(values.type):
        return values
    texts = values.to_pylist()
    first = next((v for v in texts if v), None)
    if first is None or not is_iso_timestamp(str, first):
        return values
    try:
        stamps = [None if v is None else coerce_value("timestamp", "text", v) for v in texts]
    except ValueError as exc:  # dlt keeps such a value in a variant column
        raise _DltDecides from exc
    return pa.array(stamps, pa.timestamp("us", "UTC"))


def _keys(batch: Batch, primary_key: Sequence[str]) -> pa.Table | None:
    """The key columns of a batch, or ``None`` if a key is missing or Arrow cannot type it."""
    names = [column(name) for name in primary_key]
    try:
        if isinstance(batch, pa.Table):
            return batch.select(names)
        paths = [tuple(name.split("__")) for name in primary_key]
        return pa.table({n: [_dig(row, path) for row in batch] for n, path in zip(names, paths, strict=True)})
    except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def _distinct(keys: list[pa.Table]) -> bool:
    """No key null and no two equal: sorted, then each row compared with the next."""
    try:
        table = pa.concat_tables(keys, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    if any(values.null_count for values in table.columns):
        return False
    ordered = table.take(pc.sort_indices(table, sort_keys=[(name, "ascending") for name in table.column_names]))
    same = None
    for values in ordered.columns:
        equal = pc.equal(values[1:], values[:-1])
        same = equal if same is None else pc.and_(same, equal)
    return same is None or not pc.any(same).as_py()


def _dig(row: Row, path: Path) -> Any:
    value: Any = row
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


@lru_cache(maxsize=4096)  # every batch repeats the same few names
def _name(prefix: str, key: str) -> str:
    return column(f"{prefix}__{key}" if prefix else key)
