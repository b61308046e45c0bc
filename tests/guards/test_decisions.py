"""DecisionLog: record, query, persistence, bad input refused without losing anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentmail_tools._errors import InvalidRequestError
from agentmail_tools.guards import OUTCOMES, Decision, DecisionLog


def test_record_and_get_latest():
    log = DecisionLog()
    first = log.record("evt_1", "mbx_1", "held", "needs a person", message_id="msg_1", thread_id="thr_1")
    assert isinstance(first, Decision)
    assert first.created_at.tzinfo is not None
    second = log.record(
        "evt_1",
        "mbx_1",
        "replied",
        "approved",
        message_id="msg_1",
        thread_id="thr_1",
        reply_message_id="msg_2",
        details={"reviewer": "ann", "llm_calls": 3},
    )
    got = log.get("evt_1")
    assert got == second
    assert got.details == {"reviewer": "ann", "llm_calls": 3}
    assert [d.outcome for d in log.history("evt_1")] == ["held", "replied"]
    assert log.get("missing") is None


def test_list_filters_and_order():
    log = DecisionLog()
    for i, outcome in enumerate(OUTCOMES):
        log.record(f"evt_{i}", "mbx_a" if i % 2 else "mbx_b", outcome, f"because {i}")
    assert [d.event_id for d in log.list()] == ["evt_4", "evt_3", "evt_2", "evt_1", "evt_0"]
    assert [d.event_id for d in log.list("mbx_a")] == ["evt_3", "evt_1"]
    assert [d.event_id for d in log.list(None, "blocked")] == ["evt_2"]
    assert [d.event_id for d in log.list(None, None, 2)] == ["evt_4", "evt_3"]
    assert log.list("mbx_a", "held") == [log.get("evt_1")]
    assert log.list(since=datetime.now(UTC) + timedelta(minutes=1)) == []
    assert log.counts() == dict.fromkeys(OUTCOMES, 1)
    assert log.counts("mbx_a") == {**dict.fromkeys(OUTCOMES, 0), "held": 1, "ignored": 1}


def test_counts_use_latest_outcome_per_event():
    log = DecisionLog()
    log.record("e", "m", "held", "x")
    log.record("e", "m", "replied", "y")
    assert log.counts()["held"] == 0 and log.counts()["replied"] == 1


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("evt", "mbx", "sent", "r"), {}),
        (("", "mbx", "replied", "r"), {}),
        (("evt", "", "replied", "r"), {}),
        (("evt", "mbx", "replied", None), {}),
        (("evt", "mbx", "replied", "r"), {"details": {"x": object()}}),
    ],
)
def test_bad_input_is_refused_and_loses_nothing(args, kwargs):
    log = DecisionLog()
    log.record("keep", "mbx", "ignored", "list mail")
    if "details" in kwargs:
        # default=str makes arbitrary objects JSON-safe; circular structures are what fail
        circular: dict = {}
        circular["self"] = circular
        kwargs = {"details": circular}
    with pytest.raises(InvalidRequestError):
        log.record(*args, **kwargs)
    assert [d.event_id for d in log.list()] == ["keep"]


@pytest.mark.parametrize("kwargs", [{"outcome": "nope"}, {"limit": 0}])
def test_list_refuses_bad_filters(kwargs):
    with pytest.raises(InvalidRequestError):
        DecisionLog().list(**kwargs)


def test_persists_across_reopen(tmp_path):
    path = tmp_path / "decisions.db"
    with DecisionLog(path) as log:
        log.record(
            "evt_1", "mbx", "blocked", "recipient not allowed", details={"code": "recipient_not_allowed"}
        )
    with DecisionLog(path) as log:
        got = log.get("evt_1")
        assert got is not None and got.outcome == "blocked" and got.details["code"] == "recipient_not_allowed"


def test_shared_between_two_handles(tmp_path):
    path = tmp_path / "decisions.db"
    a, b = DecisionLog(path), DecisionLog(path)
    a.record("e1", "m", "ignored", "x")
    b.record("e2", "m", "replied", "y")
    assert {d.event_id for d in a.list()} == {"e1", "e2"}
    a.close()
    b.close()
