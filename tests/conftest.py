"""Test-wide setup: `tests/` is importable for the shared helpers (labkit).

Lab tests need root; they are not skipped without it (a skip would hide that they did
not run): the lab refuses with a one-line error and the test fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
