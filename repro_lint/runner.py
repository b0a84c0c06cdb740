"""A run over many files: worker processes, the cache, and results in a fixed order.

The engine's two passes, arranged so that most files are parsed once:

1. Per file (in worker processes when `jobs` > 1): read, parse, `FileFacts`,
   `FileSummary`; and the file linted at once against a project made of its
   own summary and placeholders that name the run's other modules, recording
   every answer its rules got from `ProjectFacts`.
2. In this process: `ProjectFacts` from all summaries, in the order the files
   were given. A file whose recorded answers the real project gives too keeps
   its result: its rules would have done exactly the same. The others (a
   script whose seed helper lives in another file) are parsed and linted
   again against the real project, in workers.

The cache (`repro_lint.cache`) keeps each file's summary, findings and
recorded answers. An unchanged file is neither read by libcst nor linted;
a change elsewhere re-lints exactly the files whose answers it changes.

Whatever `jobs` is, the result is the one a single process gives, in the
same order. A file that crashes the engine, or kills its worker process,
is reported as that file's internal error; the other files' results stand.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from repro_lint.cache import Cache, CachedFile, content_digest
from repro_lint.document import read_document, write_document
from repro_lint.engine import Engine, display_path, internal_error
from repro_lint.gc_policy import collect_rarely
from repro_lint.identity import ModuleIdentity
from repro_lint.lifetime import die_with_parent
from repro_lint.project import (
    FileSummary,
    ProjectFacts,
    Query,
    placeholder_summary,
    summarize,
)
from repro_lint.results import FileOutcome, Finding
from repro_lint.source import SourceError, SourceFile


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class _File:
    """One file of the run, as the main process tracks it."""

    source: SourceFile
    display: str
    module: ModuleIdentity
    digest: str
    engine: int = 0  # which of the run's engines (one per configuration) lints it
    summary: FileSummary | None = None
    outcome: FileOutcome | None = None
    answers: dict[Query, Any] | None = None  # None: the outcome must be computed against the real project
    cached: bool = False  # summary (and perhaps outcome) from the cache: no pass 1


@dataclass
class _Analysis:
    """What pass 1 found for one file."""

    summary: FileSummary | None
    outcome: FileOutcome
    answers: dict[Query, Any] | None


def run_files(
    engine: Engine,
    entries: Iterable[Path | SourceFile],
    *,
    fix: bool = False,
    write: bool = False,
    jobs: int = 1,
    cache: Cache | None = None,
    engine_for: Callable[[Path], Engine] | None = None,
) -> list[FileOutcome]:
    """Lint `entries` (paths, or sources already read) and return one outcome per file, sorted by path.

    `engine_for` gives a file its own engine (its nearest configuration); `engine` then
    only builds the project, whose facts join across every file of the run.
    """
    done: list[FileOutcome] = []
    files: list[_File] = []
    engines: list[Engine] = [engine]
    for entry in entries:
        path = entry.path if isinstance(entry, SourceFile) else entry
        display = display_path(path)
        try:
            source = entry if isinstance(entry, SourceFile) else read_document(path)
        except SourceError as error:
            done.append(FileOutcome(display, error=str(error)))
            continue
        raw = getattr(source, "file", source).data  # a notebook's whole JSON, not just its code
        own = engine_for(path) if engine_for is not None else engine
        if own not in engines:
            engines.append(own)
        files.append(_File(source, display, own.module_identity(source.path), content_digest(raw), engines.index(own)))

    if len(engines) > 1:
        cache = None  # the cache holds the results of one configuration
    if cache is not None:
        for file in files:
            _use_cache(cache, file, fix)

    pending = [file for file in files if not file.cached]
    # Pass 1 knows the names of the run's other modules, though not their summaries yet: the
    # answers that depend only on which imports are project modules then hold in pass 2 too.
    others = tuple(placeholder_summary(f.module) for f in files)
    analyses = _parallel(_analyze_in_worker, [(f.source, f.display, fix, f.engine) for f in pending], jobs,
                         (engines, others),
                         lambda item, error: _Analysis(None, FileOutcome(item[1], error=error), None))
    for file, analysis in zip(pending, analyses):
        file.summary, file.outcome, file.answers = analysis.summary, analysis.outcome, analysis.answers

    project = engine.project_from([f.summary for f in files if f.summary is not None])
    stale = [f for f in files if f.summary is not None and not _still_valid(project, f.answers)]
    relinted = _parallel(_relint_in_worker, [(f.source, f.display, fix, f.engine) for f in stale], jobs,
                         (engines, project), lambda item, error: (FileOutcome(item[1], error=error), None))
    for file, (outcome, answers) in zip(stale, relinted):
        file.outcome, file.answers = outcome, answers

    for file in files:
        assert file.outcome is not None
        if write and file.outcome.fixed is not None and file.outcome.error is None:
            try:
                write_document(file.source, file.outcome.fixed)
            except SourceError as error:
                # The file keeps its findings: report those of the text on disk, not of the fix.
                file.outcome, _ = _relint(engines[file.engine], project, file.source, file.display, False)
                file.outcome.error = str(error)
        if cache is not None:
            _store(engines[file.engine], cache, file)
        done.append(file.outcome)
    if cache is not None:
        cache.save()
    done.sort(key=lambda o: o.path)
    return done


def _still_valid(project: ProjectFacts, answers: dict[Query, Any] | None) -> bool:
    if answers is None:
        return False
    try:
        return project.answers_agree(answers)
    except Exception:  # noqa: BLE001 - pass 2 re-lints the file, and reports the crash as its error
        return False


# -- the cache ---------------------------------------------------------


def _use_cache(cache: Cache, file: _File, fix: bool) -> None:
    entry = cache.lookup(file.source.path, file.digest, file.module)
    if entry is None:
        return
    file.summary, file.cached = entry.summary, True
    if fix and entry.fixable:
        return  # its fixes are not cached: pass 2 computes them
    findings = [f if f.path == file.display else replace(f, path=file.display) for f in entry.findings]
    file.outcome = FileOutcome(file.display, findings=findings)
    file.answers = entry.answers


def _store(engine: Engine, cache: Cache, file: _File) -> None:
    outcome = file.outcome
    if outcome is None or outcome.error is not None or outcome.fixed is not None or file.answers is None:
        return
    fixable = sum(1 for f in outcome.findings if f.fixable(engine.settings.unsafe_fixes))
    cache.store(file.source.path, CachedFile(
        file.digest, file.module, file.summary, tuple(outcome.findings), file.answers, fixable
    ))


# -- the work done per file, in a worker or in this process --------------


def _analyze(
    engine: Engine, source: SourceFile, display: str, fix: bool, others: Sequence[FileSummary]
) -> _Analysis:
    """Pass 1: parse and summarize; lint against the file's own summary and `others`
    (placeholders of the run's other modules), recording the answers."""
    parsed = engine.parse(source, display)
    if isinstance(parsed, Finding):
        return _Analysis(None, engine.unparsed_outcome(source, display, parsed), {})
    summary = summarize(parsed.facts)
    own = engine.project_from([summary, *(o for o in others if o.module_name != summary.module_name)])
    with own.recording() as answers:
        outcome = engine.lint(parsed, own, fix)
    return _Analysis(summary, _slim(outcome), None if outcome.error else answers)


def _relint(engine: Engine, project: ProjectFacts, source: SourceFile, display: str, fix: bool):
    """Pass 2: lint against the whole project, recording the answers."""
    parsed = engine.parse(source, display)
    if isinstance(parsed, Finding):
        return engine.unparsed_outcome(source, display, parsed), {}
    with project.recording() as answers:
        outcome = engine.lint(parsed, project, fix)
    return _slim(outcome), (None if outcome.error else answers)


def _slim(outcome: FileOutcome) -> FileOutcome:
    """Without the original text unless fixes changed it: nothing else reads it."""
    if outcome.fixed is None:
        outcome.original = None
    return outcome


# A worker's engine and project arrive by fork, set just before the pool starts.
_worker_context: tuple[Any, ...] = ()


def _analyze_in_worker(item: tuple[SourceFile, str, bool, int]) -> _Analysis:
    engines, others = _worker_context
    source, display, fix, which = item
    try:
        return _analyze(engines[which], source, display, fix, others)
    except Exception as error:  # noqa: BLE001 - reported as this file's error
        return _Analysis(None, FileOutcome(item[1], error=internal_error(item[1], error)), None)


def _relint_in_worker(item: tuple[SourceFile, str, bool, int]) -> tuple[FileOutcome, dict[Query, Any] | None]:
    engines, project = _worker_context
    source, display, fix, which = item
    try:
        return _relint(engines[which], project, source, display, fix)
    except Exception as error:  # noqa: BLE001 - reported as this file's error
        return FileOutcome(item[1], error=internal_error(item[1], error)), None


_Item = TypeVar("_Item", bound=tuple)
_Result = TypeVar("_Result")


def _parallel(
    work: Callable[[_Item], _Result],
    items: Sequence[_Item],
    jobs: int,
    context: tuple[Any, ...],
    crashed: Callable[[_Item, str], _Result],
) -> list[_Result]:
    """`work(item)` for every item, in item order; in `jobs` forked workers when that can help.

    `crashed(item, message)` stands for the result of an item whose worker died.
    """
    global _worker_context
    _worker_context = context
    try:
        if jobs <= 1 or len(items) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            return [work(item) for item in items]
        # Biggest files first, so that no worker is left with a large one at the end.
        order = sorted(range(len(items)), key=lambda i: -len(items[i][0].data))
        results: list[Any] = [None] * len(items)
        lost = _run_pool(work, items, order, min(jobs, len(items)), results)
        for index in lost:
            # Alone in a fresh worker: a crash now belongs to this file only.
            isolated: list[Any] = [None]
            if _run_pool(work, [items[index]], [0], 1, isolated):
                isolated[0] = crashed(items[index], f"{items[index][1]}: internal error: the worker process died")
            results[index] = isolated[0]
        return results
    finally:
        _worker_context = ()


# Signals the parent turns into a clean stop; a worker must not act on them with the parent's handlers.
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def _start_worker() -> None:
    """Ctrl-C and a hangup reach the whole process group: the parent stops the run, workers finish their file quietly.

    A parent that is killed outright takes its workers with it. The parent forks
    with the stop signals blocked, so none arrives before these handlers are set.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler cleans up the parent only
    die_with_parent()
    collect_rarely()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _run_pool(work: Callable, items: Sequence, order: list[int], workers: int, results: list[Any]) -> list[int]:
    """Fill `results`; return the indices whose work did not come back (a worker died)."""
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker
    )
    try:
        # The workers are forked inside `submit`; a signal held meanwhile reaches this process once unblocked.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            futures: list[tuple[int, Future]] = [(i, pool.submit(work, items[i])) for i in order]
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        lost = []
        for index, future in futures:
            try:
                results[index] = future.result()
            except Exception:  # noqa: BLE001 - BrokenProcessPool, or a result that could not be sent back
                lost.append(index)
        return sorted(lost)
    finally:
        try:
            pool.shutdown(wait=True, cancel_futures=True)
        except RuntimeError:
            # SIGTERM stopped `submit` while it started the pool's manager thread, which then
            # cannot be joined; the workers die with this process, and `Terminated` goes on.
            pass
