"""One module per benchmark: a module dropped into the benchmarks package is a new ``emox eval`` benchmark, with
its options and help, and nothing else changes."""

from __future__ import annotations

import json

import pytest
import typer

from emox_core.evaluation import benchmarks as package
from emox_core.evaluation import registry

TOY = '''
from emox_core.evaluation.base import Benchmark, Group, Headline, Option, Scored
from emox_core.evaluation.sources import checkpoint_groups


def run(ctx):
    groups = []
    for name, checkpoints in checkpoint_groups(ctx, ("toy",)):
        scored = []
        for ckpt in checkpoints:
            texts = ctx.read_predictions(ckpt.path).text
            hits = sum(len(t) >= ctx.option("min_length") for t in texts.values())
            scored.append(Scored(ckpt, {"long": 100 * hits / len(texts)}, len(texts), len(texts)))
        groups.append(Group(name, name, "long", (Headline("long", "Long answers", "long"),), scored))
    return groups


BENCHMARKS = (
    Benchmark(name="toy", title="Toy: share of long answers", protocol="toy/1", unit="percent", tasks=("ERI",),
              paper={"long": 50.0}, run=run,
              options=(Option("min_length", "--min-length", "Shortest long answer.", default=5, type=int),)),
)
'''


@pytest.fixture()
def toy_benchmark(tmp_path, monkeypatch):
    folder = tmp_path / "more_benchmarks"
    folder.mkdir()
    (folder / "toy.py").write_text(TOY)
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    registry.benchmarks.cache_clear()
    registry.options.cache_clear()
    yield
    registry.benchmarks.cache_clear()
    registry.options.cache_clear()


def test_a_new_module_is_a_new_benchmark(toy_benchmark, tmp_path, capsys, monkeypatch):
    from emox_cli.eval import build_command

    assert "toy" in registry.benchmarks() and registry.get("mintrec").name == "mintrec"
    app = typer.Typer()
    app.command("eval")(build_command())
    app.command("other")(lambda: None)
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "a", "prediction": "long enough"}\n{"id": "b", "prediction": "no"}\n'
                     '{"id": "c", "task": "MIR", "prediction": "not a toy task"}\n')
    monkeypatch.setenv("COLUMNS", "300")
    with pytest.raises(SystemExit):
        app(["eval", "--help"])
    assert "toy (Toy: share of long answers)" in capsys.readouterr().out
    app(["eval", "toy", "-p", str(preds), "--min-length", "3", "-o", str(tmp_path / "o"), "--json"],
        standalone_mode=False)
    assert json.loads(capsys.readouterr().out) == {"long": 50.0}
    saved = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert saved["protocol"] == "toy/1" and saved["rows"][0]["paper"] == 50.0
    assert saved["settings"]["options"] == {"--min-length": 3}


def test_shared_options_are_defined_once():
    """--normalize is taken by three benchmarks and is one option (one help, one default)."""
    option, users = registry.options()["normalize"]
    assert users == ("mer-unibench", "mintrec", "mintrec2") and option.default == option.official == "official"
