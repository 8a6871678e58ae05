"""``emox demo``: Run the whole toolkit offline on a synthetic corpus."""

from __future__ import annotations

from emox_core.errors import EmoxError


def demo() -> None:
    """Run the whole toolkit offline on a synthetic corpus."""
    raise EmoxError("'emox demo' is not available in this version yet")
