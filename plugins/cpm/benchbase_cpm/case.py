"""The CPM case: its parameters (and which of them define the workload), its presets, preparation and build.

The ``official`` preset is the published benchmark (DESIGN §8): CPM medium fine-tuned on the user's STC data with
the real CPM tokenizer, target Embedding Average 0.91. The ``demo`` preset runs the very same code on a generated
corpus, a tokenizer trained on it and a tiny model, so a laptop can run the case end to end in minutes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchbase.contract import Case, Param, Preset, ProgressFn, RunContext, Workload
from benchbase.errors import BenchbaseError
from benchbase_cpm.model import SIZES

#: Iluvatar's published CPM criterion (DESIGN §9); NVIDIA's FlagPerf reference uses 0.92.
OFFICIAL_TARGET = 0.91

PARAMETERS: dict[str, Param] = {
    "model_size": Param("medium", "GPT-2 size of the CPM model", mutable=False, choices=tuple(SIZES)),
    "dataset": Param("stc", "stc: the user's STC.json; demo: the generated corpus", mutable=False,
                     choices=("stc", "demo")),
    "seq_length": Param(200, "tokens per sample (windows of seq_length + 1)", mutable=False, minimum=8),
    "target": Param(OFFICIAL_TARGET, "Embedding Average that counts as converged", mutable=False),
    "dropout": Param(0.5, "hidden and attention dropout of the benchmark recipe", mutable=False, minimum=0.0),
    "eval_interval_samples": Param(20000, "evaluate every ceil(this / global batch) steps", mutable=False,
                                   minimum=1),
    "batch_size": Param(32, "per-device micro-batch", minimum=1),
    "grad_accum": Param(1, "micro-batches accumulated per optimizer step", minimum=1),
    "eval_batch_size": Param(32, "per-device evaluation batch", minimum=1),
    "lr": Param(5e-4, "peak learning rate", minimum=0.0),
    "weight_decay": Param(0.05, "AdamW weight decay on weights and embeddings", minimum=0.0),
    "warmup": Param(0.2, "fraction of max_steps with linear warmup", minimum=0.0),
    "max_steps": Param(4000, "step budget", minimum=1),
    "max_samples": Param(0, "sample budget (0 = none)", minimum=0),
    "seed": Param(23333, "seed of initialisation, dropout and data order"),
    "activation_checkpointing": Param(True, "recompute each layer's activations in backward (saves memory)"),
    "init_checkpoint": Param("", "starting weights (cpm_model_states_medium.pt); empty = look in --data-dir"),
    "tokenizer_dir": Param("", "folder with chinese_vocab.model and vocab.json; empty = --data-dir"),
    "prepare_workers": Param(0, "processes for tokenization (0 = all cores)", minimum=0),
}

PRESETS: dict[str, Preset] = {
    "official": Preset(
        "official",
        "CPM medium on the user's STC data, target 0.91 (Iluvatar/NVIDIA published case)",
        {},
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


class CPMCase(Case):
    name = "cpm"
    description = "CPM (Chinese GPT-2) fine-tuned on STC dialogue data; metric: Embedding Average"
    metric_name = "embedding_average"
    default_preset = "official"

    def parameters(self) -> Mapping[str, Param]:
        return PARAMETERS

    def presets(self) -> Mapping[str, Preset]:
        return PRESETS

    def prepare(
        self, config: Mapping[str, Any], data_dir: Path | None, cache_dir: Path, progress: ProgressFn
    ) -> dict[str, Any]:
        from benchbase_cpm.prepare import prepare_demo, prepare_official

        workers = int(config.get("prepare_workers") or 0) or None
        window = int(config["seq_length"]) + 1
        if config["dataset"] == "demo":
            prepared = prepare_demo(cache_dir, progress, workers=workers, window=window)
        else:
            if data_dir is None:
                raise BenchbaseError("the stc dataset needs --data-dir", "pass the folder holding STC.json")
            tokenizer_dir = Path(str(config.get("tokenizer_dir") or data_dir))
            prepared = prepare_official(data_dir, tokenizer_dir, cache_dir, progress, workers=workers, window=window)
        facts = asdict(prepared)
        facts.update({k: str(v) for k, v in facts.items() if isinstance(v, Path)})
        checkpoint = self._initial_checkpoint(config, data_dir)
        if checkpoint is not None:
            from benchbase_cpm.checkpoint import check_file_fits
            from benchbase_cpm.model import config_for

            model_config = config_for(
                str(config["model_size"]), vocab_size=int(facts["vocab_size"]), dropout=float(config["dropout"])
            )
            check_file_fits(checkpoint, model_config)
        facts["init_checkpoint"] = str(checkpoint) if checkpoint else None
        return facts

    @staticmethod
    def _initial_checkpoint(config: Mapping[str, Any], data_dir: Path | None) -> Path | None:
        given = str(config.get("init_checkpoint") or "")
        if given:
            path = Path(given)
            if not path.is_file():
                raise BenchbaseError(f"init_checkpoint {path} does not exist", "pass the path of a CPM .pt file")
            return path
        if data_dir is not None and (data_dir / CHECKPOINT_NAME).is_file():
            return data_dir / CHECKPOINT_NAME
        return None

    def build(self, ctx: RunContext) -> Workload:
        from benchbase_cpm.workload import CPMWorkload

        config = dict(ctx.config)
        if not config.get("init_checkpoint") and ctx.prepared.get("init_checkpoint"):
            config["init_checkpoint"] = ctx.prepared["init_checkpoint"]
        ctx.config = config
        return CPMWorkload(ctx)

    def convert_checkpoint(self, source: Path, out_dir: Path) -> Path:
        """The reference's medium starting point cut from the released 2.6B model-parallel shards (DESIGN §8)."""
        import torch

        from benchbase.records import atomic_write_bytes
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

    def describe_data(self, config: Mapping[str, Any], data_dir: Path | None) -> Iterator[str]:
        if config["dataset"] == "demo":
            yield "generated demo corpus and tokenizer (cached)"
        elif data_dir is None:
            yield "STC data: none given (a real run needs --data-dir DIR holding STC.json)"
        else:
            yield f"STC data: {data_dir}"
            yield f"tokenizer: {config.get('tokenizer_dir') or data_dir}"
