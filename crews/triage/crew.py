"""Classifies an inbound email: intent, category, urgency, needs_reply, language."""

from __future__ import annotations

from typing import Any

from crewai import Agent, Crew, Process, Task
from crewai.project import CrewBase, agent, crew, task

from .._models import TriageResult

__all__ = ["TriageCrew"]


@CrewBase
class TriageCrew:
    """Classifies an inbound email: intent, category, urgency, needs_reply, language.

    Prose lives in ``config/agents.yaml`` and ``config/tasks.yaml``; the output is a
    validated :class:`~crews.TriageResult`.

    Example::

        result = TriageCrew(llm).crew().kickoff(inputs=inputs).pydantic
    """

    agents_config = "config/agents.yaml"
    tasks_config = "config/tasks.yaml"

    def __init__(self, llm: Any) -> None:
        self.llm = llm

    @agent
    def triage_agent(self) -> Agent:
        return Agent(
            config=self.agents_config["triage_agent"],  # type: ignore[index]
            llm=self.llm,
            allow_delegation=False,
            max_iter=2,
            verbose=False,
        )

    @task
    def triage_task(self) -> Task:
        return Task(config=self.tasks_config["triage_task"], output_pydantic=TriageResult)  # type: ignore[index, call-arg, arg-type]

    @crew
    def crew(self) -> Crew:
        return Crew(
            agents=self.agents,  # type: ignore[attr-defined]
            tasks=self.tasks,  # type: ignore[attr-defined]
            process=Process.sequential,
            verbose=False,
        )
