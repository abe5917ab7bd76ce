"""The catalogue of bad inputs: each one a user can cause, what they see, and that earlier records survive it.

Every row is tried with the real command next to a runs folder that already holds a real record (and, for the
``--resume`` rows, the stopped run being resumed). Each must end in one line naming the problem and the fix, a
non-zero exit, no traceback, and a runs folder whose existing files are byte for byte what they were.

Every input is refused before anything starts: ``error: ...`` on stderr as the last line, exit 2, and no new record.
A starting checkpoint included: preparation opens it and checks its names and shapes against the configured model
before any rank exists. docs/reliability.md lists every row, with the rows of tests/cli/test_bad_input.py that complete
the catalogue.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
import torch
from reliability_support import SHARED_CPM, Bench, tree_digest

DEMO = ["run", "cpm", "--vendor", "cpu", "--preset", "demo"]


@dataclass
class Scene:
    """Where one bad input is tried: a scratch folder, and a runs folder that already holds an earlier record."""

    tmp: Path
    runs: Path
    earlier: Path
    request: pytest.FixtureRequest

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def shared(self) -> Path:
        if not SHARED_CPM.is_dir():
            pytest.skip(f"needs the real CPM tokenizer files in {SHARED_CPM}")
        return SHARED_CPM

    def prepare_stc(self, content: str | bytes) -> list[str]:
        """``benchbase prepare`` of the official preset on a data folder whose STC.json is ``content``."""
        data = self.file("data/STC.json", content).parent
        return ["prepare", "cpm", "--data-dir", str(data), "--set", f"tokenizer_dir={self.shared()}"]

    def prepare_with_tokenizer(self, files: dict[str, bytes | None]) -> list[str]:
        """``benchbase prepare`` of good STC data with a tokenizer folder holding ``files`` (``None`` = real copy)."""
        folder = self.tmp / "tokenizer"
        folder.mkdir()
        for name, content in files.items():
            if content is None:
                shutil.copy(self.shared() / name, folder / name)
            else:
                (folder / name).write_bytes(content)
        pairs = ", ".join(f'["问 {i}", "答 {i}"]' for i in range(40))
        data = self.file("data/STC.json", f'{{"train": [{pairs}], "valid": [["问", "答"]]}}').parent
        return ["prepare", "cpm", "--data-dir", str(data), "--set", f"tokenizer_dir={folder}"]

    def stopped_run(self) -> Path:
        """A copy, inside the runs folder, of a run stopped by SIGINT after its first checkpoint."""
        source: Path = self.request.getfixturevalue("interrupted_run")
        return Path(shutil.copytree(source, self.runs / source.name))

    def resume(self, run: Path, *extra: str) -> list[str]:
        return ["run", "cpm", "--vendor", "cpu", "--resume", str(run), *extra]

    def with_init_checkpoint(self, path: Path) -> list[str]:
        return [*DEMO, "--set", f"init_checkpoint={path}", "--out", str(self.runs)]


class _RunsCode:
    """A pickled object whose unpickling would create a file: proves a loader refused to run pickled code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def torch_file(scene: Scene, name: str, obj: object) -> Path:
    path = scene.tmp / name
    torch.save(obj, path)
    return path


def truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def damage_state(scene: Scene, how: Callable[[Path], object]) -> list[str]:
    run = scene.stopped_run()
    how(run / "checkpoint" / "state.pt")
    return scene.resume(run)


def edit_config(run: Path) -> None:
    path = run / "config.yaml"
    text = path.read_text()
    assert "max_steps: 20\n" in text
    path.write_text(text.replace("max_steps: 20\n", "max_steps: 25\n"))


def no_nvml(scene: Scene) -> list[str]:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - any failure to start NVML is the situation under test
        return ["run", "cpm", "--vendor", "nvidia", "--preset", "demo", "--out", str(scene.runs)]
    pynvml.nvmlShutdown()
    pytest.skip("NVML works on this machine; the missing-NVML input cannot be produced here")


PAIRS = '[["你好 吗", "很 好"]]'


def huge_line(scene: Scene) -> list[str]:
    """One post of a million characters among ordinary pairs: no Weibo post is that long."""
    pairs = [["好 " * 500_000, "是"]] + [[f"问 {i}", f"答 {i}"] for i in range(20)]
    return scene.prepare_stc(json.dumps({"train": pairs, "valid": [["问", "答"]]}, ensure_ascii=False))


Setup = Callable[[Scene], list[str]]


def row(name: str, setup: Setup, *fragments: str) -> Any:
    """One entry: ``setup`` builds the files and returns the command; every fragment must be in the line."""
    return pytest.param(setup, fragments, id=name)


CATALOGUE = [
    # -- configs -----------------------------------------------------------------------------------------------------
    row("set-file holding a list", lambda s: [*DEMO, "--set-file", str(s.file("l.yaml", "- a\n- b\n"))],
        "holds a list at the top level", "'key: value'"),
    row("set-file not UTF-8", lambda s: [*DEMO, "--set-file", str(s.file("b.yaml", b"lr: 0.1\n# \xff\xfe\n"))],
        "is not UTF-8 text", "save it as UTF-8"),
    row("set-file with a key twice", lambda s: [*DEMO, "--set-file", str(s.file("d.yaml", "lr: 0.1\nlr: 0.2\n"))],
        "duplicate key 'lr'", "line 2", "fix the YAML there"),
    row("set-file that does not exist", lambda s: [*DEMO, "--set-file", str(s.tmp / "nope.yaml")],
        "nope.yaml does not exist", "check the path"),
    row("--set value of the wrong type", lambda s: [*DEMO, "--set", "batch_size=abc"],
        "bad value 'abc' for 'batch_size'", "expected an integer"),
    row("--set value below the minimum", lambda s: [*DEMO, "--set", "batch_size=0"],
        "'batch_size'", "expected a number >= 1"),
    row("--set value outside the choices", lambda s: [*DEMO, "--set", "precision=fp8"],
        "bad value 'fp8' for 'precision'", "expected one of auto"),
    row("--set value NaN", lambda s: [*DEMO, "--set", "lr=.nan"], "bad value nan for 'lr'", "expected a number"),
    row("--set list for a number", lambda s: [*DEMO, "--set", "seed=[1, 2]"], "'seed'", "expected an integer"),
    row("--variant escaping the config folder", lambda s: [*DEMO, "--variant", "../../etc/passwd"],
        "bad config variant '../../etc/passwd'", "letters, digits"),
    row("--variant that does not exist", lambda s: [*DEMO, "--variant", "fast"],
        "no config variant 'fast'", "variants for this topology"),
    row("--timeout negative", lambda s: [*DEMO, "--timeout", "-5"], "'timeout_s'", "expected a number >= 0"),
    row("--out naming a file", lambda s: [*DEMO, "--out", str(s.file("taken", "x"))],
        "cannot create output folder", "choose a writable folder with --out"),
    row("--node-rank outside the nodes", lambda s: [*DEMO, "--node-rank", "3"],
        "--node-rank 3 is outside 0..0", "distinct rank"),
    row("two nodes without a master", lambda s: [*DEMO, "--config", "2x1"],
        "no master address was given", "--master-addr"),
    # -- data ---------------------------------------------------------------------------------------------------------
    row("STC.json empty", lambda s: s.prepare_stc(""), "is not valid JSON", "may be truncated"),
    row("STC.json not UTF-8", lambda s: s.prepare_stc(b'{"train": [["\xff\xfe", "x"]], "valid": []}'),
        "is not UTF-8 text", "saved as UTF-8"),
    row("data folder without STC.json",
        lambda s: ["prepare", "cpm", "--data-dir", str(s.file("empty/readme", "").parent),
                   "--set", f"tokenizer_dir={s.shared()}"],
        "holds neither STC.json nor both train.txt and valid.txt", "put STC.json"),
    row("STC.json pair holding a number", lambda s: s.prepare_stc(f'{{"train": [["a b", 5]], "valid": {PAIRS}}}'),
        "train[0] is not a [post, response] pair", "fix or remove that entry"),
    row("STC.json with an empty train split", lambda s: s.prepare_stc(f'{{"train": [], "valid": {PAIRS}}}'),
        "train is empty", "complete STC.json"),
    row("STC.json with too few train pairs for the 10% subset",
        lambda s: s.prepare_stc(f'{{"train": {PAIRS}, "valid": {PAIRS}}}'),
        "train pairs, and the reference trains on the first 10%", "complete STC.json"),
    row("STC.json holding a list", lambda s: s.prepare_stc(PAIRS), "holds a JSON list, not an object",
        "STC.json must be"),
    row("STC.json with a huge line", huge_line, "characters", "fix or remove that entry"),
    # -- tokenizer files ----------------------------------------------------------------------------------------------
    row("tokenizer folder without chinese_vocab.model", lambda s: s.prepare_with_tokenizer({"vocab.json": None}),
        "no chinese_vocab.model in tokenizer directory", "copy chinese_vocab.model"),
    row("truncated chinese_vocab.model",
        lambda s: s.prepare_with_tokenizer({"chinese_vocab.model": (s.shared() / "chinese_vocab.model")
                                            .read_bytes()[:5000]}),
        "is not a SentencePiece model", "from the CPM release"),
    row("vocab.json that is not JSON",
        lambda s: s.prepare_with_tokenizer({"chinese_vocab.model": None, "vocab.json": b'{"a": '}),
        "cannot read", "vocab.json as JSON", "use the vocab.json shipped"),
    row("vocab.json of another tokenizer",
        lambda s: s.prepare_with_tokenizer({"chinese_vocab.model": None, "vocab.json": b'{"a": 1}'}),
        "has 1 entries but", "use the vocab.json shipped with that chinese_vocab.model"),
    # -- starting checkpoints (opened and checked against the model before any rank starts) ---------------------------
    row("init_checkpoint of the wrong shapes",
        lambda s: s.with_init_checkpoint(torch_file(s, "small.pt", {"word_embeddings.weight": torch.zeros(3, 4)})),
        "does not fit the model", "choose the model size"),
    row("init_checkpoint truncated",
        lambda s: s.with_init_checkpoint(truncated(torch_file(s, "cut.pt", {"w": torch.zeros(4096)}))),
        "is truncated or corrupted", "download or copy it again"),
    row("init_checkpoint that is an HTML error page",
        lambda s: s.with_init_checkpoint(s.file("page.pt", "<!DOCTYPE html><html><body>404</body></html>\n")),
        "is not a PyTorch checkpoint", "point the checkpoint setting"),
    row("init_checkpoint empty", lambda s: s.with_init_checkpoint(s.file("empty.pt", b"")),
        "is empty", "download or copy it again"),
    row("init_checkpoint holding pickled code",
        lambda s: s.with_init_checkpoint(torch_file(s, "code.pt", {"model": _RunsCode(s.tmp / "ran")})),
        "holds pickled Python objects", "re-save just its weights"),
    row("init_checkpoint that does not exist", lambda s: s.with_init_checkpoint(s.tmp / "missing.pt"),
        "missing.pt does not exist", "pass the path of a CPM .pt file"),
    # -- resume checkpoints (vetted before the run is touched) --------------------------------------------------------
    row("--resume of a truncated state.pt", lambda s: damage_state(s, truncated),
        "state.pt is truncated", "start the run again"),
    row("--resume of a state.pt that is an HTML page",
        lambda s: damage_state(s, lambda p: p.write_text("<!DOCTYPE html><html></html>\n")),
        "state.pt is not a PyTorch checkpoint", "start the run again"),
    row("--resume of a state.pt holding pickled code",
        lambda s: damage_state(s, lambda p: torch.save({"loop": _RunsCode(s.tmp / "ran")}, p)),
        "holds pickled Python objects", "refused without running them"),
    row("--resume with another topology", lambda s: s.resume(s.stopped_run(), "--config", "1x2"),
        "was checkpointed by 1 ranks but --config asks for 2", "resume with the --config the run started with"),
    row("--resume of a finished run", lambda s: s.resume(s.earlier),
        "already finished", "start a new run instead"),
    row("--resume of a run without a checkpoint",
        lambda s: damage_state(s, lambda p: shutil.rmtree(p.parent)),
        "has no checkpoint to resume from", "checkpoint_every"),
    row("--resume of a folder that does not exist", lambda s: s.resume(s.tmp / "nowhere"),
        "no run directory at", "folder under reports/runs/"),
    row("--resume after config.yaml was edited", lambda s: (edit_config(run := s.stopped_run()), s.resume(run))[1],
        "values do not match config_hash", "restore the original file"),
    # -- environment --------------------------------------------------------------------------------------------------
    row("--vendor nvidia without NVML", no_nvml, "no NVIDIA GPU found", "NVML", "pick another --vendor"),
]


def the_line(stream: str, prefix: str) -> str:
    lines = [line for line in stream.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, stream
    return lines[0]


def assert_refused(result: CompletedProcess[str], fragments: tuple[str, ...]) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    line = the_line(result.stderr, "error: ")
    assert result.stderr.rstrip().splitlines()[-1] == line, "the error is the last thing printed"
    for fragment in fragments:
        assert fragment in line, line


@pytest.mark.parametrize(("setup", "fragments"), CATALOGUE)
def test_bad_input_ends_in_one_line_with_a_fix_and_leaves_earlier_records_untouched(
    bench: Bench, tmp_path: Path, finished_run: Path, request: pytest.FixtureRequest,
    setup: Setup, fragments: tuple[str, ...],
) -> None:
    runs = tmp_path / "runs"
    earlier = Path(shutil.copytree(finished_run, runs / finished_run.name))
    scene = Scene(tmp_path / "scratch", runs, earlier, request)
    scene.tmp.mkdir()
    args = setup(scene)
    before = tree_digest(runs)
    names_before = {p.name for p in runs.iterdir()}
    result = bench.run(*args, timeout=240)
    assert "Traceback" not in result.stdout + result.stderr
    assert_refused(result, fragments)
    assert {p.name for p in runs.iterdir()} == names_before, "a refused input left a new record"
    after = tree_digest(runs)
    assert {name: after.get(name) for name in before} == before, "an earlier record was changed"
    assert not (scene.tmp / "ran").exists(), "pickled code was executed"


def test_the_catalogue_holds_at_least_30_bad_inputs() -> None:
    assert len(CATALOGUE) >= 30, len(CATALOGUE)


def test_the_pickled_marker_does_run_code_when_loaded_without_restriction(tmp_path: Path) -> None:
    """So the "pickled code was executed" check above can fail: unrestricted unpickling creates the file."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_RunsCode(marker)))  # noqa: S301 - the point of the test
    assert marker.exists()
