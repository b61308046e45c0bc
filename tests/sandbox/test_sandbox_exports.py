"""The sandbox package's public surface: sorted, resolvable, light to import (pinned in test_public_api)."""

from __future__ import annotations

import agentmail_tools.sandbox as sandbox


def test_exported_names_are_sorted_and_resolve():
    # The names themselves are pinned in tests/test_public_api.py.
    assert sandbox.__all__ == sorted(sandbox.__all__)
    for name in sandbox.__all__:
        assert getattr(sandbox, name) is not None


def test_importing_the_sandbox_does_not_import_heavy_frameworks():
    import subprocess
    import sys

    code = "import agentmail_tools.sandbox, sys; print(sorted(m for m in ('crewai', 'chromadb', 'retrieval', 'crews') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
