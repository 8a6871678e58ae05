"""``emox doctor``: what works on this machine, one check per line, each ``ok``, ``warn`` (works, with a limit
worth knowing) or ``fail`` (something emox needs is broken or missing: the command exits 1).

The checks only look (versions, files, free space, imports); nothing is downloaded or built.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

OK, WARN, FAIL = "ok", "warn", "fail"
# Free space below which a cache folder is a warning / a failure.
WARN_FREE_BYTES = 20e9
FAIL_FREE_BYTES = 1e9
HF_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME", "HF_HUB_CACHE")


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def run_checks(preset: str = "nano-emox-2b", backbones: dict[str, str] | None = None,
               media_cache: str | os.PathLike[str] | None = None,
               feature_cache: str | os.PathLike[str] | None = None) -> list[Check]:
    """Every check, in the order a user reads them: software, hardware, media tools, backbones, hub, disk."""
    checks = [_versions(), _torch(), _accelerator(), _bf16(), _guard("ffmpeg (imageio-ffmpeg)", _ffmpeg),
              _guard("decord (video frames)", _decord), _guard("face detector (OpenCV Haar)", _face_detector)]
    checks += _backbones(preset, backbones or {})
    checks.append(_hub())
    from emox_core.media.cache import default_cache_root

    checks.append(_free_disk("media cache", Path(media_cache) if media_cache else default_cache_root()))
    if feature_cache:
        checks.append(_free_disk("feature cache", Path(feature_cache)))
    return checks


def failed(checks: list[Check]) -> bool:
    return any(check.status == FAIL for check in checks)


def _guard(name: str, check: Callable[[], tuple[str, str]]) -> Check:
    """A check whose exception (a missing or broken library) is its failure, described in one line."""
    try:
        status, detail = check()
    except Exception as exc:  # noqa: BLE001 - anything a broken install raises is the finding
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Check(name, FAIL, f"{type(exc).__name__}: {first}"[:300])
    return Check(name, status, detail)


def _versions() -> Check:
    import importlib.metadata

    import emox_core

    parts = [f"emox {emox_core.__version__}", f"Python {platform.python_version()}"]
    for package in ("transformers", "peft", "accelerate"):
        try:
            parts.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            return Check("emox", FAIL, f"{package} is not installed (pip install -e .)")
    return Check("emox", OK, ", ".join(parts))


def _torch() -> Check:
    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU build"
    return Check("torch", OK, f"torch {torch.__version__} ({build}), {torch.get_num_threads()} threads, "
                              f"{os.cpu_count()} CPU cores")


def _accelerator() -> Check:
    import torch

    if torch.cuda.is_available():
        gpus = []
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            gpus.append(f"{props.name} ({props.total_memory / 2**30:.0f} GiB)")
        return Check("GPU", OK, f"{len(gpus)} CUDA GPU(s): {', '.join(gpus)}")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return Check("GPU", OK, "Apple MPS (inference; training the 2.2B model wants a CUDA GPU)")
    return Check("GPU", WARN, "no CUDA GPU: CPU only (the demo, tiny training, evaluation and inference work; "
                              "training the 2.2B model needs a GPU, see the README)")


def _bf16() -> Check:
    import torch

    if torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return Check("bf16", OK, "supported by the GPU (training precision auto = bf16)")
        return Check("bf16", WARN, "not supported by this GPU: precision auto = fp32 (fp16 with precision=fp16)")
    native = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if native is not None and native():
        return Check("bf16", OK, "native on this CPU (AVX512-BF16/AMX): the demo trains in bf16")
    return Check("bf16", WARN, "emulated on this CPU: bf16 runs, slower than on CPUs with AVX512-BF16/AMX")


def _ffmpeg() -> tuple[str, str]:
    from emox_core.media.decode import ffmpeg_exe

    exe = ffmpeg_exe()
    result = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=30, check=True)
    version = result.stdout.splitlines()[0] if result.stdout else "ffmpeg"
    return OK, f"{version.split(' Copyright')[0]} ({exe})"


def _decord() -> tuple[str, str]:
    import decord

    return OK, f"decord {getattr(decord, '__version__', '?')}"


def _face_detector() -> tuple[str, str]:
    import cv2

    from emox_core.media.faces import get_detector

    get_detector("haar")
    return OK, f"OpenCV {cv2.__version__} frontal-face Haar cascade (used by --face-mode crop only)"


def _backbones(preset: str, overrides: dict[str, str]) -> list[Check]:
    from emox_core.errors import EmoxError
    from emox_core.modeling.availability import backbone_status
    from emox_core.modeling.backbones import needed_backbones
    from emox_core.modeling.presets import preset_config

    try:
        config = preset_config(preset)
    except EmoxError as exc:
        return [Check(f"backbones ({preset})", FAIL, str(exc))]
    sources = {**config.backbones, **overrides}
    checks = []
    for name in ("vision", "speech", "face", "text"):
        if name not in needed_backbones(config):
            continue
        status = backbone_status(name, sources.get(name, ""))
        size = f", {human_size(status.size_bytes)}" if status.size_bytes else ""
        verdict = OK if status.available else WARN if status.downloadable else FAIL
        checks.append(Check(f"backbone {name} ({preset})", verdict, f"{status.source}: {status.where}{size}"))
    return checks


def _hub() -> Check:
    from emox_core.modeling.availability import hub_offline

    values = ", ".join(f"{name}={os.environ[name]}" for name in HF_VARIABLES if name in os.environ) or "none set"
    mode = "offline: only cached or local models load" if hub_offline() else \
        "online: a model that is not cached is downloaded on first use"
    return Check("Hugging Face hub", OK, f"{mode} ({values})")


def _free_disk(name: str, folder: Path) -> Check:
    existing = folder.resolve()
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    verdict = FAIL if free < FAIL_FREE_BYTES else WARN if free < WARN_FREE_BYTES else OK
    return Check(f"free disk: {name}", verdict, f"{human_size(free)} free for {folder}")


def human_size(size: float) -> str:
    """``3.0 MB``, ``1.71 GB``."""
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"


def report(checks: list[Check]) -> dict[str, Any]:
    """What ``emox doctor --json`` prints."""
    return {"ok": not failed(checks), "checks": [check.to_dict() for check in checks]}
