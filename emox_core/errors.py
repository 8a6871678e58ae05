"""The one exception type that means "the user gave us something wrong".

The CLI prints an :class:`EmoxError` as a single line and exits non-zero; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations


class EmoxError(Exception):
    """A user-facing error: bad input, missing file, mismatched settings.

    The message must name the file (or argument) and the problem in one line.
    """

    exit_code: int = 1
