"""Line and column of the nodes a file's findings point at.

libcst's `PositionProvider` generates the code of the whole module with
position bookkeeping on every node: about twice a parse, for every file with
a finding, however small the finding. Top-level statements always start at
column 0, so a node's position is its position within its own top-level
statement, shifted by the lines before that statement. Only the statements
that hold reported nodes pay for position bookkeeping; the ones before them
pay a plain code generation to count their lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from repro_lint.traversal import descendants

# How libcst's position bookkeeping counts lines (libcst.metadata.position_provider).
_NEWLINE = re.compile(r"\r\n?|\n")


def node_positions(module: cst.Module, nodes: Iterable[cst.CSTNode]) -> Mapping[cst.CSTNode, CodeRange]:
    wanted = set(nodes)
    holders: dict[int, list[cst.CSTNode]] = {}  # top-level statement index -> wanted nodes in it
    remaining = set(wanted)
    for index, statement in enumerate(module.body):
        if not remaining:
            break
        for node in descendants(statement):
            if node in remaining:
                holders.setdefault(index, []).append(node)
                remaining.discard(node)
    if remaining:  # the module itself, or its header: the whole-module provider knows
        return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)

    positions: dict[cst.CSTNode, CodeRange] = {}
    lines_before = len(module.header)  # each header item is one whole line
    for index, statement in enumerate(module.body):
        if index > max(holders, default=-1):
            break
        if index in holders:
            alone = module.with_changes(header=(), body=(statement,), footer=())
            local = MetadataWrapper(alone, unsafe_skip_copy=True).resolve(PositionProvider)
            for node in holders[index]:
                where = local[node]
                positions[node] = CodeRange(
                    CodePosition(where.start.line + lines_before, where.start.column),
                    CodePosition(where.end.line + lines_before, where.end.column),
                )
        lines_before += len(_NEWLINE.findall(module.code_for_node(statement)))
    return positions
