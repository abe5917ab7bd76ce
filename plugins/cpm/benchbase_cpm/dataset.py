"""The CPM dataset for the core trainer: STC (or the demo corpus) prepared into token windows, read by index.

Preparation (:mod:`benchbase_cpm.prepare`) runs once per node and caches memory-mapped ``.npy`` windows; a rank opens
them (:mod:`benchbase_cpm.samples`) and builds a batch's tensors from the rows the core asks for. The order of the
rows is the core's (:mod:`benchbase.train.batch_order`). This module imports neither numpy nor torch: the dataset is
registered with the case for every command, and each of its methods imports what it needs when called.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchbase.contract import DatasetSpec, ProgressFn, Samples
from benchbase.errors import BenchbaseError


class STCDataset(DatasetSpec):
    """``dataset: stc`` reads the user's STC files and the CPM tokenizer; ``dataset: demo`` generates its corpus."""

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
        return facts

    def open(self, config: Mapping[str, Any], prepared: Mapping[str, Any]) -> Samples:
        from benchbase_cpm.samples import WindowSamples

        return WindowSamples(prepared)

    def sizes(self, config: Mapping[str, Any], prepared: Mapping[str, Any]) -> tuple[int, int] | None:
        """The windows preparation counted (one sample is one window), read from its facts."""
        facts = prepared.get("facts")
        try:
            return int(facts["train"]["windows"]), int(facts["valid"]["windows"])
        except (KeyError, TypeError, ValueError):
            return None

    def describe(self, config: Mapping[str, Any], data_dir: Path | None) -> Iterator[str]:
        if config["dataset"] == "demo":
            yield "generated demo corpus and tokenizer (cached)"
        elif data_dir is None:
            yield "STC data: none given (a real run needs --data-dir DIR holding STC.json)"
        else:
            yield f"STC data: {data_dir}"
            yield f"tokenizer: {config.get('tokenizer_dir') or data_dir}"
