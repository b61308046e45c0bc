"""Drafts a grounded, cited reply from the labelled context."""

from __future__ import annotations

from typing import Any

from crewai import Agent, Crew, Task
from crewai.project import CrewBase, agent, crew, task

from .._crewbase import narrow_agent, one_task, sequential_crew
from .._models import ReplyDraft

__all__ = ["ReplyCrew"]


@CrewBase
class ReplyCrew:
    """Drafts a grounded, cited reply from the labelled context.

    Prose lives in ``config/agents.yaml`` and ``config/tasks.yaml``; the output is a
    validated :class:`~crews.ReplyDraft`.

    Example::

        result = ReplyCrew(llm).crew().kickoff(inputs=inputs).pydantic
    """

    agents_config = "config/agents.yaml"
    tasks_config = "config/tasks.yaml"

    def __init__(self, llm: Any) -> None:
        self.llm = llm

    @agent
    def reply_agent(self) -> Agent:
        return narrow_agent(self.agents_config["reply_agent"], self.llm)  # type: ignore[index]

    @task
    def reply_task(self) -> Task:
        return one_task(self.tasks_config["reply_task"], ReplyDraft)  # type: ignore[index]

    @crew
    def crew(self) -> Crew:
        return sequential_crew(self)
