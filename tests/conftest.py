"""Suite-wide settings: offline, no telemetry, deterministic."""

from __future__ import annotations

import os

# Set before anything imports CrewAI, Chroma or Hugging Face code.
for _name, _value in {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
    "ANONYMIZED_TELEMETRY": "False",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_name, _value)

# A real key in a developer's shell must never reach the hosted API from a test.
os.environ.pop("ROBOTOMAIL_API_KEY", None)
os.environ.pop("ROBOTOMAIL_BASE_URL", None)
os.environ.pop("OPENAI_API_KEY", None)
