"""``emox --help`` and every command's help read well at 80 columns (issue 16 §4): nothing cut ("--repetition-pen…",
"(docs/inference.m…"), no flag shown as taking a value ("--json <bool>"), the commands in workflow order with
their whole short help, and ``emox --version``."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
import typer.main

from emox_cli.main import app
from tests.conftest import run_emox


def _commands(group: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in getattr(group, "commands", {}).items():  # typer's groups are not click.Group
        yield (*path, name), command
        yield from _commands(command, (*path, name))


def _help(args: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    assert run_emox(*args, "--help") == 0
    return capsys.readouterr().out


ROOT = typer.main.get_command(app)
EVERY_COMMAND = [(), *(path for path, _ in _commands(ROOT))]


@pytest.mark.parametrize("path", EVERY_COMMAND, ids=lambda path: " ".join(path) or "emox")
def test_help_fits_80_columns_and_nothing_is_cut(path: tuple[str, ...], capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    text = _help(path, capsys, monkeypatch)
    assert text.startswith(f"Usage: emox {' '.join(path)}".replace("  ", " ").rstrip())
    too_long = [line for line in text.splitlines() if len(line) > 80]
    assert not too_long, too_long
    assert "…" not in text  # rich's ellipsis for a cut cell
    assert "<bool>" not in text  # flags take no value
    command = ROOT
    for name in path:
        command = command.commands[name]
    flat = " ".join(text.split())
    for param in command.params:  # every option's whole help is there (wrapped, not cut)
        if isinstance(param, click.Option) and param.help:
            assert " ".join(param.help.split()) in flat, param.name
    if hasattr(command, "commands"):  # every subcommand's whole short help, never shortened to "..."
        for name, sub in command.commands.items():
            short = sub.get_short_help_str(limit=10_000)
            assert short and " ".join(short.split()) in flat, name
            assert not short.endswith("...")


def test_top_level_help_lists_the_workflow_and_says_where_to_start(capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    text = _help((), capsys, monkeypatch)
    listed = [line.split()[0] for line in text.split("Commands:")[1].splitlines()
              if line.startswith("  ") and not line.startswith("   ")]
    assert listed == ["demo", "prepare", "train", "eval", "infer", "app", "export", "convert", "info", "doctor"]
    assert "Start with 'emox demo'" in " ".join(text.split())


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import emox_core

    assert run_emox("--version") == 0
    assert capsys.readouterr().out == f"emox {emox_core.__version__}\n"


def test_usage_names_arguments_the_usual_way(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert _help(("prepare", "avamerg"), capsys, monkeypatch).startswith(
        "Usage: emox prepare avamerg [OPTIONS] RAW_DIR OUT_DIR\n")
    assert _help(("train",), capsys, monkeypatch).startswith("Usage: emox train [OPTIONS] [KEY=VALUE...]\n")
    text = _help(("eval",), capsys, monkeypatch)
    assert "\nCheckpoints (the official test_epochs / skip_epoch protocol):\n" in text  # option groups kept


def test_openmp_threads_wait_without_spinning_unless_the_user_says_otherwise(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    assert run_emox("info") == 0
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert run_emox("--cpu-wait", "spin", "info") == 0  # libgomp's own default: neither variable
    assert "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert run_emox("info") == 0
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"  # the user's own setting wins over the default
    monkeypatch.setenv("GOMP_SPINCOUNT", "1000")
    assert run_emox("--cpu-wait", "passive", "info") == 0  # and the option over the user's setting
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and "GOMP_SPINCOUNT" not in os.environ
    capsys.readouterr()
    assert run_emox("--cpu-wait", "fast", "info") == 2
    assert "'fast' is not one of 'passive', 'spin'" in capsys.readouterr().err
