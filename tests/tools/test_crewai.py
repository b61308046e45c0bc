"""The same operations as CrewAI tools, through a real Crew.kickoff with a scripted LLM.

One module for everything CrewAI: importing it takes seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from .conftest import World

pytestmark = pytest.mark.crewai


def test_importing_the_tools_does_not_import_crewai() -> None:
    code = "import sys, agentmail_tools.tools; print('crewai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def _scripted_llm(steps: list[str]) -> Any:
    from crewai import BaseLLM

    class ScriptedLLM(BaseLLM):
        """Replays fixed ReAct turns and records what the agent showed it."""

        def __init__(self) -> None:
            super().__init__(model="scripted-offline")
            self._steps = list(steps)
            self.seen: list[Any] = []

        def call(
            self,
            messages: Any,
            tools: Any = None,
            callbacks: Any = None,
            available_functions: Any = None,
            from_task: Any = None,
            from_agent: Any = None,
            response_model: Any = None,
        ) -> str:
            self.seen.append(messages)
            return self._steps.pop(0)

        def supports_function_calling(self) -> bool:
            return False  # ReAct text: the model's "Action:" lines drive the tools

        def get_context_window_size(self) -> int:
            return 16000

    return ScriptedLLM()


def _action(name: str, args: dict[str, Any]) -> str:
    return f"Thought: next step\nAction: {name}\nAction Input: {json.dumps(args)}"


def _kickoff(world: World, steps: list[str], **toolkit_kwargs: Any) -> tuple[Any, Any, list[Any]]:
    from crewai import Agent, Crew, Task

    llm = _scripted_llm(steps)
    tools = world.toolkit(**toolkit_kwargs).get_crewai_tools()
    agent = Agent(
        role="Support agent",
        goal="Answer customer email",
        backstory="Careful.",
        llm=llm,
        tools=tools,
        max_iter=6,
        verbose=False,
    )
    task = Task(description="Answer the latest customer email.", expected_output="What you did.", agent=agent)
    result = Crew(agents=[agent], tasks=[task], verbose=False).kickoff()
    return result, llm, tools


def _transcript(llm: Any) -> str:
    return "\n".join(m["content"] for m in llm.seen[-1] if isinstance(m.get("content"), str))


def test_crew_reads_a_thread_and_replies_through_the_tools(world: World) -> None:
    result, llm, tools = _kickoff(
        world,
        [
            _action("read_thread", {"thread_id": world.inbound.thread_id}),
            _action("reply_to_message", {"message_id": world.inbound.id, "body": "Your order ships Friday."}),
            "Thought: I now know the final answer\nFinal Answer: Replied that the order ships Friday.",
        ],
    )
    assert result.raw == "Replied that the order ships Friday."
    transcript = _transcript(llm)
    assert "It was due Monday" in transcript  # read_thread's output reached the model
    assert "<untrusted_email" in transcript
    outbox = world.sandbox.outbox()
    assert len(outbox) == 1 and outbox[0]["subject"] == "Re: Order 42 is late"
    reply_tool = next(t for t in tools if t.name == "reply_to_message")
    assert reply_tool.last_artifact.in_reply_to == world.inbound.message_id
    # Same definitions as the LangChain tools.
    assert [t.name for t in tools] == [t.name for t in world.toolkit().get_tools()]
    assert all(
        t.args_schema is lc.args_schema for t, lc in zip(tools, world.toolkit().get_tools(), strict=True)
    )


def test_crew_sees_guard_refusals_as_errors_it_can_act_on(world: World) -> None:
    world.client.suppressions.create("ann@example.com")
    _, llm, _ = _kickoff(
        world,
        [
            _action("reply_to_message", {"message_id": world.inbound.id, "body": "hi"}),
            "Thought: I now know the final answer\nFinal Answer: Could not reply: the address is suppressed.",
        ],
    )
    assert "Error: Not sent (suppressed)" in _transcript(llm)
    assert world.sandbox.outbox() == []


async def test_crewai_tool_native_async(world: World) -> None:
    tools = world.toolkit().get_crewai_tools()
    read = next(t for t in tools if t.name == "read_thread")
    text = await read.arun(thread_id=world.inbound.thread_id)
    assert "It was due Monday" in text
    # CrewAI validates arguments against the same args_schema before our code runs.
    with pytest.raises(ValueError, match="thread_id"):
        await read.arun(thread_id="")
    assert "Error: Not found" in await read.arun(thread_id="no-such-thread")
