"""The client against the embedded sandbox served over real loopback HTTP (integration).

Unit tests pin the wire shape against the contract; this checks that the client and the
sandbox actually understand each other over sockets, including the SSE read timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import agentmail_tools as am

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from agentmail_tools.sandbox import Sandbox

    sandbox = Sandbox(None)
    srv = sandbox.serve(smtp_port=None)
    try:
        yield srv
    finally:
        srv.stop()
        sandbox.close()


def test_sync_round_trip_over_http(server: Any) -> None:
    with am.MailClient(server.api_key, server.base_url, timeout=10) as client:
        sender = client.mailboxes.create("http-sender")
        receiver = client.mailboxes.create("http-receiver")
        upload = client.attachments.upload(b"hello bytes", filename="note.txt")
        sent = client.messages.send(
            sender.id,
            to=receiver.full_address,
            subject="Over the wire",
            body_text="order 77 status?",
            attachments=[upload.id],
        )
        assert sent.status == "SENT" and sent.direction == "OUTBOUND"
        inbound = list(client.messages.iter(receiver.id, direction="INBOUND", page_size=1))
        assert [m.subject for m in inbound] == ["Over the wire"]
        full = client.messages.get(receiver.id, inbound[0].id)
        assert client.attachments.download(full.attachments[0].id) == b"hello bytes"
        thread = client.threads.get(receiver.id, full.thread_id or "")
        assert thread.messages[0].id == full.id
        assert client.messages.search(receiver.id, "order").total >= 1
        with pytest.raises(am.NotFoundError):
            client.mailboxes.get("no-such-mailbox")
        with client.events.stream(mailbox_id=receiver.id, last_event_id="0", read_timeout=10) as stream:
            first = next(iter(stream))
        assert first.event == "message.received"
        assert first.data.message_received().subject == "Over the wire"


async def test_async_stream_times_out_when_silent(server: Any) -> None:
    async with am.AsyncMailClient(server.api_key, server.base_url, timeout=10) as client:
        box = await client.mailboxes.create("http-silent")
        with pytest.raises(am.MailTimeoutError):
            async with client.events.stream(mailbox_id=box.id, read_timeout=0.5) as stream:
                async for _ in stream:
                    pass
