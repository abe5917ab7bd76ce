"""``benchbase prepare``: a case's data prepared and cached ahead of its runs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from benchbase.cli.options import set_options
from benchbase.cli.output import console, print_text, progress_printer


@click.command("prepare")
@click.argument("case_name", metavar="CASE")
@click.option("--preset", help="Case preset (default: the case's default).")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Folder holding the case's data files.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Where prepared data is cached.")
@click.option("--from-large", type=click.Path(path_type=Path),
              help="Folder of the released model-parallel shards; writes the case's starting checkpoint.")
@set_options
def prepare_command(
    case_name: str,
    preset: str | None,
    data_dir: Path | None,
    cache_dir: Path | None,
    from_large: Path | None,
    sets: tuple[str, ...],
    set_file: Path | None,
) -> None:
    """Prepare a case's data (tokenize and cache) without training; a second call is a cache hit."""
    from benchbase.config.resolve import collect_overrides
    from benchbase.registry.plugins import load_checked_registry
    from benchbase.run.prepare import convert_starting_checkpoint, prepare_data
    from benchbase.run.request import default_cache_dir

    case = load_checked_registry().case(case_name)
    cache = cache_dir or default_cache_dir()
    if from_large is not None:
        print_text(f"wrote {convert_starting_checkpoint(case, from_large, data_dir, cache)}")
        if data_dir is None:
            return
    facts = prepare_data(case, preset, data_dir, cache, collect_overrides(set_file, sets), progress_printer())
    console.print_json(json.dumps(facts, default=str))
