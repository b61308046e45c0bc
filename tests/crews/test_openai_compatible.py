"""default_llm() against an OpenAI-compatible server on loopback: the real crewai.LLM path.

The server answers chat completions with the offline model's reasoning, so the flow can be
checked end to end through the OpenAI SDK, CrewAI's provider code and our meter, offline.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _waiting import wait_for

pytestmark = [pytest.mark.crewai, pytest.mark.integration]

crewai = pytest.importorskip("crewai")

import uvicorn  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from crews import default_llm, is_offline  # noqa: E402
from crews._llm import _KNOWN_OUTPUTS, messages_text  # noqa: E402
from crews._offline import offline_answer  # noqa: E402


def _kind(body: dict[str, Any], text: str) -> str:
    fmt = body.get("response_format") or {}
    schema = fmt.get("json_schema") or {}
    for candidate in (schema.get("name"), (schema.get("schema") or {}).get("title")):
        if candidate in _KNOWN_OUTPUTS:
            return str(candidate)
    return next(name for name in _KNOWN_OUTPUTS if f'"title": "{name}"' in text)


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def completions(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(body)
        text = messages_text(body["messages"])
        answer = json.dumps(offline_answer(_kind(body, text), text))
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": len(text) // 4,
                    "completion_tokens": len(answer) // 4,
                    "total_tokens": (len(text) + len(answer)) // 4,
                },
            }
        )


@pytest.fixture
def fake_openai() -> Iterator[tuple[str, FakeOpenAI]]:
    fake = FakeOpenAI()
    app = Starlette(routes=[Route("/v1/chat/completions", fake.completions, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started, "the fake OpenAI server to start", timeout=30)
    try:
        yield f"http://127.0.0.1:{port}/v1", fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_flow_through_an_openai_compatible_server(env: Any, fake_openai: tuple[str, FakeOpenAI]) -> None:
    base_url, fake = fake_openai
    llm = default_llm(
        {"OPENAI_BASE_URL": base_url, "OPENAI_MODEL_NAME": "local-model", "OPENAI_API_KEY": "sk-local"}
    )
    assert not is_offline(llm)
    inbound = env.deliver(
        "alice.moreno@example.com",
        "Where is my order #4417?",
        "How long does standard delivery take to the US?",
    )
    result = env.agent(llm).process(env.event(inbound))
    assert result.outcome == "replied", result.reason
    assert result.offline_model is False
    assert result.stats.llm_calls == len(fake.requests) == 3
    assert {r["model"] for r in fake.requests} == {"local-model"}
    [sent] = env.outbound()
    assert sent.thread_id == inbound.thread_id and "[doc:shipping.md#" in sent.body_text
