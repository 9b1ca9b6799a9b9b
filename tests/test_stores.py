"""Store readers against the real stores (Chroma, Qdrant local, LanceDB, FAISS, PostgreSQL+pgvector
started here through pgserver, Milvus Lite): round trip, batching, read-only, lossy flags, errors.

The store builders below are also used by test_audit.py.
"""
from __future__ import annotations

import hashlib
import json
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from unembed.errors import InputError
from unembed.audit.stores import StoreError, open_store, redact

TEXTS = [
    "Alice lives in Paris and works as a baker.",
    "Bob lives in Rome and works as a nurse.",
    "Please send the signed contract to maria.garcia@example.com before Friday.",
    "John Smith was admitted to the hospital on 12 March 2023 with chest pain.",
    "Call me at 555-0142 if the delivery is late again.",
    "Carol lives in Oslo and works as a pilot.",
    "Our quarterly revenue grew by 14 percent to 2.3 million dollars.",
    "Dave lives in Berlin and works as a doctor.",
    "My password reset code is 48213, do not share it with anyone.",
    "Erin lives in Madrid and works as a lawyer.",
    "Frank lives in Vienna and works as a farmer.",
    "Grace lives in Lisbon and works as a teacher.",
]
IDS = [f"doc-{i}" for i in range(len(TEXTS))]
KINDS = ["chroma", "qdrant", "lancedb", "faiss", "pgvector", "milvus"]


@pytest.fixture(scope="session")
def vectors(minilm):
    return minilm.embed(TEXTS)


@pytest.fixture(scope="session")
def pg(tmp_path_factory):
    """A PostgreSQL server with pgvector, started for this test session by pgserver."""
    import pgserver
    srv = pgserver.get_server(str(tmp_path_factory.mktemp("pg")), cleanup_mode="stop")
    yield srv
    srv.cleanup()


def tree_state(path: Path) -> dict:
    """Every file under ``path`` (or the file itself) with its size, mtime and sha256."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*"))
    out = {}
    for p in files:
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(path.parent))] = (st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        else:
            out[str(p.relative_to(path.parent))] = "dir"
    return out


def pg_state(srv, table: str):
    import psycopg

    with psycopg.connect(srv.get_uri()) as c:
        rows = c.execute(f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)), count(*) FROM {table} t").fetchone()
        tables = c.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    return rows, tables


def pg_uri(srv, **params) -> str:
    base = srv.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
    head, _, libpq = base.partition("?")
    return head + "?" + "&".join([*(f"{k}={v}" for k, v in params.items()), libpq])


def build(kind: str, root: Path, vectors: np.ndarray, texts=TEXTS, ids=IDS, pg=None, with_texts: bool = True):
    """Write ``vectors`` (and ``texts``) into a real store of ``kind``, as an application would.

    Returns (uri, state) where ``state()`` fingerprints the store's files or rows, to check that
    reading it changed nothing.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    vectors = np.asarray(vectors, dtype=np.float32)
    docs = list(texts) if with_texts else None
    if kind == "chroma":
        import chromadb

        path = root / "chroma"
        client = chromadb.PersistentClient(path=str(path), settings=chromadb.config.Settings(anonymized_telemetry=False))
        col = client.get_or_create_collection("docs", metadata={"hnsw:space": "cosine"})
        col.add(ids=list(ids), embeddings=vectors, **({"documents": docs} if docs else {}))
        del col, client
        return f"chroma://{path}?collection=docs", lambda: tree_state(path)
    if kind == "qdrant":
        from qdrant_client import QdrantClient, models

        path = root / "qdrant"
        client = QdrantClient(path=str(path))
        client.create_collection("docs", vectors_config=models.VectorParams(size=vectors.shape[1], distance=models.Distance.COSINE))
        client.upsert("docs", points=[
            models.PointStruct(id=str(uuid.uuid5(uuid.NAMESPACE_URL, i)), vector=v.tolist(),
                               payload={"page_content": t, "source": i} if docs else {"source": i})
            for i, v, t in zip(ids, vectors, texts)])
        client.close()
        return f"qdrant://{path}?collection=docs", lambda: tree_state(path)
    if kind == "lancedb":
        import lancedb

        path = root / "lance"
        db = lancedb.connect(str(path))
        rows = [{"id": i, "vector": v, **({"text": t} if docs else {})} for i, v, t in zip(ids, vectors, texts)]
        db.create_table("docs", data=rows)
        return f"lancedb://{path}?table=docs", lambda: tree_state(path)
    if kind in ("faiss", "faiss-pq", "faiss-sq", "faiss-hnsw", "faiss-ivf"):
        import faiss

        path = root / f"{kind}.index"
        d = vectors.shape[1]
        spec = {"faiss": "Flat", "faiss-pq": "PQ16x4", "faiss-sq": "SQ8", "faiss-hnsw": "HNSW16", "faiss-ivf": "IVF2,Flat"}[kind]
        index = faiss.index_factory(d, spec, faiss.METRIC_INNER_PRODUCT)
        if not index.is_trained:
            rng = np.random.default_rng(0)
            train = np.concatenate([vectors + 0.02 * rng.standard_normal(vectors.shape).astype(np.float32) for _ in range(30)])
            index.train(train)
        index.add(vectors)
        faiss.write_index(index, str(path))
        uri = f"faiss://{path}"
        if docs:
            tfile = root / f"{kind}.texts.jsonl"
            tfile.write_text("".join(json.dumps({"id": n, "text": t}) + "\n" for n, t in enumerate(texts)))
            uri += f"?texts={tfile}"
        return uri, lambda: tree_state(path)
    if kind == "pgvector":
        import psycopg

        table = f"items_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg.get_uri()) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS vector")
            c.execute(f"CREATE TABLE {table} (doc_id text PRIMARY KEY, body text, embedding vector({vectors.shape[1]}))")
            with c.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s::vector)",
                                [(i, t if docs else None, "[" + ",".join(map(repr, v.tolist())) + "]")
                                 for i, v, t in zip(ids, vectors, texts)])
        params = {"table": table, "column": "embedding", "id": "doc_id"}
        if docs:
            params["text"] = "body"
        return pg_uri(pg, **params), lambda: pg_state(pg, table)
    if kind == "milvus":
        from pymilvus import DataType, MilvusClient

        path = root / "milvus.db"
        client = MilvusClient(str(path))
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=vectors.shape[1])
        schema.add_field("text", DataType.VARCHAR, max_length=2000)
        index = client.prepare_index_params()
        index.add_index("embedding", index_type="FLAT", metric_type="COSINE")
        client.create_collection("docs", schema=schema, index_params=index)
        client.insert("docs", [{"pk": i, "embedding": v.tolist(), "text": t if docs else ""}
                               for i, v, t in zip(ids, vectors, texts)])
        client.close()
        return f"milvus://{path}?collection=docs", lambda: tree_state(path)
    raise ValueError(kind)


def read_all(uri: str, batch_size: int = 5):
    with open_store(uri) as reader:
        batches = list(reader.batches(batch_size))
        return reader, reader.count(), batches


@pytest.mark.parametrize("kind", KINDS)
def test_reader_round_trip_is_batched_and_read_only(kind, tmp_path, vectors, request):
    pg = request.getfixturevalue("pg") if kind == "pgvector" else None
    uri, state = build(kind, tmp_path, vectors, pg=pg)
    before = state()
    reader, count, batches = read_all(uri, batch_size=5)
    assert count == len(TEXTS)
    assert [len(b.ids) for b in batches] == [5, 5, 2]
    got = {i: (v, d) for b in batches for i, v, d in zip(b.ids, b.vectors, b.documents or [None] * len(b.ids))}
    assert len(got) == len(TEXTS)
    # ids as the store keeps them: FAISS by position, Qdrant by UUID
    if kind == "faiss":
        keys = [str(n) for n in range(len(TEXTS))]
    elif kind == "qdrant":
        keys = [str(uuid.uuid5(uuid.NAMESPACE_URL, i)) for i in IDS]
    else:
        keys = IDS
    assert set(got) == set(keys)
    for key, text, vec in zip(keys, TEXTS, vectors):
        v, d = got[key]
        assert v.dtype == np.float32 and v.shape == (384,)
        np.testing.assert_allclose(v, vec, atol=1e-5)
        assert d == text
    assert reader.lossy is False
    assert state() == before, "reading the store changed it"


def test_documents_are_none_when_the_store_holds_none(tmp_path, vectors):
    uri, _ = build("faiss", tmp_path, vectors, with_texts=False)
    _, _, batches = read_all(uri)
    assert all(b.documents is None for b in batches)
    uri, _ = build("lancedb", tmp_path, vectors, with_texts=False)
    _, _, batches = read_all(uri)
    assert all(b.documents is None for b in batches)


def test_pgvector_connection_refuses_writes(tmp_path, vectors, pg):
    import psycopg

    uri, state = build("pgvector", tmp_path, vectors, pg=pg)
    before = state()
    with open_store(uri) as reader:
        assert reader.id == "doc_id" and reader.text == "body"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            reader.conn.execute(f"DELETE FROM {reader.table}")
        reader.conn.rollback()
        assert reader.count() == len(TEXTS)
    assert state() == before


def test_pgvector_finds_table_column_and_id_when_left_out(tmp_path, vectors, pg):
    import psycopg

    with psycopg.connect(pg.get_uri()) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS vector")
        c.execute("CREATE SCHEMA IF NOT EXISTS app")
        c.execute("CREATE TABLE app.chunks (id serial PRIMARY KEY, content text, emb vector(384))")
        c.execute("INSERT INTO app.chunks (content, emb) VALUES (%s, %s::vector), (NULL, NULL)",
                  (TEXTS[0], "[" + ",".join(map(repr, vectors[0].tolist())) + "]"))
    with open_store(pg_uri(pg, table="app.chunks")) as reader:
        assert (reader.column, reader.id, reader.text) == ("emb", "id", "content")
        assert reader.count() == 1  # the row without a vector is skipped
        (b,) = list(reader.batches(10))
        assert b.ids == ["1"] and b.documents == [TEXTS[0]]
    with pytest.raises(StoreError, match="no table 'nope'"):
        open_store(pg_uri(pg, table="nope"))
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL"):
        open_store("postgresql://nobody:secret@127.0.0.1:1/db?table=t&connect_timeout=2")


@pytest.mark.parametrize("kind,lossy", [("faiss", False), ("faiss-hnsw", False), ("faiss-ivf", False),
                                        ("faiss-pq", True), ("faiss-sq", True)])
def test_faiss_index_types_and_lossy_codes(kind, lossy, tmp_path, vectors):
    uri, state = build(kind, tmp_path, vectors)
    before = state()
    reader, count, batches = read_all(uri)
    assert count == len(TEXTS) and reader.lossy is lossy
    got = np.concatenate([b.vectors for b in batches])
    ids = [i for b in batches for i in b.ids]
    got = got[np.argsort([int(i) for i in ids])]
    cos = (got * vectors).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(vectors, axis=1)
    if lossy:
        assert any("LOSSY" in n for n in reader.notes)
        assert cos.min() > 0.5
    else:
        np.testing.assert_allclose(got, vectors, atol=1e-5)
    assert state() == before


def test_faiss_idmap_ids_and_ivf_with_custom_ids(tmp_path, vectors):
    import faiss

    for spec in ("IDMap,Flat", "IVF2,Flat"):
        index = faiss.index_factory(384, spec, faiss.METRIC_INNER_PRODUCT)
        index.train(np.repeat(vectors, 10, axis=0))
        index.add_with_ids(vectors, np.arange(len(TEXTS), dtype=np.int64) * 10 + 7)
        path = tmp_path / "ids.index"
        faiss.write_index(index, str(path))
        (tmp_path / "t.jsonl").write_text("".join(json.dumps({"id": n * 10 + 7, "document": t}) + "\n" for n, t in enumerate(TEXTS)))
        # the first parameter written with '&', as in the example, is accepted too
        reader, count, batches = read_all(f"faiss://{path}&texts=t.jsonl")
        got = {i: (v, d) for b in batches for i, v, d in zip(b.ids, b.vectors, b.documents)}
        assert set(got) == {str(n * 10 + 7) for n in range(len(TEXTS))}
        np.testing.assert_allclose(got["27"][0], vectors[2], atol=1e-6)
        assert got["27"][1] == TEXTS[2]


@pytest.mark.parametrize("scheme,module,extra", [
    ("chroma", "chromadb", "chroma"), ("qdrant", "qdrant_client", "qdrant"), ("lancedb", "lancedb", "lancedb"),
    ("faiss", "faiss", "faiss"), ("milvus", "pymilvus", "milvus"), ("postgresql", "psycopg", "pgvector")])
def test_missing_client_names_the_extra(scheme, module, extra, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if it were not installed
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "chroma.sqlite3").write_text("")
    (tmp_path / "x" / "collection").mkdir()
    uri = "postgresql://u@localhost/db?table=t" if scheme == "postgresql" else f"{scheme}://{tmp_path / 'x'}"
    with pytest.raises(StoreError) as exc:
        open_store(uri)
    assert f"pip install 'unembed[{extra}]'" in str(exc.value) and "\n" not in str(exc.value)


def test_uri_errors_are_one_line(tmp_path, vectors):
    with pytest.raises(InputError, match="unknown store URI scheme 'redis'"):
        open_store("redis://localhost:6379")
    with pytest.raises(InputError, match="not a store URI"):
        open_store("/some/folder")
    with pytest.raises(StoreError, match="no Chroma store"):
        open_store(f"chroma://{tmp_path}/missing?collection=x")
    uri, _ = build("chroma", tmp_path, vectors)
    with pytest.raises(InputError, match="unknown parameter"):
        open_store(uri + "&colection=docs")
    with pytest.raises(StoreError, match=r"no collection 'other' \(found: docs\)"):
        open_store(uri.replace("collection=docs", "collection=other"))
    with open_store(uri.split("?")[0]) as reader:  # the only collection is taken when none is named
        assert reader.count() == len(TEXTS)
    with pytest.raises(StoreError, match="no FAISS index file"):
        open_store(f"faiss://{tmp_path}/none.index")
    uri, _ = build("lancedb", tmp_path, vectors)
    with pytest.raises(StoreError, match="not a column of float vectors"):
        open_store(uri + "&column=text")


def test_relative_paths_and_redaction(tmp_path, vectors, monkeypatch):
    build("faiss", tmp_path, vectors, with_texts=False)
    monkeypatch.chdir(tmp_path)
    with open_store("faiss://faiss.index") as reader:
        assert reader.count() == len(TEXTS)
    assert redact("postgresql://app:s3cret@db:5432/x?table=t") == "postgresql://app:***@db:5432/x?table=t"
    assert redact("qdrant+http://h:6333?collection=c&api_key=k") == "qdrant+http://h:6333?collection=c&api_key=***"
    assert redact("chroma:///srv/store?collection=c") == "chroma:///srv/store?collection=c"


def test_qdrant_server_url_unreachable_is_one_line():
    pytest.importorskip("qdrant_client")
    with pytest.raises(StoreError, match="Qdrant cannot read http://127.0.0.1:1"):
        open_store("qdrant+http://127.0.0.1:1?collection=docs")


@pytest.mark.parametrize("kind", ["chroma", "qdrant", "milvus"])
def test_private_copies_are_removed_on_close(kind, tmp_path, vectors):
    uri, state = build(kind, tmp_path, vectors)
    before = state()
    reader = open_store(uri)
    copy = Path(reader._tmp)
    assert copy.exists() and any("private copy" in n for n in reader.notes)
    assert sum(len(b.ids) for b in reader.batches(100)) == len(TEXTS)
    reader.close()
    assert not copy.exists()
    assert state() == before
