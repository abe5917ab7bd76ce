"""Fails at import time, as a plugin with a missing dependency would."""

raise ImportError("benchbase_broken needs libacme.so, which is not installed")
