"""The versioned catalog of nondeterministic PyTorch ops.

The data lives in TOML files under ``rules/catalog/`` (shipped as the package
``repro_lint.rules.catalog``); ``rules/catalog/SCHEMA.md`` documents it. This module
loads and validates those files and answers the questions the rules ask: which
entries a call matches, whether the call's literal arguments meet an entry's
conditions, and how an entry behaves for a given torch version.

This is a static linter: nothing here imports torch or numpy.
"""

from __future__ import annotations

from repro_lint.catalog.loading import build_catalog, load_catalog
from repro_lint.catalog.model import (
    TENSOR,
    UNKNOWN,
    ArgCondition,
    Behaviour,
    CallMatch,
    Catalog,
    CatalogError,
    InputCondition,
    OpEntry,
)
from repro_lint.catalog.names import canonical_name
from repro_lint.catalog.table import format_ops_table

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
    "load_catalog",
]
