"""Plugins: loading them through entry points, checking what they register, bounding their calls."""
