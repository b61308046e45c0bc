"""Property-based: whatever arrives (paths, methods, ids, JSON, query strings), no 5xx, always JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from _sandbox_contract import _spec, validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmail_tools.sandbox import Sandbox, SandboxLimits

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["to", "cc", "bcc", "subject", "bodyText", "bodyHtml", "inReplyTo", "attachments", "headers", "address",
          "displayName", "domainId", "status", "url", "events", "mailboxId", "email", "reason", "name", "mailboxIds",
          "domain", "from"]  # fmt: skip
bodies = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6),
    st.binary(max_size=40),
)
ids = st.one_of(
    st.sampled_from(["MAILBOX", "missing", "..", "%2e%2e", "a b", "%00", "é"]),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#"),
        min_size=1,
        max_size=12,
    ),
)
queries = st.dictionaries(
    st.sampled_from(["limit", "offset", "direction", "threadId", "since", "q", "mailboxId", "events"]),
    st.text(max_size=12),
    max_size=3,
)


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Sandbox, str]]:
    sb = Sandbox(limits=SandboxLimits.unlimited(sse_reconnect_seconds=0.05))
    mb = sb.create_mailbox("prop")
    sb.inject({"from": "a@example.com", "to": mb["fullAddress"], "subject": "seed", "bodyText": "seed"})
    yield sb, mb["id"]
    sb.close()


@pytest.mark.slow
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    template=st.sampled_from(
        sorted(_spec()["paths"])
        + ["/mailboxes/{id}/search", "/sandbox/inbound", "/sandbox/bounces", "/nope/{id}"]
    ),
    method=st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT"]),
    path_id=ids,
    body=bodies,
    query=queries,
)
def test_no_request_produces_a_5xx(world, template, method, path_id, body, query):
    sandbox, mailbox_id = world
    segment = mailbox_id if path_id == "MAILBOX" else quote(path_id, safe="%")
    other = quote(path_id, safe="%")
    path = "/v1" + template.replace("{id}", segment).replace("{msgId}", other).replace("{tid}", other)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {sandbox.api_key}", "Content-Type": "application/json"}
    with httpx.Client(transport=sandbox.transport(), base_url="http://localhost", timeout=10) as http:
        response = http.request(method, path, params=query, content=content if method != "GET" else None,
                                headers=headers)  # fmt: skip
        text = response.read()
    assert response.status_code < 500, (method, path, query, body, text[:300])
    if response.headers.get("content-type", "").startswith("application/json"):
        parsed = json.loads(text)
        if response.status_code >= 400:
            assert isinstance(parsed.get("error"), str)
        assert validate(method, response.request.url.path, response.status_code, parsed) == []
    else:
        assert response.headers["content-type"].startswith(("text/event-stream", "application/octet-stream"))
