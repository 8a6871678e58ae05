"""``emox convert official``: an official Nano-EmoX runner checkpoint -> an emox adapters directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from emox_cli.help_format import EmoxTyper

app = EmoxTyper(help="Convert weights from other formats into emox's.")

BACKBONE_NAMES = ("vision", "speech", "face", "text")


def _pairs(values: list[str], flag: str) -> list[tuple[str, str]]:
    from emox_core.errors import EmoxError

    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise EmoxError(f"{flag} {value!r}: expected NAME=VALUE")
        pairs.append((key.strip(), rest))
    return pairs


def _config_overrides(assignments: list[str]) -> dict[str, Any]:
    """``field=value`` / ``sub_config.field=value`` (values parsed as YAML) -> a nested mapping."""
    import yaml

    overrides: dict[str, Any] = {}
    for key, raw in _pairs(assignments, "--set"):
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        *parents, last = key.split(".")
        node = overrides
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return overrides


@app.command("official")
def official(
    checkpoint: Path = typer.Argument(..., metavar="CHECKPOINT",
        help="Official runner checkpoint (.pth with 'model', 'config', ...)."),
    out_dir: Path = typer.Argument(..., metavar="OUT_DIR", help="New directory for the emox adapters checkpoint."),
    preset: str = typer.Option("nano-emox-2b", "--preset", "-p",
                               help="Backbones and the settings no weight fixes (attention heads, feature sources)."),
    backbone: list[str] = typer.Option([], "--backbone", metavar="NAME=SOURCE",
                                       help="vision/speech/face/text -> hub id, local directory, .gguf (text) or "
                                            "random; overrides the preset's (repeatable)."),
    assignments: list[str] = typer.Option([], "--set", metavar="FIELD=VALUE",
                                          help="Config field override, YAML value; dotted for sub-configs, e.g. "
                                               "vision_config.hidden_size=1024 (repeatable)."),
) -> None:
    """Convert an official checkpoint: its adapters, fusion, face head and LoRA under emox's names, on the
    preset's backbones. Sizes the weights fix are read from the checkpoint."""
    from emox_core.errors import EmoxError
    from emox_core.modeling.convert_official import convert_official
    from emox_core.modeling.presets import configure_preset

    config = configure_preset(preset, _config_overrides(assignments))
    for name, source in _pairs(backbone, "--backbone"):
        if name not in BACKBONE_NAMES:
            raise EmoxError(f"--backbone {name}: choose one of {', '.join(BACKBONE_NAMES)}")
        config.backbones[name] = source
    report = convert_official(checkpoint, out_dir, config)
    for branch, count in report.converted.items():
        typer.echo(f"converted {branch}: {count} tensors")
    for branch, have in report.missing.items():
        typer.echo(f"missing {branch}: {have} (frozen in this checkpoint's phase)")
    if report.changed:
        typer.echo("from the checkpoint: " + ", ".join(f"{k}={v}" for k, v in report.changed.items()))
    if report.changed.get("use_lora") is False:
        typer.echo("no LoRA weights: that phase froze the LLM, so it computed with the plain LM (use_lora=False)")
    typer.echo(f"skipped {len(report.skipped)} saved-but-unused tensors")
    typer.echo("backbones: " + ", ".join(f"{k}={v}" for k, v in sorted(config.backbones.items())))
    use = "a recipe's model.init_from only (missing branches)" if report.missing else \
        "emox infer/eval --model, from_pretrained, model.init_from"
    typer.echo(f"wrote {report.directory} (use: {use})")
