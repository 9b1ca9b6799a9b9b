"""unembed serve under load, on loopback: 20 concurrent clients mixing inversions and report
fetches. The only error answer is the documented busy one (503 with Retry-After), every client
gets its result, and memory stays flat from one round to the next."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")

from unembed.web import create_app  # noqa: E402
from webserver import running, served_folder, sse  # noqa: E402

CLIENTS, ROUNDS = 20, 3
DEADLINE = 300.0  # seconds a client may keep retrying before the test fails (a hang, not a timing)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        import os

        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_client(base: str, k: int, statuses: list, lock: threading.Lock) -> dict:
    """An inversion (retried while busy, as Retry-After says) and two report fetches."""
    import time

    text = f"Client {k} lives in Paris and works as a baker."
    start = time.monotonic()
    with httpx.Client(base_url=base, timeout=120) as c:
        for path in ("/api/runs", "/runs/runs/first-audit/report.html"):
            r = c.get(path)
            with lock:
                statuses.append(r.status_code)
        while True:
            r = c.post("/api/invert", json={"text": text, "steps": 2, "beam": 2})
            with lock:
                statuses.append(r.status_code)
            if r.status_code == 503:
                assert r.json()["error"] == "busy"
                assert time.monotonic() - start < DEADLINE, "still busy after the deadline"
                time.sleep(min(float(r.headers["retry-after"]), 2.0))
                continue
            assert r.status_code == 202, r.text
            with c.stream("GET", r.json()["events"]) as s:
                with lock:
                    statuses.append(s.status_code)
                events = sse(s.iter_lines())
            assert events[-1][0] == "done", events[-1]
            return {"client": k, "original": events[-1][1]["original"], "text": events[-1][1]["text"]}


def test_twenty_concurrent_clients_get_their_results_with_only_busy_answers(tmp_path_factory, tiny_run, minilm,
                                                                            vectors):  # noqa: F811
    from unembed import load_inverter

    inverter = load_inverter(tiny_run, embedder=minilm, precision="fp32")
    folder = served_folder(tmp_path_factory.mktemp("served"), inverter, vectors)
    app = create_app(folder, {"tiny": inverter}, queue_size=8)
    memory, busy = [], 0
    with running(app) as base:
        for _ in range(ROUNDS):
            statuses: list[int] = []
            lock = threading.Lock()
            with ThreadPoolExecutor(CLIENTS) as pool:
                results = list(pool.map(lambda k: one_client(base, k, statuses, lock), range(CLIENTS)))
            assert sorted(r["client"] for r in results) == list(range(CLIENTS))
            assert all(r["original"] == f"Client {r['client']} lives in Paris and works as a baker." and r["text"]
                       for r in results)  # each client got its own inversion back
            assert set(statuses) <= {200, 202, 503}, sorted(set(statuses))
            busy += statuses.count(503)
            memory.append(rss_mb())
        assert app.state.worker.running is None and not app.state.worker.waiting
    print(f"load: {ROUNDS} rounds of {CLIENTS} clients, {busy} busy answers, RSS by round (MB): "
          + ", ".join(f"{m:.0f}" for m in memory))
    assert busy > 0  # the queue (8) was full at times: the busy answer was exercised
    # flat: after the first round has warmed everything up, later rounds add little (a generous bound)
    assert memory[-1] - memory[0] < 150, memory
