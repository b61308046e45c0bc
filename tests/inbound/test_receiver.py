"""WebhookReceiver: verify before parsing, enqueue once, answer fast; framework-agnostic and ASGI."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from agentmail_tools._webhooks import sign_webhook
from agentmail_tools.inbound import SQLiteQueue, WebhookReceiver
from agentmail_tools.inbound import _receiver as receiver_module

from .conftest import SECRET, envelope, signed


@pytest.fixture
def receiver(queue: SQLiteQueue) -> WebhookReceiver:
    return WebhookReceiver(queue, secret=SECRET)


@pytest.fixture
def parse_spy(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Records every body the receiver hands to the JSON parser."""
    calls: list[bytes] = []
    real = json.loads

    def spy(raw: Any, *a: Any, **kw: Any) -> Any:
        calls.append(raw)
        return real(raw, *a, **kw)

    monkeypatch.setattr(receiver_module.json, "loads", spy)
    return calls


def test_valid_delivery_is_enqueued(receiver: WebhookReceiver, queue: SQLiteQueue) -> None:
    raw, headers = signed(envelope("m1"), delivery_id="dlv_1")
    status, body = receiver.handle(raw, headers)
    assert (status, body) == (200, {"status": "queued", "event_id": "message.received:mbx_1:m1"})
    lease = queue.lease("w")
    assert lease is not None
    assert lease.event.delivery_id == "dlv_1" and lease.event.source == "webhook"
    assert lease.event.payload == envelope("m1")["data"]


def test_each_delivery_repeated_five_times_enqueues_once(
    receiver: WebhookReceiver, queue: SQLiteQueue
) -> None:
    raw, headers = signed(envelope("m1"), delivery_id="dlv_1")
    answers = [receiver.handle(raw, headers) for _ in range(5)]
    assert [a[0] for a in answers] == [200] * 5
    assert [a[1]["status"] for a in answers] == ["queued"] + ["duplicate"] * 4
    # The same message in a new delivery (a second webhook, a retry with a new id) too.
    raw2, headers2 = signed(envelope("m1"), delivery_id="dlv_2")
    assert receiver.handle(raw2, headers2) == (
        200,
        {"status": "duplicate", "event_id": "message.received:mbx_1:m1"},
    )
    assert queue.stats().ready == 1


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=" + "0" * 64,
        "0" * 64,
        "0" * 63,
        "g" * 64,
    ],
)
def test_bad_signatures_get_401_before_parsing(receiver, queue, parse_spy, signature) -> None:
    raw = json.dumps(envelope("m1")).encode()
    headers = {} if signature is None else {"X-Robotomail-Signature": signature}
    assert receiver.handle(raw, headers)[0] == 401
    assert parse_spy == [] and queue.stats().total == 0


def test_uppercase_prefixed_and_other_secret_signatures_are_refused(receiver, queue, parse_spy) -> None:
    raw = json.dumps(envelope("m1")).encode()
    good = sign_webhook(raw, SECRET)
    for signature in (
        good.upper(),
        f"sha256={good}",
        sign_webhook(raw, "other"),
        good[:-1] + ("0" if good[-1] != "0" else "1"),
    ):
        assert receiver.handle(raw, {"X-Robotomail-Signature": signature})[0] == 401
    # The signature covers the exact bytes: a re-serialised body does not verify.
    reserialised = json.dumps(json.loads(raw), indent=2).encode()
    parse_spy.clear()
    assert receiver.handle(reserialised, {"X-Robotomail-Signature": good})[0] == 401
    assert parse_spy == [] and queue.stats().total == 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.binary(max_size=2048),
    signature=st.one_of(st.none(), st.text(max_size=80), st.from_regex(r"[0-9a-f]{64}", fullmatch=True)),
)
def test_fuzz_every_forgery_is_rejected_before_parsing(
    receiver, queue, parse_spy, body: bytes, signature: str | None
) -> None:
    parse_spy.clear()
    status, _ = receiver.handle(body, {} if signature is None else {"x-robotomail-signature": signature})
    if signature == sign_webhook(body, SECRET):  # astronomically unlikely, but then it is no forgery
        return
    assert status == 401
    assert parse_spy == []
    assert queue.stats().total == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=512),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=10,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_fuzz_signed_junk_is_a_clean_400_or_a_queued_event(receiver, queue, body: bytes) -> None:
    raw, headers = signed(body, delivery_id=None)
    before = queue.stats().total
    status, payload = receiver.handle(raw, headers)
    assert status in (200, 400)
    if status == 400:
        assert "error" in payload and queue.stats().total == before
    else:
        assert payload["status"] in ("queued", "duplicate")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"x"',
        b"{}",
        b'{"event": 1, "data": {}}',
        b'{"event": "message.received", "data": 3}',
    ],
)
def test_signed_but_malformed_bodies_get_400_and_nothing_is_enqueued(receiver, queue, raw: bytes) -> None:
    status, body = receiver.handle(*signed(raw))
    assert status == 400 and body["error"]
    assert queue.stats().total == 0


@pytest.mark.parametrize("delivery_id", ["", " ", "x" * 201, "a\tb"])
def test_malformed_delivery_id_is_400(receiver, queue, delivery_id: str) -> None:
    raw, headers = signed(envelope("m1"))
    headers["X-Robotomail-Delivery-Id"] = delivery_id
    assert receiver.handle(raw, headers)[0] == 400
    assert queue.stats().total == 0


@pytest.mark.parametrize("depth", [40, 5000])
def test_absurdly_nested_signed_bodies_are_400_not_a_crash(receiver, queue, depth: int) -> None:
    inner = "1"
    for _ in range(depth):
        inner = '{"a": ' + inner + "}"
    raw = ('{"event": "message.received", "data": {"message_id": "m", "deep": ' + inner + "}}").encode()
    assert receiver.handle(*signed(raw))[0] == 400
    assert queue.stats().total == 0


def test_header_mappings_that_are_case_sensitive_still_work(receiver) -> None:
    from types import MappingProxyType

    raw, headers = signed(envelope("m1"), delivery_id="d1")
    assert receiver.handle(raw, MappingProxyType(headers))[0] == 200


def test_missing_delivery_id_falls_back_to_the_body_digest(receiver, queue) -> None:
    body = {"event": "mailbox.updated", "timestamp": "t", "data": {}}
    raw, headers = signed(body, delivery_id=None)
    assert receiver.handle(raw, headers)[1]["status"] == "queued"
    assert receiver.handle(raw, headers)[1]["status"] == "duplicate"


def test_oversize_body_is_413_without_verifying(queue) -> None:
    receiver = WebhookReceiver(queue, secret=SECRET, max_body_bytes=100)
    raw, headers = signed(envelope("m1", body_text="x" * 200))
    assert receiver.handle(raw, headers)[0] == 413


def test_secret_rotation_accepts_old_and_new(queue) -> None:
    receiver = WebhookReceiver(queue, secrets=["old", "new"])
    for i, secret in enumerate(("old", "new")):
        raw, headers = signed(envelope(f"m{i}"), delivery_id=f"d{i}", secret=secret)
        assert receiver.handle(raw, headers)[0] == 200
    raw, headers = signed(envelope("m9"), secret="neither")
    assert receiver.handle(raw, headers)[0] == 401
    with pytest.raises(ValueError):
        WebhookReceiver(queue, secret="")


def test_headers_may_be_any_case_or_raw_pairs(receiver) -> None:
    raw, headers = signed(envelope("m1"), delivery_id="d1")
    lower = {k.lower(): v for k, v in headers.items()}
    assert receiver.handle(raw, lower)[0] == 200
    pairs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw2, headers2 = signed(envelope("m2"), delivery_id="d2")
    pairs = [(k.upper().encode(), v.encode()) for k, v in headers2.items()]
    assert receiver.handle(raw2, pairs)[1]["status"] == "queued"


def test_queue_failure_is_503_so_the_sender_retries(receiver, monkeypatch) -> None:
    def broken(events: Any) -> list[bool]:
        raise OSError("disk full")

    monkeypatch.setattr(receiver.queue, "put_many", broken)
    raw, headers = signed(envelope("m1"))
    assert receiver.handle(raw, headers)[0] == 503
    monkeypatch.undo()
    assert receiver.handle(raw, headers)[0] == 200  # the retry lands


def test_concurrent_handle_calls_share_commits(receiver, queue) -> None:
    import threading

    calls: list[int] = []
    real = queue.put_many

    def slow_counting(events):
        calls.append(len(events))
        time.sleep(0.005)  # a disk sync: lets concurrent callers pile up behind it
        return real(events)

    queue.put_many = slow_counting  # type: ignore[method-assign]
    bodies = [signed(envelope(f"m{i}"), delivery_id=f"d{i}") for i in range(120)]
    bodies += [signed(envelope("m0"), delivery_id="d0")] * 8  # racing redeliveries
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def post(chunk) -> None:
        for raw, headers in chunk:
            answer = receiver.handle(raw, headers)
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=post, args=(bodies[i::16],)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(answers) == 128 and {status for status, _ in answers} == {200}
    statuses = [body["status"] for _, body in answers]
    assert statuses.count("queued") == 120 and statuses.count("duplicate") == 8
    assert queue.stats().ready == 120
    assert sum(calls) == 128 and len(calls) < 120  # batched: fewer transactions than requests


def test_a_failed_group_commit_fails_every_request_in_it_and_recovers(receiver, queue) -> None:
    import threading

    real = queue.put_many
    state = {"fail": True}

    def flaky(events):
        if state["fail"]:
            state["fail"] = False
            time.sleep(0.02)
            raise OSError("database is locked")
        return real(events)

    queue.put_many = flaky  # type: ignore[method-assign]
    bodies = [signed(envelope(f"m{i}"), delivery_id=f"d{i}") for i in range(10)]
    results: list[int] = []
    threads = [threading.Thread(target=lambda b=b: results.append(receiver.handle(*b)[0])) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 10 and set(results) <= {200, 503} and 503 in results
    for raw, headers in bodies:  # the senders retry
        assert receiver.handle(raw, headers)[0] == 200
    assert queue.stats().ready == 10


# -- ASGI -------------------------------------------------------------------------------


async def _post(app: Any, url: str, raw: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.post(url, content=raw, headers=headers)


async def test_close_releases_the_commit_thread_and_the_receiver_still_works(queue) -> None:
    receiver = WebhookReceiver(queue, secret=SECRET)
    raw, headers = signed(envelope("m1"), delivery_id="d1")
    assert (await receiver.ahandle(raw, headers))[0] == 200
    receiver.close()
    receiver.close()
    raw, headers = signed(envelope("m2"), delivery_id="d2")
    assert (await receiver.ahandle(raw, headers))[0] == 200  # a new thread on demand
    receiver.close()
    assert queue.stats().ready == 2


async def test_asgi_app_posts_and_refuses(receiver, queue) -> None:
    raw, headers = signed(envelope("m1"), delivery_id="d1")
    response = await _post(receiver.app, "/", raw, headers)
    assert response.status_code == 200 and response.json()["status"] == "queued"
    response = await _post(receiver.app, "/", raw, {**headers, "X-Robotomail-Signature": "0" * 64})
    assert response.status_code == 401
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=receiver.app), base_url="http://test"
    ) as client:
        assert (await client.get("/")).status_code == 405
    assert queue.stats().total == 1


async def test_mounted_anywhere_without_a_redirect(queue) -> None:
    receiver = WebhookReceiver(queue, secret=SECRET)
    app = Starlette(
        routes=[Route("/hooks/robotomail", receiver, methods=["POST"]), Mount("/in", app=receiver)]
    )
    for i, url in enumerate(("/hooks/robotomail", "/in/", "/in/any/path")):
        raw, headers = signed(envelope(f"m{i}"), delivery_id=f"d{i}")
        response = await _post(app, url, raw, headers)
        assert response.status_code == 200, response.text
    assert queue.stats().ready == 3


async def test_asgi_body_cap_applies_to_streamed_bodies(queue) -> None:
    receiver = WebhookReceiver(queue, secret=SECRET, max_body_bytes=1000)
    raw, headers = signed(envelope("m1", body_text="x" * 5000))

    async def chunks():
        for i in range(0, len(raw), 256):
            yield raw[i : i + 256]

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=receiver), base_url="http://test"
    ) as client:
        response = await client.post("/", content=chunks(), headers=headers)
        assert response.status_code == 413
        response = await client.post("/", content=raw, headers=headers)
        assert response.status_code == 413
    assert queue.stats().total == 0


async def test_concurrent_requests_share_commits_and_duplicates_in_a_batch_are_caught(queue) -> None:
    import asyncio

    receiver = WebhookReceiver(queue, secret=SECRET)
    calls: list[int] = []
    real = queue.put_many

    def counting(events):
        calls.append(len(events))
        return real(events)

    queue.put_many = counting  # type: ignore[method-assign]
    bodies = [signed(envelope(f"m{i}"), delivery_id=f"d{i}") for i in range(40)]
    bodies += [signed(envelope("m0"), delivery_id="d0")] * 5  # redeliveries racing the original
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=receiver), base_url="http://test"
    ) as client:
        responses = await asyncio.gather(*(client.post("/", content=raw, headers=h) for raw, h in bodies))
    assert all(r.status_code == 200 for r in responses)
    statuses = [r.json()["status"] for r in responses]
    assert statuses.count("queued") == 40 and statuses.count("duplicate") == 5
    assert queue.stats().ready == 40
    assert sum(calls) == 45 and len(calls) < 45  # batched


async def test_asgi_queue_failure_is_503(queue, monkeypatch) -> None:
    receiver = WebhookReceiver(queue, secret=SECRET)

    def broken(events):
        raise OSError("disk full")

    monkeypatch.setattr(queue, "put_many", broken)
    raw, headers = signed(envelope("m1"))
    response = await _post(receiver, "/", raw, headers)
    assert response.status_code == 503
    monkeypatch.undo()
    response = await _post(receiver, "/", raw, headers)  # the sender's retry succeeds
    assert response.status_code == 200 and queue.stats().ready == 1


async def test_asgi_path_works_with_a_queue_that_only_has_put(queue) -> None:
    class MinimalQueue:  # what a broker-backed InboundQueue might offer: no put_many
        def __init__(self) -> None:
            self.events: list = []

        def put(self, event) -> bool:
            if any(e.event_id == event.event_id for e in self.events):
                return False
            self.events.append(event)
            return True

    minimal = MinimalQueue()
    receiver = WebhookReceiver(minimal, secret=SECRET)  # type: ignore[arg-type]
    raw, headers = signed(envelope("m1"), delivery_id="d1")
    assert (await _post(receiver, "/", raw, headers)).json()["status"] == "queued"
    assert (await _post(receiver, "/", raw, headers)).json()["status"] == "duplicate"
    assert len(minimal.events) == 1


def test_the_same_receiver_serves_one_event_loop_after_another(queue) -> None:
    import asyncio

    receiver = WebhookReceiver(queue, secret=SECRET)
    for i in range(3):  # e.g. a test suite, or an app restarted in the same process
        raw, headers = signed(envelope(f"m{i}"), delivery_id=f"d{i}")
        response = asyncio.run(_post(receiver, "/", raw, headers))
        assert response.status_code == 200
    assert queue.stats().ready == 3


async def test_ahandle_is_the_async_twin_of_handle(receiver, queue, parse_spy) -> None:
    raw, headers = signed(envelope("m1"), delivery_id="d1")
    assert await receiver.ahandle(raw, headers) == (
        200,
        {"status": "queued", "event_id": "message.received:mbx_1:m1"},
    )
    assert (await receiver.ahandle(raw, headers))[1]["status"] == "duplicate"
    parse_spy.clear()
    assert (await receiver.ahandle(raw, {"X-Robotomail-Signature": "f" * 64}))[0] == 401
    assert parse_spy == []
    assert (await receiver.ahandle(*signed(b"[]")))[0] == 400
    assert queue.stats().ready == 1
