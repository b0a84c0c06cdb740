"""Project-wide facts, from one pass over every linted file.

Each file is reduced to a `FileSummary`: its functions, the effects each has
directly (see `repro_lint.effects`), the project functions each calls,
and the module's re-exports. `ProjectFacts` joins them, so a rule can ask
what a call does, following helpers across files.

Rules ask `ProjectFacts` through its query methods only. While `recording()`
is on, the answers are logged: a file's findings depend on the project only
through them, so a cached or speculative result stays valid for as long as
`answers_agree(log)` (see `repro_lint.runner`).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import libcst as cst

from repro_lint.argparse_defaults import UNKNOWN, Condition, conditions_for_the_project, declared_options
from repro_lint.catalog import load_catalog
from repro_lint.cst_values import constructed, is_none, is_self_attribute
from repro_lint.effects import (
    COMPUTES_GRADIENTS,
    DREW,
    HELD_ATTRIBUTE_CALL,
    LOADS_WEIGHTS,
    OPAQUE_CALL,
    assignment_effects,
    call_effects,
    runs_only_with_options,
)
from repro_lint.facts import AssignSite, CallSite, ClassSite, FileFacts, FunctionSite, Scope
from repro_lint.identity import ModuleIdentity


@dataclass(frozen=True)
class FunctionSummary:
    effects: frozenset[str]
    callees: tuple[str, ...]
    # Called only under an `if` on a command-line option that is off by default: they run, so
    # they are reachable, but what they do does not count as done (see `runs_only_with_options`).
    optional_callees: tuple[str, ...] = ()
    # Called under an `if` on options other files declare: the project tells whether they run by default.
    guarded_callees: tuple[tuple[str, tuple[Condition, ...]], ...] = ()


class HeldParameter(NamedTuple):
    """`self.<attribute> = <parameter>` in a class's `__init__`: what the caller passes is what is held."""

    attribute: str
    parameter: str
    position: int  # among the arguments a caller passes (after `self`)
    defaults_to_none: bool


def _held_parameters(facts: FileFacts, prefix: str) -> dict[str, tuple[HeldParameter, ...]]:
    found: dict[str, tuple[HeldParameter, ...]] = {}
    for function in facts.functions:
        scope = function.scope
        if function.node.name.value != "__init__" or scope.parent is None or scope.parent.kind != "class":
            continue
        params = function.node.params.params[1:]
        by_name = {param.name.value: (index, param) for index, param in enumerate(params)}
        held = []
        for site in facts.assignments:
            target, value = site.target, site.value
            if (site.scope is scope and is_self_attribute(target) and isinstance(value, cst.Name)
                    and value.value in by_name):
                index, param = by_name[value.value]
                held.append(HeldParameter(target.attr.value, value.value, index,
                                          param.default is not None and is_none(param.default)))
        if held:
            found[prefix + scope.parent.qualname] = tuple(held)
    return found


@dataclass
class _Callees:
    """What one function calls by name, split by whether it runs with the parser's defaults."""

    certain: list[str] = field(default_factory=list)
    optional: list[str] = field(default_factory=list)  # under an `if` this file's options make false
    guarded: list[tuple[str, tuple[Condition, ...]]] = field(default_factory=list)

    def add(self, callee: str, call: CallSite | AssignSite, facts: FileFacts) -> None:
        if runs_only_with_options(call, facts):
            self.optional.append(callee)
        elif conditions := conditions_for_the_project(call, facts):
            self.guarded.append((callee, conditions))
        else:
            self.certain.append(callee)


def _named_in(value: cst.BaseExpression | None, scope: Scope, facts: FileFacts) -> Iterator[str]:
    """What `value` names: itself, or what the elements of a literal collection name (nested)."""
    if isinstance(value, (cst.Name, cst.Attribute)):
        name = facts.qualname(value, scope)
        if name is not None:
            yield name
    for element in _elements(value) or ():
        yield from _named_in(element, scope, facts)


def _elements(value: cst.BaseExpression | None) -> list[cst.BaseExpression] | None:
    """The elements of a literal list or tuple, or the values of a literal dict; None for anything else."""
    if isinstance(value, cst.Dict):
        return [e.value for e in value.elements if isinstance(e, cst.DictElement)]
    if isinstance(value, (cst.List, cst.Tuple)):
        return [e.value for e in value.elements]
    return None


def _own_method(call: CallSite, methods: set[str], prefix: str) -> str | None:
    """`self.m(...)` in a method of class `C` that defines `m`: the project function `C.m`."""
    func = call.node.func
    scope = call.scope
    if not is_self_attribute(func):
        return None
    if scope.kind != "function" or scope.parent is None or scope.parent.kind != "class":
        return None
    method = f"{scope.parent.qualname}.{func.attr.value}"
    return prefix + method if method in methods else None


def _held_instances(facts: FileFacts) -> dict[tuple[int, str], str]:
    """Per class scope and attribute, the class every `self.<attribute> = C(...)` in its methods builds
    (`self.sampler = ProposalTargetCreator()`); attributes also assigned anything else are left out."""
    built: dict[tuple[int, str], set[str | None]] = defaultdict(set)
    for site in facts.assignments:
        method = site.scope
        if not is_self_attribute(site.target) or method.kind != "function" or method.parent is None:
            continue
        call = constructed(site.value)
        name = facts.qualname(call.func, method) if call is not None else None
        built[(id(method.parent), site.target.attr.value)].add(name)
    return {key: name for key, names in built.items() if len(names) == 1 for name in names if name is not None}


def _held_instance_method(call: CallSite, held_instances: dict[tuple[int, str], str]) -> str | None:
    """`self.a(...)` or `self.a.m(...)` in a method, where the class holds one kind of object in `a`:
    that class's `__call__` or `m`."""
    func = call.node.func
    method = call.scope
    if not isinstance(func, cst.Attribute) or method.kind != "function" or method.parent is None:
        return None
    if is_self_attribute(func):
        attribute, called = func.attr.value, "__call__"
    elif is_self_attribute(func.value):
        attribute, called = func.value.attr.value, func.attr.value
    else:
        return None
    cls = held_instances.get((id(method.parent), attribute))
    return f"{cls}.{called}" if cls is not None else None


def _registries(facts: FileFacts, prefix: str) -> dict[str, list[str]]:
    """Module-level dicts, lists and tuples of functions or classes, by name, with their entries."""
    registries: dict[str, list[str]] = {}
    for site in facts.assignments:
        if site.scope is not facts.module_scope or not isinstance(site.target, cst.Name):
            continue
        items = _elements(site.value)
        if items is None:
            continue
        entries = [name for item in items if isinstance(item, (cst.Name, cst.Attribute))
                   for name in [facts.qualname(item, facts.module_scope)] if name]
        if entries:
            registries[prefix + site.target.value] = entries
    return registries


def _registry_entry(call: CallSite, facts: FileFacts) -> str | None:
    """`registry[key](...)`: the registry called through."""
    func = call.node.func
    return facts.qualname(func.value, call.scope) if isinstance(func, cst.Subscript) else None


def _bound_by_partial(call: CallSite, facts: FileFacts) -> str | None:
    """The function `functools.partial(f, ...)` binds."""
    if call.qualname != "functools.partial" or not call.node.args or call.node.args[0].star:
        return None
    return facts.qualname(call.node.args[0].value, call.scope)


def fire_commands(call: CallSite, facts: FileFacts) -> list[str]:
    """The functions of this file that `fire.Fire(...)` may run: the command line names one of those
    it is given, or with no argument any of the module's top-level functions."""
    if call.qualname != "fire.Fire":
        return []
    prefix = f"{facts.module_name}." if facts.module_name else ""
    top_level = {prefix + f.scope.qualname for f in facts.functions if "." not in f.scope.qualname}
    if not call.node.args:
        return sorted(top_level)
    return [name for name in _named_in(call.node.args[0].value, call.scope, facts) if name in top_level]


def _calls_a_held_callable(call: CallSite) -> bool:
    """`fn(x)`, `self.transform(x)`, `make()(x)`: what runs is decided at run time. A method of
    another value (`image.resize(...)`) is taken to be that value's own, known code."""
    func = call.node.func
    return is_self_attribute(func) or not isinstance(func, cst.Attribute)


@dataclass(frozen=True)
class FileSummary:
    module_name: str
    functions: dict[str, FunctionSummary]  # keyed by "<module>.<path>"
    classes: frozenset[str]
    aliases: dict[str, str]  # module-level imported names, for re-exports
    imported_modules: frozenset[str]
    module_effects: frozenset[str] = frozenset()  # what the module's own top-level code does
    module_callees: tuple[str, ...] = ()  # what its top-level code calls
    module_optional_callees: tuple[str, ...] = ()  # see `FunctionSummary.optional_callees`
    module_guarded_callees: tuple[tuple[str, tuple[Condition, ...]], ...] = ()
    options: dict[str, Any] = field(default_factory=dict)  # the defaults of the options it declares
    held_parameters: dict[str, tuple[HeldParameter, ...]] = field(default_factory=dict)  # by class
    is_program: bool = False  # a script by its own code: see `FileFacts.is_program`
    has_main_block: bool = False  # a top-level `if __name__ == "__main__":`
    star_imports: tuple[str, ...] = ()  # `from m import *` at module level, in order
    # Modules imported only by `*`: a program runs their code only where it calls what they define.
    star_only_imports: frozenset[str] = frozenset()
    other_names: tuple[str, ...] = ()  # see `ModuleIdentity.other_names`
    class_bases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the resolved bases of each class
    # Top-level functions and classes that the module never names again: its own code cannot run them.
    unreferenced: frozenset[str] = frozenset()
    builds_cudnn_convolutions: bool = False  # calls a cuDNN-backed op of the catalog by name (`nn.Conv2d`)


MAIN_BLOCK = "__main__"  # what `enclosing_function` names code in the `__main__` block


def enclosing_function(scope: Scope, facts: FileFacts, node: cst.CSTNode) -> str:
    """The project name of the function whose body holds `node` in `scope` ("<module>.<path>"),
    MAIN_BLOCK inside the `__main__` block, or "" elsewhere at module level (class bodies included)."""
    function = _function_of(scope, facts)
    if function is None:
        return MAIN_BLOCK if facts.in_main_block(node) else ""
    return function


def _function_of(scope: Scope, facts: FileFacts) -> str | None:
    while scope is not None and scope.kind not in ("function", "module"):
        scope = scope.parent  # type: ignore[assignment]
    if scope is None or scope.kind == "module":
        return None
    return f"{facts.module_name}.{scope.qualname}" if facts.module_name else scope.qualname


def placeholder_summary(identity: ModuleIdentity) -> FileSummary:
    """A linted module whose summary is not known yet: its names resolve imports, and it does nothing."""
    return FileSummary(identity.name, {}, frozenset(), {}, frozenset(), other_names=identity.other_names)


def summarize(facts: FileFacts) -> FileSummary:
    prefix = f"{facts.module_name}." if facts.module_name else ""
    # Keyed by function, "" for the module's top-level code.
    effects: dict[str, set[str]] = {"": set()}
    callees: dict[str, _Callees] = {"": _Callees()}
    for function in facts.functions:
        key = _function_of(function.scope, facts)
        assert key is not None
        effects[key] = set()
        callees[key] = _Callees()
    # A registry (`DiT_models = {"DiT-XL/2": DiT_XL_2, ...}`) is summarised as a function calling
    # its entries: `DiT_models[args.model](...)` calls one of them.
    for name, entries in _registries(facts, prefix).items():
        effects[name] = set()
        callees[name] = _Callees(entries)
    methods = {function.scope.qualname for function in facts.functions}
    classes = {prefix + c.qualname for c in facts.classes}
    held_instances = _held_instances(facts)
    for call in facts.calls:
        owner = _function_of(call.scope, facts) or ""
        effects[owner] |= call_effects(call, facts)
        callee = (call.qualname or _own_method(call, methods, prefix) or _registry_entry(call, facts)
                  or _held_instance_method(call, held_instances))
        if callee:
            callees[owner].add(callee, call, facts)
        elif _calls_a_held_callable(call):
            func = call.node.func
            held = HELD_ATTRIBUTE_CALL + func.attr.value if is_self_attribute(func) else OPAQUE_CALL
            effects[owner].add(held)
        # A class of this file handed to a call (`ResNet(BasicBlock, [2, 2, 2, 2])`) is built there.
        for arg in call.node.args:
            for passed in _named_in(arg.value, call.scope, facts):
                if passed in classes:
                    callees[owner].add(passed, call, facts)
        for command in fire_commands(call, facts):
            callees[owner].add(command, call, facts)
        bound = _bound_by_partial(call, facts)
        if bound:  # `partial(Task.iter_batches, ...)` is called later under another name
            callees[owner].certain.append(bound)
    for site in facts.assignments:
        owner = _function_of(site.scope, facts) or ""
        effects[owner] |= assignment_effects(site, facts)
        # A class of this file stored for later (`block = Bottleneck`, `{18: (BasicBlock, [2, 2])}`) is built later.
        for stored in _named_in(site.value, site.scope, facts):
            if stored in classes:
                callees[owner].add(stored, site, facts)
    module_effects = effects.pop("")
    module_callees = callees.pop("")
    module_scope = facts.module_scope
    aliases = {
        name: next(iter(targets))
        for name, targets in module_scope.imports.items()
        if len(targets) == 1 and name not in module_scope.locals
    }
    named_imports = {m for site in facts.imports if not site.star for m in site.modules}
    return FileSummary(
        module_name=facts.module_name,
        functions={
            k: FunctionSummary(frozenset(effects[k]), tuple(callees[k].certain), tuple(callees[k].optional),
                               tuple(callees[k].guarded))
            for k in effects
        },
        classes=frozenset(prefix + c.qualname for c in facts.classes),
        class_bases={prefix + c.qualname: c.base_qualnames for c in facts.classes},
        aliases=aliases,
        imported_modules=frozenset(m for site in facts.imports for m in site.modules),
        module_effects=frozenset(module_effects),
        module_callees=tuple(module_callees.certain),
        module_optional_callees=tuple(module_callees.optional),
        module_guarded_callees=tuple(module_callees.guarded),
        options=dict(declared_options(facts)),
        held_parameters=_held_parameters(facts, prefix),
        is_program=facts.is_program,
        has_main_block=facts.main_block is not None,
        star_imports=tuple(facts.star_imports),
        star_only_imports=frozenset(facts.star_imports) - named_imports,
        other_names=facts.identity.other_names,
        builds_cudnn_convolutions=_builds_cudnn_convolutions(facts),
        unreferenced=_unreferenced_definitions(facts, prefix),
    )


def _unreferenced_definitions(facts: FileFacts, prefix: str) -> frozenset[str]:
    sites: list[FunctionSite | ClassSite] = [*facts.functions, *facts.classes]
    return frozenset(
        prefix + site.node.name.value for site in sites
        if site.scope.parent is facts.module_scope and not site.node.decorators  # a decorator may register it
        and not facts.name_counts[site.node.name.value]
    )


def _builds_cudnn_convolutions(facts: FileFacts) -> bool:
    catalog = load_catalog()
    return any(
        entry.cudnn
        for call in facts.calls if call.qualname is not None
        for entry in (*catalog.for_module(call.qualname), *catalog.for_function(call.qualname))
    )


Query = tuple[str, tuple[str, ...]]  # (method name, arguments)
_MAX_ALIAS_DEPTH = 64  # re-exports of re-exports: real code needs a handful
# Libraries whose functions draw random numbers only where `repro_lint.rng` lists them.
_NON_DRAWING_LIBRARIES = tuple(f"{name}." for name in (
    "builtins", "numpy", "torch", "PIL", "cv2", "os", "pathlib", "math", "json", "re", "glob", "io", "csv",
    "pickle", "copy", "functools", "itertools", "collections", "logging", "h5py", "pandas", "lmdb", "imageio",
))

_Method = TypeVar("_Method", bound=Callable[..., Any])


def _recorded(method: _Method) -> _Method:
    """Log the answer while recording; calls made inside another query are not logged."""

    @functools.wraps(method)
    def query(self: ProjectFacts, *args: str) -> Any:
        if self._log is None or self._depth:
            return method(self, *args)
        self._depth += 1
        try:
            answer = method(self, *args)
        finally:
            self._depth -= 1
        self._log[(method.__name__, args)] = answer
        return answer

    return query  # type: ignore[return-value]


@dataclass
class ProjectFacts:
    """Joined summaries of all files in the run."""

    summaries: list[FileSummary] = field(default_factory=list)
    extra_effects: dict[str, frozenset[str]] = field(default_factory=dict)
    config_options: dict[str, Any] = field(default_factory=dict)  # see `repro_lint.config_files`

    def __post_init__(self) -> None:
        self._functions: dict[str, FunctionSummary] = {}
        self._classes: set[str] = set()
        self._class_bases: dict[str, tuple[str, ...]] = {}
        self._held_parameters: dict[str, tuple[HeldParameter, ...]] = {}
        self._aliases: dict[str, str] = {}
        self._modules: set[str] = set()
        for summary in self.summaries:
            self._functions.update(summary.functions)
            self._classes |= summary.classes
            self._class_bases.update(summary.class_bases)
            self._held_parameters.update(summary.held_parameters)
            self._modules.add(summary.module_name)
            for name, target in summary.aliases.items():
                self._aliases[f"{summary.module_name}.{name}"] = target
        self._closure: dict[str, frozenset[str]] = {}
        self._reachable: dict[str, frozenset[str]] = {}
        self._by_module = {s.module_name: s for s in self.summaries}
        # A shorter name of a module gives way to a module's or package's own name (`util/util.py`
        # is not `util`, the folder is), and means nothing when two modules share it (two script
        # folders' `utils`).
        claims: dict[str, set[str]] = defaultdict(set)
        for summary in self.summaries:
            for alias in summary.other_names:
                claims[alias].add(summary.module_name)
        packages = {name.rsplit(".", cut)[0] for name in self._by_module for cut in range(1, name.count(".") + 1)}
        self._module_names = {alias: next(iter(modules)) for alias, modules in claims.items()
                              if len(modules) == 1 and alias not in self._by_module and alias not in packages}
        self._has_star_imports = any(s.star_only_imports for s in self.summaries)
        # An option's default, where the files that declare it agree on one.
        self._options: dict[str, Any] = {}
        for summary in self.summaries:
            for option, default in summary.options.items():
                self._options[option] = default if self._options.get(option, default) == default else UNKNOWN
        for option, default in self.config_options.items():
            self._options.setdefault(option, default)
        self._module_of: dict[str, str | None] = {}
        self._other_module_of: dict[str, str | None] = {}
        self._running: dict[tuple[str, str], list[int]] = {}  # see `_programs_running`
        self._star_callees: dict[str, tuple[str, ...]] = {}  # see `_star_callee_modules`
        self._canonical_names: dict[str, str] = {}  # `canonical`'s answers: the project does not change
        self._bind_star_imports()
        self._program_effects: dict[tuple[str, str], frozenset[str]] = {}
        self._program_functions: dict[tuple[int, bool], frozenset[str]] = {}
        self._members_of: dict[str, list[str]] | None = None
        self._program_reach: list[tuple[int, frozenset[str]]] | None = None  # each program and what it runs
        self._imported: frozenset[str] | None = None  # project modules that other project modules import
        self._cudnn_reporters: dict[int, str] | None = None  # per program, see `reports_cudnn_convolutions`
        self._entry: dict[int, frozenset[str]] = {}
        self._log: dict[Query, Any] | None = None
        self._depth = 0

    def _bind_star_imports(self) -> None:
        """A module with several star imports binds each name the last of them to define it
        exports (its own definitions stay its own): record that as a re-export."""
        for summary in self.summaries:
            if len(summary.star_imports) < 2:
                continue
            prefix = f"{summary.module_name}."
            own = {*summary.functions, *summary.classes} | {prefix + name for name in summary.aliases}
            for star in summary.star_imports:
                exporter = self._by_module.get(self._module_names.get(star, star))
                if exporter is None:  # not a linted module: what it exports is unknown
                    continue
                for name in self._top_level_names(exporter):
                    if prefix + name not in own:
                        self._aliases[prefix + name] = f"{exporter.module_name}.{name}"

    @staticmethod
    def _top_level_names(summary: FileSummary) -> Iterator[str]:
        prefix = f"{summary.module_name}."
        for qualname in (*summary.functions, *summary.classes):
            name = qualname[len(prefix):]
            if "." not in name:
                yield name
        yield from summary.aliases

    @contextmanager
    def recording(self) -> Iterator[dict[Query, Any]]:
        """Log every query's answer until the block ends."""
        log: dict[Query, Any] = {}
        self._log = log
        try:
            yield log
        finally:
            self._log = None

    def answers_agree(self, log: dict[Query, Any]) -> bool:
        """Whether this project answers every logged query as the log says."""
        for (name, args), answer in log.items():
            value = getattr(self, name)
            if (value(*args) if callable(value) else value) != answer:
                return False
        return True

    @property
    @_recorded
    def imported_modules(self) -> frozenset[str]:
        return frozenset(m for s in self.summaries for m in s.imported_modules)

    @_recorded
    def canonical(self, qualname: str) -> str:
        """Follow re-exports: `utils.set_seed` -> `utils.seeding.set_seed`."""
        return self._resolved(qualname)

    def _resolved(self, qualname: str) -> str:
        known = self._canonical_names.get(qualname)
        if known is None:
            known = self._canonical_names[qualname] = self._canonical(qualname, frozenset())
        return known

    def _canonical(self, qualname: str, resolving: frozenset[str]) -> str:
        # `resolving` holds the names whose resolution is under way: re-exports can
        # form cycles through their prefixes (torch's own package does), and the
        # answer must not depend on which query came first.
        seen = set()
        while qualname in self._aliases and qualname not in seen:
            seen.add(qualname)
            qualname = self._aliases[qualname]
        if qualname in self._functions or qualname in self._classes or "." not in qualname or qualname in resolving:
            return qualname
        if self._module_names:
            module = self._other_module_name_of(qualname)
            if module is not None:
                return self._canonical(self._module_names[module] + qualname[len(module):], resolving | {qualname})
        if len(resolving) >= _MAX_ALIAS_DEPTH:
            return qualname
        head, _, tail = qualname.rpartition(".")
        resolving = resolving | {qualname}
        resolved_head = self._canonical(head, resolving) if head in self._aliases else head
        if resolved_head != head:
            return self._canonical(f"{resolved_head}.{tail}", resolving)
        return self._through_star_imports(head, tail, resolving) or qualname

    def _through_star_imports(self, module: str, name: str, resolving: frozenset[str]) -> str | None:
        """What `module.name` is when `module` gets `name` from a `from m import *` (the last such
        import that defines it wins, as in Python)."""
        summary = self._by_module.get(module)
        if summary is None or not summary.star_imports or name in summary.aliases:
            return None
        for star in reversed(summary.star_imports):
            target = self._canonical(f"{star}.{name}", resolving)
            if target in self._functions or target in self._classes:
                return target
        return None

    @_recorded
    def is_project_function(self, qualname: str) -> bool:
        return self.canonical(qualname) in self._functions

    @_recorded
    def is_project_class(self, qualname: str) -> bool:
        return self.canonical(qualname) in self._classes

    @_recorded
    def effects_of(self, qualname: str) -> frozenset[str]:
        """Effects of calling `qualname`, following project calls transitively.

        Calling a project class runs its `__init__`.
        """
        name = self.canonical(qualname)
        if name in self.extra_effects:
            return self.extra_effects[name]
        if name in self._classes:
            name = f"{name}.__init__"
        if name not in self._functions:
            return frozenset()
        known = self._closure.get(name)
        if known is not None:
            return known
        # The union over every function reachable through project calls, gathered without
        # recursion. Only complete answers are kept, so that functions calling each other
        # get the same answer whichever is asked first, in whichever process.
        result: set[str] = set()
        seen = {name}
        pending = [name]
        while pending:
            summary = self._functions[pending.pop()]
            result |= summary.effects
            for target in self._called_names(summary.callees, (), summary.guarded_callees, by_default=True):
                if target in self.extra_effects:
                    result |= self.extra_effects[target]
                    continue
                if target in self._classes:
                    target = f"{target}.__init__"
                if target not in self._functions or target in seen:
                    continue
                seen.add(target)
                done = self._closure.get(target)
                if done is not None:
                    result |= done
                else:
                    pending.append(target)
        self._closure[name] = frozenset(result)
        return self._closure[name]

    def call_effects(self, call: CallSite, facts: FileFacts) -> frozenset[str]:
        """What this call does: its own effect plus its callee's, if the callee is ours."""
        direct = call_effects(call, facts)
        if not call.qualname or runs_only_with_options(call, facts):
            return direct
        return direct | self.effects_of(call.qualname)

    @_recorded
    def program_effects(self, module_name: str, function: str = "") -> frozenset[str]:
        """What every linted program that runs this code does from its top-level code.

        The code is `function` of `module_name` (see `enclosing_function`); which programs run it
        is `_programs_running`. A library module is linted together with the scripts
        that use it: "the program turns deterministic mode on" holds for it only when each
        of those scripts (or a helper it calls) does. Nothing when no program runs it.
        """
        key = (module_name, function)
        known = self._program_effects.get(key)
        if known is None:
            common: frozenset[str] | None = None
            for index in self._programs_running(module_name, function):
                entry = self._entry_effects(index)
                common = entry if common is None else common & entry
                if not common:
                    break
            known = self._program_effects[key] = common or frozenset()
        return known

    @_recorded
    def trained_by_a_program(self, module_name: str, function: str = "") -> bool:
        """Whether some linted program that runs this code (see `program_effects`) computes gradients
        (calls `backward`, `torch.autograd.grad`, a trainer's `fit`), directly or through the project
        functions it calls."""
        return any(self._trains(index) for index in self._programs_running(module_name, function))

    @_recorded
    def only_evaluated(self, module_name: str, function: str = "") -> bool:
        """Whether every linted program that runs this code (see `program_effects`) loads trained
        weights and computes no gradients: an evaluation or inference program."""
        running = self._programs_running(module_name, function)
        return bool(running) and all(self._does(index, LOADS_WEIGHTS) and not self._trains(index)
                                     for index in running)

    @_recorded
    def only_self_tested(self, module_name: str, function: str = "") -> bool:
        """Whether the only linted programs that run this code are the `__main__` blocks of modules
        the project imports: demos and self-tests of library code, not training runs."""
        running = self._programs_running(module_name, function)
        return bool(running) and all(
            self.summaries[index].has_main_block and self.is_imported(self.summaries[index].module_name)
            for index in running
        )

    def _does(self, index: int, effect: str) -> bool:
        """Program `index` has `effect`: in its own code, the project functions it calls, or a method of
        a project class it builds."""
        return effect in self._entry_effects(index) or any(
            effect in self._functions[name].effects for name in self._functions_run_by(index))

    def _trains(self, index: int) -> bool:
        """`TrainLoop(...).run_loop()`, whose steps call `backward`, trains (see `_does`)."""
        return self._does(index, COMPUTES_GRADIENTS)

    @_recorded
    def runs_in_a_program(self, module_name: str, function: str = "") -> bool:
        """Whether a linted program runs this code (see `program_effects`)."""
        return bool(self._programs_running(module_name, function))

    def _programs_running(self, module_name: str, function: str) -> list[int]:
        """The programs (indexes in `summaries`) that run `function` of `module_name`.

        Those that call it by name, through project functions and the classes they build
        (a class built brings its methods, a function its nested functions), when run with
        their parser's defaults. None, when programs call it only under options that are off
        by default (`if opt.model == "densenet":`). A `__main__` block runs only in its own
        program. Otherwise, and for other module-level code, every program that is the module or imports
        it: a method reached through an object or a callback is not followed by name; but a
        top-level definition that its module never names again is not run by the module's own
        program. The module as a whole (no `function`) also runs in every program that calls one
        of its functions.
        """
        key = (module_name, function)
        if key not in self._running:
            self._running[key] = self._find_programs_running(module_name, function)
        return self._running[key]

    def _find_programs_running(self, module_name: str, function: str) -> list[int]:
        if function == MAIN_BLOCK:
            return [index for index, _ in self._programs() if self.summaries[index].module_name == module_name]
        if function:
            calling = [index for index, _ in self._programs() if function in self._functions_run_by(index, True)]
            if calling:
                return calling
            if any(function in self._functions_run_by(index) for index, _ in self._programs()):
                return []  # called only under options that are off by default
            own_only = self._unreferenced(module_name, function)  # the module's own program cannot reach it
            return [index for index, reach in self._programs() if module_name in reach
                    and not (own_only and self.summaries[index].module_name == module_name)]
        # The module's code runs where a program imports it, or calls one of its functions by
        # name through modules it does not import itself (`from .parts import *` in a model file).
        summary = self._by_module.get(module_name)
        own = summary.functions.keys() if summary is not None else frozenset()
        return [index for index, reach in self._programs()
                if module_name in reach or not own.isdisjoint(self._functions_run_by(index))]

    @_recorded
    def reports_cudnn_convolutions(self, module_name: str) -> bool:
        """Whether this module is where some program that runs it hears about its cuDNN convolutions.

        "This program never makes cuDNN deterministic" is one fact about a program, however many
        model files build convolutions: it is told once, in the first of the modules the program runs
        that build them (the program's own module first, then by name). A module that no program
        runs tells it itself.
        """
        programs = self._programs_running(module_name, "")
        return not programs or any(self._cudnn_reporter(index) == module_name for index in programs)

    def _cudnn_reporter(self, program: int) -> str:
        if self._cudnn_reporters is None:
            builders = [s.module_name for s in self.summaries if s.builds_cudnn_convolutions]
            runs: dict[int, list[str]] = defaultdict(list)
            for module in builders:
                for index in self._programs_running(module, ""):
                    runs[index].append(module)
            self._cudnn_reporters = {}
            for index, modules in runs.items():
                own = self.summaries[index].module_name
                self._cudnn_reporters[index] = own if own in modules else min(modules)
        return self._cudnn_reporters.get(program, "")

    def _unreferenced(self, module_name: str, function: str) -> bool:
        """`function` of `module_name` (or the class that holds it) is defined at the top of the
        module and never named there again."""
        summary = self._by_module.get(module_name)
        prefix = f"{module_name}." if module_name else ""
        if summary is None or not function.startswith(prefix):
            return False
        return prefix + function[len(prefix):].split(".", 1)[0] in summary.unreferenced

    @_recorded
    def method_of(self, class_name: str, method: str) -> str | None:
        """The project function `class_name.method` is, defined in the class or inherited from a project base."""
        pending, seen = [self.canonical(class_name)], set()
        while pending:
            name = pending.pop(0)
            if name in seen or name not in self._classes:
                continue
            seen.add(name)
            if f"{name}.{method}" in self._functions:
                return f"{name}.{method}"
            pending.extend(self._resolved(base) for base in self._class_bases.get(name, ()))
        return None

    @_recorded
    def held_parameters(self, class_name: str) -> tuple[HeldParameter, ...]:
        """What the `__init__` that builds `class_name` (its own or inherited) stores from its parameters."""
        init = self.method_of(class_name, "__init__")
        return self._held_parameters.get(init.rpartition(".")[0], ()) if init is not None else ()

    @_recorded
    def draws_nothing(self, qualname: str, fixed_attributes: str = "") -> bool:
        """Whether calling project function `qualname` provably draws no random numbers: neither
        it nor the project code it calls draws, calls a callable held in a variable or attribute,
        or calls outside code other than libraries that draw only through functions we know.
        `fixed_attributes` (comma-separated) are attributes of `qualname`'s own object known to
        hold code that draws nothing (a fixed transform the caller passed in)."""
        owner = self.canonical(qualname).rpartition(".")[0] + "."
        fixed = {f"{HELD_ATTRIBUTE_CALL}{name}" for name in fixed_attributes.split(",") if name}
        pending, seen = [self.canonical(qualname)], set()
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in self._classes:
                name = f"{name}.__init__"
                if name not in self._functions:
                    continue
            summary = self._functions.get(name)
            if summary is None:
                if not name.startswith(_NON_DRAWING_LIBRARIES):
                    return False
                continue
            if OPAQUE_CALL in summary.effects or any(DREW[rng] in summary.effects for rng in DREW):
                return False
            held = {effect for effect in summary.effects if effect.startswith(HELD_ATTRIBUTE_CALL)}
            if held and not (name.startswith(owner) and held <= fixed):
                return False
            pending.extend(
                self._called_names(summary.callees, summary.optional_callees, summary.guarded_callees, False)
            )
        return True

    def _functions_run_by(self, index: int, by_default: bool = False) -> frozenset[str]:
        """The project functions that program `index`'s top-level code reaches by name: with
        `by_default`, only those it reaches when run with the parser's defaults."""
        key = (index, by_default)
        known = self._program_functions.get(key)
        if known is None:
            seen: set[str] = set()
            summary = self.summaries[index]
            pending = self._called_names(summary.module_callees, summary.module_optional_callees,
                                    summary.module_guarded_callees, by_default)
            while pending:
                name = pending.pop()
                if name in seen:
                    continue
                seen.add(name)
                pending.extend(self._members().get(name, ()))
                called = self._functions.get(name)
                if called is not None:
                    pending.extend(self._called_names(called.callees, called.optional_callees, called.guarded_callees,
                                                 by_default))
            known = self._program_functions[key] = frozenset(seen & self._functions.keys())
        return known

    def _called_names(self, certain: Sequence[str], optional: Sequence[str],
                 guarded: Sequence[tuple[str, tuple[Condition, ...]]], by_default: bool) -> list[str]:
        if by_default:
            names = [*certain, *(callee for callee, conditions in guarded if self._may_hold(conditions))]
        else:
            names = [*certain, *optional, *(callee for callee, _ in guarded)]
        return [self._resolved(name) for name in names]

    @_recorded
    def may_hold_by_default(self, conditions: tuple[Condition, ...]) -> bool:
        """No condition is false with the project's option defaults (see `_may_hold`)."""
        return self._may_hold(conditions)

    def _may_hold(self, conditions: tuple[Condition, ...]) -> bool:
        """No condition is false with the project's option defaults (an undeclared option could hold)."""
        return all(c.holds(self._options.get(c.option, UNKNOWN)) is not False for c in conditions)

    def _members(self) -> dict[str, list[str]]:
        """Per class or function, the functions defined directly in its body."""
        if self._members_of is None:
            members: dict[str, list[str]] = {}
            for name in self._functions:
                members.setdefault(name.rpartition(".")[0], []).append(name)
            self._members_of = members
        return self._members_of

    @_recorded
    def is_program(self, module_name: str) -> bool:
        """A program: it has a `__main__` block, or its top-level code does work and no other
        project module imports it (one that is imported is a library, whatever runs at import)."""
        summary = self._by_module.get(module_name)
        return summary is not None and self._is_program(summary)

    @_recorded
    def imports_project_code(self, module_name: str) -> bool:
        """Whether `module_name` imports another linted module."""
        return len(self._modules_run_by(module_name)) > 1

    @_recorded
    def is_imported(self, module_name: str) -> bool:
        """Whether another project module imports `module_name`."""
        return module_name in self._imported_modules()

    def _is_program(self, summary: FileSummary) -> bool:
        return summary.has_main_block or (summary.is_program and summary.module_name not in self._imported_modules())

    def _imported_modules(self) -> frozenset[str]:
        if self._imported is None:
            imported: set[str] = set()
            for summary in self.summaries:
                for dotted in (*summary.imported_modules, *summary.aliases.values()):
                    target = self._project_module_of(dotted)
                    if target is not None and target != summary.module_name:
                        imported.add(target)
            self._imported = frozenset(imported)
        return self._imported

    def _programs(self) -> list[tuple[int, frozenset[str]]]:
        """Each program's index in `summaries`, with the modules it runs."""
        if self._program_reach is None:
            self._program_reach = [
                (index, self._modules_run_by(s.module_name))
                for index, s in enumerate(self.summaries) if self._is_program(s)
            ]
        return self._program_reach

    def _entry_effects(self, index: int) -> frozenset[str]:
        known = self._entry.get(index)
        if known is None:
            summary = self.summaries[index]
            known = self._entry[index] = self._top_level_effects(summary) | self.import_effects(summary.module_name)
        return known

    @_recorded
    def import_effects(self, module_name: str) -> frozenset[str]:
        """What importing the project modules that `module_name` imports does: their top-level code,
        transitively (`from simclr import SimCLR`, where simclr.py calls `torch.manual_seed(0)` at
        module level, seeds torch before the importing program's own code runs)."""
        result: set[str] = set()
        for module in self._modules_run_by(module_name) - {module_name}:
            summary = self._by_module.get(module)
            if summary is not None:
                result |= self._top_level_effects(summary)
        return frozenset(result)

    def _top_level_effects(self, summary: FileSummary) -> frozenset[str]:
        result = set(summary.module_effects)
        for callee in summary.module_callees:
            result |= self.effects_of(callee)
        return frozenset(result)

    def _modules_run_by(self, module_name: str) -> frozenset[str]:
        """`module_name` and the project modules it imports, transitively.

        A module imported only by `*` (`from models import *`, which imports every model file
        of the package) counts only where the code calls something it defines.
        """
        if module_name not in self._reachable:
            seen = {module_name}
            pending = [module_name]
            while pending:
                summary = self._by_module.get(pending.pop())
                if summary is None:
                    continue
                imported_by_name = [m for m in summary.imported_modules if m not in summary.star_only_imports]
                for imported in (*imported_by_name, *summary.aliases.values(), *self._star_callee_modules(summary)):
                    target = self._project_module_of(imported)
                    if target is None or target in seen:
                        continue
                    seen.add(target)
                    done = self._reachable.get(target)
                    if done is not None:  # complete: no need to walk it again
                        seen |= done
                    else:
                        pending.append(target)
            self._reachable[module_name] = frozenset(seen)
        return self._reachable[module_name]

    def _star_callee_modules(self, summary: FileSummary) -> tuple[str, ...]:
        """Where the project functions and classes that `summary`'s code calls through star imports live."""
        if not self._has_star_imports:
            return ()
        known = self._star_callees.get(summary.module_name)
        if known is None:
            functions = summary.functions.values()
            callees = (
                *summary.module_callees, *summary.module_optional_callees,
                *(c for c, _ in summary.module_guarded_callees),
                *(c for f in functions for c in (*f.callees, *f.optional_callees, *(c for c, _ in f.guarded_callees))),
            )
            known = self._star_callees[summary.module_name] = tuple(
                target for callee in callees if (target := self._resolved(callee)) != callee)
        return known

    def _project_module_of(self, dotted: str) -> str | None:
        """The longest prefix of `dotted` that is a linted module (`model.Net` -> `model`), by its own name."""
        if dotted not in self._module_of:
            parts = dotted.split(".")
            candidates = (".".join(parts[:cut]) for cut in range(len(parts), 0, -1))
            found = next((c for c in candidates if c in self._modules or c in self._module_names), None)
            self._module_of[dotted] = self._module_names.get(found, found) if found is not None else None
        return self._module_of[dotted]

    def _other_module_name_of(self, dotted: str) -> str | None:
        """The longest prefix of `dotted` that is another name of a linted module (`ModuleIdentity.other_names`)."""
        if dotted not in self._other_module_of:
            parts = dotted.split(".")
            self._other_module_of[dotted] = next(
                (name for name in (".".join(parts[:cut]) for cut in range(len(parts), 0, -1))
                 if name in self._module_names), None)
        return self._other_module_of[dotted]

    def file_effects(self, facts: FileFacts) -> frozenset[str]:
        """Everything a file's code can do, with the project functions it calls."""
        result: set[str] = set()
        for call in facts.calls:
            result |= self.call_effects(call, facts)
        for site in facts.assignments:
            result |= assignment_effects(site, facts)
        return frozenset(result)
