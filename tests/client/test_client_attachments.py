"""Attachment upload (multipart field ``file``) from bytes, a path or a file; download via
the signed URL without the API key; and ``messages.iter`` over every page."""

from __future__ import annotations

import io
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import pytest
from _client_support import FakeAPI, Reply, attachment, collect, message, resolve

import agentmail_tools as am

UPLOADED = {"id": "att_9", "filename": "report.pdf", "sizeBytes": 5}


def multipart_parts(request: Any) -> dict[str, tuple[str | None, str, bytes]]:
    """Parse a multipart/form-data body into {field: (filename, content_type, bytes)}."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    msg = BytesParser(policy=HTTP).parsebytes(head + request.content)
    parts: dict[str, tuple[str | None, str, bytes]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts[name] = (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
    return parts


@pytest.mark.parametrize("source", ["bytes", "path", "str-path", "file"])
async def test_upload_sources(source: str, tmp_path: Path, fake: FakeAPI, make_client: Any) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-")
    fake.add("POST", "/attachments", Reply(201, json=UPLOADED))
    client = make_client()
    if source == "bytes":
        result = await resolve(client.attachments.upload(b"%PDF-", filename="report.pdf"))
    elif source == "path":
        result = await resolve(client.attachments.upload(path))
    elif source == "str-path":
        result = await resolve(client.attachments.upload(str(path)))
    else:
        with path.open("rb") as fh:
            result = await resolve(client.attachments.upload(fh))
    assert isinstance(result, am.AttachmentUpload) and result.id == "att_9" and result.size_bytes == 5
    request = fake.last
    assert request.method == "POST" and request.url.path == "/v1/attachments"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = multipart_parts(request)
    assert list(parts) == ["file"]
    assert parts["file"] == ("report.pdf", "application/pdf", b"%PDF-")


async def test_upload_defaults_and_overrides(fake: FakeAPI, make_client: Any) -> None:
    fake.add("POST", "/attachments", Reply(201, json=UPLOADED))
    client = make_client()
    await resolve(client.attachments.upload(io.BytesIO(b"abc")))
    assert multipart_parts(fake.last)["file"] == ("attachment.bin", "application/octet-stream", b"abc")
    await resolve(client.attachments.upload(bytearray(b"x,y"), filename="t.csv", content_type="text/csv"))
    assert multipart_parts(fake.last)["file"] == ("t.csv", "text/csv", b"x,y")


async def test_upload_too_large_from_server(fake: FakeAPI, make_client: Any) -> None:
    fake.add("POST", "/attachments", Reply(413, json={"error": "Storage quota exceeded"}))
    with pytest.raises(am.PayloadTooLargeError, match="Storage quota"):
        await resolve(make_client().attachments.upload(b"x", filename="x.txt"))


async def test_download_fetches_signed_url_without_the_key(fake: FakeAPI, make_client: Any) -> None:
    signed = "https://files.robotomail.com/blobs/att_1?sig=abc&exp=1"
    fake.add("GET", "/attachments/{id}", Reply(json={**attachment(), "url": signed}))
    fake.add("GET", "https://files.robotomail.com/blobs/att_1", Reply(content=b"%PDF-1.7 bytes"))
    data = await resolve(make_client().attachments.download("att_1"))
    assert data == b"%PDF-1.7 bytes"
    meta_request, blob_request = fake.requests
    assert meta_request.headers["authorization"] == "Bearer rm_test_key"
    assert str(blob_request.url) == signed
    assert "authorization" not in blob_request.headers


async def test_download_relative_url_resolves_against_base(fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/attachments/{id}", Reply(json={**attachment(), "url": "/v1/sandbox/blobs/att_1?sig=x"}))
    fake.add("GET", "/sandbox/blobs/att_1", Reply(content=b"blob"))
    client = make_client(base_url="http://127.0.0.1:8025/v1")
    assert await resolve(client.attachments.download("att_1")) == b"blob"
    assert str(fake.last.url) == "http://127.0.0.1:8025/v1/sandbox/blobs/att_1?sig=x"


async def test_download_refuses_plain_http_elsewhere(fake: FakeAPI, make_client: Any) -> None:
    fake.add(
        "GET", "/attachments/{id}", Reply(json={**attachment(), "url": "http://files.example.com/att_1"})
    )
    with pytest.raises(am.MailError, match="non-https"):
        await resolve(make_client().attachments.download("att_1"))
    assert len(fake.requests) == 1


async def test_download_expired_url_maps_error(fake: FakeAPI, make_client: Any) -> None:
    fake.add(
        "GET", "/attachments/{id}", Reply(json={**attachment(), "url": "https://files.example.com/a?sig=1"})
    )
    fake.add("GET", "https://files.example.com/a", Reply(403, content=b"<Error>expired</Error>"))
    with pytest.raises(am.PermissionDeniedError):
        await resolve(make_client().attachments.download("att_1"))


# --------------------------------------------------------------------------- pagination


def _page(ids: list[str]) -> Reply:
    return Reply(json={"messages": [message(id=i) for i in ids], "metadata": {}})


async def test_iter_walks_every_page(fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/mailboxes/{id}/messages", _page(["m1", "m2"]), _page(["m3", "m4"]), _page(["m5"]))
    client = make_client()
    messages = await collect(client.messages.iter("mb_1", direction="INBOUND", page_size=2))
    assert [m.id for m in messages] == ["m1", "m2", "m3", "m4", "m5"]
    offsets = [r.url.params["offset"] for r in fake.requests]
    assert offsets == ["0", "2", "4"]
    assert all(r.url.params["limit"] == "2" and r.url.params["direction"] == "INBOUND" for r in fake.requests)


async def test_iter_stops_on_empty_page_and_dedupes_shifted_items(fake: FakeAPI, make_client: Any) -> None:
    # a new message arrived between pages: m2 shifts onto page two
    fake.add("GET", "/mailboxes/{id}/messages", _page(["m1", "m2"]), _page(["m2", "m3"]), _page([]))
    messages = await collect(make_client().messages.iter("mb_1", page_size=2))
    assert [m.id for m in messages] == ["m1", "m2", "m3"]
    assert len(fake.requests) == 3


async def test_iter_is_lazy(fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/mailboxes/{id}/messages", _page(["m1"]))
    iterator = make_client().messages.iter("mb_1")
    assert fake.requests == []
    assert [m.id for m in await collect(iterator)] == ["m1"]
    assert fake.last.url.params["limit"] == "100"


def test_page_is_iterable_and_indexable(fake: FakeAPI) -> None:
    fake.add("GET", "/mailboxes/{id}/messages", _page(["m1", "m2"]))
    with am.MailClient("rm_x", transport=fake.transport) as client:
        page = client.messages.list("mb_1")
    assert len(page) == 2 and page[1].id == "m2" and [m.id for m in page] == ["m1", "m2"]
