"""The ``emox`` Typer app. Each command lives in its own module and imports emox_core lazily,
so ``emox --help`` does not pay for torch/transformers imports."""

from __future__ import annotations

import os
import sys
from enum import Enum

import typer

from emox_cli import app as app_command
from emox_cli import convert, demo, doctor, eval, export, infer, info, prepare, train
from emox_cli.help_format import EmoxTyper
from emox_core.cpu_wait import CPU_WAITS, set_cpu_wait

CpuWait = Enum("CpuWait", {name: name for name in CPU_WAITS}, type=str)

app = EmoxTyper(
    name="emox",
    help="Nano-EmoX toolkit: prepare data, train the P2E phases, evaluate with the official metrics, run the "
         "model on clips.\n\nNew here? Start with 'emox demo': the whole toolkit offline on a synthetic corpus, "
         "in minutes on a laptop CPU. 'emox doctor' says what this machine can run. The README's 'What you can "
         "do today' lists the next steps.",
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from emox_core import __version__

        typer.echo(f"emox {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print emox's version and exit."),
    cpu_wait: CpuWait | None = typer.Option(
        None, "--cpu-wait", show_default=False,
        help="How torch's CPU threads wait between operations: 'passive' (the default unless OMP_WAIT_POLICY or "
             "GOMP_SPINCOUNT is set) sleeps, safe beside other busy processes; 'spin' busy-waits: CPU inference "
             "about 1.14x faster on a machine that runs nothing else, about 3x slower beside one busy process. "
             "Before the command: emox --cpu-wait spin infer ..."),
) -> None:
    # torch loads its OpenMP runtime, which reads this once, when a command first imports it (all do lazily)
    set_cpu_wait(None if cpu_wait is None else cpu_wait.value)


_COMMANDS = (
    ("demo", demo.demo, "Start here: the whole toolkit offline on a synthetic corpus (train, evaluate, infer)."),
    ("train", train.train, "Train one P2E phase from a recipe (its prerequisites are checked first)."),
    ("eval", eval.eval_command, "Score predictions, or a model, with a benchmark's official metrics."),
    ("infer", infer.infer, "Answer a task about a clip, or about every clip of a manifest or folder."),
    ("app", app_command.app, "A local web page to ask the model about your own clip (extra 'app')."),
    ("export", export.export, "Merge LoRA and write a full model directory."),
    ("info", info.info, "Parameters per branch and per P2E phase of a preset, from configs alone."),
    ("doctor", doctor.doctor, "What works on this machine: libraries, GPU, media tools, backbones, disk."),
)
for _name, _function, _short in _COMMANDS:
    app.command(_name, short_help=_short)(_function)
app.add_typer(prepare.app, name="prepare", short_help="Prepare datasets: manifests, media cache, encoder features.")
app.add_typer(convert.app, name="convert", short_help="Convert official Nano-EmoX weights into an emox model.")


def main(argv: list[str] | None = None) -> None:
    """Run the app; user errors and errors of the machine (disk full, ...) print one line (exit 1), bad
    arguments one line (exit 2)."""
    from emox_core.errors import EmoxError

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        code = app(args=argv, prog_name="emox", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("emox: aborted", err=True)
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: unknown option, bad value, missing argument
        message = " ".join((exc.format_message() if hasattr(exc, "format_message") else str(exc)).split())
        if message:  # an empty message follows the help text printed for a bare "emox"
            typer.echo(f"emox: error: {message}", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    except EmoxError as exc:
        typer.echo(f"emox: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # the machine's fault (disk full, quota, read-only, ...): one line naming the file
        from emox_core.fileio import environment_error

        if (error := environment_error(exc)) is None:
            raise
        typer.echo(f"emox: error: {error}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        typer.echo("emox: interrupted", err=True)
        sys.exit(130)
    if isinstance(code, int) and code:  # a command's typer.Exit(N) comes back as its code here
        sys.exit(code)


if __name__ == "__main__":
    main()
