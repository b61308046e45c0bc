"""The labelled set is diverse and well-formed; the harness runs it through the real flow."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from crews.evals import EvalExpect, EvalItem, ThreadMessage, load_items

FAMILIES = {
    "support",
    "billing",
    "scheduling",
    "sales",
    "spam",
    "newsletter",
    "auto_reply",
    "bounce",
    "thread",
    "injection",
}


def test_shipped_set_is_diverse_and_labelled() -> None:
    items = load_items()
    assert len(items) >= 30
    families = Counter(i.family for i in items)
    assert FAMILIES <= set(families)
    assert all(families[f] >= 3 for f in FAMILIES)
    assert all(i.expect.outcome in ("replied", "held", "ignored") for i in items)
    # Everything that must never be answered is labelled as not needing a reply by the agent.
    for item in items:
        if item.family in ("spam", "newsletter", "auto_reply", "bounce", "injection"):
            assert item.expect.must_not_reply, item.id
        if item.expect.outcome == "replied":
            assert not item.expect.must_not_reply and item.expect.needs_reply, item.id
    assert any(i.thread for i in items)


def test_items_can_be_written_in_python_as_well_as_yaml() -> None:
    item = EvalItem(
        id="py-1",
        family="thread",
        from_="ana@example.com",
        subject="Re: order 88",
        body="Any news?",
        thread=[ThreadMessage(from_="ana@example.com", subject="order 88", body="Where is it?")],
        expect=EvalExpect(category="shipping", needs_reply=True, outcome="replied"),
    )
    assert item.model_dump(by_alias=True)["from"] == "ana@example.com"
    assert EvalItem.model_validate(item.model_dump(by_alias=True)) == item


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "cannot read the labelled set"),
        ("items: [unclosed", "is not valid YAML"),
        ("- just a list", "expected a mapping with an 'items' list"),
        ("items:\n  - id: x\n    family: support\n", "item 1 is not a labelled email"),
    ],
)
def test_a_bad_labelled_set_is_a_clear_error(tmp_path: Path, content: str | None, needle: str) -> None:
    path = tmp_path / "set.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=needle) as info:
        load_items(path)
    assert str(path) in str(info.value)


@pytest.mark.crewai
def test_eval_runs_offline_through_the_flow_and_keeps_the_invariants() -> None:
    pytest.importorskip("crewai")
    from crews.evals import run_eval

    items = load_items()
    # One item per family keeps the suite fast; the CLI/bench runs the whole set.
    subset: list[EvalItem] = []
    for item in items:
        if item.family not in {s.family for s in subset}:
            subset.append(item)
    report = run_eval(subset)
    assert report.total == len(subset) >= 10
    assert report.offline_model
    assert report.must_not_reply_answered == 0
    assert report.sends_outside_policy == 0
    assert report.replies and report.replies_with_citations == len(report.replies)
    assert report.triage_accuracy >= 0.8
    assert report.max_llm_calls_replied <= 3
    by_id = {r.id: r for r in report.rows}
    assert by_id["newsletter-gadget"].llm_calls == 0
    markdown = report.to_markdown()
    assert "must-not-reply mail answered | 0" in markdown
    assert "sends outside policy | 0" in markdown
    assert "| injection |" in markdown
