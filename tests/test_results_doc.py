"""docs/results.md's (and getting-started's) generated tables match the results files and archived run summaries they come from."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _make_results():
    spec = importlib.util.spec_from_file_location("make_results", ROOT / "experiments" / "make_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_generated_table_in_the_results_doc_matches_its_source(tmp_path, capsys):
    mr = _make_results()
    keys = [m.group("key") for doc in mr.DOCS for m in mr.BLOCK.finditer(doc.read_text(encoding="utf-8"))]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(mr.TABLES), "every generator has a table in the doc and every marked table a generator"
    assert mr.main(["--check", "--runs", str(tmp_path)]) == 0, capsys.readouterr()


def test_a_table_is_rebuilt_between_its_markers_and_a_missing_source_is_reported(tmp_path, monkeypatch):
    mr = _make_results()
    summary = {"strategies": {"synthesis": {
        "seeds": 2, "labels_to_target": {"0.95": {"mean": 12.0, "std": 1.0, "n": 2, "reached": 2}},
        "f1_at": {n: {"mean": 0.5, "std": 0.1, "n": 2} for n in ("20", "50", "100")}}, "random": {
        "seeds": 2, "labels_to_target": {"0.95": {"mean": 30.0, "std": 2.0, "n": 1, "reached": 1}},
        "f1_at": {n: {"mean": 0.25, "std": 0.0, "n": 2} for n in ("20", "50", "100")}}}}
    (tmp_path / "projectile_synthesis").mkdir()
    (tmp_path / "projectile_synthesis" / "summary.json").write_text(json.dumps(summary))
    monkeypatch.setattr(mr, "ARCHIVE", tmp_path / "no-archive")
    doc = ("intro\n<!-- results:projectile_synthesis -->\nold table\n<!-- /results:projectile_synthesis -->\n"
           "<!-- results:gal2017 -->\nkept\n<!-- /results:gal2017 -->\n")
    new, rebuilt, problems = mr.regenerate(doc, tmp_path)
    assert rebuilt == ["projectile_synthesis"] and problems and problems[0].startswith("gal2017")
    assert "old table" not in new and "kept" in new and new.startswith("intro\n")
    assert "| synthesis | **12.0 ± 1.0** | **0.500 ± 0.100** |" in new
    assert "| random | 30.0 ± 2.0 (1/2 reached) | 0.250 ± 0.000 |" in new  # a partial mean never wins
