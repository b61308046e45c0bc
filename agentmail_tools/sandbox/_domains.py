"""Custom domains: the DNS records to publish, a DKIM key pair, and verification.

``dns_records_for`` returns the contract's ``DnsRecords`` shape (camelCase keys, as on the
wire): the inbound ``mx``, the ``sendMx`` of the bounce (Return-Path) subdomain, ``spf``
for both, one DKIM ``TXT`` record under ``<selector>._domainkey`` and a ``dmarc`` policy.
Verification looks the records up through a :class:`DnsResolver`. The sandbox defaults to
:class:`OfflineResolver`, which resolves nothing, so verification fails with a reason
saying so; tests and notebooks pass a :class:`StaticResolver` holding the records they
"published". A resolver backed by real DNS (e.g. dnspython) fits the same Protocol.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .._errors import InvalidRequestError

__all__ = [
    "DEFAULT_DKIM_SELECTOR",
    "DnsLookupError",
    "DnsResolver",
    "OfflineResolver",
    "StaticResolver",
    "check_domain_name",
    "dns_records_for",
    "generate_dkim_keypair",
    "verify_domain",
]

DEFAULT_DKIM_SELECTOR = "robotomail"
# Where the hosted service receives and sends mail; the sandbox publishes the same names so
# records copied from it are the ones a real deployment would need.
MAIL_HOST = "mx.robotomail.com"
SEND_HOST = "feedback.robotomail.com"
SPF_INCLUDE = "spf.robotomail.com"
BOUNCE_SUBDOMAIN = "send"

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"(?=.{{1,253}}$)(?:{_LABEL}\.)+[a-z]{{2,63}}")
_SELECTOR_RE = re.compile(_LABEL)
_MX_VALUE_RE = re.compile(r"(?:\d{1,5}\s+)?([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.?)")


class DnsLookupError(Exception):
    """A resolver could not answer (no network, timeout, SERVFAIL).

    Distinct from "no such record", which resolvers report as an empty list.
    """


@runtime_checkable
class DnsResolver(Protocol):
    """Looks up DNS records; an empty list means the name has no such record."""

    def txt(self, name: str) -> list[str]:
        """Return the TXT strings at ``name`` (multi-string records already joined)."""
        ...

    def mx(self, name: str) -> list[str]:
        """Return the MX targets at ``name`` (host names, without priority)."""
        ...


class OfflineResolver:
    """The sandbox default: resolves nothing, and says so.

    Every lookup raises :class:`DnsLookupError`, so :func:`verify_domain` reports each
    record as not verified with a reason a person can act on.
    """

    reason = "the sandbox resolves no DNS (offline); pass a StaticResolver or a real resolver to verify"

    def txt(self, name: str) -> list[str]:
        raise DnsLookupError(self.reason)

    def mx(self, name: str) -> list[str]:
        raise DnsLookupError(self.reason)


class StaticResolver:
    """A resolver answering from a mapping, for tests and notebooks.

    Args:
        mapping: ``{name: [values]}`` or ``{(name, "TXT"|"MX"): [values]}``. A plain name
            key serves both TXT and MX lookups. MX values may carry a priority
            (``"10 mx.example.com"``); it is dropped. Names match case-insensitively,
            with or without the trailing dot.

    Example:
        >>> records = dns_records_for("example.com", public_key)
        >>> resolver = StaticResolver.publishing(records)
        >>> verify_domain("example.com", records, resolver)["allVerified"]
        True
    """

    def __init__(self, mapping: Mapping[Any, Sequence[str] | str] | None = None) -> None:
        self._records: dict[tuple[str, str | None], list[str]] = {}
        for key, values in (mapping or {}).items():
            if isinstance(key, tuple):
                name, rtype = key[0], str(key[1]).upper()
            else:
                name, rtype = key, None
            items = [values] if isinstance(values, str) else list(values)
            self._records.setdefault((_canonical(name), rtype), []).extend(items)

    @classmethod
    def publishing(cls, records: Mapping[str, Any]) -> StaticResolver:
        """A resolver that has every record of a ``DnsRecords`` dict published."""
        mapping: dict[tuple[str, str], list[str]] = {}
        for record in _iter_records(records):
            rtype = str(record.get("type", "TXT")).upper()
            mapping.setdefault((record["host"], rtype), []).append(record["value"])
        return cls(mapping)

    def _lookup(self, name: str, rtype: str) -> list[str]:
        key = _canonical(name)
        return list(self._records.get((key, rtype), [])) + list(self._records.get((key, None), []))

    def txt(self, name: str) -> list[str]:
        return self._lookup(name, "TXT")

    def mx(self, name: str) -> list[str]:
        targets = []
        for value in self._lookup(name, "MX"):
            # A plain-name key also holds TXT strings; only "[priority] host" values are MX.
            match = _MX_VALUE_RE.fullmatch(value.strip())
            if match:
                targets.append(match.group(1))
        return targets


def _canonical(name: str) -> str:
    return str(name).strip().rstrip(".").lower()


def check_domain_name(domain: object) -> str:
    """Return ``domain`` lowercased without a trailing dot, or raise InvalidRequestError."""
    if not isinstance(domain, str):
        msg = f"domain must be a string, got {type(domain).__name__}"
        raise InvalidRequestError(msg)
    name = _canonical(domain)
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        pass  # rejected by the pattern below with a message naming the input
    if _DOMAIN_RE.fullmatch(name) is None:
        msg = f"{domain!r} is not a valid domain name (expected something like example.com)"
        raise InvalidRequestError(msg)
    return name


def generate_dkim_keypair() -> tuple[str, str]:
    """Generate an RSA-2048 DKIM key pair.

    Returns:
        ``(private_key_pem, public_key_b64)``: the private key as unencrypted PKCS#8 PEM
        (for signing), and the public key as base64 of its DER SubjectPublicKeyInfo, the
        ``p=`` value of the DKIM TXT record (RFC 6376 3.6.1).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")
    public_der = key.public_key().public_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return private_pem, base64.b64encode(public_der).decode("ascii")


def dns_records_for(
    domain: str, dkim_public_b64: str, *, selector: str = DEFAULT_DKIM_SELECTOR
) -> dict[str, Any]:
    """The DNS records a domain owner publishes, in the contract's ``DnsRecords`` shape.

    Args:
        domain: the custom domain (validated, lowercased).
        dkim_public_b64: the ``p=`` value, as returned by :func:`generate_dkim_keypair`.
        selector: the DKIM selector (the record lives at ``<selector>._domainkey.<domain>``).

    Returns:
        ``{"mx", "sendMx", "spf", "dkim": [...], "dmarc"}`` with ``type``, ``host``,
        ``value`` (and ``priority`` for MX). Hosts are fully qualified names.
    """
    name = check_domain_name(domain)
    if _SELECTOR_RE.fullmatch(selector or "") is None:
        msg = f"DKIM selector {selector!r} must be one DNS label (letters, digits, hyphens)"
        raise InvalidRequestError(msg)
    public = re.sub(r"\s+", "", dkim_public_b64 or "")
    try:
        base64.b64decode(public, validate=True)
    except ValueError as err:
        msg = "dkim_public_b64 must be the base64 DER public key from generate_dkim_keypair()"
        raise InvalidRequestError(msg) from err
    if not public:
        msg = "dkim_public_b64 must not be empty"
        raise InvalidRequestError(msg)
    bounce = f"{BOUNCE_SUBDOMAIN}.{name}"
    return {
        "mx": {"type": "MX", "host": name, "value": MAIL_HOST, "priority": 10},
        "sendMx": {"type": "MX", "host": bounce, "value": SEND_HOST, "priority": 10},
        "spf": {"type": "TXT", "host": name, "value": f"v=spf1 include:{SPF_INCLUDE} ~all"},
        "dkim": [
            {
                "type": "TXT",
                "host": f"{selector}._domainkey.{name}",
                "value": f"v=DKIM1; k=rsa; p={public}",
            }
        ],
        "dmarc": {"type": "TXT", "host": f"_dmarc.{name}", "value": "v=DMARC1; p=none;"},
    }


def _iter_records(records: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key in ("mx", "sendMx", "spf", "dkim", "dmarc"):
        value = records.get(key)
        if isinstance(value, Mapping):
            out.append(dict(value))
        elif isinstance(value, Sequence) and not isinstance(value, str):
            out.extend(dict(v) for v in value if isinstance(v, Mapping))
    return out


def _tags(value: str) -> dict[str, str]:
    """Parse a ``k=v; k=v`` tag list (DKIM, DMARC), whitespace-insensitive."""
    tags: dict[str, str] = {}
    for item in value.split(";"):
        key, eq, val = item.partition("=")
        if eq:
            tags[key.strip().lower()] = re.sub(r"\s+", "", val)
    return tags


def _check(kind: str, record: Mapping[str, Any], resolver: DnsResolver) -> dict[str, Any]:
    host = str(record.get("host", ""))
    expected = str(record.get("value", ""))
    detail: dict[str, Any] = {
        "host": host,
        "expected": expected,
        "found": [],
        "verified": False,
        "reason": None,
    }
    try:
        found = resolver.mx(host) if kind in ("mx", "sendMx") else resolver.txt(host)
    except DnsLookupError as err:
        detail["reason"] = f"DNS lookup of {host} failed: {err}"
        return detail
    except Exception as err:  # a third-party resolver's own error type
        detail["reason"] = f"DNS lookup of {host} failed: {type(err).__name__}: {err}"
        return detail
    detail["found"] = list(found)
    if kind in ("mx", "sendMx"):
        ok = any(_canonical(v) == _canonical(expected) for v in found)
        missing = f"no MX record at {host} points to {expected}"
    elif kind == "spf":
        spf = [v for v in found if v.strip().lower().startswith("v=spf1")]
        include = expected.split("include:")[1].split()[0] if "include:" in expected else ""
        ok = len(spf) == 1 and (not include or f"include:{include}" in spf[0].lower().split())
        if len(spf) > 1:
            missing = f"{host} has {len(spf)} SPF records; RFC 7208 allows exactly one"
        else:
            missing = f"no SPF record at {host} includes {include or expected}"
    elif kind == "dkim":
        want = _tags(expected).get("p", "")
        ok = any(_tags(v).get("p") == want and _tags(v).get("v", "DKIM1") == "DKIM1" for v in found)
        missing = f"no DKIM record at {host} carries the published public key"
    else:  # dmarc
        ok = any(v.strip().lower().startswith("v=dmarc1") for v in found)
        missing = f"no DMARC record (v=DMARC1) at {host}"
    detail["verified"] = ok
    if not ok:
        detail["reason"] = missing if found or kind != "dkim" else f"no TXT record at {host}"
    return detail


def verify_domain(domain: str, records: Mapping[str, Any], resolver: DnsResolver) -> dict[str, Any]:
    """Check each published record through ``resolver``.

    Args:
        domain: the custom domain.
        records: its ``DnsRecords`` dict (as from :func:`dns_records_for`).
        resolver: where to look the records up.

    Returns:
        The contract's ``DomainVerification`` (``mx``, ``spf``, ``dkim``, ``dmarc``,
        ``allVerified``) plus, beyond the contract, ``status`` (the domain's new status:
        ``VERIFIED`` when all pass; ``FAILED`` when a record is published but wrong;
        ``DNS_VERIFIED`` when MX, SPF and DKIM pass and only DMARC is missing;
        ``PENDING_VERIFICATION`` while records are missing or DNS is unreachable) and
        ``details`` (per record, including ``sendMx``: host, expected, found, verified,
        reason). ``mx`` is true only when both MX records (inbound and bounce) point right.
    """
    check_domain_name(domain)
    details: dict[str, Any] = {}
    for kind in ("mx", "sendMx", "spf", "dkim", "dmarc"):
        value = records.get(kind)
        entries = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        checks = [_check(kind, e, resolver) for e in entries if isinstance(e, Mapping)]
        if not checks:
            checks = [
                {
                    "host": None,
                    "expected": None,
                    "found": [],
                    "verified": False,
                    "reason": f"no {kind} record given",
                }
            ]
        # The DKIM list may hold several keys (rotation): one valid key is enough.
        details[kind] = next((c for c in checks if c["verified"]), checks[0])
    flags = {
        # The bounce subdomain's MX is part of "mx": mail cannot flow without either.
        "mx": bool(details["mx"]["verified"] and details["sendMx"]["verified"]),
        "spf": bool(details["spf"]["verified"]),
        "dkim": bool(details["dkim"]["verified"]),
        "dmarc": bool(details["dmarc"]["verified"]),
    }
    all_ok = all(flags.values())
    if all_ok:
        status = "VERIFIED"
    elif any(not d["verified"] and d["found"] for d in details.values()):
        status = "FAILED"
    elif flags["mx"] and flags["spf"] and flags["dkim"]:
        status = "DNS_VERIFIED"  # mail flows and is signed; only the DMARC policy is missing
    else:
        status = "PENDING_VERIFICATION"
    return {**flags, "allVerified": all_ok, "status": status, "details": details}
