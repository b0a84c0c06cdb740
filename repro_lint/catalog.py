"""The versioned catalog of nondeterministic PyTorch ops.

The data lives in TOML files under ``rules/catalog/`` (shipped as the package
``repro_lint.rules.catalog``); ``rules/catalog/SCHEMA.md`` documents it. This module
loads and validates those files and answers the questions the rules ask: which
entries a call matches, whether the call's literal arguments meet an entry's
conditions, and how an entry behaves for a given torch version.

This is a static linter: nothing here imports torch or numpy.
"""

from __future__ import annotations

import functools
import re
import sys
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "ArgCondition",
    "Behaviour",
    "CallMatch",
    "Catalog",
    "CatalogError",
    "InputCondition",
    "OpEntry",
    "TENSOR",
    "UNKNOWN",
    "build_catalog",
    "canonical_name",
    "format_ops_table",
    "format_version",
    "load_catalog",
    "parse_version",
]

Version = tuple[int, int]

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


# ---------------------------------------------------------------------------
# Versions


_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?(?:[.+\-]?[0-9A-Za-z][0-9A-Za-z.+\-_]*)?\s*$")


def parse_version(text: str) -> Version:
    """``"2.13"``, ``"2.13.0+cpu"``, ``"1.8"``, ``"2.1.0a0+git1234"`` -> ``(major, minor)``.

    Raises ValueError for anything that does not start with ``MAJOR.MINOR``.
    """
    if not isinstance(text, str):
        raise ValueError(f"torch version must be a string, got {type(text).__name__}")
    match = _VERSION.match(text)
    if match is None:
        raise ValueError(f"not a torch version: {text!r} (expected MAJOR.MINOR, e.g. 2.13)")
    return int(match.group(1)), int(match.group(2))


def format_version(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


# ---------------------------------------------------------------------------
# Qualified names


# Where torch defines a public name under a private or submodule path, map the
# defining path back to the public one, so that `from torch.nn.modules.conv import
# Conv2d` and `torch.nn.Conv2d` meet the same catalog entry.
_ALIAS_PREFIXES: tuple[tuple[str, str], ...] = (
    ("torch._C._VariableFunctions.", "torch."),
    ("torch._C._TensorBase.", "torch.Tensor."),
    ("torch._C.TensorBase.", "torch.Tensor."),
    ("torch._tensor.Tensor.", "torch.Tensor."),
    ("torch.functional.", "torch."),
    ("torch.nn.modules.", "torch.nn."),
)


def canonical_name(qualname: str) -> str:
    """Map an alias path of a torch name to the public spelling the catalog uses."""
    for prefix, public in _ALIAS_PREFIXES:
        if qualname.startswith(prefix):
            rest = qualname[len(prefix):]
            if public == "torch.nn.":
                # torch.nn.modules.conv.Conv2d -> torch.nn.Conv2d
                rest = rest.rsplit(".", 1)[-1]
            return public + rest
    return qualname


# ---------------------------------------------------------------------------
# Argument values as the linter sees them


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


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
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


# ---------------------------------------------------------------------------
# Data classes


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
            value = _freeze(value)
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
            value = _freeze(self.default)
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
    ) -> CallMatch:
        """Check a call's arguments against the entry's argument conditions.

        `callee` is the qualified name (function or module class) or the bare method
        name. `args`/`kwargs` hold Python literals for literal arguments, `UNKNOWN`
        for anything else and `TENSOR` for a known tensor. For the function form the
        tensor (`input`/`self`) is `args[0]`; for a method call it is the receiver and
        not part of `args`; for a module it is the constructor's arguments.
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
        if not self.input.empty and self.input.if_unknown == "skip":
            matched = False
        return CallMatch(self, matched, not undecided, tuple(undecided), self.input.describe())

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
        return pattern.sub(lambda m: _literal_repr(_freeze(merged[m.group(1)])), self.probe)

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

    def _env_required(self, op_id: str, version: Version) -> bool:
        row = self._by_id[op_id].behaviour(version)
        return row is not None

    def cublas_workspace_required(self, version: Version) -> bool:
        """True where torch raised for mm/mv/bmm on CUDA under deterministic mode
        unless CUBLAS_WORKSPACE_CONFIG was set (up to ~2.9)."""
        row = self._by_id["cublas_workspace"].behaviour(version)
        return row is not None and row.under_det_mode == "raises"

    def rnn_workspace_required(self, version: Version) -> bool:
        """True where the nn.RNN/LSTM/GRU docs prescribe CUBLAS_WORKSPACE_CONFIG for
        deterministic cuDNN RNNs (every catalogued version so far)."""
        return self._env_required("cudnn_rnn", version)


# ---------------------------------------------------------------------------
# Loading and validation


_CATALOG_KEYS = {"versions", "description"}
_OP_KEYS = {
    "id", "title", "functions", "methods", "modules", "syntax", "device", "phase", "args", "input",
    "workaround", "probe", "probe_defaults", "probe_requires", "cudnn", "env", "lint", "undocumented",
    "docstring_names", "docstring_differs", "alerts", "notes", "history",
}
_OP_REQUIRED = {"id", "title", "device", "phase", "workaround", "probe", "history"}
_ARG_KEYS = {"arg", "test", "values", "pos", "default", "applies_to", "if_unknown", "text"}
_INPUT_KEYS = {"min_dims", "dims", "dtypes", "sparse", "quantized", "duplicate_indices", "text", "if_unknown"}
_ROW_KEYS = {"since", "until", "default", "under_det_mode", "source", "confidence", "docstring",
             "docstring_differs", "note"}
_ROW_REQUIRED = {"since", "default", "under_det_mode", "source", "confidence"}


def _fail(where: str, message: str) -> CatalogError:
    return CatalogError(f"{where}: {message}")


def _check_keys(table: Mapping[str, Any], allowed: set[str], required: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise _fail(where, f"unknown key(s) {sorted(unknown)}")
    missing = required - set(table)
    if missing:
        raise _fail(where, f"missing key(s) {sorted(missing)}")


def _choice(value: Any, allowed: Sequence[str], where: str, key: str) -> str:
    if value not in allowed:
        raise _fail(where, f"{key} = {value!r}, expected one of {list(allowed)}")
    return value


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, f"{key} must be an array of strings")
    return tuple(value)


def _version_in(text: Any, versions: tuple[Version, ...], where: str, key: str) -> Version:
    try:
        version = parse_version(text)
    except ValueError as error:
        raise _fail(where, f"{key}: {error}") from None
    if version not in versions:
        raise _fail(where, f"{key} = {text!r} is not one of the catalog's versions")
    return version


def _build_arg(table: Mapping[str, Any], where: str) -> ArgCondition:
    _check_keys(table, _ARG_KEYS, {"arg", "test"}, where)
    test = _choice(table["test"], ARG_TESTS, where, "test")
    values = table.get("values", [])
    if not isinstance(values, list):
        raise _fail(where, "values must be an array")
    if test in ("in", "not_in", "len_in") and not values:
        raise _fail(where, f"test {test!r} needs values")
    pos = table.get("pos", {})
    if not isinstance(pos, dict) or not all(isinstance(v, int) and v >= 0 for v in pos.values()):
        raise _fail(where, "pos must map a form or callee to a non-negative index")
    return ArgCondition(
        arg=table["arg"],
        test=test,
        values=_freeze(values),
        positions=MappingProxyType(dict(pos)),
        has_default="default" in table,
        default=_freeze(table.get("default")),
        applies_to=_strings(table.get("applies_to", []), where, "applies_to"),
        if_unknown=_choice(table.get("if_unknown", "flag"), IF_UNKNOWN, where, "if_unknown"),
        text=table.get("text", ""),
    )


def _build_input(table: Mapping[str, Any], where: str) -> InputCondition:
    _check_keys(table, _INPUT_KEYS, set(), where)
    return InputCondition(
        min_dims=table.get("min_dims"),
        dims=tuple(table.get("dims", ())),
        dtypes=_strings(table.get("dtypes", []), where, "dtypes"),
        sparse=bool(table.get("sparse", False)),
        quantized=bool(table.get("quantized", False)),
        duplicate_indices=bool(table.get("duplicate_indices", False)),
        text=table.get("text", ""),
        if_unknown=_choice(table.get("if_unknown", "flag"), IF_UNKNOWN, where, "if_unknown"),
    )


def _expected_docstring(undocumented: bool, default: str, under_det_mode: str) -> str:
    if undocumented or under_det_mode == "nondeterministic":
        return "absent"
    return under_det_mode


def _build_row(table: Mapping[str, Any], versions: tuple[Version, ...], undocumented: bool, where: str) -> Behaviour:
    _check_keys(table, _ROW_KEYS, _ROW_REQUIRED, where)
    default = _choice(table["default"], DEFAULTS, where, "default")
    under = _choice(table["under_det_mode"], UNDER_DET_MODE, where, "under_det_mode")
    if default == "deterministic" and under != "raises":
        raise _fail(where, "a deterministic op only belongs in the catalog when deterministic mode makes it raise")
    since = _version_in(table["since"], versions, where, "since")
    until = _version_in(table["until"], versions, where, "until") if "until" in table else None
    if until is not None and until < since:
        raise _fail(where, "until is before since")
    expected = _expected_docstring(undocumented, default, under)
    docstring = _choice(table.get("docstring", expected), DOCSTRING_LISTS, where, "docstring")
    differs = table.get("docstring_differs", "")
    if docstring != expected and not differs:
        raise _fail(where, f"docstring = {docstring!r} differs from {expected!r}: say why in docstring_differs")
    if not isinstance(table["source"], str) or not table["source"].strip():
        raise _fail(where, "source must be a non-empty string")
    return Behaviour(
        default=default,
        under_det_mode=under,
        source=table["source"],
        since=since,
        until=until,
        confidence=_choice(table["confidence"], CONFIDENCE, where, "confidence"),
        docstring=docstring,
        docstring_differs=differs,
        note=table.get("note", ""),
    )


def _build_op(table: Mapping[str, Any], versions: tuple[Version, ...], origin: str) -> OpEntry:
    where = f"{origin}: op {table.get('id', '?')!r}"
    _check_keys(table, _OP_KEYS, _OP_REQUIRED, where)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", table["id"]):
        raise _fail(where, "id must be lower_snake_case")
    functions = _strings(table.get("functions", []), where, "functions")
    methods = _strings(table.get("methods", []), where, "methods")
    modules = _strings(table.get("modules", []), where, "modules")
    syntax = _strings(table.get("syntax", []), where, "syntax")
    for form in syntax:
        _choice(form, SYNTAX_FORMS, where, "syntax")
    if not (functions or methods or modules or syntax):
        raise _fail(where, "an entry needs at least one call form")
    for name in functions + modules:
        if canonical_name(name) != name or not name.startswith("torch."):
            raise _fail(where, f"{name!r} is not a canonical torch qualified name")
    for name in methods:
        if "." in name:
            raise _fail(where, f"method {name!r} must be a bare name")
    undocumented = bool(table.get("undocumented", False))
    rows = tuple(
        _build_row(row, versions, undocumented, f"{where} history[{i}]") for i, row in enumerate(table["history"])
    )
    if not rows:
        raise _fail(where, "history is empty")
    ordered = sorted(rows, key=lambda r: r.since)
    for before, after in zip(ordered, ordered[1:]):
        if before.until is None or before.until >= after.since:
            raise _fail(where, f"history rows {before.versions_text} and {after.versions_text} overlap")
    args = tuple(_build_arg(a, f"{where} args[{i}]") for i, a in enumerate(table.get("args", [])))
    names = set(functions) | set(methods) | set(modules)
    for cond in args:
        for name in cond.applies_to:
            if name not in names:
                raise _fail(where, f"applies_to names {name!r}, which is not a call form of the entry")
    docstring_names = _strings(table.get("docstring_names", []), where, "docstring_names")
    for name in docstring_names:
        if name not in functions and name not in modules:
            raise _fail(where, f"docstring name {name!r} must be one of the entry's functions or modules")
    defaults = table.get("probe_defaults", {})
    if not isinstance(defaults, dict):
        raise _fail(where, "probe_defaults must be a table")
    probe = table["probe"]
    if not isinstance(probe, str) or "out" not in probe:
        raise _fail(where, "probe must be a string that assigns `out`")
    for key in defaults:
        if "{" + key + "}" not in probe:
            raise _fail(where, f"probe_defaults key {key!r} has no {{{key}}} placeholder in the probe")
    return OpEntry(
        id=table["id"],
        title=table["title"],
        functions=functions,
        methods=methods,
        modules=modules,
        syntax=syntax,
        device=_choice(table["device"], DEVICES, where, "device"),
        phase=_choice(table["phase"], PHASES, where, "phase"),
        arg_conditions=args,
        input=_build_input(table.get("input", {}), f"{where} input"),
        workaround=table["workaround"].strip(),
        probe=textwrap.dedent(probe).strip("\n") + "\n",
        probe_defaults=MappingProxyType(dict(defaults)),
        probe_requires=_strings(table.get("probe_requires", []), where, "probe_requires"),
        cudnn=bool(table.get("cudnn", False)),
        env=table.get("env", ""),
        lint=_choice(table.get("lint", "call"), LINT_SCOPES, where, "lint"),
        undocumented=undocumented,
        docstring_names=docstring_names,
        docstring_differs=table.get("docstring_differs", "").strip(),
        alerts=_strings(table.get("alerts", []), where, "alerts"),
        notes=table.get("notes", "").strip(),
        history=tuple(ordered),
        oldest_version=versions[0],
    )


def _index(ops: Iterable[OpEntry], key) -> dict[str, tuple[OpEntry, ...]]:
    index: dict[str, list[OpEntry]] = {}
    for op in ops:
        for name in key(op):
            index.setdefault(name, []).append(op)
    return {name: tuple(entries) for name, entries in index.items()}


def build_catalog(documents: Iterable[tuple[str, Mapping[str, Any]]]) -> Catalog:
    """Build a Catalog from parsed TOML documents, given as (origin, data) pairs."""
    documents = list(documents)
    meta = [(origin, doc["catalog"]) for origin, doc in documents if "catalog" in doc]
    if len(meta) != 1:
        raise CatalogError(f"exactly one catalog file must have a [catalog] table, found {len(meta)}")
    origin, table = meta[0]
    _check_keys(table, _CATALOG_KEYS, {"versions"}, f"{origin}: [catalog]")
    versions = tuple(parse_version(v) for v in table["versions"])
    if list(versions) != sorted(set(versions)):
        raise CatalogError(f"{origin}: [catalog] versions must be ascending and unique")
    schema_versions = {doc.get("schema_version", 1) for _, doc in documents}
    if schema_versions != {1}:
        raise CatalogError(f"unsupported schema_version(s) {sorted(schema_versions)}")
    ops: list[OpEntry] = []
    shared: list[SharedMethod] = []
    for origin, doc in documents:
        unknown = set(doc) - {"schema_version", "catalog", "op", "shared_method"}
        if unknown:
            raise CatalogError(f"{origin}: unknown top-level key(s) {sorted(unknown)}")
        for table in doc.get("op", []):
            ops.append(_build_op(table, versions, origin))
        for table in doc.get("shared_method", []):
            _check_keys(table, {"name", "also_on"}, {"name", "also_on"}, f"{origin}: shared_method")
            shared.append(SharedMethod(table["name"], _strings(table["also_on"], origin, "also_on")))
    seen: set[str] = set()
    for op in ops:
        if op.id in seen:
            raise CatalogError(f"duplicate op id {op.id!r}")
        seen.add(op.id)
    for required in ("cublas_workspace", "cudnn_rnn"):
        if required not in seen:
            raise CatalogError(f"the catalog needs an op {required!r}")
    ops_t = tuple(ops)
    return Catalog(
        ops=ops_t,
        versions=versions,
        shared_methods=tuple(shared),
        _by_function=_index(ops_t, lambda op: op.functions),
        _by_method=_index(ops_t, lambda op: op.methods),
        _by_module=_index(ops_t, lambda op: op.modules),
        _by_id={op.id: op for op in ops_t},
    )


def _catalog_files() -> Iterator[tuple[str, bytes]]:
    directory: Any = None
    try:
        from importlib.resources import files

        candidate = files("repro_lint.rules") / "catalog"
        if candidate.is_dir() and any(p.name.endswith(".toml") for p in candidate.iterdir()):
            directory = candidate
    except Exception:  # not installed, or the rules package fails to import: use the source tree
        directory = None
    if directory is None:
        source_tree = Path(__file__).resolve().parent.parent / "rules" / "catalog"
        if not source_tree.is_dir():
            raise CatalogError(f"cannot find the catalog data (looked in repro_lint.rules and {source_tree})")
        directory = source_tree
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml") and entry.is_file():
            yield entry.name, entry.read_bytes()


@functools.cache
def load_catalog() -> Catalog:
    """Load, validate and cache the catalog shipped in ``repro_lint.rules/catalog``."""
    documents = []
    for name, data in _catalog_files():
        try:
            documents.append((name, tomllib.loads(data.decode("utf-8"))))
        except tomllib.TOMLDecodeError as error:
            raise CatalogError(f"{name}: {error}") from None
    return build_catalog(documents)


# ---------------------------------------------------------------------------
# The human table


_SHORT_BEHAVIOUR = {
    "nondeterministic": "nondet",
    "deterministic": "det",
    "deterministic-alternative": "det-alt",
    "raises": "raises",
}


def format_ops_table(version: Version, *, width: int = 160) -> str:
    """The catalog as it applies to `version`, as a text table (for `repro-lint rules --ops`)."""
    catalog = load_catalog()
    rows = catalog.applicable(version)
    note = ""
    if version > catalog.newest_version:
        note = f" (newer than the catalog's newest version {format_version(catalog.newest_version)}: shown as that)"
    elif version < catalog.oldest_version:
        note = f" (older than the catalog's oldest version {format_version(catalog.oldest_version)}: shown as that)"
    header = ("ID", "CALL FORMS", "CONDITION", "DEFAULT", "DET MODE", "WORKAROUND")
    fixed = [max(len(op.id) for op in catalog.ops), 34, 34, 7, 8]
    last = max(24, width - sum(fixed) - 2 * len(fixed))
    widths = fixed + [last]
    lines = [
        f"Nondeterministic PyTorch ops for torch {format_version(version)}{note}: {len(rows)} of "
        f"{len(catalog.ops)} catalog entries apply.",
        "DEFAULT: behaviour without deterministic mode. DET MODE: under "
        "torch.use_deterministic_algorithms(True): det-alt = a deterministic implementation is used, "
        "raises = RuntimeError, nondet = stays nondeterministic.",
        "",
    ]

    def emit(cells: Sequence[str]) -> None:
        wrapped = [
            textwrap.wrap(cell, w, break_on_hyphens=False, break_long_words=False) or [""]
            for cell, w in zip(cells, widths)
        ]
        for i in range(max(len(w) for w in wrapped)):
            parts = [(w[i] if i < len(w) else "").ljust(widths[j]) for j, w in enumerate(wrapped)]
            lines.append("  ".join(parts).rstrip())

    emit(header)
    emit(["-" * w for w in widths])
    scopes = {"program": " [program-level]", "off": " [not linted]"}
    for op, row in _order_for_table(rows):
        condition = op.condition_text() + scopes.get(op.lint, "")
        emit([
            op.id,
            ", ".join(op.call_forms()),
            condition,
            _SHORT_BEHAVIOUR[row.default],
            _SHORT_BEHAVIOUR[row.under_det_mode],
            op.workaround,
        ])
    return "\n".join(lines) + "\n"


def _order_for_table(rows: list[tuple[OpEntry, Behaviour]]) -> list[tuple[OpEntry, Behaviour]]:
    rank = {"raises": 0, "nondeterministic": 1, "deterministic-alternative": 2}
    return sorted(rows, key=lambda pair: rank[pair[1].under_det_mode])
