"""Test-wide settings: never touch a hub, keep HF caches inside the test's temp space."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMOX_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's ../shared folder (real anchor data files); tests that need it skip without it."""
    if not (SHARED / "anchors").is_dir():
        pytest.skip(f"anchor data not found at {SHARED} (set EMOX_SHARED_DIR to the shared/ folder)")
    return SHARED


@pytest.fixture(scope="session")
def anchors_dir(shared_dir: Path) -> Path:
    return shared_dir / "anchors"


def official_fixture(shared_dir: Path, name: str) -> tuple[Path, dict]:
    """(folder, parsed fixture.json) of ``shared/fixtures/NAME`` (golden numbers of the official code); skips
    the test when that fixture is not there."""
    import json

    root = shared_dir / "fixtures" / name
    if not (root / "fixture.json").is_file():
        pytest.skip(f"no {name} fixture at {root}")
    return root, json.loads((root / "fixture.json").read_text())


def run_emox(*args: str | Path) -> int:
    """Run the CLI in this process (as the console script does); returns the exit code."""
    from emox_cli.main import main

    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def swin_relative_position_index(window: int):
    """torchvision's ``relative_position_index`` buffer of a window (``swin_transformer.py``,
    ``ShiftedWindowAttention.define_relative_position_index``): what the released file stores."""
    import torch

    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    relative[:, :, 0] *= 2 * window - 1
    return relative.sum(-1).flatten()


def facexformer_release_state_dict(state: dict) -> dict:
    """Turn our FaceXFormerEncoder weights into the key layout of FaceXFormer's released ``model.pt``
    (torchvision swin_b inside ``backbone``, the same key names as the real file's ``state_dict_backbone``),
    plus decoder entries the release also carries."""
    import re

    import torch

    renames = {"layernorm_before": "norm1", "layernorm_after": "norm2", "mlp.fc1": "mlp.0", "mlp.fc2": "mlp.3",
               "attention.o_proj": "attn.proj",
               "attention.relative_position_bias.relative_position_bias_table": "attn.relative_position_bias_table"}
    out: dict = {}
    qkv: dict = {}
    for key, value in state.items():
        if key.startswith(("linear_c.", "linear_fuse.")):
            out[key] = value.clone()
            continue
        if key.startswith("backbone.embeddings.patch_embeddings.projection."):
            out["backbone.0.0.0." + key.rsplit(".", 1)[1]] = value.clone()
        elif key.startswith("backbone.embeddings.norm."):
            out["backbone.0.0.2." + key.rsplit(".", 1)[1]] = value.clone()
        elif key.startswith("backbone.layernorm."):
            out["backbone.1." + key.rsplit(".", 1)[1]] = value.clone()
        elif m := re.match(r"backbone\.encoder\.layers\.(\d+)\.downsample\.(.*)", key):
            out[f"backbone.0.{2 * int(m.group(1)) + 2}.{m.group(2)}"] = value.clone()
        elif m := re.match(r"backbone\.encoder\.layers\.(\d+)\.blocks\.(\d+)\.(.*)", key):
            prefix = f"backbone.0.{2 * int(m.group(1)) + 1}.{m.group(2)}."
            name = m.group(3)
            if q := re.match(r"attention\.(q|k|v)_proj\.(weight|bias)", name):
                qkv.setdefault(prefix + "attn.qkv." + q.group(2), {})[q.group(1)] = value
                continue
            for new, old in renames.items():
                if name == new or name.startswith(new + "."):
                    name = old + name[len(new):]
                    break
            out[prefix + name] = value.clone()
            if name == "attn.relative_position_bias_table":
                window = (round(value.shape[0] ** 0.5) + 1) // 2
                out[prefix + "attn.relative_position_index"] = swin_relative_position_index(window)
    for key, parts in qkv.items():
        out[key] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0).clone()
    out["pe_layer.positional_encoding_gaussian_matrix"] = torch.randn(2, 8)
    out["face_decoder.landmarks_token.weight"] = torch.randn(1, 8)
    return out


@pytest.fixture(scope="session")
def tiny_backbones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Tiny random CLIP vision, HuBERT, FaceXFormer (released model.pt layout) and Qwen2 + tokenizer, each
    written the way the real ones are distributed; returns the ``sources`` mapping for build_model."""
    import torch
    from transformers import CLIPVisionModel, HubertModel, Qwen2ForCausalLM

    from emox_core.modeling.face import FaceXFormerEncoder
    from emox_core.modeling.presets import tiny_config
    from emox_core.modeling.tokenizer import build_tiny_tokenizer

    root = tmp_path_factory.mktemp("backbones")
    torch.manual_seed(0)
    config = tiny_config()
    CLIPVisionModel(config.vision_config).save_pretrained(root / "clip")
    HubertModel(config.speech_config).save_pretrained(root / "hubert")
    face = FaceXFormerEncoder(config.face_config)
    with torch.no_grad():
        for param in face.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    (root / "facexformer" / "ckpts").mkdir(parents=True)
    torch.save({"state_dict_backbone": facexformer_release_state_dict(face.state_dict())},
               root / "facexformer" / "ckpts" / "model.pt")
    torch.save(face.state_dict(), root / "facexformer_reference.pt")
    tokenizer = build_tiny_tokenizer()
    config.text_config.vocab_size = 1024
    Qwen2ForCausalLM(config.text_config).save_pretrained(root / "qwen2")
    tokenizer.save_pretrained(root / "qwen2")
    return {"vision": str(root / "clip"), "speech": str(root / "hubert"), "face": str(root / "facexformer"),
            "text": str(root / "qwen2")}


@pytest.fixture(scope="session", autouse=True)
def _temporary_user_caches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """emox's default caches (media cache, judge cache: see ``emox_core.fileio.user_cache_dir``) live in the
    session's temp space, for this process and the CLI subprocesses it starts: the suite never writes to
    ~/.cache/emox (nor to a cache the developer's own EMOX_* variables point at)."""
    root = tmp_path_factory.mktemp("user-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMOX_CACHE_DIR", str(root))
        patch.delenv("EMOX_MEDIA_CACHE", raising=False)
        yield root
