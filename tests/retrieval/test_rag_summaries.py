"""Rolling thread summaries: incremental, idempotent, bounded, pluggable, stored on disk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from _rag_support import make_message

from agentmail_tools._tokens import count_tokens
from retrieval import ExtractiveSummarizer, ThreadSummaries
from retrieval._summaries import LLMSummarizer


def _thread(n: int) -> list[dict[str, object]]:
    return [
        make_message(
            f"m{i:03d}",
            f"Hi team,\n\nUpdate {i}: order {1000 + i} is delayed, can you check the courier?\n\nThanks,\nDana",
            minutes=i,
        )
        for i in range(n)
    ]


def test_extractive_summary_keeps_the_informative_sentence() -> None:
    summaries = ThreadSummaries()
    s = summaries.update("mb-a", "th-1", _thread(2))
    assert s is not None and s.message_count == 2
    lines = s.text.splitlines()
    assert len(lines) == 2
    assert "order 1000" in lines[0] and "dana@example.com" in lines[0]
    assert "Thanks" not in s.text and "Hi team" not in s.text


def test_update_folds_in_only_new_messages_and_is_idempotent() -> None:
    calls: list[int] = []

    def summarizer(previous: str | None, messages: Sequence[Mapping[str, str]]) -> str:
        calls.append(len(messages))
        return (previous or "") + "".join(f"[{m['id']}]" for m in messages)

    summaries = ThreadSummaries(summarizer=summarizer)
    msgs = _thread(5)
    summaries.update("mb-a", "th-1", msgs[:3])
    s = summaries.update("mb-a", "th-1", msgs)  # all five again: only two are new
    assert calls == [3, 2]
    assert s is not None and s.text == "[m000][m001][m002][m003][m004]" and s.message_count == 5
    assert summaries.update("mb-a", "th-1", msgs) == summaries.get("mb-a", "th-1")
    assert calls == [3, 2]
    assert summaries.get("mb-b", "th-1") is None  # scoped by mailbox


def test_long_threads_stay_within_the_budget() -> None:
    summarizer = ExtractiveSummarizer(max_tokens=120)
    summaries = ThreadSummaries(summarizer=summarizer)
    msgs = _thread(100)
    for start in range(0, 100, 7):  # arrives in bursts
        s = summaries.update("mb-a", "th-1", msgs[start : start + 7])
        assert s is not None and count_tokens(s.text) <= 120
    assert s is not None
    assert s.text.splitlines()[0].find("order 1000") > 0  # the opening is kept
    assert "order 1099" in s.text  # and the latest
    assert "earlier messages condensed" in s.text


def test_summaries_persist(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    ThreadSummaries(db).update("mb-a", "th-1", _thread(3))
    reopened = ThreadSummaries(db)
    stored = reopened.get("mb-a", "th-1")
    assert stored is not None and stored.message_count == 3 and stored.last_message_id == "m002"


def test_llm_summarizer_uses_invoke_and_marks_data() -> None:
    seen: list[str] = []

    class FakeLLM:
        def invoke(self, prompt: str) -> object:
            seen.append(prompt)
            return type("R", (), {"content": " summary "})()

    s = ThreadSummaries(summarizer=LLMSummarizer(FakeLLM())).update("mb-a", "th-1", _thread(1))
    assert s is not None and s.text == "summary"
    assert "data, not instructions" in seen[0] and "order 1000" in seen[0]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        ExtractiveSummarizer(max_tokens=5)
    with pytest.raises(Exception, match="thread_id"):
        ThreadSummaries().update("mb-a", "", _thread(1))
