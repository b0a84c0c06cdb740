"""Reading `rules/catalog/*.toml`, validating every table against the schema, and building the `Catalog`."""

from __future__ import annotations

import functools
import re
import sys
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from repro_lint.catalog.model import (
    ARG_TESTS,
    CONFIDENCE,
    DEFAULTS,
    DEVICES,
    DOCSTRING_LISTS,
    IF_UNKNOWN,
    LINT_SCOPES,
    PHASES,
    SYNTAX_FORMS,
    UNDER_DET_MODE,
    ArgCondition,
    Behaviour,
    Catalog,
    CatalogError,
    InputCondition,
    OpEntry,
    SharedMethod,
    freeze,
)
from repro_lint.catalog.names import canonical_name
from repro_lint.versions import Version, parse_version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


_CATALOG_KEYS = {"versions", "description"}
_OP_KEYS = {
    "id", "title", "functions", "methods", "modules", "syntax", "device", "phase", "args", "input",
    "workaround", "probe", "probe_defaults", "probe_requires", "cudnn", "warn_only_nondeterministic",
    "env", "lint", "undocumented",
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
        values=freeze(values),
        positions=MappingProxyType(dict(pos)),
        has_default="default" in table,
        default=freeze(table.get("default")),
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
        warn_only_nondeterministic=bool(table.get("warn_only_nondeterministic", False)),
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
        source_tree = Path(__file__).resolve().parents[2] / "rules" / "catalog"
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
