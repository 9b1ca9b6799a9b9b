"""PostgreSQL with pgvector: ``postgresql://USER[:PASSWORD]@HOST:PORT/DB?table=T&column=C&text=TEXTCOL&id=IDCOL``.

``table`` may be schema-qualified; when left out, the one table with a vector column is used.
``column`` (the vector or halfvec column), ``text`` (the document column: default the first of
document, text, page_content, content, chunk, body, passage) and ``id`` (default: the single-column
primary key, else ``id``, else the row's ctid) are found when left out. Every other query parameter
goes to libpq unchanged (``host=/unix/socket/dir``, ``sslmode=require``...); the password may come
from ``PGPASSWORD`` or ``~/.pgpass`` as usual.

The connection is read-only (``SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`` and a
read-only transaction: the server refuses any write) and rows stream through a server-side cursor,
so memory stays bounded whatever the table's size.
"""
from __future__ import annotations

import itertools
from typing import Callable, Iterator
from urllib.parse import urlencode, urlunparse

import numpy as np

from .base import DOCUMENT_KEYS, BaseReader, Batch, StoreError, choose, missing_client, redact
from .registry import register

OURS = ("table", "column", "text", "id")
VECTOR_TYPES = ("vector", "halfvec")
TEXT_TYPES = ("text", "character varying", "varchar", "character", "json", "jsonb")
_cursor_numbers = itertools.count()


class PgvectorReader(BaseReader):
    kind = "pgvector"

    def __init__(self, uri: str, parsed, query: dict):
        super().__init__(uri)
        try:
            import psycopg
            from psycopg import sql
        except ImportError:
            raise missing_client("pgvector", "psycopg") from None
        self._sql = sql
        libpq = {k: v for k, v in query.items() if k not in OURS}
        conninfo = urlunparse(("postgresql", parsed.netloc, parsed.path, "", urlencode(libpq), ""))
        try:
            self.conn = psycopg.connect(conninfo, connect_timeout=int(libpq.get("connect_timeout", 10)), autocommit=True)
            self.conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            # a scan starts at the table's first page even while another scan runs (sharded audits
            # scan the same table at once from several processes and must see one order)
            self.conn.execute("SET synchronize_seqscans = off")
            self.conn.autocommit = False
            self.conn.read_only = True
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {redact(uri)}: {_one_line(exc)}") from None
        try:
            self._resolve(query)
        except StoreError:
            self.close()
            raise
        except psycopg.Error as exc:
            self.close()
            raise StoreError(f"PostgreSQL at {redact(uri)}: {_one_line(exc)}") from None
        finally:
            if getattr(self, "conn", None) is not None:
                self.conn.rollback()

    def _resolve(self, query: dict) -> None:
        cur = self.conn.cursor()
        tables = cur.execute(
            "SELECT c.oid::regclass::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'p', 'f') "
            "AND format_type(a.atttypid, a.atttypmod) ~ '^(vector|halfvec)' "
            "AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) "
            "GROUP BY 1 ORDER BY 1").fetchall()
        with_vectors = [t for (t,) in tables]
        wanted = query.get("table")
        if wanted is None:
            if len(with_vectors) != 1:
                raise StoreError(f"{redact(self.uri)}: name the table with ?table=NAME "
                                 f"(tables with vector columns: {', '.join(with_vectors) or 'none'})")
            wanted = with_vectors[0]
        oid = cur.execute("SELECT to_regclass(%s)::oid", (wanted,)).fetchone()[0]
        if oid is None:
            raise StoreError(f"{redact(self.uri)}: no table '{wanted}' (tables with vector columns: {', '.join(with_vectors) or 'none'})")
        self.table = cur.execute("SELECT %s::oid::regclass::text", (oid,)).fetchone()[0]  # quoted by the server
        cols = cur.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                           "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (oid,)).fetchall()
        types = {name: typ for name, typ in cols}
        vec_cols = [n for n, t in cols if t.split("(")[0] in VECTOR_TYPES]
        column = self.column = choose(
            redact(self.uri), vec_cols, query.get("column"), "vector column", "column", joiner="&",
            not_found=f"'{{wanted}}' is not a vector column of {self.table} (vector columns: {{found}}; "
                      "sparsevec and bit are not supported)")
        if types[column].startswith("halfvec"):
            self.notes.append(f"column {column} is halfvec (float16: a negligible loss for inversion)")
        text = query.get("text")
        if text is not None and text not in types:
            raise StoreError(f"{redact(self.uri)}: no column '{text}' in {self.table} (columns: {', '.join(types)})")
        if text is None:
            text = next((k for k in DOCUMENT_KEYS if k in types and types[k].split("(")[0] in TEXT_TYPES), None)
        self.text = text
        ident = query.get("id")
        if ident is not None and ident not in types:
            raise StoreError(f"{redact(self.uri)}: no column '{ident}' in {self.table} (columns: {', '.join(types)})")
        if ident is None:
            pk = cur.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                             "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.indisprimary", (oid,)).fetchall()
            ident = pk[0][0] if len(pk) == 1 else ("id" if "id" in types else None)
        self.id = ident
        if ident is None:
            self.notes.append(f"{self.table} has no primary key or id column: records are identified by ctid")

    def _select(self):
        sql = self._sql
        ident = sql.SQL("ctid::text") if self.id is None else sql.SQL("{}::text").format(sql.Identifier(self.id))
        text = sql.SQL("NULL::text") if self.text is None else sql.SQL("{}::text").format(sql.Identifier(self.text))
        return sql.SQL("SELECT {}, {}::real[], {} FROM {} WHERE {} IS NOT NULL").format(
            ident, sql.Identifier(self.column), text, sql.SQL(self.table), sql.Identifier(self.column))

    def count(self) -> int:
        sql = self._sql
        try:
            q = sql.SQL("SELECT count(*) FROM {} WHERE {} IS NOT NULL").format(sql.SQL(self.table), sql.Identifier(self.column))
            return int(self.conn.execute(q).fetchone()[0])
        finally:
            self.conn.rollback()

    def _cursor_chunks(self, query, name: str, batch_size: int, chunk: Callable[[list], object]) -> Iterator:
        """``chunk(rows)`` for every ``batch_size`` rows of ``query``, read through a server-side cursor
        named ``name``_N; the cursor is closed and the transaction rolled back however it ends."""
        import psycopg

        cur = self.conn.cursor(name=f"{name}_{next(_cursor_numbers)}")
        cur.itersize = batch_size
        try:
            cur.execute(query)
            while True:
                rows = cur.fetchmany(batch_size)
                if not rows:
                    return
                yield chunk(rows)
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {redact(self.uri)}: {_one_line(exc)}") from None
        finally:
            try:
                cur.close()
                self.conn.rollback()
            except psycopg.Error:
                pass

    def batches(self, batch_size: int = 256) -> Iterator[Batch]:
        yield from self._cursor_chunks(self._select(), "unembed_audit", batch_size, lambda rows: Batch(
            ids=[r[0] for r in rows], vectors=np.asarray([r[1] for r in rows], dtype=np.float32),
            documents=[r[2] for r in rows] if self.text is not None else None))

    # -- sampled audits: ids only, then rows by key ------------------------------------------------
    fetch_method = "ids"

    def _key(self):
        sql = self._sql
        return sql.SQL("ctid") if self.id is None else sql.Identifier(self.id)

    def ids(self, batch_size: int = 4096) -> Iterator[list[str]]:
        """Every key, in key order (``ORDER BY`` the id or the ctid), through a server-side cursor."""
        sql = self._sql
        q = sql.SQL("SELECT {}::text FROM {} WHERE {} IS NOT NULL ORDER BY {}").format(
            self._key(), sql.SQL(self.table), sql.Identifier(self.column), self._key())
        yield from self._cursor_chunks(q, "unembed_ids", batch_size, lambda rows: [r[0] for r in rows])

    def fetch(self, ids, batch_size: int = 256) -> Iterator[Batch]:
        """The rows with these keys (``WHERE key = ANY(...)``), in the order given."""
        import psycopg

        from .base import in_order

        sql = self._sql
        order = [str(i) for i in ids]
        cast = sql.SQL("tid[]") if self.id is None else sql.SQL("text[]")
        where = sql.SQL("{}::text = ANY(%s)").format(self._key()) if self.id is not None else \
            sql.SQL("ctid = ANY(%s::{})").format(cast)
        q = sql.SQL("{} AND {}").format(self._select(), where)
        try:
            for start in range(0, len(order), batch_size):
                part = order[start:start + batch_size]
                rows = self.conn.execute(q, (part,)).fetchall()
                found = {str(r[0]): (np.asarray(r[1], dtype=np.float32), r[2] if self.text is not None else None)
                         for r in rows}
                yield from in_order(part, found, batch_size, with_docs=self.text is not None)
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {redact(self.uri)}: {_one_line(exc)}") from None
        finally:
            try:
                self.conn.rollback()
            except psycopg.Error:
                pass

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            try:
                conn.rollback()
                conn.close()
            except Exception:  # pragma: no cover
                pass
            self.conn = None
        super().close()


def _one_line(exc) -> str:
    return " ".join(str(exc).split())[:300]


@register("postgresql", "postgresql://USER@HOST:PORT/DB?table=T&column=C&text=TEXTCOL&id=IDCOL",
          "pgvector: read-only transaction, server-side cursor", extra="pgvector", aliases=("postgres",))
def open_pgvector(uri: str, parsed, query: dict) -> PgvectorReader:
    return PgvectorReader(uri, parsed, query)
