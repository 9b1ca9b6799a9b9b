"""LanceDB: ``lancedb:///PATH?table=NAME``.

Parameters: ``table`` (needed when there are several), ``column`` (the vector column; default: the one
fixed-size list of floats), ``text`` (the document column; default: the first of document, text,
page_content, content, chunk, body, passage), ``id`` (default: ``id`` when there is one, else the row
number). Lance files are immutable and versioned; the table is only scanned, so it is read in place.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from .base import BaseReader, Batch, StoreError, as_text, check_params, choose, missing_client, pick_document, uri_path
from .registry import register


class LanceDBReader(BaseReader):
    kind = "lancedb"

    def __init__(self, uri: str, path: Path | str, query: dict):
        super().__init__(uri)
        check_params(uri, query, ("table", "column", "text", "id"))
        try:
            import lancedb
            import pyarrow as pa
        except ImportError:
            raise missing_client("lancedb", "lancedb") from None
        self._pa = pa
        path = Path(path)
        if not path.is_dir():
            raise StoreError(f"no LanceDB database at '{path}' (a folder), from {uri}")
        try:
            db = lancedb.connect(str(path))
            listed = db.list_tables() if hasattr(db, "list_tables") else db.table_names()
            names = sorted(getattr(listed, "tables", listed))
            name = choose(uri, names, query.get("table"), "table")
            self.table = db.open_table(name)
            schema = self.table.schema
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"LanceDB cannot read {path}: {' '.join(str(exc).split())[:300]}") from None
        self.name = name
        fields = {f.name: f.type for f in schema}
        vector_cols = [n for n, t in fields.items() if _is_float_list(pa, t)]
        column = self.column = choose(uri, vector_cols, query.get("column"), "vector column", "column", joiner="&",
                                      not_found="'{wanted}' is not a column of float vectors (vector columns: {found})")
        self.text = pick_document([n for n, t in fields.items() if pa.types.is_string(t) or pa.types.is_large_string(t)]
                                  if query.get("text") is None else list(fields), query.get("text"), uri)
        want_id = query.get("id")
        if want_id is not None and want_id not in fields:
            raise StoreError(f"{uri}: no id column '{want_id}' (columns: {', '.join(fields)})")
        self.id = want_id if want_id is not None else ("id" if "id" in fields else None)
        if self.id is None:
            self.notes.append("the table has no id column: records are identified by their row number")
        value_type = fields[column].value_type
        if pa.types.is_float16(value_type):
            self.notes.append(f"column {column} holds float16 vectors (a negligible loss for inversion)")

    def count(self) -> int:
        return int(self.table.count_rows())

    def batches(self, batch_size: int = 256) -> Iterator[Batch]:
        row = 0
        reader = self.table.search().select(self._columns()).to_batches(batch_size)
        for rb in reader:
            if rb.num_rows == 0:
                continue
            yield self._batch(rb, list(range(row, row + rb.num_rows)))
            row += rb.num_rows

    def _columns(self) -> list[str]:
        return [self.column] + [c for c in (self.text, self.id) if c and c != self.column]

    positional = True

    def read_positions(self, positions, batch_size: int = 256) -> Iterator[Batch]:
        """Only the rows at these positions (a sampled audit), with ``take_offsets``."""
        positions = [int(p) for p in positions]
        for start in range(0, len(positions), batch_size):
            part = positions[start:start + batch_size]
            tbl = self.table.take_offsets(part).select(self._columns()).to_arrow()
            if tbl.num_rows != len(part):
                raise StoreError(f"{self.uri}: asked for {len(part)} rows by position, got {tbl.num_rows}")
            yield self._batch(tbl, part)

    def _batch(self, rb, rows: list[int]) -> Batch:
        """A Batch of an Arrow record batch or table whose rows are at positions ``rows``."""
        vec = rb.column(self.column)
        if hasattr(vec, "combine_chunks"):  # a table's column
            vec = vec.combine_chunks()
        dim = vec.type.list_size if hasattr(vec.type, "list_size") and vec.type.list_size > 0 else None
        if dim is not None and vec.null_count == 0:
            values = vec.values if vec.offset == 0 else vec.flatten()
            vectors = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, dim)
        else:
            listed = vec.to_pylist()
            if any(r is None for r in listed):
                raise StoreError(f"{self.uri}: some rows have no vector in column {self.column}")
            vectors = np.asarray(listed, dtype=np.float32)
        ids = [str(x) for x in rb.column(self.id).to_pylist()] if self.id else [str(i) for i in rows]
        docs = [as_text(x) for x in rb.column(self.text).to_pylist()] if self.text else None
        return Batch(ids=ids, vectors=vectors, documents=docs)


def _is_float_list(pa, t) -> bool:
    if pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.types.is_floating(t.value_type)
    return False


@register("lancedb", "lancedb:///PATH?table=NAME", "LanceDB, in place (its files are immutable)", extra="lancedb",
          path_based=True)
def open_lancedb(uri: str, parsed, query: dict) -> LanceDBReader:
    return LanceDBReader(uri, uri_path(parsed, uri), query)
