"""Prompts: identifier + template per task, placeholder counts = configured token counts, official layout."""

from __future__ import annotations

import numpy as np
import pytest

from emox_core.errors import EmoxError
from emox_core.modeling.configuration import PLACEHOLDER_TOKENS
from emox_core.modeling.presets import tiny_config
from emox_core.modeling.tokenizer import build_tiny_tokenizer
from emox_core.processing import Example, NanoEmoXProcessor, ProcessorSettings
from emox_core.tasks import TASKS, get_task, identifier_for


@pytest.fixture(scope="module")
def processor() -> NanoEmoXProcessor:
    return NanoEmoXProcessor(build_tiny_tokenizer(), ProcessorSettings.from_config(tiny_config()))


CASES = {
    "MSA": ("Please select the label that can best describe the person's sentiment", {}),
    "MER": ("Please select the label that can best describe the person's emotional state", {}),
    "OV-MER": ("Please recognize all possible emotional states of the character.", {}),
    "ERI": ("Evaluate all available clues", {}),
    "MIR": ("recognize speaker's intention from the provided candidate labels", {}),
    "ERG": ("Please analyze using Chain of Empathy", {"context": "a party", "current_user_input": "I failed."}),
}


@pytest.mark.parametrize("task", list(TASKS))
def test_prompt_has_identifier_template_and_exact_placeholder_counts(processor, task: str) -> None:
    template, fields = CASES[task]
    layout = "dialogue" if task == "ERG" else "multimodal"
    prompt = processor.build_prompt(task, layout=layout, subtitle="I can't believe it.", **fields)
    assert identifier_for(task) in prompt and template in prompt
    assert prompt.startswith("###Human: ") and prompt.endswith(" ###Assistant: ")
    ids = processor([Example(prompt)])["input_ids"][0].tolist()
    config = tiny_config()
    expected = {"<FrameHere>": config.num_visual_tokens, "<AudioHere>": config.num_speech_tokens,
                "<FaceHere>": config.num_face_tokens, "<MultiHere>": config.num_fusion_tokens}
    for token in PLACEHOLDER_TOKENS:
        assert ids.count(processor.placeholder_ids[token]) == expected[token], token


def test_official_multimodal_layout_verbatim(processor) -> None:
    prompt = processor.build_prompt("MIR", subtitle="Thanks a lot!")
    assert prompt == (
        "###Human: The audio and video merged info is: <Multi><MultiHere></Multi>. The audio content is as follows: "
        "<Audio><AudioHere></Audio>. Meanwhile, We uniformly extract facial informations from video: "
        "<Video><FaceHere></Video>. Meanwhile, we uniformly sample raw frames from the video: "
        "<Video><FrameHere></Video>. The subtitle of this video is: <Subtitle>Thanks a lot!</Subtitle>. Now, please "
        "answer my question based on all the provided information. [Intent]recognize speaker's intention from the "
        "provided candidate labels: complain, praise, apologise, thank, criticize, agree, taunt, flaunt, joke, "
        "oppose, comfort, care, inform, advise, arrange, introduce, leave, prevent, greet, ask for help. "
        "###Assistant: ")


def test_phase_layouts_and_history(processor) -> None:
    speech = processor.build_prompt("MER", layout="audio_text", labels=["anger", "sad"])
    assert speech.startswith("The audio content is as follows: <Audio><AudioHere></Audio>.")
    assert "<FrameHere>" not in speech
    visual = processor.build_prompt("MER", layout="face_frame")
    assert visual.index("<FrameHere>") < visual.index("<FaceHere>") and "Subtitle" not in visual
    erg = processor.build_prompt("ERG", layout="dialogue", context="c", current_user_input="u",
                                 history=[{"role": "speaker", "text": "hi"}, {"role": "listener", "text": "hello"}])
    assert "<Dialogue History>speaker: hi\nlistener: hello</Dialogue History>" in erg


def test_paper_prompt_style_uses_the_supplement_identifier() -> None:
    settings = ProcessorSettings.from_config(tiny_config(prompt_style="paper"))
    proc = NanoEmoXProcessor(build_tiny_tokenizer(), settings)
    assert "[Recog_OV]" in proc.build_prompt("OV-MER") and identifier_for("OV-MER", "paper") == "[Recog_OV]"


def test_disabled_branch_drops_its_sentence_and_counts() -> None:
    config = tiny_config(use_face=False)
    proc = NanoEmoXProcessor(build_tiny_tokenizer(), ProcessorSettings.from_config(config))
    prompt = proc.build_prompt("MER")
    assert "<FaceHere>" not in prompt and "facial informations" not in prompt
    with pytest.raises(EmoxError, match="disabled"):
        proc.expand_placeholders("<FaceHere>")


def test_audio_segments_follow_the_official_sampler(processor) -> None:
    wave = np.arange(16000 * 10, dtype=np.float32)  # 10 s ramp
    clips = processor.audio_to_input_values(wave)
    assert clips.shape == (8, 32000)
    short = processor.audio_to_input_values(np.ones(8000, dtype=np.float32))  # padded to 2 s
    assert short.shape == (8, 32000)
    assert np.allclose(clips.mean(1).numpy(), 0, atol=1e-3) and np.allclose(clips.std(1).numpy(), 1, atol=1e-2)


def test_left_padding_for_generation(processor) -> None:
    batch = processor([Example("hi"), Example(processor.build_prompt("ERI"))], padding_side="left")
    assert batch["attention_mask"][0, -1] == 1 and batch["attention_mask"][0, 0] == 0
    assert "labels" not in batch


def test_unknown_task_and_missing_fields() -> None:
    with pytest.raises(EmoxError, match="unknown task"):
        get_task("XYZ")
    with pytest.raises(EmoxError, match="context"):
        get_task("ERG").question()


def test_answer_parsing() -> None:
    assert get_task("MER").parse("The most likely label is happy.###").label == "happy"
    assert get_task("MIR").parse("Ask for help").label == "ask for help"
    assert get_task("OV-MER").parse("The character's emotional state is {worried, sad}.").labels == ["worried", "sad"]
    erg = get_task("ERG").parse("<think>Firstly, x\nSecondly, the emotion of the speaker is lonely\n</think>\n Hug.")
    assert erg.label == "lonely" and erg.reply == "Hug." and erg.thinking.startswith("Firstly")
