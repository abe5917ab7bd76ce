"""The hook markers under the name plugins have always imported them by (``from benchbase.hookspecs import
hookimpl``): the contract's hooks live in :mod:`benchbase.contract.hookspecs`, and this name stays so that every plugin
written against an earlier README installs and runs unchanged. New plugins may import ``hookimpl`` from
:mod:`benchbase` itself."""

from benchbase.contract.hookspecs import PROJECT, hookimpl, hookspec

__all__ = ["PROJECT", "hookimpl", "hookspec"]
