"""benchbase: an open, plugin-based benchmark of how well AI accelerators train real models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("benchbase-core")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
