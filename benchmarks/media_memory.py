"""Benchmark (not a test): peak memory and time of reading one clip, by clip length.

For each length a clip is generated (32x32 video at 1 fps, 44.1 kHz AAC audio: so the audio is resampled
as in real data), then read by ``load_clip`` in a fresh process whose peak resident memory (VmHWM, Linux)
is reported with the wall time. emox keeps only the 8 frames and the 8 audio windows the model reads, so
the peak should not grow with the clip's length.

    python benchmarks/media_memory.py --seconds 20 1200 7200
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from rich.console import Console
from rich.table import Table

from emox_core.media.decode import ffmpeg_exe

MEASURE = textwrap.dedent("""
    import sys, time
    from emox_core.media.decode import load_clip
    start = time.perf_counter()
    clip = load_clip(sys.argv[1])
    seconds = time.perf_counter() - start
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(peak_kb, seconds, clip.audio_seconds, clip.waveform.shape)
""")


def make_clip(path: Path, seconds: int) -> Path:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"color=c=red:size=32x32:rate=1:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "32k",
                    "-shortest", str(path)], check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, nargs="+", default=[20, 1200, 7200], help="Clip lengths.")
    args = parser.parse_args()
    table = Table(title="load_clip: peak memory by clip length")
    for column in ("clip", "file MB", "peak RSS MB", "read s", "audio kept"):
        table.add_column(column, justify="right")
    repo = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory(prefix="emox-bench-") as tmp:
        for seconds in args.seconds:
            clip = make_clip(Path(tmp) / f"clip{seconds}.mp4", seconds)
            out = subprocess.run([sys.executable, "-c", MEASURE, str(clip)], capture_output=True, text=True,
                                 check=True, env={**os.environ, "PYTHONPATH": repo}).stdout.split(maxsplit=3)
            table.add_row(f"{seconds} s", f"{clip.stat().st_size / 1e6:.1f}", f"{int(out[0]) / 1024:.0f}",
                          f"{float(out[1]):.2f}", out[3].strip())
            clip.unlink()
    Console().print(table)


if __name__ == "__main__":
    main()
