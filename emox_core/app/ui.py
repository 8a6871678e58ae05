"""``emox app``: the Gradio page over :class:`~emox_core.app.session.AppModel`, served on this machine only by
default, offline (no analytics, no share link, fonts and scripts from the local server), one model run at a
time with the other visitors queued."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emox_core.app.session import AppModel, Question, Update
from emox_core.app.views import CSS, face_items, frame_items, gate_html, inputs_html, waveform_image
from emox_core.errors import EmoxError
from emox_core.tasks import TASKS, get_task, task_names

# Settings that keep Gradio from calling home: usage analytics and the version check ride on the same switch.
OFFLINE_ENVIRONMENT = {"GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SHARE": "False", "GRADIO_SSR_MODE": "False",
                       "GRADIO_MCP_SERVER": "False", "GRADIO_RUN_HISTORY": "False", "HF_HUB_OFFLINE": "1"}


def import_gradio() -> Any:
    """Gradio with its network features off, or a one-line error naming the extra to install."""
    for name, value in OFFLINE_ENVIRONMENT.items():
        os.environ[name] = value
    try:
        import gradio
    except ImportError:
        raise EmoxError("emox app needs the app extra: pip install 'emox[app]'") from None
    return gradio


def build_page(app: AppModel) -> Any:
    """The Blocks page: the clip and the question on the left, the streamed answer and what it was based on
    on the right, what the model saw below."""
    gr = import_gradio()
    with gr.Blocks(title="emox: Nano-EmoX", analytics_enabled=False) as page:
        gr.Markdown(f"## emox · Nano-EmoX\nmodel: `{app.name}`")
        with gr.Row():
            with gr.Column(scale=1):
                clip = gr.Video(label="clip (upload, or record from the webcam and microphone)",
                                sources=["upload", "webcam"], include_audio=True, height=260, elem_id="clip")
                task = gr.Radio(list(task_names()), value="MER", label="task", elem_id="task",
                                info=", ".join(f"{t.name}: {t.description or t.name}" for t in TASKS.values()))
                subtitle = gr.Textbox(label="subtitle (what is said; ERG: the speaker's current words)",
                                      elem_id="subtitle")
                with gr.Group(visible=False) as dialogue:
                    context = gr.Textbox(label="ERG: situation", elem_id="context")
                    history = gr.Textbox(label="ERG: dialogue so far", lines=4, elem_id="history",
                                         placeholder="speaker: I have been so tired lately.\n"
                                                     "listener: That sounds exhausting. What happened?")
                run = gr.Button("Answer", variant="primary", elem_id="run")
            with gr.Column(scale=1):
                status = gr.HTML(elem_id="status")
                answer = gr.Textbox(label="answer", lines=4, interactive=False, elem_id="answer")
                label = gr.Textbox(label="parsed", interactive=False, elem_id="label")
                with gr.Accordion("chain of empathy (ERG's <think> part)", open=False, elem_id="thinking-box"):
                    thinking = gr.Textbox(show_label=False, lines=6, interactive=False, elem_id="thinking")
                inputs = gr.HTML(label="inputs used", elem_id="inputs")
                gate = gr.HTML(label="fusion gate: weight of each speech-guided expert", elem_id="gate")
        gr.Markdown("### What the model saw")
        frames = gr.Gallery(label="frames", columns=8, rows=1, height=190, object_fit="contain", elem_id="frames")
        faces = gr.Gallery(label="face input", columns=8, rows=1, height=190, object_fit="contain",
                           elem_id="faces")
        waveform = gr.Image(label="audio: the segments HuBERT hears", type="numpy", interactive=False,
                            height=230, elem_id="waveform")

        task.change(lambda t: gr.update(visible=get_task(t).reads_dialogue), task, dialogue, queue=False)
        outputs = [status, answer, label, thinking, inputs, gate, frames, faces, waveform]

        def answer_question(clip_path: str | None, task_name: str, said: str, situation: str, dialogue_text: str
                            ) -> Iterator[tuple[Any, ...]]:
            start = time.perf_counter()
            yield ('<span class="emox-busy">reading the clip ...</span>', "", "", "", inputs_html(None),
                   gate_html(None), [], [], None)
            question = Question(clip_path, task_name, said, situation, dialogue_text)
            shown_media = False
            for update in app.ask(question):
                media_views: tuple[Any, ...] = (gr.update(),) * 3
                if update.media is not None and not shown_media:
                    shown_media = True
                    media_views = (frame_items(update.media), face_items(update.media, app.face_mode),
                                   waveform_image(update.media, app.processor.media_settings()))
                yield _page_values(gr, update, time.perf_counter() - start) + media_views

        run.click(answer_question, [clip, task, subtitle, context, history], outputs, concurrency_limit=1)
    return page


def _page_values(gr: Any, update: Update, seconds: float) -> tuple[Any, ...]:
    """status, answer, parsed label, thinking, inputs, gate for one update."""
    if update.error is not None:
        import html

        status = f'<div class="emox-error">{html.escape(update.error)}</div>'
        return status, update.answer, "", "", inputs_html(None), gate_html(None)
    if not update.done:
        return '<span class="emox-busy">answering ...</span>', update.answer, "", "", gr.update(), gr.update()
    status = f'<span class="emox-done">answered in {seconds:.1f} s</span>'
    return (status, update.answer, update.label_line, update.thinking or "", inputs_html(update.record),
            gate_html(update.record))


def serve(model: str | Path, host: str = "127.0.0.1", port: int = 7860, device: str = "auto", dtype: str = "auto",
          max_new_tokens: int | None = None, queue_size: int = 32, on_ready: Any = None) -> None:
    """Load ``model`` and serve the page at http://HOST:PORT until interrupted (``on_ready(url)`` once up)."""
    from emox_core.inference import GenerationSettings

    gr = import_gradio()
    app = AppModel.load(model, device, dtype, GenerationSettings(max_new_tokens=max_new_tokens))
    page = build_page(app)
    page.queue(default_concurrency_limit=1, max_size=queue_size)
    try:
        _, url, _ = page.launch(
            server_name=host, server_port=port, share=False, inbrowser=False, quiet=True, prevent_thread_lock=True,
            footer_links=[], ssr_mode=False, mcp_server=False, pwa=False, enable_monitoring=False,
            run_history=False, css=CSS, theme=gr.themes.Default())
    except OSError as exc:
        raise EmoxError(f"--port {port}: cannot serve on {host}:{port} ({' '.join(str(exc).split())})") from None
    if on_ready is not None:
        on_ready(url)
    try:
        page.block_thread()
    finally:
        page.close()
