"""Media: the one place a clip is read (frames, 16 kHz audio, face input), cached and synthesized.

Training, ``emox prepare media`` and ``emox infer`` all go through :func:`load_clip` (directly or via
:class:`MediaCache`), so a clip is never preprocessed two different ways.
"""

from emox_core.media.cache import MediaCache
from emox_core.media.decode import ClipMedia, load_clip, segment_waveform
from emox_core.media.settings import MediaSettings

__all__ = ["ClipMedia", "MediaCache", "MediaSettings", "load_clip", "segment_waveform"]
