"""Lazy package exports: a package's public names are imported from the module that
defines them on first use, so importing the package costs nothing and cannot cycle."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """Build a module-level ``__getattr__`` for ``package`` from ``{name: module}``.

    Args:
        package: The package's ``__name__`` (for the error message).
        where: Each public name mapped to the dotted module that defines it.
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
