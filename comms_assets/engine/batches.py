"""Pages of rows -> Arrow tables of a few thousand rows, shaped exactly as dlt's normalizer shapes them.

dlt writes an Arrow table straight to parquet; a list of dicts it first normalizes row by row in
Python, which is most of a load's time. So a batch of rows becomes one Arrow table here, in C++,
and is then given dlt's shape: nested objects become ``parent__child`` columns in dlt's names and
order, and columns that are only nulls or empty lists disappear.

A column's type is decided once per load, as dlt decides it (``ColumnTypes``): the stored
schema's type where the table already has the column, else the type of the first value that is
not null, with dlt's own detection of ISO timestamps. Later batches follow that decision; a batch
that contradicts it (text in a timestamp column, a float in an integer one), a row holding a
non-empty list (a child table in dlt's terms) and any batch Arrow cannot type are handed to dlt
as plain dicts, so the warehouse looks the same either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.data_types.type_helpers import coerce_value, py_type_to_sc_type
from dlt.common.schema.utils import autodetect_sc_type, standard_type_detections

from comms_assets.engine.warehouse import column

BATCH_ROWS = 5_000
DEDUPLICATED = "x-stage-data-deduplicated"  # dlt's table hint for ``{"deduplicated": True}``
Row = dict[str, Any]
Batch = pa.Table | list[Row]
Path = tuple[str, ...]


class ColumnTypes:
    """The dlt data type of each column of one table, decided once for a whole load.

    Seeded from the schema of the source being extracted (dlt restores it from the warehouse
    before a load), so a column keeps the type it was created with; a new column takes the type
    of its first value that is not null, which is how dlt's normalizer types it.
    """

    def __init__(self, table: str | None = None) -> None:
        self.table = table
        self.types: dict[str, str] | None = None  # read from the schema when the first batch comes
        self.detections: list[str] = []
        # Set once a batch contradicts Arrow or the decided types: dlt types the rest of the load,
        # so its columns are added in the order plain dlt adds them.
        self.dicts_only = False

    def _read_schema(self) -> dict[str, str]:
        schema = _extracting_schema()
        self.detections = schema.settings.get("detections", []) if schema else standard_type_detections()
        stored = schema.tables.get(self.table, {}).get("columns", {}) if schema and self.table else {}
        return {name: c["data_type"] for name, c in stored.items() if c.get("data_type")}

    def decide(self, columns: dict[str, tuple[Path, pa.ChunkedArray]], rows: list[Row]) -> list[str]:
        """Type the columns seen for the first time by their first value that is not null; return
        them in the order dlt adds them to the table (the order of those first values)."""
        if self.types is None:
            self.types = self._read_schema()
        new = _first_values(rows, {name for name in columns if name not in self.types})
        for name, first in new.items():
            self.types[name] = autodetect_sc_type(self.detections, type(first), first) or py_type_to_sc_type(
                type(first))
        return list(new)


def _extracting_schema() -> dlt.Schema | None:
    """The schema of the source dlt is extracting now, or ``None`` outside an extraction."""
    try:
        return dlt.current.source_schema()
    except Exception:  # noqa: BLE001 -- dlt raises a context error of its own outside extraction
        return None


def batches(pages: Iterable[list[Row]], primary_key: Iterable[str] = (), size: int = BATCH_ROWS,
            types: ColumnTypes | None = None) -> Iterator[Batch]:
    """Arrow tables of about ``size`` rows (whole pages), and lists of rows dlt must normalize itself.

    The ``primary_key`` columns are declared not null, as dlt declares them for the table;
    ``types`` holds the load's column types (one per table and load: pass the same one to every
    call that feeds the table).
    """
    key = [column(name) for name in primary_key]
    types = types or ColumnTypes()
    rows: list[Row] = []
    for page in pages:
        rows.extend(page)
        if len(rows) >= size:
            yield from _split(rows, key, types)
            rows = []
    if rows:
        yield from _split(rows, key, types)


class KeyLedger:
    """The primary keys one endpoint returned during one load, kept as Arrow columns (8 bytes a
    row for an integer key), to tell whether the API returned any key twice."""

    def __init__(self, primary_key: Sequence[str]) -> None:
        self.primary_key = tuple(primary_key)
        self.keys: list[pa.Table] = []
        self.known = bool(primary_key)

    def add(self, batch: Batch) -> None:
        found = _keys(batch, self.primary_key) if self.known else None
        self.known = found is not None
        if found is not None:
            self.keys.append(found)

    def repeated(self) -> int | None:
        """How many keys came more than once (records shifting between pages, a paginator that
        does not progress), or ``None`` if some key could not be read."""
        if not self.known:
            return None
        if not self.keys:
            return 0
        try:
            table = pa.concat_tables(self.keys, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
        names = table.column_names
        counts = table.group_by(names).aggregate([([], "count_all")])
        return pc.sum(pc.greater(counts.column("count_all"), 1)).as_py() or 0

    def distinct(self) -> bool:
        """Every key once and none null: what dlt's deduplication may then skip."""
        return self.repeated() == 0 and not any(c.null_count for t in self.keys for c in t.columns)


def declare_distinct(batches: Iterable[Batch], ledger: KeyLedger, declare: bool = True) -> Iterator[Any]:
    """The batches of one load, each noted in ``ledger``; with ``declare``, the last tells dlt
    whether their primary keys were all distinct.

    dlt's merge numbers every staged row by primary key to drop duplicates, which a paging API
    returns when records shift between pages. Within DuckDB's memory bound that runs on disk: for
    1M calls 26 s, against 3 s without. A load that saw every key once says so with the hint behind
    dlt's ``deduplicated`` merge option, and dlt skips the numbering; one that saw a key twice, or
    could not tell, keeps it. The hint is set on every load as a table hint: the
    ``write_disposition`` form can turn it on but never off again.
    """
    last: Batch | None = None
    for batch in batches:
        ledger.add(batch)
        if last is not None:
            yield last
        last = batch
    if last is not None:
        if declare:
            hints = dlt.mark.make_hints(additional_table_hints={DEDUPLICATED: ledger.distinct()})
            last = dlt.mark.with_hints(last, hints)
        yield last


def add_dlt_ids() -> None:
    """Give Arrow rows the ``_dlt_id`` and ``_dlt_load_id`` dlt gives the rows it normalizes.

    One table can receive both forms. dlt reads these settings when extraction starts, so call
    this before a pipeline runs.
    """
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True


class _DltDecides(Exception):
    """A batch whose types only dlt's normalizer gets right (variant columns, failed coercions)."""


def _split(rows: list[Row], key: list[str], types: ColumnTypes) -> Iterator[Batch]:
    if types.dicts_only:
        yield rows
        return
    try:
        # ``pa.array`` types a struct by the fields of every row; ``Table.from_pylist`` only by the first
        columns, lists = _flat_columns(pa.Table.from_struct_array(pa.array(rows)))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        types.dicts_only = True  # one field holds several JSON types
        yield rows
        return
    new = types.decide(columns, rows)
    columns = {**{n: c for n, c in columns.items() if n not in new}, **{n: columns[n] for n in new}}
    with_items = _rows_with_list_items(lists, len(rows))
    if with_items is not None:
        yield [row for row, has in zip(rows, with_items.to_pylist(), strict=True) if has]
        keep = pc.invert(with_items)
        rows = [row for row, kept in zip(rows, keep.to_pylist(), strict=True) if kept]
        columns = {name: (path, values.filter(keep)) for name, (path, values) in columns.items()}
        if not rows:
            return
    try:
        yield _table(columns, key, types.types, rows)
    except _DltDecides:
        types.dicts_only = True
        yield rows


def _first_values(rows: list[Row], wanted: set[str]) -> dict[str, Any]:
    """The first value that is not null of each ``wanted`` column, in the order dlt meets them.

    dlt flattens each row with a stack (a level's values, then its objects, last one first) and
    adds a column when it first meets a value that is not null. Usually the first row has them all.
    """
    found: dict[str, Any] = {}
    for row in rows:
        if len(found) == len(wanted):
            break
        stack: list[tuple[str, Row]] = [("", row)]
        while stack:
            prefix, level = stack.pop()
            for key, value in level.items():
                if type(value) is dict:
                    stack.append((_name(prefix, key), value))
                elif value is not None and type(value) is not list:
                    name = _name(prefix, key)
                    if name in wanted and name not in found:
                        found[name] = value
    return found


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


def _table(columns: dict[str, tuple[Path, pa.ChunkedArray]], key: list[str], types: dict[str, str],
           rows: list[Row]) -> pa.Table:
    arrays, fields = [], []
    for name, (path, values) in columns.items():
        if pa.types.is_floating(values.type) and any(type(_dig(row, path)) is bool for row in rows):
            raise _DltDecides  # Arrow reads True as 1.0 after a float; dlt keeps it apart, as a bool
        typed = _as_dlt_type(values, types[name])
        arrays.append(typed)
        nullable = not (name in key and typed.null_count == 0)
        fields.append(pa.field(name, typed.type, nullable=nullable))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


ARROW_KINDS = {"bigint": pa.types.is_integer, "double": pa.types.is_floating, "bool": pa.types.is_boolean,
               "text": pa.types.is_string}


def _as_dlt_type(values: pa.ChunkedArray, wanted: str) -> pa.ChunkedArray | pa.Array:
    """The column in the dlt type decided for it, or ``_DltDecides`` if Arrow holds something else.

    Text becomes a UTC timestamp by dlt's own coercion; an integer column Arrow read as floats
    (a float among the ints) and any other mismatch are left to dlt, which adds a variant column.
    """
    if wanted == "timestamp" and pa.types.is_string(values.type):
        try:
            return pa.array([None if v is None else coerce_value("timestamp", "text", v) for v in values.to_pylist()],
                            pa.timestamp("us", "UTC"))
        except ValueError as exc:  # dlt keeps such a value in a variant column
            raise _DltDecides from exc
    if wanted in ARROW_KINDS and ARROW_KINDS[wanted](values.type):
        return values
    raise _DltDecides


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


def _dig(row: Row, path: Path) -> Any:
    value: Any = row
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


@lru_cache(maxsize=4096)  # every batch repeats the same few names
def _name(prefix: str, key: str) -> str:
    return column(f"{prefix}__{key}" if prefix else key)
