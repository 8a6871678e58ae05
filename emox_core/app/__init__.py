"""``emox app``: a local web page to ask the model about a clip (upload or webcam + microphone) and see what it
saw and how it weighed its inputs. The work is in :mod:`.session` (no UI library) and :mod:`.views`; the page
(Gradio, the ``app`` extra, imported only when served) in :mod:`.ui`. Documented in ``docs/app.md``."""
