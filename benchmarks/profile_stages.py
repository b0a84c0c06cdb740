"""Where a lint run's time goes, stage by stage, on a slice of a corpus.

    python benchmarks/profile_stages.py [--corpus DIR] [--every N] [--cprofile]

Times, in one process, over every N-th `.py` file of the corpus (default: the
installed torch package, every 10th file):

- read: bytes from disk, PEP 263 decoding;
- parse: `libcst.parse_module`;
- facts: the `FileFacts` traversal and name resolution;
- summary: `summarize()` (the project pass's per-file reduction);
- rules: every enabled rule's `check` on files whose markers match;
- positions: positions of the findings' nodes, on files with findings (what the
  engine pays: `repro_lint.positions`, the top-level statements that hold them);
- positions, whole module: libcst's `PositionProvider` on those same files;
- positions, every file: `PositionProvider` on every file, as if positions were not lazy;
- ast floor: `ast.parse` of the same text.

With `--cprofile` the whole engine run is also profiled and the top functions
by cumulative time are printed.
"""

from __future__ import annotations

import argparse
import ast
import cProfile
import pstats
import sys
import time
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from repro_lint.config import load_settings
from repro_lint.engine import Engine
from repro_lint.facts import FileFacts
from repro_lint.positions import node_positions
from repro_lint.project import ProjectFacts, summarize
from repro_lint.rule import RuleContext
from repro_lint.rules import all_rules
from repro_lint.source import SourceError, read_source


STAGES = ("read", "parse", "facts", "summary", "rules", "positions",
          "positions, whole module", "positions, every file", "ast floor")
ENGINE_STAGES = ("read", "parse", "facts", "summary", "rules", "positions")


def default_corpus() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        raise SystemExit("torch is not installed: pass --corpus")
    return Path(spec.origin).parent


def corpus_slice(root: Path, every: int) -> list[Path]:
    files = sorted(p for p in root.rglob("*.py") if p.is_file())
    return files[::every]


def profile(files: list[Path]) -> dict[str, float]:
    rules = all_rules()
    settings = load_settings(files[0], (r.code for r in rules))
    engine = Engine(settings, rules)
    times = dict.fromkeys(STAGES, 0.0)
    counts = {"files": 0, "lines": 0, "rule files": 0, "files with findings": 0, "syntax errors": 0}
    parsed = []
    for path in files:
        start = time.perf_counter()
        try:
            source = read_source(path)
        except SourceError:
            continue
        times["read"] += time.perf_counter() - start
        counts["files"] += 1
        counts["lines"] += source.text.count("\n")
        start = time.perf_counter()
        try:
            ast.parse(source.data)
        except SyntaxError:
            pass
        times["ast floor"] += time.perf_counter() - start
        start = time.perf_counter()
        try:
            module = cst.parse_module(source.data)
        except (cst.ParserSyntaxError, RecursionError):
            counts["syntax errors"] += 1
            continue
        times["parse"] += time.perf_counter() - start
        start = time.perf_counter()
        facts = FileFacts(module, engine.module_identity(path))
        times["facts"] += time.perf_counter() - start
        start = time.perf_counter()
        summary = summarize(facts)
        times["summary"] += time.perf_counter() - start
        parsed.append((source, facts, summary))
    project = ProjectFacts([s for _, _, s in parsed])
    for source, facts, _ in parsed:
        context = RuleContext(facts, project, settings.torch_version, settings.seed, settings.seed_functions)
        start = time.perf_counter()
        found = []
        active = [r for r in engine.rules if any(m in source.text for m in r.markers)]
        for rule in active:
            found.extend(rule.check(context))
        times["rules"] += time.perf_counter() - start
        counts["rule files"] += bool(active)
        start = time.perf_counter()
        MetadataWrapper(facts.module, unsafe_skip_copy=True).resolve(PositionProvider)
        whole_module = time.perf_counter() - start
        times["positions, every file"] += whole_module
        if found:
            counts["files with findings"] += 1
            times["positions, whole module"] += whole_module
            start = time.perf_counter()
            node_positions(facts.module, [violation.node for violation in found])
            times["positions"] += time.perf_counter() - start
    return {**times, **counts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--every", type=int, default=10, help="take every N-th file (default 10)")
    parser.add_argument("--cprofile", action="store_true", help="also cProfile an engine run")
    args = parser.parse_args()
    files = corpus_slice(args.corpus or default_corpus(), args.every)
    result = profile(files)
    stage_total = sum(result[k] for k in ENGINE_STAGES)
    print(f"{result['files']} files, {result['lines']} lines, {result['syntax errors']} syntax errors, "
          f"{result['rule files']} files matching some rule's markers, {result['files with findings']} with findings")
    print(f"{'stage':<24}{'seconds':>10}{'share':>8}{'x parse':>9}")
    for key in STAGES:
        share = f"{100 * result[key] / stage_total:.1f}%" if key in ENGINE_STAGES else ""
        print(f"{key:<24}{result[key]:>10.2f}{share:>8}{result[key] / result['parse']:>9.2f}")
    if args.cprofile:
        rules = all_rules()
        engine = Engine(load_settings(files[0], (r.code for r in rules)), rules)
        profiler = cProfile.Profile()
        profiler.runcall(engine.run, files)
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
