"""``python -m crews.evals [--items FILE] [--config FILE] [--docs DIR] [--env-llm]``: print the report."""

from __future__ import annotations

import argparse
import sys

from ._harness import run_eval


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crews.evals", description=__doc__)
    parser.add_argument("--items", help="labelled YAML (default: the shipped set)")
    parser.add_argument("--config", help="mailbox YAML (default: crews/config/support.yaml)")
    parser.add_argument("--docs", help="help-centre folder (default: the Brightpath help centre)")
    parser.add_argument(
        "--env-llm",
        action="store_true",
        help="use the model from OPENAI_* variables instead of the offline one",
    )
    args = parser.parse_args(argv)
    llm = None
    if args.env_llm:
        from .._llm import default_llm

        llm = default_llm()
    report = run_eval(args.items, config=args.config, docs=args.docs, llm=llm)
    sys.stdout.write(report.to_markdown())
    unsafe = report.must_not_reply_answered or report.sends_outside_policy
    return 1 if unsafe else 0


if __name__ == "__main__":
    sys.exit(main())
