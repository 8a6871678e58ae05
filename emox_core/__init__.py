"""emox: the Nano-EmoX model and its toolkit (prepare, train, eval, infer) as a library.

Heavy modules (torch, transformers) are imported by the submodules that need them, so
``import emox_core`` stays cheap for the CLI.
"""

__version__ = "0.1.0.dev0"
