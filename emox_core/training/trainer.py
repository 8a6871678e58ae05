"""One P2E phase, trained by a subclass of the Hugging Face ``Trainer`` (so ``torchrun``, ``accelerate
launch`` and DeepSpeed ZeRO work unchanged).

What the subclass changes, LLaVA-style (architecture-notes §6): the mixture sampler instead of a random
one; the official weight-decay groups; warmup + cosine to a minimum lr over the recipe's sample budget;
checkpoints that hold only the trainable-kind weights (adapters + LoRA, in every checkpoint) plus the sampler
position, written under ``.staging/`` and renamed into place; a loud error for a batch without supervised
tokens (LLaVA #1166); the questions asked and the over-length samples skipped, in the train log.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainingArguments

from emox_core.errors import EmoxError
from emox_core.fileio import atomic_write_json, atomic_write_text
from emox_core.modeling.adapters import ADAPTERS_FILE
from emox_core.processing import IGNORE_INDEX
from emox_core.training.checkpoint import (
    build_recipe_model,
    frozen_dtype,
    list_checkpoints,
    resolve_precision,
    save_trainable,
)
from emox_core.training.data import Collator, MixtureSampler, TrainingSet, load_sources, source_summary
from emox_core.training.features import FeatureCache, feature_key, fill_cache
from emox_core.training.logs import (
    LOSS_PNG,
    TRAIN_LOG,
    ProgressCallback,
    plot_loss,
    read_train_log,
    truncate_train_log,
)
from emox_core.training.prerequisites import media_cache_gaps, require_prerequisites
from emox_core.training.recipe import Budget, OptimSpec, Recipe

SAMPLER_FILE = "sampler.json"
STAGING = ".staging"


def lr_at(step: int, optim: OptimSpec, total_steps: int, warmup_steps: float) -> float:
    """Linear warmup ``warmup_lr -> lr`` over ``warmup_steps``, then cosine ``lr -> min_lr`` over the rest.

    This is the official ``linear_warmup_cosine_lr`` as intended (official-code-notes §3.3: there the
    warmup never ran and the cosine started at step 5000 of T); the lr of optimizer step ``step`` (0-based).
    ``warmup_steps`` is the recipe's ``warmup_samples`` in steps (:attr:`Budget.warmup_steps`).
    """
    if step < warmup_steps:
        return optim.warmup_lr + (optim.lr - optim.warmup_lr) * step / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return optim.min_lr + (optim.lr - optim.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


def decays(name: str, param: torch.nn.Parameter) -> bool:
    """The official no-decay rule (official-code-notes §3.2): decay only tensors of 2+ dims whose name
    contains none of ``bias``, ``ln``, ``bn`` (so query tokens and position embeddings are decayed)."""
    return param.ndim >= 2 and not any(part in name for part in ("bias", "ln", "bn"))


class EmoxTrainer(Trainer):
    """``Trainer`` with the P2E recipe's sampler, optimizer groups, schedule and trainable-only checkpoints."""

    def __init__(self, *args: Any, recipe: Recipe, processor: Any, mixture: MixtureSampler, data_id: str,
                 budget: Budget, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recipe = recipe
        self.processor = processor
        self.mixture = mixture
        self.data_id = data_id
        self.budget = budget
        self.log_path = Path(self.args.output_dir) / TRAIN_LOG
        self._pending: dict[str, list[Any]] = {"samples": [], "questions": [], "skipped": []}
        self._staging_root: str | None = None
        self._rng_checkpoint: str | None = None

    # ------------------------------------------------------------------ data, optimizer, schedule
    def _get_train_sampler(self, train_dataset: Any = None) -> MixtureSampler:
        return self.mixture

    def get_decay_parameter_names(self, model: torch.nn.Module) -> list[str]:
        return [n for n, p in model.named_parameters() if decays(n, p)]

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None) -> Any:
        if self.lr_scheduler is None:
            optim, base, warmup = self.recipe.optim, self.recipe.optim.lr, self.budget.warmup_steps
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer or self.optimizer, lambda step: lr_at(step, optim, num_training_steps, warmup) / base)
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        indices = inputs.pop("sample_index")
        questions = inputs.pop("sample_question")
        skipped = inputs.pop("skipped_index")
        if not bool((inputs["labels"][:, 1:] != IGNORE_INDEX).any()):
            raise EmoxError(f"batch of samples {indices.tolist()}: no supervised token (every label is masked; "
                            "empty targets?)")
        self._pending["samples"].extend(indices.tolist())
        self._pending["questions"].extend(questions.tolist())
        self._pending["skipped"].extend(self.train_dataset.sample_id(i) for i in skipped.tolist())
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        super().log(logs, start_time)
        if "loss" in logs and self.is_world_process_zero():
            record = {"step": self.state.global_step, "loss": logs["loss"], "lr": logs.get("learning_rate"),
                      **self._pending}
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        self._pending = {key: [] for key in self._pending}

    # ------------------------------------------------------------------ checkpoints
    def train(self, resume_from_checkpoint: str | None = None, **kwargs: Any) -> Any:
        self._rng_checkpoint = resume_from_checkpoint
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def training_step(self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
        # The stock resume restores the RNG before the data iterator is created, which draws from it; restoring
        # again right before the first resumed step gives the dropout masks of the uninterrupted run.
        if self._rng_checkpoint:
            self._load_rng_state(self._rng_checkpoint)
            self._rng_checkpoint = None
        return super().training_step(model, inputs, num_items_in_batch)

    def _get_output_dir(self, trial: Any) -> str:
        return self._staging_root or super()._get_output_dir(trial)

    def _save_checkpoint(self, model: torch.nn.Module, trial: Any) -> None:
        """The stock checkpoint (our ``_save`` + optimizer, scheduler, RNG, trainer state), written under
        ``.staging/`` with the sampler state, then renamed into place once every rank has written."""
        run_dir = Path(self.args.output_dir)
        name = f"checkpoint-{self.state.global_step}"
        self._staging_root = str(run_dir / STAGING)
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging_root = None
        staged = run_dir / STAGING / name
        if self.args.should_save:
            position = self.state.global_step * self.args.per_device_train_batch_size * \
                self.args.gradient_accumulation_steps * self.args.world_size
            atomic_write_json(staged / SAMPLER_FILE, {**self.mixture.state_dict(position), "data": self.data_id})
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            final = run_dir / name
            if final.exists():
                shutil.rmtree(final)
            os.replace(staged, final)
            limit = self.args.save_total_limit
            for old in list_checkpoints(run_dir)[:-limit] if limit else []:
                shutil.rmtree(old)
        self.accelerator.wait_for_everyone()

    def _save(self, output_dir: str | None = None, state_dict: dict[str, torch.Tensor] | None = None) -> None:
        if self.args.should_save:
            save_trainable(self.accelerator.unwrap_model(self.model), self.processor, self.recipe,
                           output_dir or self.args.output_dir, state_dict)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        (model or self.model).load_adapters(resume_from_checkpoint, strict=True)


def training_arguments(recipe: Recipe) -> TrainingArguments:
    """The Trainer's arguments for ``recipe``; ``max_steps`` is a placeholder until the number of processes is
    known (:func:`run_training` sets it from the sample budget)."""
    precision = resolve_precision(recipe.precision)
    report = "none"
    if recipe.tensorboard:
        try:
            import tensorboard  # noqa: F401

            report = "tensorboard"
            os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(Path(recipe.output_dir) / "tensorboard"))
        except ImportError:
            pass
    return TrainingArguments(
        output_dir=recipe.output_dir, per_device_train_batch_size=recipe.batch_size,
        gradient_accumulation_steps=recipe.grad_accum, max_steps=recipe.budget().steps, learning_rate=recipe.optim.lr,
        weight_decay=recipe.optim.weight_decay, adam_beta1=recipe.optim.betas[0],
        adam_beta2=recipe.optim.betas[1], max_grad_norm=recipe.optim.max_grad_norm, logging_steps=recipe.log_every,
        save_strategy="steps", save_steps=recipe.save_every, save_total_limit=recipe.save_total_limit,
        seed=recipe.seed, report_to=report, remove_unused_columns=False, disable_tqdm=True,
        dataloader_num_workers=recipe.num_workers, use_cpu=not torch.cuda.is_available(),
        ddp_find_unused_parameters=recipe.ddp_find_unused_parameters, deepspeed=recipe.deepspeed,
        ignore_data_skip=True,  # the mixture sampler restarts at its saved position itself
        dataloader_pin_memory=torch.cuda.is_available(), bf16=precision == "bf16", fp16=precision == "fp16")


def trainable_table(model: torch.nn.Module, trainable: list[str]) -> Any:
    """A rich table: per top-level module, parameters and how many train in this phase."""
    from rich.table import Table

    rows: dict[str, list[int]] = {}
    for name, param in model.named_parameters():
        key = "lora" if "lora_" in name else name.split(".", 1)[0]
        row = rows.setdefault(key, [0, 0])
        row[0] += param.numel()
        row[1] += param.numel() if param.requires_grad else 0
    table = Table(title=f"trainable: {', '.join(trainable)}")
    for column in ("module", "parameters", "trainable"):
        table.add_column(column, justify="left" if column == "module" else "right")
    for key, (total, train) in rows.items():
        table.add_row(key, f"{total:,}", f"{train:,}" if train else "-")
    table.add_row("total", f"{sum(r[0] for r in rows.values()):,}", f"{sum(r[1] for r in rows.values()):,}")
    return table


def training_data(recipe: Recipe, model: torch.nn.Module, processor: Any) -> TrainingSet:
    """The recipe's training samples (with the feature cache of this model, when the recipe names one)."""
    cache = FeatureCache(recipe.feature_cache, feature_key(model, processor)) if recipe.feature_cache else None
    return TrainingSet(load_sources(recipe.active_sources()), processor, cache, recipe.media_cache)


def prepare_features(recipe: Recipe) -> tuple[Path, int, int]:
    """``emox prepare features``: fill ``recipe.feature_cache`` for the recipe's training data (one process).

    Returns (cache root, entries computed, samples).
    """
    from rich.progress import Progress

    if not recipe.feature_cache:
        raise EmoxError("recipe feature_cache: not set (feature_cache=DIR)")
    model, processor = build_recipe_model(recipe.model, frozen_dtype(recipe))
    if torch.cuda.is_available():
        model.cuda()
    dataset = training_data(recipe, model, processor)
    with Progress(transient=True) as bar:
        task = bar.add_task("features", total=len(dataset))
        computed = fill_cache(dataset.features, model, processor, dataset,
                              progress=lambda done, total: bar.update(task, completed=done))
    return dataset.features.root, computed, len(dataset)


def _checkpoint_to_resume(output: Path, resume: bool, console: Any) -> Path | None:
    """The checkpoint a run continues from, or None to start from the beginning.

    A run killed before its first checkpoint was complete (even while writing it) left nothing to continue:
    ``--resume`` and a plain rerun then both start anew, replacing its log and half-written checkpoint (only
    ever emox's own files). A directory with a checkpoint or a finished run is never overwritten.
    """
    checkpoints = list_checkpoints(output)
    finished = (output / ADAPTERS_FILE).is_file()
    if resume and checkpoints:
        return checkpoints[-1]
    if resume and finished:
        raise EmoxError(f"{output}: --resume but this run finished without checkpoints; nothing to continue")
    if not resume and (checkpoints or finished):
        raise EmoxError(f"{output}: already holds a run; pass --resume to continue it or choose another output_dir")
    if (output / TRAIN_LOG).exists():
        console.print(f"{output}: the previous run stopped before its first checkpoint; starting from the beginning",
                      highlight=False)
    return None


def run_training(recipe: Recipe, resume: bool = False, quiet: bool = False, check: bool = True) -> Path:
    """Train one phase as the recipe says; returns the output directory (final trainable weights there).

    First, unless ``check=False`` (the caller just did it), everything the recipe needs is checked
    (:func:`~emox_core.training.prerequisites.require_prerequisites`): all that is missing is raised at once,
    before the model is built. Under torchrun the process group is destroyed before returning, also on an
    error: left to the interpreter's exit, gloo's worker threads can abort the process (SIGABRT, "terminate
    called without an active exception") after a run that succeeded."""
    try:
        return _train_phase(recipe, resume, quiet, check)
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _train_phase(recipe: Recipe, resume: bool, quiet: bool, check: bool) -> Path:
    from rich.console import Console
    from transformers.trainer_callback import PrinterCallback

    console = Console(stderr=True, quiet=quiet)
    if check:
        require_prerequisites(recipe)
    output = Path(recipe.output_dir)
    checkpoint = _checkpoint_to_resume(output, resume, console)
    args = training_arguments(recipe)  # sets up the process group under torchrun
    main = args.process_index == 0
    if main and (gaps := media_cache_gaps(recipe)) is not None:
        console.print(f"[yellow]warning:[/] {gaps}", highlight=False, soft_wrap=True)
    budget = recipe.budget(args.world_size)
    args.max_steps = budget.steps
    model, processor = build_recipe_model(recipe.model, frozen_dtype(recipe))
    trainable = recipe.trainable_modules()
    if not model.set_trainable(trainable):
        raise EmoxError(f"trainable {trainable}: no parameter to train")
    if main:
        console.print(trainable_table(model, trainable))
    with args.main_process_first(local=False, desc="data"):
        dataset = training_data(recipe, model, processor)
    weights = [s.weight for s in recipe.active_sources().values()]
    if main:
        for name, count, share in source_summary(dataset, weights):
            console.print(f"data.{name}: {count} samples, {share:.1%} of draws", highlight=False)
    if dataset.features is not None:
        from accelerate import PartialState

        if not recipe.deepspeed:
            model.to(args.device)  # encode on the GPU (the Trainer moves the model there anyway)
        computed = fill_cache(dataset.features, model, processor, dataset, args.process_index, args.world_size)
        PartialState().wait_for_everyone()
        console.print(f"feature cache {dataset.features.root} (key {dataset.features.hash}): {computed} entries "
                      "computed here", highlight=False)
    mixture = MixtureSampler(dataset.sizes, weights, recipe.seed, budget.steps * budget.samples_per_step)
    data_id = dataset.fingerprint()
    if main:
        shutil.rmtree(output / STAGING, ignore_errors=True)  # only ever incomplete checkpoints
    if checkpoint is not None:
        state = json.loads((checkpoint / SAMPLER_FILE).read_text())
        if state.get("data") != data_id:
            raise EmoxError(f"{checkpoint}: trained on other samples than this recipe's data; resume with the "
                            "same data")
        mixture.load_state_dict(state, str(checkpoint))
        if main:
            truncate_train_log(output / TRAIN_LOG, int(checkpoint.name.split("-")[1]))
        console.print(f"resuming from {checkpoint} (sample position {mixture.start})", highlight=False)
    elif main:
        output.mkdir(parents=True, exist_ok=True)
        atomic_write_text(output / TRAIN_LOG, "")
    if main:
        recipe.save(output)
        console.print(f"budget: {budget.describe()}", highlight=False, soft_wrap=True)
    trainer = EmoxTrainer(model=model, args=args, train_dataset=dataset, data_collator=Collator(processor),
                          recipe=recipe, processor=processor, mixture=mixture, data_id=data_id, budget=budget,
                          callbacks=[ProgressCallback(budget.samples_per_step, quiet)])
    trainer.remove_callback(PrinterCallback)
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    trainer.save_model(str(output))  # every rank: under ZeRO-3 the adapter weights are gathered first
    if main:
        records = read_train_log(output / TRAIN_LOG)
        if records:
            plot_loss(records, output / LOSS_PNG, f"{recipe.name or 'emox'} (phase {recipe.phase})")
        skipped = sum(len(r.get("skipped", [])) for r in records)
        if skipped:
            console.print(f"{skipped} over-length samples skipped for others (ids in {output / TRAIN_LOG})",
                          highlight=False)
        console.print(f"phase {recipe.phase} done: {output}", highlight=False)
    args.distributed_state.wait_for_everyone()  # no rank leaves the process group while another still uses it
    return output
