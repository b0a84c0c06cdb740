"""The catalog's data model: ops, their per-version behaviour, and matching a call against them.

The vocabularies are the values `rules/catalog/SCHEMA.md` documents; the loader
validates every file against them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from repro_lint.catalog.names import canonical_name
from repro_lint.versions import Version, format_version

# Vocabularies (SCHEMA.md explains each value).
# Where an op misbehaves. "cuda" and "mps" are accelerators a machine may lack; "any" covers
# every device, the CPU included.
DEVICES = ("cuda", "mps", "cpu", "any")
DEVICE_NAMES = {"cuda": "CUDA", "mps": "MPS", "cpu": "CPU", "any": "any device"}
PHASES = ("forward", "backward", "forward+backward")
DEFAULTS = ("nondeterministic", "deterministic")
UNDER_DET_MODE = ("deterministic-alternative", "raises", "nondeterministic")
DOCSTRING_LISTS = ("deterministic-alternative", "raises", "absent")
CONFIDENCE = ("measured", "doc", "binary", "source", "pr", "inferred")
LINT_SCOPES = ("call", "program", "off")
SYNTAX_FORMS = ("subscript-load", "subscript-store")
ARG_TESTS = ("in", "not_in", "given", "omitted", "not_number", "len_in")
IF_UNKNOWN = ("flag", "skip")
FORMS = ("function", "method", "module")


class CatalogError(ValueError):
    """The catalog data is malformed (raised while loading)."""


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name


UNKNOWN: Any = _Sentinel("UNKNOWN")
"""An argument whose value is not a literal (a name, a call, ...)."""

TENSOR: Any = _Sentinel("TENSOR")
"""An argument known to be a tensor (e.g. assigned from a torch call), value unknown."""

_MISSING: Any = _Sentinel("MISSING")


def freeze(value: Any) -> Any:
    """Lists from TOML as tuples, so that conditions can be hashed."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (bool, int, float, complex))


def _literal_repr(value: Any) -> str:
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, tuple):
        inner = ", ".join(_literal_repr(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


@dataclass(frozen=True)
class ArgCondition:
    """One condition on a call's argument; an entry matches when all of them hold."""

    arg: str
    test: str
    values: tuple[Any, ...] = ()
    positions: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    has_default: bool = False
    default: Any = None
    applies_to: tuple[str, ...] = ()
    if_unknown: str = "flag"
    text: str = ""

    def __hash__(self) -> int:
        return hash((self.arg, self.test, self.values, self.applies_to))

    def applies(self, callee: str) -> bool:
        return not self.applies_to or callee in self.applies_to

    def position(self, callee: str, form: str) -> int | None:
        """Index of the argument among the positional arguments of `callee`'s call."""
        if callee in self.positions:
            return self.positions[callee]
        return self.positions.get(form)

    def evaluate(
        self,
        callee: str,
        form: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        star_args: bool = False,
        star_kwargs: bool = False,
    ) -> bool | None:
        """True / False when the literal arguments decide the condition, None when they cannot."""
        kwargs = kwargs or {}
        value: Any
        if self.arg in kwargs:
            value = kwargs[self.arg]
        else:
            pos = self.position(callee, form)
            if pos is not None and pos < len(args):
                value = args[pos]
            elif star_args or star_kwargs:
                value = UNKNOWN
            else:
                value = _MISSING
        if value is not _MISSING and value is not UNKNOWN and value is not TENSOR:
            value = freeze(value)
        test = self.test
        if test == "given":
            if value is _MISSING or value is None:
                return False
            return None if value is UNKNOWN else True
        if test == "omitted":
            if value is _MISSING or value is None:
                return True
            return None if value is UNKNOWN else False
        if test == "not_number":
            if value is TENSOR:
                return True
            if value is UNKNOWN:
                return None
            if value is _MISSING:
                return False
            return not _is_number(value) and value is not None and not isinstance(value, str)
        if value is _MISSING:
            if not self.has_default:
                return None
            value = freeze(self.default)
        if value is UNKNOWN or value is TENSOR:
            return None
        if test == "len_in":
            return len(value) in self.values if isinstance(value, tuple) else None
        if isinstance(value, tuple) and any(item is UNKNOWN for item in value):
            return None
        if test == "in":
            return value in self.values
        if test == "not_in":
            return value not in self.values
        raise AssertionError(test)  # validated at load time

    def describe(self) -> str:
        if self.text:
            return self.text
        shown = "|".join(_literal_repr(v) for v in self.values)
        if self.test == "in":
            return f"{self.arg}={shown}"
        if self.test == "not_in":
            return f"{self.arg} not {shown}"
        if self.test == "given":
            return f"{self.arg}= given"
        if self.test == "omitted":
            return f"no {self.arg}="
        if self.test == "not_number":
            return f"{self.arg} is a tensor"
        if self.test == "len_in":
            return f"len({self.arg}) in {shown}"
        return self.arg


@dataclass(frozen=True)
class InputCondition:
    """Conditions on runtime values (shape, dtype, layout, data) that a linter cannot see."""

    min_dims: int | None = None
    dims: tuple[int, ...] = ()
    dtypes: tuple[str, ...] = ()
    sparse: bool = False
    quantized: bool = False
    duplicate_indices: bool = False
    text: str = ""
    if_unknown: str = "flag"

    @property
    def empty(self) -> bool:
        return not (self.min_dims or self.dims or self.dtypes or self.sparse or self.quantized
                    or self.duplicate_indices or self.text)

    def describe(self) -> str:
        parts = []
        if self.min_dims:
            parts.append(f"input has >= {self.min_dims} dims")
        if self.dims:
            parts.append("input is " + "/".join(f"{d}-D" for d in self.dims))
        if self.dtypes:
            parts.append("/".join(self.dtypes) + " dtype")
        if self.sparse:
            parts.append("sparse operand")
        if self.quantized:
            parts.append("quantized tensor")
        if self.duplicate_indices:
            parts.append("duplicate indices")
        if self.text:
            parts.append(self.text)
        return "; ".join(parts)


@dataclass(frozen=True)
class Behaviour:
    """How an op behaves over a range of torch versions."""

    default: str
    under_det_mode: str
    source: str
    since: Version = (0, 0)
    until: Version | None = None
    confidence: str = "doc"
    docstring: str = "absent"
    docstring_differs: str = ""
    note: str = ""

    def covers(self, version: Version) -> bool:
        return self.since <= version and (self.until is None or version <= self.until)

    @property
    def versions_text(self) -> str:
        start = format_version(self.since)
        if self.until is None:
            return f">={start}"
        end = format_version(self.until)
        return start if start == end else f"{start}-{end}"


@dataclass(frozen=True)
class CallMatch:
    """The result of checking one call against one entry's conditions."""

    entry: OpEntry
    matched: bool
    """Report it: every argument condition holds, or the undecided ones say `flag`."""
    certain: bool
    """Every argument condition was decided from literal arguments."""
    undecided: tuple[str, ...] = ()
    """Descriptions of argument conditions the literals could not decide."""
    runtime_condition: str = ""
    """What must also hold at run time (shape, dtype, duplicates), or ''."""


@dataclass(frozen=True, eq=False)
class OpEntry:
    """One catalog entry: an op (or group of spellings of one op) and its history."""

    id: str
    title: str
    functions: tuple[str, ...]
    methods: tuple[str, ...]
    modules: tuple[str, ...]
    device: str
    phase: str
    arg_conditions: tuple[ArgCondition, ...]
    input: InputCondition
    workaround: str
    probe: str
    cudnn: bool
    # Under `use_deterministic_algorithms(True, warn_only=True)` the op warns and keeps its
    # nondeterministic kernel instead of switching to the deterministic one.
    warn_only_nondeterministic: bool
    history: tuple[Behaviour, ...]
    syntax: tuple[str, ...] = ()
    probe_defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    probe_requires: tuple[str, ...] = ()
    env: str = ""
    lint: str = "call"
    undocumented: bool = False
    docstring_names: tuple[str, ...] = ()
    docstring_differs: str = ""
    alerts: tuple[str, ...] = ()
    notes: str = ""
    oldest_version: Version = (0, 0)
    """The catalog's oldest version; older targets are looked up as this one."""

    # -- versions ----------------------------------------------------------

    def behaviour(self, version: Version) -> Behaviour | None:
        """The behaviour in `version`, or None when the op is deterministic (or absent) there.

        A version older than the catalog's oldest is looked up as the oldest; the last
        row is open-ended unless it has `until`, so newer versions get the newest facts.
        """
        version = max(tuple(version), self.oldest_version)  # type: ignore[assignment]
        for row in self.history:
            if row.covers(version):
                return row
        return None

    # -- call matching -------------------------------------------------------

    def form_of(self, callee: str) -> str | None:
        callee = canonical_name(callee)
        if callee in self.modules:
            return "module"
        if callee in self.functions:
            return "function"
        if callee in self.methods:
            return "method"
        return None

    def match_call(
        self,
        callee: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        form: str | None = None,
        star_args: bool = False,
        star_kwargs: bool = False,
        input_min_dims: int | None = None,
    ) -> CallMatch:
        """Check a call's arguments against the entry's argument conditions.

        `callee` is the qualified name (function or module class) or the bare method
        name. `args`/`kwargs` hold Python literals for literal arguments, `UNKNOWN`
        for anything else and `TENSOR` for a known tensor. For the function form the
        tensor (`input`/`self`) is `args[0]`; for a method call it is the receiver and
        not part of `args`; for a module it is the constructor's arguments.
        `input_min_dims`: how many dims the input tensor is known to have at least.
        """
        callee = canonical_name(callee)
        form = form or self.form_of(callee) or "function"
        undecided: list[str] = []
        matched = True
        for cond in self.arg_conditions:
            if not cond.applies(callee):
                continue
            result = cond.evaluate(callee, form, args, kwargs, star_args=star_args, star_kwargs=star_kwargs)
            if result is False:
                return CallMatch(self, False, True, (), self.input.describe())
            if result is None:
                undecided.append(cond.describe())
                if cond.if_unknown == "skip":
                    matched = False
        known = self._input_known_to_match(input_min_dims)
        if not self.input.empty and self.input.if_unknown == "skip" and not known:
            matched = False
        return CallMatch(self, matched, not undecided, tuple(undecided), self.input.describe())

    def _input_known_to_match(self, input_min_dims: int | None) -> bool:
        """The input condition is only a lower bound on dims, and the input has at least that many."""
        condition = self.input
        only_min_dims = condition.min_dims is not None and condition == InputCondition(
            min_dims=condition.min_dims, text=condition.text, if_unknown=condition.if_unknown)
        return only_min_dims and input_min_dims is not None and input_min_dims >= (condition.min_dims or 0)

    # -- text --------------------------------------------------------------

    def condition_text(self, callee: str | None = None) -> str:
        """A short human description of when the op is nondeterministic."""
        where = DEVICE_NAMES[self.device]
        phase = {"forward": "", "backward": " backward", "forward+backward": " fwd+bwd"}[self.phase]
        parts = [where + phase]
        scoped: dict[tuple[str, ...], list[str]] = {}
        for cond in self.arg_conditions:
            if callee is not None:
                if cond.applies(callee):
                    parts.append(cond.describe())
            elif not cond.applies_to or set(cond.applies_to) >= self._call_names():
                parts.append(cond.describe())
            else:
                scoped.setdefault(cond.applies_to, []).append(cond.describe())
        for names, descs in scoped.items():
            shown = ", ".join(_short(n) for n in names[:2]) + (", ..." if len(names) > 2 else "")
            parts.append(f"{', '.join(descs)} (for {shown})")
        if not self.input.empty:
            parts.append(self.input.describe())
        if self.env:
            parts.append(f"{self.env} unset")
        return "; ".join(parts)

    def _call_names(self) -> set[str]:
        return set(self.functions) | set(self.methods) | set(self.modules)

    def call_forms(self) -> list[str]:
        """Short spellings of every call form (``F.x``, ``nn.X``, ``.x_()``, ``x[i]``)."""
        shown = [_short(name) for name in self.functions if not name.startswith("torch.Tensor.")]
        shown += [_short(name) for name in self.modules]
        shown += [f".{name}()" for name in self.methods if not name.startswith("__")]
        if "subscript-load" in self.syntax:
            shown.append("x[idx]")
        if "subscript-store" in self.syntax:
            shown.append("x[idx] = v")
        return shown

    def render_probe(self, **values: Any) -> str:
        """The probe with its ``{name}`` placeholders replaced by ``repr`` of the values.

        Values default to `probe_defaults`; names not declared there are ignored.
        """
        merged = dict(self.probe_defaults)
        merged.update({k: v for k, v in values.items() if k in self.probe_defaults})
        if not merged:
            return self.probe
        pattern = re.compile(r"\{(" + "|".join(re.escape(k) for k in merged) + r")\}")
        return pattern.sub(lambda m: _literal_repr(freeze(merged[m.group(1)])), self.probe)

    @property
    def flags_unconditionally(self) -> bool:
        """No argument or input condition narrows the entry."""
        return not self.arg_conditions and self.input.empty


def _short(name: str) -> str:
    for prefix, short in (("torch.nn.functional.", "F."), ("torch.nn.", "nn.")):
        if name.startswith(prefix):
            return short + name[len(prefix):]
    return name


@dataclass(frozen=True)
class SharedMethod:
    name: str
    also_on: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Catalog:
    ops: tuple[OpEntry, ...]
    versions: tuple[Version, ...]
    shared_methods: tuple[SharedMethod, ...] = ()
    schema_version: int = 1
    _by_function: Mapping[str, tuple[OpEntry, ...]] = field(default_factory=dict, repr=False)
    _by_method: Mapping[str, tuple[OpEntry, ...]] = field(default_factory=dict, repr=False)
    _by_module: Mapping[str, tuple[OpEntry, ...]] = field(default_factory=dict, repr=False)
    _by_id: Mapping[str, OpEntry] = field(default_factory=dict, repr=False)

    @property
    def newest_version(self) -> Version:
        return self.versions[-1]

    @property
    def oldest_version(self) -> Version:
        return self.versions[0]

    @property
    def shared_method_names(self) -> frozenset[str]:
        """Method names that numpy, pandas and other libraries also define."""
        return frozenset(m.name for m in self.shared_methods)

    def is_shared_method(self, name: str) -> bool:
        return name in self.shared_method_names

    def entry(self, op_id: str) -> OpEntry:
        return self._by_id[op_id]

    def for_function(self, qualname: str) -> list[OpEntry]:
        return list(self._by_function.get(canonical_name(qualname), ()))

    def for_method(self, name: str) -> list[OpEntry]:
        return list(self._by_method.get(name, ()))

    def for_module(self, qualname: str) -> list[OpEntry]:
        return list(self._by_module.get(canonical_name(qualname), ()))

    def for_syntax(self, form: str) -> list[OpEntry]:
        return [op for op in self.ops if form in op.syntax]

    def applicable(self, version: Version) -> list[tuple[OpEntry, Behaviour]]:
        """Entries with a behaviour in `version`, in catalog order."""
        result = []
        for op in self.ops:
            row = op.behaviour(version)
            if row is not None:
                result.append((op, row))
        return result
