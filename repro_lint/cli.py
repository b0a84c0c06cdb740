"""The command line. Parses arguments, calls the engine, prints through a reporter.

Heavy modules (libcst, the rules) are imported only once a command needs them,
so that `repro-lint --version` answers at once.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from repro_lint import __version__
from repro_lint.gc_policy import collect_rarely

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2
COMMANDS = ("check", "rules", "rule", "verify", "server")
OUTPUT_FORMATS = ("full", "concise", "json", "sarif", "github")


_COMMANDS_HELP = """commands:
  check [paths]  lint files and folders (the default command)
  rules          list the rules; `rules --ops` prints the op catalog
  rule CODE      show one rule's documentation
  verify         run flagged ops, or a script (`verify --run`), and report what happened
  server         a Language Server over stdio, for editors (needs the `server` extra)
"""


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit 2."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where the process is, so that a file being written is cleaned up on the way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: FrameType | None) -> NoReturn:
    raise Terminated(signum)


def _stop_on(signals: tuple[signal.Signals, ...]) -> dict[signal.Signals, Any]:
    """Turn these signals into `Terminated`; one that is ignored (`nohup`) stays ignored."""
    previous: dict[signal.Signals, Any] = {}
    for signum in signals:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, _raise_terminated)
    return previous


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _check_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="repro-lint",
        usage="repro-lint [check] [options] [paths ...] | repro-lint {rules,rule,verify,server} ...",
        description="Find and fix nondeterminism in PyTorch code.",
        epilog=_COMMANDS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"repro-lint {__version__}")
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders to lint (default: .)")
    parser.add_argument("--fix", action="store_true", help="apply safe fixes and write the files")
    parser.add_argument("--unsafe-fixes", action="store_true", default=None, help="also apply unsafe fixes")
    parser.add_argument("--strict", action="store_true", default=None,
                        help="also report robustness advice: what could make runs differ, not only what does")
    parser.add_argument("--diff", action="store_true", help="print the fixes as a unified diff; write nothing")
    parser.add_argument("--select", type=comma_list, help="only these codes or prefixes (RPL2, RPL201)")
    parser.add_argument("--extend-select", type=comma_list, help="add codes or prefixes to the selection")
    parser.add_argument("--ignore", type=comma_list, help="skip these codes or prefixes")
    parser.add_argument("--format", choices=("text", "json", "sarif", "github"), default=None,
                        help="text (default), json, sarif or github")
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, metavar="FORMAT",
                        help="full (text with a `help:` line for each fix; the default), concise (one line per "
                             "finding), json, sarif or github")
    parser.add_argument("--torch-version", metavar="X.Y", help="the torch version the code targets")
    parser.add_argument("--config", type=Path, metavar="FILE", help="a pyproject.toml to read settings from")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="also skip these paths")
    parser.add_argument("--force-exclude", action="store_true",
                        help="apply excludes to files named on the command line too (for pre-commit)")
    parser.add_argument("--stdin-filename", metavar="PATH",
                        help="lint the source read from stdin (path `-`) as if it were the file PATH")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings remain")
    parser.add_argument("--statistics", action="store_true", help="show counts per code")
    parser.add_argument("--add-noqa", action="store_true",
                        help="write `# noqa: CODE` on the line of every current finding")
    parser.add_argument("--baseline", type=Path, metavar="FILE",
                        help="report only the findings that the baseline FILE does not hold")
    parser.add_argument("--write-baseline", type=Path, metavar="FILE",
                        help="write the current findings to the baseline FILE and exit")
    parser.add_argument("--show-settings", action="store_true", help="print the resolved settings and exit")
    parser.add_argument("--jobs", "-j", type=positive_int, metavar="N",
                        help="worker processes (default: the number of CPU cores)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write .repro_lint_cache/")
    return parser


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        collect_rarely()  # this process is repro-lint's own, not a host that calls `main`
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "rules":
            return _rules_command(args[1:])
        if args and args[0] == "rule":
            return _rule_command(args[1:])
        if args and args[0] == "verify":
            from repro_lint.verify.cli import main as verify_main

            return verify_main(args[1:])
        if args and args[0] == "server":
            return _server_command(args[1:])
        if args and args[0] == "check":
            args = args[1:]
        elif args and not args[0].startswith("-") and not Path(args[0]).exists():
            _reject_misspelt_command(args[0])
        # SIGHUP: the terminal or the ssh connection went away during the run.
        previous = _stop_on((signal.SIGTERM, signal.SIGHUP))
        try:
            return _check_command(args)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    except Terminated as stop:
        try:
            print_error("terminated" if stop.signum == signal.SIGTERM else "hangup")
        except OSError:  # the terminal is gone
            pass
        return 128 + stop.signum
    except UsageError as error:
        print_error(str(error))
        return EXIT_ERROR
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_ERROR


def _reject_misspelt_command(word: str) -> None:
    """`repro-lint chek` means a command, not a missing file."""
    import difflib

    close = difflib.get_close_matches(word, COMMANDS, n=1)
    if close:
        raise UsageError(f"unknown command {word!r} (did you mean {close[0]!r}?); `repro-lint --help` lists them")


def print_error(message: str) -> None:
    print(f"repro-lint: error: {message}", file=sys.stderr)


def _check_command(argv: list[str]) -> int:
    args = _check_parser().parse_args(argv)
    _resolve_output_format(args)
    from repro_lint.api import Linter
    from repro_lint.config import ConfigError, Overrides
    from repro_lint.reporters import ReportContext, reporter
    from repro_lint.runner import default_jobs
    from repro_lint.source import SourceError

    stdin_path = _stdin_path(args)
    paths = [stdin_path] if stdin_path else args.paths or [Path(".")]
    overrides = Overrides(
        select=args.select,
        ignore=args.ignore,
        extend_select=args.extend_select,
        exclude=args.exclude,
        torch_version=args.torch_version,
        unsafe_fixes=args.unsafe_fixes,
        strict=args.strict,
        force_exclude=args.force_exclude,
    )
    linter = Linter(overrides, args.config, describe_fix_edits=args.format == "sarif")
    try:
        settings = linter.settings_for(paths[0])
    except ConfigError as error:
        print_error(str(error))
        return EXIT_ERROR
    _warn_beyond_catalog(settings.torch_version)
    if args.show_settings:
        print(settings.describe())
        return EXIT_CLEAN

    _check_combinations(args, stdin_path)
    if args.add_noqa:
        return _add_noqa_command(linter, paths, args)
    fixes_to_stdout = stdin_path is not None and args.fix and not args.diff
    fix, write = args.fix or args.diff, args.fix and not args.diff and not fixes_to_stdout
    jobs, cache = args.jobs or default_jobs(), not args.no_cache
    try:
        if stdin_path is not None:
            try:
                stdin_source = _read_stdin(stdin_path)
            except SourceError as error:
                print_error(str(error))
                return EXIT_ERROR
            excluded = settings.force_exclude and settings.is_excluded(stdin_path)
            files = [] if excluded else [stdin_source]
            run = linter.lint_files(files, anchor=stdin_path, fix=fix, write=write, jobs=jobs, cache=cache)
        else:
            run = linter.lint_paths(paths, fix=fix, write=write, jobs=jobs, cache=cache)
    except ConfigError as error:
        print_error(str(error))
        return EXIT_ERROR
    outcomes, errors = run.outcomes, run.errors
    for message in errors:
        print_error(message)

    if args.diff:
        return _print_diff(outcomes, bool(errors))

    findings = run.findings
    if args.write_baseline is not None:
        return _write_baseline(args.write_baseline, findings, bool(errors))
    if args.baseline is not None:
        from repro_lint.baseline import BaselineError, new_findings, read_baseline

        try:
            findings = new_findings(findings, args.baseline, read_baseline(args.baseline))
        except BaselineError as error:
            print_error(str(error))
            return EXIT_ERROR
        hidden = len(run.findings) - len(findings)
        if hidden and args.format == "text":
            print(f"repro-lint: {hidden} finding{'s' if hidden != 1 else ''} in the baseline not shown",
                  file=sys.stderr)
    if not outcomes and not errors:
        # As ruff does: a warning, not an error; the exit code says whether findings remain.
        where = "the settings exclude it" if stdin_path is not None else "under " + ", ".join(map(str, paths))
        print(f"repro-lint: warning: no Python files to check ({where})", file=sys.stderr)
    context = ReportContext(rules=linter.rules, unsafe_fixes=settings.unsafe_fixes, statistics=args.statistics,
                            checked=run.checked, failed=len(errors), concise=args.concise)
    report = reporter(args.format)(findings, context)
    if fixes_to_stdout:
        # An editor replaces its buffer with stdout: the fixed source goes there, the report to stderr.
        fixed_bytes, failure = _fixed_stdin(stdin_source, outcomes)
        sys.stdout.buffer.write(fixed_bytes)
        sys.stderr.write(report)
        if failure is not None:
            print_error(failure)
            errors = [*errors, failure]
    else:
        sys.stdout.write(report)
    if args.fix and args.format == "text":
        fixed = sum(o.fixes_applied for o in outcomes if o.fixed is not None and not o.error)
        changed = sum(1 for o in outcomes if o.fixed is not None and not o.error)
        print(f"Fixed {fixed} finding{'s' if fixed != 1 else ''} in {changed} file{'s' if changed != 1 else ''}.",
              file=sys.stderr)
    if errors:
        return EXIT_ERROR
    if findings and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _resolve_output_format(args: argparse.Namespace) -> None:
    """`--output-format` (ruff's spelling) and `--format` name one format: sets `format` and `concise`."""
    named = {"full": "text", "concise": "text"}.get(args.output_format, args.output_format)
    if named is not None and args.format is not None and named != args.format:
        raise UsageError(f"--format {args.format} and --output-format {args.output_format} disagree; give one")
    args.concise = args.output_format == "concise"
    args.format = named or args.format or "text"


def _check_combinations(args: argparse.Namespace, stdin_path: Path | None) -> None:
    if args.add_noqa:
        if args.fix or args.diff:
            raise UsageError("--add-noqa cannot be combined with --fix or --diff")
        if stdin_path is not None:
            raise UsageError("--add-noqa writes files: it cannot read stdin")
        if args.baseline is not None or args.write_baseline is not None:
            raise UsageError("--add-noqa cannot be combined with --baseline or --write-baseline")
    if args.write_baseline is not None and (args.fix or args.diff or args.baseline is not None):
        raise UsageError("--write-baseline cannot be combined with --fix, --diff or --baseline")


def _write_baseline(path: Path, findings: list, had_errors: bool) -> int:
    from repro_lint.baseline import BaselineError, write_baseline

    try:
        count = write_baseline(path, findings)
    except BaselineError as error:
        print_error(str(error))
        return EXIT_ERROR
    print(f"Wrote {count} finding{'s' if count != 1 else ''} to the baseline {path}.", file=sys.stderr)
    return EXIT_ERROR if had_errors else EXIT_CLEAN


def _add_noqa_command(linter: Any, paths: list[Path], args: argparse.Namespace) -> int:
    """Lint, then write a `# noqa: CODE` for each finding into the very text that was linted."""
    from repro_lint.add_noqa import apply_line_edits, noqa_edits
    from repro_lint.document import read_document, write_document
    from repro_lint.engine import display_path
    from repro_lint.notebook import NotebookSource
    from repro_lint.results import SYNTAX_ERROR
    from repro_lint.runner import default_jobs
    from repro_lint.source import SourceError

    files, errors = linter.discover(paths)
    sources = []
    for file in files:
        try:
            sources.append(read_document(file))
        except SourceError as error:
            errors.append(str(error))
    run = linter.lint_files(sources, anchor=paths[0], jobs=args.jobs or default_jobs(), cache=not args.no_cache)
    errors.extend(run.errors)
    by_display = {o.path: o for o in run.outcomes}
    added = changed = unparsed = 0
    for source in sources:
        outcome = by_display.get(display_path(source.path))
        if outcome is None or outcome.error or not outcome.findings:
            continue
        wanted: dict[int, set[str]] = {}
        for finding in outcome.findings:
            if finding.code == SYNTAX_ERROR:
                unparsed += 1  # a comment in a file that does not parse may land inside a string
                continue
            line = finding.line
            if isinstance(source, NotebookSource) and finding.cell is not None:
                cell = next(c for c in source.cells if c.index + 1 == finding.cell)
                line += cell.first_line - 1
            wanted.setdefault(line, set()).add(finding.code)
        edits = noqa_edits(source.text, wanted)
        if not edits:
            continue
        try:
            write_document(source, apply_line_edits(source.text, edits))
        except SourceError as error:
            errors.append(str(error))
            continue
        added += sum(len(edit.added) for edit in edits)
        changed += 1
    for message in errors:
        print_error(message)
    if unparsed:
        which = "1 file that does not parse" if unparsed == 1 else f"{unparsed} files that do not parse"
        print(f"repro-lint: warning: {which} got no `# noqa` (RPL001 remains)", file=sys.stderr)
    print(f"Added {added} noqa code{'s' if added != 1 else ''} in {changed} file{'s' if changed != 1 else ''}.",
          file=sys.stderr)
    if errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if unparsed and not args.exit_zero else EXIT_CLEAN


def _warn_beyond_catalog(version: tuple[int, int]) -> None:
    from repro_lint.catalog import load_catalog

    newest = load_catalog().newest_version
    if version > newest:
        print(f"repro-lint: warning: torch {'.'.join(map(str, version))} is newer than the catalog's newest facts "
              f"(torch {'.'.join(map(str, newest))}); those are used", file=sys.stderr)


def _stdin_path(args: argparse.Namespace) -> Path | None:
    """The path stdin's source is reported as, when the source comes from stdin."""
    named_stdin = Path("-") in args.paths
    if named_stdin and len(args.paths) > 1:
        raise UsageError("`-` (stdin) cannot be combined with other paths")
    if not named_stdin and args.paths:
        if args.stdin_filename:
            raise UsageError("--stdin-filename names the source read from stdin: pass `-` instead of paths")
        return None
    if named_stdin or args.stdin_filename:
        return Path(args.stdin_filename or "-")
    return None


def _read_stdin(path: Path):
    from repro_lint.document import read_document

    return read_document(path, sys.stdin.buffer.read())


def _fixed_stdin(source, outcomes) -> tuple[bytes, str | None]:
    """What goes to stdout for the editor's buffer, and why the fix could not be applied (or None)."""
    from repro_lint.document import document_bytes, original_bytes
    from repro_lint.source import SourceError

    outcome = next((o for o in outcomes if o.fixed is not None and not o.error), None)
    if outcome is None:
        return original_bytes(source), None
    try:
        return document_bytes(source, outcome.fixed), None
    except SourceError as error:  # a notebook whose fix has no cell to go in: the buffer stays as it was
        outcome.error = str(error)
        return original_bytes(source), str(error)


def _print_diff(outcomes, had_errors: bool) -> int:
    changed = 0
    fixes = 0
    for outcome in outcomes:
        if outcome.fixed is None or outcome.original is None:
            continue
        changed += 1
        fixes += outcome.fixes_applied
        for name, before, after in _diff_parts(outcome):
            _write_diff(name, before, after)
    print(f"Would fix {fixes} finding{'s' if fixes != 1 else ''} in {changed} file{'s' if changed != 1 else ''}.",
          file=sys.stderr)
    if had_errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if changed else EXIT_CLEAN


def _diff_parts(outcome) -> list[tuple[str, str, str]]:
    """What `--diff` shows for a fixed file: the file, or for a notebook each changed cell as
    `explore.ipynb:cell 3`, with exactly the text `--fix` writes there."""
    from repro_lint.notebook import NotebookSource, changed_cells, is_notebook

    path = Path(outcome.path)
    if is_notebook(path) and path.is_file():
        from repro_lint.document import read_document
        from repro_lint.source import SourceError

        try:
            source = read_document(path)
        except SourceError:
            source = None
        if isinstance(source, NotebookSource):
            return [(f"{outcome.path}:cell {number}", before, after)
                    for number, before, after in changed_cells(source, outcome.fixed)]
    return [(outcome.path, outcome.original, outcome.fixed)]


def _write_diff(name: str, before: str, after: str) -> None:
    import difflib

    diff = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=name if name.startswith("/") else f"a/{name}",
        tofile=name if name.startswith("/") else f"b/{name}",
    )
    for line in diff:
        sys.stdout.write(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")


def _rules_command(argv: list[str]) -> int:
    parser = Parser(prog="repro-lint rules", description="List the rules, or the op catalog.")
    parser.add_argument("--ops", action="store_true", help="print the catalog of nondeterministic ops")
    parser.add_argument("--torch-version", metavar="X.Y", help="with --ops: the torch version to show")
    args = parser.parse_args(argv)
    if args.ops:
        from repro_lint.catalog import format_ops_table, load_catalog
        from repro_lint.config import ConfigError, parse_torch_version

        catalog = load_catalog()
        try:
            version = (
                parse_torch_version(args.torch_version, "--torch-version")
                if args.torch_version else catalog.newest_version
            )
        except ConfigError as error:
            print_error(str(error))
            return EXIT_ERROR
        if version < catalog.oldest_version:
            # As `check --torch-version` says it: the catalog has no facts for that torch.
            print_error(f"--torch-version: {args.torch_version} is older than the oldest torch the catalog knows "
                        f"({'.'.join(map(str, catalog.oldest_version))})")
            return EXIT_ERROR
        _warn_beyond_catalog(version)
        sys.stdout.write(format_ops_table(version))
        return EXIT_CLEAN
    from repro_lint.rules import all_rules

    rows = [(r.code, r.name, r.fix_applicability or "-", r.summary) for r in all_rules()]
    widths = [max(len(row[i]) for row in rows + [("code", "name", "fixable", "")]) for i in range(3)]
    header = ("code", "name", "fixable", "summary")
    for row in [header, *rows]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
    return EXIT_CLEAN


def _server_command(argv: list[str]) -> int:
    parser = Parser(prog="repro-lint server",
                    description="Speak the Language Server Protocol over stdio: diagnostics and fixes for editors. "
                                "Settings come from each project's pyproject.toml.")
    parser.add_argument("--torch-version", metavar="X.Y", help="the torch version the code targets")
    parser.add_argument("--strict", action="store_true", default=None, help="also report robustness advice")
    args = parser.parse_args(argv)
    try:
        from repro_lint import server
    except ImportError as error:
        print_error(f"`repro-lint server` needs the `server` extra ({error.name} is missing): "
                    "pip install 'repro-lint[server]'")
        return EXIT_ERROR
    from repro_lint.config import ConfigError, Overrides, parse_torch_version

    if args.torch_version:
        try:
            parse_torch_version(args.torch_version, "--torch-version")
        except ConfigError as error:
            print_error(str(error))
            return EXIT_ERROR
    return server.main(Overrides(torch_version=args.torch_version, strict=args.strict))


def _rule_command(argv: list[str]) -> int:
    parser = Parser(prog="repro-lint rule", description="Show one rule's documentation.")
    parser.add_argument("code")
    args = parser.parse_args(argv)
    from repro_lint.rule_docs import rule_markdown
    from repro_lint.rules import all_rules

    for rule in all_rules():
        if rule.code == args.code.upper() or rule.name == args.code:
            print(rule_markdown(rule), end="")
            return EXIT_CLEAN
    print_error(f"unknown rule {args.code!r}; `repro-lint rules` lists them")
    return EXIT_ERROR
