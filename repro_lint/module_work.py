"""Whether a module is a program: module-level code that does work, or a `__main__` block.

Definitions, imports and setup (warnings, logging, environment reads, `if
TYPE_CHECKING:` imports) do no work; a call, a loop or an attribute assignment
(a torch flag other code sees) does.
"""

from __future__ import annotations

import libcst as cst

from repro_lint.cst_values import dotted, string_value
from repro_lint.traversal import child_nodes


def does_work(stmt: cst.BaseStatement) -> bool:
    """Module-level code that runs something at import, beyond definitions."""
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        return False
    if isinstance(stmt, cst.If):
        # `if TYPE_CHECKING:` imports, `if sys.version_info ...:` fallbacks: work only if a branch works.
        if is_main_guard(stmt):
            return True
        branches: list[cst.CSTNode] = [stmt.body]
        orelse = stmt.orelse
        while orelse is not None:
            branches.append(orelse.body)
            orelse = orelse.orelse if isinstance(orelse, cst.If) else None
        return any(_blockdoes_work(branch) for branch in branches)
    if isinstance(stmt, cst.Try):
        return _blockdoes_work(stmt.body)
    if isinstance(stmt, cst.SimpleStatementLine):
        return any(_smalldoes_work(s) for s in stmt.body)
    return isinstance(stmt, (cst.For, cst.While, cst.With, cst.Match))


def _blockdoes_work(block: cst.CSTNode) -> bool:
    body = getattr(block, "body", ())
    if isinstance(body, cst.BaseSmallStatement):  # `if x: pass` on one line
        return _smalldoes_work(body)
    return any(does_work(s) if isinstance(s, cst.BaseStatement) else _smalldoes_work(s) for s in body)


# Module-level calls that configure the process rather than do the program's work.
_SETUP_CALLS = ("warnings.", "logging.", "sys.path.", "os.environ", "os.getenv", "os.path.", "sys.setrecursionlimit")


def _smalldoes_work(stmt: cst.BaseSmallStatement) -> bool:
    if isinstance(stmt, (cst.Import, cst.ImportFrom, cst.Pass, cst.TypeAlias)):
        return False
    if isinstance(stmt, cst.Expr):
        if isinstance(stmt.value, cst.Call) and dotted(stmt.value.func).startswith(_SETUP_CALLS):
            return False
        return not isinstance(stmt.value, (cst.SimpleString, cst.ConcatenatedString, cst.Ellipsis))
    if isinstance(stmt, cst.Assign) and any(isinstance(t.target, cst.Attribute) for t in stmt.targets):
        return True  # `torch.backends.cudnn.benchmark = True`: sets state other code sees
    if isinstance(stmt, (cst.Assign, cst.AnnAssign)):
        value = stmt.value
        if isinstance(value, cst.Call) and dotted(value.func).startswith(_SETUP_CALLS):
            return False
        return value is not None and _contains_call(value)
    return True


def _contains_call(expr: cst.CSTNode) -> bool:
    # A loop, not recursion: module-level data can nest thousands of levels deep.
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call):
            # TypeVar("T"), NewType(...), namedtuple(...) are definitions, not work.
            func = node.func
            name = func.value if isinstance(func, cst.Name) else getattr(getattr(func, "attr", None), "value", "")
            if name not in {"TypeVar", "NewType", "namedtuple", "ParamSpec", "TypeVarTuple", "field", "getLogger"}:
                return True
            continue
        stack.extend(child_nodes(node))
    return False


def is_main_guard(node: cst.If) -> bool:
    test = node.test
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    left, right = test.left, test.comparisons[0].comparator
    if not isinstance(test.comparisons[0].operator, cst.Equal):
        return False
    names = {getattr(left, "value", None), getattr(right, "value", None)}
    strings = {string_value(left), string_value(right)}
    return "__name__" in names and "__main__" in strings


