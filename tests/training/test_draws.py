"""Every training draw as the official loader makes it: one of the task's training questions at random (4 for
ERI, 5 for OV-MER), and an over-length sample skipped for another draw of the same source, counted and named
in the train log. Evaluation and inference keep the first (official inference) question."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from emox_core.errors import EmoxError
from tests.training.conftest import tiny_overrides, write_task_manifest


@pytest.fixture(scope="module")
def processor():
    from emox_core.modeling.backbones import prepare_tokenizer
    from emox_core.modeling.presets import tiny_config
    from emox_core.modeling.tokenizer import build_tiny_tokenizer
    from emox_core.processing import NanoEmoXProcessor, ProcessorSettings

    config = tiny_config()
    tokenizer = build_tiny_tokenizer()
    prepare_tokenizer(tokenizer, config)
    return NanoEmoXProcessor(tokenizer, ProcessorSettings.from_config(config))


def _dataset(processor, corpus: Path, manifests: dict[str, Path]):
    from emox_core.training.data import TrainingSet, load_sources
    from emox_core.training.recipe import DataSource

    sources = {name: DataSource(manifest=str(path), data_root=str(corpus)) for name, path in manifests.items()}
    return TrainingSet(load_sources(sources), processor)


def _question(prompt: str, questions: tuple[str, ...]) -> int:
    found = [i for i, q in enumerate(questions) if prompt.endswith(f"{q} ###Assistant: ")]
    assert len(found) == 1, prompt[-300:]
    return found[0]


@pytest.mark.parametrize(("task", "phrasings"), [("ERI", 4), ("OV-MER", 5)])
def test_each_draw_asks_one_of_the_official_training_questions(processor, corpus: Path, task: str,
                                                               phrasings: int) -> None:
    from emox_core.samples import sample_to_example
    from emox_core.tasks import get_task
    from emox_core.training.data import MixtureSampler

    questions = get_task(task).questions
    assert len(questions) == phrasings
    dataset = _dataset(processor, corpus, {task: write_task_manifest(corpus, task, f"{task}.jsonl")})
    sampler = MixtureSampler(dataset.sizes, [1.0], seed=3, num_samples=600)
    asked = []
    for index, draw in sampler:
        item = dataset[(index, draw)]
        asked.append(_question(item["example"].prompt, questions))
        assert item["question"] == asked[-1]
    counts = Counter(asked)
    assert set(counts) == set(range(phrasings))
    assert min(counts.values()) >= 0.7 * len(asked) / phrasings  # uniform, as random.choice
    # the same sample is asked different questions on different draws
    by_sample: dict[int, set[int]] = {}
    for (index, _), question in zip(sampler, asked, strict=True):
        by_sample.setdefault(index, set()).add(question)
    assert max(len(v) for v in by_sample.values()) > 1
    # a resumed sampler asks the same questions from its position on
    resumed = MixtureSampler(dataset.sizes, [1.0], seed=3, num_samples=600)
    resumed.load_state_dict(sampler.state_dict(250), "ckpt")
    assert [dataset[key]["question"] for key in resumed] == asked[250:]
    # evaluation and inference build their prompts without a draw: the first question, always
    sample = dataset.items[0].sample
    assert _question(sample_to_example(sample, processor, None, with_target=False).prompt, questions) == 0


def test_the_training_questions_are_the_official_ones(shared_dir: Path) -> None:
    """Verbatim against the official lists quoted in the reference notes (base_dataset.py:259-290)."""
    from emox_core.tasks import get_task

    notes = (shared_dir / "reference" / "official-code-notes.md").read_text(encoding="utf-8")
    for task, heading in (("ERI", "The 4 ERI questions"), ("OV-MER", "The 5 OV questions")):
        block = notes[notes.index(heading):].split("\n\n", 1)[0]
        official = tuple(re.findall(r"^\d\. `(.*)`$", block, flags=re.MULTILINE))
        assert official == get_task(task).questions


def _long_manifest(corpus: Path, every: int) -> Path:
    """The MER corpus with every ``every``-th sample's subtitle far beyond max_length."""
    lines = (corpus / "manifest.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    for i, row in enumerate(rows):
        if i % every == 0:
            row["subtitle"] = "and then it went on and on " * 300
    path = corpus / f"long-every-{every}.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_over_length_samples_are_skipped_counted_and_logged(corpus: Path, feature_dir: Path,
                                                           tmp_path: Path) -> None:
    from emox_core.training.logs import read_train_log
    from emox_core.training.recipe import load_recipe
    from emox_core.training.trainer import run_training

    manifest = _long_manifest(corpus, every=2)
    out = tmp_path / "run"
    recipe = load_recipe("tiny/p2e-phase3", tiny_overrides(corpus, feature_dir, out, **{
        "data.synthetic.manifest": str(manifest), "max_samples": 16, "log_every": 1}))
    run_training(recipe, quiet=True)
    log = read_train_log(out)
    ids = [json.loads(line)["id"] for line in manifest.read_text().splitlines()]
    too_long = {f"synthetic:{sample_id}" for i, sample_id in enumerate(ids) if i % 2 == 0}
    skipped = [name for record in log for name in record["skipped"]]
    trained = [index for record in log for index in record["samples"]]
    assert skipped and set(skipped) <= too_long  # about half of the draws were over-length
    assert len(trained) == 16 and all(index % 2 == 1 for index in trained)  # only samples that fit trained


def test_a_streak_of_over_length_draws_is_a_one_line_error(processor, corpus: Path) -> None:
    dataset = _dataset(processor, corpus, {"synthetic": _long_manifest(corpus, every=1)})
    with pytest.raises(EmoxError, match=r"data\.synthetic: 10 draws in a row exceed max_length 1024 tokens") as err:
        dataset[(0, 12345)]
    assert "\n" not in str(err.value)
