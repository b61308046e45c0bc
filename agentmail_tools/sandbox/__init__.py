"""The embedded sandbox: a Robotomail-compatible mail server with no account and no network.

``Sandbox()`` runs in memory, ``Sandbox(path)`` persists; ``sandbox.client()`` is a
``MailClient`` bound in-process and ``sandbox.serve()`` serves HTTP and SMTP on loopback.
"""

from ._limits import SandboxLimits
from ._sandbox import Sandbox
from ._server import SandboxServer
from ._service import DEFAULT_DOMAIN
from ._transport import AsyncASGITransport, SyncASGITransport

__all__ = [
    "AsyncASGITransport",
    "DEFAULT_DOMAIN",
    "Sandbox",
    "SandboxLimits",
    "SandboxServer",
    "SyncASGITransport",
]
