"""The README's quickstart code runs as written (on the embedded sandbox, offline)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def test_readme_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.crewai
def test_quickstart_and_crews_snippets_run(tmp_path: Path) -> None:
    runnable = [b for b in BLOCKS if "my_chat_model" not in b]
    assert len(runnable) >= 2
    code = "\n".join(runnable).replace('"crews/', f'"{ROOT}/crews/')
    code += (
        "\nfrom agentmail_tools.guards import DecisionLog\n"
        "decisions = DecisionLog('.agentmail/decisions.db').list()\n"
        "assert len(decisions) == 1, decisions\n"
        "print('decision', decisions[0].outcome)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "decision " in proc.stdout
