"""Classifies an inbound email: intent, category, urgency, needs_reply, language."""

from __future__ import annotations

from typing import Any

from crewai import Agent, Crew, Task
from crewai.project import CrewBase, agent, crew, task

from .._crewbase import narrow_agent, one_task, sequential_crew
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
        return narrow_agent(self.agents_config["triage_agent"], self.llm)  # type: ignore[index]

    @task
    def triage_task(self) -> Task:
        return one_task(self.tasks_config["triage_task"], TriageResult)  # type: ignore[index]

    @crew
    def crew(self) -> Crew:
        return sequential_crew(self)
