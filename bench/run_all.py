"""Run every benchmark and write one markdown report of all figures with their same-run baselines.

Usage::

    python bench/run_all.py            # full runs (minutes), writes bench/REPORT.md
    python bench/run_all.py --quick    # small sizes, for a smoke check
    python bench/run_all.py --readme   # full runs, and the README's table from the report

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


# The figures the README shows (prefixes of ``figure``), in this order; the rest stays in the report.
HEADLINES: tuple[tuple[str, str], ...] = (
    ("transport", "sends/s over HTTP, 8 clients"),
    ("transport", "threads.get ms, 1000-message thread"),
    ("transport", "SSE latency ms"),
    ("inbound", "receiver durable=True (synchronous=FULL, default) throughput"),
    ("inbound", "receiver durable=True p99 ack latency"),
    ("tools_tokens", "read_thread tokens"),
    ("retrieval", "MiniLM embeddings/s"),
    ("retrieval", "ingest (strip"),
    ("retrieval", "recall@5 (queries about the question): answer message in top 5, HybridSearch"),
    (
        "retrieval",
        "recall@5 (queries about a fact only the answer holds): answer message in top 5, HybridSearch",
    ),
    (
        "retrieval",
        "recall@5 (queries about a fact only the answer holds): right thread in top 5, HybridSearch",
    ),
    ("retrieval", "query p50 at 100,000 chunks"),
    ("retrieval", "prompt tokens per reply, thread of 100"),
)


def _compared_with(row: dict[str, object]) -> str:
    """What a row was compared with, from whichever baseline columns its benchmark uses."""
    parts: list[str] = []
    for key, value in row.items():
        if not key.startswith("baseline") or key == "baseline value" or value in ("", None):
            continue
        # "baseline (bare Starlette 200)": the column names the baseline, the cell holds its value.
        label = key[len("baseline (") : -1] if key.startswith("baseline (") else _cell(value)
        number = row.get("baseline value") if key == "baseline" else value
        parts.append(
            f"{label}: {_cell(number)}" if number not in ("", None) and label != _cell(number) else label
        )
    for key in ("ratio", "note"):
        if row.get(key) not in ("", None):
            parts.append(f"ratio {_cell(row[key])}" if key == "ratio" else _cell(row[key]))
    return " · ".join(parts)


def headline(results: dict[str, list[dict[str, object]]]) -> str:
    """The README's table: the headline rows, each with what it was compared with in the same run."""
    lines = ["| benchmark | figure | value | compared with, same run |", "|---|---|---|---|"]
    for bench, prefix in HEADLINES:
        for row in results.get(bench, []):
            if not str(row.get("figure", "")).startswith(prefix):
                continue
            value = _cell(row.get("value", ""))
            unit = str(row.get("unit") or "")
            if unit:
                value += f" ({unit})" if unit[0].isdigit() else f" {unit}"
            lines.append(f"| {bench} | {_cell(row['figure'])} | {value} | {_compared_with(row)} |")
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, table: str, report: Path) -> None:
    """Replace what stands between ``<!-- BENCH -->`` and ``<!-- /BENCH -->`` in the README."""
    text = readme.read_text(encoding="utf-8")
    start, end = "<!-- BENCH -->", "<!-- /BENCH -->"
    if start not in text or end not in text:
        msg = f"{readme} has no {start} ... {end} block to fill"
        raise SystemExit(msg)
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    link = Path(os.path.relpath(report, readme.parent)).as_posix()
    note = f"\nFrom [`{link}`]({link}), which holds every figure.\n\n"
    readme.write_text(head + start + note + table + end + tail, encoding="utf-8")


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
    parser.add_argument("--readme", action="store_true", help="also refresh the README's table")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(HERE))
    sections: list[str] = []
    results: dict[str, list[dict[str, object]]] = {}
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
        results[name] = rows
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
    top = headline(results)
    args.out.write_text(
        header + "## Headline figures\n\n" + top + "\n" + "\n".join(sections), encoding="utf-8"
    )
    print(f"wrote {args.out}")
    if args.readme:
        if args.quick or failed or args.only:
            print("README not updated: it takes a full, successful run of every benchmark")
            return 1
        update_readme(HERE.parent / "README.md", top, args.out.resolve())
        print("updated README.md")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
