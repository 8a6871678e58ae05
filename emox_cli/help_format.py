"""How ``emox ... --help`` is laid out: click's plain two-column format, which wraps every line to the terminal
(80 columns at most) instead of cutting it, with typer's ``rich_help_panel`` groups kept as sections, commands
listed in workflow order and never shortened to "...".

(Typer's rich layout puts each option in five columns: at 80 columns long flags were cut, ``--repetition-pen…``,
and flags were shown with a ``<bool>`` value they do not take.)
"""

from __future__ import annotations

import re
from typing import Any

import click
import typer.core

# The order a new user needs the commands in; anything else is listed after them.
WORKFLOW = ("demo", "prepare", "train", "eval", "infer", "app", "export", "convert", "info", "doctor")
_SHORT_HELP_LIMIT = 10_000
_RANGE_TYPE = re.compile(r"<(int|float) range>")  # no shortening: write_dl wraps long lines


def format_parameters(command: click.Command, ctx: click.Context, formatter: click.HelpFormatter) -> None:
    """Arguments, then the options, one section per ``rich_help_panel`` ("Options" for the rest)."""
    arguments: list[tuple[str, str]] = []
    sections: dict[str, list[tuple[str, str]]] = {}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if param.param_type_name == "argument":
            arguments.append((argument_name(param), record[1]))
        else:  # the range itself is in "[default: 8; x>=1]"
            record = (_RANGE_TYPE.sub(r"<\1>", record[0]), record[1])
            sections.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append(record)
    if arguments:
        with formatter.section("Arguments"):
            formatter.write_dl(arguments)
    for title, records in sections.items():
        with formatter.section(title):
            formatter.write_dl(records)


def argument_name(param: click.Parameter) -> str:
    """``RAW_DIR``, ``KEY=VALUE...``: the metavar (else the upper-case name), "..." when it repeats."""
    name = param.metavar or (param.name or "").upper()
    return f"{name}..." if param.nargs != 1 else name


class EmoxCommand(typer.core.TyperCommand):
    """A command whose options are grouped by their ``rich_help_panel`` and whose usage line names its
    arguments the usual way (``RAW_DIR OUT_DIR``, ``[CLIP]``, ``[KEY=VALUE...]``)."""

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        format_parameters(self, ctx, formatter)


class EmoxGroup(typer.core.TyperGroup):
    """A group that lists its commands in :data:`WORKFLOW` order with their whole short help."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(WORKFLOW)}
        return sorted(names, key=lambda name: rank.get(name, len(WORKFLOW)))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(_SHORT_HELP_LIMIT)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        format_parameters(self, ctx, formatter)
        self.format_commands(ctx, formatter)


class EmoxTyper(typer.Typer):
    """A ``typer.Typer`` with emox's help layout (plain, wrapped, grouped) for itself and its commands, no
    completion install, and help when called without a command."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cls=EmoxGroup, rich_markup_mode=None, add_completion=False, no_args_is_help=True, **kwargs)

    def command(self, *args: Any, cls: type[click.Command] | None = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or EmoxCommand, **kwargs)
