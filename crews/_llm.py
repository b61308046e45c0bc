"""LLMs for the crews: the offline deterministic model, a scripted one, the default, a meter.

``default_llm()`` returns a ``crewai.LLM`` for any OpenAI-compatible server when the
environment names one (``OPENAI_API_KEY``, ``OPENAI_MODEL_NAME``, ``OPENAI_BASE_URL``), else
:class:`OfflineLLM`, which says plainly in the log that it is the offline model.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from crewai import BaseLLM
from pydantic import BaseModel, Field, PrivateAttr

from ._models import RunStats
from ._offline import offline_answer
from ._tokens import count_tokens

__all__ = [
    "OFFLINE_MODEL_NAME",
    "MeteredLLM",
    "OfflineLLM",
    "ScriptedLLM",
    "default_llm",
    "is_offline",
    "messages_text",
]

logger = logging.getLogger("crews")
OFFLINE_MODEL_NAME = "agentmail-offline-v1"
_announced = False  # the first offline model of the process is announced as a warning
_KNOWN_OUTPUTS = ("TriageResult", "PolicyDecision", "ReplyDraft", "ReviewResult")


def messages_text(messages: str | Sequence[Any]) -> str:
    """All message contents joined: what the model is shown."""
    if isinstance(messages, str):
        return messages
    parts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else getattr(message, "content", "")
        if isinstance(content, list):  # multimodal blocks
            content = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
        parts.append(str(content or ""))
    return "\n".join(parts)


def _output_kind(text: str, response_model: type[BaseModel] | None) -> str:
    if response_model is not None:
        return response_model.__name__
    # CrewAI puts the output schema (with its title) in the prompt when no native structured output.
    for name in _KNOWN_OUTPUTS:
        if f'"title": "{name}"' in text:
            return name
    msg = "the offline model could not tell which crew task this prompt is for"
    raise ValueError(msg)


class OfflineLLM(BaseLLM):
    """A deterministic, offline model for the four crews (no network, no weights).

    It goes through CrewAI's real execution path (``Crew.kickoff`` → agent executor →
    ``call``) and answers from the prompt alone: rule-based triage from headers and the
    mailbox's category hints, extractive replies from the labelled sources with their ids
    cited, a checklist review. Every answer is JSON valid for the task's pydantic output.

    Example::

        llm = OfflineLLM()
        TriageCrew(llm).crew().kickoff(inputs=inputs).pydantic
    """

    model: str = OFFLINE_MODEL_NAME
    llm_type: str = "offline"
    provider: str = "offline"
    is_offline: bool = Field(default=True, description="Always true: lets callers say so in their output.")

    def __init__(self, **data: Any) -> None:
        data.setdefault("model", OFFLINE_MODEL_NAME)
        super().__init__(**data)

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        global _announced
        log = logger.info if _announced else logger.warning
        _announced = True
        log(
            "crews is using the OFFLINE deterministic model (%s): rule-based triage and extractive "
            "replies, no LLM. Set OPENAI_API_KEY (and OPENAI_MODEL_NAME / OPENAI_BASE_URL) to use a real model.",
            self.model,
        )

    def call(
        self,
        messages: str | list[Any],
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None,
        from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> str:
        text = messages_text(messages)
        answer = json.dumps(offline_answer(_output_kind(text, response_model), text), ensure_ascii=False)
        prompt_tokens, completion_tokens = count_tokens(text), count_tokens(answer)
        self._track_token_usage_internal(
            {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        )
        return answer

    def supports_function_calling(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return 32_000

    def get_input_tokens_count(self, messages: Any, tools: Any = None, response_model: Any = None) -> int:
        return count_tokens(messages_text(messages))


class ScriptedLLM(BaseLLM):
    """Returns the given responses in order (strings, dicts, pydantic models, or callables
    taking the prompt text and returning one of those): for tests.

    ``prompts`` records what each call was shown, so a test can assert on the prompt.
    Running out of responses raises, which makes a test fail loudly on an extra call.
    """

    model: str = "scripted"
    provider: str = "scripted"
    responses: list[Any] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _prompts: list[str] = PrivateAttr(default_factory=list)

    def __init__(self, responses: Sequence[Any] = (), **data: Any) -> None:
        data.setdefault("model", "scripted")
        super().__init__(responses=list(responses), **data)  # type: ignore[call-arg]  # pydantic field

    @property
    def prompts(self) -> list[str]:
        return list(self._prompts)

    def call(
        self,
        messages: str | list[Any],
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None,
        from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> str:
        with self._lock:
            self._prompts.append(messages_text(messages))
            if not self.responses:
                msg = f"ScriptedLLM ran out of responses after {len(self._prompts) - 1} calls"
                raise RuntimeError(msg)
            item = self.responses.pop(0)
        if callable(item):  # a function of the prompt, for answers that depend on retrieval
            item = item(self._prompts[-1])
        if isinstance(item, BaseModel):
            return item.model_dump_json()
        if isinstance(item, dict):
            return json.dumps(item)
        return str(item)

    def supports_function_calling(self) -> bool:
        return False

    def get_input_tokens_count(self, messages: Any, tools: Any = None, response_model: Any = None) -> int:
        return count_tokens(messages_text(messages))


class MeteredLLM(BaseLLM):
    """Wraps any CrewAI LLM and counts calls and prompt tokens into one run's :class:`RunStats`.

    One wrapper per flow run, so concurrent runs sharing a model keep separate figures.
    Prompt tokens are counted on the text sent, with the library's offline counter.
    """

    model: str = "metered"
    inner: Any = None
    stats: RunStats = Field(default_factory=RunStats)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def wrap(cls, llm: Any, stats: RunStats) -> MeteredLLM:
        return cls(model=str(getattr(llm, "model", "llm") or "llm"), inner=llm, stats=stats)

    def call(
        self,
        messages: str | list[Any],
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None,
        from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> Any:
        from crewai.llms.base_llm import call_stop_override

        with self._lock:
            self.stats.llm_calls += 1
            self.stats.prompt_tokens += count_tokens(messages_text(messages))
        with call_stop_override(self.inner, list(self.stop_sequences) or None):
            answer = self.inner.call(
                messages,
                tools=tools,
                callbacks=callbacks,
                available_functions=available_functions,
                from_task=from_task,
                from_agent=from_agent,
                response_model=response_model,
            )
        if isinstance(answer, str):
            with self._lock:
                self.stats.completion_tokens += count_tokens(answer)
        return answer

    def supports_function_calling(self) -> bool:
        return bool(self.inner.supports_function_calling())

    def supports_stop_words(self) -> bool:
        return bool(self.inner.supports_stop_words())

    def get_context_window_size(self) -> int:
        return int(self.inner.get_context_window_size())

    def get_input_tokens_count(self, messages: Any, tools: Any = None, response_model: Any = None) -> int:
        return count_tokens(messages_text(messages))


def is_offline(llm: Any) -> bool:
    """True when ``llm`` (or the model a :class:`MeteredLLM` wraps) is the offline model."""
    inner = getattr(llm, "inner", None)
    return bool(getattr(inner if inner is not None else llm, "is_offline", False))


def default_llm(env: dict[str, str] | None = None) -> BaseLLM:
    """The model from the environment, else :class:`OfflineLLM`.

    ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` (any OpenAI-compatible server, local ones
    included) selects ``crewai.LLM(model=OPENAI_MODEL_NAME or "gpt-4o-mini", ...)``.
    """
    env = dict(os.environ if env is None else env)
    key, base_url = env.get("OPENAI_API_KEY"), env.get("OPENAI_BASE_URL") or env.get("OPENAI_API_BASE")
    if not key and not base_url:
        return OfflineLLM()
    from crewai import LLM

    model = env.get("OPENAI_MODEL_NAME") or "gpt-4o-mini"
    logger.info("crews is using %s%s", model, f" at {base_url}" if base_url else "")
    kwargs: dict[str, Any] = {"model": model, "temperature": 0.0}
    if base_url:
        kwargs["base_url"] = base_url
    # Local OpenAI-compatible servers often need no key; the SDK still wants a value.
    kwargs["api_key"] = key or "not-needed"
    return LLM(**kwargs)
