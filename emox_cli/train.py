"""``emox train``: Train one P2E phase from a recipe."""

from __future__ import annotations

from emox_core.errors import EmoxError


def train() -> None:
    """Train one P2E phase from a recipe."""
    raise EmoxError("'emox train' is not available in this version yet")
