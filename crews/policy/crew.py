"""Decides allowed actions for what the deterministic policy rules could not settle."""

from __future__ import annotations

from typing import Any

from crewai import Agent, Crew, Process, Task
from crewai.project import CrewBase, agent, crew, task

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
        return Agent(
            config=self.agents_config["policy_agent"],  # type: ignore[index]
            llm=self.llm,
            allow_delegation=False,
            max_iter=2,
            verbose=False,
        )

    @task
    def policy_task(self) -> Task:
        return Task(config=self.tasks_config["policy_task"], output_pydantic=PolicyDecision)  # type: ignore[index, call-arg, arg-type]

    @crew
    def crew(self) -> Crew:
        return Crew(
            agents=self.agents,  # type: ignore[attr-defined]
            tasks=self.tasks,  # type: ignore[attr-defined]
            process=Process.sequential,
            verbose=False,
        )
