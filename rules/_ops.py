"""Calls matched against the op catalog, shared by RPL401-RPL403.

A call meets a catalog entry in one of three forms: a function (`torch.X`, `F.X`,
`torch.Tensor.X` through any alias), an `nn` module constructor (reported where the
module is built, since that is the line a user can change), or a method call
`x.X(...)` on a receiver whose type a static linter usually cannot know. Method
names that only tensors have are trusted in files that import torch; names that
numpy, pandas and others share (the catalog lists them) need a receiver known to
be a tensor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import libcst as cst

from repro_lint.catalog import TENSOR, UNKNOWN, Behaviour, CallMatch, OpEntry, canonical_name, load_catalog
from repro_lint.cst_values import is_self_attribute, string_value
from repro_lint.effects import (
    CUDNN_DETERMINISTIC,
    DETERMINISTIC_MODE,
    DETERMINISTIC_WARN_ONLY,
    WEIGHT_LOADERS,
    deterministic_mode,
)
from repro_lint.facts import AssignSite, CallSite, ClassSite, FileFacts, FunctionSite, LoopSite, Scope
from repro_lint.project import ProjectFacts
from repro_lint.rng import DATA_LOADERS
from repro_lint.rule import NO_TRAINING, OFF_BY_DEFAULT, SELF_TEST, RuleContext
from repro_lint.traversal import descendants

TENSOR_TYPE = "torch.Tensor"
NN_MODULE = "torch.nn.Module"

# Namespaces whose lower-case functions return tensors, and the functions and tensor
# methods there whose result is not a tensor.
_TENSOR_NAMESPACES = frozenset({
    "torch", "torch.nn.functional", "torch.linalg", "torch.fft", "torch.special", TENSOR_TYPE,
})
_NON_TENSOR_FUNCTIONS = frozenset({
    "device", "dtype", "load", "save", "no_grad", "enable_grad", "inference_mode", "set_grad_enabled",
    "is_grad_enabled", "compile", "manual_seed", "seed", "initial_seed", "is_tensor", "is_floating_point",
    "is_complex", "numel", "typename", "finfo", "iinfo", "get_default_dtype", "set_default_dtype",
    "set_default_device", "set_printoptions", "use_deterministic_algorithms",
    "are_deterministic_algorithms_enabled", "set_num_threads", "get_num_threads", "tolist", "item", "dim",
    "size", "element_size", "data_ptr", "backward", "numpy",
})
# How deep "x was assigned from y, which was assigned from a torch call" is followed.
_MAX_DEPTH = 4
# Each indexing or method step counts too: `ckpt["model"]["pos_embed"].float()` is five, and checkpoint
# surgery takes a dozen (`ckpt["model"]` -> `["pos_embed"]` -> `[:, n:]` -> `.reshape(...).permute(...)`).
_MAX_GRADIENT_DEPTH = 16
# Classes whose methods run on data, in a sampler or a dataset (in the loader's workers): no gradient there.
_TRANSFORM_WRAPPERS = frozenset({"torchvision.transforms.Lambda", "torchvision.transforms.transforms.Lambda"})
_DATA_CLASSES = frozenset({
    f"torch.utils.data.{name}"
    for name in ("Dataset", "IterableDataset", "Sampler", "BatchSampler", "DistributedSampler")
})
# Tensor methods whose result needs a gradient exactly when their receiver does.
_GRADIENT_PRESERVING_METHODS = frozenset({
    "to", "cuda", "cpu", "float", "double", "half", "bfloat16", "type", "clone", "contiguous",
    "view", "reshape", "permute", "unsqueeze", "squeeze", "flatten", "transpose",
})
# Where each index op takes `index`: (as a function, as a method).
_INDEX_POSITIONS = {
    "gather_backward": (2, 1), "index_add": (2, 1), "scatter_add": (2, 1), "index_select_backward": (2, 1),
}
# Lookup modules whose backward adds atomically only where an index repeats: `self.embed(torch.arange(n))` cannot.
_UNIQUE_LOOKUPS = frozenset({"embedding_backward"})
_UNIQUE_INDEX_SOURCES = frozenset({"torch.argsort", "torch.randperm", "torch.arange", "torch.unique"})
# Methods that keep an index free of repeats: casts, moves, an added axis.
_INDEX_PRESERVING_METHODS = frozenset({
    "to", "cuda", "cpu", "long", "int", "contiguous", "unsqueeze", "view", "reshape",
})
# ...and, for `gather`, copies along the other dimensions (each gathered row stays a permutation).
_ROW_PRESERVING_METHODS = frozenset({"expand", "expand_as", "repeat"})
_ITERATION_WRAPPERS = frozenset({"builtins.enumerate", "builtins.iter", "tqdm.tqdm", "tqdm.auto.tqdm"})


@dataclass(frozen=True, eq=False)
class OpUse:
    """One call that meets one catalog entry for the target torch version."""

    call: CallSite
    callee: str  # canonical qualified name, or the bare method name
    form: str  # "function", "module" or "method"
    match: CallMatch
    behaviour: Behaviour

    @property
    def entry(self) -> OpEntry:
        return self.match.entry

    @property
    def node(self) -> cst.Call:
        return self.call.node

    @property
    def spelling(self) -> str:
        """The op as messages name it: "torch.nn.Conv2d", "Tensor.index_add_()"."""
        return f"Tensor.{self.callee}()" if self.form == "method" else self.callee

    @property
    def condition(self) -> str:
        return self.entry.condition_text(self.callee)

    @property
    def raises_under_deterministic_mode(self) -> bool:
        return self.behaviour.under_det_mode == "raises"

    @property
    def has_deterministic_alternative(self) -> bool:
        return self.behaviour.under_det_mode == "deterministic-alternative"

    @property
    def nondeterministic_by_default(self) -> bool:
        return self.behaviour.default == "nondeterministic"


def without_fallback(uses: list[OpUse], deterministic_mode_on: bool) -> OpUse | None:
    """The worst of a call's entries that deterministic mode cannot make deterministic.

    An op that is deterministic by default but raises under the mode (`torch.bincount`
    without weights in 1.13) only matters to a program that turns the mode on.
    """
    for use in uses:
        if not use.has_deterministic_alternative and (use.nondeterministic_by_default or deterministic_mode_on):
            return use
    return None


def reachable_effects(facts: FileFacts, project: ProjectFacts) -> frozenset[str]:
    """What this file and the helpers it calls do, plus what every linted program that
    runs this file does (see `repro_lint.effects`)."""
    return project.file_effects(facts) | project.program_effects(facts.module_name)


def advice_reason(use: OpUse, ctx: RuleContext) -> str | None:
    """Why reporting `use` is robustness advice here: programs run its code only with options
    that are off by default (`--model densenet`), or only as a library module's self-test, or
    its nondeterminism is in a backward and the programs that run it never compute gradients
    (evaluation, inference, data preparation)."""
    if not ctx.runs_in_a_program:
        return None
    if not ctx.runs_in_a_program_at(use.call.scope, use.call.node) or ctx.false_guard(use.call) is not None:
        return OFF_BY_DEFAULT
    if ctx.only_self_tested_at(use.call.scope, use.call.node):
        return SELF_TEST
    if use.entry.phase != "backward":
        return None
    return None if ctx.trained_at(use.call.scope, use.call.node) else NO_TRAINING


def deterministic_mode_covers(entry: OpEntry, effects: frozenset[str]) -> bool:
    """True when the program turns on a setting that makes `entry` deterministic.

    `torch.backends.cudnn.deterministic = True` counts for cuDNN-backed entries only, and
    warn-only mode not for entries that keep their nondeterministic kernel under it.
    """
    if entry.warn_only_nondeterministic and deterministic_mode(effects) == DETERMINISTIC_WARN_ONLY:
        return entry.cudnn and CUDNN_DETERMINISTIC in effects
    return DETERMINISTIC_MODE in effects or (entry.cudnn and CUDNN_DETERMINISTIC in effects)


class OpMatcher:
    """Finds a file's calls to catalogued ops, with the catalog's verdict for one torch version."""

    def __init__(self, facts: FileFacts, version: tuple[int, int]):
        self.facts = facts
        self.version = version
        self.catalog = load_catalog()
        self._converted: dict[int, tuple[list[Any], dict[str, Any]]] = {}

    def calls(self) -> Iterator[list[OpUse]]:
        """Per call to catalogued ops linted at each call, the entries it meets, worst first.

        One call can meet several entries (`put_` with an unknown `accumulate` meets three);
        the catalog asks for one report per call, with the worst behaviour.
        """
        for call in self.facts.calls:
            uses = []
            for entry, callee, form in self._candidates(call):
                behaviour = entry.behaviour(self.version)
                if entry.lint != "call" or behaviour is None:
                    continue
                if entry.device == "mps" and not self.uses_mps:
                    continue
                if entry.phase == "backward" and self.no_gradient_reaches(call, form):
                    continue
                if (entry.id in _INDEX_POSITIONS or entry.id in _UNIQUE_LOOKUPS) and self.indices_are_unique(
                        call, entry.id, form):
                    continue
                match = self._match(call, entry, callee, form)
                if match.matched:
                    uses.append(OpUse(call, callee, form, match, behaviour))
            if uses:
                yield sorted(uses, key=_severity)

    def uses_of(self, entry: OpEntry) -> Iterator[OpUse]:
        """Calls that meet one entry, whatever its lint scope."""
        behaviour = entry.behaviour(self.version)
        if behaviour is None:
            return
        for call in self.facts.calls:
            for candidate, callee, form in self._candidates(call):
                if candidate is entry:
                    match = self._match(call, entry, callee, form)
                    if match.matched:
                        yield OpUse(call, callee, form, match, behaviour)

    # -- call forms --------------------------------------------------------

    def _candidates(self, call: CallSite) -> Iterator[tuple[OpEntry, str, str]]:
        if call.qualname is not None:
            name = canonical_name(call.qualname)
            for entry in self.catalog.for_module(name):
                yield entry, name, "module"
            base = self._catalogued_base(call.qualname)
            if base is not None:  # `class Model(nn.Transformer)`: building one builds the catalogued module
                for entry in self.catalog.for_module(base):
                    yield entry, base, "module"
            for entry in self.catalog.for_function(name):
                yield entry, name, "function"
            return
        if call.method is None or not self._method_receiver_qualifies(call):
            return
        for entry in self.catalog.for_method(call.method):
            yield entry, call.method, "method"

    def _catalogued_base(self, qualname: str) -> str | None:
        """The catalogued `torch.nn` module a same-file class derives from, through same-file bases."""
        cls = self._classes_by_qualname.get(qualname)
        seen: set[str] = set()
        while cls is not None and cls.qualname not in seen:
            seen.add(cls.qualname)
            local = None
            for base in cls.base_qualnames:
                name = canonical_name(base)
                if self.catalog.for_module(name):
                    return name
                local = local or self._classes_by_qualname.get(base)
            cls = local
        return None

    def _method_receiver_qualifies(self, call: CallSite) -> bool:
        assert isinstance(call.node.func, cst.Attribute)
        if self.catalog.is_shared_method(call.method or ""):
            return self.is_tensor(call.node.func.value, call.scope, call.order)
        return self.imports_torch

    @cached_property
    def uses_mps(self) -> bool:
        """The file puts tensors on Apple's MPS device (`"mps"` given to a call, `torch.backends.mps`).
        MPS-only behaviour is not a problem of code that never runs there."""
        for call in self.facts.calls:
            if call.qualname is not None and call.qualname.startswith("torch.backends.mps"):
                return True
            if any(_is_mps(arg.value) for arg in call.node.args):
                return True
        return False

    @cached_property
    def imports_torch(self) -> bool:
        return any(m == "torch" or m.startswith("torch.") for site in self.facts.imports for m in site.modules)

    # -- arguments ---------------------------------------------------------

    def _match(self, call: CallSite, entry: OpEntry, callee: str, form: str) -> CallMatch:
        dims = None
        if entry.input.min_dims and form == "function" and call.node.args and not call.node.args[0].star:
            dims = self._known_min_dims(call.node.args[0].value, call.scope, call.order, 0)
        if not entry.arg_conditions:
            return entry.match_call(callee, form=form, input_min_dims=dims)
        positional, keywords = self._arguments(call)
        return entry.match_call(
            callee,
            positional,
            keywords,
            form=form,
            star_args=any(arg.star == "*" for arg in call.node.args),
            star_kwargs=call.has_star_kwargs,
            input_min_dims=dims,
        )

    def _known_min_dims(self, expr: cst.BaseExpression, scope: Scope, order: int, depth: int) -> int | None:
        """How many dims `expr` has at least, where its last reshaping says: `x.transpose(1, 2)` has
        3 or more, `x.permute(0, 2, 1)` and `x.view(b, c, n)` exactly as many as they list."""
        if depth > _MAX_GRADIENT_DEPTH:
            return None
        if isinstance(expr, cst.Name):
            site = self._latest_assignment(expr.value, scope, order, None)
            return (self._known_min_dims(site.value, site.scope, site.order, depth + 1)
                    if site is not None and site.value is not None else None)
        if not isinstance(expr, cst.Call) or not isinstance(expr.func, cst.Attribute) or any(a.star for a in expr.args):
            return None
        method, args = expr.func.attr.value, [arg.value for arg in expr.args if arg.keyword is None]
        if method == "transpose" and len(args) == 2:
            axes = [_literal(arg) for arg in args]
            if all(isinstance(axis, int) and axis >= 0 for axis in axes):
                return max(axes) + 1
        if method in ("permute", "view", "reshape") and len(args) > 1:
            return len(args)
        return None

    def _arguments(self, call: CallSite) -> tuple[list[Any], dict[str, Any]]:
        """The call's arguments as `match_call` takes them, converted once per call."""
        if id(call) not in self._converted:
            positional: list[Any] = []
            keywords: dict[str, Any] = {}
            for arg in call.node.args:
                if arg.star:
                    continue
                value = self._argument_value(arg.value, call)
                if arg.keyword is None:
                    positional.append(value)
                else:
                    keywords[arg.keyword.value] = value
            self._converted[id(call)] = (positional, keywords)
        return self._converted[id(call)]

    def _argument_value(self, expr: cst.BaseExpression, call: CallSite) -> Any:
        literal = _literal(expr)
        if literal is not UNKNOWN:
            return literal
        return TENSOR if self.is_tensor(expr, call.scope, call.order) else UNKNOWN

    # -- indices that cannot collide ------------------------------------------

    def indices_are_unique(self, call: CallSite, entry_id: str, form: str) -> bool:
        """True when the op's `index` is provably free of repeats, so its atomic adds never meet
        at one address: a permutation (`argsort`, `randperm`, `sort(...).indices`), `arange`,
        `unique`, a slice of one, or (for `gather`, whose index is unique per gathered row)
        one expanded or repeated along other dimensions, as MAE-style masking does."""
        if entry_id in _UNIQUE_LOOKUPS:
            # A lookup module built as `self.embed`: judged by what its class looks up with it.
            applications = self._applications(call) if form == "module" else None
            return bool(applications) and all(
                bool(use.node.args) and not use.node.args[0].star
                and self._unique_values(use.node.args[0].value, use.scope, use.order, 0, use.statement, False)
                for use in applications or ()
            )
        function_position, method_position = _INDEX_POSITIONS[entry_id]
        position = method_position if form == "method" else function_position
        if form == "module":
            return False
        index = call.argument(position, "index")
        if index is None:
            return False
        per_row = entry_id == "gather_backward"
        return self._unique_values(index.value, call.scope, call.order, 0, call.statement, per_row)

    def _unique_values(
        self, expr: cst.BaseExpression, scope: Scope, order: int, depth: int, statement: object, per_row: bool
    ) -> bool:
        if depth > _MAX_GRADIENT_DEPTH:
            return False
        if isinstance(expr, cst.Subscript):
            if isinstance(expr.value, cst.Call) and _attribute_name(expr.value.func) == "sort":
                return _subscript_index(expr) == 1  # `x.sort(...)[1]`: the indices
            return self._unique_values(expr.value, scope, order, depth + 1, statement, per_row)
        if isinstance(expr, cst.Attribute) and expr.attr.value == "indices":
            inner = expr.value
            return isinstance(inner, cst.Call) and _attribute_name(inner.func) == "sort"
        if isinstance(expr, cst.Call):
            name = self.facts.qualname(expr.func, scope)
            if name in _UNIQUE_INDEX_SOURCES:
                return True
            method = _attribute_name(expr.func)
            if method in ("argsort", "unique"):
                return True
            preserving = _INDEX_PRESERVING_METHODS | (_ROW_PRESERVING_METHODS if per_row else frozenset())
            if method in preserving and isinstance(expr.func, cst.Attribute):
                return self._unique_values(expr.func.value, scope, order, depth + 1, statement, per_row)
            return False
        if not isinstance(expr, cst.Name):
            return False
        site = self._latest_assignment(expr.value, scope, order, statement)
        return (site is not None and site.value is not None
                and self._unique_values(site.value, site.scope, site.order, depth + 1, None, per_row))

    def _latest_assignment(self, name: str, scope: Scope, order: int, statement: object) -> AssignSite | None:
        binding = self.facts.binding_scope(name, scope)
        if binding is None:
            return None
        sites = [site for site in self._assignments.get((id(binding), name), ())
                 if (site.order < order or binding is not scope) and site.statement is not statement]
        return max(sites, key=lambda site: site.order, default=None)

    # -- where no gradient flows ---------------------------------------------

    def no_gradient_reaches(self, call: CallSite, form: str) -> bool:
        """True when the backward of this call can never run.

        Autograd is off around the call, or the op's input provably carries no
        gradient: a `.detach()`ed value, a tensor loaded with `torch.load` (checkpoint
        surgery), or a batch drawn from a data loader (`for x, y in train_loader:`), and
        what indexing, `.to()`, `.float()` and the like make of those. A module (`nn.Upsample`)
        is judged by where it is built when autograd is off there, else by where its class
        applies it (`self.up(x)`). Anything else may carry a gradient, and is reported.
        """
        if self.facts.grad_disabled(call) or self._in_data_class(call.scope) or self._in_transform(call.scope):
            return True
        if form == "module":
            return self._module_runs_only_without_gradient(call)
        if form == "method":
            assert isinstance(call.node.func, cst.Attribute)
            data = call.node.func.value
        elif form == "function" and call.node.args and not call.node.args[0].star:
            data = call.node.args[0].value
        else:
            return False
        return self._carries_no_gradient(data, call.scope, call.order, 0, call.statement)

    def _module_runs_only_without_gradient(self, built: CallSite) -> bool:
        """A module whose class applies it only under `torch.no_grad()` and the like, or never
        (it only reads the module's `weight`): its backward never runs."""
        applications = self._applications(built)
        return applications is not None and all(self.facts.grad_disabled(use) for use in applications)

    def _applications(self, built: CallSite) -> list[CallSite] | None:
        """For a module stored as `self.name = Module(...)` (or inside `nn.Sequential(...)` stored so)
        in a method, the calls `self.name(x)` in its class. None when the class uses `self.name`
        in another way than calling it or reading its `weight` or `bias` (passes it on, iterates
        it), or does not use it at all (a subclass or another object may), or it is not stored so."""
        line, method = built.statement, built.scope
        if (not isinstance(line, cst.SimpleStatementLine) or not isinstance(line.body[0], cst.Assign)
                or len(line.body[0].targets) != 1 or not self._stored_as_built(line.body[0].value, built)
                or method.kind != "function" or method.parent is None or method.parent.kind != "class"):
            return None
        target = line.body[0].targets[0].target
        if not is_self_attribute(target):
            return None
        name = target.attr.value
        references = called = parameters = 0
        for node in descendants(method.parent.node):
            if isinstance(node, cst.Call) and is_self_attribute(node.func, name):
                called += 1
            elif isinstance(node, cst.Attribute) and is_self_attribute(node.value, name):
                parameters += node.attr.value in ("weight", "bias")
            references += is_self_attribute(node, name)
        if references != 1 + called + parameters or called + parameters == 0:  # 1: the assignment itself
            return None
        return [call for call in self.facts.calls
                if call.scope.parent is method.parent and is_self_attribute(call.node.func, name)]

    def _stored_as_built(self, value: cst.BaseExpression, built: CallSite) -> bool:
        """The assigned value is the module built, or an `nn.Sequential` that takes it as a layer."""
        if value is built.node:
            return True
        return (isinstance(value, cst.Call) and self.facts.qualname(value.func, built.scope) == "torch.nn.Sequential"
                and any(arg.value is built.node for arg in value.args))

    def _carries_no_gradient(
        self, expr: cst.BaseExpression, scope: Scope, order: int, depth: int, statement: object = None
    ) -> bool:
        """`statement`: the one being evaluated, whose own assignment has not happened yet."""
        if depth > _MAX_GRADIENT_DEPTH:
            return False
        if isinstance(expr, cst.Subscript):
            return self._carries_no_gradient(expr.value, scope, order, depth + 1, statement)
        if isinstance(expr, cst.Call):
            # A checkpoint's tensors carry no gradient, and integer tensors (indices, permutations) cannot.
            if self.facts.qualname(expr.func, scope) in WEIGHT_LOADERS | _UNIQUE_INDEX_SOURCES:
                return True
            if isinstance(expr.func, cst.Attribute):
                method = expr.func.attr.value
                if method == "detach":
                    return True
                if method in _GRADIENT_PRESERVING_METHODS:
                    return self._carries_no_gradient(expr.func.value, scope, order, depth + 1, statement)
            return False
        if not isinstance(expr, cst.Name):
            return False
        binding = self.facts.binding_scope(expr.value, scope)
        if binding is None:
            return False
        assigned = self._latest_assignment(expr.value, scope, order, statement)
        looped = [loop for loop in self._loops.get((id(binding), expr.value), ())
                  if loop.order < order or binding is not scope]
        sites: list[AssignSite | LoopSite] = [*([assigned] if assigned else []), *looped]
        latest = max(sites, key=lambda site: site.order, default=None)
        if isinstance(latest, LoopSite):
            return self._iterates_a_loader(latest.node.iter, latest.scope, latest.order)
        return (latest is not None and latest.value is not None
                and self._carries_no_gradient(latest.value, latest.scope, latest.order, depth + 1))

    def _iterates_a_loader(self, expr: cst.BaseExpression, scope: Scope, order: int) -> bool:
        """`loader`, `self.train_loader`, `enumerate(loader)`, `tqdm(loader)`: batches of data."""
        while isinstance(expr, cst.Call) and expr.args and self.facts.qualname(expr.func, scope) in _ITERATION_WRAPPERS:
            expr = expr.args[0].value
        if isinstance(expr, cst.Call):
            return self.facts.qualname(expr.func, scope) in DATA_LOADERS
        name = expr.attr.value if isinstance(expr, cst.Attribute) else expr.value if isinstance(expr, cst.Name) else ""
        if name.lower().endswith(("loader", "dataloader")):
            return True
        # `data = load_data(...)`, `loader = get_loader(...)`: a project helper that hands out batches.
        built = self._latest_assignment(name, scope, order, None) if isinstance(expr, cst.Name) else None
        called = built.value.func if built is not None and isinstance(built.value, cst.Call) else None
        helper = _attribute_name(called) if isinstance(called, cst.Attribute) else getattr(called, "value", "")
        return isinstance(helper, str) and ("loader" in helper.lower() or helper.lower().startswith("load_data"))

    def _in_data_class(self, scope: Scope) -> bool:
        """The code runs in a method of a dataset or sampler class (`torch.utils.data.Dataset`, `Sampler`)."""
        while scope.kind not in ("function", "module") and scope.parent is not None:
            scope = scope.parent
        owner = scope.parent
        cls = self._classes.get(id(owner)) if scope.kind == "function" and owner is not None else None
        return cls is not None and self._has_base(cls, _DATA_CLASSES, set())

    def _in_transform(self, scope: Scope) -> bool:
        """The code is a lambda that a data transform applies to each sample
        (`transforms.Lambda(lambda x: F.pad(x, ...))`): samples carry no gradient."""
        while scope.kind == "comprehension" and scope.parent is not None:
            scope = scope.parent
        return scope.kind == "lambda" and id(scope.node) in self._transform_lambdas

    # -- what is known to be a tensor --------------------------------------

    def is_tensor(self, expr: cst.BaseExpression, scope: Scope, order: int, depth: int = 0) -> bool:
        """True when `expr` is certainly a tensor: a torch call's result, a tensor method's
        result, or a name assigned from one, annotated `torch.Tensor`, or a parameter of
        an `nn.Module`'s `forward`."""
        if depth > _MAX_DEPTH:
            return False
        if isinstance(expr, cst.Call):
            return self._call_returns_tensor(expr, scope, order, depth)
        if isinstance(expr, cst.Name):
            return self._name_is_tensor(expr.value, scope, order, depth)
        return False

    def _call_returns_tensor(self, call: cst.Call, scope: Scope, order: int, depth: int) -> bool:
        qualname = self.facts.qualname(call.func, scope)
        if qualname is not None:
            namespace, _, function = canonical_name(qualname).rpartition(".")
            return (
                namespace in _TENSOR_NAMESPACES
                and function[:1].islower()
                and function not in _NON_TENSOR_FUNCTIONS
            )
        if isinstance(call.func, cst.Attribute) and call.func.attr.value not in _NON_TENSOR_FUNCTIONS:
            return self.is_tensor(call.func.value, scope, order, depth + 1)
        return False

    def _name_is_tensor(self, name: str, scope: Scope, order: int, depth: int) -> bool:
        binding = self.facts.binding_scope(name, scope)
        if binding is None:
            return False
        earlier = [site for site in self._assignments.get((id(binding), name), ()) if site.order < order]
        assignments = earlier if binding is scope else self._assignments.get((id(binding), name), [])
        if assignments:
            site = assignments[-1]
            if isinstance(site.node, cst.AnnAssign) and self._is_tensor_annotation(site.node.annotation, site.scope):
                return True
            return site.value is not None and self.is_tensor(site.value, site.scope, site.order, depth + 1)
        function = self._functions.get(id(binding))
        return function is not None and self._parameter_is_tensor(function, name)

    def _parameter_is_tensor(self, function: FunctionSite, name: str) -> bool:
        params = function.node.params
        every = [*params.posonly_params, *params.params, *params.kwonly_params]
        param = next((p for p in every if p.name.value == name), None)
        if param is None:
            return False
        outer = function.scope.parent or self.facts.module_scope
        if param.annotation is not None and self._is_tensor_annotation(param.annotation, outer):
            return True
        return function.node.name.value == "forward" and param is not every[0] and self._in_nn_module(function)

    def _is_tensor_annotation(self, annotation: cst.Annotation, scope: Scope) -> bool:
        expr = annotation.annotation
        if isinstance(expr, cst.SimpleString):
            return string_value(expr) in (TENSOR_TYPE, "Tensor") and self.imports_torch
        qualname = self.facts.qualname(expr, scope)
        return qualname is not None and canonical_name(qualname) == TENSOR_TYPE

    def _in_nn_module(self, function: FunctionSite) -> bool:
        owner = function.scope.parent
        cls = self._classes.get(id(owner)) if owner is not None else None
        return cls is not None and self._is_nn_module(cls, set())

    def _is_nn_module(self, cls: ClassSite, seen: set[str]) -> bool:
        """`nn.Module` or any torch.nn class among its bases, following classes of this file."""
        seen.add(cls.qualname)
        for base in cls.base_qualnames:
            if base == NN_MODULE or canonical_name(base).startswith("torch.nn."):
                return True
            local = self._classes_by_qualname.get(base)
            if local is not None and local.qualname not in seen and self._is_nn_module(local, seen):
                return True
        return False

    def _has_base(self, cls: ClassSite, bases: frozenset[str], seen: set[str]) -> bool:
        """One of `bases` is among `cls`'s bases, following classes of this file."""
        seen.add(cls.qualname)
        for base in cls.base_qualnames:
            if canonical_name(base) in bases:
                return True
            local = self._classes_by_qualname.get(base)
            if local is not None and local.qualname not in seen and self._has_base(local, bases, seen):
                return True
        return False

    # -- indexes -------------------------------------------------------------

    @cached_property
    def _assignments(self) -> dict[tuple[int, str], list[AssignSite]]:
        index: dict[tuple[int, str], list[AssignSite]] = {}
        for site in self.facts.assignments:
            if isinstance(site.target, cst.Name):
                index.setdefault((id(site.scope), site.target.value), []).append(site)
        return index

    @cached_property
    def _loops(self) -> dict[tuple[int, str], list[LoopSite]]:
        index: dict[tuple[int, str], list[LoopSite]] = {}
        for loop in self.facts.loops:
            for name in loop.names:
                index.setdefault((id(loop.scope), name), []).append(loop)
        return index

    @cached_property
    def _functions(self) -> dict[int, FunctionSite]:
        return {id(function.scope): function for function in self.facts.functions}

    @cached_property
    def _transform_lambdas(self) -> frozenset[int]:
        wrapped = (call.node.args[0].value for call in self.facts.calls
                   if call.qualname in _TRANSFORM_WRAPPERS and call.node.args)
        return frozenset(id(value) for value in wrapped if isinstance(value, cst.Lambda))

    @cached_property
    def _classes(self) -> dict[int, ClassSite]:
        return {id(cls.scope): cls for cls in self.facts.classes}

    @cached_property
    def _classes_by_qualname(self) -> dict[str, ClassSite]:
        prefix = f"{self.facts.module_name}." if self.facts.module_name else ""
        return {prefix + cls.qualname: cls for cls in self.facts.classes}


_BEHAVIOUR_RANK = {"raises": 0, "nondeterministic": 1, "deterministic-alternative": 2}


def _severity(use: OpUse) -> tuple[int, bool, bool]:
    """Raising before staying nondeterministic before having an alternative; then
    nondeterministic-by-default entries, then those the literal arguments decided."""
    return _BEHAVIOUR_RANK[use.behaviour.under_det_mode], not use.nondeterministic_by_default, not use.match.certain


def _is_mps(expr: cst.BaseExpression) -> bool:
    value = string_value(expr)
    return value is not None and (value == "mps" or value.startswith("mps:"))


def _attribute_name(func: cst.BaseExpression) -> str | None:
    return func.attr.value if isinstance(func, cst.Attribute) else None


def _subscript_index(expr: cst.Subscript) -> int | None:
    if len(expr.slice) != 1 or not isinstance(expr.slice[0].slice, cst.Index):
        return None
    value = expr.slice[0].slice.value
    return int(value.value) if isinstance(value, cst.Integer) else None


def _literal(expr: cst.BaseExpression) -> Any:
    """The Python value of a literal argument, or UNKNOWN."""
    if isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[expr.value]
    if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString)):
        try:
            return expr.evaluated_value
        except Exception:  # noqa: BLE001 - an odd literal is simply not known
            return UNKNOWN
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = _literal(expr.expression)
        return -inner if isinstance(inner, (int, float)) and not isinstance(inner, bool) else UNKNOWN
    if isinstance(expr, (cst.Tuple, cst.List)):
        if any(isinstance(element, cst.StarredElement) for element in expr.elements):
            return UNKNOWN
        # Unknown items still give a known length: `F.pad(x, (p, p), mode="reflect")` is 1-D padding.
        return tuple(_literal(element.value) for element in expr.elements)
    return UNKNOWN
