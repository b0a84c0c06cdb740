"""Probe every catalog op on every device present and record the op x device x mode table.

The GPU check: on a machine with CUDA, run it and commit what it writes under docs/verified/
(the table names torch, CUDA and cuDNN versions and the devices). On a CPU-only machine it
records the CPU column, and CUDA-only ops say "not observable here (needs CUDA)".

    python benchmarks/verify_catalog.py --runs 5 --out docs/verified

The whole table has a time limit (--total-limit, default 420 s): accelerators are probed
first (their column is what a lent GPU is for), each probe's timeout is shortened to what is
left, and the probes that would start with less than MIN_PROBE_SECONDS left are recorded as
not run, so the script ends within the limit plus one probe's torch start-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from repro_lint.catalog import load_catalog
from repro_lint.verify import probes

DEFAULT_TOTAL_LIMIT = 420.0
MIN_PROBE_SECONDS = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per probe, at most")
    parser.add_argument("--total-limit", type=float, default=DEFAULT_TOTAL_LIMIT, help="seconds for the whole table")
    parser.add_argument("--out", type=Path, default=Path("docs/verified"))
    args = parser.parse_args()

    deadline = time.monotonic() + args.total_limit
    entries = [entry for entry in load_catalog().ops if entry.probe]
    targets = [probes.ProbeTarget(entry.id, entry.title, entry.render_probe(), "float32", "", entry.device)
               for entry in entries]
    machine = probes.describe_machine(None)
    devices = sorted(machine["devices"], key=lambda device: device["device"] == "cpu")
    results: list[probes.ProbeResult] = []
    for device in devices:
        for number, target in enumerate(targets, start=1):
            left = int(deadline - time.monotonic())
            observable = target.device not in probes.ACCELERATORS or target.device == device["device"]
            if left < MIN_PROBE_SECONDS and observable:
                results.append(_not_run(target, device, args.total_limit))
                continue
            print(f"{device['device']} {number}/{len(targets)} {target.op} ({left} s left)", file=sys.stderr,
                  flush=True)
            settings = probes.ProbeSettings(runs=args.runs, threads=machine["threads"],
                                            timeout=min(args.timeout, left))
            results.extend(probes.run_probes([probes.Site(target)], [device], settings))

    settings = probes.ProbeSettings(runs=args.runs, threads=machine["threads"], timeout=args.timeout)
    report = json.loads(probes.render_json(machine, settings, results))
    devices_name = "-".join(f"{d['device']}-{d['name']}".replace(" ", "_") for d in devices)
    stem = f"torch-{machine['torch']}-{devices_name}".replace("/", "_")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(report))
    not_run = sum(1 for result in results if result["default"]["verdict"].startswith("not run"))
    print(f"wrote {args.out / stem}.json and .md ({len(targets)} ops, {not_run} results not run: time limit)")
    return 0


def _not_run(target: probes.ProbeTarget, device: probes.Device, limit: float) -> probes.ProbeResult:
    verdict = f"not run: the {limit:g} s limit of the whole table was reached"
    return {"path": None, "line": None, "column": None, "code": None, "op": target.op, "title": target.title,
            "dtype": target.dtype, "shaped_by": "", "device": device["device"], "device_name": device["name"],
            "default": {"verdict": verdict}, "deterministic": {"verdict": verdict}}


def markdown(report: dict) -> str:
    environment = report["environment"]
    lines = [
        f"# Catalog ops observed: torch {environment['torch']}, CUDA {environment.get('cuda')}, "
        f"cuDNN {environment.get('cudnn')}",
        "",
        f"Devices: {json.dumps(environment['devices'])}; CPU threads: {environment.get('cpu_threads')}; "
        f"{environment.get('runs')} runs per mode.",
        "",
        "| op | dtype | device | default mode | deterministic mode |",
        "| --- | --- | --- | --- | --- |",
    ]
    for result in report["results"]:
        default = (result.get("default") or {}).get("verdict", result.get("error", ""))
        deterministic = (result.get("deterministic") or {}).get("verdict", "")
        cells = [result["op"], result.get("dtype", ""), f"{result['device']} ({result.get('device_name', '')})",
                 default, deterministic]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
