"""A read-only walk over libcst trees, in source order, without libcst rebuilding every node.

libcst's `visit` rebuilds each node it passes, even for a visitor that changes
nothing; reading the fields in place costs about a fifth of that
(benchmarks/profile_stages.py). `dispatch` gives a walker class its
`visit_<Type>`/`leave_<Type>` callbacks and the node's fields in libcst's order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import libcst as cst


class _FieldRecorder(cst.CSTVisitor):
    """Learns the order in which libcst visits a node type's fields, without descending."""

    def __init__(self) -> None:
        self.fields: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        return False

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        if attribute not in self.fields:
            self.fields.append(attribute)


class FieldOrder:
    """A node type's fields in libcst's visiting (lexical) order.

    Learnt from the first node of the type by letting libcst visit its fields
    once. A few types skip a field when it is empty on that node (an f-string
    expression without a format spec); those fields are kept as `pending`
    until a node that has them shows where they go.
    """

    def __init__(self, node: cst.CSTNode):
        self.order: tuple[str, ...] = ()
        self.pending: tuple[str, ...] = ()
        self.learn(node)

    def learn(self, node: cst.CSTNode) -> None:
        recorder = _FieldRecorder()
        node._visit_and_replace_children(recorder)  # type: ignore[arg-type]
        seen = [*recorder.fields, *(f for f in self.order if f not in recorder.fields)]
        self.order = tuple(seen)
        self.pending = tuple(
            f.name for f in dataclasses.fields(node)
            if f.name not in seen and _may_hold_nodes(getattr(node, f.name))
        )

    def __call__(self, node: cst.CSTNode) -> tuple[str, ...]:
        if self.pending and any(_holds_nodes(getattr(node, name)) for name in self.pending):
            self.learn(node)
        return self.order


def _may_hold_nodes(value: object) -> bool:
    return value is None or isinstance(value, (cst.CSTNode, tuple, list))


def _holds_nodes(value: object) -> bool:
    return isinstance(value, cst.CSTNode) or (isinstance(value, (tuple, list)) and len(value) > 0)


_Callback = Callable[[Any, cst.CSTNode], Any]
_DISPATCH: dict[tuple[type, type], tuple[_Callback | None, _Callback | None, FieldOrder]] = {}
_FIELD_ORDERS: dict[type, FieldOrder] = {}


def _field_order(node: cst.CSTNode) -> FieldOrder:
    order = _FIELD_ORDERS.get(type(node))
    if order is None:
        order = _FIELD_ORDERS[type(node)] = FieldOrder(node)
    return order


# Nodes of whitespace, comments and brackets: no fact or rule looks inside them, and they are
# about half of a tree's nodes, so walks step over them.
TRIVIA = frozenset({
    cst.SimpleWhitespace, cst.ParenthesizedWhitespace, cst.TrailingWhitespace, cst.EmptyLine, cst.Newline,
    cst.Comment, cst.Comma, cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket,
    cst.LeftCurlyBrace, cst.RightCurlyBrace, cst.Colon, cst.Semicolon, cst.AssignEqual,
})


def child_nodes(node: cst.CSTNode) -> list[cst.CSTNode]:
    """`node.children` but trivia, in the same order, without libcst rebuilding the node to find them."""
    found: list[cst.CSTNode] = []
    for name in _field_order(node)(node):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            if type(value) not in TRIVIA:
                found.append(value)
        elif type(value) is tuple or type(value) is list:
            found.extend(item for item in value if isinstance(item, cst.CSTNode) and type(item) not in TRIVIA)
    return found


def descendants(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """`node` and every node under it, in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(child_nodes(current)))


def dispatch(builder: type, node: cst.CSTNode) -> tuple[_Callback | None, _Callback | None, FieldOrder]:
    """The builder's `visit_<Type>` and `leave_<Type>` functions for the node's type, and its field order."""
    key = (builder, type(node))
    found = _DISPATCH.get(key)
    if found is None:
        order = _field_order(node)
        name = type(node).__name__
        visit, leave = getattr(builder, f"visit_{name}", None), getattr(builder, f"leave_{name}", None)
        found = _DISPATCH[key] = (visit, leave, order)
    return found


