"""emox's one file format for trainable weights: the adapters directory, its writer and its reader.

Training outputs and checkpoints, ``save_model(..., adapters_only=True)`` and ``emox convert official`` all
write the same directory (docs/weights.md):

* ``config.json``: the full :class:`~emox_core.modeling.configuration.NanoEmoXConfig`, including where each
  backbone comes from (``backbones``, ``backbone_seed`` for ``"random"`` ones, ``tokenizer_source``), so the
  directory alone rebuilds the model;
* ``adapters.safetensors``: every resampler, face-head, fusion and LoRA weight, float32, under emox's parameter
  names; metadata ``emox_format`` (:data:`ADAPTERS_FORMAT`), ``modules`` (the branches the file holds) and
  what the writer adds (``phase`` for training, ``converted_from``/``missing`` for conversions);
* the processor (``processor_config.json`` + tokenizer files) when the writer has one;
* ``recipe.yaml`` beside training outputs (not part of the model: the loader reads it only for old
  directories, see :func:`~emox_core.modeling.loading.load_model`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from emox_core.errors import EmoxError

if TYPE_CHECKING:
    from emox_core.modeling.configuration import NanoEmoXConfig
    from emox_core.modeling.modeling_nano_emox import NanoEmoXForConditionalGeneration
    from emox_core.processing import NanoEmoXProcessor

ADAPTERS_FILE = "adapters.safetensors"
CONFIG_FILE = "config.json"
ADAPTERS_FORMAT = "emox-adapters/1"
LORA = "lora"


def branch_of(name: str) -> str:
    """The branch a weight belongs to: its top-level adapter module, or ``lora``."""
    return LORA if "lora_" in name else name.split(".", 1)[0]


def is_adapters_dir(path: str | Path) -> bool:
    """A local directory holding adapters + config and no full ``model*.safetensors``."""
    directory = Path(path)
    return (directory / ADAPTERS_FILE).is_file() and (directory / CONFIG_FILE).is_file() and \
        not any(directory.glob("model*.safetensors"))


def write_adapters(directory: str | Path, state: dict[str, torch.Tensor], config: NanoEmoXConfig,
                   processor: NanoEmoXProcessor | None = None, **metadata: str) -> Path:
    """Write an adapters directory (the only writer of this format). ``state`` holds emox parameter names;
    each file is replaced atomically."""
    from safetensors.torch import save

    from emox_core.fileio import atomic_write_bytes, atomic_write_text

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in sorted(state.items())}
    header = {"format": "pt", "producer": "emox", "emox_format": ADAPTERS_FORMAT,
              "modules": ",".join(sorted({branch_of(k) for k in tensors})),
              **{k: str(v) for k, v in metadata.items()}}
    atomic_write_bytes(directory / ADAPTERS_FILE, save(tensors, metadata=header))
    atomic_write_text(directory / CONFIG_FILE, config.to_json_string())
    if processor is not None:
        processor.save_pretrained(directory)
    return directory


def read_adapters(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str], Path]:
    """(weights, metadata, file) of an adapters directory or file; any emox version's file reads the same."""
    from safetensors import safe_open

    path = Path(path)
    file = path / ADAPTERS_FILE if path.is_dir() else path
    if not file.is_file():
        raise EmoxError(f"{file}: adapter checkpoint not found")
    try:
        with safe_open(str(file), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 - safe_open has no iter
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for a damaged file
        raise EmoxError(f"{file}: not a readable safetensors file ({type(exc).__name__}: {exc})") from None
    return state, metadata, file


def load_adapters_into(model: NanoEmoXForConditionalGeneration, path: str | Path, strict: bool = True) -> list[str]:
    """Copy an adapters file's weights into ``model``; returns the names loaded.

    Every weight in the file must exist in the model with the same shape. With ``strict`` every adapter weight
    of the model must be in the file: a conversion of a checkpoint whose phase froze a branch is refused for
    inference (it still serves as a recipe's ``model.init_from``, which loads with ``strict=False``).
    """
    state, metadata, file = read_adapters(path)
    own = model.adapter_state_dict()
    unknown = sorted(set(state) - set(own))
    shape_bad = [k for k in state if k in own and own[k].shape != state[k].shape]
    if unknown or shape_bad:
        detail = (f"unexpected {unknown[:2]}" if unknown else
                  f"shape mismatch {shape_bad[0]} {list(state[shape_bad[0]].shape)} vs {list(own[shape_bad[0]].shape)}")
        raise EmoxError(f"{file}: adapters do not match this model ({detail}); was it saved with another config?")
    missing = sorted(set(own) - set(state))
    if strict and missing:
        branches = sorted({branch_of(k) for k in missing})
        why = (f"converted from {metadata['converted_from']}, whose training phase froze them"
               if "converted_from" in metadata else f"e.g. {missing[0]}")
        raise EmoxError(f"{file}: no weights for {', '.join(branches)} ({why}); use it as a recipe's "
                        "model.init_from, or convert a checkpoint that trained every branch")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value.to(params[name].dtype))
    return sorted(state)
