"""Shared by the backend-flag rules: every way a `torch.backends.cudnn` flag gets set, and the
Lightning `Trainer` keywords that set them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from repro_lint.cst_values import literal_bool, string_value
from repro_lint.effects import LIGHTNING_TRAINERS
from repro_lint.facts import AssignSite, CallSite, FileFacts, Scope

CUDNN = "torch.backends.cudnn"


@dataclass(frozen=True, eq=False)
class FlagSetting:
    node: cst.CSTNode  # where to report
    value_node: cst.BaseExpression  # the expression to replace when fixing
    value: bool | None  # None when not provable
    site: CallSite | AssignSite  # the statement's facts: where it runs, under which `if`s

    @property
    def scope(self) -> Scope:
        return self.site.scope


def flag_settings(facts: FileFacts, flag: str) -> Iterator[FlagSetting]:
    """`cudnn.<flag> = v`, `setattr(cudnn, "<flag>", v)` and `cudnn.flags(<flag>=v)`."""
    for site in facts.assignments:
        if site.target_qualname == f"{CUDNN}.{flag}" and site.value is not None:
            yield FlagSetting(site.target, site.value, literal_bool(site.value), site)
    for call in facts.calls_to("builtins.setattr"):
        args = call.node.args
        if len(args) == 3 and not any(a.keyword or a.star for a in args):
            if facts.qualname(args[0].value, call.scope) == CUDNN and string_value(args[1].value) == flag:
                yield FlagSetting(call.node, args[2].value, literal_bool(args[2].value), call)
    for call in facts.calls_to(f"{CUDNN}.flags"):
        arg = call.keyword(flag)
        if arg is not None:
            yield FlagSetting(call.node, arg.value, literal_bool(arg.value), call)


@dataclass(frozen=True, eq=False)
class TrainerFlag:
    call: CallSite  # the `Trainer(...)` call
    value_node: cst.BaseExpression  # the keyword's value, to replace when fixing
    value: bool | None  # None when not provable


def trainer_flags(facts: FileFacts, keyword: str) -> Iterator[TrainerFlag]:
    """Lightning `Trainer(<keyword>=v)` in every import form (`deterministic`, `benchmark`: keyword-only)."""
    for call in facts.calls_to(*sorted(LIGHTNING_TRAINERS)):
        arg = call.keyword(keyword)
        if arg is not None:
            yield TrainerFlag(call, arg.value, literal_bool(arg.value))
