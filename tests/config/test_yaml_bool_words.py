"""YAML 1.1 reads ``on``, ``off``, ``yes``, ``no``, ``true`` and ``false`` (any capitalisation PyYAML knows) as
booleans, so ``--set compile=on``, which the docs show, used to fail with "expected a string". Config files and
``--set`` values now keep the word typed, and each key's declared type decides what it is: a string key takes the word
(then checked against its choices as typed), a boolean key the boolean, a key of any scalar the boolean."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchbase.config.resolve import collect_overrides, merge_parameters, read_tuned_file, resolve_config
from benchbase.contract import Param, Preset
from benchbase.errors import BenchbaseError

PARAMETERS = merge_parameters("case", {
    "mode": Param("auto", "a word key whose choices are YAML booleans", choices=("auto", "yes", "no", "on", "off")),
    "label": Param("x", "a free string key"),
    "checkpointing": Param(True, "a boolean key"),
    "anything": Param(None, "any scalar", nullable=True),
}, {})
PRESET = Preset("default", "the defaults")


def resolved(set_file: Path | None = None, *sets: str, vendor: dict | None = None) -> dict:
    overrides = collect_overrides(set_file, sets)
    return resolve_config(PARAMETERS, PRESET, vendor or {}, None, overrides, False, case="case").values


@pytest.mark.parametrize("word", ["on", "off", "yes", "no"])
def test_a_set_word_that_yaml_reads_as_a_boolean_is_the_word_for_a_string_key_with_that_choice(word: str) -> None:
    assert resolved(None, f"mode={word}")["mode"] == word


def test_the_core_compile_key_takes_on_and_off_as_the_docs_show() -> None:
    values = resolve_config(merge_parameters("case", {}, {}), PRESET, {}, None, collect_overrides(None, ("compile=on",)),
                            False, case="case").values
    assert values["compile"] == "on"
    assert type(values["compile"]) is str  # the plain word, as config.yaml records it


def test_a_word_that_is_not_a_choice_as_typed_is_refused_naming_the_word_and_the_choices() -> None:
    with pytest.raises(BenchbaseError) as refused:
        resolved(None, "mode=On")
    assert str(refused.value) == "bad value 'On' for 'mode' in --set; expected one of auto, yes, no, on, off"
    with pytest.raises(BenchbaseError, match="bad value 'true' for 'mode' in --set; expected one of auto, yes"):
        resolved(None, "mode=true")


def test_a_free_string_key_takes_the_word_and_boolean_keys_take_the_boolean() -> None:
    values = resolved(None, "label=yes", "checkpointing=off", "anything=on")
    assert values == {**values, "label": "yes", "checkpointing": False, "anything": True}
    assert type(values["checkpointing"]) is bool and type(values["anything"]) is bool


def test_set_file_and_vendor_tuned_file_read_the_word_too(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("mode: off\ncheckpointing: no\n")
    assert (resolved(settings)["mode"], resolved(settings)["checkpointing"]) == ("off", False)
    tuned = tmp_path / "A1x1x1.yaml"
    tuned.write_text("preset: default\nmode: yes\n")
    vendor_values, _ = read_tuned_file(tuned, ["default"], "default")
    assert resolved(vendor=vendor_values)["mode"] == "yes"
