"""The demo path end to end (a real Chroma store), with the tiny test inverter in place of the default."""
import pytest

pytest.importorskip("chromadb")


def test_demo_round_trip_through_chroma(tiny_run, tmp_path):
    from rich.console import Console

    from unembed.cli import demo

    console = Console(record=True, width=200)
    rows = demo.run(tmp_path / "demo", steps=2, beam=2, console=console, inverter=tiny_run)
    assert [r["original"] for r in rows] == demo.SENTENCES
    assert all(r["recovered"] and -1 <= r["cosine"] <= 1 and 0 <= r["bleu"] <= 100 for r in rows)
    text = console.export_text()
    assert "Read 8 vectors of dimension 384" in text and "chroma://" in text
    # the table says which names, e-mail addresses, numbers and dates came back
    assert "sensitive items back" in text and "email: maria.garcia@example.com" in text
    assert "Sensitive items recovered: " in text and any(r["sensitive"] for r in rows)
    # and whom the records name, read off the vectors with a list of names and no inverter at all
    named = [r["name_list"] for r in rows if r["name_list"].get("listed")]
    assert [n["listed"] for n in named] == [["Maria"], ["John"]] and all(n["rank"] == 1 for n in named)
    assert "Name-list attack, no inverter" in text and "ranked first Maria (right)" in text
    # a second run upserts the same ids: the store still holds one vector per sentence
    demo.run(tmp_path / "demo", steps=0, beam=1, console=console, inverter=tiny_run)
    from unembed.audit.stores import open_store

    assert open_store(f"chroma://{(tmp_path / 'demo' / 'store').resolve()}?collection=demo").count() == 8
