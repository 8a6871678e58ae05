"""What the model saw and how it weighed it, as pictures and HTML for the app (no UI library here): the frames,
the face input, the audio segments HuBERT hears, the inputs used and the fusion gate as a bar chart."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from emox_core.media.decode import ClipMedia
    from emox_core.media.settings import MediaSettings

# Small inputs (the tiny preset reads 32-px frames) are enlarged to at least this size, pixel for pixel.
MIN_PIXELS = 128


def enlarged(image: np.ndarray, minimum: int = MIN_PIXELS) -> np.ndarray:
    """An (H, W, 3) image repeated pixel by pixel until it is at least ``minimum`` high (exact pixels shown)."""
    factor = max(1, -(-minimum // image.shape[0]))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def frame_items(media: ClipMedia | None) -> list[tuple[np.ndarray, str]]:
    """(image, caption) per frame the model read, captioned with its time in the clip."""
    if media is None or media.frames is None:
        return []
    times = [None] * len(media.frames)
    if media.frame_indices is not None and media.fps:
        times = [index / media.fps for index in media.frame_indices]
    return [(enlarged(frame), f"frame {i + 1}" + (f" · {t:.2f} s" if t is not None else ""))
            for i, (frame, t) in enumerate(zip(media.frames, times, strict=True))]


def face_items(media: ClipMedia | None, face_mode: str) -> list[tuple[np.ndarray, str]]:
    """(image, caption) per face-encoder input: the full frames in ``raw`` mode (the official input), the
    detected crops in ``crop`` mode."""
    if media is None or media.faces is None:
        return []
    what = "full frame (raw face mode)" if face_mode == "raw" else "face crop"
    detected = media.face_detected if media.face_detected is not None else [True] * len(media.faces)
    return [(enlarged(face), f"{i + 1}: {what}" + ("" if hit else " (nearest detected box)"))
            for i, (face, hit) in enumerate(zip(media.faces, detected, strict=True))]


def waveform_image(media: ClipMedia | None, settings: MediaSettings) -> np.ndarray | None:
    """A picture of the audio segments HuBERT hears (each 2 s window, mean removed, at its place in the clip)."""
    if media is None or media.waveform is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emox_core.media.decode import segment_waveform, window_starts

    segments = segment_waveform(media.waveform, settings)
    samples = round(media.audio_seconds * settings.sample_rate) if media.waveform.ndim == 2 else len(media.waveform)
    starts = np.asarray(window_starts(samples, settings)) / settings.sample_rate
    seconds = segments.shape[1] / settings.sample_rate
    fig, axes = plt.subplots(1, len(segments), figsize=(1.6 * len(segments), 2.0), sharey=True)
    axes = np.atleast_1d(axes)
    time = np.arange(segments.shape[1]) / settings.sample_rate
    for k, (ax, segment, start) in enumerate(zip(axes, segments, starts, strict=True)):
        ax.plot(start + time, segment, linewidth=0.4, color="#2a7ab9")
        ax.set_title(f"segment {k + 1}\n{start:.1f}-{start + seconds:.1f} s", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xlabel("time in clip (s)", fontsize=6)
    axes[0].set_ylabel("amplitude (mean removed)", fontsize=6)
    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def inputs_html(record: dict[str, Any] | None) -> str:
    """One badge per input: used by the model, or masked / absent."""
    seen = (record or {}).get("modalities") or {}
    badges = "".join(
        f'<span class="emox-input" data-input="{name}" data-used="{str(on).lower()}">'
        f'{"✓" if on else "✗"} {name}</span>'
        for name, on in seen.items())
    return f'<div id="emox-inputs">{badges}</div>'


def gate_html(record: dict[str, Any] | None) -> str:
    """The fusion gate as a horizontal bar chart (plain HTML, no script): one bar per expert, its layer pair,
    its weight; ``data-weight`` carries the unrounded value."""
    gate = (record or {}).get("fusion_gate")
    if not gate:
        reason = "" if record is None else "the fusion token was not used (it needs both frames and audio)"
        return f'<div id="emox-gate" class="emox-gate-empty">{html.escape(reason)}</div>'
    bars = []
    for expert in gate:
        weight = float(expert["weight"])
        label = f"expert {expert['expert'] + 1} · speech L{expert['speech_layer']} / vision L{expert['vision_layer']}"
        bars.append(
            f'<div class="emox-gate-row" data-expert="{expert["expert"]}" data-speech-layer="{expert["speech_layer"]}"'
            f' data-vision-layer="{expert["vision_layer"]}" data-weight="{weight!r}">'
            f'<span class="emox-gate-label">{html.escape(label)}</span>'
            f'<span class="emox-gate-track">'
            f'<span class="emox-gate-bar" style="width:{100 * weight:.1f}%"></span></span>'
            f'<span class="emox-gate-value">{100 * weight:.1f}%</span></div>')
    return f'<div id="emox-gate">{"".join(bars)}</div>'


CSS = """
#emox-gate .emox-gate-row { display: flex; align-items: center; gap: 0.5em; margin: 0.3em 0; }
#emox-gate .emox-gate-label { flex: 0 0 16em; font-size: 0.9em; }
#emox-gate .emox-gate-track { flex: 1; background: #e5e7eb; height: 1.1em; border-radius: 3px; }
#emox-gate .emox-gate-bar { display: block; height: 100%; background: #2a7ab9; border-radius: 3px; }
#emox-gate .emox-gate-value { flex: 0 0 4em; text-align: right; font-variant-numeric: tabular-nums; }
#emox-inputs .emox-input { display: inline-block; margin-right: 0.8em; }
#emox-inputs .emox-input[data-used="false"] { color: #9ca3af; text-decoration: line-through; }
#status .emox-error { color: #b91c1c; font-family: monospace; }
"""
