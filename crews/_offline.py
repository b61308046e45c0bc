"""The offline model's reasoning: rule-based triage, extractive cited replies, a checklist review.

Pure functions over the prompt text CrewAI sends, so the offline model answers from what
a real model would see (the task prose and the labelled blocks), and nothing else.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ._prompts import EMAIL_END, EMAIL_START, Source, extract_block, parse_sources

__all__ = ["offline_answer", "offline_policy", "offline_reply", "offline_review", "offline_triage"]

_WORD_RE = re.compile(r"[a-z0-9$€£]+(?:[.'][a-z0-9]+)*")
_STOPWORDS = frozenset(
    """a an the and or but if then so to of in on at by for from with about as is are was were be been
    being it its this that these those i me my we our you your he she they them their his her do does
    did done have has had having can could would should will shall may might must not no yes hi hello
    dear thanks thank please regards best just also any some all what which who whom when where why how
    there here than too very more most much many get got into out up down over again only own same
    other such both each few now re fwd am pm im ive dont cant wont whats hey ok okay would like know""".split()
)
_LANG_WORDS = {
    "fr": {"bonjour", "merci", "je", "vous", "est", "mon", "ma", "pour", "avec", "une", "pas", "commande"},
    "es": {"hola", "gracias", "mi", "por", "favor", "pedido", "para", "una", "que", "con", "está", "cuando"},
    "de": {"hallo", "danke", "ich", "bitte", "meine", "mein", "nicht", "und", "ist", "bestellung", "wann"},
    "en": {"the", "and", "is", "my", "you", "for", "with", "what", "how", "when", "thanks", "please", "i"},
}
_URGENT_RE = re.compile(
    r"\b(urgent|asap|immediately|right now|today|chargeback|lawyer|legal|outage|hacked|stolen|"
    r"breach|emergency|refund now)\b|!!",
    re.IGNORECASE,
)
_CLOSING_RE = re.compile(r"\b(thanks|thank you|cheers|that worked|works now|solved|perfect|great)\b", re.I)
_BOUNCE_SENDER_RE = re.compile(r"^(mailer-daemon|postmaster|bounces?)([+@]|$)", re.IGNORECASE)


# A few equivalences customers and help centres use for the same thing.
_SYNONYMS = {
    "yearly": "year",
    "annual": "year",
    "annually": "year",
    "monthly": "month",
    "cost": "price",
    "costs": "price",
    "much": "price",
    "pricing": "price",
    "prices": "price",
    "$": "price",
    "refunded": "refund",
    "refundable": "refund",
    "delivered": "delivery",
    "deliver": "delivery",
    "shipped": "ship",
    "shipping": "ship",
    "cancelled": "cancel",
    "canceled": "cancel",
    "cancellation": "cancel",
    "parcel": "package",
    "package": "package",
}


def _tokens(text: str) -> list[str]:
    words = _WORD_RE.findall(text.lower())
    out = []
    for word in words:
        if word.startswith("$"):
            out.append("price")
            word = word[1:]
        if word in _SYNONYMS:
            out.append(_SYNONYMS[word])
        elif word not in _STOPWORDS and len(word) > 1:
            out.append(_stem(word))
    return out


def _stem(token: str) -> str:
    # A deliberately tiny stemmer: enough to match "charged"/"charge", "links"/"link".
    for suffix in ("ing", "ed", "es", "s"):
        if len(token) > len(suffix) + 3 and token.endswith(suffix):
            return token[: -len(suffix)]
    return token


def _parse_email(text: str) -> dict[str, Any]:
    block = extract_block(text, EMAIL_START, EMAIL_END) or ""
    head, _, body = block.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return {
        "from": headers.get("from", ""),
        "subject": headers.get("subject", ""),
        "headers": headers,
        "body": body.strip(),
    }


def _parse_categories(text: str) -> dict[str, list[str]]:
    prose = text.split(EMAIL_START, 1)[0]
    categories: dict[str, list[str]] = {}
    for match in re.finditer(r"^\s*- ([a-z_][a-z0-9_-]*): (.*)$", prose, flags=re.MULTILINE):
        words = match.group(2)
        hints = (
            [] if words.startswith("anything that fits") else [w.strip().lower() for w in words.split(",")]
        )
        categories[match.group(1)] = [w for w in hints if w]
    return categories


def _language(text: str) -> str:
    words = set(_WORD_RE.findall(text.lower()))
    scores = {lang: len(words & vocab) for lang, vocab in _LANG_WORDS.items()}
    best = max(scores, key=lambda k: (scores[k], k == "en"))
    return best if scores[best] > 0 else "en"


def _first_json(
    text: str, marker: str, *, after: str | None = None, before: str | None = None
) -> dict[str, Any]:
    # Search only outside the untrusted email block, so an email cannot forge a draft or a triage.
    lo = text.rfind(after) if after else 0
    hi = text.find(before) if before else -1
    window = text[max(lo, 0) : hi if hi >= 0 else len(text)]
    i = window.find(marker)
    text = window
    if i < 0:
        return {}
    start = text.find("{", i)
    if start < 0:
        return {}
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def offline_triage(text: str) -> dict[str, Any]:
    """Classify the email in the prompt with header rules, then keyword scores."""
    email = _parse_email(text)
    categories = _parse_categories(text) or {"other": []}
    headers = email["headers"]
    sender = email["from"].lower()
    subject, body = email["subject"], email["body"]
    haystack = f"{subject}\n{body}".lower()
    auto = headers.get("auto-submitted", "no").lower()
    precedence = headers.get("precedence", "").lower()

    def pick(name: str, fallback: str = "other") -> str:
        return name if name in categories else fallback if fallback in categories else next(iter(categories))

    category: str | None = None
    reason = ""
    if _BOUNCE_SENDER_RE.match(sender) or re.search(r"undeliver|delivery status notification", haystack):
        category, reason = pick("bounce"), "delivery failure notice from a mail system"
    elif (auto and auto != "no") or "x-autoreply" in headers:
        category, reason = pick("auto_reply"), f"automatic message (Auto-Submitted: {auto})"
    elif "list-id" in headers or "list-unsubscribe" in headers or precedence in ("bulk", "list"):
        category, reason = pick("newsletter"), "bulk mail (List-Id / List-Unsubscribe / Precedence)"
    elif precedence == "junk":
        category, reason = pick("spam"), "Precedence: junk"
    best_kw = ""
    if category is None:
        scores: dict[str, float] = {}
        matched: dict[str, str] = {}
        for name, words in categories.items():
            score = 0.0
            for word in words:
                if not word:
                    continue
                pattern = r"\b" + re.escape(word)
                hits = len(re.findall(pattern, body.lower())) + 2 * len(re.findall(pattern, subject.lower()))
                if hits:
                    # Longer phrases are stronger evidence than single common words.
                    score += hits * (1 + word.count(" "))
                    matched.setdefault(name, word)
            if score:
                scores[name] = score
        # Attempts to instruct the agent outrank everything else the email says.
        if scores.get("security", 0) >= 1:
            category = "security"
        elif scores:
            category = max(scores, key=lambda k: scores[k])
        else:
            category = pick("other")
        best_kw = matched.get(category, "")
        reason = f"matched {best_kw!r}" if best_kw else "no category matched; a person should look"
    ignore = category in ("spam", "newsletter", "auto_reply", "bounce")
    closing = (
        not ignore
        and "?" not in body
        and len(body) < 240
        and _CLOSING_RE.search(body) is not None
        and not re.search(r"\b(but|still|however|not|problem|issue)\b", body, re.IGNORECASE)
    )
    needs_reply = not ignore and not closing
    if closing:
        reason = "a thank-you that closes the conversation; no question asked"
    if ignore:
        urgency = "low"
    elif _URGENT_RE.search(f"{subject} {body}") or (
        sum(c.isupper() for c in subject) > 0.6 * max(1, len(subject))
    ):
        urgency = "high"
    else:
        urgency = "normal"
    intent = {
        "bounce": "delivery failure notice",
        "auto_reply": "automatic reply",
        "newsletter": "newsletter",
        "spam": "unsolicited offer",
        "security": "instructions aimed at the agent",
    }.get(category, f"{category} question" + (f" about {best_kw}" if best_kw else ""))
    if closing:
        intent = "thanks, conversation closed"
    return {
        "intent": intent,
        "category": category,
        "urgency": urgency,
        "needs_reply": needs_reply,
        "language": _language(f"{subject} {body}"),
        "reasoning": f"Offline rules: {reason}.",
    }


def offline_policy(text: str) -> dict[str, Any]:
    """Rules already had their say; the offline model never widens them: a person decides."""
    return {
        "allowed_actions": ["draft"],
        "escalation": None,
        "reasons": ["offline model: no rule covers this case, so a person approves the draft"],
    }


def _sentences(source: Source) -> list[str]:
    text = re.sub(r"^#+\s*", "", source.text, flags=re.MULTILINE)
    text = text.replace("**", "").replace("__", "")
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z(])|\n{2,}", text)
    return [" ".join(p.split()) for p in parts if len(p.split()) >= 4]


def _first_name(sender: str) -> str:
    local = sender.split("<")[-1].split("@")[0]
    first = re.split(r"[._+-]", local)[0]
    return first.capitalize() if first.isalpha() and len(first) > 1 else "there"


def offline_reply(text: str) -> dict[str, Any]:
    """Pick the source sentences that best cover the email's terms, cite them, sign."""
    email = _parse_email(text)
    sources = parse_sources(text)
    signature_match = re.search(r"^\s*Signature: (.+)$", text, flags=re.MULTILINE)
    signature = signature_match.group(1).strip() if signature_match else "— Support"
    body_lines = [ln for ln in email["body"].splitlines() if not ln.startswith(">")]
    query = _tokens(email["subject"]) + _tokens("\n".join(body_lines))
    counts: dict[str, float] = {}
    for term in query:
        counts[term] = counts.get(term, 0.0) + 1.0
    candidates: list[tuple[int, int, str, str, set[str]]] = []
    for s_index, source in enumerate(sources):
        for i, sentence in enumerate(_sentences(source)):
            candidates.append((s_index, i, source.id, sentence, set(_tokens(sentence))))
    # IDF over the candidate sentences: words every excerpt shares say nothing about the question.
    n = len(candidates) or 1
    weights = {
        t: c * math.log(1 + n / (1 + sum(1 for cand in candidates if t in cand[4])))
        for t, c in counts.items()
        if any(t in cand[4] for cand in candidates)
    }
    # Greedy coverage: each next sentence must add question words the previous ones did not.
    chosen: list[tuple[int, int, str, str, set[str]]] = []
    used_sources: list[str] = []
    covered: set[str] = set()
    first_gain = 0.0
    while len(chosen) < 3:
        best, best_gain = None, 0.0
        for cand in candidates:
            if cand in chosen or (cand[2] not in used_sources and len(used_sources) >= 2):
                continue
            gain = sum(weights.get(t, 0.0) for t in cand[4] - covered) / (len(cand[4]) + 6) ** 0.25
            if gain > best_gain:
                best, best_gain = cand, gain
        if best is None or best_gain < max(0.25, 0.25 * first_gain):
            break
        first_gain = first_gain or best_gain
        chosen.append(best)
        covered |= best[4] & set(weights)
        if best[2] not in used_sources:
            used_sources.append(best[2])
    coverage = sum(weights[t] for t in covered) / max(1e-9, sum(weights.values()))
    if chosen:
        # Policies often state a condition, then what happens: keep the best sentence's successor.
        top = chosen[0]
        successor = next((c for c in candidates if c[0] == top[0] and c[1] == top[1] + 1), None)
        if successor is not None and successor not in chosen:
            chosen.append(successor)
    subject = email["subject"]
    subject = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    greeting = f"Hi {_first_name(email['from'])},"
    if not chosen:
        question = (
            "Could you tell us a little more, for example your order number and what you have "
            "tried so far, so that we can help?"
        )
        body = f"{greeting}\n\nThanks for your email. {question}\n\n{signature}"
        return {
            "subject": subject,
            "body_text": body,
            "citations": [],
            "confidence": 0.2,
            "questions": [question],
        }
    chosen.sort(key=lambda item: (used_sources.index(item[2]), item[1]))
    paragraphs: list[str] = []
    for source_id in used_sources:
        sentences = " ".join(item[3] for item in chosen if item[2] == source_id)
        paragraphs.append(f"{sentences} [{source_id}]")
    body = "\n\n".join(
        [
            greeting,
            "Thanks for getting in touch.",
            *paragraphs,
            "If anything is unclear, just reply to this email.",
            signature,
        ]
    )
    return {
        "subject": subject,
        "body_text": body,
        "citations": used_sources,
        "confidence": round(min(0.95, 0.3 + 0.65 * coverage), 2),
        "questions": [],
    }


def offline_review(text: str) -> dict[str, Any]:
    """A checklist: grounded citations, a body, no links from nowhere, confident enough."""
    draft = _first_json(text, "Draft:", after=EMAIL_END)
    triage = _first_json(text, "Triage:", before=EMAIL_START)
    source_ids = {s.id for s in parse_sources(text)}
    source_text = " ".join(s.text for s in parse_sources(text))
    body = str(draft.get("body_text", ""))
    citations = [str(c) for c in draft.get("citations", [])]
    if triage.get("category") == "security":
        return {"decision": "escalate", "feedback": "", "reasons": ["the email tries to instruct the agent"]}
    if not body.strip():
        return {"decision": "hold", "feedback": "", "reasons": ["the draft is empty"]}
    unknown = [c for c in citations if c not in source_ids]
    if unknown:
        return {
            "decision": "revise",
            "feedback": f"cite only ids from the sources; unknown: {', '.join(unknown)}",
            "reasons": ["citations not found in the sources"],
        }
    links = [u for u in re.findall(r"https?://\S+", body) if u.rstrip(".,)") not in source_text]
    if links:
        return {
            "decision": "hold",
            "feedback": "",
            "reasons": [f"links not found in the sources: {links[0]}"],
        }
    if not citations and not draft.get("questions"):
        if source_ids:
            return {
                "decision": "revise",
                "feedback": "cite the sources you used",
                "reasons": ["no citations"],
            }
        return {"decision": "hold", "feedback": "", "reasons": ["no sources support an answer"]}
    if float(draft.get("confidence", 0)) < 0.3 and not draft.get("questions"):
        return {"decision": "hold", "feedback": "", "reasons": ["low confidence and no clarifying question"]}
    reasons = ["grounded in cited sources"] if citations else ["asks a clarifying question"]
    return {"decision": "send", "feedback": "", "reasons": reasons}


def offline_answer(kind: str, text: str) -> dict[str, Any]:
    """Dispatch on the output model's name."""
    handlers = {
        "TriageResult": offline_triage,
        "PolicyDecision": offline_policy,
        "ReplyDraft": offline_reply,
        "ReviewResult": offline_review,
    }
    handler = handlers.get(kind)
    if handler is None:
        msg = f"the offline model only answers the crews' tasks, not {kind!r}"
        raise ValueError(msg)
    return handler(text)
