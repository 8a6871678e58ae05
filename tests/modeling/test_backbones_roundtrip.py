"""The real loading path on tiny real architectures: backbones from save_pretrained dirs and FaceXFormer's
released model.pt layout -> model -> forward/backward -> both checkpoint kinds -> generate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emox_core.curriculum import PHASES
from emox_core.errors import EmoxError
from emox_core.modeling.face import FaceXFormerEncoder
from emox_core.modeling.loading import build_model, load_model, save_model
from emox_core.modeling.presets import tiny_config
from emox_core.processing import Example


@pytest.fixture(scope="module")
def built(tiny_backbones: dict[str, str]):
    torch.manual_seed(1)
    return build_model(tiny_config(), tiny_backbones)


def _examples(processor, with_target: bool = True) -> list[Example]:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (8, 48, 64, 3), dtype=np.uint8)
    audio = rng.standard_normal(16000 * 3).astype(np.float32)
    prompt = processor.build_prompt("MER", subtitle="Leave me alone.")
    target = "The most likely label is anger." if with_target else None
    return [Example(prompt, target, frames=frames, audio=audio), Example(prompt, target, frames=frames, audio=None)]


def test_backbone_weights_come_from_the_saved_dirs(built, tiny_backbones: dict[str, str]) -> None:
    from transformers import CLIPVisionModel, HubertModel

    model, _ = built
    clip = CLIPVisionModel.from_pretrained(tiny_backbones["vision"])
    hubert = HubertModel.from_pretrained(tiny_backbones["speech"])
    for ours, theirs in ((model.vision_tower, clip), (model.speech_tower, hubert)):
        for (name, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items(), strict=True):
            assert torch.equal(a, b), name
    reference = torch.load(Path(tiny_backbones["face"]).parent / "facexformer_reference.pt")
    face_state = model.face_tower.state_dict()
    for name, value in reference.items():
        assert torch.equal(face_state[name], value), name
    assert model.config.backbones["face"] == tiny_backbones["face"]


def test_facexformer_release_checkpoint_gives_identical_features(tiny_backbones: dict[str, str]) -> None:
    from emox_core.modeling.face import facexformer_from_checkpoint

    config = tiny_config()
    reference = FaceXFormerEncoder(config.face_config)
    reference.load_state_dict(torch.load(Path(tiny_backbones["face"]).parent / "facexformer_reference.pt"))
    loaded = facexformer_from_checkpoint(Path(tiny_backbones["face"]) / "ckpts" / "model.pt", config.face_config)
    x = torch.rand(2, 3, 32, 32) * 255
    reference.eval()
    loaded.eval()
    assert torch.allclose(reference(x), loaded(x))
    assert loaded(x).shape == (2, config.face_config.fusion_dim, 16, 16)


def test_bad_face_checkpoint_is_one_line_error(tmp_path: Path) -> None:
    from emox_core.modeling.face import facexformer_from_checkpoint

    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(EmoxError, match="model.pt"):
        facexformer_from_checkpoint(bad, tiny_config().face_config)
    torch.save({"state_dict_backbone": {"backbone.0.0.0.weight": torch.zeros(1)}}, bad)
    with pytest.raises(EmoxError, match="does not match"):
        facexformer_from_checkpoint(bad, tiny_config().face_config)


def test_missing_backbone_dir_is_clear_error(tmp_path: Path, tiny_backbones: dict[str, str]) -> None:
    sources = {**tiny_backbones, "vision": str(tmp_path / "nope")}
    with pytest.raises(EmoxError, match="nope: cannot load the vision encoder"):
        build_model(tiny_config(), sources)


@pytest.mark.parametrize("phase", list(PHASES))
def test_forward_backward_grads_only_on_the_phase_trainables(built, phase: str) -> None:
    model, processor = built
    names = model.set_trainable(PHASES[phase].trainable)
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(**processor(_examples(processor)))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad and with_grad <= set(names)
    tops = {n.split(".", 1)[0] if "lora_" not in n else "lora" for n in names}
    assert tops == set(PHASES[phase].trainable)
    assert all(not t.training for t in model.towers())
    assert not any(p.requires_grad for t in model.towers() for p in t.parameters())
    model.eval()


def test_loss_counts_only_target_tokens(built) -> None:
    model, processor = built
    batch = processor(_examples(processor))
    target_positions = (batch["labels"] != -100).sum(dim=1)
    target_ids = processor.tokenizer("The most likely label is anger.###", add_special_tokens=False).input_ids
    assert target_positions.tolist() == [len(target_ids) + 1] * 2  # + eos
    assert (batch["labels"][:, : batch["input_ids"].shape[1] - target_positions[0]] == -100).all()


def test_both_checkpoint_kinds_reload_with_identical_outputs(built, tmp_path: Path,
                                                             tiny_backbones: dict[str, str]) -> None:
    model, processor = built
    with torch.no_grad():  # make LoRA non-zero so it matters in the comparison
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.1)
    model.eval()
    batch = processor(_examples(processor))
    with torch.no_grad():
        reference = model(**batch).logits
    save_model(model, processor, tmp_path / "full")
    save_model(model, processor, tmp_path / "adapters", adapters_only=True)
    assert not any((tmp_path / "adapters").glob("model*.safetensors"))
    adapters_size = (tmp_path / "adapters" / "adapters.safetensors").stat().st_size
    full_size = sum(f.stat().st_size for f in (tmp_path / "full").glob("model*.safetensors"))
    assert adapters_size < full_size
    for directory in ("full", "adapters"):
        loaded, loaded_processor = load_model(tmp_path / directory)
        loaded.eval()
        with torch.no_grad():
            logits = loaded(**loaded_processor(_examples(loaded_processor))).logits
        assert torch.allclose(logits, reference, atol=1e-5), directory


def test_adapters_from_another_config_are_refused(built, tmp_path: Path) -> None:
    model, processor = built
    save_model(model, processor, tmp_path, adapters_only=True)
    other, _ = build_model(tiny_config(num_visual_tokens=16), tokenizer=processor.tokenizer)
    with pytest.raises(EmoxError, match="adapters do not match"):
        other.load_adapters(tmp_path)


@pytest.mark.parametrize("case", ["all", "no_audio", "text_only"])
def test_generate_with_any_modalities(built, case: str) -> None:
    model, processor = built
    model.eval()
    examples = _examples(processor, with_target=False)[:1]
    if case == "no_audio":
        examples[0].audio = None
    elif case == "text_only":
        examples = [Example(processor.build_prompt("ERI", subtitle="It is fine."))]
    batch = processor(examples, padding_side="left")
    if case == "text_only":
        assert "pixel_values" not in batch and "input_values" not in batch
    ids = model.generate(**batch, max_new_tokens=6, min_new_tokens=6, do_sample=False)
    assert ids.shape == (1, 6)
    assert isinstance(processor.decode(ids[0]), str)


def test_missing_modality_is_masked_not_read(built) -> None:
    """A silent clip's audio placeholders carry no information: changing the (absent) audio changes nothing."""
    model, processor = built
    model.eval()
    ex = _examples(processor, with_target=False)[1]  # audio None
    batch = processor([ex], padding_side="left")
    embeds, mask = model.embed_inputs(batch["input_ids"], batch["attention_mask"], batch.get("pixel_values"),
                                      None, batch.get("pixel_values_videos"), batch["modality_mask"])
    audio_id = model.config.placeholder_token_ids["<AudioHere>"]
    positions = batch["input_ids"][0] == audio_id
    assert int(positions.sum()) == model.config.num_speech_tokens
    assert (mask[0, positions] == 0).all() and (embeds[0, positions] == 0).all()
    fusion_id = model.config.placeholder_token_ids["<MultiHere>"]
    assert (mask[0, batch["input_ids"][0] == fusion_id] == 0).all()
