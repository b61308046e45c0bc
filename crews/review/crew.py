"""Reviews a draft: send, revise, hold for a person, or escalate."""

from __future__ import annotations

from typing import Any

from crewai import Agent, Crew, Task
from crewai.project import CrewBase, agent, crew, task

from .._crewbase import narrow_agent, one_task, sequential_crew
from .._models import ReviewResult

__all__ = ["ReviewCrew"]


@CrewBase
class ReviewCrew:
    """Reviews a draft: send, revise, hold for a person, or escalate.

    Prose lives in ``config/agents.yaml`` and ``config/tasks.yaml``; the output is a
    validated :class:`~crews.ReviewResult`.

    Example::

        result = ReviewCrew(llm).crew().kickoff(inputs=inputs).pydantic
    """

    agents_config = "config/agents.yaml"
    tasks_config = "config/tasks.yaml"

    def __init__(self, llm: Any) -> None:
        self.llm = llm

    @agent
    def review_agent(self) -> Agent:
        return narrow_agent(self.agents_config["review_agent"], self.llm)  # type: ignore[index]

    @task
    def review_task(self) -> Task:
        return one_task(self.tasks_config["review_task"], ReviewResult)  # type: ignore[index]

    @crew
    def crew(self) -> Crew:
        return sequential_crew(self)
