"""The CPM case: a composition of the CPM model, the STC dataset, the reference recipe and Embedding Average.

The ``official`` preset is the published benchmark (plugins/cpm/docs/reference.md): CPM medium fine-tuned on the
user's STC data with the real CPM tokenizer, target Embedding Average 0.91. The ``large`` preset is the same workload
on the released 2.6B model, started from its released model-parallel shards (plugins/cpm/README.md, "The large
preset"). The ``demo`` preset runs the very same code on a generated corpus, a tokenizer trained on it and a tiny
model, so a laptop can run the case end to end in minutes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchbase.contract import Case, Param, Preset, ProgressFn
from benchbase.errors import BenchbaseError
from benchbase_cpm.dataset import STCDataset
from benchbase_cpm.metric import EmbeddingAverage
from benchbase_cpm.shapes import SIZES
from benchbase_cpm.recipe import CPMRecipe
from benchbase_cpm.workload import CPMModelSpec, model_config


#: Iluvatar's published CPM criterion (plugins/cpm/docs/reference.md, "Published numbers"); FlagPerf uses 0.92.
OFFICIAL_TARGET = 0.91

#: The case's values of the keys the core declares for every case (benchbase.config.parameters.CORE_PARAMETERS).
CORE_DEFAULTS: dict[str, Any] = {
    "target": OFFICIAL_TARGET,
    "eval_interval_samples": 20000,
    "batch_size": 32,
    "grad_accum": 1,
    "eval_batch_size": 32,
    "max_steps": 4000,
    "max_samples": 0,
    "seed": 23333,
}

#: Upper bounds of the case's own keys, so a value no run could train with is one line at resolution, before a run
#: folder exists, instead of an allocation or a library's range check failing inside a rank.
#: Every CPM size has 1024 positions (benchbase_cpm.shapes.CPMConfig.n_positions, as the released CPM checkpoints).
MAX_SEQ_LENGTH = 1024
#: Dropout is a probability; at 1 every activation is dropped and nothing is learnt (GPT-2 and CPM use 0.1; the
#: benchmark recipe's 0.5 is already high).
MAX_DROPOUT = 0.9
#: A peak learning rate of 1 makes AdamW diverge on any transformer in a few steps (the reference uses 5e-4).
MAX_LR = 1.0
#: AdamW shrinks each weight by ``lr * weight_decay`` per step; a decay above 1 is no regulariser any recipe uses.
MAX_WEIGHT_DECAY = 1.0
#: ``warmup`` is a fraction of max_steps: more than all of them is not a schedule.
MAX_WARMUP = 1.0
#: Tokenizing processes: the largest hosts have a few hundred cores; more processes than that only cost memory.
MAX_PREPARE_WORKERS = 1024

PARAMETERS: dict[str, Param] = {
    "model_size": Param("medium", "GPT-2 size of the CPM model", mutable=False, choices=tuple(SIZES)),
    "dataset": Param("stc", "stc: the user's STC.json; demo: the generated corpus", mutable=False,
                     choices=("stc", "demo")),
    "seq_length": Param(200, "tokens per sample (windows of seq_length + 1)", mutable=False, minimum=8,
                        maximum=MAX_SEQ_LENGTH),
    "dropout": Param(0.5, "hidden and attention dropout of the benchmark recipe", mutable=False, minimum=0.0,
                     maximum=MAX_DROPOUT),
    "lr": Param(5e-4, "peak learning rate", minimum=0.0, maximum=MAX_LR),
    "weight_decay": Param(0.05, "AdamW weight decay on weights and embeddings", minimum=0.0,
                          maximum=MAX_WEIGHT_DECAY),
    "warmup": Param(0.2, "fraction of max_steps with linear warmup", minimum=0.0, maximum=MAX_WARMUP),
    "activation_checkpointing": Param(True, "recompute each layer's activations in backward (saves memory)"),
    "init_checkpoint": Param(
        "", "starting weights: a .pt file, or a folder of model-parallel shards (the released 2.6B model); "
        "empty = look in --data-dir (cpm_model_states_medium.pt; for model_size large, the folder CPM-large)"
    ),
    "tokenizer_dir": Param("", "folder with chinese_vocab.model and vocab.json; empty = --data-dir"),
    "prepare_workers": Param(0, "processes for tokenization (0 = all cores)", minimum=0,
                             maximum=MAX_PREPARE_WORKERS),
}

PRESETS: dict[str, Preset] = {
    "official": Preset(
        "official",
        "CPM medium on the user's STC data, target 0.91 (Iluvatar/NVIDIA published case)",
        {},
        needs_data_dir=True,
    ),
    "large": Preset(
        "large",
        "CPM large (2.6B, the released model) on the user's STC data, starting from the released shards; "
        "sharded (parallelism: fsdp) in the vendors' tuned files",
        {"model_size": "large"},
        needs_data_dir=True,
    ),
    "demo": Preset(
        "demo",
        "tiny CPM on a generated corpus with its own tokenizer; needs no files, minutes on a CPU",
        {
            "model_size": "tiny",
            "dataset": "demo",
            "seq_length": 48,
            "target": 0.96,
            "dropout": 0.0,
            "eval_interval_samples": 640,
            "batch_size": 16,
            "eval_batch_size": 64,
            "lr": 2e-3,
            "warmup": 0.05,
            "max_steps": 600,
            "seed": 1234,
            "activation_checkpointing": False,
        },
    ),
}

CHECKPOINT_NAME = "cpm_model_states_medium.pt"
#: The released 2.6B model's folder (CPM-Generate's ``CPM-large``: ``latest_checkpointed_iteration.txt`` and the
#: iteration folder of ``mp_rank_0X_model_states.pt`` shards), the one ``prepare --from-large`` reads.
LARGE_FOLDER_NAME = "CPM-large"


class CPMCase(Case):
    name = "cpm"
    description = "CPM (Chinese GPT-2) fine-tuned on STC dialogue data; metric: Embedding Average"
    default_preset = "official"
    model = CPMModelSpec()
    dataset = STCDataset()
    recipe = CPMRecipe()
    metric = EmbeddingAverage()

    def parameters(self) -> Mapping[str, Param]:
        return PARAMETERS

    def defaults(self) -> Mapping[str, Any]:
        return CORE_DEFAULTS

    def presets(self) -> Mapping[str, Preset]:
        return PRESETS

    def prepare(
        self, config: Mapping[str, Any], data_dir: Path | None, cache_dir: Path, progress: ProgressFn
    ) -> dict[str, Any]:
        """The data, and the starting checkpoint checked against the configured model before any rank starts."""
        facts = self.dataset.prepare(config, data_dir, cache_dir, progress)
        checkpoint = self._initial_checkpoint(config, data_dir)
        if checkpoint is not None and checkpoint.is_dir():
            from benchbase_cpm.checkpoint import shard_files

            # 10 GB of shards are read once, by the ranks; here only that every shard is present.
            shard_files(checkpoint)
        elif checkpoint is not None:
            from benchbase_cpm.checkpoint import check_file_fits

            check_file_fits(checkpoint, model_config(config, facts))
        facts["init_checkpoint"] = str(checkpoint) if checkpoint else None
        return facts

    @staticmethod
    def _initial_checkpoint(config: Mapping[str, Any], data_dir: Path | None) -> Path | None:
        given = str(config.get("init_checkpoint") or "")
        if given:
            path = Path(given)
            if not path.exists():
                raise BenchbaseError(
                    f"init_checkpoint {path} does not exist",
                    "pass the path of a CPM .pt file or of a folder of model-parallel shards",
                )
            return path
        if data_dir is None:
            return None
        if config["model_size"] == "large":
            return data_dir / LARGE_FOLDER_NAME if (data_dir / LARGE_FOLDER_NAME).is_dir() else None
        return data_dir / CHECKPOINT_NAME if (data_dir / CHECKPOINT_NAME).is_file() else None

    def convert_checkpoint(self, source: Path, out_dir: Path) -> Path:
        """The reference's medium starting point cut from the released 2.6B model-parallel shards
        (plugins/cpm/docs/reference.md, "Checkpoints")."""
        import torch

        from benchbase.kit import atomic_write_bytes
        from benchbase_cpm.checkpoint import load_model_parallel_dir, truncate_large_to_medium

        target = Path(out_dir) / CHECKPOINT_NAME
        if target.exists():
            raise BenchbaseError(f"{target} already exists", "move it away or pass another --data-dir")
        medium = truncate_large_to_medium(load_model_parallel_dir(source))
        buffer = io.BytesIO()
        torch.save(medium, buffer)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, buffer.getvalue())
        return target
