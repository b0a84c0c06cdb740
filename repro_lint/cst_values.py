"""What a libcst expression says on its face: literal values, dotted names, call arguments.

No scopes and no name resolution (that is `FileFacts`): only the node itself.
"""

from __future__ import annotations

from typing import TypeGuard

import libcst as cst


def keyword_arg(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def argument(call: cst.Call, position: int, name: str | None = None) -> cst.Arg | None:
    """The argument at `position` if passed positionally, else the keyword `name`."""
    positional = [a for a in call.args if a.keyword is None and not a.star]
    if position < len(positional):
        return positional[position]
    return keyword_arg(call, name) if name else None


def literal_bool(expr: cst.BaseExpression | None) -> bool | None:
    """The truth value of a literal (`True`, `0`, `"x"`), or None when it is not provable."""
    if isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"):
        return expr.value == "True"
    if isinstance(expr, cst.Integer):
        return int(expr.value.replace("_", ""), 0) != 0
    if isinstance(expr, cst.Float):
        return float(expr.value.replace("_", "")) != 0
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        inner = literal_bool(expr.expression)
        return None if inner is None else not inner
    return None


def string_value(expr: cst.BaseExpression | None) -> str | None:
    if isinstance(expr, cst.SimpleString):
        try:
            value = expr.evaluated_value
        except Exception:  # noqa: BLE001 - odd prefixes are simply not literals to us
            return None
        return value if isinstance(value, str) else None
    return None


def dotted(expr: cst.BaseExpression) -> str:
    """`a.b.c` for a name or an attribute chain; '' for anything else."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return f"{dotted(expr.value)}.{expr.attr.value}"
    return ""




def is_self_attribute(expr: cst.CSTNode, name: str | None = None) -> TypeGuard[cst.Attribute]:
    """`self.name` (any name when `name` is None)."""
    return (isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self"
            and (name is None or expr.attr.value == name))


def is_none(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def has_splat(call: cst.Call) -> bool:
    """A `*args` or `**kwargs` in the call could supply any argument we look for."""
    return any(arg.star for arg in call.args)


def has_star_args(call: cst.Call) -> bool:
    """A `*args` in the call could supply any positional argument."""
    return any(arg.star == "*" for arg in call.args)


def code_of(node: cst.CSTNode) -> str:
    """The node's source text, as libcst generates it."""
    return cst.Module([]).code_for_node(node)


# nn.Module methods that return the module itself.
_RETURN_THE_MODULE = frozenset({"cuda", "cpu", "to", "train", "eval", "float", "half", "double", "bfloat16",
                                "requires_grad_", "to_empty"})


def constructed(value: cst.BaseExpression | None) -> cst.Call | None:
    """The call that built the object `value` is: itself, or `C(...)` in `C(...).cuda()`, `C(...).to(device)`."""
    while (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
           and value.func.attr.value in _RETURN_THE_MODULE and isinstance(value.func.value, cst.Call)):
        value = value.func.value
    return value if isinstance(value, cst.Call) else None

