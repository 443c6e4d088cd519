"""Where the reference material beside the checkout lives, and the one reason tests give when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

AZURE_WIRE = Path(__file__).resolve().parents[1].parent / "shared" / "azure-wire"
ABSENT = ("../shared/azure-wire is absent (reference material kept outside the repository, as in users' clones); "
          "the facts pinned in tests/fixtures are still checked")
needs_reference = pytest.mark.skipif(not AZURE_WIRE.is_dir(), reason=ABSENT)
