"""The Nano-EmoX model: configuration, branches, the composite model, presets, checkpoint conversion."""
