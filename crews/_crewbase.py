"""What the four narrow crews share: one single-agent, single-task, sequential shape.

Each crew stays a ``@CrewBase`` class with its prose in YAML (CrewAI's convention, and what
users copy); only the construction is here, so a change of agent settings is made once.
"""

from __future__ import annotations

from typing import Any

from crewai import Agent, Crew, Process, Task
from pydantic import BaseModel

__all__ = ["narrow_agent", "one_task", "sequential_crew"]


def narrow_agent(config: Any, llm: Any) -> Agent:
    """One role, no delegation, at most two tries at a valid answer, quiet."""
    return Agent(config=config, llm=llm, allow_delegation=False, max_iter=2, verbose=False)


def one_task(config: Any, output: type[BaseModel]) -> Task:
    """The crew's only task, its answer validated as ``output``."""
    return Task(config=config, output_pydantic=output)  # type: ignore[call-arg, arg-type]


def sequential_crew(owner: Any) -> Crew:
    """The crew of a ``@CrewBase`` instance (its collected agents and tasks), run in order."""
    return Crew(agents=owner.agents, tasks=owner.tasks, process=Process.sequential, verbose=False)
