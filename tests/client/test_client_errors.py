"""Error mapping per status, transport failures, retries (GET only), sends never retried."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from _client_support import FakeAPI, Reply, collect, mailbox, message, resolve

import agentmail_tools as am
from agentmail_tools._base import (
    INITIAL_BACKOFF,
    JITTER,
    MAX_BACKOFF,
    MAX_RETRY_AFTER,
    backoff_delay,
    make_status_error,
    parse_retry_after,
)

SEND = {"to": "ann@example.com", "subject": "Hi", "body_text": "Hello"}

STATUS_ERRORS = [
    (400, am.BadRequestError),
    (401, am.AuthenticationError),
    (402, am.PaymentRequiredError),
    (403, am.PermissionDeniedError),
    (404, am.NotFoundError),
    (409, am.ConflictError),
    (413, am.PayloadTooLargeError),
    (429, am.RateLimitError),
    (500, am.InternalServerError),
    (502, am.InternalServerError),
    (503, am.InternalServerError),
    (504, am.InternalServerError),
    (418, am.APIStatusError),
]


def test_error_tree() -> None:
    assert issubclass(am.InvalidRequestError, am.MailError) and issubclass(am.InvalidRequestError, ValueError)
    assert issubclass(am.MailTimeoutError, am.MailConnectionError)
    assert issubclass(am.AmbiguousSendError, am.MailConnectionError)
    assert not issubclass(am.AmbiguousSendError, am.MailTimeoutError)
    for _, cls in STATUS_ERRORS:
        assert issubclass(cls, am.APIStatusError) and issubclass(cls, am.MailError)
    assert "AmbiguousSendError" in am._errors.__doc__


@pytest.mark.parametrize(("status", "cls"), STATUS_ERRORS)
def test_status_error_mapping(status: int, cls: type[am.APIStatusError]) -> None:
    request = httpx.Request("POST", "https://api.robotomail.com/v1/mailboxes/mb_1/messages")
    body = {"error": "Something specific", "code": "SOME_CODE", "extra": 1}
    response = httpx.Response(
        status, json=body, headers={"X-Robotomail-Inbound-Quota": "3/100"}, request=request
    )
    err = make_status_error(response)
    assert type(err) is cls
    assert err.status_code == status
    assert err.error == "Something specific"
    assert err.code == "SOME_CODE"
    assert err.body == body
    assert err.headers["x-robotomail-inbound-quota"] == "3/100"
    assert str(err) == f"{status} Something specific (POST /v1/mailboxes/mb_1/messages)"


def test_non_json_error_body_is_kept_as_text() -> None:
    request = httpx.Request("GET", "https://api.robotomail.com/v1/account")
    err = make_status_error(httpx.Response(502, text="<html>Bad gateway</html>", request=request))
    assert isinstance(err, am.InternalServerError)
    assert err.body == "<html>Bad gateway</html>"
    assert err.error == "<html>Bad gateway</html>"
    assert err.code is None


def test_payment_required_keeps_upgrade_hint() -> None:
    body = {
        "error": "Plan limit reached",
        "payment_required": True,
        "code": "MAILBOX_LIMIT",
        "upgrade": {
            "browserUrl": "https://x",
            "apiEndpoint": {"method": "POST", "path": "/billing"},
            "hint": "h",
        },
    }
    request = httpx.Request("POST", "https://api.robotomail.com/v1/mailboxes")
    err = make_status_error(httpx.Response(402, json=body, request=request))
    assert isinstance(err, am.PaymentRequiredError)
    assert err.code == "MAILBOX_LIMIT" and err.body["upgrade"]["hint"] == "h"


@pytest.mark.parametrize(("status", "cls"), STATUS_ERRORS)
async def test_client_raises_mapped_error(status: int, cls: type, fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/mailboxes/{id}", Reply(status, json={"error": "nope"}, check_contract=False))
    client = make_client(max_retries=0)
    with pytest.raises(cls) as info:
        await resolve(client.mailboxes.get("mb_1"))
    assert info.value.status_code == status
    assert len(fake.requests) == 1


async def test_unexpected_success_body_is_a_mail_error(fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/mailboxes/{id}", Reply(200, json={"unexpected": True}, check_contract=False))
    with pytest.raises(am.APIStatusError, match="unexpected body"):
        await resolve(make_client().mailboxes.get("mb_1"))
    fake.add("GET", "/account", Reply(200, content=b"<html>", check_contract=False))
    with pytest.raises(am.APIStatusError, match="not JSON"):
        await resolve(make_client().account.get())


# --------------------------------------------------------------------------- retries


async def test_get_retries_on_503_then_succeeds(fake: FakeAPI, make_client: Any) -> None:
    fake.add(
        "GET",
        "/mailboxes/{id}",
        Reply(503, json={"error": "busy"}),
        Reply(500, json={"error": "oops"}),
        Reply(200, json={"mailbox": mailbox()}),
    )
    client = make_client(max_retries=2)
    result = await resolve(client.mailboxes.get("mb_1"))
    assert result.id == "mb_1"
    assert len(fake.requests) == 3
    assert len(client.slept) == 2
    assert INITIAL_BACKOFF * (1 - JITTER) <= client.slept[0] <= INITIAL_BACKOFF
    assert 2 * INITIAL_BACKOFF * (1 - JITTER) <= client.slept[1] <= 2 * INITIAL_BACKOFF


async def test_get_honours_retry_after_on_429(fake: FakeAPI, make_client: Any) -> None:
    fake.add(
        "GET",
        "/mailboxes",
        Reply(429, json={"error": "slow down"}, headers={"Retry-After": "3"}),
        Reply(200, json={"mailboxes": []}),
    )
    client = make_client()
    assert await resolve(client.mailboxes.list()) == []
    assert client.slept == [3.0]


async def test_retries_are_bounded_and_raise_the_last_error(fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/mailboxes", Reply(429, json={"error": "slow down"}, headers={"Retry-After": "1.5"}))
    client = make_client(max_retries=3)
    with pytest.raises(am.RateLimitError) as info:
        await resolve(client.mailboxes.list())
    assert info.value.retry_after == 1.5
    assert len(fake.requests) == 4 and client.slept == [1.5, 1.5, 1.5]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413])
async def test_client_errors_are_not_retried(status: int, fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/mailboxes", Reply(status, json={"error": "no"}, check_contract=False))
    client = make_client(max_retries=5)
    with pytest.raises(am.APIStatusError):
        await resolve(client.mailboxes.list())
    assert len(fake.requests) == 1 and client.slept == []


async def test_408_is_retried(fake: FakeAPI, make_client: Any) -> None:
    fake.add(
        "GET",
        "/account",
        Reply(408, json={"error": "timeout"}, check_contract=False),
        Reply(200, json={"account": {"id": "u"}}, check_contract=False),
    )
    client = make_client()
    assert (await resolve(client.account.get())).id == "u"
    assert len(fake.requests) == 2


async def test_get_retries_transport_errors_then_times_out(fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/mailboxes", Reply(error=httpx.ReadTimeout("slow")))
    client = make_client(max_retries=2)
    with pytest.raises(am.MailTimeoutError) as info:
        await resolve(client.mailboxes.list())
    assert not isinstance(info.value, am.AmbiguousSendError)
    assert info.value.method == "GET"
    assert len(fake.requests) == 3


async def test_get_connect_error_is_a_connection_error(fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/mailboxes", Reply(error=httpx.ConnectError("refused")), Reply(json={"mailboxes": []}))
    client = make_client()
    assert await resolve(client.mailboxes.list()) == []
    fake2 = FakeAPI().add("GET", "/mailboxes", Reply(error=httpx.ConnectError("refused")))
    client2 = make_client(transport=fake2.transport, max_retries=0)
    with pytest.raises(am.MailConnectionError) as info:
        await resolve(client2.mailboxes.list())
    assert type(info.value) is am.MailConnectionError
    assert isinstance(info.value.__cause__, httpx.ConnectError)


# --------------------------------------------------------------------------- sends are never retried


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_send_is_never_retried_on_status(status: int, fake: FakeAPI, make_client: Any) -> None:
    headers = {"Retry-After": "0"} if status == 429 else {}
    fake.add(
        "POST",
        "/mailboxes/{id}/messages",
        Reply(status, json={"error": "Send rate limit exceeded — slow down"}, headers=headers),
        Reply(201, json={"message": message()}),
    )
    client = make_client(max_retries=5)
    with pytest.raises(am.APIStatusError) as info:
        await resolve(client.messages.send("mb_1", **SEND))
    assert info.value.status_code == status
    assert len(fake.requests) == 1 and client.slept == []


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("t"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("eof"),
        httpx.WriteTimeout("w"),
    ],
    ids=["read-timeout", "read-error", "remote-protocol", "write-timeout"],
)
async def test_send_that_may_have_arrived_is_ambiguous(
    error: Exception, fake: FakeAPI, make_client: Any
) -> None:
    fake.add("POST", "/mailboxes/{id}/messages", Reply(error=error), Reply(201, json={"message": message()}))
    client = make_client(max_retries=5)
    with pytest.raises(am.AmbiguousSendError, match="may have reached the server") as info:
        await resolve(client.messages.send("mb_1", **SEND))
    assert info.value.method == "POST"
    assert "rm_test_key" not in str(info.value)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow connect")])
async def test_send_that_never_left_is_not_ambiguous(
    error: Exception, fake: FakeAPI, make_client: Any
) -> None:
    fake.add("POST", "/mailboxes/{id}/messages", Reply(error=error))
    client = make_client(max_retries=5)
    with pytest.raises(am.MailConnectionError) as info:
        await resolve(client.messages.send("mb_1", **SEND))
    assert not isinstance(info.value, am.AmbiguousSendError)
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.mailboxes.delete("mb_1"),
        lambda c: c.mailboxes.update("mb_1", status="PAUSED"),
        lambda c: c.attachments.upload(b"x", filename="x.txt"),
    ],
    ids=["delete", "patch", "upload"],
)
async def test_other_non_idempotent_requests_are_not_retried(
    call: Any, fake: FakeAPI, make_client: Any
) -> None:
    for method, path in [
        ("DELETE", "/mailboxes/{id}"),
        ("PATCH", "/mailboxes/{id}"),
        ("POST", "/attachments"),
    ]:
        fake.add(method, path, Reply(503, json={"error": "busy"}))
    client = make_client(max_retries=5)
    with pytest.raises(am.InternalServerError):
        await resolve(call(client))
    assert len(fake.requests) == 1


# --------------------------------------------------------------------------- Retry-After and backoff tables

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("0", 0.0),
        ("2", 2.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("120", 120.0),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("2 seconds", None),
        ("0x10", None),
        (formatdate(NOW + 30, usegmt=True), 30.0),
        (formatdate(NOW - 30, usegmt=True), 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Wed, 32 Foo 2015 07:28:00 GMT", None),
        ("Wed, 21 Oct 2015 07:28:00", None),  # no zone: not an HTTP date
    ],
)
def test_parse_retry_after_table(value: str | None, expected: float | None) -> None:
    got = parse_retry_after(value, now=NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1.0)


def test_parse_retry_after_uses_the_clock() -> None:
    got = parse_retry_after(formatdate(time.time() + 10, usegmt=True))
    assert got is not None and 8 <= got <= 10


@pytest.mark.parametrize(
    ("attempt", "retry_after", "rand", "expected"),
    [
        (0, None, 0.0, INITIAL_BACKOFF),
        (0, None, 1.0, INITIAL_BACKOFF * (1 - JITTER)),
        (1, None, 0.0, INITIAL_BACKOFF * 2),
        (3, None, 0.0, INITIAL_BACKOFF * 8),
        (10, None, 0.0, MAX_BACKOFF),
        (50, None, 0.5, MAX_BACKOFF * (1 - JITTER / 2)),
        (0, 3.0, 0.9, 3.0),  # the server's value wins, no jitter
        (0, 0.0, 0.9, 0.0),
        (5, 3600.0, 0.0, MAX_RETRY_AFTER),  # capped
    ],
)
def test_backoff_delay_table(attempt: int, retry_after: float | None, rand: float, expected: float) -> None:
    assert backoff_delay(attempt, retry_after, rand=lambda: rand) == pytest.approx(expected)


async def test_huge_retry_after_is_capped_in_the_client(fake: FakeAPI, make_client: Any) -> None:
    fake.add(
        "GET",
        "/mailboxes",
        Reply(503, json={"error": "maintenance"}, headers={"Retry-After": "86400"}),
        Reply(200, json={"mailboxes": []}),
    )
    client = make_client()
    await resolve(client.mailboxes.list())
    assert client.slept == [MAX_RETRY_AFTER]


async def test_garbage_retry_after_falls_back_to_backoff(fake: FakeAPI, make_client: Any) -> None:
    fake.add(
        "GET",
        "/mailboxes",
        Reply(503, json={"error": "x"}, headers={"Retry-After": "whenever"}),
        Reply(200, json={"mailboxes": []}),
    )
    client = make_client()
    await resolve(client.mailboxes.list())
    assert INITIAL_BACKOFF * (1 - JITTER) <= client.slept[0] <= INITIAL_BACKOFF


def test_rate_limit_without_retry_after() -> None:
    request = httpx.Request("POST", "https://api.robotomail.com/v1/mailboxes/mb_1/messages")
    err = make_status_error(
        httpx.Response(429, json={"error": "Send rate limit exceeded — slow down"}, request=request)
    )
    assert isinstance(err, am.RateLimitError) and err.retry_after is None


async def test_redirects_are_not_followed(fake: FakeAPI, make_client: Any) -> None:
    fake.add(
        "POST",
        "/mailboxes/{id}/messages",
        Reply(301, content=b"", headers={"location": "https://evil.example/v1/mailboxes/mb_1/messages"}),
    )
    fake.add("GET", "/events", Reply(302, content=b"", headers={"location": "https://login.example/"}))
    client = make_client()
    with pytest.raises(am.APIStatusError, match="not followed") as info:
        await resolve(client.messages.send("mb_1", **SEND))
    assert info.value.status_code == 301
    with pytest.raises(am.APIStatusError, match="check base_url"):
        await collect(client.events.stream())
    assert [r.url.host for r in fake.requests] == ["api.robotomail.com", "api.robotomail.com"]
