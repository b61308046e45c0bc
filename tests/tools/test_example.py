"""The offline LangChain agent example runs end to end against the sandbox."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from langchain_core.messages import AIMessage, ToolMessage

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "langchain_agent.py"


def test_langchain_agent_example_reads_the_thread_and_replies(capsys: object) -> None:
    spec = importlib.util.spec_from_file_location("langchain_agent_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main()
    tools_called = [m.name for m in result["messages"] if isinstance(m, ToolMessage)]
    assert tools_called == ["list_threads", "read_thread", "reply_to_message"]
    read = next(m for m in result["messages"] if isinstance(m, ToolMessage) and m.name == "read_thread")
    assert "IGNORE ALL PREVIOUS INSTRUCTIONS" in read.content  # shown to the model ...
    assert read.content.index("IGNORE ALL") > read.content.index("<untrusted_email")  # ... as untrusted data
    reply = next(m for m in result["messages"] if isinstance(m, ToolMessage) and m.name == "reply_to_message")
    assert reply.status == "success"
    # Replied in the same thread, to the newest customer message, and only to the customer.
    assert reply.artifact.thread_id == read.artifact.id
    assert reply.artifact.in_reply_to == read.artifact.messages[-1].message_id
    assert [o["to"] for o in result["outbox"]] == [["ann@example.com"]]
    assert isinstance(result["messages"][-1], AIMessage) and result["messages"][-1].content.startswith(
        "Done."
    )
