"""A PNG of the HTML report, taken by headless Chromium (docs/report-example.png, and the Chromium test).

``python -m benchbase.report.screenshot [--detail] [--reference] RUN_DIR [RUN_DIR ...] OUT.png``

Chromium runs with networking features off and a throw-away profile, so taking the picture also proves the page
renders with nothing fetched.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchbase.errors import BenchbaseError
from benchbase.report import build_report, load_runs, render

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of an installed Chromium-family browser, or ``None``."""
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 2000, timeout_s: float = 120) -> None:
    """Render ``html`` in headless Chromium and save the visible ``width`` x ``height`` pixels to ``png``."""
    browser = find_chromium()
    if browser is None:
        raise BenchbaseError("no Chromium browser found", "install one (Debian: apt-get install chromium)")
    png = png.resolve()
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="benchbase-chromium-") as profile:
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={width},{height}",
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as err:
            raise BenchbaseError(f"Chromium took over {timeout_s:.0f} s to render {html}", "retry") from err
    if not png.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BenchbaseError(f"Chromium wrote no screenshot of {html} ({' / '.join(tail)})", "check the browser")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchbase.report.screenshot", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="run directories (or folders of them), then OUT.png")
    parser.add_argument("--detail", action="store_true", help="include the detail view")
    parser.add_argument("--reference", action="store_true", help="include published reference rows")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2000)
    args = parser.parse_args(argv)
    if len(args.paths) < 2 or args.paths[-1].suffix.lower() != ".png":
        parser.error("give at least one run directory and end with the output .png path")
    *runs, out = args.paths
    try:
        report = build_report(load_runs(runs), reference=args.reference, detail=args.detail)
        with tempfile.TemporaryDirectory(prefix="benchbase-report-") as folder:
            html = Path(folder) / "report.html"
            html.write_text(render(report, "html"), encoding="utf-8")
            screenshot(html, out, args.width, args.height)
    except BenchbaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
