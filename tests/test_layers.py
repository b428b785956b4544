"""No module imports a higher layer: every `import qsynth...` in the package, read from the source
(AST, function-level imports included), against the layer order of `shared/DESIGN.md`:

    cli → experiments (and _local_workers, its worker processes) → config → plotting → loop → session → {strategies, oracles, store}
        → {learners, generators, uncertainty} → {problem, data} → the ground floor

(the ground floor: records, plugins, fields, history, loop_config, recommended (config tables only) and the
private helpers, which import
nothing of qsynth's above them).
A module may import its own layer or any lower one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "qsynth"

#: Lowest first. A module's layer is that of the longest prefix listed.
LAYERS: list[set[str]] = [
    {"records", "plugins", "fields", "history", "_random", "_chunks", "_parallel", "_compiles", "_backend", "_devices", "_interrupts", "_lazy", "_types", "loop_config", "recommended", "__init__"},
    {"problem", "data"},
    {"learners", "generators", "uncertainty"},
    {"strategies", "oracles", "store"},
    {"session", "session_state"},
    {"loop", "progress"},
    {"plotting"},
    {"config"},
    {"experiments", "catalog", "_local_workers"},  # (_local_workers: a sweep's worker processes)
    {"cli", "__main__"},
]


def layer_of(module: str) -> int:
    """The layer of `qsynth.<module>` (by its first component: `strategies.pool` is in "strategies")."""
    head = module.split(".")[0]
    for i, names in enumerate(LAYERS):
        if head in names:
            return i
    raise AssertionError(f"qsynth.{module} is in no layer of tests/test_layers.py; place it in LAYERS")


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"] or ["__init__"]
        out.append((".".join(parts), path))
    return out


def _imports(path: Path) -> list[tuple[str, int]]:
    """The qsynth modules `path` imports, with line numbers (relative imports resolved)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("qsynth.")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qsynth."):
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.module == "qsynth":
            found += [(f"qsynth.{a.name}", node.lineno) for a in node.names]
    return [(name.removeprefix("qsynth."), line) for name, line in found]


def test_every_module_has_a_layer():
    for module, _ in _modules():
        layer_of(module)


@pytest.mark.parametrize("module, path", _modules(), ids=[m for m, _ in _modules()])
def test_no_module_imports_a_higher_layer(module, path):
    if module == "__init__":  # the package's lazy public API (PEP 562) names everything
        return
    mine = layer_of(module)
    upward = [f"line {line}: qsynth.{name} (layer {layer_of(name)} > {mine})" for name, line in _imports(path)
              if layer_of(name) > mine]
    assert not upward, f"qsynth.{module} imports a higher layer: {upward}"


def test_the_check_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from qsynth.experiments.summary import summarize\n")
    assert [layer_of(name) for name, _ in _imports(bad)] == [layer_of("experiments")] and \
        layer_of("experiments") > layer_of("plotting")


def test_importing_plotting_leaves_the_backend_alone():
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg'); import qsynth.plotting; "
            "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()")
    env = {k: v for k, v in __import__("os").environ.items() if k != "MPLBACKEND"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=PACKAGE.parent)


def test_reading_every_config_starts_no_jax():
    """Reading and validating a config imports no JAX (so it claims no device and takes no time to
    start); only a config that names a user's plug-in imports that module, and whatever it imports."""
    import subprocess
    import sys

    code = ("import glob, sys; from qsynth.config import load_config\n"
            "for p in sorted(glob.glob('experiments/*.toml')) + sorted(glob.glob('tests/golden/*.toml')) + "
            "['qsynth/configs/default.toml']: load_config(p)\n"
            "assert 'jax' not in sys.modules, 'reading a config imported jax'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)
