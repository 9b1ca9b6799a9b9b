"""The layer rules of ARCHITECTURE.md, checked on the source: who may import whom, and no private
name imported across modules."""
from __future__ import annotations

import ast
from pathlib import Path

import unembed

SRC = Path(unembed.__file__).resolve().parent
SHARED = {"errors", "io", "signature", "reporting", "html", "metrics", "vectors", "distributed"}
# package -> the unembed packages it may import (besides itself and the shared modules)
ALLOWED = {
    "embedders": set(),
    "corpus": set(),
    "inversion": {"embedders", "corpus"},
    "audit": {"embedders", "inversion", "defences", "corpus"},
    "defences": {"embedders", "inversion", "corpus"},
    "glitch": {"embedders", "inversion"},
    "lm": {"embedders", "inversion", "corpus"},
    "shipped": set(),
}
SHARED_ALLOWED = {"errors"}  # what a shared module may import of unembed


def modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield path, ["unembed", *parts], path.name == "__init__.py"


def imports(path: Path, name: list[str], is_package: bool):
    """(imported unembed module path, imported names) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if is_package else name[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "unembed":
                target = node.module.split(".")
            else:
                continue
            yield target, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "unembed":
                    yield a.name.split("."), []


def test_no_private_name_is_imported_across_modules():
    bad = []
    for path, name, is_pkg in modules():
        for target, names in imports(path, name, is_pkg):
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    bad.append(f"{path.relative_to(SRC)} imports {n} from {'.'.join(target)}")
    assert not bad, "\n".join(bad)


def test_packages_import_only_what_their_layer_allows():
    bad = []
    for path, name, is_pkg in modules():
        if len(name) < 2:
            continue
        top = name[1]
        for target, _ in imports(path, name, is_pkg):
            if len(target) < 2 or target[1] == top:
                continue
            other = target[1]
            if top in ("cli", "web", "__main__"):
                continue  # the command line and the web app know everyone
            if other in ("cli", "web"):
                bad.append(f"{path.relative_to(SRC)} imports {'.'.join(target)}: nothing imports the cli or web app")
            elif top in SHARED:
                if other not in SHARED_ALLOWED:
                    bad.append(f"{path.relative_to(SRC)} (shared) imports {'.'.join(target)}")
            elif other in SHARED:
                continue
            elif other not in ALLOWED.get(top, set()):
                bad.append(f"{path.relative_to(SRC)} ({top}) imports {'.'.join(target)}")
    assert not bad, "\n".join(bad)


def test_models_import_nothing_of_unembed_but_each_other():
    bad = []
    for path, name, is_pkg in modules():
        if name[:3] == ["unembed", "inversion", "models"]:
            for target, _ in imports(path, name, is_pkg):
                if target[:3] != ["unembed", "inversion", "models"]:
                    bad.append(f"{path.relative_to(SRC)} imports {'.'.join(target)}")
    assert not bad, "\n".join(bad)
