"""Training an inverter for any embedder and corpus, and fine-tuning one: the one training code path.

- :func:`train` (``unembed train``): corpus -> embeddings -> hypothesizer -> corrector data ->
  corrector -> inverter folder, every stage resumable (``pipeline``); ``TrainConfig.start_from``
  continues an existing inverter on new text (``unembed train --from``).
- :func:`finetune`: an existing inverter adapted to given texts, or to vectors seen through a
  defence (``finetune``); the adaptive attacker of ``unembed defend`` and domain adaptation use it.
- ``loop``: the optimisation loop, checkpoints and data order both share; ``config``: settings.

Runs on CPU, one GPU or several (``accelerate launch``).
"""
from .config import PRESETS, TrainConfig, check_model_size
from .finetune import FinetuneConfig, finetune
from .loop import Batches, Fitter, LoopSettings, TrainingInterrupted, load_checkpoint, lr_lambda, save_checkpoint
from .pipeline import Trainer, TrainData, corrupt, model_configs, preset_transformer, train, warm_start_state

__all__ = [
    "PRESETS", "TrainConfig", "check_model_size", "FinetuneConfig", "finetune", "Batches", "Fitter", "LoopSettings",
    "TrainingInterrupted", "load_checkpoint", "lr_lambda", "save_checkpoint", "Trainer", "TrainData", "corrupt", "model_configs",
    "preset_transformer", "train", "warm_start_state",
]
