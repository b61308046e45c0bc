"""Run every benchmark and write one markdown report of all figures with their same-run baselines.

Usage::

    python bench/run_all.py            # full runs (minutes), writes bench/REPORT.md
    python bench/run_all.py --quick    # small sizes, for a smoke check

Each ``bench/<name>.py`` exposes ``run(quick: bool) -> list[dict]``: one dict per figure, with
the figure, the baseline measured in the same run and their ratio where one applies. This
script only gathers and renders; the measuring lives next to what it measures.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("transport", "inbound", "tools_tokens", "retrieval")

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value == 0 or abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:,.2f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def to_markdown(rows: list[dict[str, object]]) -> str:
    """Render rows (dicts with possibly different keys) as one markdown table."""
    if not rows:
        return "_no figures_\n"
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _load(name: str) -> Any:
    """Load ``bench/<name>.py`` by path: ``bench/retrieval.py`` shares its name with the package."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke check, not figures)")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these benchmarks")
    parser.add_argument("--out", type=Path, default=HERE / "REPORT.md", help="report path")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(HERE))
    sections: list[str] = []
    failed = 0
    for name in args.only or BENCHMARKS:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            rows = _load(name).run(quick=args.quick)
        except Exception:
            failed += 1
            sections.append(f"## {name}\n\nFAILED:\n\n```\n{traceback.format_exc()}```\n")
            traceback.print_exc()
            continue
        elapsed = time.perf_counter() - started
        table = to_markdown(rows)
        print(table, flush=True)
        sections.append(f"## {name}\n\n{table}\n_{elapsed:.1f} s wall clock_\n")

    header = (
        "# Benchmark report\n\n"
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python bench/run_all.py"
        f"{' --quick' if args.quick else ''}` on {platform.platform()}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPU(s).\n"
        "Every ratio compares against a baseline measured in the same run.\n\n"
    )
    args.out.write_text(header + "\n".join(sections), encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
