"""Bad input is refused before anything is sent, with an error that names the problem."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _client_support import FakeAPI, resolve

import agentmail_tools as am

OK_SEND = {"to": "ann@example.com", "subject": "Hi", "body_text": "Hello"}


def _send(**over: Any) -> Any:
    kwargs = {**OK_SEND, **over}
    return lambda c: c.messages.send("mb_1", **kwargs)


BAD_CALLS = [
    ("empty id", lambda c: c.mailboxes.get(""), "non-empty"),
    ("blank id", lambda c: c.mailboxes.get("  "), "non-empty"),
    ("dot id", lambda c: c.mailboxes.get("."), "non-empty"),
    ("dotdot id", lambda c: c.messages.get("mb_1", ".."), "non-empty"),
    ("control char id", lambda c: c.threads.get("mb_1", "thr\n1"), "control"),
    ("non-str id", lambda c: c.webhooks.get(42), "must be a string"),
    ("dotdot mailbox on send", lambda c: c.messages.send("..", **OK_SEND), "non-empty"),
    ("CR in subject", _send(subject="Hi\r\nBcc: all@example.com"), "subject"),
    ("LF in subject", _send(subject="Hi\nthere"), "subject"),
    ("empty subject", _send(subject=""), "subject"),
    ("long subject", _send(subject="x" * 999), "subject"),
    ("empty body", _send(body_text=""), "body_text"),
    ("CRLF in in_reply_to", _send(in_reply_to="<a@b>\r\nX-Evil: 1"), "in_reply_to"),
    ("CRLF in header value", _send(headers={"X-Custom-A": "1\r\nBcc: x@y.z"}), "headers"),
    ("bad header name", _send(headers={"X Custom": "1"}), "header name"),
    ("colon header name", _send(headers={"X-A:": "1"}), "header name"),
    ("51 recipients", _send(to=[f"u{i}@example.com" for i in range(51)]), "at most 50"),
    ("51 cc", _send(cc=[f"u{i}@example.com" for i in range(51)]), "at most 50"),
    ("51 bcc", _send(bcc=[f"u{i}@example.com" for i in range(51)]), "at most 50"),
    ("no recipients", _send(to=[]), "at least one"),
    ("invalid to", _send(to="not-an-address"), "not a valid email"),
    ("comma list as one string", _send(to="a@example.com, b@example.com"), "not a valid email"),
    ("invalid cc", _send(cc=["ok@example.com", "bad@"]), "not a valid email"),
    ("CRLF in address", _send(to="ann@example.com\r\nBcc: x@y.z"), "CR, LF"),
    ("11 attachments", _send(attachments=[f"att_{i}" for i in range(11)]), "at most 10"),
    ("dotdot attachment id", _send(attachments=[".."]), "non-empty"),
    ("limit 0", lambda c: c.messages.list("mb_1", limit=0), "limit"),
    ("limit 101", lambda c: c.messages.list("mb_1", limit=101), "limit"),
    ("negative offset", lambda c: c.messages.list("mb_1", offset=-1), "offset"),
    ("bool limit", lambda c: c.messages.list("mb_1", limit=True), "limit"),
    ("bad direction", lambda c: c.messages.list("mb_1", direction="sideways"), "direction"),
    ("page_size 0", lambda c: c.messages.iter("mb_1", page_size=0), "limit"),
    ("empty search", lambda c: c.messages.search("mb_1", " "), "query"),
    ("mailbox full address", lambda c: c.mailboxes.create("support@example.com"), "local part"),
    ("mailbox too long", lambda c: c.mailboxes.create("a" * 65), "at most 64"),
    ("display name CRLF", lambda c: c.mailboxes.create("support", display_name="A\r\nB"), "display_name"),
    ("webhook no events", lambda c: c.webhooks.create("https://x.example/h", events=[]), "at least one"),
    (
        "webhook bad url",
        lambda c: c.webhooks.create("ftp://x.example/h", events=["message.received"]),
        "http",
    ),
    ("webhook relative url", lambda c: c.webhooks.create("/hook", events=["message.received"]), "http"),
    ("suppression bad email", lambda c: c.suppressions.create("nobody"), "not a valid email"),
    ("domain with scheme", lambda c: c.domains.create("https://example.com"), "bare domain"),
    ("last_event_id CRLF", lambda c: c.events.stream(last_event_id="1\r\nX: y"), "last_event_id"),
    ("upload missing path", lambda c: c.attachments.upload("/nonexistent/file.pdf"), "no such file"),
    ("upload text file object", lambda c: c.attachments.upload(__import__("io").StringIO("x")), "binary"),
    ("upload quoted filename", lambda c: c.attachments.upload(b"x", filename='a".txt'), "quotes"),
    ("upload CRLF filename", lambda c: c.attachments.upload(b"x", filename="a\r\n.txt"), "filename"),
]


@pytest.mark.parametrize(
    ("call", "match"), [(c, m) for _, c, m in BAD_CALLS], ids=[n for n, _, _ in BAD_CALLS]
)
async def test_bad_input_is_refused_before_sending(
    call: Any, match: str, fake: FakeAPI, make_client: Any
) -> None:
    client = make_client()
    with pytest.raises(am.InvalidRequestError, match=match):
        await resolve(call(client))
    assert fake.requests == []


def test_upload_over_25_mb_is_refused(fake: FakeAPI, tmp_path: Any) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        fh.truncate(25 * 1024 * 1024 + 1)  # sparse: no 25 MB write
    with am.MailClient("rm_x", transport=fake.transport) as client:
        with pytest.raises(am.InvalidRequestError, match="limited"):
            client.attachments.upload(big)
    assert fake.requests == []


def test_exactly_50_recipients_is_fine(fake: FakeAPI) -> None:
    from _client_support import message

    fake.add("POST", "/mailboxes/{id}/messages", 201, json={"message": message()})
    with am.MailClient("rm_x", transport=fake.transport) as client:
        client.messages.send("mb_1", to=[f"u{i}@example.com" for i in range(50)], subject="s", body_text="b")
    assert len(fake.requests) == 1


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.robotomail.com/v1",
        "https://api.robotomail.com/v1/",
        "http://127.0.0.1:8025/v1",
        "http://127.1.2.3/v1",
        "http://[::1]:8025/v1",
        "http://localhost:8025/v1",
        "http://sandbox.localhost/v1",
    ],
)
def test_accepted_base_urls(base_url: str) -> None:
    client = am.MailClient("rm_x", base_url)
    assert client.base_url == base_url.rstrip("/")
    client.close()


@pytest.mark.parametrize(
    ("base_url", "match"),
    [
        ("http://api.robotomail.com/v1", "plain http"),
        ("http://10.0.0.5/v1", "plain http"),
        ("http://localhost.evil.com/v1", "plain http"),
        ("https://user:pw@api.robotomail.com/v1", "credentials"),
        ("https://api.robotomail.com/v1?key=1", "query"),
        ("https://api.robotomail.com/v1#frag", "fragment"),
        ("ftp://api.robotomail.com/v1", "https"),
        ("api.robotomail.com/v1", "https"),
        ("https:///v1", "https"),
    ],
)
def test_refused_base_urls(base_url: str, match: str) -> None:
    with pytest.raises(am.InvalidRequestError, match=match):
        am.MailClient("rm_x", base_url)
    with pytest.raises(am.InvalidRequestError, match=match):
        am.AsyncMailClient("rm_x", base_url)


def test_base_url_and_key_from_environment(monkeypatch: pytest.MonkeyPatch, fake: FakeAPI) -> None:
    monkeypatch.setenv("ROBOTOMAIL_API_KEY", "rm_env")
    monkeypatch.setenv("ROBOTOMAIL_BASE_URL", "http://127.0.0.1:9/v2")
    fake.add("GET", "/v2/mailboxes", json={"mailboxes": []}, check_contract=False)
    with am.MailClient(transport=fake.transport) as client:
        assert client.base_url == "http://127.0.0.1:9/v2"
        client.mailboxes.list()
    assert fake.last.headers["authorization"] == "Bearer rm_env"


def test_default_base_url() -> None:
    with am.MailClient("rm_x") as client:
        assert client.base_url == "https://api.robotomail.com/v1"


def test_missing_key_for_hosted_api_is_refused() -> None:
    with pytest.raises(am.InvalidRequestError, match="ROBOTOMAIL_API_KEY"):
        am.MailClient()


def test_no_key_allowed_for_loopback_and_sends_no_authorization(fake: FakeAPI) -> None:
    fake.add("GET", "/mailboxes", json={"mailboxes": []})
    with am.MailClient(base_url="http://127.0.0.1:1/v1", transport=fake.transport) as client:
        client.mailboxes.list()
    assert "authorization" not in fake.last.headers


@pytest.mark.parametrize("key", ["", "  ", "rm_x\r\nX: y"])
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(am.InvalidRequestError, match="api_key"):
        am.MailClient(key)


def test_repr_does_not_leak_the_key() -> None:
    with am.MailClient("rm_secret_value") as client:
        assert "rm_secret_value" not in repr(client)


def test_sync_client_refuses_async_transport() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never called
        pass

    with pytest.raises(TypeError, match="async-only"):
        am.MailClient("rm_x", transport=httpx.ASGITransport(app=app))


def test_async_client_accepts_asgi_transport() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never called
        pass

    am.AsyncMailClient("rm_x", "http://localhost/v1", transport=httpx.ASGITransport(app=app))


def test_transport_and_http_client_are_exclusive(fake: FakeAPI) -> None:
    with httpx.Client(transport=fake.transport) as http:
        with pytest.raises(am.InvalidRequestError, match="not both"):
            am.MailClient("rm_x", transport=fake.transport, http_client=http)


@pytest.mark.parametrize("max_retries", [-1, 1.5, True, "2"])
def test_bad_max_retries(max_retries: Any) -> None:
    with pytest.raises(am.InvalidRequestError, match="max_retries"):
        am.MailClient("rm_x", max_retries=max_retries)


def test_caller_owned_http_client_is_used_and_not_closed(fake: FakeAPI) -> None:
    fake.add("GET", "/mailboxes", json={"mailboxes": []})
    http = httpx.Client(transport=fake.transport)
    with am.MailClient("rm_x", http_client=http) as client:
        client.mailboxes.list()
    assert not http.is_closed
    http.close()


async def test_async_caller_owned_http_client(fake: FakeAPI) -> None:
    fake.add("GET", "/mailboxes", json={"mailboxes": []})
    http = httpx.AsyncClient(transport=fake.transport)
    async with am.AsyncMailClient("rm_x", http_client=http) as client:
        assert await client.mailboxes.list() == []
    assert not http.is_closed
    await http.aclose()


def test_owned_client_is_closed() -> None:
    client = am.MailClient("rm_x")
    client.close()
    assert client._http.is_closed
