from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from repro_lint.cst_values import literal_bool, string_value
from repro_lint.rule import SAFE, UNSAFE, Fix, Replace, Rule, RuleContext, Violation, strict_note


@dataclass(frozen=True)
class _Namespace:
    flags: frozenset[str]  # what an assignment there sets (the fix's candidates)
    names: frozenset[str]  # everything else it has: functions, submodules, imports
    raises: bool  # an unknown attribute raises AttributeError instead of being created


# The attributes torch 2.13 has (read from the installed torch; the linter never imports it),
# plus those older releases had.
_NAMESPACES = {
    "torch.backends.cudnn": _Namespace(
        frozenset({"enabled", "deterministic", "benchmark", "benchmark_limit", "allow_tf32", "fp32_precision",
                   "depthwise_kernel"}),
        frozenset({"conv", "rnn", "m", "version", "is_available", "is_acceptable", "set_flags", "flags",
                   "CUDNN_TENSOR_DTYPES", "ContextProp", "CudnnModule", "PropModule", "Optional",
                   "contextmanager", "os", "sys", "torch", "warnings"}),
        raises=False,
    ),
    "torch.backends.cudnn.conv": _Namespace(frozenset({"fp32_precision"}), frozenset({"backend", "op"}), raises=True),
    "torch.backends.cuda.matmul": _Namespace(
        frozenset({"allow_tf32", "allow_fp16_reduced_precision_reduction", "allow_bf16_reduced_precision_reduction",
                   "allow_fp16_accumulation", "fp32_precision"}),
        frozenset(),
        raises=True,
    ),
    "torch.backends.mkldnn": _Namespace(
        frozenset({"enabled", "deterministic", "allow_tf32", "fp32_precision"}),
        frozenset({"matmul", "conv", "rnn", "m", "is_available", "is_acl_available", "set_flags", "flags", "verbose",
                   "VERBOSE_OFF", "VERBOSE_ON", "VERBOSE_ON_CREATION", "ContextProp", "MkldnnModule", "PropModule",
                   "TYPE_CHECKING", "contextmanager", "sys", "torch"}),
        raises=False,
    ),
    "torch.backends.cuda": _Namespace(
        frozenset(),
        frozenset({"matmul", "cufft_plan_cache", "is_built", "cuFFTPlanCacheAttrContextProp", "cuFFTPlanCache",
                   "cuFFTPlanCacheManager", "cuBLASModule", "preferred_linalg_library", "preferred_blas_library",
                   "cublas_workspace_size", "cublaslt_workspace_size", "blas_workspace_size",
                   "preferred_rocm_fa_library", "is_ck_sdpa_available", "SDPAParams", "SDPBackend",
                   "enable_cudnn_sdp", "cudnn_sdp_enabled", "enable_flash_sdp", "flash_sdp_enabled",
                   "enable_mem_efficient_sdp", "mem_efficient_sdp_enabled", "math_sdp_enabled", "enable_math_sdp",
                   "allow_fp16_bf16_reduction_math_sdp", "fp16_bf16_reduction_math_sdp_allowed",
                   "is_flash_attention_available", "can_use_flash_attention", "can_use_efficient_attention",
                   "can_use_cudnn_attention", "sdp_kernel", "Any", "contextlib", "deprecated", "torch"}),
        raises=False,
    ),
}
# The reproducibility flags and torch's default for each: a typo there leaves the default in force.
_DEFAULTS = {
    "torch.backends.cudnn.deterministic": False,
    "torch.backends.cudnn.benchmark": False,
    "torch.backends.cudnn.enabled": True,
    "torch.backends.mkldnn.deterministic": False,
}
# Setting these to the value makes runs differ (RPL201/RPL202): a fix that does so is unsafe.
_NONDETERMINISTIC_VALUE = {"torch.backends.cudnn.benchmark": True, "torch.backends.cudnn.deterministic": False,
                           "torch.backends.mkldnn.deterministic": False}
_MAX_DISTANCE = 2
NOTHING_CHANGES = "the flag it means would keep torch's default, so nothing changes"
UNKNOWN_FLAG = "it names no reproducibility flag"


@dataclass(frozen=True, eq=False)
class _Typo:
    node: cst.CSTNode  # where to report
    attribute: cst.CSTNode  # the Name (or string) to rename
    namespace: str
    name: str
    value: cst.BaseExpression | None


class BackendFlagTypo(Rule):
    """
    What it does:
        Flags an assignment (or `setattr(...)` with a literal name) to an attribute that
        `torch.backends.cudnn`, `torch.backends.cudnn.conv`, `torch.backends.cuda`,
        `torch.backends.cuda.matmul` or `torch.backends.mkldnn` does not have, such as
        `cudnn.benchmarks = False` or `cudnn.determinstic = True`. The known attributes are
        those of torch 2.13, written into the linter.

        By default it reports a typo that changes what runs: one that raises (`cuda.matmul`
        and `cudnn.conv` reject unknown attributes), and one that leaves a reproducibility
        flag (`deterministic`, `benchmark`, `enabled`) at a default the assignment meant to
        change. Other typos are reported in strict mode only.

    Why it matters:
        `torch.backends.cudnn` and `torch.backends.mkldnn` are modules: assigning a
        misspelt name creates a new attribute and changes nothing, so
        `cudnn.determinstic = True` leaves cuDNN nondeterministic while the code reads as
        if it were fixed. `torch.backends.cuda.matmul` raises an AttributeError instead.

    Example:
        import torch

        torch.backends.cudnn.determinstic = True

    Use instead:
        import torch

        torch.backends.cudnn.deterministic = True

    Fix safety:
        Safe: the name is replaced by the one known flag within two edits of it, so the
        assignment does what it reads as. No fix when none or several are that close. The
        fix is unsafe where the corrected assignment itself makes runs differ
        (`benchmark = True`, `deterministic = False`).
    """

    code = "RPL204"
    name = "backend-flag-typo"
    summary = "An assignment to a torch.backends attribute that does not exist: the flag it means stays unchanged"
    fix_applicability = SAFE
    markers = ("backends", "cudnn", "mkldnn", "matmul")

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        for typo in _typos(ctx):
            space = _NAMESPACES[typo.namespace]
            meant = _closest(typo.name, space.flags)
            flag = f"{typo.namespace}.{meant}" if meant else None
            value = literal_bool(typo.value) if typo.value is not None else None
            reason = None
            if not space.raises:
                if flag not in _DEFAULTS:
                    reason = UNKNOWN_FLAG
                elif value is not None and value == _DEFAULTS[flag]:
                    reason = NOTHING_CHANGES
            if not ctx.reports(reason):
                continue
            where = f"`{typo.namespace}` has no attribute `{typo.name}`"
            effect = ": assigning it raises an AttributeError" if space.raises else (
                ": the assignment creates a new attribute and changes nothing")
            means = f" (did you mean `{meant}`?)" if meant else ""
            yield Violation(typo.node, where + effect + means + strict_note(reason), _fix(typo, meant, flag, value))


def _typos(ctx: RuleContext) -> Iterator[_Typo]:
    facts = ctx.facts
    for site in facts.assignments:
        name = site.target_qualname
        if name is None or not isinstance(site.target, cst.Attribute):
            continue
        namespace, _, attribute = name.rpartition(".")
        if _unknown(namespace, attribute):
            yield _Typo(site.node, site.target.attr, namespace, attribute, site.value)
    for call in facts.calls_to("builtins.setattr"):
        args = call.node.args
        if len(args) != 3 or any(a.keyword or a.star for a in args):
            continue
        namespace = facts.qualname(args[0].value, call.scope) or ""
        literal = string_value(args[1].value)
        if literal is not None and _unknown(namespace, literal):
            yield _Typo(call.node, args[1].value, namespace, literal, args[2].value)


def _unknown(namespace: str, attribute: str) -> bool:
    space = _NAMESPACES.get(namespace)
    return (
        space is not None and not attribute.startswith("_")
        and attribute not in space.flags and attribute not in space.names
    )


def _fix(typo: _Typo, meant: str | None, flag: str | None, value: bool | None) -> Fix | None:
    if meant is None or flag is None:
        return None
    if isinstance(typo.attribute, cst.Name):
        replacement: cst.CSTNode = typo.attribute.with_changes(value=meant)
    elif isinstance(typo.attribute, cst.SimpleString):
        quote = typo.attribute.prefix + typo.attribute.quote
        replacement = typo.attribute.with_changes(value=f"{quote}{meant}{typo.attribute.quote}")
    else:
        return None
    harmful = _NONDETERMINISTIC_VALUE.get(flag)
    # Unsafe unless the value is provably the reproducible one.
    unsafe = harmful is not None and (value is None or value == harmful)
    note = f" (the corrected `{flag}` assignment may make runs differ: RPL201/RPL202)" if unsafe else ""
    edits = (Replace(typo.attribute, replacement),)
    return Fix(UNSAFE if unsafe else SAFE, f"Rename `{typo.name}` to `{meant}`{note}", edits)


def _closest(name: str, candidates: frozenset[str]) -> str | None:
    """The one candidate within `_MAX_DISTANCE` edits of `name`, or None (none, or a tie)."""
    scored = sorted((_distance(name, c), c) for c in candidates)
    close = [(d, c) for d, c in scored if d <= _MAX_DISTANCE]
    if not close or (len(close) > 1 and close[0][0] == close[1][0]):
        return None
    return close[0][1]


def _distance(a: str, b: str) -> int:
    """Edit distance counting an adjacent transposition as one edit (optimal string alignment)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][len(b)]
