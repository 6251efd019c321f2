"""The package's layers import downward only, and nothing installs outside ``sdfrecon``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from tests.conftest import REPO

# Layer ranks: a module may import its own layer and lower ranks only. sdf (neural core)
# sits above datasets/meshing (it uses the sampling types); base knows nothing of the rest.
RANK = {"base": 0, "meshing": 1, "datasets": 1, "sdf": 2, "pipeline": 3, "evaluation": 4, "viewer": 5, "cli": 6}
FOLDERS = {"sdfrecon/base": "base", "meshing": "meshing", "datasets": "datasets", "sdf": "sdf",
           "sdfrecon/pipeline": "pipeline", "evaluation": "evaluation", "viewer": "viewer", "sdfrecon/cli": "cli"}


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every imported module name in ``path`` (top level and inside functions), with its line."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def upward_imports(root: Path = REPO) -> list[str]:
    bad = []
    for folder, layer in FOLDERS.items():
        for path in sorted((root / folder).rglob("*.py")):
            for line, name in _imports(path):
                parts = name.split(".")
                if parts[0] in ("sdf", "meshing", "datasets", "evaluation", "viewer"):
                    bad.append(f"{path.relative_to(root)}:{line}: imports bare {name!r} (use sdfrecon.{name})")
                elif parts[0] == "sdfrecon" and len(parts) > 1 and parts[1] in RANK:
                    target = parts[1]
                    if RANK[target] > RANK[layer] or (RANK[target] == RANK[layer] and target != layer):
                        bad.append(f"{path.relative_to(root)}:{line}: {layer} imports {name} (a higher layer)")
    return bad


def test_layers_import_downward_only():
    assert upward_imports() == []


def test_the_checker_sees_an_upward_import(tmp_path):
    # The rule must be able to fail: a base module importing the pipeline is reported.
    fake = tmp_path / "sdfrecon" / "base"
    fake.mkdir(parents=True)
    (fake / "oops.py").write_text("def f():\n    from sdfrecon.pipeline.run import reconstruct_file\n")
    assert upward_imports(tmp_path) == ["sdfrecon/base/oops.py:2: base imports sdfrecon.pipeline.run (a higher layer)"]


def test_only_the_sdfrecon_namespace_is_installed():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {p.split(".")[0] for p in setuptools["packages"]} == {"sdfrecon"}
    # every folder that holds modules is one of the installed packages
    mapped = {setuptools["package-dir"].get(p, p.replace(".", "/")) for p in setuptools["packages"]}
    assert set(FOLDERS) | {"sdfrecon", "configs"} == mapped
