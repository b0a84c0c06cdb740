"""`repro-lint verify`: argument parsing and the two modes' top level.

    repro-lint verify PATH...            probe the catalog ops that findings in PATH name
    repro-lint verify --op ID            probe one catalog op
    repro-lint verify --run SCRIPT [-- ARGS...]
                                         run SCRIPT twice under an op tracer, then under deterministic mode

Only `--run` executes the user's code. Exit codes: 0 nothing nondeterministic
observed, 1 something was, 2 bad input or a run that failed.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

from repro_lint.cli import EXIT_CLEAN, EXIT_ERROR, Parser, UsageError, comma_list, positive_int

if TYPE_CHECKING:
    from repro_lint.catalog import Catalog
    from repro_lint.verify.findings import LintOptions
    from repro_lint.verify.probes import Device, Machine, ProbeTarget, Site

EXIT_OBSERVED = 1
DEFAULT_RUNS = 5
DEFAULT_PROBE_TIMEOUT = 120.0
DEFAULT_RUN_TIMEOUT = 600.0
DEFAULT_MAX_OPS = 100_000


class Terminated(BaseException):
    """SIGTERM, raised where the process is so that the children's process groups are killed on the way out."""


def _raise_terminated(signum: int, frame: FrameType | None) -> NoReturn:
    raise Terminated


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="repro-lint verify",
        description="Run flagged ops (or, with --run, your script) and report observed nondeterminism.",
    )
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders to lint; their op findings are probed")
    parser.add_argument("--op", action="append", default=[], metavar="ID", help="probe this catalog op (repeatable)")
    parser.add_argument("--run", type=Path, metavar="SCRIPT", help="run SCRIPT (args after --) and compare traces")
    parser.add_argument("--runs", type=positive_int, default=DEFAULT_RUNS, help="probe runs per mode (default 5)")
    parser.add_argument("--dtype", choices=("float16", "bfloat16", "float32", "float64"),
                        help="probe dtype (default: the call's literal dtype, else float32)")
    parser.add_argument("--device", type=comma_list, metavar="NAMES",
                        help="only these devices, e.g. cpu or cpu,cuda (default: every available one)")
    parser.add_argument("--threads", type=positive_int, help="CPU threads, pinned (default: torch's default)")
    parser.add_argument("--timeout", type=_positive_float,
                        help=f"seconds per probe (default {DEFAULT_PROBE_TIMEOUT:g}) or per --run run "
                             f"(default {DEFAULT_RUN_TIMEOUT:g}), counted once torch is imported")
    parser.add_argument("--max-ops", type=positive_int, default=DEFAULT_MAX_OPS,
                        help=f"with --run: ops traced and hashed per run (default {DEFAULT_MAX_OPS})")
    lint = parser.add_argument_group("lint options (as for check: they decide which findings are probed or linked)")
    lint.add_argument("--torch-version", metavar="X.Y", help="the torch version the code targets")
    lint.add_argument("--select", type=comma_list, help="only these codes or prefixes (RPL4, RPL401)")
    lint.add_argument("--extend-select", type=comma_list, help="add codes or prefixes to the selection")
    lint.add_argument("--ignore", type=comma_list, help="skip these codes or prefixes")
    lint.add_argument("--config", type=Path, metavar="FILE", help="a pyproject.toml to read settings from")
    lint.add_argument("--strict", action="store_true", default=None, help="also the robustness advice")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value


def main(argv: Sequence[str]) -> int:
    """Entry point for `repro-lint verify ARGS`; returns the exit code."""
    argv = list(argv)
    script_args: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, script_args = argv[:split], argv[split + 1:]
    previous_handler = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        args = _parser().parse_args(argv)
        if args.run is not None:
            return _run_mode(args, script_args)
        if script_args:
            raise UsageError("arguments after -- are for --run SCRIPT")
        return _probe_mode(args)
    except UsageError as error:
        _error(str(error))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Terminated:
        _error("terminated")
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous_handler)


def _error(message: str) -> None:
    print(f"repro-lint verify: error: {message}", file=sys.stderr)


def _run_mode(args: argparse.Namespace, script_args: list[str]) -> int:
    if args.paths or args.op:
        raise UsageError("--run takes one script; give paths or --op without --run")
    if not args.run.is_file():
        raise UsageError(f"{args.run}: no such file")
    from repro_lint.catalog import CatalogError, load_catalog
    from repro_lint.verify.findings import LintError, lint
    from repro_lint.verify.trace import (
        RunProgress,
        RunSettings,
        render_json,
        render_text,
        verify_run,
    )

    options = _lint_options(args)
    try:
        # The script's project: the folder whose files the tracer counts as the user's code.
        findings = lint([args.run.parent], options)
        op_devices = {entry.id: entry.device for entry in load_catalog().ops}
    except LintError as error:
        raise UsageError(str(error)) from None
    except CatalogError as error:
        raise UsageError(f"op catalog: {error}") from None
    settings = RunSettings(args.run, tuple(script_args), args.threads, args.max_ops,
                           args.timeout or DEFAULT_RUN_TIMEOUT)
    report = verify_run(settings, findings, None if args.quiet else RunProgress(), options.narrows_rules, op_devices)
    sys.stdout.write(render_json(report) if args.format == "json" else render_text(report))
    if report["result"] == "failed":
        return EXIT_ERROR
    return EXIT_OBSERVED if report["result"] == "diverged" or report["alerts"] else EXIT_CLEAN


def _probe_mode(args: argparse.Namespace) -> int:
    from repro_lint.catalog import CatalogError, load_catalog
    from repro_lint.verify import probes

    if not args.paths and not args.op:
        raise UsageError("give paths to lint, --op ID, or --run SCRIPT")
    try:
        catalog = load_catalog()
    except CatalogError as error:
        raise UsageError(f"op catalog: {error}") from None
    sites = [probes.Site(_target(catalog, op_id, {}, args.dtype)) for op_id in args.op]
    if args.paths:
        sites.extend(_finding_sites(catalog, args.paths, args.dtype, _lint_options(args)))
    if not sites:
        print("no findings name a catalog op; nothing to probe")
        return EXIT_CLEAN
    try:
        machine = probes.describe_machine(args.threads)
    except probes.VerifyError as error:
        _error(str(error))
        return EXIT_ERROR
    devices = _devices(machine, args.device)
    settings = probes.ProbeSettings(runs=args.runs, threads=machine["threads"],
                                    timeout=args.timeout or DEFAULT_PROBE_TIMEOUT)
    progress = None if args.quiet else probes.TerminalProgress() if sys.stderr.isatty() else probes.line_progress
    results = probes.run_probes(sites, devices, settings, progress)
    render = probes.render_json if args.format == "json" else probes.render_text
    sys.stdout.write(render(machine, settings, results))
    return EXIT_CLEAN if all(probes.is_clean(result) for result in results) else EXIT_OBSERVED


def _target(catalog: Catalog, op_id: str, literals: dict[str, object], dtype: str | None) -> ProbeTarget:
    from repro_lint.verify.probes import ProbeTarget

    try:
        entry = catalog.entry(op_id)
    except KeyError:
        raise UsageError(f"unknown op {op_id!r}; `repro-lint rules --ops` lists them") from None
    copied = {key: value for key, value in literals.items() if key in entry.probe_defaults}
    shaped_by = ", ".join(f"{key}={value!r}" for key, value in copied.items())
    return ProbeTarget(entry.id, entry.title, entry.render_probe(**copied),
                       dtype or str(literals.get("dtype", "float32")), shaped_by, entry.device)


def _lint_options(args: argparse.Namespace) -> LintOptions:
    from repro_lint.verify.findings import LintOptions

    return LintOptions(torch_version=args.torch_version, select=args.select, ignore=args.ignore,
                       extend_select=args.extend_select, config=args.config, strict=args.strict)


def _finding_sites(catalog: Catalog, paths: list[Path], dtype: str | None, options: LintOptions) -> list[Site]:
    from repro_lint.verify.findings import LintError, call_literals, lint
    from repro_lint.verify.probes import Site

    try:
        findings = lint(paths, options)
    except LintError as error:
        raise UsageError(str(error)) from None
    sites = []
    for finding in findings:
        op_id = finding.op
        if op_id is None:
            continue
        literals = call_literals(Path(finding.path), finding.line, finding.column)
        sites.append(Site(_target(catalog, op_id, literals, dtype), finding.path, finding.line,
                          finding.column, finding.code))
    return sites


def _devices(machine: Machine, wanted: list[str] | None) -> list[Device]:
    available = machine["devices"]
    if not wanted:
        return available
    names = {device["device"] for device in available}
    missing = [name for name in wanted if name not in names]
    if missing:
        raise UsageError(f"device {missing[0]!r} is not available here (available: {', '.join(sorted(names))})")
    return [device for device in available if device["device"] in wanted]
