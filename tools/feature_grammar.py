"""The derived-feature grammar: ``name = expression`` parsed and checked, never evaluated.

A model (or a person) proposes a feature as ``name = expression`` over the
table's columns, e.g. ``income_per_age = income / age``. The text is parsed
with :func:`ast.parse` in ``eval`` mode and every node is checked against an
explicit whitelist (:data:`ALLOWED`); :func:`check_features` then checks the
columns it reads and their kinds against a table. :mod:`tools.features` applies
the checked expressions.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from tools.errors import FeatureError

MAX_EXPRESSION_CHARS = 300
MAX_NODES = 80
MAX_BINS = 20
ALLOWED = (
    'Allowed: column names (write col("name with spaces") or `name with spaces` for names '
    "that are not plain words), numbers, + - * /, ** with a whole power from -3 to 4, "
    "comparisons < <= > >= == != (a category column may be compared with text: "
    'contract == "monthly"), log(x), log1p(x), sqrt(x), abs(x), exp(x), clip(x, low, high), '
    "min(a, b, ...), max(a, b, ...), is_missing(x), year/month/day/dayofweek/hour/quarter(date "
    "column), days_between(date1, date2) and bin(x, n) for n quantile bins (2 to 20)."
)
_NUMBER_FUNCTIONS = frozenset({"log", "log1p", "sqrt", "abs", "exp", "is_missing"})
DATE_FUNCTIONS = frozenset({"year", "month", "day", "dayofweek", "hour", "quarter"})
_NUMBER_KINDS = frozenset({"numeric", "boolean"})
_TEXT_KINDS = frozenset({"categorical", "boolean", "text"})


@dataclass(frozen=True, slots=True)
class DerivedFeature:
    """One derived column: its new name and the expression that computes it."""

    name: str
    expression: str


def parse_feature(text: str) -> DerivedFeature:
    """Split ``"name = expression"`` and check the grammar (not the columns).

    Raises:
        FeatureError: the text is not ``name = expression`` or the expression is not allowed.
    """
    match = re.fullmatch(r"\s*([^=<>!]+?)\s*=(?!=)\s*(.+?)\s*", text, flags=re.S)
    if match is None:
        raise FeatureError(
            f"“{text[:80]}” is not of the form name = expression, e.g. "
            "income_per_age = income / age."
        )
    feature = DerivedFeature(match.group(1), match.group(2))
    check_name(feature.name)
    parse_expression(feature.expression)
    return feature


def check_name(name: str) -> None:
    """Refuse names that are not short plain words (letters, digits, underscores)."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,59}", name):
        raise FeatureError(
            f"“{name[:80]}” cannot name a feature: use letters, digits and underscores, "
            "starting with a letter (at most 60 characters), e.g. income_per_age."
        )


def parse_expression(expression: str) -> ast.expr:
    """The expression's syntax tree, after checking every node against the whitelist.

    Raises:
        FeatureError: the text is too long, is not an expression, or uses anything
            outside the grammar (the message names the part and lists what is allowed).
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise FeatureError(
            f"The expression is {len(expression)} characters long; keep it under "
            f"{MAX_EXPRESSION_CHARS}."
        )
    text = re.sub(r"`([^`]*)`", lambda m: "col(" + repr(m.group(1)) + ")", expression)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise FeatureError(f"“{expression[:80]}” is not a valid expression. {ALLOWED}") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise FeatureError(f"The expression is too complex ({nodes} parts); keep it simpler.")
    _check_node(tree.body, expression)
    return tree.body


def referenced_columns(expression: str) -> list[str]:
    """The column names an expression reads, in order of first use."""
    names: list[str] = []
    for name, _ in _column_uses(parse_expression(expression)):
        if name not in names:
            names.append(name)
    return names


def check_features(
    features: Sequence[DerivedFeature], kinds: Mapping[str, str], *, target: str | None = None
) -> None:
    """Check names, columns and column kinds of ``features`` against a table.

    ``kinds`` maps each usable column to its kind (numeric, boolean, categorical,
    datetime, text). A feature may use the features listed before it.

    Raises:
        FeatureError: naming the first problem (unknown column, wrong kind, clash).
    """
    known = dict(kinds)
    for feature in features:
        check_name(feature.name)
        if feature.name in known or feature.name == target:
            raise FeatureError(
                f"“{feature.name}” is already a column; give the new feature another name."
            )
        tree = parse_expression(feature.expression)
        uses = list(_column_uses(tree))
        if not uses:
            raise FeatureError(f"“{feature.expression[:80]}” uses no column; name at least one.")
        for name, _ in uses:
            if name == target:
                raise FeatureError(
                    f"“{name}” is the target; a feature computed from it would leak the answer."
                )
            if name not in known:
                close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
                hint = f" Closest columns: {', '.join(close)}." if close else ""
                raise FeatureError(f"There is no usable column named “{name}”.{hint}")
        _check_kinds(tree, known, feature.expression)
        known[feature.name] = "numeric"


def column_name(node: ast.AST) -> str | None:
    """The column a node names (a bare name or ``col("...")``), else ``None``."""
    if isinstance(node, ast.Name):
        return node.id
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "col"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def _refuse(what: str, expression: str) -> FeatureError:
    return FeatureError(f"“{expression[:80]}” uses {what}, which is not allowed. {ALLOWED}")


def _check_node(node: ast.AST, expression: str) -> None:
    if isinstance(node, ast.Name):
        if node.id.startswith("__"):
            raise _refuse(f"the name {node.id}", expression)
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise _refuse(f"the value {node.value!r} on its own", expression)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise _refuse(f"the operator {type(node.op).__name__}", expression)
        _check_node(node.operand, expression)
        return
    if isinstance(node, ast.BinOp):
        if not isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div | ast.Pow):
            raise _refuse(f"the operator {type(node.op).__name__}", expression)
        if isinstance(node.op, ast.Pow) and small_power(node.right) is None:
            raise _refuse("a power that is not a whole number from -3 to 4", expression)
        _check_node(node.left, expression)
        if not isinstance(node.op, ast.Pow):
            _check_node(node.right, expression)
        return
    if isinstance(node, ast.Compare):
        allowed = ast.Lt | ast.LtE | ast.Gt | ast.GtE | ast.Eq | ast.NotEq
        if not all(isinstance(op, allowed) for op in node.ops):
            raise _refuse("a comparison other than < <= > >= == !=", expression)
        operands = [node.left, *node.comparators]
        for index, operand in enumerate(operands):
            if is_text(operand):
                ops = node.ops[max(index - 1, 0) : index + 1]
                neighbours = operands[max(index - 1, 0) : index + 2]
                if len(operands) != 2 or not isinstance(ops[0], ast.Eq | ast.NotEq):
                    raise _refuse('text outside a column == "text" comparison', expression)
                if not any(column_name(o) is not None for o in neighbours if o is not operand):
                    raise _refuse("text compared with something other than a column", expression)
                continue
            _check_node(operand, expression)
        return
    if isinstance(node, ast.Call):
        _check_call(node, expression)
        return
    raise _refuse(_describe_node(node), expression)


def _check_call(node: ast.Call, expression: str) -> None:
    if not isinstance(node.func, ast.Name):
        raise _refuse("a call of something that is not a plain function name", expression)
    name = node.func.id
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        raise _refuse(f"named or starred arguments in {name}()", expression)
    count = len(node.args)
    if name == "col":
        if column_name(node) is None:
            raise _refuse("col() with anything but one quoted column name", expression)
        return
    if name in _NUMBER_FUNCTIONS:
        expected = count == 1
    elif name == "clip":
        expected = count == 3
    elif name in {"min", "max"}:
        expected = 2 <= count <= 8
    elif name in DATE_FUNCTIONS:
        expected = count == 1 and column_name(node.args[0]) is not None
    elif name == "days_between":
        expected = count == 2 and all(column_name(a) is not None for a in node.args)
    elif name == "bin":
        expected = count == 2 and bin_count(node.args[1]) is not None
    else:
        raise _refuse(f"the function {name}()", expression)
    if not expected:
        raise _refuse(f"{name}() with these arguments", expression)
    for argument in node.args[:1] if name == "bin" else node.args:
        if column_name(argument) is None or not isinstance(argument, ast.Call):
            _check_node(argument, expression)


def _check_kinds(node: ast.AST, kinds: Mapping[str, str], expression: str) -> None:
    """Columns are used as their kind allows: numbers in arithmetic, dates in date parts."""
    for child in ast.walk(node):
        if not (isinstance(child, ast.Call) and isinstance(child.func, ast.Name)):
            continue
        if child.func.id in DATE_FUNCTIONS or child.func.id == "days_between":
            for argument in child.args:
                column = column_name(argument)
                if column is not None and kinds.get(column) != "datetime":
                    raise FeatureError(
                        f"{child.func.id}() needs a date column; “{column}” is {kinds.get(column)}."
                    )
    for column, context in _column_uses(node):
        kind = kinds.get(column, "")
        if context == "number" and kind not in _NUMBER_KINDS:
            hint = (
                " Use year(), month(), dayofweek() ... or days_between()."
                if kind == "datetime"
                else f' Compare it with text instead, e.g. {column} == "value".'
            )
            raise FeatureError(f"“{column}” is a {kind} column, not a number.{hint}")
        if context == "text" and kind not in _TEXT_KINDS:
            raise FeatureError(f"“{column}” is a {kind} column; compare it with a number.")


def _column_uses(node: ast.AST, context: str = "number") -> Iterator[tuple[str, str]]:
    """Each column reference with how it is used: "number", "date" or "text"."""
    column = column_name(node)
    if column is not None:
        yield column, context
        return
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name) and (
            node.func.id in DATE_FUNCTIONS or node.func.id == "days_between"
        ):
            for argument in node.args:
                yield from _column_uses(argument, "date")
            return
        for argument in node.args:
            yield from _column_uses(argument)
        return
    if isinstance(node, ast.Compare) and any(is_text(o) for o in [node.left, *node.comparators]):
        for operand in [node.left, *node.comparators]:
            if not is_text(operand):
                yield from _column_uses(operand, "text")
        return
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        yield from _column_uses(node.left)
        return
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.expr):
            yield from _column_uses(child)


def is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def small_power(node: ast.AST) -> int | None:
    value = _literal_number(node)
    if value is None or value != int(value) or not -3 <= value <= 4:
        return None
    return int(value)


def bin_count(node: ast.AST) -> int | None:
    value = _literal_number(node)
    if value is None or value != int(value) or not 2 <= value <= MAX_BINS:
        return None
    return int(value)


def _literal_number(node: ast.AST) -> float | None:
    sign = 1.0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        node = node.operand
    is_number = isinstance(node, ast.Constant) and isinstance(node.value, int | float)
    if is_number and not isinstance(node.value, bool):  # type: ignore[attr-defined]
        return sign * float(node.value)  # type: ignore[attr-defined]
    return None


def _describe_node(node: ast.AST) -> str:
    words = {
        "Attribute": "attribute access (a.b)",
        "Subscript": "indexing (a[b])",
        "Lambda": "a lambda",
        "ListComp": "a comprehension",
        "SetComp": "a comprehension",
        "DictComp": "a comprehension",
        "GeneratorExp": "a comprehension",
        "BoolOp": "and / or (multiply comparisons instead)",
        "IfExp": "if / else",
        "NamedExpr": "an assignment (:=)",
        "Tuple": "a tuple",
        "List": "a list",
        "Dict": "a dict",
        "Set": "a set",
        "JoinedStr": "an f-string",
        "Await": "await",
        "Yield": "yield",
        "Starred": "*",
    }
    return words.get(type(node).__name__, f"a {type(node).__name__} expression")
