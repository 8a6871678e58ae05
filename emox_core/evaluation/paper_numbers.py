"""The numbers the Nano-EmoX paper reports (CVPR 2026; main text Tables 2-3, supplementary Table 5), so that
``emox eval`` can print them beside ours. Units are those of the paper: percent, or the 0-10 judge scale for
EMER. Metrics the paper does not report (MIntRec Acc/WP) are absent, never guessed.
"""

from __future__ import annotations

MODEL = "Nano-EmoX"

# Table 2 (MER-UniBench): hit rate (MER), WAF (MSA), EW F-score labelled "WAF (OV-MER)".
MER_UNIBENCH = {
    "mer2023": 79.09,
    "mer2024": 77.94,
    "meld": 56.55,
    "iemocapfour": 60.12,
    "cmumosi": 76.82,
    "cmumosei": 79.81,
    "sims": 86.25,
    "simsv2": 84.76,
    "ovmerdplus": 64.75,
    "mean": 74.01,
}
# AffectGPT's own row of the same table, the reference for rescoring the official intermediate outputs.
MER_UNIBENCH_AFFECTGPT = {
    "mer2023": 78.54,
    "mer2024": 78.80,
    "meld": 55.65,
    "iemocapfour": 60.54,
    "cmumosi": 81.30,
    "cmumosei": 80.90,
    "sims": 88.49,
    "simsv2": 86.18,
    "ovmerdplus": 62.52,
    "mean": 74.77,
}

PAPER: dict[str, dict[str, float]] = {
    "mer-unibench": MER_UNIBENCH,
    "emer": {"clue_overlap": 7.83, "label_overlap": 5.78},  # Table 3
    "mintrec": {"wf1": 58.17},  # supplementary Table 5, the P2E row (18:28:5:31:18)
    "mintrec2": {"wf1": 47.27},
    "avamerg": {"accuracy": 54.82, "hit_rate": 91.13, "dist1": 95.47, "dist2": 99.83},  # Table 5
}


def paper_value(benchmark: str, metric: str) -> float | None:
    """The paper's number for ``metric`` of ``benchmark``, or None when the paper has none."""
    return PAPER.get(benchmark, {}).get(metric)
