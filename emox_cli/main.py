"""The ``emox`` Typer app. Each command lives in its own module and imports emox_core lazily,
so ``emox --help`` does not pay for torch/transformers imports."""

from __future__ import annotations

import os
import sys

import click
import typer

from emox_cli import demo, eval, export, info, infer, prepare, train

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


def main(argv: list[str] | None = None) -> None:
    """Run the app; user errors print one line (exit 1), bad arguments one line (exit 2)."""
    from emox_core.errors import EmoxError

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        app(args=argv, prog_name="emox", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        typer.echo("emox: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:  # usage errors: unknown option, bad value, missing argument
        typer.echo(f"emox: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except EmoxError as exc:
        typer.echo(f"emox: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("emox: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
