"""The protocols and the public seams type-check (mypy): what users implement and what they call."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The protocols, the session and runner, the plug-in resolution and the records users build.
CHECKED = ["qsynth/__init__.py", "qsynth/learners/base.py", "qsynth/generators/base.py", "qsynth/strategies/base.py",
           "qsynth/oracles/base.py", "qsynth/session.py", "qsynth/session_state.py", "qsynth/loop.py",
           "qsynth/plugins.py", "qsynth/records.py", "qsynth/fields.py", "qsynth/history.py",
           "qsynth/strategies/scoring.py", "qsynth/strategies/measures.py", "qsynth/loop_config.py",
           "qsynth/learners/config.py", "qsynth/generators/config.py", "qsynth/config.py", "qsynth/strategies/registry.py", "qsynth/experiments/box_task.py"]


@pytest.mark.slow
def test_protocols_and_public_seams_type_check():
    from mypy import api  # (in the test extra)
    out, err, status = api.run(["--follow-imports=silent", "--ignore-missing-imports", "--no-error-summary",
                                "--cache-dir", str(ROOT / ".mypy_cache"), *[str(ROOT / p) for p in CHECKED]])
    assert status == 0, out + err


def test_the_package_says_it_is_typed():
    assert (ROOT / "qsynth" / "py.typed").exists()
