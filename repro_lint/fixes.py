"""Applying fixes: all of a file's fixes in one transformation, conflicts dropped.

A fix is applied whole or not at all. When two fixes touch the same node, or
one replaces a node inside another's, the later one waits for the next round;
the engine re-lints and repeats until nothing changes.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence

import libcst as cst

from repro_lint.rule import AddImport, Fix, Insert, Replace
from repro_lint.traversal import descendants


def apply_fixes(module: cst.Module, fixes: Sequence[Fix]) -> tuple[cst.Module, list[Fix]]:
    """Apply the non-conflicting subset of `fixes`; return the new module and what was applied."""
    chosen: list[Fix] = []
    replaced: dict[cst.CSTNode, cst.CSTNode] = {}
    for fix in fixes:
        targets = [e.node for e in fix.edits if isinstance(e, Replace)]
        if any(t in replaced or _overlaps(t, replaced) for t in targets):
            continue
        for edit in fix.edits:
            if isinstance(edit, Replace):
                replaced[edit.node] = edit.replacement
        chosen.append(fix)
    if not chosen:
        return module, []

    inserts: dict[tuple[cst.CSTNode, bool], list[str]] = defaultdict(list)
    imports: list[AddImport] = []
    for fix in chosen:
        for edit in fix.edits:
            if isinstance(edit, Insert):
                codes = inserts[(edit.anchor, edit.after)]
                if edit.code not in codes:  # two rules asking for the same block get it once
                    codes.append(edit.code)
            elif isinstance(edit, AddImport) and edit not in imports:
                imports.append(edit)

    transformer = _FixTransformer(replaced, inserts, _parsing_config(module))
    fixed = module.visit(transformer)
    if imports:
        fixed = _add_imports(fixed, imports)
    return fixed, chosen


def _parsing_config(module: cst.Module) -> cst.PartialParserConfig:
    """How to parse inserted code so that it matches the module.

    libcst refuses an indent containing form feeds (`"\\x0c\\t"`) in its own config;
    Python's tokenizer resets the column at a form feed, so without them the indent
    means the same.
    """
    try:
        return module.config_for_parsing
    except ValueError:
        indent = module.default_indent.replace("\x0c", "") or "    "
        return cst.PartialParserConfig(default_indent=indent, default_newline=module.default_newline,
                                       encoding=module.encoding)


def _overlaps(node: cst.CSTNode, replaced: dict[cst.CSTNode, cst.CSTNode]) -> bool:
    """True when `node` contains, or lies inside, a node already being replaced."""
    if any(_contains(node, other) or _contains(other, node) for other in replaced):
        return True
    return False


def _contains(outer: cst.CSTNode, inner: cst.CSTNode) -> bool:
    return inner is not outer and any(node is inner for node in descendants(outer))


class _FixTransformer(cst.CSTTransformer):
    def __init__(
        self,
        replaced: dict[cst.CSTNode, cst.CSTNode],
        inserts: dict[tuple[cst.CSTNode, bool], list[str]],
        config: cst.PartialParserConfig,
    ):
        self.replaced = replaced
        self.inserts = inserts
        self.config = config

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):  # type: ignore[override]
        if original_node in self.replaced:
            return self.replaced[original_node]
        if self.inserts and isinstance(updated_node, (cst.Module, cst.IndentedBlock)):
            body = list(self._spliced(original_node.body, updated_node.body))  # type: ignore[attr-defined]
            return updated_node.with_changes(body=body)
        return updated_node

    def _spliced(
        self, originals: Sequence[cst.BaseStatement], updated: Sequence[cst.BaseStatement]
    ) -> Iterable[cst.BaseStatement]:
        for original, new in zip(originals, updated):
            yield from self._statements(self.inserts.get((original, False), ()))
            yield new
            yield from self._statements(self.inserts.get((original, True), ()))

    def _statements(self, codes: Iterable[str]) -> Iterable[cst.BaseStatement]:
        for code in codes:
            parsed = cst.parse_module(code, config=self.config)
            body = list(parsed.body)
            # libcst files leading blank lines under the module header; keep them with the code.
            if body and parsed.header:
                body[0] = body[0].with_changes(leading_lines=[*parsed.header, *body[0].leading_lines])
            yield from body


def _add_imports(module: cst.Module, imports: Sequence[AddImport]) -> cst.Module:
    existing = _top_level_imports(module)
    lines = []
    for item in imports:
        if (item.module, item.alias) in existing:
            continue
        lines.append(f"import {item.module}" + (f" as {item.alias}" if item.alias else ""))
    if not lines:
        return module
    body: list[cst.BaseStatement] = list(module.body)
    for statement in cst.parse_module("\n".join(lines) + "\n", config=_parsing_config(module)).body:
        _place_import(body, statement, header_end(module.with_changes(body=body)))
    return module.with_changes(body=body)


def _place_import(body: list[cst.BaseStatement], statement: cst.BaseStatement, block_end: int) -> None:
    """Put an `import x` line where isort would: its section (standard library, then third
    party), `import` lines before `from` lines, alphabetical; blank lines stay between sections."""
    assert isinstance(statement, cst.SimpleStatementLine)
    key = _import_key(statement)
    start = 1 if body and _is_docstring(body[0]) else 0
    for index in range(start, block_end):
        existing = body[index]
        assert isinstance(existing, cst.SimpleStatementLine)  # the leading block holds import lines only
        if _import_key(existing) > key:
            if _import_key(existing)[0] == key[0] and index > start:
                # Joining the section that starts here: the blank line above it moves up too.
                statement = statement.with_changes(leading_lines=existing.leading_lines)
                existing = existing.with_changes(leading_lines=())
                body[index] = existing
            elif _import_key(existing)[0] != key[0] and not existing.leading_lines:
                body[index] = existing.with_changes(leading_lines=[cst.EmptyLine()])  # a new section above
            body.insert(index, statement)
            return
    if block_end > start:
        previous = body[block_end - 1]
        assert isinstance(previous, cst.SimpleStatementLine)
        if _import_key(previous)[0] != key[0]:
            statement = statement.with_changes(leading_lines=[cst.EmptyLine()])
    body.insert(block_end, statement)


def _import_key(line: cst.SimpleStatementLine) -> tuple[int, int, str]:
    first = line.body[0]
    if isinstance(first, cst.ImportFrom):
        if first.relative:
            return 3, 1, ""  # the package's own modules come last
        module = cst.Module([]).code_for_node(first.module) if first.module is not None else ""
        kind = 1
    else:
        assert isinstance(first, cst.Import)
        module, kind = cst.Module([]).code_for_node(first.names[0].name), 0
    top = module.split(".")[0]
    section = 0 if top == "__future__" else 1 if top in sys.stdlib_module_names else 2
    return section, kind, module.lower()


def _top_level_imports(module: cst.Module) -> set[tuple[str, str | None]]:
    found = set()
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Import):
                    for alias in small.names:
                        name = cst.Module([]).code_for_node(alias.name)
                        named = alias.asname is not None and isinstance(alias.asname.name, cst.Name)
                        asname = alias.asname.name.value if named else None  # type: ignore[union-attr]
                        found.add((name, asname))
    return found


def header_end(module: cst.Module) -> int:
    """Index of the first statement after the docstring, `__future__` imports and leading imports."""
    index = 0
    body = module.body
    if body and _is_docstring(body[0]):
        index = 1
    while index < len(body) and _is_import_line(body[index]):
        index += 1
    return index


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _is_import_line(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body
    )


def insert_at_program_start(module: cst.Module, main_block: cst.If | None, code: str) -> Insert:
    """Insert `code` where a program's setup belongs: the top of its `__main__` block,
    else after the module's leading imports."""
    if main_block is not None and isinstance(main_block.body, cst.IndentedBlock):
        return Insert(main_block.body.body[0], code)
    position = header_end(module)
    if position > 0:
        return Insert(module.body[position - 1], code, after=True)
    if not module.body:
        raise ValueError("an empty module has no program start")
    return Insert(module.body[0], code)
