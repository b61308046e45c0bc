"""Custom domains: DKIM keys, the DNS records to publish (contract shape), verification."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jsonschema import Draft202012Validator

from agentmail_tools._errors import InvalidRequestError
from agentmail_tools.sandbox._domains import (
    DnsLookupError,
    DnsResolver,
    OfflineResolver,
    StaticResolver,
    check_domain_name,
    dns_records_for,
    generate_dkim_keypair,
    verify_domain,
)

CONTRACT = Path("/work/shared/contracts/robotomail-openapi.json")


def _schema(name: str) -> Draft202012Validator:
    spec = json.loads(CONTRACT.read_text(encoding="utf-8"))
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


@pytest.fixture(scope="module")
def keypair() -> tuple[str, str]:
    return generate_dkim_keypair()


@pytest.fixture(scope="module")
def records(keypair: tuple[str, str]) -> dict[str, Any]:
    return dns_records_for("Example.COM.", keypair[1])


def test_keypair_is_rsa_2048_and_the_halves_match(keypair: tuple[str, str]) -> None:
    private_pem, public_b64 = keypair
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    public = serialization.load_der_public_key(base64.b64decode(public_b64, validate=True))
    assert isinstance(private, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey)
    assert private.key_size == 2048
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    signature = private.sign(b"dkim header hash", padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, b"dkim header hash", padding.PKCS1v15(), hashes.SHA256())


def test_each_keypair_is_new(keypair: tuple[str, str]) -> None:
    assert generate_dkim_keypair()[1] != keypair[1]


def test_records_match_the_contract_schema(records: dict[str, Any]) -> None:
    errors = list(_schema("DnsRecords").iter_errors(records))
    assert errors == []


def test_records_content(records: dict[str, Any], keypair: tuple[str, str]) -> None:
    assert records["mx"] == {
        "type": "MX",
        "host": "example.com",
        "value": "mx.robotomail.com",
        "priority": 10,
    }
    assert records["sendMx"]["type"] == "MX" and records["sendMx"]["host"] == "send.example.com"
    assert records["spf"]["host"] == "example.com" and records["spf"]["value"].startswith("v=spf1 ")
    [dkim] = records["dkim"]
    assert dkim == {
        "type": "TXT",
        "host": "robotomail._domainkey.example.com",
        "value": f"v=DKIM1; k=rsa; p={keypair[1]}",
    }
    assert records["dmarc"]["host"] == "_dmarc.example.com"
    assert records["dmarc"]["value"].startswith("v=DMARC1;")


def test_custom_selector(keypair: tuple[str, str]) -> None:
    assert (
        dns_records_for("example.com", keypair[1], selector="s2026")["dkim"][0]["host"]
        == "s2026._domainkey.example.com"
    )


@pytest.mark.parametrize(
    ("domain", "selector", "key"),
    [
        ("not a domain", "robotomail", "AAAA"),
        ("localhost", "robotomail", "AAAA"),
        ("-bad.example.com", "robotomail", "AAAA"),
        ("example.com", "bad selector", "AAAA"),
        ("example.com", "robotomail", "not base64!"),
        ("example.com", "robotomail", ""),
        (123, "robotomail", "AAAA"),
    ],
)
def test_bad_input_is_refused(domain: Any, selector: str, key: str) -> None:
    with pytest.raises(InvalidRequestError):
        dns_records_for(domain, key, selector=selector)


def test_domain_names_are_canonical() -> None:
    assert check_domain_name(" Mail.Example.COM. ") == "mail.example.com"
    assert check_domain_name("bücher.de") == "xn--bcher-kva.de"


def test_offline_resolver_fails_with_a_clear_reason(records: dict[str, Any]) -> None:
    result = verify_domain("example.com", records, OfflineResolver())
    assert {k: result[k] for k in ("mx", "spf", "dkim", "dmarc", "allVerified")} == dict.fromkeys(
        ("mx", "spf", "dkim", "dmarc", "allVerified"), False
    )
    assert result["status"] == "PENDING_VERIFICATION"
    for detail in result["details"].values():
        assert "offline" in detail["reason"] and "StaticResolver" in detail["reason"]
    assert _schema("DomainVerification").is_valid(result)


def test_everything_published_verifies(records: dict[str, Any]) -> None:
    resolver = StaticResolver.publishing(records)
    assert isinstance(resolver, DnsResolver)
    result = verify_domain("example.com", records, resolver)
    assert result["allVerified"] is True and result["status"] == "VERIFIED"
    assert all(d["verified"] and d["reason"] is None for d in result["details"].values())
    assert _schema("DomainVerification").is_valid(result)


def test_published_records_in_the_usual_zone_file_shapes(
    records: dict[str, Any], keypair: tuple[str, str]
) -> None:
    public = keypair[1]
    # What a DNS provider really returns: priorities on MX, trailing dots, case, an SPF with
    # other includes, a DKIM key split into 255-byte strings and rejoined with spaces.
    resolver = StaticResolver(
        {
            ("EXAMPLE.com.", "MX"): ["10 MX.robotomail.com.", "20 backup.example.net."],
            ("send.example.com", "MX"): ["10 feedback.robotomail.com"],
            ("example.com", "TXT"): [
                "google-site-verification=abc",
                "v=spf1 include:_spf.google.com include:spf.robotomail.com -all",
            ],
            "robotomail._domainkey.example.com": [f"v=DKIM1; k=rsa; p={public[:200]} {public[200:]}"],
            "_dmarc.example.com": ["v=DMARC1; p=quarantine; rua=mailto:d@example.com"],
        }
    )
    result = verify_domain("example.com", records, resolver)
    assert result["allVerified"] is True, result["details"]


def test_wrong_dkim_key_fails(records: dict[str, Any]) -> None:
    _, other = generate_dkim_keypair()
    mapping = StaticResolver.publishing(records)
    wrong = dns_records_for("example.com", other)
    resolver = StaticResolver(
        {
            ("example.com", "MX"): ["10 mx.robotomail.com"],
            ("send.example.com", "MX"): ["feedback.robotomail.com"],
            ("example.com", "TXT"): mapping.txt("example.com"),
            "robotomail._domainkey.example.com": [wrong["dkim"][0]["value"]],
            "_dmarc.example.com": mapping.txt("_dmarc.example.com"),
        }
    )
    result = verify_domain("example.com", records, resolver)
    assert (result["mx"], result["spf"], result["dkim"], result["dmarc"]) == (True, True, False, True)
    assert result["status"] == "FAILED"
    assert "public key" in result["details"]["dkim"]["reason"]


def test_two_spf_records_fail() -> None:
    resolver = StaticResolver({"example.com": ["v=spf1 include:spf.robotomail.com ~all", "v=spf1 -all"]})
    records = dns_records_for("example.com", base64.b64encode(b"k").decode())
    detail = verify_domain("example.com", records, resolver)["details"]["spf"]
    assert not detail["verified"] and "exactly one" in detail["reason"]


def test_missing_dmarc_only_is_dns_verified(records: dict[str, Any]) -> None:
    published = StaticResolver.publishing({k: v for k, v in records.items() if k != "dmarc"})
    result = verify_domain("example.com", records, published)
    assert result["status"] == "DNS_VERIFIED" and result["allVerified"] is False
    assert result["details"]["dmarc"]["reason"] == "no DMARC record (v=DMARC1) at _dmarc.example.com"


def test_missing_bounce_mx_fails_mx(records: dict[str, Any]) -> None:
    published = StaticResolver.publishing({k: v for k, v in records.items() if k != "sendMx"})
    result = verify_domain("example.com", records, published)
    assert result["mx"] is False and result["details"]["mx"]["verified"] is True
    assert "send.example.com" in result["details"]["sendMx"]["reason"]


def test_a_failing_resolver_is_reported_not_raised(records: dict[str, Any]) -> None:
    class Broken:
        def txt(self, name: str) -> list[str]:
            raise TimeoutError("resolver timed out")

        def mx(self, name: str) -> list[str]:
            raise DnsLookupError("SERVFAIL")

    result = verify_domain("example.com", records, Broken())
    assert result["allVerified"] is False and result["status"] == "PENDING_VERIFICATION"
    assert "TimeoutError" in result["details"]["spf"]["reason"]
    assert "SERVFAIL" in result["details"]["mx"]["reason"]


def test_static_resolver_lookups() -> None:
    resolver = StaticResolver(
        {"a.example.com": "v=spf1 -all", ("a.example.com", "MX"): ["5 mx.example.com."]}
    )
    assert resolver.txt("A.EXAMPLE.COM.") == ["v=spf1 -all"]
    assert resolver.mx("a.example.com") == ["mx.example.com."]
    assert resolver.txt("nothing.example.com") == [] and resolver.mx("nothing.example.com") == []
