"""P2E training: recipes (:mod:`.recipe`), the Trainer subclass and :func:`run_training` (:mod:`.trainer`), the
mixture sampler and collator (:mod:`.data`), the frozen-encoder feature cache (:mod:`.features`), trainable-only
checkpoints and export (:mod:`.checkpoint`), run logs (:mod:`.logs`) and the synthetic corpus (:mod:`.synthetic`).
Submodules import torch/transformers; import them where they are used."""
