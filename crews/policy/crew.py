"""Decides allowed actions for what the deterministic policy rules could not settle."""

from __future__ import annotations

from typing import Any

from crewai import Agent, Crew, Task
from crewai.project import CrewBase, agent, crew, task

from .._crewbase import narrow_agent, one_task, sequential_crew
from .._models import PolicyDecision

__all__ = ["PolicyCrew"]


@CrewBase
class PolicyCrew:
    """Decides allowed actions for what the deterministic policy rules could not settle.

    Prose lives in ``config/agents.yaml`` and ``config/tasks.yaml``; the output is a
    validated :class:`~crews.PolicyDecision`.

    Example::

        result = PolicyCrew(llm).crew().kickoff(inputs=inputs).pydantic
    """

    agents_config = "config/agents.yaml"
    tasks_config = "config/tasks.yaml"

    def __init__(self, llm: Any) -> None:
        self.llm = llm

    @agent
    def policy_agent(self) -> Agent:
        return narrow_agent(self.agents_config["policy_agent"], self.llm)  # type: ignore[index]

    @task
    def policy_task(self) -> Task:
        return one_task(self.tasks_config["policy_task"], PolicyDecision)  # type: ignore[index]

    @crew
    def crew(self) -> Crew:
        return sequential_crew(self)
