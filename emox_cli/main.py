"""The ``emox`` Typer app. Each command lives in its own module and imports emox_core lazily,
so ``emox --help`` does not pay for torch/transformers imports."""

from __future__ import annotations

import os
import sys

import typer

from emox_cli import app as app_command
from emox_cli import convert, demo, eval, export, infer, info, prepare, train

app = typer.Typer(
    name="emox",
    help="Nano-EmoX toolkit: prepare data, train the P2E phases, evaluate on the official benchmarks, infer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(prepare.app, name="prepare")
app.command("train")(train.train)
app.command("eval")(eval.eval_command)
app.command("infer")(infer.infer)
app.command("info")(info.info)
app.command("export")(export.export)
app.command("demo")(demo.demo)
app.command("app")(app_command.app)
app.add_typer(convert.app, name="convert")


def main(argv: list[str] | None = None) -> None:
    """Run the app; user errors and errors of the machine (disk full, ...) print one line (exit 1), bad
    arguments one line (exit 2)."""
    from emox_core.errors import EmoxError

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        app(args=argv, prog_name="emox", standalone_mode=False)
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


if __name__ == "__main__":
    main()
