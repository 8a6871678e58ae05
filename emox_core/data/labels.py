"""Official label vocabularies and projection tables of the prepared datasets (data, not code).

Each table says where it comes from; the candidate strings injected into prompts stay in
:mod:`emox_core.tasks`.
"""

from __future__ import annotations

# AvaMERG gold labels are applied ONCE through this mixed-level map before scoring
# (waHAHJIAHAO/Nano-EmoX @ b08f985, datasets/datasets/avamerg_dataset.py, AvaMERG_Dataset.__init__;
# the same dict is in AvaMERG/AvaMERG-Pipeline merg_code/dataset/all_dataset.py). Order kept.
AVAMERG_ED_PROJECTION: dict[str, str] = {
    "conflicted": "anxious",
    "vulnerability": "afraid",
    "helplessness": "afraid",
    "sadness": "sad",
    "pensive": "sentimental",
    "frustration": "annoyed",
    "weary": "tired",
    "anxiety": "anxious",
    "reflective": "sentimental",
    "upset": "disappointed",
    "worried": "anxious",
    "fear": "afraid",
    "frustrated": "sad",
    "fatigue": "tired",
    "lost": "jealous",
    "disappointment": "disappointed",
    "nostalgia": "nostalgic",
    "exhaustion": "tired",
    "uneasy": "anxious",
    "loneliness": "lonely",
    "fragile": "afraid",
    "confused": "jealous",
    "vulnerable": "afraid",
    "thoughtful": "sentimental",
    "stressed": "anxious",
    "concerned": "anxious",
    "tiredness": "tired",
    "burdened": "anxious",
    "melancholy": "sad",
    "overwhelmed": "anxious",
    "worry": "anxious",
    "heavy-hearted": "sad",
    "melancholic": "sad",
    "nervous": "anxious",
    "fearful": "afraid",
    "stress": "anxious",
    "confusion": "anxious",
    "inadequacy": "ashamed",
    "regret": "guilty",
    "helpless": "afraid",
    "concern": "anxious",
    "exhausted": "tired",
    "overwhelm": "anxious",
    "tired": "tired",
    "disappointed": "sad",
    "surprised": "surprised",
    "excited": "happy",
    "angry": "angry",
    "proud": "happy",
    "annoyed": "angry",
    "grateful": "happy",
    "lonely": "sad",
    "afraid": "fear",
    "terrified": "fear",
    "guilty": "sad",
    "impressed": "surprised",
    "disgusted": "disgusted",
    "hopeful": "happy",
    "confident": "happy",
    "furious": "angry",
    "anxious": "sad",
    "anticipating": "happy",
    "joyful": "happy",
    "nostalgic": "sad",
    "prepared": "happy",
    "jealous": "contempt",
    "content": "happy",
    "devastated": "surprised",
    "embarrassed": "sad",
    "caring": "happy",
    "sentimental": "sad",
    "trusting": "happy",
    "ashamed": "sad",
    "apprehensive": "fear",
    "faithful": "happy",
}

# The 8 MEAD classes used for the AvaMERG hit rate (Nano-EmoX evaluation/eval_merg_exp.py, module-level
# emotion_projection_map_empathe_mead; identical in RH-Lin/E3RG emotion_predict_conv_ola.py).
# "embarrassed" appears twice in the source dict; the later entry (disgusted) is the effective one.
AVAMERG_MEAD8_PROJECTION: dict[str, str] = {
    "neutral": "neutral",
    "happy": "happy",
    "surprised": "surprised",
    "angry": "angry",
    "fear": "fear",
    "sad": "sad",
    "disgusted": "disgusted",
    "contempt": "contempt",
    "joyful": "happy",
    "prepared": "happy",
    "content": "happy",
    "caring": "happy",
    "trusting": "happy",
    "faithful": "happy",
    "confident": "happy",
    "hopeful": "happy",
    "grateful": "happy",
    "proud": "happy",
    "excited": "happy",
    "anticipating": "happy",
    "lonely": "sad",
    "guilty": "sad",
    "anxious": "sad",
    "nostalgic": "sad",
    "embarrassed": "disgusted",
    "disappointed": "sad",
    "sentimental": "sad",
    "ashamed": "sad",
    "devastated": "sad",
    "impressed": "surprised",
    "furious": "angry",
    "annoyed": "angry",
    "afraid": "fear",
    "terrified": "fear",
    "apprehensive": "fear",
    "jealous": "contempt",
}

# Keyword table for reading the predicted emotion out of an AvaMERG response when no
# "the emotion of the speaker is X" is found in <think> (waHAHJIAHAO/Nano-EmoX @ b08f985,
# evaluation/eval_merg_exp.py, extract_emotion_from_response, local emotion_keywords).
# Official order kept: the first emotion with any keyword as a plain substring wins.
# "loneliness"/"sadness" repeat the word lists of "lonely"/"sad" (so never win) as in the source.
AVAMERG_EMOTION_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("angry", ("angry", "anger", "furious", "mad", "irate", "enraged")),
    ("annoyed", ("annoyed", "annoyance", "irritated", "irritation", "vexed", "bothered")),
    ("caring", ("caring", "compassionate", "empathetic", "kind", "sympathetic", "concern")),
    ("content", ("content", "contentment", "satisfied", "pleased", "peaceful", "fulfilled")),
    ("disappointed", ("disappointed", "disappointment", "letdown", "discouraged", "disheartened")),
    ("excited", ("excited", "excitement", "enthusiastic", "thrilled", "eager", "animated")),
    ("faithful", ("faithful", "loyal", "devoted", "dedicated", "steadfast", "fidelity")),
    ("frustrated", ("frustrated", "frustration", "exasperated", "aggravated", "irked")),
    ("grateful", ("grateful", "gratitude", "thankful", "appreciative", "obliged")),
    ("guilty", ("guilty", "guilt", "remorseful", "ashamed", "contrite", "regretful")),
    ("hopeful", ("hopeful", "hope", "optimistic", "encouraged", "buoyant", "expectant", "anticipating")),
    ("joyful", ("joyful", "joy", "happy", "delighted", "cheerful", "gleeful")),
    ("lonely", ("lonely", "loneliness", "lonesome", "isolated", "forlorn", "desolate")),
    ("loneliness", ("lonely", "loneliness", "lonesome", "isolated", "forlorn", "desolate")),
    ("nostalgic", ("nostalgic", "nostalgia", "sentimental", "wistful", "yearning")),
    ("overwhelmed", ("overwhelmed", "overwhelm", "swamped", "burdened", "overloaded")),
    ("sad", ("sad", "sadness", "sorrowful", "melancholy", "grief", "depressed")),
    ("sadness", ("sad", "sadness", "sorrowful", "melancholy", "grief", "depressed")),
    ("surprised", ("surprised", "surprise", "amazed", "astonished", "shocked", "stunned")),
    ("terrified", ("terrified", "terror", "frightened", "afraid", "scared", "petrified")),
    ("trusting", ("trusting", "trust", "confident", "relying", "believing", "assured", "prepared")),
    ("worried", ("worried", "worry", "anxious", "nervous", "concerned", "uneasy", "apprehensive")),
    ("anxious", ("anxious", "anxiety", "worried", "nervous", "concerned", "uneasy")),
)

# Emotion-LLaMA MERR_fine_grained.json pseu_emotion classes (4,487 entries; see docs/data.md).
MERR_FINE_LABELS = ("neutral", "sad", "angry", "happy", "worried", "surprise", "fear", "doubt", "contempt")
# M3ED (ACL 2022) final_main_emo classes.
M3ED_LABELS = ("happy", "surprise", "sad", "disgust", "anger", "fear", "neutral")
# CREMA-D file name emotion codes ({ActorID}_{Sentence}_{EMO}_{Level}).
CREMA_D_CODES = {
    "ANG": "anger",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
# CAER folder names and FERV39K class names -> the phase-1.2 candidate vocabulary (CAER_FERV39K_LABELS).
CAER_FERV39K_NAMES = {
    "anger": "anger",
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprise": "surprise",
}
# MER-UniBench ground-truth vocabularies (AffectGPT / Nano-EmoX dataset classes, read at b08f985).
MER_6WAY_LABELS = ("neutral", "angry", "happy", "sad", "worried", "surprise")
MELD_LABELS = ("anger", "joy", "sadness", "neutral", "disgust", "fear", "surprise")  # index order of `emo`
IEMOCAP4_LABELS = ("happy", "sad", "neutral", "anger")  # index order of `emo`


def avamerg_emotion_labels(raw: str) -> dict[str, str | None]:
    """The raw AvaMERG speaker emotion and its two official projections (None when unmappable)."""
    ed = AVAMERG_ED_PROJECTION.get(raw, raw)
    return {"emotion_raw": raw, "emotion_ed": ed, "emotion_mead8": AVAMERG_MEAD8_PROJECTION.get(ed)}


def sentiment_of(valence: float) -> str:
    """MER-UniBench sentiment class of a valence score (sign)."""
    return "positive" if valence > 0 else "negative" if valence < 0 else "neutral"
