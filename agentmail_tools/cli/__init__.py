"""The ``agentmail-tools`` command line (typer + rich).

The transport commands live here; the ``retrieval`` and ``crews`` packages register
their own commands (``index``, ``worker``, ``review``, ``eval``, ``demo``) when they are
installed, so this package never imports them at import time.
"""

from ._app import app, main

__all__ = ["app", "main"]
