"""FaceXFormer's released ``model.pt`` (torchvision Swin keys) loads through emox's public loading path and
reproduces the official encoder. Expected values: ``shared/fixtures/official-facexformer`` (computed by
Nano-EmoX's ``FaceXFormerEncoderOnly`` around torchvision's ``SwinTransformer``, see its README); the dims
are read from its ``fixture.json``, so fixtures of other seeds and sizes run unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import SwinConfig

from emox_core.modeling.backbones import load_backbones, load_face_tower
from emox_core.modeling.configuration import FaceXFormerConfig, NanoEmoXConfig
from emox_core.modeling.face import FaceXFormerEncoder
from emox_core.modeling.presets import tiny_config
from tests.conftest import facexformer_release_state_dict, official_fixture

OUTPUTS = ("stage1", "stage2", "stage3", "stage4", "fused", "pooled")


@pytest.fixture(scope="module")
def fixture(shared_dir: Path) -> tuple[Path, dict]:
    return official_fixture(shared_dir, "official-facexformer")


def face_config_from(dims: dict) -> FaceXFormerConfig:
    """The fixture's encoder as emox's config: a Swin V1 backbone + the fusion width."""
    swin = SwinConfig(image_size=dims["image_size"], patch_size=dims["patch_size"], embed_dim=dims["embed_dim"],
                      depths=list(dims["depths"]), num_heads=list(dims["num_heads"]), window_size=dims["window_size"],
                      mlp_ratio=dims["mlp_ratio"], layer_norm_eps=dims["layer_norm_eps"],
                      drop_path_rate=dims["stochastic_depth_prob"], hidden_act="gelu")
    return FaceXFormerConfig(backbone_config=swin, fusion_dim=dims["fusion_dim"])


def _outputs(encoder: FaceXFormerEncoder, frames: torch.Tensor) -> dict[str, torch.Tensor]:
    """The fixture's outputs from emox's encoder: stage maps (before patch merging), fused map, pooled vectors."""
    encoder.eval()
    flat = frames.flatten(0, 1)
    with torch.no_grad():
        hidden = encoder.backbone(flat, output_hidden_states=True, output_hidden_states_before_downsampling=True)
        stages = {f"stage{i}": s for i, s in enumerate(hidden.reshaped_hidden_states[1:], start=1)}
        return {**stages, "fused": encoder(flat), "pooled": encoder.frame_vectors(frames)}


def _assert_matches(ours: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], rel: float) -> None:
    for name in OUTPUTS:
        want = expected[name]
        assert ours[name].shape == want.shape, name
        error = (ours[name] - want).abs().max().item()
        assert error <= rel * want.abs().max().item(), f"{name}: max |diff| {error:.3g}"


def test_released_model_pt_reproduces_the_official_encoder(fixture: tuple[Path, dict]) -> None:
    root, meta = fixture
    config = NanoEmoXConfig(face_config=face_config_from(meta["dims"]))
    encoder = load_face_tower(root / "model.pt", config)
    frames = load_file(str(root / "inputs.safetensors"))["frames"].float()  # raw 0-255, as Nano-EmoX feeds it
    _assert_matches(_outputs(encoder, frames), load_file(str(root / "outputs.safetensors")),
                    meta["tolerance"]["rel"])


def test_release_file_as_a_backbone_source(fixture: tuple[Path, dict], tmp_path: Path) -> None:
    """``load_backbones`` with the release file (in the hub repo's ``ckpts/`` layout) as the face source."""
    root, meta = fixture
    (tmp_path / "ckpts").mkdir()
    (tmp_path / "ckpts" / "model.pt").symlink_to(root / "model.pt")
    config = tiny_config()
    config.face_config = face_config_from(meta["dims"])
    towers, _ = load_backbones(config, {**config.backbones, "face": str(tmp_path)})
    frames = load_file(str(root / "inputs.safetensors"))["frames"].float()
    _assert_matches(_outputs(towers["face"], frames), load_file(str(root / "outputs.safetensors")),
                    meta["tolerance"]["rel"])
    assert config.backbones["face"] == str(tmp_path)


def test_fake_release_helper_writes_the_real_key_names(fixture: tuple[Path, dict]) -> None:
    """The test helper that fakes a release file writes exactly the real file's encoder keys, shapes and
    relative position indices (so round trips through it prove what the real file needs)."""
    root, meta = fixture
    fake = facexformer_release_state_dict(FaceXFormerEncoder(face_config_from(meta["dims"])).state_dict())
    real = load_file(str(root / "model.safetensors"))
    encoder_part = {k: v for k, v in fake.items() if k.startswith(("backbone.", "linear_c.", "linear_fuse."))}
    assert sorted(encoder_part) == sorted(real)
    assert all(encoder_part[k].shape == real[k].shape and encoder_part[k].dtype == real[k].dtype for k in real)
    for key in (k for k in real if k.endswith("relative_position_index")):
        assert torch.equal(encoder_part[key], real[key]), key


def test_default_config_constructs() -> None:
    """transformers builds configs with no arguments (diffs, AutoConfig); the default is the 2.2B model."""
    config = NanoEmoXConfig()
    assert config.vision_config.num_hidden_layers == 24 and config.speech_config.num_hidden_layers == 24
    assert config.text_config.hidden_size == 1536 and config.face_config.fusion_dim == 256
    assert NanoEmoXConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()
