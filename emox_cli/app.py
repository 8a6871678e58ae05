"""``emox app``: serve the local web page (parsing only; the page is :mod:`emox_core.app`)."""

from __future__ import annotations

import typer


def app(
    model: str = typer.Option(..., "--model", "-m", envvar="EMOX_MODEL",
                              help="Model directory emox loads (trained, exported, converted, the demo's "
                                   "runs/p2e-phase3) or hub id."),
    port: int = typer.Option(7860, "--port", "-p", min=1, max=65535, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; the default serves this machine only "
                             "(0.0.0.0 opens it to the network, without any login)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N | mps."),
    dtype: str = typer.Option("auto", "--dtype", help="auto (bf16/fp16 on GPU, float32 on CPU) | float32 | "
                              "bfloat16 | float16."),
    max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", min=1, help="Default per task: 32 "
                                              "(labels), 64 (OV-MER), 512 (ERI, ERG)."),
    queue_size: int = typer.Option(32, "--queue-size", min=1, help="Visitors waiting at most (one is answered "
                                   "at a time)."),
) -> None:
    """A local web page: upload or record a clip, pick the task, get the streamed answer, the frames, face input
    and audio segments the model read, and the fusion gate weights. Needs pip install 'emox[app]'."""
    from emox_core.app.ui import serve

    serve(model, host=host, port=port, device=device, dtype=dtype, max_new_tokens=max_new_tokens,
          queue_size=queue_size, on_ready=lambda url: typer.echo(f"emox app: serving {model} at {url} "
                                                                 "(Ctrl+C to stop)"))
