"""Offline evaluation of the crews flow on a labelled set of emails and threads.

Example::

    from crews.evals import run_eval
    report = run_eval()                  # the shipped set, offline model, in-memory sandbox
    print(report.to_markdown())
"""

from ._harness import DATA_DIR, EvalExpect, EvalItem, EvalReport, EvalRow, ThreadMessage, load_items, run_eval

__all__ = [
    "DATA_DIR",
    "EvalExpect",
    "EvalItem",
    "EvalReport",
    "EvalRow",
    "ThreadMessage",
    "load_items",
    "run_eval",
]
