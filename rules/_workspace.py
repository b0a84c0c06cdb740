"""The CUBLAS_WORKSPACE_CONFIG fix, shared by RPL203 and RPL403."""

from __future__ import annotations

from repro_lint.facts import FileFacts
from repro_lint.fixes import header_end
from repro_lint.rule import Edit, Insert

WORKSPACE_ENV = "CUBLAS_WORKSPACE_CONFIG"


def set_workspace_fix(facts: FileFacts) -> tuple[Edit, ...]:
    """Insert `os.environ.setdefault(...)` before the first top-level torch import."""
    torch_import = facts.first_import_of("torch")
    os_import = facts.first_import_of("os")
    os_name = facts.module_alias("os")
    needs_import = os_name is None or os_import is None or (
        torch_import is not None and os_import.order > torch_import.order
    )
    name = "os" if needs_import else os_name
    code = ("import os\n" if needs_import else "") + f'{name}.environ.setdefault("{WORKSPACE_ENV}", ":4096:8")\n'
    if torch_import is not None:
        return (Insert(torch_import.statement, code),)  # type: ignore[arg-type]
    body = facts.module.body
    position = header_end(facts.module)
    if position < len(body):
        return (Insert(body[position], code),)
    return (Insert(body[-1], code, after=True),)
