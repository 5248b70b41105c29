"""Shared fixtures for the CircuitPython board tests (issue 12)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "circuitpython"
sys.path.insert(0, str(ROLE / "module_utils"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "tests"))  # `import fakes`
