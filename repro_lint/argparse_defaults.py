"""Whether an `if` on a command-line option holds when the program runs with its defaults.

Training scripts often seed only when asked (`if args.seed is not None: torch.manual_seed(...)`,
with `parser.add_argument("--seed", default=None)`): run as documented, without the option,
they are unseeded. The answer comes from the file's own `add_argument` calls; an option
declared elsewhere (a config file, another module) gives no answer.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import libcst as cst

from repro_lint.cst_values import string_value
from repro_lint.facts import CallSite, FileFacts

_UNKNOWN = object()
_COMPARISONS: dict[type, Callable[[Any, Any], bool]] = {
    cst.Is: operator.is_, cst.IsNot: operator.is_not, cst.Equal: operator.eq, cst.NotEqual: operator.ne,
    cst.GreaterThan: operator.gt, cst.GreaterThanEqual: operator.ge,
    cst.LessThan: operator.lt, cst.LessThanEqual: operator.le,
}


def off_by_default(call: CallSite, facts: FileFacts) -> cst.BaseExpression | None:
    """The test of an `if` around `call` that is false with the parser's defaults, if any."""
    return next((test for test in call.guards if holds_by_default(facts, test) is False), None)


def holds_by_default(facts: FileFacts, test: cst.BaseExpression) -> bool | None:
    """The value of `test` when every option it reads (`args.seed`) has its parser default;
    None when that cannot be told."""
    value = _evaluate(facts, test)
    return None if value is _UNKNOWN else bool(value)


def _evaluate(facts: FileFacts, expr: cst.BaseExpression) -> Any:
    if isinstance(expr, cst.Attribute):
        return _option_default(facts, expr.attr.value)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        value = _evaluate(facts, expr.expression)
        return _UNKNOWN if value is _UNKNOWN else not value
    if isinstance(expr, cst.Comparison) and len(expr.comparisons) == 1:
        compare = _COMPARISONS.get(type(expr.comparisons[0].operator))
        left, right = _evaluate(facts, expr.left), _literal(expr.comparisons[0].comparator)
        if compare is None or _UNKNOWN in (left, right):
            return _UNKNOWN
        try:
            return compare(left, right)
        except TypeError:  # `None > 0`
            return _UNKNOWN
    return _UNKNOWN


def _literal(expr: cst.BaseExpression) -> Any:
    if isinstance(expr, cst.Name) and expr.value == "None":
        return None
    if isinstance(expr, cst.Integer):
        return int(expr.value.replace("_", ""), 0)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        value = _literal(expr.expression)
        return -value if isinstance(value, int) else _UNKNOWN
    return _UNKNOWN


def _option_default(facts: FileFacts, dest: str) -> Any:
    """The default of the option stored as `dest` by this file's `add_argument` calls (argparse's
    own default is None), or _UNKNOWN when the file declares no such option or declares it twice."""
    declared = [call for call in facts.calls if call.method == "add_argument" and _dest(call.node) == dest]
    if len(declared) != 1:
        return _UNKNOWN
    default = declared[0].keyword("default")
    return None if default is None else _literal(default.value)


def _dest(call: cst.Call) -> str | None:
    """Where argparse stores the option: `dest=`, else the first long flag, else the first flag."""
    flags = [name for arg in call.args if arg.keyword is None and (name := string_value(arg.value))]
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "dest":
            return string_value(arg.value)
    long_flags = [flag for flag in flags if flag.startswith("--")]
    chosen = long_flags[0] if long_flags else flags[0] if flags else None
    return chosen.lstrip("-").replace("-", "_") if chosen else None
