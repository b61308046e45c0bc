"""Errors raised by agentmail-tools.

Every error derives from :class:`MailError`. Refusals before anything was sent, transport
failures and HTTP status errors are kept apart, because the right reaction differs: fix the
argument, retry later, or read the server's answer::

    MailError
    ├── InvalidRequestError        refused before anything was sent (bad id, CR/LF, >50 recipients, bad address)
    ├── MailConnectionError        transport failure; nothing known to have reached the server
    │   ├── MailTimeoutError       the server did not answer in time (idempotent request)
    │   └── AmbiguousSendError     a non-idempotent request (a send) may have reached the server
    └── APIStatusError             the server answered with an error (.status_code .error .code .body .headers)
        ├── BadRequestError            400
        ├── AuthenticationError        401
        ├── PaymentRequiredError       402
        ├── PermissionDeniedError      403
        ├── NotFoundError              404
        ├── ConflictError              409
        ├── PayloadTooLargeError       413
        ├── RateLimitError             429 (.retry_after: float | None)
        └── InternalServerError        5xx
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIStatusError",
    "AmbiguousSendError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "InvalidRequestError",
    "MailConnectionError",
    "MailError",
    "MailTimeoutError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
]


class MailError(Exception):
    """Root of every error this library raises."""


class InvalidRequestError(MailError, ValueError):
    """A request was refused before anything was sent: fix the argument named in the message."""


class MailConnectionError(MailError):
    """The request failed in transport (DNS, connect, TLS, reset) and got no HTTP answer.

    Nothing is known to have reached the server: a new attempt is safe. Sends that may
    have reached the server raise :class:`AmbiguousSendError` instead.

    Attributes:
        method: the HTTP method of the failed request.
        url: the URL of the failed request (never carries the API key).
    """

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class MailTimeoutError(MailConnectionError):
    """The server did not answer in time (after the retries an idempotent request gets)."""


class AmbiguousSendError(MailConnectionError):
    """A non-idempotent request (a send, a create, a delete) failed after it may have reached the server.

    The server may or may not have acted on it. Do not simply send again: reconcile first
    (for a send, look for the message in the thread's outbound messages; the send guards
    in :mod:`agentmail_tools.guards` do this with an idempotency key header).
    """


class APIStatusError(MailError):
    """The server answered with a non-2xx status.

    Attributes:
        status_code: the HTTP status.
        error: the ``error`` text of the JSON body (or a short excerpt of a non-JSON body).
        code: the machine-readable ``code`` of the body, when the server sends one.
        body: the parsed JSON body (a dict), or the raw text when it was not JSON.
        headers: the response headers.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error: str | None = None,
        code: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.code = code
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})


class BadRequestError(APIStatusError):
    """400: the server refused the request (mailbox not ACTIVE, suppressed recipient, ...)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PaymentRequiredError(APIStatusError):
    """402: a plan limit was reached; the body carries ``upgrade`` hints."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this (a mailbox-scoped key on an account-level route, a plan cap)."""


class NotFoundError(APIStatusError):
    """404: no such object (or it belongs to a mailbox this key cannot see)."""


class ConflictError(APIStatusError):
    """409: the object already exists (mailbox address taken, duplicate suppression, ...)."""


class PayloadTooLargeError(APIStatusError):
    """413: the upload or message is too large, or the storage quota is used up."""


class RateLimitError(APIStatusError):
    """429: too many requests.

    Attributes:
        retry_after: seconds to wait as announced by ``Retry-After``, or None when the
            server did not say (the send rate limit does not).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """5xx: the server failed. Idempotent requests were already retried."""
