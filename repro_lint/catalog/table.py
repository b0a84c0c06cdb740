"""The catalog as a text table, for `repro-lint rules --ops`."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from repro_lint.catalog.loading import load_catalog
from repro_lint.catalog.model import Behaviour, OpEntry
from repro_lint.versions import Version, format_version

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
