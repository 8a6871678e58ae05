"""Reading ``.npz`` files that users give us without ever running code from them.

The official AffectGPT / Nano-EmoX outputs and label packages are object arrays (a pickled dict of strings,
e.g. ``name2reason``), so ``np.load(..., allow_pickle=True)`` would execute whatever a crafted file pickles
(``os.system``, a file write) before emox could look at the data. Here plain arrays are read with
``allow_pickle=False`` and object arrays are unpickled by :class:`_PlainDataUnpickler`, which rebuilds only
numpy arrays, dtypes, numpy scalars and Python's plain containers; any other global in the pickle stops the
read with a one-line :class:`~emox_core.errors.EmoxError` before anything is called.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from emox_core.errors import EmoxError

_RECONSTRUCT = np.ndarray.__reduce__(np.empty(0))[0]  # numpy's own array rebuild function, any numpy version
_SCALAR = np.float64(0).__reduce__()[0]  # numpy's scalar rebuild function
_ARRAY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_PLAIN_BUILTINS = {"set": set, "frozenset": frozenset, "complex": complex, "bytearray": bytearray}


def _array(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("array rebuild of a type other than numpy.ndarray")
    return _RECONSTRUCT(subtype, shape, dtype)


def _scalar(dtype: Any, *args: Any) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("numpy scalar of an object dtype")
    return _SCALAR(dtype, *args)


class _PlainDataUnpickler(pickle.Unpickler):
    """Resolves only the globals that an object array of plain data needs."""

    def find_class(self, module: str, name: str) -> Any:
        if module in _ARRAY_MODULES and name == "_reconstruct":
            return _array
        if module in _ARRAY_MODULES and name == "scalar":
            return _scalar
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module == "builtins" and name in _PLAIN_BUILTINS:
            return _PLAIN_BUILTINS[name]
        if module == "collections" and name == "OrderedDict":
            from collections import OrderedDict

            return OrderedDict
        raise pickle.UnpicklingError(f"pickles {module}.{name}")


def load_npz(path: str | os.PathLike[str], what: str = "npz file") -> dict[str, np.ndarray]:
    """Every array of ``path`` by key (``name2reason``, ``filenames``, ...); object arrays hold plain data only.

    Raises a one-line :class:`EmoxError` naming the file for a missing or unreadable file and for an object
    array that pickles anything but plain data (the pickle is refused, never run).
    """
    path = Path(path)
    if not path.is_file():
        raise EmoxError(f"{path}: {what} not found")
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.endswith(".npy")]
            return {m.removesuffix(".npy"): _read_member(archive.read(m), path, m) for m in members}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise EmoxError(f"{path}: not a readable npz ({exc})") from None


def _read_member(data: bytes, path: Path, member: str) -> np.ndarray:
    key = member.removesuffix(".npy")
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
        if not dtype.hasobject:
            stream.seek(0)
            return np.lib.format.read_array(stream, allow_pickle=False)
        array = _PlainDataUnpickler(stream).load()
    except pickle.UnpicklingError as exc:
        raise EmoxError(
            f"{path}: refused to read array {key!r}: it {exc} (only plain data is read from an npz; "
            "nothing in a data file is ever run)"
        ) from None
    except (ValueError, EOFError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise EmoxError(f"{path}: array {key!r} is not a readable npy ({exc})") from None
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise EmoxError(f"{path}: array {key!r} does not hold the array its header announces")
    return array
