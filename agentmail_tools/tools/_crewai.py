"""CrewAI adapter: the same operations as CrewAI ``BaseTool`` s.

Imported only by :meth:`MailToolkit.get_crewai_tools` (CrewAI takes seconds to import and
is an optional dependency). A crew and a LangChain agent run identical operation code;
only the envelope differs: CrewAI tools return text, and an expected failure comes back
as text starting with ``"Error:"`` so the agent reads it and chooses what to do next
(raising would surface as a generic tool failure and lose the reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crewai.tools import BaseTool
from pydantic import ConfigDict, Field, ValidationError

from ._langchain import readable_validation_error
from ._operations import OPERATIONS, MailContext, MailToolError, run_async, run_sync

__all__ = ["CrewMailTool", "crewai_tools"]


class CrewMailTool(BaseTool):
    """A mail operation as a CrewAI tool. ``last_artifact`` keeps the typed result."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    operation_name: str
    context: MailContext = Field(exclude=True)
    last_artifact: Any = Field(default=None, exclude=True)

    def _run(self, **kwargs: Any) -> str:
        op = OPERATIONS[self.operation_name]
        try:
            result = run_sync(op, self.context, op.args_schema.model_validate(kwargs))
        except ValidationError as err:
            return f"Error: {readable_validation_error(err)}"
        except MailToolError as err:
            return f"Error: {err}"
        self.last_artifact = result.artifact
        return result.content

    async def _arun(self, **kwargs: Any) -> str:
        op = OPERATIONS[self.operation_name]
        try:
            result = await run_async(op, self.context, op.args_schema.model_validate(kwargs))
        except ValidationError as err:
            return f"Error: {readable_validation_error(err)}"
        except MailToolError as err:
            return f"Error: {err}"
        self.last_artifact = result.artifact
        return result.content


def crewai_tools(context: MailContext, names: Sequence[str]) -> list[CrewMailTool]:
    """Build CrewAI tools for the operations ``names`` sharing ``context``."""
    tools = []
    for name in names:
        op = OPERATIONS[name]
        tools.append(
            CrewMailTool(
                name=op.name,
                description=op.description,
                args_schema=op.args_schema,
                operation_name=op.name,
                context=context,
            )
        )
    return tools
