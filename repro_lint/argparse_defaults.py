"""Whether an `if` on a command-line option holds when the program runs with its defaults.

Training scripts often seed only when asked (`if args.seed is not None: torch.manual_seed(...)`,
with `parser.add_argument("--seed", default=None)`), and build one of several models by name
(`if opt.model == "densenet":`, with `default="resnet"`). Run as documented, without the
option, the seed does not happen and the other models are never built.

A file's own `add_argument` calls answer at once (`off_by_default`). A test on an option
that another file declares (`opts.py` parses, `model.py` tests) is kept as a `Condition`
for the project pass, which knows every file's options (`ProjectFacts`).
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import libcst as cst

from repro_lint.cst_values import literal_bool, string_value
from repro_lint.facts import AssignSite, CallSite, FileFacts

# Stands for a default that cannot be told: not a literal, or an option declared twice.
UNKNOWN = ("<unknown default>",)  # a tuple, so that it survives pickling as an equal value
_COMPARISONS: dict[type, Callable[[Any, Any], bool]] = {
    cst.Is: operator.is_, cst.IsNot: operator.is_not, cst.Equal: operator.eq, cst.NotEqual: operator.ne,
    cst.GreaterThan: operator.gt, cst.GreaterThanEqual: operator.ge,
    cst.LessThan: operator.lt, cst.LessThanEqual: operator.le,
}
_BY_NAME = {kind.__name__: compare for kind, compare in _COMPARISONS.items()}


class Condition(NamedTuple):
    """`<options>.<option> <comparison> <literal>` (comparison "" tests the value's truth), negated by `not`."""

    option: str
    comparison: str
    literal: Any
    negated: bool

    def holds(self, default: Any) -> bool | None:
        """Its value when the option has `default`; None when that cannot be told."""
        if default == UNKNOWN:
            return None
        if self.comparison:
            try:
                value = _BY_NAME[self.comparison](default, self.literal)
            except TypeError:  # `None > 0`
                return None
        else:
            value = bool(default)
        return value != self.negated


def off_by_default(
    site: CallSite | AssignSite, facts: FileFacts, may_hold: Callable[[tuple[Condition, ...]], bool] | None = None
) -> cst.BaseExpression | None:
    """The test of an `if` around `site` that is false with this file's parser defaults, if any;
    with `may_hold` (the project's answer), also one on an option this file does not declare."""
    options = declared_options(facts)
    for test in site.guards:
        condition = condition_of(test, on_any_object=True)
        if condition is not None and condition.option in options:
            if condition.holds(options[condition.option]) is False:
                return test
        elif may_hold is not None:
            condition = condition_of(test, on_any_object=False)
            if condition is not None and not may_hold((condition,)):
                return test
    return None


def conditions_for_the_project(site: CallSite | AssignSite, facts: FileFacts) -> tuple[Condition, ...]:
    """The tests around `site` on options this file does not declare (`opt.model == "densenet"`, on
    a plain name: `self.training` is no option): the project decides them."""
    options = declared_options(facts)
    found = (condition_of(test, on_any_object=False) for test in site.guards)
    return tuple(c for c in found if c is not None and c.option not in options)


def condition_of(test: cst.BaseExpression, on_any_object: bool) -> Condition | None:
    """`test` as a condition on an option read as an attribute (of a plain name unless `on_any_object`)."""
    negated = False
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        negated, test = not negated, test.expression
    comparison, literal = "", None
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        kind = type(test.comparisons[0].operator)
        literal = _literal(test.comparisons[0].comparator)
        if kind not in _COMPARISONS or literal == UNKNOWN:
            return None
        comparison, test = kind.__name__, test.left
    if isinstance(test, cst.Attribute) and (on_any_object or isinstance(test.value, cst.Name)):
        return Condition(test.attr.value, comparison, literal, negated)
    return None


# Asked once per guarded call site: computed once per file.
_DECLARED: weakref.WeakKeyDictionary[FileFacts, Mapping[str, Any]] = weakref.WeakKeyDictionary()


def declared_options(facts: FileFacts) -> Mapping[str, Any]:
    """The defaults of the options this file's `add_argument` calls declare, by where argparse stores them."""
    found = _DECLARED.get(facts)
    if found is None:
        found = _DECLARED[facts] = MappingProxyType(_declared_options(facts))
    return found


def _declared_options(facts: FileFacts) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for call in facts.calls:
        if call.method != "add_argument":
            continue
        dest = _dest(call.node)
        if dest is not None:
            found[dest] = UNKNOWN if dest in found else _default(call)
    return found


def _default(call: CallSite) -> Any:
    required = call.keyword("required")
    if required is not None and literal_bool(required.value) is not False:
        return UNKNOWN  # the user always gives it
    default = call.keyword("default")
    if default is not None:
        return _literal(default.value)
    action = call.keyword("action")
    kind = string_value(action.value) if action is not None else None
    return {"store_true": False, "store_false": True}.get(kind or "", None if action is None else UNKNOWN)


def _literal(expr: cst.BaseExpression) -> Any:
    if isinstance(expr, cst.Name) and expr.value == "None":
        return None
    boolean = literal_bool(expr) if isinstance(expr, cst.Name) else None
    if boolean is not None:
        return boolean
    if isinstance(expr, cst.Integer):
        return int(expr.value.replace("_", ""), 0)
    if isinstance(expr, cst.Float):
        return float(expr.value.replace("_", ""))
    text = string_value(expr)
    if text is not None:
        return text
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        value = _literal(expr.expression)
        return -value if isinstance(value, (int, float)) and not isinstance(value, bool) else UNKNOWN
    return UNKNOWN


def _dest(call: cst.Call) -> str | None:
    """Where argparse stores the option: `dest=`, else the first long flag, else the first flag."""
    flags = [name for arg in call.args if arg.keyword is None and (name := string_value(arg.value))]
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "dest":
            return string_value(arg.value)
    long_flags = [flag for flag in flags if flag.startswith("--")]
    chosen = long_flags[0] if long_flags else flags[0] if flags else None
    return chosen.lstrip("-").replace("-", "_") if chosen else None
