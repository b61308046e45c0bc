"""Webhook signatures: HMAC-SHA256 of the raw request body, lowercase hex.

Robotomail signs the exact bytes it sends (``X-Robotomail-Signature``), keyed with the
webhook secret's UTF-8 bytes, no prefix and no timestamp. Verify *before* parsing: a
re-serialised JSON body no longer matches its signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["SIGNATURE_HEADER", "DELIVERY_ID_HEADER", "sign_webhook", "verify_webhook"]

SIGNATURE_HEADER = "X-Robotomail-Signature"
DELIVERY_ID_HEADER = "X-Robotomail-Delivery-Id"

_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")


def sign_webhook(raw_body: bytes, secret: str) -> str:
    """Return the lowercase hex HMAC-SHA256 signature of ``raw_body`` under ``secret``."""
    return hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()


def verify_webhook(raw_body: bytes, signature: str | None, secret: str) -> bool:
    """Check a webhook signature in constant time; fail closed.

    Args:
        raw_body: the request body exactly as received (bytes, not parsed JSON).
        signature: the ``X-Robotomail-Signature`` header value, or None if absent.
        secret: the webhook's secret, as shown once when it was created.

    Returns:
        True only when ``signature`` is 64 lowercase hex characters equal to the
        HMAC-SHA256 of ``raw_body``. Anything else (missing, uppercase, prefixed,
        wrong length, empty secret) is False.
    """
    if not isinstance(signature, str) or not isinstance(raw_body, (bytes, bytearray)):
        return False
    if not secret or _SIGNATURE_RE.fullmatch(signature) is None:
        return False
    expected = sign_webhook(bytes(raw_body), secret)
    return hmac.compare_digest(expected, signature)
