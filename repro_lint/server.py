"""`repro-lint server`: a Language Server over stdio (needs the `server` extra: pygls).

- Diagnostics on open, change and save: the open buffer's text (saved or not),
  linted by `repro_lint.api.Workspace` against the facts of its project, so an
  editor shows what `repro-lint check` prints for the saved file.
- Code actions: each finding's fix (safe ones as the preferred quick fix, unsafe
  ones titled "(unsafe)"), and "add `# noqa: CODE`" as `--add-noqa` writes it.

A document's project is the nearest folder above it with a `pyproject.toml` or
`.git` inside the workspace folder that holds it, else that workspace folder.
Its facts are read from disk once and read again after any save under it.
Notebooks are not linted here (`repro-lint check` lints them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.server import LanguageServer
from pygls.uris import to_fs_path

from repro_lint import __version__
from repro_lint.add_noqa import noqa_edits
from repro_lint.api import Workspace
from repro_lint.config import PROJECT_MARKERS, ConfigError, Overrides, find_project_root
from repro_lint.reporters.sarif_format import HELP_URI
from repro_lint.results import SYNTAX_ERROR, Applicability, Finding
from repro_lint.source import SourceError, SourceFile
from repro_lint.text_edits import physical_lines

SOURCE = "repro-lint"
_SEVERITY = {"error": lsp.DiagnosticSeverity.Error, "warning": lsp.DiagnosticSeverity.Warning,
             "info": lsp.DiagnosticSeverity.Information}


@dataclass
class _Linted:
    version: int | None
    text: str
    findings: list[Finding]


class ReproLintServer(LanguageServer):
    def __init__(self, overrides: Overrides | None = None) -> None:
        super().__init__("repro-lint", __version__)
        self.overrides = overrides or Overrides()
        self._workspaces: dict[Path, Workspace | None] = {}
        self._linted: dict[str, _Linted] = {}

    # -- projects ------------------------------------------------------------

    def project_root(self, path: Path) -> Path:
        path = path.resolve()
        folders = []
        for folder in self.workspace.folders.values():
            folder_path = to_fs_path(folder.uri)
            if folder_path:
                folders.append(Path(folder_path).resolve())
        if self.workspace.root_path:
            folders.append(Path(self.workspace.root_path).resolve())
        holding = [f for f in folders if path.is_relative_to(f)]
        nearest = find_project_root(path)
        if not holding:
            return nearest
        folder = max(holding, key=lambda f: len(f.parts))
        # A sub-project (its own pyproject.toml or .git) inside the workspace folder is its own project.
        if nearest.is_relative_to(folder) and any((nearest / marker).exists() for marker in PROJECT_MARKERS):
            return nearest
        return folder

    def workspace_for(self, root: Path) -> Workspace | None:
        if root not in self._workspaces:
            try:
                self._workspaces[root] = Workspace(root, self.overrides, describe_fix_edits=True)
            except ConfigError as error:
                self.show_message(f"repro-lint: {error}", lsp.MessageType.Error)
                self._workspaces[root] = None
        return self._workspaces[root]

    def forget_projects_under(self, path: Path) -> None:
        """A file changed on disk: the facts of the projects holding it are stale."""
        path = path.resolve()
        for root in [r for r in self._workspaces if path.is_relative_to(r)]:
            del self._workspaces[root]

    # -- linting -------------------------------------------------------------

    def lint(self, uri: str) -> None:
        document = self.workspace.get_text_document(uri)
        fs_path = to_fs_path(uri)
        if not fs_path or not fs_path.endswith((".py", ".pyi")):
            return
        path = Path(fs_path)
        text = document.source
        workspace = self.workspace_for(self.project_root(path))
        if workspace is None:
            findings: list[Finding] = []
        else:
            source = SourceFile(path, text.encode("utf-8"), text, "utf-8", 0)
            try:
                outcome = workspace.lint_source(source, str(path))
            except SourceError as error:
                self.show_message_log(f"repro-lint: {error}", lsp.MessageType.Warning)
                return
            findings = outcome.findings
        self._linted[uri] = _Linted(document.version, text, findings)
        lines = physical_lines(text)
        self.publish_diagnostics(uri, [self.diagnostic(f, lines) for f in findings], document.version)

    def diagnostic(self, finding: Finding, lines: list[str]) -> lsp.Diagnostic:
        code_range = lsp.Range(
            start=lsp.Position(line=finding.line - 1, character=finding.column - 1),
            end=lsp.Position(line=finding.end_line - 1, character=finding.end_column - 1),
        )
        return lsp.Diagnostic(
            range=self.workspace.position_codec.range_to_client_units(lines, code_range),
            message=finding.message,
            severity=_SEVERITY.get(finding.severity, lsp.DiagnosticSeverity.Warning),
            code=finding.code,
            code_description=lsp.CodeDescription(href=HELP_URI.format(code=finding.code.lower())),
            source=SOURCE,
        )

    def code_actions(self, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        uri = params.text_document.uri
        linted = self._linted.get(uri)
        document = self.workspace.get_text_document(uri)
        if linted is None or linted.text != document.source:
            self.lint(uri)
            linted = self._linted.get(uri)
        if linted is None:
            return []
        lines = physical_lines(linted.text)
        wanted = self.workspace.position_codec.range_from_client_units(lines, params.range)
        only = set(params.context.only or [])
        actions: list[lsp.CodeAction] = []
        for finding in linted.findings:
            if not _overlaps(finding, wanted):
                continue
            diagnostic = self.diagnostic(finding, lines)
            if finding.fix is not None and finding.fix.edits and _kind_wanted(lsp.CodeActionKind.QuickFix, only):
                safe = finding.fix.applicability is Applicability.SAFE
                edits = [_text_edit(edit.start_line, edit.end_line, edit.text) for edit in finding.fix.edits]
                actions.append(lsp.CodeAction(
                    title=f"{finding.code}: {finding.fix.message}" + ("" if safe else " (unsafe)"),
                    kind=lsp.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    is_preferred=safe,
                    edit=lsp.WorkspaceEdit(changes={uri: edits}),
                ))
            if finding.code != SYNTAX_ERROR and _kind_wanted(lsp.CodeActionKind.QuickFix, only):
                for line_edit in noqa_edits(linted.text, {finding.line: {finding.code}}):
                    end = self.workspace.position_codec.position_to_client_units(
                        lines, lsp.Position(line=line_edit.line - 1, character=len(line_edit.old)))
                    replace = lsp.TextEdit(range=lsp.Range(start=lsp.Position(line=line_edit.line - 1, character=0),
                                                           end=end), new_text=line_edit.text)
                    actions.append(lsp.CodeAction(
                        title=f"{finding.code}: add `# noqa: {finding.code}`",
                        kind=lsp.CodeActionKind.QuickFix,
                        diagnostics=[diagnostic],
                        edit=lsp.WorkspaceEdit(changes={uri: [replace]}),
                    ))
        return actions


def _kind_wanted(kind: str, only: set[Any]) -> bool:
    return not only or any(kind == w or kind.startswith(f"{w}.") for w in only)


def _overlaps(finding: Finding, wanted: lsp.Range) -> bool:
    start = (finding.line - 1, finding.column - 1)
    end = (finding.end_line - 1, finding.end_column - 1)
    return start <= (wanted.end.line, wanted.end.character) and (wanted.start.line, wanted.start.character) <= end


def _text_edit(start_line: int, end_line: int, text: str) -> lsp.TextEdit:
    """Whole lines `start_line` up to `end_line` (1-based, end excluded) replaced: column 0 to column 0."""
    return lsp.TextEdit(
        range=lsp.Range(start=lsp.Position(line=start_line - 1, character=0),
                        end=lsp.Position(line=end_line - 1, character=0)),
        new_text=text,
    )


def build_server(overrides: Overrides | None = None) -> ReproLintServer:
    server = ReproLintServer(overrides)

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ReproLintServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.lint(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ReproLintServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.lint(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: ReproLintServer, params: lsp.DidSaveTextDocumentParams) -> None:
        fs_path = to_fs_path(params.text_document.uri)
        if fs_path:
            ls.forget_projects_under(Path(fs_path))
        ls.lint(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ReproLintServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls._linted.pop(params.text_document.uri, None)
        ls.publish_diagnostics(params.text_document.uri, [])

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def files_changed(ls: ReproLintServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            fs_path = to_fs_path(change.uri)
            if fs_path:
                ls.forget_projects_under(Path(fs_path))

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix], resolve_provider=False),
    )
    def code_action(ls: ReproLintServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        return ls.code_actions(params)

    return server


def main(overrides: Overrides | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)  # pygls logs to stderr; stdout is the protocol's
    build_server(overrides).start_io()
    return 0
