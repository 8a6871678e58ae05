"""Tokenizer helpers: the placeholder tokens every Nano-EmoX tokenizer needs, and a small Qwen2-style
byte-level BPE tokenizer trained offline (for the ``tiny`` preset: no hub access needed)."""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from emox_core.modeling.configuration import PLACEHOLDER_TOKENS

# Qwen2's pre-tokenisation pattern (Qwen/Qwen2.5 tokenizer.json) and chat special tokens.
QWEN_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
QWEN_SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def add_placeholder_tokens(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """Add the four placeholder tokens as special tokens (as the official ``models/tokenizer.py`` does) and
    return their ids. Qwen2.5's embedding has spare rows, so no resize is needed there."""
    tokenizer.add_tokens(list(PLACEHOLDER_TOKENS), special_tokens=True)
    return {token: tokenizer.convert_tokens_to_ids(token) for token in PLACEHOLDER_TOKENS}


def _corpus() -> list[str]:
    from emox_core import tasks

    lines = [q for t in tasks.TASKS.values() for q in t.questions]
    lines += [tasks.ERG_ANSWER, *tasks.PAPER_QUESTIONS.values()]
    for labels in (tasks.CAER_FERV39K_LABELS, tasks.MINTREC2_LABELS, tasks.AVAMERG_LABELS, tasks.SENTIMENT_LABELS):
        lines.append(", ".join(labels))
        lines += [f"The most likely label is {label}." for label in labels]
    lines += [
        "###Human: The audio and video merged info is: <Multi></Multi>. The audio content is as follows: "
        "<Audio></Audio>. Meanwhile, We uniformly extract facial informations from video: <Video></Video>. "
        "Meanwhile, we uniformly sample raw frames from the video: <Video></Video>. The subtitle of this video is: "
        "<Subtitle></Subtitle>. Now, please answer my question based on all the provided information. ###Assistant: ",
        "The dialogue history is:<Dialogue History></Dialogue History>. Now here is the dialogue context:",
        "I am so sorry to hear that. It sounds like you are going through a lot, and I am here for you.",
        "She looks happy and relaxed; her voice is bright and she smiles while talking about her trip.",
        "He frowns and speaks loudly, his tone is tense and angry; the subtitle says he is upset with his friend.",
        "speaker: I lost my job today. listener: That must be really hard. How are you feeling?",
        "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'\"()[]{}<>-_/#",
    ]
    return lines


def build_tiny_tokenizer(vocab_size: int = 900) -> PreTrainedTokenizerBase:
    """A Qwen2-style tokenizer trained in ~0.1 s on emox's own prompt strings (deterministic).

    Same special tokens and pre-tokeniser as Qwen2.5; byte-level, so any text round-trips.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import Qwen2TokenizerFast

    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(QWEN_SPECIAL),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(_corpus(), trainer)
    tokenizer = Qwen2TokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token="<|im_start|>", unk_token=None)
    add_placeholder_tokens(tokenizer)
    return tokenizer
