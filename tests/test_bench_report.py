"""bench/run_all.py: the report's headline table and the README block it fills."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run_all", BENCH / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_headline_keeps_the_listed_figures_with_their_baselines(run_all: ModuleType) -> None:
    results = {
        "transport": [
            {
                "figure": "sends/s over HTTP, 8 clients",
                "value": 1867.2,
                "baseline": "rows into SQLite",
                "ratio": 0.356,
            },
            {"figure": "not a headline", "value": 1.0},
        ],
        "retrieval": [
            {"figure": "ingest (strip, chunk, embed, upsert)", "value": 156.0, "unit": "messages/s"}
        ],
    }
    table = run_all.headline(results)
    assert "not a headline" not in table
    assert "| transport | sends/s over HTTP, 8 clients | 1,867 | rows into SQLite · ratio 0.356 |" in table
    assert "| retrieval | ingest (strip, chunk, embed, upsert) | 156 messages/s |  |" in table
    # The README's order, not the order the rows came in.
    assert table.index("transport") < table.index("retrieval")


def test_readme_block_is_replaced_and_the_rest_kept(run_all: ModuleType, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    (tmp_path / "bench").mkdir()
    report = tmp_path / "bench" / "REPORT.md"
    readme.write_text("# x\n\nbefore\n<!-- BENCH -->\nold table\n<!-- /BENCH -->\nafter\n", encoding="utf-8")
    run_all.update_readme(readme, "| new |\n", report)
    text = readme.read_text(encoding="utf-8")
    assert "old table" not in text and "| new |" in text and "[`bench/REPORT.md`](bench/REPORT.md)" in text
    assert text.startswith("# x\n\nbefore\n<!-- BENCH -->") and text.endswith("<!-- /BENCH -->\nafter\n")
    readme.write_text("no block here", encoding="utf-8")
    with pytest.raises(SystemExit, match="no <!-- BENCH -->"):
        run_all.update_readme(readme, "| new |\n", report)
    assert readme.read_text(encoding="utf-8") == "no block here"
