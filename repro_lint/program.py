"""The program model: what a file's code does to the global RNGs, in execution order.

Entry code is what runs when the file is executed: module-level statements
(class bodies included) and the `__main__` block, in source order. Calls into
functions and classes of the same file are followed in order, as if inlined;
calls into project functions of other files contribute their effects from the
project pass (`ProjectFacts.effects_of`), seeding taken as happening first.

Each function body (and the entry code) is a list of `Step`s: its calls in
source order, with the RNGs each seeds and draws from. From these the model
derives, once per file, the first unseeded draw from each RNG (RPL101-RPL103)
and the late seeds, where a scope draws before its own first seed (RPL105).
Rules get the model with `program_for(ctx.facts, ctx.project)`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from repro_lint.argparse_defaults import off_by_default
from repro_lint.cst_values import constructed, literal_bool
from repro_lint.effects import DREW, LOADS_WEIGHTS, SEEDED, call_effects
from repro_lint.facts import CallSite, ClassSite, FileFacts, FunctionSite, Scope
from repro_lint.project import MAIN_BLOCK, ProjectFacts, fire_commands
from repro_lint.rng import (
    DATA_LOADERS,
    RNGS,
    TORCH,
    consumed_rng,
    drawn_for_a_label,
    feeds_evaluation,
    loader_argument,
    seeded_rngs,
)
from repro_lint.traversal import descendants

# Packages whose seeding functions are known by name; anything else named like
# a seed function and defined outside the linted tree is trusted to seed.
_KNOWN_PACKAGES = frozenset({"torch", "numpy", "random", "builtins"})
# Calls that run a function in new processes, and where they take it. The processes start
# from fresh interpreters (spawn): what the parent seeded is not seeded there.
_SPAWNERS = {
    "torch.multiprocessing.spawn": (0, "fn"),
    "torch.multiprocessing.spawn.spawn": (0, "fn"),
    "torch.multiprocessing.start_processes": (0, "fn"),
}


@dataclass(frozen=True, eq=False)
class Step:
    """One call in a scope and what running it does to the global RNGs."""

    call: CallSite
    owner: FunctionSite | None  # the function whose body holds the call; None for entry code
    index: int  # position among the owner's steps
    seeds: frozenset[str]
    consumes: frozenset[str]  # drawn from before any seed inside the call
    callee: FunctionSite | None  # the same-file function the call runs, if any
    fresh_process: bool = False  # the callee runs in a new process (`mp.spawn`): nothing seeded there
    commands: tuple[FunctionSite, ...] = ()  # same-file functions the command line picks one of (`fire.Fire()`)
    loads_weights: bool = False  # reads trained weights (`load_state_dict`), here or in a project function


@dataclass(frozen=True)
class Flow:
    """What running a function does, starting with nothing seeded."""

    seeds: frozenset[str]
    first_unseeded: dict[str, Step]  # per RNG, its first unseeded draw (a step of this function)


@dataclass(frozen=True, eq=False)
class Consumption:
    """The first draw from an RNG in execution order, with no seed for it before."""

    rng: str
    chain: tuple[Step, ...]  # from an entry step down to the step that draws

    @property
    def call(self) -> CallSite:
        return self.chain[-1].call

    @property
    def in_spawned_process(self) -> bool:
        """Drawn in a process started by `mp.spawn`: a seed at the program's start does not reach it."""
        return any(step.fresh_process for step in self.chain)


@dataclass(frozen=True, eq=False)
class DrawBeforeSeed:
    """In one scope, a draw from `rng` before that scope's first seed of `rng`."""

    rng: str
    consumer: Step
    seed: Step


class Program:
    """The RNG behaviour of one file's code; see the module docstring."""

    def __init__(self, facts: FileFacts, project: ProjectFacts):
        self.facts = facts
        self.project = project
        prefix = f"{facts.module_name}." if facts.module_name else ""
        self._functions_by_scope = {site.scope: site for site in facts.functions}
        self._functions_by_name = {prefix + site.qualname: site for site in facts.functions}
        self._classes_by_name = {prefix + site.qualname: site for site in facts.classes}
        self._classes_by_scope = {site.scope: site for site in facts.classes}
        self._attribute_classes: dict[tuple[int, str], ClassSite | None] = {}
        self._calls_by_owner: dict[FunctionSite | None, list[CallSite]] = {None: []}
        for call in facts.calls:
            owner = self._owner(call.scope)
            if owner is not _LAMBDA:
                self._calls_by_owner.setdefault(owner, []).append(call)  # type: ignore[arg-type]
        self._steps: dict[FunctionSite | None, list[Step]] = {}
        self._flows: dict[FunctionSite, Flow] = {}
        self._entry_states: dict[FunctionSite, frozenset[str]] = {}
        # For a function that runs in a process `spawn` starts, the function that process runs.
        self._process_of: dict[FunctionSite, FunctionSite] = {}
        self._first_unseeded: dict[str, Consumption] = {}
        # Every unseeded torch draw, with its place in execution order, and the place of the last
        # weight load: an evaluation program overwrites the weights its model was built with.
        self._torch_draws: list[tuple[int, Consumption]] = []
        self._last_weight_load = -1
        self._executed = 0
        # Per RNG, the test of an `if` whose seed runs only when a command-line option is given.
        self.seeds_off_by_default: dict[str, cst.BaseExpression] = {}
        # The project modules this file imports have run their top-level code before its own code.
        imported = project.import_effects(facts.module_name)
        self._walk(None, (), {rng for rng in RNGS if SEEDED[rng] in imported}, set())
        self._in_main_block = _call_ids(facts.main_block) if facts.main_block is not None else frozenset()

    # -- queries ---------------------------------------------------------

    @property
    def is_program(self) -> bool:
        return self.project.is_program(self.facts.module_name)

    @property
    def is_self_test(self) -> bool:
        """A `__main__` block in a module the project imports: a demo or self-test of a library."""
        return self.facts.main_block is not None and self.project.is_imported(self.facts.module_name)

    def unseeded(self) -> dict[str, Consumption]:
        """Per RNG, its first draw with no seed before, unless a late seed (RPL105) explains it.

        In an evaluation program (it loads trained weights and computes no gradients), torch
        draws up to its last weight load built the weights that load overwrites: the first
        torch draw that counts comes after it (sampling noise, dropout in train mode).
        """
        first = dict(self._first_unseeded)
        if TORCH in first and self._last_weight_load >= 0 and self._evaluation_program():
            later = (c for place, c in self._torch_draws if place > self._last_weight_load)
            after_load = next(later, None)
            if after_load is None:
                del first[TORCH]
            else:
                first[TORCH] = after_load
        return {
            rng: consumption
            for rng, consumption in first.items()
            if not any(self._seeds_later(step, rng) for step in consumption.chain)
        }

    def _evaluation_program(self) -> bool:
        return self.project.only_evaluated(self.facts.module_name, MAIN_BLOCK)

    def unseeded_spawned_process(self, call: CallSite, rng: str) -> bool:
        """`call` runs in a process `spawn` starts, and that process's code never seeds `rng`:
        whatever the parent seeds, that generator starts from OS entropy there."""
        owner = self._owner(call.scope)
        process = self._process_of.get(owner) if isinstance(owner, FunctionSite) else None
        return process is not None and rng not in self._flow(process).seeds

    def seeds_anywhere(self) -> frozenset[str]:
        """The RNGs any code of the file seeds, directly or through the functions it calls."""
        owners = [None, *self.facts.functions]
        return frozenset(rng for owner in owners for step in self.steps(owner) for rng in step.seeds)

    def seeding_starts_in_main_block(self) -> bool:
        """True when every unseeded draw happens inside the `__main__` block."""
        return self.facts.main_block is not None and all(
            id(c.chain[0].call.node) in self._in_main_block for c in self.unseeded().values()
        )

    def late_seeds(self) -> Iterator[DrawBeforeSeed]:
        """Per scope and RNG, the first draw that comes before the scope's first seed of it (in an
        evaluation program, the first torch draw after the last weight load before that seed)."""
        for owner in [None, *self.facts.functions]:
            steps = self.steps(owner)
            seeded_on_entry = self._entry_states.get(owner, frozenset()) if owner else frozenset()
            for rng in RNGS:
                if rng in seeded_on_entry:
                    continue
                first_seed = next((s for s in steps if rng in s.seeds), None)
                if first_seed is None:
                    continue
                before = steps[: first_seed.index]
                if rng == TORCH and self._evaluation_program():
                    # Draws up to a weight load built the weights it overwrites (see `unseeded`).
                    loaded = max((s.index for s in before if s.loads_weights), default=-1)
                    before = before[loaded + 1:]
                consumer = next((s for s in before if rng in s.consumes), None)
                if consumer is not None:
                    yield DrawBeforeSeed(rng, consumer, first_seed)

    def steps(self, owner: FunctionSite | None) -> list[Step]:
        """The calls of a function body (None: the entry code) as steps, in source order."""
        if owner not in self._steps:
            self._steps[owner] = []  # a recursive call sees an empty body
            calls = self._calls_by_owner.get(owner, [])
            self._steps[owner] = [self._step(call, owner, index) for index, call in enumerate(calls)]
        return self._steps[owner]

    def statement_blocks(self, owner: FunctionSite | None) -> list[list[cst.BaseStatement]]:
        """The statement lists that directly make up a scope's body."""
        if owner is not None:
            body = owner.node.body
            return [list(body.body)] if isinstance(body, cst.IndentedBlock) else []
        blocks: list[list[cst.BaseStatement]] = [list(self.facts.module.body)]
        main = self.facts.main_block
        if main is not None and isinstance(main.body, cst.IndentedBlock):
            blocks.append(list(main.body.body))
        return blocks

    # -- building --------------------------------------------------------

    def _walk(
        self,
        owner: FunctionSite | None,
        prefix: tuple[Step, ...],
        seeded: set[str],
        visited: set[FunctionSite],
    ) -> None:
        """Run `owner`'s steps in order from the entry code, entering each same-file
        function the first time it is called (later calls can only draw what the
        first one drew, with at least as much seeded)."""
        for step in self.steps(owner):
            for command in step.commands:  # one of them runs, from the state at the call
                if command not in visited:
                    visited.add(command)
                    self._entry_states[command] = frozenset(seeded)
                    self._walk(command, (*prefix, step), set(seeded), visited)
            callee = step.callee
            if callee is not None and callee not in visited:
                visited.add(callee)
                process = callee if step.fresh_process else self._process_of.get(owner) if owner else None
                if process is not None:
                    self._process_of[callee] = process
                if step.fresh_process:
                    self._entry_states[callee] = frozenset()
                    self._walk(callee, (*prefix, step), set(), visited)
                    continue
                self._entry_states[callee] = frozenset(seeded)
                self._walk(callee, (*prefix, step), seeded, visited)
                seeded |= step.seeds
                continue
            self._executed += 1
            for rng in RNGS:
                if rng in step.consumes and rng not in seeded:
                    consumption = Consumption(rng, (*prefix, step))
                    self._first_unseeded.setdefault(rng, consumption)
                    if rng == TORCH:
                        self._torch_draws.append((self._executed, consumption))
            if step.loads_weights:
                self._last_weight_load = self._executed
            seeded |= step.seeds

    def _step(self, call: CallSite, owner: FunctionSite | None, index: int) -> Step:
        seeds = set(seeded_rngs(call))
        consumed = consumed_rng(call)
        # A draw that only labels something, or only orders evaluation batches, changes no result.
        unused = drawn_for_a_label(call) or feeds_evaluation(call, self.facts)
        consumes = {consumed} if consumed and not unused else set()
        spawned = self._spawned(call)
        if spawned is not None:
            # The parent neither gains the child's seeds nor draws what the child draws.
            return Step(call, owner, index, frozenset(seeds), frozenset(consumes), spawned, fresh_process=True)
        callee = None if self._configured(call.qualname) else self._local_callee(call) or self._dataset_in_process(call)
        loads_weights = LOADS_WEIGHTS in call_effects(call, self.facts)
        if callee is not None:
            flow = self._flow(callee)
            seeds |= flow.seeds
            consumes |= set(flow.first_unseeded)
        elif (callee_name := call.qualname or self._project_method(call)) is not None:
            effects = self.project.effects_of(callee_name)
            seeds |= {rng for rng in RNGS if SEEDED[rng] in effects}
            # Order inside another file's function is not known: its seeds count as first.
            consumes |= {rng for rng in RNGS if DREW[rng] in effects} - seeds
            loads_weights = loads_weights or LOADS_WEIGHTS in effects
            if call.qualname is not None and self._outside_seed_helper(call.qualname):
                seeds |= set(RNGS)
        off = off_by_default(call, self.facts, self.project.may_hold_by_default) if call.guards else None
        if off is not None:
            # `if args.seed is not None: torch.manual_seed(args.seed)`, where `--seed` defaults to None:
            # its seeds do not count, and the walk does not enter it (what it draws still counts).
            for rng in seeds:
                self.seeds_off_by_default.setdefault(rng, off)
            seeds, callee = set(), None
        commands = tuple(self._functions_by_name[name] for name in fire_commands(call, self.facts))
        return Step(call, owner, index, frozenset(seeds), frozenset(consumes), callee, loads_weights=loads_weights,
                    commands=commands)

    def _flow(self, function: FunctionSite) -> Flow:
        if function in self._flows:
            return self._flows[function]
        self._flows[function] = Flow(frozenset(), {})  # recursion: the inner call does nothing
        seeded: set[str] = set()
        first: dict[str, Step] = {}
        for step in self.steps(function):
            for rng in step.consumes - seeded:
                first.setdefault(rng, step)
            seeded |= step.seeds
        self._flows[function] = Flow(frozenset(seeded), first)
        return self._flows[function]

    def _seeds_later(self, step: Step, rng: str) -> bool:
        return any(rng in later.seeds for later in self.steps(step.owner)[step.index + 1:])

    def _configured(self, qualname: str | None) -> bool:
        """A name in config `seed-functions`: its effects are given, not analysed."""
        # Every question to the project is a dependency on other files (see ProjectFacts.recording):
        # ask only when the answer can matter.
        return (
            qualname is not None
            and bool(self.project.extra_effects)
            and self.project.canonical(qualname) in self.project.extra_effects
        )

    def _outside_seed_helper(self, qualname: str) -> bool:
        """A function from outside the linted tree named like a seeding helper (`set_seed`)."""
        if qualname.split(".")[0] in _KNOWN_PACKAGES or "seed" not in qualname.rsplit(".", 1)[-1].lower():
            return False
        return not (self.project.is_project_function(qualname) or self.project.is_project_class(qualname))

    def _spawned(self, call: CallSite) -> FunctionSite | None:
        """The same-file function a `torch.multiprocessing.spawn(fn, ...)` call runs in new processes."""
        where = _SPAWNERS.get(call.qualname or "")
        if where is None:
            return None
        target = call.argument(*where)
        if target is None:
            return None
        name = self.facts.qualname(target.value, call.scope)
        return self._functions_by_name.get(name) if name is not None else None

    def _dataset_in_process(self, call: CallSite) -> FunctionSite | None:
        """For a `DataLoader` without workers, the same-file dataset's `__getitem__` (or `__iter__`):
        it runs in this process, drawing from its global RNGs. (Workers reseed those RNGs from
        torch's seed, which RPL301 covers.)"""
        splatted = self.facts.splatted_keywords(call) if call.qualname in DATA_LOADERS else None
        if splatted is None:
            return None
        workers = loader_argument(call.node, "num_workers", splatted)
        if workers is not None and literal_bool(workers.value) is not False:
            return None
        dataset = loader_argument(call.node, "dataset", splatted)
        if dataset is None:
            return None
        cls = self._class_built_by(self._built_from(dataset.value, call), call.scope)
        if cls is None:
            return None
        return self._method(cls, "__getitem__", set()) or self._method(cls, "__iter__", set())

    def _built_from(self, expr: cst.BaseExpression, call: CallSite) -> cst.Call | None:
        """The call that built `expr`: itself, or the last value assigned to the name in this scope."""
        if isinstance(expr, cst.Call):
            return constructed(expr)
        if not isinstance(expr, cst.Name):
            return None
        return constructed(self.facts.value_before(expr.value, call))

    def _local_callee(self, call: CallSite) -> FunctionSite | None:
        """The same-file function a call runs: a function, a class's `__init__`, or `self.method()`."""
        name = call.qualname
        if name is not None:
            if name in self._functions_by_name:
                return self._functions_by_name[name]
            if name in self._classes_by_name:
                return self._constructor(self._classes_by_name[name], set())
            return None
        func = call.node.func
        if not isinstance(func, cst.Attribute):
            return None
        cls = self._class_of(func.value, call)
        return self._method(cls, func.attr.value, set()) if cls is not None else None

    def _project_method(self, call: CallSite) -> str | None:
        """The method `x.m(...)` runs, where `x = C(...)` in this scope built a project class of another
        file (`buffer = ReplayBuffer()`, then `buffer.push_and_pop(image)`)."""
        func = call.node.func
        if not isinstance(func, cst.Attribute):
            return None
        built = self._built_from(func.value, call)
        name = self.facts.qualname(built.func, call.scope) if built is not None else None
        if name is None or not self.project.is_project_class(name):
            return None
        return self.project.method_of(name, func.attr.value)

    def _class_of(self, expr: cst.BaseExpression, call: CallSite) -> ClassSite | None:
        """The same-file class `expr` is an instance of, where the code says so: `self` in a method,
        `p` after `p = Picker()` in the same scope, and `<instance>.attr` when the class's methods
        only ever set `self.attr = Picker(...)`."""
        if isinstance(expr, cst.Name) and expr.value == "self":
            method = self._owner(call.scope)
            if not isinstance(method, FunctionSite) or method.scope.parent is None:
                return None
            return self._classes_by_scope.get(method.scope.parent)
        if isinstance(expr, cst.Name):
            built = self._built_from(expr, call)
            return self._class_built_by(built, call.scope) if built is not None else None
        if isinstance(expr, cst.Attribute):
            owner = self._class_of(expr.value, call)
            return self._attribute_class(owner, expr.attr.value) if owner is not None else None
        return None

    def _class_built_by(self, value: cst.BaseExpression | None, scope: Scope) -> ClassSite | None:
        if not isinstance(value, cst.Call):
            return None
        name = self.facts.qualname(value.func, scope)
        return self._classes_by_name.get(name) if name is not None else None

    def _attribute_class(self, cls: ClassSite, attribute: str) -> ClassSite | None:
        """The one same-file class that every `self.<attribute> = ...` in `cls`'s methods builds."""
        key = (id(cls), attribute)
        if key not in self._attribute_classes:
            built: set[ClassSite | None] = set()
            for site in self.facts.assignments:
                target = site.target
                if not (isinstance(target, cst.Attribute) and target.attr.value == attribute
                        and isinstance(target.value, cst.Name) and target.value.value == "self"):
                    continue
                method = self._owner(site.scope)
                if isinstance(method, FunctionSite) and method.scope.parent is cls.scope:
                    built.add(self._class_built_by(site.value, site.scope))
            self._attribute_classes[key] = next(iter(built)) if len(built) == 1 else None
        return self._attribute_classes[key]

    def _constructor(self, cls: ClassSite, seen: set[str]) -> FunctionSite | None:
        return self._method(cls, "__init__", seen)

    def _method(self, cls: ClassSite, name: str, seen: set[str]) -> FunctionSite | None:
        """`cls.name`, looked up through the same-file base classes."""
        prefix = f"{self.facts.module_name}." if self.facts.module_name else ""
        if cls.qualname in seen:
            return None
        seen.add(cls.qualname)
        found = self._functions_by_name.get(f"{prefix}{cls.qualname}.{name}")
        if found is not None and found.scope.parent is cls.scope:
            return found
        for base in cls.base_qualnames:
            if base in self._classes_by_name:
                found = self._method(self._classes_by_name[base], name, seen)
                if found is not None:
                    return found
        return None

    def _owner(self, scope: Scope) -> FunctionSite | None | object:
        """The function whose execution runs code in `scope`; None for entry code."""
        while scope.kind in ("comprehension", "class") and scope.parent is not None:
            scope = scope.parent
        if scope.kind == "function":
            return self._functions_by_scope[scope]
        if scope.kind == "lambda":
            return _LAMBDA
        return None


_LAMBDA = object()  # lambda bodies run when called, which the model does not follow
_PROGRAMS: weakref.WeakKeyDictionary[FileFacts, tuple[ProjectFacts, Program]] = weakref.WeakKeyDictionary()


def program_for(facts: FileFacts, project: ProjectFacts) -> Program:
    """The file's program model, built once per file and project."""
    cached = _PROGRAMS.get(facts)
    if cached is not None and cached[0] is project:
        return cached[1]
    program = Program(facts, project)
    _PROGRAMS[facts] = (project, program)
    return program


def _call_ids(node: cst.CSTNode) -> frozenset[int]:
    return frozenset(id(current) for current in descendants(node) if isinstance(current, cst.Call))
