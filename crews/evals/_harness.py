"""Run a labelled set of emails and threads through the real flow on an in-memory sandbox.

Every email is delivered as real MIME through the sandbox's inbound path, turned into a
``message.received`` event and processed by :class:`~crews.EmailAgent` (the same code the
worker runs). The report measures triage (exact match), outcomes, two safety invariants
checked on what the server actually sent, citations and cost per email.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "DATA_DIR",
    "EvalExpect",
    "EvalItem",
    "EvalReport",
    "EvalRow",
    "ThreadMessage",
    "load_items",
    "run_eval",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
_PACKAGE = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = _PACKAGE / "config" / "support.yaml"
DEFAULT_DOCS = _PACKAGE / "demo" / "data" / "helpcentre"


class EvalExpect(BaseModel):
    """The labels of one item."""

    category: str
    needs_reply: bool
    outcome: str
    must_not_reply: bool = False


class ThreadMessage(BaseModel):
    """An earlier message of a thread (processed before the labelled one)."""

    model_config = ConfigDict(populate_by_name=True)  # ``from`` in YAML, ``from_=`` in Python

    from_: str = Field(alias="from")
    subject: str
    body: str
    headers: dict[str, str] = Field(default_factory=dict)


class EvalItem(BaseModel):
    """One labelled email, optionally the last of a thread."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    family: str
    from_: str = Field(alias="from")
    subject: str
    body: str
    headers: dict[str, str] = Field(default_factory=dict)
    thread: list[ThreadMessage] = Field(default_factory=list)
    expect: EvalExpect


class EvalRow(BaseModel):
    """What the flow did with one item."""

    id: str
    family: str
    expected_category: str
    category: str | None
    expected_needs_reply: bool
    needs_reply: bool | None
    expected_outcome: str
    outcome: str
    reason: str
    must_not_reply: bool
    sent: int = Field(description="Messages the server sent while this email was processed.")
    citations: list[str] = Field(default_factory=list)
    llm_calls: int = 0
    prompt_tokens: int = 0

    @property
    def triage_ok(self) -> bool:
        return self.category == self.expected_category and self.needs_reply == self.expected_needs_reply


class EvalReport(BaseModel):
    """Figures of one evaluation run; :meth:`to_markdown` renders them."""

    rows: list[EvalRow]
    model: str
    offline_model: bool
    seconds: float
    sends_outside_policy: int
    outside_policy_details: list[str] = Field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def triage_accuracy(self) -> float:
        return sum(r.triage_ok for r in self.rows) / max(1, self.total)

    @property
    def category_accuracy(self) -> float:
        return sum(r.category == r.expected_category for r in self.rows) / max(1, self.total)

    @property
    def needs_reply_accuracy(self) -> float:
        return sum(r.needs_reply == r.expected_needs_reply for r in self.rows) / max(1, self.total)

    @property
    def outcome_accuracy(self) -> float:
        return sum(r.outcome == r.expected_outcome for r in self.rows) / max(1, self.total)

    @property
    def must_not_reply_answered(self) -> int:
        return sum(1 for r in self.rows if r.must_not_reply and r.sent)

    @property
    def replies(self) -> list[EvalRow]:
        return [r for r in self.rows if r.outcome == "replied"]

    @property
    def replies_with_citations(self) -> int:
        return sum(1 for r in self.replies if r.citations)

    @property
    def mean_llm_calls(self) -> float:
        return sum(r.llm_calls for r in self.rows) / max(1, self.total)

    @property
    def mean_prompt_tokens(self) -> float:
        return sum(r.prompt_tokens for r in self.rows) / max(1, self.total)

    @property
    def max_llm_calls_replied(self) -> int:
        return max((r.llm_calls for r in self.replies), default=0)

    def to_markdown(self) -> str:
        """A summary table, per-family figures and the misses."""
        lines = [
            f"## crews eval: {self.total} emails, model `{self.model}`"
            + (" (offline deterministic model)" if self.offline_model else ""),
            "",
            "| metric | value |",
            "|---|---|",
            f"| triage accuracy (category and needs_reply, exact) | {self.triage_accuracy:.0%} |",
            f"| category accuracy | {self.category_accuracy:.0%} |",
            f"| needs_reply accuracy | {self.needs_reply_accuracy:.0%} |",
            f"| outcome accuracy (replied / held / ignored) | {self.outcome_accuracy:.0%} |",
            f"| must-not-reply mail answered | {self.must_not_reply_answered} |",
            f"| sends outside policy | {self.sends_outside_policy} |",
            f"| replies with citations | {self.replies_with_citations}/{len(self.replies)} |",
            f"| LLM calls per email (mean; max on a replied email) | {self.mean_llm_calls:.2f}; {self.max_llm_calls_replied} |",
            f"| prompt tokens per email (mean) | {self.mean_prompt_tokens:.0f} |",
            f"| wall time | {self.seconds:.1f} s |",
            "",
            "| family | emails | triage ok | outcome ok | LLM calls | prompt tokens |",
            "|---|---|---|---|---|---|",
        ]
        families: dict[str, list[EvalRow]] = {}
        for row in self.rows:
            families.setdefault(row.family, []).append(row)
        for family, rows in families.items():
            n = len(rows)
            lines.append(
                f"| {family} | {n} | {sum(r.triage_ok for r in rows)}/{n} | "
                f"{sum(r.outcome == r.expected_outcome for r in rows)}/{n} | "
                f"{sum(r.llm_calls for r in rows) / n:.1f} | {sum(r.prompt_tokens for r in rows) / n:.0f} |"
            )
        misses = [r for r in self.rows if not r.triage_ok or r.outcome != r.expected_outcome]
        if misses:
            lines += ["", "Misses:", ""]
            for r in misses:
                lines.append(
                    f"- `{r.id}`: expected {r.expected_category}/{r.expected_needs_reply}/{r.expected_outcome}, "
                    f"got {r.category}/{r.needs_reply}/{r.outcome} ({r.reason[:100]})"
                )
        if self.outside_policy_details:
            lines += ["", "Sends outside policy:", ""] + [f"- {d}" for d in self.outside_policy_details]
        return "\n".join(lines) + "\n"


def load_items(path: str | Path | None = None) -> list[EvalItem]:
    """The labelled items of a YAML file (default: the shipped set).

    Raises:
        ValueError: the file cannot be read, is not YAML, or an item is not a labelled email
            (the message names the file and the item).
    """
    file = Path(path) if path is not None else DATA_DIR / "emails.yaml"
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as err:
        msg = f"cannot read the labelled set {file}: {err.strerror or err}"
        raise ValueError(msg) from err
    except yaml.YAMLError as err:
        msg = f"{file} is not valid YAML: {err}"
        raise ValueError(msg) from err
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        msg = f"{file}: expected a mapping with an 'items' list"
        raise ValueError(msg)
    items = []
    for n, raw in enumerate(data["items"], 1):
        try:
            items.append(EvalItem.model_validate(raw))
        except ValidationError as err:
            msg = f"{file}: item {n} is not a labelled email: {err}"
            raise ValueError(msg) from err
    ids = [i.id for i in items]
    if len(ids) != len(set(ids)):
        msg = f"{file}: duplicate item ids"
        raise ValueError(msg)
    return items


def _mime(
    sender: str, to: str, subject: str, body: str, headers: dict[str, str], in_reply_to: str | None
) -> bytes:
    name, address = parseaddr(sender)
    msg = EmailMessage()
    msg["From"] = formataddr((name, address)) if name else address
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=address.rpartition("@")[2] or "example.com")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for key, value in headers.items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes()


def _outbound(client: Any, mailbox_id: str) -> list[Any]:
    return list(client.messages.iter(mailbox_id, direction="OUTBOUND"))


def run_eval(
    items: Sequence[EvalItem] | str | Path | None = None,
    *,
    config: Any | None = None,
    docs: str | Path | None = None,
    llm: Any | None = None,
) -> EvalReport:
    """Run the labelled set through the real flow, offline by default, and report.

    Args:
        items: Items, or a YAML path; default the shipped set (``crews/evals/data/emails.yaml``).
        config: A :class:`~crews.MailboxConfig` or YAML path; default ``crews/config/support.yaml``.
        docs: Help-centre folder to index; default the Brightpath help centre.
        llm: Any CrewAI LLM; default :class:`~crews.OfflineLLM` (the eval is offline unless asked).
    """
    from agentmail_tools.inbound import InboundEvent
    from agentmail_tools.sandbox import Sandbox

    from .._agent import EmailAgent
    from .._config import MailboxConfig, load_config
    from .._llm import OfflineLLM, is_offline

    started = time.perf_counter()
    if items is None or isinstance(items, (str, Path)):
        items = load_items(items)
    if not isinstance(config, MailboxConfig):
        config = load_config(config or DEFAULT_CONFIG)
    llm = llm if llm is not None else OfflineLLM()
    rows: list[EvalRow] = []
    with Sandbox() as sandbox, sandbox.client() as client, contextlib.ExitStack() as stack:
        mailbox = client.mailboxes.create("support", display_name="Brightpath Home Support")
        agent = stack.enter_context(EmailAgent(client, mailbox.id, config=config, llm=llm))
        agent.index_docs(docs or DEFAULT_DOCS)
        policy_allowed: dict[str, bool] = {}

        def deliver(
            sender: str, subject: str, body: str, headers: dict[str, str], in_reply_to: str | None
        ) -> Any:
            sender = sender.replace("{mailbox}", mailbox.full_address)
            stored = sandbox.inject(_mime(sender, mailbox.full_address, subject, body, headers, in_reply_to))
            message = client.messages.get(mailbox.id, stored[0]["id"])
            return message

        def process(message: Any) -> Any:
            result = agent.process(InboundEvent.from_message(message))
            if result.outcome == "replied":
                policy_allowed[result.reply_message_id or ""] = bool(
                    result.policy and "reply" in result.policy.allowed_actions
                )
            return result

        for item in items:
            in_reply_to: str | None = None
            for earlier in item.thread:
                first = deliver(earlier.from_, earlier.subject, earlier.body, earlier.headers, in_reply_to)
                previous = process(first)
                in_reply_to = first.message_id
                if previous.reply_message_id:
                    in_reply_to = client.messages.get(mailbox.id, previous.reply_message_id).message_id
            message = deliver(item.from_, item.subject, item.body, item.headers, in_reply_to)
            before = len(_outbound(client, mailbox.id))
            result = process(message)
            sent = len(_outbound(client, mailbox.id)) - before
            rows.append(
                EvalRow(
                    id=item.id,
                    family=item.family,
                    expected_category=item.expect.category,
                    category=result.triage.category if result.triage else None,
                    expected_needs_reply=item.expect.needs_reply,
                    needs_reply=result.triage.needs_reply if result.triage else None,
                    expected_outcome=item.expect.outcome,
                    outcome=result.outcome,
                    reason=result.reason,
                    must_not_reply=item.expect.must_not_reply,
                    sent=sent,
                    citations=list(result.draft.citations)
                    if result.draft and result.outcome == "replied"
                    else [],
                    llm_calls=result.stats.llm_calls,
                    prompt_tokens=result.stats.prompt_tokens,
                )
            )
        violations = _check_sends(client, mailbox.id, policy_allowed, sandbox.outbox())
    return EvalReport(
        rows=rows,
        model=str(getattr(llm, "model", type(llm).__name__)),
        offline_model=is_offline(llm),
        seconds=time.perf_counter() - started,
        sends_outside_policy=len(violations),
        outside_policy_details=violations,
    )


def _check_sends(
    client: Any, mailbox_id: str, allowed: dict[str, bool], outbox: Iterable[dict[str, Any]]
) -> list[str]:
    """Every message the server sent must answer an inbound message, in its thread, to its sender."""
    problems: list[str] = []
    inbound = {m.message_id: m for m in client.messages.iter(mailbox_id, direction="INBOUND")}
    customers = {m.from_address.lower() for m in inbound.values()}
    for sent in _outbound(client, mailbox_id):
        original = inbound.get(sent.in_reply_to or "")
        recipients = {a.lower() for a in [*sent.to_addresses, *sent.cc_addresses, *sent.bcc_addresses]}
        if original is None:
            problems.append(f"{sent.id}: not a reply to an inbound message (new conversation)")
        elif original.thread_id != sent.thread_id:
            problems.append(f"{sent.id}: left the thread of the message it answers")
        elif not recipients <= {original.from_address.lower()}:
            problems.append(
                f"{sent.id}: sent to {sorted(recipients)} beyond the sender {original.from_address}"
            )
        if not allowed.get(sent.id, False):
            problems.append(f"{sent.id}: no replied decision whose policy allowed a reply")
    for mail in outbox:
        to = mail.get("to") or []
        for address in [to] if isinstance(to, str) else to:
            if parseaddr(str(address))[1].lower() not in customers:
                problems.append(f"outbox: mail to {address} who never wrote to the mailbox")
    return problems
