"""MIntRec and MIntRec2.0 -> MIR samples whose target is the exact intent label (e.g. ``Ask for help``).

Two raw layouts are read: the official Nano-EmoX annotation jsons (``{train,test}_MIntRec{,2}_ann.json``,
absolute author paths of which only the basename is used) and the canonical thuiar TSVs
(MIntRec ``train/dev/test.tsv``; MIntRec2.0 ``in-scope/{train,dev,test}.tsv``). Clips are
``video/<id>.mp4`` (and ``audio/<id>.wav`` when present). MIntRec2.0 out-of-scope rows are skipped.
"""

from __future__ import annotations

from pathlib import Path

from emox_core.data.common import LabelledDataset, RawItem, check_label, read_csv, read_messages
from emox_core.tasks import MINTREC2_CANDIDATE_STRING, MINTREC2_LABELS, MINTREC_LABELS

VIDEO = ("video", "raw_video", "videos")
AUDIO = ("audio", "wav", "audios")


def _reader(vocabulary: tuple[str, ...], id_columns: tuple[str, ...], text: str, label: str, id_format: str):
    """A reader for one MIntRec version: the official json, or a canonical TSV with these columns."""

    def read(root: Path, file: Path, split: str) -> list[RawItem]:
        if file.suffix == ".json":
            rows = read_messages(file, "videos")
        else:
            rows = [
                (id_format.format(*(row[c] for c in id_columns)), row[text], row[label], f"row {n + 2}")
                for n, row in enumerate(read_csv(file, (*id_columns, text, label)))
            ]
        items = []
        for stem, utterance, intent, where in rows:
            if intent.strip().upper() in ("UNK", "OOS"):  # out-of-scope (MIntRec2.0): not a training intent
                continue
            check_label(intent, vocabulary, file, where)
            items.append(RawItem(source_id=stem, label=intent.strip(), subtitle=utterance))
        return items

    return read


MINTREC = LabelledDataset(
    name="mintrec",
    task="MIR",
    annotations={
        "train": ("train_MIntRec_ann.json", "train.tsv"),
        "valid": ("dev.tsv",),
        "test": ("test_MIntRec_ann.json", "test.tsv"),
    },
    read=_reader(MINTREC_LABELS, ("season", "episode", "clip"), "text", "label", "{}_{}_{}"),
    target=lambda item: item.label,
    video=VIDEO,
    audio=AUDIO,
    prompt_fields={"candidate_labels": ", ".join(MINTREC_LABELS)},
    # Nano-EmoX json: 1,779 train (= official train 1,334 + dev 445) and 445 test; canonical TSVs.
    expected={
        ("train", "train_MIntRec_ann.json"): 1779,
        ("test", "test_MIntRec_ann.json"): 445,
        ("train", "train.tsv"): 1334,
        ("valid", "dev.tsv"): 445,
        ("test", "test.tsv"): 445,
    },
)

MINTREC2 = LabelledDataset(
    name="mintrec2",
    task="MIR",
    annotations={
        "train": ("train_MIntRec2_ann.json", "in-scope/train.tsv"),
        "valid": ("in-scope/dev.tsv",),
        "test": ("test_MIntRec2_ann.json", "in-scope/test.tsv"),
    },
    read=_reader(MINTREC2_LABELS, ("Dialogue_id", "Utterance_id"), "Text", "Label", "dia{}_utt{}"),
    target=lambda item: item.label,
    video=VIDEO,
    audio=AUDIO,
    prompt_fields={"candidate_labels": MINTREC2_CANDIDATE_STRING},
    # Nano-EmoX json (in-scope only): 5,644 train, 1,044 test.
    expected={("train", "train_MIntRec2_ann.json"): 5644, ("test", "test_MIntRec2_ann.json"): 1044},
)
