"""Per-file facts, built in one traversal of the libcst tree.

Rules never walk the tree themselves. They ask a `FileFacts` for the calls,
assignments, imports, functions and classes it recorded, and resolve names
through it. Resolution is our own scope model rather than libcst's
`QualifiedNameProvider`, which costs about seven parses per file.
"""

from __future__ import annotations

import builtins
import functools
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import libcst as cst

from repro_lint.cst_values import argument, dotted, keyword_arg, literal_bool, string_value
from repro_lint.identity import ModuleIdentity
from repro_lint.module_work import does_work, is_main_guard
from repro_lint.traversal import TRIVIA, FieldOrder, descendants, dispatch

_BUILTINS = frozenset(dir(builtins))
_DEEP_TREE_FRAMES = 20_000

Statement = cst.BaseStatement | cst.BaseSmallStatement | cst.CSTNode  # the node itself outside any statement

GRAD_DISABLING = frozenset({
    "torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad", "torch.autograd.inference_mode",
    "torch.autograd.grad_mode.no_grad", "torch.autograd.grad_mode.inference_mode",
})
GRAD_SETTERS = frozenset({"torch.set_grad_enabled", "torch.autograd.set_grad_enabled",
                          "torch.autograd.grad_mode.set_grad_enabled"})


@dataclass(eq=False)
class Scope:
    """A Python scope: module, class, function, lambda or comprehension."""

    kind: str
    node: cst.CSTNode
    parent: Scope | None
    qualname: str = ""
    imports: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    locals: set[str] = field(default_factory=set)
    globals: set[str] = field(default_factory=set)
    nonlocals: set[str] = field(default_factory=set)

    def bind_import(self, name: str, target: str) -> None:
        self.imports[name].add(target)

    def bind_local(self, name: str) -> None:
        self.locals.add(name)

    def binds(self, name: str) -> bool:
        return name in self.imports or name in self.locals


@dataclass(eq=False)
class CallSite:
    """One call expression and where it sits."""

    node: cst.Call
    scope: Scope
    statement: Statement
    order: int
    qualname: str | None
    method: str | None  # attribute name when the callee is `<expr>.name`
    # The `with` items and decorators around the call, innermost last, each with the scope it
    # is evaluated in; only those that are in force when the call runs (not a `with` around
    # the `def` of the function that holds the call).
    contexts: tuple[tuple[cst.BaseExpression, Scope], ...] = ()
    # The tests of the `if` statements whose body (not `else`) holds the call, in its function.
    guards: tuple[cst.BaseExpression, ...] = ()

    def keyword(self, name: str) -> cst.Arg | None:
        return keyword_arg(self.node, name)

    def argument(self, position: int, name: str | None = None) -> cst.Arg | None:
        return argument(self.node, position, name)

    @property
    def has_star_kwargs(self) -> bool:
        return any(arg.star == "**" for arg in self.node.args)


@dataclass(eq=False)
class AssignSite:
    """One assignment target (`x.y = v`, `a, b = v1, v2` gives one per pair)."""

    node: cst.CSTNode  # the Assign/AnnAssign/AugAssign statement
    target: cst.BaseExpression
    value: cst.BaseExpression | None  # None when the value cannot be paired
    scope: Scope
    statement: Statement
    order: int
    target_qualname: str | None
    guards: tuple[cst.BaseExpression, ...] = ()  # the tests of the `if`s around it, as for `CallSite`


@dataclass(eq=False)
class LoopSite:
    """A `for` loop: what it iterates over and the names its target binds."""

    node: cst.For
    scope: Scope
    order: int
    names: frozenset[str]


@dataclass(eq=False)
class FunctionSite:
    node: cst.FunctionDef
    scope: Scope  # the function's own scope
    qualname: str  # dotted path inside the module, e.g. "Net.__init__"


@dataclass(eq=False)
class ClassSite:
    node: cst.ClassDef
    scope: Scope  # the class body's scope
    qualname: str
    base_qualnames: tuple[str, ...] = ()  # resolved bases; unresolvable ones are left out


@dataclass(eq=False)
class ImportSite:
    node: cst.Import | cst.ImportFrom
    statement: Statement
    scope: Scope
    order: int
    modules: tuple[str, ...]  # absolute module names imported (from-imports: the module)
    star: bool = False  # `from m import *`


_DICT_MUTATORS = frozenset({"update", "setdefault", "pop", "popitem", "clear", "__setitem__", "__delitem__"})


_NO_IDENTITY = ModuleIdentity()  # a module outside any project: no name


class FileFacts:
    """Everything the rules need to know about one parsed module."""

    def __init__(self, module: cst.Module, identity: ModuleIdentity = _NO_IDENTITY):
        self.module = module
        self.identity = identity
        self.module_name = identity.name
        self.is_package = identity.is_package
        self.calls: list[CallSite] = []
        self.assignments: list[AssignSite] = []
        self.loops: list[LoopSite] = []
        self.functions: list[FunctionSite] = []
        self.classes: list[ClassSite] = []
        self.imports: list[ImportSite] = []
        self.star_imports: list[str] = []  # modules the module scope imports `*` from, in order
        self.main_block: cst.If | None = None
        self.name_counts: Counter[str] = Counter()  # the names the code uses (attributes too; not the names it defines)
        self._main_block_ids: frozenset[int] | None = None
        self.module_scope: Scope = Scope("module", module, None)
        self._calls_by_name: dict[str, list[CallSite]] | None = None
        # The rules ask for each loader's splats once per argument; reading them scans the scope.
        self._splatted: dict[int, dict[str, cst.Arg] | None] = {}
        _FactsBuilder(self).build()
        self._resolve()

    # -- queries ---------------------------------------------------------

    def calls_to(self, *qualnames: str) -> list[CallSite]:
        """Calls whose callee resolves to one of `qualnames`, in source order."""
        if self._calls_by_name is None:
            index: dict[str, list[CallSite]] = defaultdict(list)
            for call in self.calls:
                if call.qualname:
                    index[call.qualname].append(call)
            self._calls_by_name = index
        found = [c for name in qualnames for c in self._calls_by_name.get(name, ())]
        return sorted(found, key=lambda c: c.order) if len(qualnames) > 1 else found

    def qualname(self, expr: cst.CSTNode, scope: Scope) -> str | None:
        """The dotted name `expr` refers to, through imports and aliases.

        `T.backends.cudnn` gives "torch.backends.cudnn" after `import torch as T`;
        a parameter or local named `torch` gives None; an unbound builtin gives
        "builtins.<name>".
        """
        parts: list[str] = []
        while isinstance(expr, cst.Attribute):
            parts.append(expr.attr.value)
            expr = expr.value
        if not isinstance(expr, cst.Name):
            return None
        base = self.resolve_name(expr.value, scope)
        if base is None:
            return None
        return ".".join([base, *reversed(parts)])

    def resolve_name(self, name: str, scope: Scope) -> str | None:
        found = self.binding_scope(name, scope)
        if found is None:
            if name in _BUILTINS:
                return f"builtins.{name}"
            # Bound by `from m import *`. With several star imports, which one binds it is for the
            # project to say: it is this module's global, which `ProjectFacts.canonical` follows.
            if len(self.star_imports) == 1:
                return f"{self.star_imports[0]}.{name}"
            return f"{self.module_name}.{name}" if self.star_imports and self.module_name else None
        if name in found.locals:
            return None
        targets = found.imports[name]
        return next(iter(targets)) if len(targets) == 1 else None

    def binding_scope(self, name: str, scope: Scope) -> Scope | None:
        """The scope whose binding of `name` a use in `scope` sees; None when nothing binds it."""
        current: Scope | None = scope
        first = True
        while current is not None:
            if name in current.globals:
                current = self.module_scope
            if current.kind == "class" and not first:
                current = current.parent
                continue
            first = False
            if current.binds(name):
                return current
            current = current.parent
        return None

    def module_alias(self, module: str) -> str | None:
        """A module-level name bound to `module` itself (`import torch as T` gives "T")."""
        scope = self.module_scope
        for name, targets in scope.imports.items():
            if targets == {module} and name not in scope.locals:
                return name
        return None

    def expression_for(self, qualname: str) -> str | None:
        """Source text that names `qualname` at module level, e.g. "T.manual_seed".

        Uses an existing import of the longest available prefix. None when
        nothing imported at module level reaches it.
        """
        parts = qualname.split(".")
        for cut in range(len(parts), 0, -1):
            alias = self.module_alias(".".join(parts[:cut]))
            if alias is not None:
                return ".".join([alias, *parts[cut:]])
        return None

    def in_main_block(self, node: cst.CSTNode) -> bool:
        """Whether `node` lies inside the top-level `if __name__ == "__main__":` block."""
        if self.main_block is None:
            return False
        if self._main_block_ids is None:
            self._main_block_ids = frozenset(id(inner) for inner in descendants(self.main_block))
        return id(node) in self._main_block_ids

    def value_before(self, name: str, call: CallSite) -> cst.BaseExpression | None:
        """The value last assigned to the plain name `name` in `call`'s scope before `call`."""
        assigned = [site for site in self._name_assignments.get((id(call.scope), name), ())
                    if site.order < call.order]
        return assigned[-1].value if assigned else None

    @functools.cached_property
    def _name_assignments(self) -> dict[tuple[int, str], list[AssignSite]]:
        """Assignments to plain names, by scope and name, in source order."""
        index: dict[tuple[int, str], list[AssignSite]] = {}
        for site in self.assignments:
            if isinstance(site.target, cst.Name):
                index.setdefault((id(site.scope), site.target.value), []).append(site)
        return index

    def values_before(self, name: str, call: CallSite) -> list[cst.BaseExpression]:
        """Every value assigned to the plain name `name` in `call`'s scope before `call`, on any
        path; for `a, b = f(...)`, the whole `f(...)`."""
        values: list[cst.BaseExpression] = []
        for site in self.assignments:
            if (site.scope is call.scope and site.order < call.order
                    and isinstance(site.target, cst.Name) and site.target.value == name):
                whole = site.node.value if isinstance(site.node, cst.Assign) else None
                value = site.value if site.value is not None else whole
                if value is not None:
                    values.append(value)
        return values

    def splatted_keywords(self, call: CallSite) -> dict[str, cst.Arg] | None:
        """The keywords `call`'s `**` splats pass, where each is a dict display with string keys or
        `dict(k=v, ...)`, written in the call or assigned to a name in the call's scope that nothing
        changes afterwards; {} without splats; None when a splat (or any `*args`) could pass anything."""
        if id(call) not in self._splatted:
            self._splatted[id(call)] = self._read_splats(call)
        return self._splatted[id(call)]

    def _read_splats(self, call: CallSite) -> dict[str, cst.Arg] | None:
        keywords: dict[str, cst.Arg] = {}
        for arg in call.node.args:
            if not arg.star:
                continue
            if arg.star == "*":
                return None
            value: cst.BaseExpression | None = arg.value
            if isinstance(arg.value, cst.Name):
                name = arg.value.value
                value = None if self._changed_in_place(name, call.scope) else self.value_before(name, call)
            entries = self._dict_entries(value, call.scope) if value is not None else None
            if entries is None:
                return None
            keywords.update(entries)
        return keywords

    def _changed_in_place(self, name: str, scope: Scope) -> bool:
        """`name[k] = v`, `del name[k]` or `name.update(...)` (or another mutating method) in `scope`."""
        def is_item_of_name(expr: cst.BaseExpression) -> bool:
            return isinstance(expr, cst.Subscript) and isinstance(expr.value, cst.Name) and expr.value.value == name

        if any(site.scope is scope and is_item_of_name(site.target) for site in self.assignments):
            return True
        for call in self.calls:
            func = call.node.func
            if (call.scope is scope and isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                    and func.value.value == name and func.attr.value in _DICT_MUTATORS):
                return True
        for node in descendants(scope.node):
            if isinstance(node, cst.Del):
                target = node.target
                targets = [e.value for e in target.elements] if isinstance(target, cst.Tuple) else [target]
                if any(is_item_of_name(item) for item in targets):
                    return True
        return False

    def _dict_entries(self, value: cst.BaseExpression, scope: Scope) -> dict[str, cst.Arg] | None:
        if isinstance(value, cst.Dict):
            entries: dict[str, cst.Arg] = {}
            for element in value.elements:
                key = string_value(element.key) if isinstance(element, cst.DictElement) else None
                if key is None:  # a `**other` element, or a key that is not a literal string
                    return None
                entries[key] = cst.Arg(value=element.value, keyword=cst.Name(key))
            return entries
        if (isinstance(value, cst.Call) and self.qualname(value.func, scope) == "builtins.dict"
                and all(a.keyword is not None and not a.star for a in value.args)):
            return {a.keyword.value: a for a in value.args if a.keyword is not None}
        return None

    def grad_disabled(self, call: CallSite) -> bool:
        """True when autograd is off where `call` runs: under `torch.no_grad()`, `torch.inference_mode()`
        or `torch.set_grad_enabled(False)`, as a `with` block or a decorator of the enclosing function."""
        for expr, scope in call.contexts:
            called = expr.func if isinstance(expr, cst.Call) else expr
            name = self.qualname(called, scope)
            if name in GRAD_DISABLING:
                return True
            if name in GRAD_SETTERS and isinstance(expr, cst.Call):
                enabled = argument(expr, 0, "mode")
                if enabled is not None and literal_bool(enabled.value) is False:
                    return True
        return False

    @property
    def is_program(self) -> bool:
        """True for a script: a `__main__` block, or module-level code that does work."""
        return self.main_block is not None or any(
            does_work(stmt) for stmt in self.module.body
        )

    def top_level_statements(self) -> Sequence[cst.BaseStatement]:
        return self.module.body

    def first_import_of(self, package: str) -> ImportSite | None:
        """The first module-level import statement that imports `package` or a submodule."""
        for site in self.imports:
            if site.scope is not self.module_scope:
                continue
            if any(m == package or m.startswith(package + ".") for m in site.modules):
                return site
        return None

    # -- building --------------------------------------------------------

    def _resolve(self) -> None:
        for call in self.calls:
            call.qualname = self.qualname(call.node.func, call.scope)
            func = call.node.func
            call.method = func.attr.value if isinstance(func, cst.Attribute) else None
        for site in self.assignments:
            site.target_qualname = self.qualname(site.target, site.scope)
        for cls in self.classes:
            outer = cls.scope.parent or self.module_scope
            names = (self.qualname(base.value, outer) for base in cls.node.bases)
            cls.base_qualnames = tuple(name for name in names if name)


def _target_names(target: cst.BaseExpression) -> Iterator[str]:
    """The plain names an assignment target binds: `x`, `(x, (y, z))`, `[a, *b]`."""
    pending = [target]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.Name):
            yield node.value
        elif isinstance(node, (cst.Tuple, cst.List)):
            pending.extend(element.value for element in node.elements)
        elif isinstance(node, cst.StarredElement):
            pending.append(node.value)


def _absolute_module(module: str, level: int, current: str, is_package: bool) -> str | None:
    """Resolve `from ..x import y` against the current module's dotted name."""
    if not current:
        return None
    parts = current.split(".")
    if not is_package:
        parts = parts[:-1]
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base) or None


class _FactsBuilder:
    """One pass over the module: scopes, bindings, calls, assignments, definitions."""

    def __init__(self, facts: FileFacts):
        self.facts = facts
        self.scope = facts.module_scope
        self.statements: list[Statement] = []
        self.contexts: list[tuple[cst.BaseExpression, Scope]] = []
        self.guards: list[cst.BaseExpression] = []
        self.order = 0

    def build(self) -> None:
        # Trees as deep as libcst builds them (implicitly concatenated strings nest one
        # level per string: the standard library's pydoc topics) need more than Python's
        # default 1000 frames; the walk takes two per level.
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, _DEEP_TREE_FRAMES))
        try:
            self.walk(self.facts.module)
        finally:
            sys.setrecursionlimit(limit)

    def walk(self, node: cst.CSTNode) -> None:
        """Call `visit_<Type>` and `leave_<Type>` over the subtree, as a libcst visitor would.

        Same callbacks, same order, without libcst's `visit`: it rebuilds every
        node it passes, even for a read-only visitor, which made this traversal
        cost two thirds of a parse. Walking the fields in place is about five
        times faster (benchmarks/profile_stages.py).
        """
        visit, leave, fields = dispatch(type(self), node)
        compound = isinstance(node, cst.BaseCompoundStatement)
        if compound:
            self.statements.append(node)  # type: ignore[arg-type]  # narrowed by `compound`
        if visit is None or visit(self, node) is not False:
            self.walk_children(node, fields)
        if leave is not None:
            leave(self, node)
        if compound:
            self.statements.pop()

    def walk_children(self, node: cst.CSTNode, fields: FieldOrder | None = None) -> None:
        for name in (fields or dispatch(type(self), node)[2])(node):
            value = getattr(node, name)
            if isinstance(value, cst.CSTNode):
                if type(value) not in TRIVIA:
                    self.walk(value)
            elif type(value) is tuple or type(value) is list:
                for item in value:
                    if isinstance(item, cst.CSTNode) and type(item) not in TRIVIA:
                        self.walk(item)

    def _next(self) -> int:
        self.order += 1
        return self.order

    def _push(self, kind: str, node: cst.CSTNode, name: str = "") -> Scope:
        qual = f"{self.scope.qualname}.{name}".lstrip(".") if name else self.scope.qualname
        self.scope = Scope(kind, node, self.scope, qualname=qual)
        return self.scope

    def _pop(self) -> None:
        assert self.scope.parent is not None
        self.scope = self.scope.parent

    # statements ---------------------------------------------------------

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.statements.append(node)

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine) -> None:
        self.statements.pop()

    def visit_If(self, node: cst.If) -> bool:
        # Only a top-level `if __name__ == "__main__":` is the program's entry block.
        top_level = self.statements == [node]
        if top_level and self.facts.main_block is None and is_main_guard(node):
            self.facts.main_block = node
        runs = literal_bool(node.test)
        if runs is None:
            self.walk(node.test)
            self.guards.append(node.test)
            self.walk(node.body)
            self.guards.pop()
            if node.orelse is not None:
                self.walk(node.orelse)
            return False
        # `if True:` / `if 0:`: the branch that never runs is not part of the program.
        if runs:
            self.walk(node.body)
        elif node.orelse is not None:
            self.walk(node.orelse)
        return False

    def visit_With(self, node: cst.With) -> bool:
        for item in node.items:
            self.walk(item)
        self.contexts.extend((item.item, self.scope) for item in node.items)
        self.walk(node.body)
        del self.contexts[len(self.contexts) - len(node.items):]
        return False

    def _walk_body_later(self, body: cst.CSTNode, decorators: Sequence[cst.Decorator], outer: Scope) -> None:
        """A function body runs when called: in its decorators' contexts, not in the `with` around the `def`."""
        enclosing, guards = self.contexts, self.guards
        self.contexts, self.guards = [(d.decorator, outer) for d in decorators], []
        self.walk(body)
        self.contexts, self.guards = enclosing, guards

    # scopes and bindings -----------------------------------------------

    def _bind_definition(self, name: str) -> None:
        # A def or class resolves like an import of "<module>.<path>", so that
        # calls to project functions get a name the project pass can look up.
        path = f"{self.scope.qualname}.{name}".lstrip(".")
        module = self.facts.module_name
        self._binding_scope(name).bind_import(name, f"{module}.{path}" if module else path)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self._bind_definition(node.name.value)
        for decorator in node.decorators:
            self.walk(decorator)
        for default in _parameter_defaults(node.params):
            self.walk(default)
        outer = self.scope
        scope = self._push("function", node, node.name.value)
        for param in parameter_names(node.params):
            scope.bind_local(param)
        self.facts.functions.append(FunctionSite(node, scope, scope.qualname))
        self._walk_body_later(node.body, node.decorators, outer)
        self._pop()
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        for default in _parameter_defaults(node.params):
            self.walk(default)
        scope = self._push("lambda", node)
        for param in parameter_names(node.params):
            scope.bind_local(param)
        self._walk_body_later(node.body, (), scope)
        self._pop()
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._bind_definition(node.name.value)
        for decorator in node.decorators:
            self.walk(decorator)
        for base in [*node.bases, *node.keywords]:
            self.walk(base)
        scope = self._push("class", node, node.name.value)
        self.facts.classes.append(ClassSite(node, scope, scope.qualname))
        self.walk(node.body)
        self._pop()
        return False

    def _visit_comprehension(self, node: cst.CSTNode) -> bool:
        self._push("comprehension", node)
        self.walk_children(node)
        self._pop()
        return False

    def visit_ListComp(self, node: cst.ListComp) -> bool:
        return self._visit_comprehension(node)

    def visit_SetComp(self, node: cst.SetComp) -> bool:
        return self._visit_comprehension(node)

    def visit_DictComp(self, node: cst.DictComp) -> bool:
        return self._visit_comprehension(node)

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        return self._visit_comprehension(node)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._bind_target(node.target)

    def visit_Global(self, node: cst.Global) -> None:
        self.scope.globals.update(n.name.value for n in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.scope.nonlocals.update(n.name.value for n in node.names)

    def _binding_scope(self, name: str) -> Scope:
        return self.facts.module_scope if name in self.scope.globals else self.scope

    def _bind_target(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self._binding_scope(target.value).bind_local(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind_target(element.value)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value)

    def visit_Import(self, node: cst.Import) -> bool:
        modules = []
        for alias in node.names:
            full = self.facts.identity.absolute_import(dotted(alias.name))
            modules.append(full)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._binding_scope(alias.asname.name.value).bind_import(alias.asname.name.value, full)
            else:
                top = dotted(alias.name).split(".")[0]  # `import a.b` binds `a`
                self._binding_scope(top).bind_import(top, self.facts.identity.absolute_import(top))
        self._record_import(node, modules)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        level = len(node.relative)
        module = dotted(node.module) if node.module is not None else ""
        absolute = (self.facts.identity.absolute_import(module) if level == 0
                    else _absolute_module(module, level, self.facts.module_name, self.facts.is_package))
        if absolute is None:
            absolute = "." * level + module
        self._record_import(node, [absolute])
        if isinstance(node.names, cst.ImportStar):
            if self.scope is self.facts.module_scope:
                self.facts.star_imports.append(absolute)
            return False
        for alias in node.names:
            name = dotted(alias.name)
            bound = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                bound = alias.asname.name.value
            self._binding_scope(bound).bind_import(bound, f"{absolute}.{name}")
        return False

    def _record_import(self, node: cst.Import | cst.ImportFrom, modules: list[str]) -> None:
        statement = self.statements[-1] if self.statements else node
        star = isinstance(node, cst.ImportFrom) and isinstance(node.names, cst.ImportStar)
        self.facts.imports.append(ImportSite(node, statement, self.scope, self._next(), tuple(modules), star))

    def visit_AsName(self, node: cst.AsName) -> None:
        # `with x as y` / `except E as y`; imports never reach here (their visit returns False).
        self._bind_target(node.name)

    def visit_For(self, node: cst.For) -> None:
        self._bind_target(node.target)
        self.facts.loops.append(LoopSite(node, self.scope, self._next(), frozenset(_target_names(node.target))))

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        scope = self.scope
        while scope.kind == "comprehension" and scope.parent is not None:
            scope = scope.parent
        if isinstance(node.target, cst.Name):
            scope.bind_local(node.target.value)

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self._bind_target(node.name)

    # calls and assignments ---------------------------------------------

    def visit_Name(self, node: cst.Name) -> None:
        self.facts.name_counts[node.value] += 1

    def visit_Call(self, node: cst.Call) -> None:
        statement = self.statements[-1] if self.statements else node
        self.facts.calls.append(
            CallSite(node, self.scope, statement, self._next(), None, None, tuple(self.contexts), tuple(self.guards))
        )

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._record_assignment(node, target.target, node.value)
            self._bind_target(target.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._record_assignment(node, node.target, node.value)
        self._bind_target(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._record_assignment(node, node.target, None)
        self._bind_target(node.target)

    def _record_assignment(
        self, node: cst.CSTNode, target: cst.BaseExpression, value: cst.BaseExpression | None
    ) -> None:
        statement = self.statements[-1] if self.statements else node
        pairs: list[tuple[cst.BaseExpression, cst.BaseExpression | None]] = [(target, value)]
        if isinstance(target, (cst.Tuple, cst.List)):
            values = value.elements if isinstance(value, (cst.Tuple, cst.List)) else None
            if values is not None and len(values) == len(target.elements):
                pairs = [(t.value, v.value) for t, v in zip(target.elements, values)]
            else:
                pairs = [(t.value, None) for t in target.elements]
        for single_target, single_value in pairs:
            self.facts.assignments.append(
                AssignSite(node, single_target, single_value, self.scope, statement, self._next(), None,
                           tuple(self.guards))
            )


def parameter_names(params: cst.Parameters) -> Iterator[str]:
    """Every name the parameters bind, `*args` and `**kwargs` included."""
    for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
        yield param.name.value
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            yield star.name.value


def _parameter_defaults(params: cst.Parameters) -> Iterator[cst.BaseExpression]:
    for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
        if param.default is not None:
            yield param.default
