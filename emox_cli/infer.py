"""``emox infer``: Run the model on a clip or a manifest."""

from __future__ import annotations

from emox_core.errors import EmoxError


def infer() -> None:
    """Run the model on a clip or a manifest."""
    raise EmoxError("'emox infer' is not available in this version yet")
