"""Configuration layering, the allow-list, and the messages a user sees when a config is wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from benchbase.config.coerce import INT_LIMIT, MAX_TEXT_CHARS
from benchbase.config.parameters import CORE_PARAMETERS
from benchbase.config.resolve import (
    Overrides,
    ResolvedConfig,
    config_hash,
    merge_parameters,
    parse_set,
    parse_topology,
    resolve_config,
    vendor_config_path,
)
from benchbase.config.safe_yaml import MAX_CONFIG_BYTES, load_yaml_file
from benchbase.contract import Param, Preset
from benchbase.errors import MAX_FIX_CHARS, MAX_PROBLEM_CHARS, BenchbaseError
from benchbase.record.atomic import atomic_write_yaml
from benchbase.record.rundir import RecordError

CASE_PARAMETERS = {
    "model_size": Param("medium", "model", mutable=False, choices=("small", "medium", "large")),
    "seq_length": Param(200, "tokens per sample", mutable=False, minimum=1),
    "lr": Param(5e-4, "peak learning rate", minimum=0),
    "activation_checkpointing": Param(True, "recompute activations"),
    "eval_limit": Param(None, "evaluation samples to score", nullable=True),
    "optimizer": Param("adamw", "optimizer name"),
}
PARAMETERS = merge_parameters("cpm", CASE_PARAMETERS, {"batch_size": 16})
OFFICIAL = Preset("official", "the reference recipe")
DEMO = Preset("demo", "tiny", values={"model_size": "small", "batch_size": 8})


def resolve(preset=OFFICIAL, vendor_values=None, vendor_file=None, overrides=None, unofficial=False):
    return resolve_config(
        PARAMETERS, preset, vendor_values or {}, vendor_file, overrides or {}, unofficial, case="cpm"
    )


# -- core parameters -------------------------------------------------------------------------------------------


def test_every_case_gets_the_harness_keys_with_their_defaults():
    assert {k: p.default for k, p in CORE_PARAMETERS.items()} == {
        "precision": "auto",
        "log_interval": 10,
        "telemetry_interval_s": 1.0,
        "timeout_s": 0.0,
        "checkpoint_every": 0,
        "batch_size": 1,
        "grad_accum": 1,
        "eval_batch_size": 1,
        "max_steps": 1000,
        "max_samples": 0,
        "target": 0.0,
        "eval_interval_samples": 1,
        "seed": 0,
        "compile": "vendor",
        "parallelism": "ddp",
        "warmup_steps": 2,
    }
    assert CORE_PARAMETERS["parallelism"].choices == ("ddp", "fsdp")
    immutable = {"target", "eval_interval_samples", "warmup_steps"}
    assert {k for k, p in CORE_PARAMETERS.items() if not p.mutable} == immutable
    assert CORE_PARAMETERS["precision"].choices == ("auto", "fp32", "bf16", "fp16", "amp")
    assert CORE_PARAMETERS["telemetry_interval_s"].minimum == 0.05
    assert CORE_PARAMETERS["parallelism"].choices == ("ddp", "fsdp")


def test_a_case_gives_core_keys_its_own_defaults_but_cannot_change_what_they_are():
    assert PARAMETERS["batch_size"].default == 16 and PARAMETERS["batch_size"].minimum == 1
    assert merge_parameters("cpm", {}, {"target": 1})["target"].default == 1.0  # coerced to the core key's type
    with pytest.raises(ValueError, match="unknown core key.*batchsize"):
        merge_parameters("cpm", {}, {"batchsize": 16})
    with pytest.raises(BenchbaseError, match="bad value 0 for 'batch_size' in case cpm defaults"):
        merge_parameters("cpm", {}, {"batch_size": 0})


def test_a_case_redeclaring_a_core_key_is_a_programming_error():
    with pytest.raises(ValueError, match="redeclares core parameter.*precision"):
        merge_parameters("cpm", {"precision": Param("fp16", "clash")})


# -- layering --------------------------------------------------------------------------------------------------


def test_defaults_preset_vendor_file_and_set_apply_in_that_order_and_each_source_is_recorded(tmp_path):
    vendor_file = tmp_path / "BI-V100x1x8.yaml"
    resolved = resolve(
        preset=DEMO,
        vendor_values={"batch_size": 32, "lr": 1e-3},
        vendor_file=vendor_file,
        overrides={"lr": 2e-3},
    )
    assert resolved.values["model_size"] == "small"
    assert resolved.values["batch_size"] == 32
    assert resolved.values["lr"] == 2e-3
    assert resolved.values["seq_length"] == 200
    assert resolved.sources["model_size"] == "preset:demo"
    assert resolved.sources["batch_size"] == f"vendor:{vendor_file}"
    assert resolved.sources["lr"] == "set"
    assert resolved.sources["seq_length"] == "default"
    assert resolved.official is True
    assert resolved.unofficial_changes == ()
    assert resolved.vendor_file == str(vendor_file)
    assert resolved.preset == "demo"


def test_a_preset_may_set_immutable_keys_and_stays_official():
    resolved = resolve(preset=DEMO)
    assert resolved.values["model_size"] == "small"
    assert resolved.official


def test_unknown_key_in_set_suggests_the_nearest_valid_name():
    with pytest.raises(BenchbaseError) as info:
        resolve(overrides={"batchsize": 8})
    assert str(info.value) == "unknown key 'batchsize' in --set; did you mean 'batch_size'?"


def test_unknown_key_in_a_vendor_file_names_the_file(tmp_path):
    vendor_file = tmp_path / "A100x1x8.yaml"
    with pytest.raises(BenchbaseError, match=re.escape(f"unknown key 'learning_rate' in vendor file {vendor_file}")):
        resolve(vendor_values={"learning_rate": 1e-3}, vendor_file=vendor_file)


def test_unknown_key_with_no_near_match_lists_the_valid_keys():
    with pytest.raises(BenchbaseError, match="unknown key 'zzz' in --set; valid keys: activation_checkpointing, "):
        resolve(overrides={"zzz": 1})


def test_a_vendor_file_may_never_change_an_immutable_key_even_with_unofficial(tmp_path):
    vendor_file = tmp_path / "A100x1x8.yaml"
    with pytest.raises(BenchbaseError, match="sets 'model_size', which is immutable for case cpm"):
        resolve(vendor_values={"model_size": "large"}, vendor_file=vendor_file, unofficial=True)


def test_setting_an_immutable_key_needs_unofficial():
    with pytest.raises(BenchbaseError) as info:
        resolve(overrides={"model_size": "large"})
    assert str(info.value) == (
        "'model_size' is immutable for case cpm (it defines the workload); "
        "add --unofficial to change it (the result is then marked unofficial)"
    )


def test_the_warm_up_is_the_same_for_every_official_result_and_never_negative():
    """A vendor file widening the warm-up would leave its slow steps out of p_train: only --unofficial may change it."""
    with pytest.raises(BenchbaseError, match="'warmup_steps' is immutable"):
        resolve(overrides={"warmup_steps": 10})
    assert resolve(overrides={"warmup_steps": 0}, unofficial=True).core.warmup_steps == 0
    with pytest.raises(BenchbaseError, match="bad value -1 for 'warmup_steps'.*expected a number >= 0"):
        resolve(overrides={"warmup_steps": -1}, unofficial=True)


def test_with_unofficial_an_immutable_change_is_allowed_and_marks_the_result_unofficial():
    resolved = resolve(overrides={"model_size": "large", "seq_length": 512}, unofficial=True)
    assert resolved.values["model_size"] == "large"
    assert resolved.official is False
    assert resolved.unofficial_changes == ('model_size: "medium" -> "large"', "seq_length: 200 -> 512")


def test_setting_an_immutable_key_to_its_current_value_changes_nothing_and_stays_official():
    resolved = resolve(overrides={"model_size": "medium"})
    assert resolved.official
    assert resolved.sources["model_size"] == "default"


def test_unofficial_flag_alone_does_not_mark_an_unchanged_workload_unofficial():
    assert resolve(overrides={"batch_size": 4}, unofficial=True).official


# -- coercion --------------------------------------------------------------------------------------------------


def test_numbers_written_the_way_pyyaml_reads_as_strings_are_accepted():
    # PyYAML (YAML 1.1) reads 5e-4 and 1e3 as strings; a user writing them means numbers.
    resolved = resolve(overrides=parse_set(["lr=5e-4", "batch_size=1e3"]))
    assert resolved.values["lr"] == 0.0005
    assert resolved.values["batch_size"] == 1000
    assert isinstance(resolved.values["batch_size"], int)


def test_a_float_key_accepts_an_int_and_an_int_key_accepts_an_integral_float():
    resolved = resolve(overrides={"lr": 1, "batch_size": 32.0})
    assert resolved.values["lr"] == 1.0 and isinstance(resolved.values["lr"], float)
    assert resolved.values["batch_size"] == 32 and isinstance(resolved.values["batch_size"], int)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"batch_size": 2.5}, "bad value 2.5 for 'batch_size' in --set; expected an integer"),
        ({"batch_size": "many"}, "bad value 'many' for 'batch_size' in --set; expected an integer"),
        ({"batch_size": True}, "bad value True for 'batch_size' in --set; expected an integer"),
        ({"batch_size": 0}, "bad value 0 for 'batch_size' in --set; expected a number >= 1"),
        ({"lr": float("nan")}, "bad value nan for 'lr' in --set; expected a number"),
        ({"activation_checkpointing": 1},
         "bad value 1 for 'activation_checkpointing' in --set; expected true or false"),
        ({"optimizer": 3}, "bad value 3 for 'optimizer' in --set; expected a string"),
        ({"precision": "fp64"},
         "bad value 'fp64' for 'precision' in --set; expected one of auto, fp32, bf16, fp16, amp"),
        ({"batch_size": None}, "bad value None for 'batch_size' in --set; expected a value (this key cannot be null)"),
        ({"telemetry_interval_s": 0.01},
         "bad value 0.01 for 'telemetry_interval_s' in --set; expected a number >= 0.05, or 0 for off"),
        ({"batch_size": [1, 2]}, "bad value [1, 2] for 'batch_size' in --set; expected an integer"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_with_what_was_expected(overrides, message):
    with pytest.raises(BenchbaseError) as info:
        resolve(overrides=overrides)
    assert str(info.value) == message


def test_zero_turns_telemetry_off_while_other_values_below_the_minimum_are_refused():
    assert resolve(overrides={"telemetry_interval_s": 0}).values["telemetry_interval_s"] == 0
    with pytest.raises(BenchbaseError, match="or 0 for off"):
        resolve(overrides={"telemetry_interval_s": 0.049})


def test_a_nullable_key_accepts_null_and_a_value():
    assert resolve(overrides={"eval_limit": None}).values["eval_limit"] is None
    assert resolve(overrides={"eval_limit": 5000}).values["eval_limit"] == 5000


def test_a_key_without_a_typed_default_still_refuses_structures_and_nan():
    with pytest.raises(BenchbaseError, match="expected a single finite value"):
        resolve(overrides={"eval_limit": {"a": 1}})
    with pytest.raises(BenchbaseError, match="expected a single finite value"):
        resolve(overrides={"eval_limit": float("nan")})


def test_a_bad_value_in_a_vendor_file_names_the_file(tmp_path):
    vendor_file = tmp_path / "A100x1x8.yaml"
    with pytest.raises(BenchbaseError, match=re.escape(f"for 'batch_size' in vendor file {vendor_file}")):
        resolve(vendor_values={"batch_size": "big"}, vendor_file=vendor_file)


# -- the resolved record ---------------------------------------------------------------------------------------


def test_config_hash_depends_on_values_only_not_on_order_or_source():
    a = resolve(overrides={"batch_size": 32})
    b = resolve(vendor_values={"batch_size": 32}, vendor_file=None)
    assert a.config_hash == b.config_hash
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", a.config_hash)
    assert config_hash({"x": 1, "y": 2}) == config_hash({"y": 2, "x": 1})
    assert resolve(overrides={"batch_size": 33}).config_hash != a.config_hash


def test_a_resolved_config_survives_a_yaml_round_trip_for_resume(tmp_path):
    resolved = resolve(preset=DEMO, overrides={"lr": 1e-5, "model_size": "large"}, unofficial=True)
    path = tmp_path / "config.yaml"
    atomic_write_yaml(path, resolved.to_record())
    record = yaml.safe_load(path.read_text())
    assert record["config_hash"] == resolved.config_hash
    assert set(record) == {
        "preset", "official", "unofficial_changes", "vendor_file", "config_hash", "values", "sources"
    }
    again = ResolvedConfig.from_record(record)
    assert again == resolved
    assert again.values["lr"] == 1e-5


def test_a_hand_edited_config_record_is_refused_on_resume():
    record = resolve().to_record()
    record["values"]["batch_size"] = 999
    with pytest.raises(RecordError, match="do not match config_hash"):
        ResolvedConfig.from_record(record)


def test_a_config_record_missing_a_field_names_it():
    record = resolve().to_record()
    del record["sources"]
    with pytest.raises(RecordError, match="config.yaml has no 'sources'"):
        ResolvedConfig.from_record(record)


def test_a_config_record_written_before_a_core_key_existed_is_refused_on_resume_naming_the_key():
    """Its run trained without the key (warmup_steps came later): resuming would change how it is measured."""
    record = resolve().to_record()
    del record["values"]["warmup_steps"]
    record["config_hash"] = config_hash(record["values"])
    with pytest.raises(RecordError, match="config.yaml has no core key warmup_steps: an earlier benchbase wrote it"):
        ResolvedConfig.from_record(record)


# -- YAML files ------------------------------------------------------------------------------------------------


def test_load_yaml_file_reads_a_mapping(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("batch_size: 32\nlr: 1.0e-3\nprecision: fp16\n")
    assert load_yaml_file(path) == {"batch_size": 32, "lr": 1e-3, "precision": "fp16"}


def test_an_empty_yaml_file_is_an_empty_mapping(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("# tuned: nothing to change\n")
    assert load_yaml_file(path) == {}


def test_malformed_yaml_names_file_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("batch_size: 32\nlr: [1, 2\nwarmup: 3\n")
    with pytest.raises(BenchbaseError) as info:
        load_yaml_file(path)
    message = str(info.value)
    assert message.startswith(f"malformed YAML in {path} at line 3, column 7:")
    assert message.endswith("; fix the YAML there")
    assert "\n" not in message


def test_a_duplicate_key_is_refused_rather_than_silently_keeping_the_last(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("batch_size: 16\nlr: 1.0e-3\nbatch_size: 32\n")
    with pytest.raises(BenchbaseError, match=r"at line 3, column 1: duplicate key 'batch_size'"):
        load_yaml_file(path)


def test_yaml_tags_that_build_python_objects_are_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("x: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(BenchbaseError, match="malformed YAML"):
        load_yaml_file(path)


def test_a_yaml_file_must_hold_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(BenchbaseError, match="holds a list at the top level, not a mapping"):
        load_yaml_file(path)


def test_a_missing_yaml_file_is_an_error(tmp_path):
    with pytest.raises(BenchbaseError, match="does not exist"):
        load_yaml_file(tmp_path / "nope.yaml")


# -- --set and --config ----------------------------------------------------------------------------------------


def test_parse_set_types_values_with_yaml():
    parsed = parse_set(["batch_size=16", "activation_checkpointing=false", "optimizer=adamw", "eval_limit="])
    assert parsed == {
        "batch_size": 16,
        "activation_checkpointing": "false",  # the word typed; the key's type makes it False (test_yaml_bool_words)
        "optimizer": "adamw",
        "eval_limit": None,
    }
    assert parsed["activation_checkpointing"].boolean is False
    assert resolve(overrides=parsed).values["activation_checkpointing"] is False


def test_parse_set_keeps_an_equals_sign_inside_the_value():
    assert parse_set(["optimizer=a=b"]) == {"optimizer": "a=b"}


@pytest.mark.parametrize("item", ["batch_size", "=3", "batch size=3"])
def test_parse_set_refuses_an_item_that_is_not_key_value(item):
    with pytest.raises(BenchbaseError, match="write it as key=value"):
        parse_set([item])


def test_parse_set_refuses_a_value_that_is_not_yaml():
    with pytest.raises(BenchbaseError, match="the value is not valid YAML"):
        parse_set(["lr=[1,"])


@pytest.mark.parametrize(("text", "expected"), [("1x8", (1, 8)), ("2x8", (2, 8)), ("1x1", (1, 1)), (" 4x2 ", (4, 2))])
def test_parse_topology_reads_nodes_and_processes_per_node(text, expected):
    assert parse_topology(text) == expected


@pytest.mark.parametrize("text", ["x8", "8", "1x8x2", "1X8", "-1x8", "axb"])
def test_parse_topology_refuses_anything_else(text):
    with pytest.raises(BenchbaseError) as info:
        parse_topology(text)
    assert str(info.value) == f"bad --config {text!r}: expected NxM (nodes x processes per node), e.g. 1x8"


@pytest.mark.parametrize("text", ["0x8", "1x0", "4097x1", "1x99999999999999999999", "1x" + "9" * 5000])
def test_parse_topology_refuses_counts_outside_1_to_4096(text):
    with pytest.raises(BenchbaseError, match="with N and M from 1 to 4096; e.g. --config 1x8"):
        parse_topology(text)


# -- vendor tuned files ----------------------------------------------------------------------------------------


@pytest.fixture
def config_dir(tmp_path):
    folder = tmp_path / "configs" / "cpm"
    folder.mkdir(parents=True)
    for name in ("BI-V100x1x8.yaml", "BI-V100x1x8-bs64.yaml", "BI-V100x1x8-lr2e3.yaml", "BI-V100x2x8.yaml"):
        (folder / name).write_text("batch_size: 32\n")
    return tmp_path / "configs"


def test_the_tuned_file_for_the_topology_is_found(config_dir):
    path = vendor_config_path(config_dir, "cpm", "BI-V100", 1, 8, None)
    assert path == config_dir / "cpm" / "BI-V100x1x8.yaml"


def test_a_variant_picks_its_own_file(config_dir):
    path = vendor_config_path(config_dir, "cpm", "BI-V100", 1, 8, "bs64")
    assert path == config_dir / "cpm" / "BI-V100x1x8-bs64.yaml"


def test_no_file_for_the_topology_means_case_defaults(config_dir):
    assert vendor_config_path(config_dir, "cpm", "BI-V100", 1, 1, None) is None
    assert vendor_config_path(config_dir, "gpt3", "BI-V100", 1, 8, None) is None
    assert vendor_config_path(None, "cpm", "BI-V100", 1, 8, None) is None


def test_a_missing_variant_lists_the_variants_of_that_topology(config_dir):
    with pytest.raises(BenchbaseError) as info:
        vendor_config_path(config_dir, "cpm", "BI-V100", 1, 8, "bs128")
    assert str(info.value) == (
        "no config variant 'bs128' for case cpm on BI-V100x1x8; variants for this topology: bs64, lr2e3"
    )


def test_a_variant_on_a_vendor_without_configs_says_there_are_none():
    with pytest.raises(BenchbaseError, match="variants for this topology: none"):
        vendor_config_path(None, "cpm", "BI-V100", 1, 8, "bs64")


def test_a_variant_cannot_climb_out_of_the_config_folder(config_dir):
    with pytest.raises(BenchbaseError, match="bad config variant"):
        vendor_config_path(config_dir, "cpm", "BI-V100", 1, 8, "../../etc/passwd")


# -- bounds: what a config may expand to, every value's range, every message's length ------------------------------


def billion_laughs(levels: int = 9) -> str:
    """Nine anchors of nine aliases each: 9**9 strings once expanded, from under a kilobyte of YAML."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join([*lines, f"lr: *a{levels}"]) + "\n"


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    with pytest.raises(BenchbaseError, match=r"bomb.yaml at line \d+, column \d+ expands to more than 1000 values"):
        load_yaml_file(path)
    with pytest.raises(BenchbaseError, match=r"bad --set lr=\.\.\.: the value expands to more than 1000 values"):
        parse_set(["lr={" + billion_laughs().strip().replace("\n", ", ") + "}"])


def test_a_config_of_too_many_values_is_refused_as_it_is_composed(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text("".join(f"k{i}: {i}\n" for i in range(50_000)))
    with pytest.raises(BenchbaseError, match=r"keys.yaml at line 500, column 7 holds more than 1000 values"):
        load_yaml_file(path)


def test_aliases_within_the_bounds_still_work(tmp_path):
    path = tmp_path / "aliases.yaml"
    path.write_text("lr: &rate 0.5\nwarmup: *rate\n")
    assert load_yaml_file(path) == {"lr": 0.5, "warmup": 0.5}


@pytest.mark.parametrize("depth", [33, 5000])
def test_deep_nesting_is_refused_without_a_recursion_error(tmp_path, depth):
    path = tmp_path / "deep.yaml"
    path.write_text("lr: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(BenchbaseError, match="is nested more than 32 levels deep"):
        load_yaml_file(path)
    with pytest.raises(BenchbaseError, match="is nested more than 32 levels deep"):
        parse_set(["lr=" + "[" * depth + "]" * depth])


def test_nesting_through_aliases_counts_the_expanded_depth(tmp_path):
    chain = ["a0: &a0 " + "[" * 20 + "1" + "]" * 20]
    chain += [f"a{i}: &a{i} " + "[" * 20 + f"*a{i - 1}" + "]" * 20 for i in range(1, 4)]
    path = tmp_path / "chain.yaml"
    path.write_text("\n".join(chain) + "\n")
    with pytest.raises(BenchbaseError, match=r"nested more than 32 levels deep \(aliases expanded\)"):
        load_yaml_file(path)


def test_a_config_file_is_read_only_up_to_its_size_limit(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    with pytest.raises(BenchbaseError, match="big.yaml is larger than 1 MiB"):
        load_yaml_file(path)
    with pytest.raises(BenchbaseError, match="/dev/zero is a device, not a regular file"):
        load_yaml_file(Path("/dev/zero"))


@pytest.mark.parametrize(
    ("raw", "problem"), [("1" * 5000, "Exceeds the limit"), ("2001-13-01", "month must be in 1..12")]
)
def test_a_value_yaml_cannot_construct_is_a_one_line_error(raw, problem):
    with pytest.raises(BenchbaseError, match=f"bad --set seed=...: the value cannot be read .*{problem}"):
        parse_set([f"seed={raw}"])


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"seed": -1}, "expected a number >= 0"),
        ({"seed": 2**31}, "expected a number <= 2147483647"),
        ({"seed": 10**29}, "expected a number <= 2147483647"),
        ({"batch_size": 2**20 + 1}, "expected a number <= 1048576"),
        ({"grad_accum": 10**30}, "expected a number <= 1048576"),
        ({"eval_batch_size": 1e30}, "expected a number <= 1048576"),
        ({"timeout_s": 1e308}, "expected a number <= 31536000"),
        ({"telemetry_interval_s": 86400.0}, "expected a number <= 3600"),
        ({"max_steps": 10**400}, f"expected a number <= {INT_LIMIT}"),
        ({"seq_length": -(10**30)}, "expected a number >= 1"),
        ({"optimizer": "x" * (MAX_TEXT_CHARS + 1)}, f"expected a string of at most {MAX_TEXT_CHARS} characters"),
    ],
)
def test_every_value_has_a_range(overrides, expected):
    with pytest.raises(BenchbaseError, match=re.escape(expected)):
        resolve(overrides=overrides)


def test_the_ends_of_each_range_are_accepted():
    resolved = resolve(overrides={"seed": 2**31 - 1, "batch_size": 2**20, "timeout_s": 365 * 24 * 3600.0})
    assert (resolved.values["seed"], resolved.values["batch_size"]) == (2**31 - 1, 2**20)


def test_a_declared_maximum_bounds_a_case_key():
    parameters = merge_parameters("cpm", {"dropout": Param(0.1, "dropout", minimum=0.0, maximum=1.0)})
    with pytest.raises(BenchbaseError, match=r"bad value 1.5 for 'dropout' in --set; expected a number <= 1$"):
        resolve_config(parameters, OFFICIAL, {}, None, {"dropout": 1.5}, False, case="cpm")


def test_an_error_names_the_flag_each_override_came_from():
    overrides = Overrides()
    overrides.add({"lr": "fast"}, "--set-file tuned.yaml")
    overrides.add({"batch_size": 8}, "--set")
    overrides.add({"timeout_s": -5.0}, "--timeout")
    with pytest.raises(BenchbaseError, match=r"bad value 'fast' for 'lr' in --set-file tuned.yaml; expected a number"):
        resolve(overrides=overrides)
    del overrides["lr"]
    with pytest.raises(BenchbaseError, match=r"bad value -5.0 for 'timeout_s' in --timeout; expected a number >= 0"):
        resolve(overrides=overrides)
    del overrides["timeout_s"]
    overrides.add({"zzz": 1}, "--set-file tuned.yaml")
    with pytest.raises(BenchbaseError, match=r"unknown key 'zzz' in --set-file tuned.yaml"):
        resolve(overrides=overrides)


def test_a_bad_value_is_quoted_short_whatever_its_size():
    with pytest.raises(BenchbaseError) as info:
        resolve(overrides={"seed": list(range(100_000))})
    assert str(info.value).startswith("bad value [0, 1, 2, 3, ...] for 'seed' in --set; expected an integer")


def test_every_message_is_one_bounded_line():
    error = BenchbaseError("a\nb " + "x" * 10**6, "fix\tit " + "y" * 10**6)
    problem, fix = str(error).split("; ")
    assert "\n" not in str(error) and "\t" not in str(error)
    assert len(problem) <= MAX_PROBLEM_CHARS and len(fix) <= MAX_FIX_CHARS
    left_out = 10**6 + 4 - (MAX_PROBLEM_CHARS - 32)
    assert problem.startswith("a b xxx") and problem.endswith(f"... [{left_out} more characters]")
    assert str(BenchbaseError("short", "fix")) == "short; fix"
