"""Live objects written back as Python source: a fitted pipeline's constructor call with
its non-default parameters, public classes imported, and our own classes and functions
copied in with the module-level names they use (for ``train.py`` and :func:`estimator_source`)."""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import importlib.metadata
import inspect
import logging
import math
import sys
import textwrap
from typing import Any

import numpy as np

from tools.errors import MlchatError

_PUBLIC_PACKAGES = frozenset(
    {
        "sklearn",
        "numpy",
        "pandas",
        "pyarrow",
        "scipy",
        "xgboost",
        "lightgbm",
        "catboost",
        "joblib",
    }
)


class ExportError(MlchatError):
    """A fitted object could not be written as Python source (a bug for us, not the user)."""


class SourceWriter:
    """Turns fitted-object parameters into Python source, collecting imports and helpers."""

    def __init__(self) -> None:
        self.imports: set[str] = set()
        self.helpers: dict[str, str] = {}
        self._visiting: set[str] = set()

    # -- values ------------------------------------------------------------

    def expression(self, value: Any) -> str:
        if value is None or isinstance(value, bool | str):
            return repr(value)
        if isinstance(value, np.generic):
            return self.expression(value.item())
        if isinstance(value, int):
            return repr(value)
        if isinstance(value, float):
            if math.isnan(value):
                return 'float("nan")'
            if math.isinf(value):
                return 'float("inf")' if value > 0 else 'float("-inf")'
            return repr(value)
        if isinstance(value, list):
            return _bracketed("[", [self.expression(v) for v in value], "]")
        if isinstance(value, tuple):
            items = [self.expression(v) for v in value]
            return _bracketed("(", items, ",)" if len(items) == 1 else ")")
        if isinstance(value, dict):
            pairs = (f"{self.expression(k)}: {self.expression(v)}" for k, v in value.items())
            return "{" + ", ".join(pairs) + "}"
        if isinstance(value, set | frozenset):
            inner = ", ".join(sorted(self.expression(v) for v in value))
            return f"{type(value).__name__}([{inner}])" if value else f"{type(value).__name__}()"
        if isinstance(value, np.dtype):
            self.imports.add("import numpy as np")
            return f"np.dtype({str(value)!r})"
        if isinstance(value, np.ndarray):
            self.imports.add("import numpy as np")
            return f"np.array({self.expression(value.tolist())}, dtype={str(value.dtype)!r})"
        if isinstance(value, functools.partial):
            args = [self.reference(value.func)]
            args += [self.expression(a) for a in value.args]
            args += [f"{k}={self.expression(v)}" for k, v in value.keywords.items()]
            self.imports.add("from functools import partial")
            return f"partial({', '.join(args)})"
        if inspect.isclass(value) or inspect.isfunction(value) or inspect.isbuiltin(value):
            return self.reference(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = [
                f"{f.name}={self.expression(getattr(value, f.name))}"
                for f in dataclasses.fields(value)
                if f.default is dataclasses.MISSING or getattr(value, f.name) != f.default
            ]
            return f"{self.reference(type(value))}({', '.join(fields)})"
        if hasattr(value, "get_params"):
            return self._constructor(value)
        raise ExportError(f"cannot write a {type(value).__name__} value into the script")

    def _constructor(self, estimator: Any) -> str:
        cls = type(estimator)
        name = self.reference(cls)
        params = estimator.get_params(deep=False)
        try:
            signature = inspect.signature(cls.__init__)
        except (TypeError, ValueError):
            signature = None
        known = signature.parameters if signature else {}
        arguments = []
        for key, value in params.items():
            parameter = known.get(key)
            if parameter is None or parameter.kind == inspect.Parameter.VAR_KEYWORD:
                if value is None:
                    continue
            elif _same(value, parameter.default):
                continue
            arguments.append(f"{key}={self.expression(value)}")
        if len(", ".join(arguments)) + len(name) < 80 and "\n" not in "".join(arguments):
            return f"{name}({', '.join(arguments)})"
        body = "".join(textwrap.indent(f"{argument},", "    ") + "\n" for argument in arguments)
        return f"{name}(\n{body})"

    # -- names ---------------------------------------------------------------

    def reference(self, obj: Any) -> str:
        """The name to use for a class or function, importing or copying it."""
        if getattr(obj, "__module__", None) == "tools.models.stoppable" and inspect.isclass(obj):
            # The script trains without a deadline: the library's own estimator, same parameters.
            obj = obj.__mro__[1]
        module = getattr(obj, "__module__", None) or "builtins"
        name = obj.__name__
        top = module.split(".")[0]
        if top == "builtins":
            return name
        if top in _PUBLIC_PACKAGES or top in sys.stdlib_module_names:
            self.imports.add(f"from {_public_module(obj)} import {name}")
            return name
        self._copy(obj)
        return name

    def _copy(self, obj: Any) -> None:
        name = obj.__qualname__
        if "." in name or "<" in name:
            raise ExportError(f"cannot copy the nested definition {name} into the script")
        if name in self.helpers or name in self._visiting:
            return
        self._visiting.add(name)
        source = textwrap.dedent(inspect.getsource(obj))
        namespace = vars(sys.modules[obj.__module__])
        for used in sorted(_free_names(source)):
            if used == name or used not in namespace:
                continue
            self._define(used, namespace[used])
        self.helpers[name] = source.rstrip() + "\n"
        self._visiting.discard(name)

    def _define(self, name: str, value: Any) -> None:
        if inspect.ismodule(value):
            module = value.__name__
            top = module.split(".")[0]
            if top not in _PUBLIC_PACKAGES and top not in sys.stdlib_module_names:
                raise ExportError(f"the copied code uses the module {module}")
            self.imports.add(f"import {module}" if module == name else f"import {module} as {name}")
        elif isinstance(value, logging.Logger):
            self.imports.add("import logging")
            self.helpers.setdefault(name, f"{name} = logging.getLogger(__name__)\n")
        elif inspect.isclass(value) or inspect.isfunction(value):
            referenced = self.reference(value)
            if referenced != name:
                self.helpers.setdefault(name, f"{name} = {referenced}\n")
        elif name not in self.helpers:
            self.helpers[name] = f"{name} = {self.expression(value)}\n"
        elif self.helpers[name] != f"{name} = {self.expression(value)}\n":
            raise ExportError(f"two copied modules define different values named {name}")


def _bracketed(opening: str, items: list[str], closing: str) -> str:
    """Items on one line when short, else one per line (the source stays readable)."""
    flat = ", ".join(items)
    if len(flat) < 80 and "\n" not in flat:
        return f"{opening}{flat}{closing.lstrip(',') if len(items) != 1 else closing}"
    body = "".join(textwrap.indent(f"{item},", "    ") + "\n" for item in items)
    return f"{opening}\n{body}{closing.lstrip(',')}"


def _public_module(obj: Any) -> str:
    """The shortest importable module path that exposes ``obj`` (``sklearn.preprocessing``)."""
    parts = obj.__module__.split(".")
    for end in range(1, len(parts) + 1):
        candidate = ".".join(parts[:end])
        if candidate.split(".")[-1].startswith("_") and end < len(parts):
            continue
        try:
            module = importlib.import_module(candidate)
        except ImportError:
            continue
        if getattr(module, obj.__name__, None) is obj:
            return candidate
    return obj.__module__


class _NameCollector(ast.NodeVisitor):
    """Names a definition reads, skipping annotations (strings under postponed evaluation)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        self.names.add(node.id)

    def visit_arg(self, node: ast.arg) -> None:
        return None

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for child in (*node.decorator_list, node.args, *node.body):
            self.visit(child)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_arguments(self, node: ast.arguments) -> None:
        for default in (*node.defaults, *node.kw_defaults):
            if default is not None:
                self.visit(default)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)


def _free_names(source: str) -> set[str]:
    collector = _NameCollector()
    collector.visit(ast.parse(source))
    return collector.names


def _same(value: Any, default: Any) -> bool:
    if value is default:
        return True
    if type(value) is not type(default):
        return False
    try:
        return bool(value == default)
    except (TypeError, ValueError):
        return False
