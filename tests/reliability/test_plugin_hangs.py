"""Plugins whose calls never return, installed as a real distribution into a folder of their own (on
``PYTHONPATH`` of the commands that should see it, as ``tests/cli/test_third_party_plugins.py`` does).

Every call the supervisor (and ``benchbase env``) makes into a plugin is bounded (:mod:`benchbase.registry.bounded`): a hang
ends, within the limit, in one line naming the call, the plugin and its distribution; ``--timeout`` covers it too.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from reliability_support import HOST_VENDOR, Bench, assert_short_message, tree_digest

from benchbase.registry.bounded import LIMIT_ENV

#: The plugin limit the tests set (the default is a minute).
LIMIT_S = 3
#: Starting ``benchbase`` (imports, plugins) on a busy machine, on top of the limit.
STARTUP_S = 25

pytestmark = pytest.mark.slow

PLUGIN = '''
import time
''' + HOST_VENDOR + '''
class HangingDiscovery(HostVendor):
    """A driver that never answers."""

    name = "hang"

    def discover(self):
        time.sleep(3600)


class HangingEnvironment(HostVendor):
    """Finds its device, then never says which driver it has."""

    name = "envhang"

    def environment(self):
        time.sleep(3600)


class HangingSensors(HostVendor):
    """Finds its device and its facts, then never opens its sensors."""

    name = "sensorhang"

    def open_sensors(self, device_indices):
        time.sleep(3600)


@hookimpl
def benchbase_register_vendors(register):
    register(HangingDiscovery())
    register(HangingEnvironment())
    register(HangingSensors())
'''
PLUGIN_NAME = "plugin 'test-hang' (distribution benchbase-test-hang 0.0.1)"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("hang-project")
    (project / "benchbase_test_hang").mkdir()
    (project / "benchbase_test_hang" / "__init__.py").write_text("")
    (project / "benchbase_test_hang" / "plugin.py").write_text(PLUGIN)
    (project / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "benchbase-test-hang"
        version = "0.0.1"

        [project.entry-points.benchbase]
        test-hang = "benchbase_test_hang.plugin"

        [tool.setuptools]
        packages = ["benchbase_test_hang"]
    """))
    target = tmp_path_factory.mktemp("site-hang")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target),
         str(project)],
        check=True, capture_output=True, text=True,
    )
    return target


def timed(bench: Bench, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = bench.run(*args, timeout=120, **env)
    return result, time.monotonic() - started


def test_env_names_a_vendor_whose_discover_hangs_and_ends_within_the_limit(bench: Bench, site: Path) -> None:
    result, took = timed(bench, "env", "--vendor", "hang", PYTHONPATH=str(site), **{LIMIT_ENV: str(LIMIT_S)})
    assert result.returncode == 0 and "Traceback" not in result.stdout + result.stderr, result.stderr
    assert took < LIMIT_S + STARTUP_S
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("hang:")]
    assert f"vendor 'hang' of {PLUGIN_NAME}: discover() did not return within {LIMIT_S} s" in line
    assert LIMIT_ENV in line, "the line says how to allow longer"


def test_env_still_lists_every_other_vendor(bench: Bench, site: Path) -> None:
    result = bench.run("env", PYTHONPATH=str(site), **{LIMIT_ENV: str(LIMIT_S)})
    assert result.returncode == 0 and "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("cpu: 1 device(s)") for line in lines), "the working vendor is still shown"
    assert any(line.startswith("envhang: no environment") and "environment() did not return" in line
               for line in lines)


def test_run_with_a_hanging_discover_ends_within_the_limit_in_one_line(
    bench: Bench, tmp_path: Path, site: Path, finished_run: Path
) -> None:
    digest = tree_digest(finished_run)
    result, took = timed(bench, "run", "cpm", "--vendor", "hang", "--preset", "demo", "--out", str(tmp_path / "runs"),
                         PYTHONPATH=str(site), **{LIMIT_ENV: str(LIMIT_S)})
    assert_short_message(result, 2, f"vendor 'hang' of {PLUGIN_NAME}", f"did not return within {LIMIT_S} s")
    assert took < LIMIT_S + STARTUP_S
    assert not (tmp_path / "runs").exists() and tree_digest(finished_run) == digest


def test_timeout_covers_a_hanging_discover(bench: Bench, tmp_path: Path, site: Path) -> None:
    """No plugin limit given (a minute by default): the run's own --timeout of 4 s is what ends it."""
    result, took = timed(bench, "run", "cpm", "--vendor", "hang", "--preset", "demo", "--timeout", "4",
                         "--out", str(tmp_path / "runs"), PYTHONPATH=str(site))
    assert_short_message(result, 5, "the run exceeded its --timeout of 4 s while", f"vendor 'hang' of {PLUGIN_NAME}",
                         "nothing was recorded")
    assert took < 4 + STARTUP_S
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("vendor", "call"), [("envhang", "environment()"), ("sensorhang", "open_sensors()")])
def test_a_vendor_call_that_hangs_before_the_ranks_start_is_refused_without_a_record(
    bench: Bench, tmp_path: Path, site: Path, vendor: str, call: str
) -> None:
    """``environment()`` (the facts of ``env.json``) and ``open_sensors()`` are called before the run folder is made
    (benchbase/run/preflight.py, then benchbase/run/supervisor.py): a hang there is one line and no record."""
    result = bench.run("run", "cpm", "--vendor", vendor, "--preset", "demo", "--out", str(tmp_path / "runs"),
                       PYTHONPATH=str(site), **{LIMIT_ENV: str(LIMIT_S)})
    assert_short_message(result, 2, f"vendor '{vendor}' of {PLUGIN_NAME}: {call} did not return within {LIMIT_S} s")
    assert not (tmp_path / "runs").exists()
