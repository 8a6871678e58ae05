"""``emox export``: Merge LoRA and write a full model directory."""

from __future__ import annotations

from emox_core.errors import EmoxError


def export() -> None:
    """Merge LoRA and write a full model directory."""
    raise EmoxError("'emox export' is not available in this version yet")
