"""Every example of docs/extending.md runs as written, and each is at most 15 lines of user code.

Python blocks run in a fresh namespace, in order, in one temporary folder per page; a block
tagged `file=NAME` is written there instead (so later blocks and configs can import it); a
`qsynth ...` line of a bash block runs the command line in that folder. After a section runs,
a check below exercises what it defined.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)


def sections() -> list[tuple[str, list[tuple[str, str, str]]]]:
    out = []
    for part in DOC.read_text(encoding="utf-8").split("\n## ")[1:]:
        title = part.splitlines()[0].strip()
        blocks = [(lang, info.strip(), body) for lang, info, body in BLOCK.findall(part)]
        if blocks:
            out.append((title, blocks))
    return out


def _check_generator(ns):
    from tests.helpers import tiny_context

    queries, _ = ns["synthesis"].select(jax.random.key(0), tiny_context(10, 1), 3, None)
    assert queries.x.shape == (3, 2) and np.all(np.abs(queries.x) <= 2.0)


def _check_strategy(ns):
    from tests.helpers import tiny_context

    ctx = tiny_context(10, 1)
    queries, _ = ns["FarthestFirst"]().select(jax.random.key(0), ctx, 3, None)
    assert len(queries) == 3 and np.all(ctx.available[queries.pool_index])


CHECKS = {
    "Your own network and optimizer": lambda ns: ns["result"].history[-1]["accuracy"] > 0.7,
    "Your own acquisition function": lambda ns: ns["pool"].name == "gini",
    "Your own strategy": _check_strategy,
    "A pretrained generator": _check_generator,
    "Your own simulator, from Python": lambda ns: ns["result"].buffer.size >= 1 and "f1" in ns["result"].history[-1],
    "Your own simulator, from a config": lambda ns: (Path("runs") / "mysim" / "summary.json").exists(),
    "Ask and tell, from a notebook": lambda ns: len(ns["session"].answers) == 32,
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("extending")


@pytest.mark.slow
@pytest.mark.parametrize("title, blocks", sections(), ids=[t for t, _ in sections()])
def test_the_example_runs_as_written(title, blocks, folder, monkeypatch):
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", str(folder))  # worker processes import the user's module too
    ns: dict = {"__name__": "__example__"}
    for _, earlier in sections():  # a section may use a file an earlier one wrote (xdist may run it first)
        for _, info, body in earlier:
            if info.startswith("file=") and not (folder / info.removeprefix("file=")).exists():
                (folder / info.removeprefix("file=")).write_text(body, encoding="utf-8")
    for lang, info, body in blocks:
        if info.startswith("file="):
            (folder / info.removeprefix("file=")).write_text(body, encoding="utf-8")
        elif lang == "python":
            lines = [line for line in body.splitlines() if line.strip()]
            assert len(lines) <= 15, f"{title}: {len(lines)} lines of code (at most 15)"
            exec(compile(body, f"{DOC.name}: {title}", "exec"), ns)  # noqa: S102 (the doc's own example)
        elif lang == "bash":
            from qsynth.cli import main

            for line in body.splitlines():
                if line.startswith("qsynth "):
                    assert main(line.split()[1:]) == 0, line
    assert CHECKS[title](ns) is not False, f"{title}: the example ran but did not do what it says"
    sys.modules.pop("mysim", None) if title == "Ask and tell, from a notebook" else None


def test_every_section_has_a_check():
    assert {t for t, _ in sections()} == set(CHECKS)


def test_the_readme_ask_tell_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    block = next(body for lang, _, body in BLOCK.findall(readme) if lang == "python" and "Session(" in body)
    ns: dict = {"__name__": "__example__"}
    exec(compile(block, "README.md: ask/tell", "exec"), ns)  # noqa: S102
    assert len(ns["session"].answers) == 40 and ns["session"].history[-1]["accuracy"] > 0.8
