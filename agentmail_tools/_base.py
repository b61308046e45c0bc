"""The I/O-free half of the clients: configuration, requests, retry arithmetic, error mapping.

:class:`~agentmail_tools.MailClient` and :class:`~agentmail_tools.AsyncMailClient` only send,
sleep and close; everything they decide comes from here, so both behave identically.

Retry policy (constants below): only idempotent requests (GET) are retried, on 408, 429,
500, 502, 503, 504 and on transport errors, at most ``max_retries`` times. The wait honours
``Retry-After`` (delta-seconds or an HTTP date) up to :data:`MAX_RETRY_AFTER`; otherwise it is
capped exponential backoff with jitter. POST, PATCH and DELETE are never retried: a transport
failure after the request may have left raises :class:`AmbiguousSendError`; one before it
left (connect error) raises :class:`MailConnectionError`.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import httpx
from pydantic import ValidationError

from ._errors import (
    AmbiguousSendError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidRequestError,
    MailConnectionError,
    MailError,
    MailTimeoutError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "INITIAL_BACKOFF",
    "MAX_BACKOFF",
    "MAX_RETRY_AFTER",
    "RETRY_STATUSES",
    "BaseClient",
    "Operation",
    "backoff_delay",
    "is_event_stream",
    "is_loopback_host",
    "make_status_error",
    "not_an_event_stream",
    "parse_retry_after",
    "redirect_error",
    "resolve_base_url",
    "status_error",
    "stream_error",
]

logger = logging.getLogger("agentmail_tools")

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.robotomail.com/v1"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
INITIAL_BACKOFF = 0.5  # seconds before the first retry, doubled each time
MAX_BACKOFF = 8.0  # cap of the exponential backoff
MAX_RETRY_AFTER = 60.0  # a longer Retry-After is cut to this
JITTER = 0.25  # the backoff is reduced by up to this fraction, so clients spread out
USER_AGENT = "agentmail-tools/0.1 (python-httpx)"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Transport errors raised before the request left this process: retrying is always safe.
_NOT_SENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
)
# Errors that a retry cannot fix.
_PERMANENT_ERRORS: tuple[type[Exception], ...] = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)

_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


# --------------------------------------------------------------------------- configuration


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, ``*.localhost`` (RFC 6761), 127.0.0.0/8 and ``::1``."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_base_url(base_url: str | None) -> str:
    """Return the API base URL (argument, ``ROBOTOMAIL_BASE_URL``, or the hosted default).

    Raises:
        InvalidRequestError: the URL is not https (plain http is allowed only for loopback
            hosts), or it carries credentials, a query or a fragment.
    """
    raw = base_url or os.environ.get("ROBOTOMAIL_BASE_URL") or DEFAULT_BASE_URL
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as err:
        msg = f"base_url {raw!r} is not a valid URL"
        raise InvalidRequestError(msg) from err
    if url.scheme not in ("https", "http") or not url.host:
        msg = f"base_url {raw!r} must be an absolute https:// URL"
        raise InvalidRequestError(msg)
    if url.scheme == "http" and not is_loopback_host(url.host):
        msg = (
            f"base_url {raw!r} uses plain http: the API key would travel unencrypted. "
            "Use https, or http only for a loopback host (127.0.0.1, ::1, localhost)"
        )
        raise InvalidRequestError(msg)
    if url.userinfo:
        msg = "base_url must not contain credentials; pass api_key instead"
        raise InvalidRequestError(msg)
    if url.query or url.fragment or "?" in raw or "#" in raw:
        msg = f"base_url {raw!r} must not contain a query or a fragment"
        raise InvalidRequestError(msg)
    return raw.rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    """Return the key from the argument or ``ROBOTOMAIL_API_KEY`` (None if neither)."""
    key = api_key if api_key is not None else os.environ.get("ROBOTOMAIL_API_KEY")
    if key is not None:
        if not isinstance(key, str) or not key.strip():
            msg = "api_key must be a non-empty string"
            raise InvalidRequestError(msg)
        if any(c in key for c in "\r\n\x00"):
            msg = "api_key must not contain CR, LF or NUL characters"
            raise InvalidRequestError(msg)
        key = key.strip()
    return key


# --------------------------------------------------------------------------- retry arithmetic


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` value, or None if it says nothing usable.

    Accepts delta-seconds (``"2"``, ``"1.5"``) and HTTP dates (``"Wed, 21 Oct 2015 07:28:00
    GMT"``); a date in the past means 0. Negative, infinite or unparsable values give None.
    The result is not capped here: see :func:`backoff_delay`.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
            return None
        return seconds
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None  # RFC 9110 dates are always GMT; a zone-less date is not one
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def backoff_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to sleep before retry number ``attempt + 1`` (``attempt`` counts from 0).

    A server-given ``retry_after`` wins, capped at :data:`MAX_RETRY_AFTER`; otherwise
    ``INITIAL_BACKOFF * 2**attempt`` capped at :data:`MAX_BACKOFF`, minus up to
    :data:`JITTER` of itself at random.
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
    base: float = min(INITIAL_BACKOFF * 2.0 ** min(attempt, 32), MAX_BACKOFF)
    return base * (1.0 - JITTER * rand())


# --------------------------------------------------------------------------- error mapping


def _error_fields(response: httpx.Response) -> tuple[Any, str | None, str | None]:
    try:
        body: Any = response.json()
    except ValueError:
        text = response.text
        return text, (text.strip()[:200] or None), None
    error: str | None = None
    code: str | None = None
    if isinstance(body, dict):
        raw_error = body.get("error")
        if isinstance(raw_error, str):
            error = raw_error
        elif isinstance(raw_error, dict):  # some proxies nest {"error": {"message": ...}}
            nested = raw_error.get("message")
            error = nested if isinstance(nested, str) else None
        if error is None and isinstance(body.get("message"), str):
            error = body["message"]
        raw_code = body.get("code")
        code = str(raw_code) if raw_code is not None else None
    return body, error, code


def status_error(
    status: int,
    message: str,
    *,
    error: str | None = None,
    code: str | None = None,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    retry_after: float | None = None,
) -> APIStatusError:
    """The :class:`APIStatusError` subclass for ``status`` (one table for HTTP and in-process errors)."""
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIStatusError
    if cls is RateLimitError:
        return RateLimitError(
            message,
            retry_after=retry_after,
            status_code=status,
            error=error,
            code=code,
            body=body,
            headers=headers,
        )
    return cls(message, status_code=status, error=error, code=code, body=body, headers=headers)


def make_status_error(response: httpx.Response) -> APIStatusError:
    """Build the :class:`APIStatusError` subclass for an error response (body must be read)."""
    status = response.status_code
    body, error, code = _error_fields(response)
    request = response.request
    where = f" ({request.method} {request.url.raw_path.decode('ascii', 'replace').split('?')[0]})"
    reason = error or response.reason_phrase or "error"
    return status_error(
        status,
        f"{status} {reason}{where}",
        error=error,
        code=code,
        body=body,
        headers=response.headers,
        retry_after=parse_retry_after(response.headers.get("retry-after")) if status == 429 else None,
    )


def redirect_error(response: httpx.Response) -> APIStatusError:
    """The error for a 3xx answer: redirects are never followed, the base URL is probably wrong."""
    location = response.headers.get("location", "?")
    message = (
        f"{response.status_code} redirect from {response.request.method} {response.request.url.path} to "
        f"{location}: not followed (it would resend the API key); check base_url"
    )
    return APIStatusError(
        message, status_code=response.status_code, body=response.text, headers=response.headers
    )


def is_event_stream(response: httpx.Response) -> bool:
    """Whether a response is ``text/event-stream`` (a proxy's HTML or JSON page is not)."""
    ctype: str = response.headers.get("content-type", "")
    return ctype.partition(";")[0].strip().lower() == "text/event-stream"


def not_an_event_stream(response: httpx.Response) -> APIStatusError:
    """The error for a 2xx answer to ``GET /events`` that is not an event stream (body must be read)."""
    body, error, code = _error_fields(response)
    ctype = response.headers.get("content-type", "none")
    message = f"{response.status_code} from GET /events is not an event stream (Content-Type: {ctype})"
    return APIStatusError(
        message, status_code=response.status_code, error=error, code=code, body=body, headers=response.headers
    )


def stream_error(response: httpx.Response) -> APIStatusError:
    """The error for an event-stream answer that is not a stream (body must be read)."""
    if response.is_error:
        return make_status_error(response)
    if response.is_redirect:
        return redirect_error(response)
    return not_an_event_stream(response)


# --------------------------------------------------------------------------- requests


@dataclass
class Operation(Generic[T]):
    """One API call, fully validated and ready to send.

    ``parse`` turns the decoded JSON body (or the raw bytes when ``raw`` is set) into the
    return value.
    """

    method: str
    path: str
    parse: Callable[[Any], T]
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    files: Mapping[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bool = False  # parse gets the bytes, not JSON
    absolute_url: str | None = None  # set for signed download URLs
    authenticated: bool = True
    timeout: httpx.Timeout | None = None  # overrides the client's (the event stream's read timeout)

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT_METHODS


class BaseClient:
    """State and decisions shared by the sync and async clients."""

    _base_url: str
    _api_key: str | None
    _timeout: httpx.Timeout
    max_retries: int

    def _configure(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        *,
        has_custom_transport: bool,
    ) -> None:
        self._base_url = resolve_base_url(base_url)
        self._api_key = resolve_api_key(api_key)
        if self._api_key is None and not has_custom_transport and not self._is_loopback():
            msg = (
                "no API key: pass api_key=... or set ROBOTOMAIL_API_KEY "
                "(or use the embedded sandbox, which needs no account)"
            )
            raise InvalidRequestError(msg)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            msg = f"max_retries must be an int >= 0, got {max_retries!r}"
            raise InvalidRequestError(msg)
        self.max_retries = max_retries
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)

    @property
    def base_url(self) -> str:
        """The API base URL every path is appended to."""
        return self._base_url

    def _is_loopback(self) -> bool:
        return is_loopback_host(httpx.URL(self._base_url).host)

    def _url(self, op: Operation[Any]) -> str:
        if op.absolute_url is not None:
            return op.absolute_url
        return self._base_url + op.path

    def _headers(self, op: Operation[Any]) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if op.authenticated and self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        headers.update(op.headers)
        return headers

    def _build(self, http: httpx.Client | httpx.AsyncClient, op: Operation[Any]) -> httpx.Request:
        params = {k: v for k, v in op.params.items() if v is not None}
        return http.build_request(
            op.method,
            self._url(op),
            params=params or None,
            json=op.json,
            files=op.files,
            headers=self._headers(op),
            timeout=op.timeout or self._timeout,
        )

    def _retry_delay_for_response(
        self, op: Operation[Any], response: httpx.Response, attempt: int
    ) -> float | None:
        if not op.idempotent or attempt >= self.max_retries or response.status_code not in RETRY_STATUSES:
            return None
        delay = backoff_delay(attempt, parse_retry_after(response.headers.get("retry-after")))
        logger.info(
            "%s %s answered %d; retry %d/%d in %.2fs",
            op.method,
            op.path,
            response.status_code,
            attempt + 1,
            self.max_retries,
            delay,
        )
        return delay

    def _retry_delay_for_error(
        self, op: Operation[Any], exc: httpx.TransportError, attempt: int
    ) -> float | None:
        # Even a POST that never left (connect error) is not retried: the API has no idempotency
        # key, so the rule stays simple and auditable ("sends are never retried"); the caller
        # gets MailConnectionError and knows nothing was sent.
        if attempt >= self.max_retries or isinstance(exc, _PERMANENT_ERRORS) or not op.idempotent:
            return None
        delay = backoff_delay(attempt)
        logger.info(
            "%s %s failed (%s); retry %d/%d in %.2fs",
            op.method,
            op.path,
            exc,
            attempt + 1,
            self.max_retries,
            delay,
        )
        return delay

    def _transport_error(self, op: Operation[Any], exc: httpx.TransportError) -> MailError:
        url = str(self._url(op)).split("?")[0]
        if not op.idempotent and not isinstance(exc, _NOT_SENT_ERRORS):
            msg = (
                f"{op.method} {op.path} failed after the request may have reached the server ({exc!r}); "
                "it was not retried. Check whether it took effect before trying again"
            )
            logger.warning("%s %s: outcome unknown after %r; not retried", op.method, op.path, exc)
            return AmbiguousSendError(msg, method=op.method, url=url)
        if isinstance(exc, httpx.TimeoutException):
            msg = f"{op.method} {op.path} timed out ({type(exc).__name__})"
            return MailTimeoutError(msg, method=op.method, url=url)
        msg = f"{op.method} {op.path} could not reach the server: {exc!r}"
        return MailConnectionError(msg, method=op.method, url=url)

    @staticmethod
    def _parse(op: Operation[T], response: httpx.Response) -> T:
        if response.is_error:
            raise make_status_error(response)
        if response.is_redirect:
            # Redirects are not followed: they would replay the API key (and a send) elsewhere.
            raise redirect_error(response)
        if op.raw:
            return op.parse(response.content)
        if not response.content:
            return op.parse(None)
        try:
            body = response.json()
        except ValueError as err:
            msg = f"{op.method} {op.path} answered {response.status_code} with a body that is not JSON"
            raise APIStatusError(
                msg, status_code=response.status_code, body=response.text, headers=response.headers
            ) from err
        try:
            return op.parse(body)
        except (ValidationError, KeyError, TypeError, AttributeError) as err:
            # The API grows additively; a missing wrapper key or a wrong type is a contract break.
            msg = f"{op.method} {op.path} answered {response.status_code} with an unexpected body: {err}"
            raise APIStatusError(
                msg, status_code=response.status_code, body=body, headers=response.headers
            ) from err
