"""Plugins that misbehave rather than fail: they exit at import, return the wrong types, or stop the interpreter.

Root cause 4 of "records are a trust boundary" (docs/reliability.md): error handling was a whitelist. Each case
here is tried with the real command, and each must end in one line (exit code as documented, no traceback), leave
every other plugin working, and leave no process behind. The plugins are written as installed distributions (a
``.dist-info`` folder with their entry points) into a folder of their own on ``PYTHONPATH``, so nothing is built.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from reliability_support import HOST_VENDOR, MARKER_ENV, Bench, assert_short_message, wait_until_gone

from benchbase.contract import SensorReading, Sensors
from benchbase.run.telemetry import Sampler
from benchbase.run.watchdog import GRACE_ENV

VENDORS = '''
import ctypes
''' + HOST_VENDOR + '''
class StringDevices(HostVendor):
    name = "strdevices"

    def discover(self):
        return ["gpu0", "gpu1"]


class ListEnvironment(HostVendor):
    name = "listenv"

    def environment(self):
        return ["driver", 1]


class NumericModel(HostVendor):
    name = "numericmodel"

    def device_model(self):
        return 42


class ExitingDiscovery(HostVendor):
    name = "exits"

    def discover(self):
        raise SystemExit(0)



@hookimpl
def benchbase_register_vendors(register):
    for vendor in (StringDevices, ListEnvironment, NumericModel, ExitingDiscovery):
        register(vendor())
'''

STUCK = VENDORS.split("class StringDevices")[0] + '''
class StuckInC(HostVendor):
    """A driver call that never returns and never releases the interpreter lock (PyDLL keeps the GIL held)."""

    name = "stuck"

    def discover(self):
        ctypes.PyDLL(None).sleep(600)


@hookimpl
def benchbase_register_vendors(register):
    register(StuckInC())
'''

#: Module bodies of plugins that misbehave while they load.
AT_LOAD = {
    "exitsatimport": "import sys\nsys.exit(0)\n",
    "interruptsregistering": textwrap.dedent("""
        from benchbase.hookspecs import hookimpl


        @hookimpl
        def benchbase_register_cases(register):
            raise KeyboardInterrupt
    """),
}


def install(site: Path, short: str, body: str) -> None:
    """``benchbase-test-<short>`` as pip would leave it: its module and a dist-info naming its entry point."""
    package = site / f"benchbase_test_{short}"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(body)
    info = site / f"benchbase_test_{short}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: benchbase-test-{short}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[benchbase]\ntest-{short} = benchbase_test_{short}.plugin\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("misbehaving-site")
    install(folder, "vendors", VENDORS)
    for short, body in AT_LOAD.items():
        install(folder, short, body)
    return str(folder)


@pytest.fixture(scope="module")
def stuck_site(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The vendor stuck in C on its own: no other command should meet it (``env`` has no watchdog)."""
    folder = tmp_path_factory.mktemp("stuck-site")
    install(folder, "stuck", STUCK)
    return str(folder)


def test_a_plugin_exiting_or_interrupting_while_it_loads_is_listed_broken_and_the_rest_works(
    bench: Bench, site: str
) -> None:
    listed = bench.run("plugins", PYTHONPATH=site, COLUMNS="1000")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "test-exitsatimport" in line)
    assert "failed to import: SystemExit: 0" in row
    row = next(line for line in listed.stdout.splitlines() if "test-interruptsregistering" in line)
    assert "benchbase_register_cases raised: KeyboardInterrupt" in row
    cases = bench.run("list", PYTHONPATH=site)
    assert cases.returncode == 0 and "cpm" in cases.stdout, cases.stderr


@pytest.mark.parametrize(
    ("vendor", "fragments"),
    [
        # The contract's default device_model() reads discover()'s first device: caught there, named all the same.
        ("strdevices", ["vendor 'strdevices'", "benchbase-test-vendors 0.0.1",
                        "device_model() raised AttributeError: 'str' object has no attribute 'model'"]),
        ("numericmodel", ["vendor 'numericmodel'", "device_model() returned int 42", "not text"]),
        ("exits", ["vendor 'exits'", "raised SystemExit: 0"]),
    ],
)
def test_a_wrong_value_or_exit_from_a_vendor_is_one_line_naming_plugin_method_and_contract(
    bench: Bench, site: str, tmp_path: Path, vendor: str, fragments: list[str]
) -> None:
    result = bench.run("run", "cpm", "--vendor", vendor, "--preset", "demo", "--out", str(tmp_path / "runs"),
                       PYTHONPATH=site)
    assert_short_message(result, 2, *fragments)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "no record was started"


def test_env_lists_every_vendor_when_others_are_broken(bench: Bench, site: str) -> None:
    result = bench.run("env", PYTHONPATH=site, COLUMNS="1000")
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in out + result.stderr
    assert "strdevices: nothing found" in out and "an item that is a str" in out
    assert "exits: nothing found" in out and "SystemExit" in out
    assert "listenv: no environment" in out and "environment() returned a list of 2 item(s)" in out
    assert "cpu: 1 device(s)" in out, "a good vendor after broken ones is still described"


def test_a_plugin_stuck_in_c_cannot_outlive_the_timeout(bench: Bench, stuck_site: str, tmp_path: Path) -> None:
    started = time.monotonic()
    result = bench.run("run", "cpm", "--vendor", "stuck", "--preset", "demo", "--timeout", "30",
                       "--out", str(tmp_path / "runs"), timeout=120, PYTHONPATH=stuck_site,
                       **{GRACE_ENV: "2", MARKER_ENV: str(tmp_path)})
    assert time.monotonic() - started < 110, "the watchdog, not the test's own timeout, ended it"
    assert result.returncode == -9, result.stderr
    assert "Traceback" not in result.stderr
    assert "was killed by its watchdog: it outlived its --timeout" in result.stderr
    assert wait_until_gone(str(tmp_path), within_s=10) == [], "the watchdog and everything below it are gone"


def test_a_set_file_that_is_a_fifo_is_refused_at_once(bench: Bench, tmp_path: Path) -> None:
    fifo = tmp_path / "values.yaml"
    os.mkfifo(fifo)
    result = bench.run("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set-file", str(fifo),
                       "--out", str(tmp_path / "runs"), timeout=60)
    assert_short_message(result, 2, "is a FIFO (named pipe), not a regular file")


def test_a_cpm_sequence_length_beyond_the_models_positions_is_refused_before_a_record(
    bench: Bench, tmp_path: Path
) -> None:
    result = bench.run("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--unofficial",
                       "--set", "seq_length=1000000000000000", "--out", str(tmp_path / "runs"))
    assert_short_message(result, 2, "seq_length", "<= 1024")
    assert not (tmp_path / "runs").exists()


BREAK_MAIN = "import benchbase.cli as c; c.cli.main = lambda **_: {}[0]; c.main()"


@pytest.mark.parametrize("debug", ["", "1"])
def test_an_internal_error_is_one_line_with_exit_1_and_a_traceback_only_when_asked(debug: str) -> None:
    env = {**os.environ, "BENCHBASE_DEBUG": debug}
    result = subprocess.run([sys.executable, "-c", BREAK_MAIN], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: benchbase failed unexpectedly (KeyError: 0)") and "report it" in last
    assert ("Traceback" in result.stderr) == (debug == "1")


class WrongSensors(Sensors):
    def read(self) -> list[SensorReading]:
        return [{"device": 0, "power_w": "hot"}]  # type: ignore[list-item]


def test_a_sensor_reading_of_the_wrong_type_is_a_recorded_telemetry_error(tmp_path: Path) -> None:
    sampler = Sampler(tmp_path / "telemetry.csv", 0, WrongSensors(), 0.05, [0])
    sampler.begin()
    time.sleep(0.3)
    sampler.stop()
    assert sampler.errors and "sensors.read() returned a list of 1 item(s)" in sampler.errors[0]
    assert sampler.rows_written == 0
