"""Drafts a grounded, cited reply from the labelled context."""

from __future__ import annotations

from typing import Any

from crewai import Agent, Crew, Process, Task
from crewai.project import CrewBase, agent, crew, task

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
        return Agent(
            config=self.agents_config["reply_agent"],  # type: ignore[index]
            llm=self.llm,
            allow_delegation=False,
            max_iter=2,
            verbose=False,
        )

    @task
    def reply_task(self) -> Task:
        return Task(config=self.tasks_config["reply_task"], output_pydantic=ReplyDraft)  # type: ignore[index, call-arg, arg-type]

    @crew
    def crew(self) -> Crew:
        return Crew(
            agents=self.agents,  # type: ignore[attr-defined]
            tasks=self.tasks,  # type: ignore[attr-defined]
            process=Process.sequential,
            verbose=False,
        )
