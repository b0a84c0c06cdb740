"""`repro-lint verify`: both modes, on the CPU, against real nondeterminism.

Every case that starts torch does so in child processes (a few seconds each), so
the cases are few and each checks several things.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import BIN, is_alive, wait_until
from repro_lint.cli import main as repro_lint_main
from repro_lint.results import Finding
from repro_lint.verify import probes, trace
from repro_lint.verify.findings import call_literals
from repro_lint.verify.trace import Divergence, OpSide, RunProgress, RunSettings, predict

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="verify runs torch")

# Measured here, 40 trials each on 2 busy cores: with 5 runs, 12 of 40 trials saw a
# single float32 index_put_(accumulate=True) result; with 20 runs 1 of 40; with 60 runs 0 of 40.
RUNS_TO_SEE_INDEX_PUT_RACE = 60


def verify(capsys, *args: str) -> tuple[int, str]:
    code = repro_lint_main(["verify", *args])
    return code, capsys.readouterr().out


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


# -- mode 2: --run -------------------------------------------------------------


@needs_torch
def test_run_finds_the_line_where_an_unseeded_script_diverges(tmp_path, monkeypatch, capsys):
    write(tmp_path, "train.py", """\
        import torch

        weights = torch.ones(4)
        noise = torch.rand(4)
        print((weights + noise).sum().item())
    """)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())

    code, out = verify(capsys, "--run", "train.py", "--format", "json")

    report = json.loads(out)
    assert code == 1
    assert report["result"] == "diverged"
    divergence = report["divergence"]
    assert divergence["index"] == 1  # aten.ones first, then the unseeded draw
    assert divergence["run_1"]["op"] == "aten.rand.default"
    assert divergence["run_1"]["location"] == "train.py:4"
    assert divergence["run_1"]["hash"] != divergence["run_2"]["hash"]
    prediction = report["prediction"]
    assert (prediction["code"], prediction["path"], prediction["line"], prediction["how"]) == (
        "RPL101", "train.py", 4, "same line")
    assert report["environment"]["threads"] >= 1 and report["environment"]["PYTHONHASHSEED"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no trace files, no __pycache__


@needs_torch
def test_a_divergence_no_rule_flags_is_reported_as_a_linter_gap(tmp_path, monkeypatch, capsys):
    # The seed comes from the clock through a helper: RPL104 sees only a clock call in the seed argument.
    write(tmp_path, "clock.py", """\
        import time
        import torch

        def pick_seed():
            return time.time_ns()

        if __name__ == "__main__":
            torch.manual_seed(pick_seed())
            print(torch.randn(3).sum().item())
    """)
    write(tmp_path, "other.py", "import torch\nprint(torch.rand(2))\n")  # unseeded, but not this program
    monkeypatch.chdir(tmp_path)

    code, out = verify(capsys, "--run", "clock.py", "--threads", "1")

    assert code == 1
    assert "diverged at op #1: aten.randn.default at clock.py:9" in out
    assert "no lint finding predicted this: a gap in the linter worth reporting" in out


@needs_torch
def test_run_reports_identical_and_confirms_the_static_finding(tmp_path, monkeypatch, capsys):
    write(tmp_path, "seeded.py", """\
        import sys
        import torch

        def rarely_called(x, idx):
            x.put_(idx, torch.ones(3))

        torch.manual_seed(int(sys.argv[1]))
        x = torch.zeros(16)
        idx = torch.tensor([1, 1, 2])
        x.put_(idx, torch.rand(3))
        print(x.sum().item())
        if x.sum().item() > 100:  # never, at runtime: the sum is below 3
            rarely_called(x, idx)
    """)
    monkeypatch.chdir(tmp_path)

    code, out = verify(capsys, "--run", "seeded.py", "--threads", "1", "--", "7")

    assert code == 1  # identical runs, but PyTorch raised a nondeterminism alert
    assert "CPU threads: 1;" in out
    assert "identical: " in out and "diverged" not in out
    assert "seeded.py:10: aten.put_.default: put_ does not have a deterministic implementation" in out
    assert "seeded.py:10: RPL401 confirmed at runtime" in out
    assert "seeded.py:5: RPL401 not reached" in out


@needs_torch
def test_run_failure_shows_the_script_output(tmp_path, monkeypatch, capsys):
    write(tmp_path, "broken.py", """\
        print("loading data")
        raise SystemExit("no dataset at /data")
    """)
    monkeypatch.chdir(tmp_path)

    code, out = verify(capsys, "--run", "broken.py")

    assert code == 2
    assert "run 1 exited with code 1" in out
    assert "loading data" in out and "no dataset at /data" in out


@needs_torch
def test_run_timeout_kills_the_whole_process_group(tmp_path, monkeypatch, capsys):
    pid_file = tmp_path / "helper.pid"
    write(tmp_path, "hang.py", f"""\
        import subprocess, time
        helper = subprocess.Popen(["sleep", "300"])
        open({str(pid_file)!r}, "w").write(str(helper.pid))
        time.sleep(300)
    """)
    monkeypatch.chdir(tmp_path)

    code, out = verify(capsys, "--run", "hang.py", "--timeout", "3")

    assert code == 2
    assert "run 1 timed out after 3 s" in out
    assert not is_alive(int(pid_file.read_text()))


@needs_torch
def test_a_killed_verifier_takes_its_children_and_their_children_with_it(tmp_path):
    pid_file = tmp_path / "helper.pid"
    write(tmp_path, "hang.py", f"""\
        import os, subprocess, time
        helper = subprocess.Popen(["sleep", "600"])
        open({str(pid_file)!r}, "w").write(f"{{os.getpid()}} {{helper.pid}}")
        time.sleep(600)
    """)
    verifier = subprocess.Popen([str(BIN / "repro-lint"), "verify", "--run", "hang.py", "--runs", "1"],
                                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: pid_file.exists() and " " in pid_file.read_text()), "the script never started"
        child, helper = map(int, pid_file.read_text().split())
        verifier.kill()
        verifier.wait()
        assert wait_until(lambda: not is_alive(child) and not is_alive(helper)), "the verifier's children live on"
    finally:
        verifier.kill()


# -- mode 1: probes --------------------------------------------------------------


@needs_torch
def test_probes_for_findings_and_ops(tmp_path, monkeypatch, capsys):
    write(tmp_path, "model.py", """\
        import torch

        x = torch.zeros(16)
        x.put_(torch.tensor([1, 1]), torch.ones(2))
    """)
    monkeypatch.chdir(tmp_path)

    code, out = verify(capsys, "model.py", "--op", "index_put_accumulate_cpu", "--device", "cpu",
                       "--threads", "2", "--runs", str(RUNS_TO_SEE_INDEX_PUT_RACE), "--format", "json")

    assert code == 1
    report = json.loads(out)
    assert report["environment"]["cpu_threads"] == 2
    assert report["environment"]["torch"].startswith(("1.", "2."))
    by_op = {result["op"]: result for result in report["results"]}
    put = by_op["put_no_accumulate"]
    assert (put["path"], put["line"], put["code"]) == ("model.py", 4, "RPL401")
    assert put["deterministic"]["verdict"].startswith(
        "raises under deterministic mode: RuntimeError: put_ does not have a deterministic implementation")
    index_put = by_op["index_put_accumulate_cpu"]
    assert index_put["path"] is None and index_put["dtype"] == "float32"
    assert index_put["default"]["verdict"].startswith("nondeterministic (")
    assert index_put["default"]["distinct"] > 1 and index_put["default"]["max_abs_diff"] > 0
    assert index_put["deterministic"]["verdict"] == "deterministic under deterministic mode"


@needs_torch
def test_a_hanging_probe_times_out_and_the_run_goes_on():
    hang = probes.ProbeTarget("hangs", "sleeps", "import threading\nthreading.Event().wait()\nout = torch.zeros(1)\n",
                              "float32")
    fine = probes.ProbeTarget("adds", "adds", "out = R(8) + R(8)\n", "float64")
    cpu = [{"device": "cpu", "name": "test"}]
    # The timeout counts once torch is loaded, and is far above what the trivial probe needs on a loaded machine.
    settings = probes.ProbeSettings(runs=3, threads=1, timeout=30)

    results = probes.run_probes([probes.Site(hang), probes.Site(fine)], cpu, settings)

    assert [r["op"] for r in results] == ["hangs", "adds"]
    assert results[0]["default"]["verdict"] == "timed out after 30 s"
    assert results[1]["default"]["verdict"] == "deterministic (3/3 identical)"
    assert results[1]["deterministic"]["verdict"] == "deterministic under deterministic mode"
    assert "hangs" in probes.render_text({"torch": "x", "cuda": None, "cudnn": None}, settings, results)


def test_probe_takes_the_literal_arguments_of_the_flagged_call(tmp_path):
    path = write(tmp_path, "up.py", """\
        import torch.nn.functional as F
        y = F.interpolate(x, scale_factor=2, mode="nearest", align_corners=flag)
        z = torch.ones(3, dtype=torch.float64)
    """)

    assert call_literals(path, 2, 5) == {"scale_factor": 2, "mode": "nearest"}
    assert call_literals(path, 3, 5) == {"dtype": "float64"}
    assert call_literals(path, 3, 1) == {}


# -- input errors and imports ------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    ([], "give paths to lint, --op ID, or --run SCRIPT"),
    (["--run", "missing.py"], "missing.py: no such file"),
    (["--op", "no_such_op"], "unknown op 'no_such_op'"),
    (["--runs", "0", "--op", "put_no_accumulate"], "expected a positive whole number, got '0'"),
    (["--op", "put_no_accumulate", "--", "x"], "arguments after -- are for --run SCRIPT"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert repro_lint_main(["verify", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_the_linter_and_the_verifier_front_end_do_not_import_torch():
    check = ("import sys, repro_lint.cli, repro_lint.verify.cli, repro_lint.verify.probes, "
             "repro_lint.verify.trace; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", check], check=True)


@needs_torch
@pytest.mark.parametrize("workers", [0, 2])
def test_a_seeded_script_with_a_dataloader_and_dropout_is_identical(tmp_path, monkeypatch, capsys, workers):
    write(tmp_path, "loader.py", f"""\
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        if __name__ == "__main__":
            torch.manual_seed(0)
            data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
            model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
            loader = DataLoader(data, batch_size=8, shuffle=True, num_workers={workers})
            for x, y in loader:
                loss = torch.nn.functional.mse_loss(model(x), y)
                loss.backward()
            print(loss.item())
    """)
    monkeypatch.chdir(tmp_path)

    code, out = verify(capsys, "--run", "loader.py", "--threads", "1")

    assert "identical: " in out and "diverged" not in out, out
    assert "--max-ops" not in out, out  # the loader's profiler ranges are not ops the run computes
    assert code == 0, out


@needs_torch
@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on the CPU (inductor) needs a C++ compiler")
def test_a_seeded_script_using_torch_compile_is_identical_and_really_compiled(tmp_path, monkeypatch, capsys):
    # Measured here: 16 s for the first run (compiling), 6 s for the others (inductor's cache).
    write(tmp_path, "compiled.py", """\
        import torch
        from torch._dynamo.utils import counters

        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
        fast = torch.compile(model)
        print(fast(torch.randn(4, 8)).sum().item())
        assert counters["frames"]["ok"] >= 1, "the tracer made torch.compile fall back to eager"
    """)
    monkeypatch.chdir(tmp_path)

    code, out = verify(capsys, "--run", "compiled.py", "--threads", "1")

    assert "identical: " in out and "diverged" not in out, out
    assert code == 0, out


@needs_torch
def test_worker_batches_arriving_in_another_order_are_not_a_divergence(tmp_path, monkeypatch, capsys):
    # Run 1 delays worker 0 and run 2 worker 1, so the main process receives the batches in a
    # different order in each run; what it computes from them is the same.
    write(tmp_path, "order.py", """\
        import os
        import time
        import torch
        from torch.utils.data import DataLoader, Dataset, get_worker_info

        class Slow(Dataset):
            def __init__(self, slow_worker):
                self.slow_worker = slow_worker
            def __len__(self):
                return 32
            def __getitem__(self, index):
                if get_worker_info().id == self.slow_worker and index % 8 == 0:
                    time.sleep(0.5)
                return torch.full((4,), float(index))

        if __name__ == "__main__":
            slow_worker = 1 if os.path.exists("ran") else 0
            open("ran", "a").close()
            torch.manual_seed(0)
            model = torch.nn.Linear(4, 1)
            for batch in DataLoader(Slow(slow_worker), batch_size=8, num_workers=2):
                model(batch).sum().backward()
            print(model.weight.grad.sum().item())
    """)
    monkeypatch.chdir(tmp_path)

    code, out = verify(capsys, "--run", "order.py", "--threads", "1")

    assert "identical: " in out and "diverged" not in out, out
    assert code == 0, out


@needs_torch
def test_a_probe_that_fails_by_default_is_reported_in_both_modes():
    broken = probes.ProbeTarget("broken", "raises", "out = torch.ones(2) + torch.ones(3)\n", "float32")
    cpu = [{"device": "cpu", "name": "test"}]
    settings = probes.ProbeSettings(runs=2, threads=1, timeout=60)

    [result] = probes.run_probes([probes.Site(broken)], cpu, settings)

    assert result["default"]["verdict"].startswith("error: RuntimeError: The size of tensor a (2)")
    assert result["deterministic"]["verdict"] == "not run: the probe failed in default mode"
    assert "not run: the probe failed in default mode" in probes.render_text(
        {"torch": "x", "cuda": None, "cudnn": None}, settings, [result])


@needs_torch
def test_a_cuda_only_op_on_a_machine_without_cuda_is_not_observable(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine can observe CUDA behaviour")
    code, out = verify(capsys, "--op", "index_add", "--runs", "2", "--format", "json")

    assert code == 0
    [result] = json.loads(out)["results"]
    assert result["device"] == "cpu"
    assert result["default"]["verdict"] == "not observable here (needs CUDA)"
    assert result["deterministic"]["verdict"] == "not observable here (needs CUDA)"


def test_verify_takes_the_rule_selection_and_config_check_takes(tmp_path, monkeypatch, capsys):
    write(tmp_path, "model.py", "import torch\nx = torch.zeros(4)\nx.put_(torch.tensor([1, 1]), torch.ones(2))\n")
    monkeypatch.chdir(tmp_path)
    nothing = (0, "no findings name a catalog op; nothing to probe")
    code, out = verify(capsys, "--ignore", "RPL4", "model.py")
    assert (code, out.strip()) == nothing
    code, out = verify(capsys, "--select", "RPL2", "model.py")
    assert (code, out.strip()) == nothing
    write(tmp_path, "quiet.toml", '[tool.repro-lint]\nignore = ["RPL401"]\n')
    code, out = verify(capsys, "--config", "quiet.toml", "model.py")
    assert (code, out.strip()) == nothing
    assert verify(capsys, "--config", "missing.toml", "model.py")[0] == 2


def _finding(code: str, path: str, line: int) -> Finding:
    return Finding(code, "name", f"{code} message", path, line, 1, line, 2, "warning")


def test_a_divergence_is_matched_to_the_finding_that_predicted_it(tmp_path, monkeypatch):
    write(tmp_path, "train.py", """\
        import torch

        def augment(x):
            noise = make_noise()
            return x + noise

        def main():
            loader = make_loader()
            for batch in loader:
                augment(batch)
    """)
    monkeypatch.chdir(tmp_path)

    def at(op: str, line: int) -> Divergence:
        side: OpSide = {"op": op, "location": f"train.py:{line}", "outputs": "float32[2]", "hash": "0"}
        return {"index": 0, "run_1": side, "run_2": side}

    loader, cudnn = _finding("RPL302", "train.py", 8), _finding("RPL201", "train.py", 7)
    unseeded = _finding("RPL101", "train.py", 4)
    # The nearest finding before the op in its function; a flag finding does not explain a draw.
    assert predict(at("aten.randperm.default", 9), [cudnn, loader])["how"] == "earlier in the same function"
    assert predict(at("aten.randperm.default", 9), [cudnn]) is None
    assert predict(at("aten.add.Tensor", 9), [cudnn])["code"] == "RPL201"
    # Not across functions: augment's line 5 does not follow main's finding at line 8.
    assert predict(at("aten.add.Tensor", 5), [loader]) is None
    assert predict(at("aten.add.Tensor", 5), [unseeded])["how"] == "earlier in the same function"
    # A draw anywhere in a program whose torch RNG is never seeded.
    found = predict(at("aten.normal_.default", 10), [_finding("RPL101", "./train.py", 2)])
    assert (found["code"], found["path"], found["line"], found["how"]) == (
        "RPL101", "train.py", 2, "the program is unseeded")


def test_a_reached_cuda_only_op_on_a_run_without_cuda_is_not_observable_not_clean(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    index_add = Finding("RPL402", "name", "index_add_", "train.py", 5, 1, 5, 2, "warning", op="index_add")
    put = Finding("RPL401", "name", "put_", "train.py", 6, 1, 6, 2, "warning", op="put_no_accumulate")
    op_devices = {"index_add": "cuda", "put_no_accumulate": "any"}
    reached = {"train.py:5", "train.py:6"}

    on_cpu = trace.runtime_status([index_add, put], [], reached, {"cpu"}, op_devices)
    on_cuda = trace.runtime_status([index_add, put], [], reached, {"cpu", "cuda:0"}, op_devices)

    assert [f["status"] for f in on_cpu] == [
        "reached, not observable here (needs CUDA; the runs' ops ran on cpu)", "reached, no alert"]
    assert [f["status"] for f in on_cuda] == ["reached, no alert", "reached, no alert"]


def test_verify_takes_the_torch_version_check_takes(tmp_path, monkeypatch, capsys):
    write(tmp_path, "clean.py", "import torch\n")
    monkeypatch.chdir(tmp_path)
    code, out = verify(capsys, "--torch-version", "2.13", "clean.py")
    assert (code, out.strip()) == (0, "no findings name a catalog op; nothing to probe")
    code, _ = verify(capsys, "--torch-version", "banana", "clean.py")
    assert code == 2


@needs_torch
def test_run_reports_progress_per_run_unless_quiet(tmp_path, monkeypatch, capsys):
    write(tmp_path, "tiny.py", """\
        import torch
        torch.manual_seed(0)
        print(torch.randn(2).sum().item())
    """)
    monkeypatch.chdir(tmp_path)

    code = repro_lint_main(["verify", "--run", "tiny.py", "--threads", "1"])
    # A run slowed past 30 s by a loaded machine also prints an "ops so far" line.
    err = [line for line in capsys.readouterr().err.splitlines() if "so far" not in line]
    assert code == 0
    assert err[0] == "repro-lint verify: run 1 of tiny.py: started"
    assert [line.split(":")[1].strip() for line in err] == [
        "run 1 of tiny.py", "run 1", "run 2 of tiny.py", "run 2", "run deterministic mode of tiny.py",
        "run deterministic mode"]
    assert " ops in " in err[1]


def test_probe_progress_on_a_terminal_is_a_bar_with_the_elapsed_time():
    import io

    stream = io.StringIO()
    progress = probes.TerminalProgress(stream)
    progress(0, 2, "put_no_accumulate on cpu")
    progress(1, 2, "index_add on cpu")
    progress(2, 2, "")
    shown = stream.getvalue().split("\r")
    assert shown[1].startswith("[....................] 0/2 put_no_accumulate on cpu, 0 s")
    assert shown[2].startswith("[##########..........] 1/2 index_add on cpu, ") and shown[2].rstrip().endswith(" s")
    assert shown[3].strip() == ""  # cleared at the end


@needs_torch
def test_probes_report_progress_per_probe_unless_quiet(capsys):
    repro_lint_main(["verify", "--op", "put_no_accumulate", "--runs", "2", "--device", "cpu"])
    assert capsys.readouterr().err == "repro-lint verify: probe 1/1: put_no_accumulate on cpu\n"
    repro_lint_main(["verify", "--op", "put_no_accumulate", "--runs", "2", "--device", "cpu", "--quiet"])
    assert capsys.readouterr().err == ""


@needs_torch
def test_the_digest_sees_order_and_is_the_same_in_chunks(monkeypatch):
    import torch

    from repro_lint.verify import trace_worker

    # torch.hash_tensor (XOR) and DebugMode's norm hash give these pairs the same hash.
    ints = torch.tensor([1, 2])
    assert int(trace_worker.tensor_digest(ints)) != int(trace_worker.tensor_digest(torch.tensor([3, 0])))
    assert int(trace_worker.tensor_digest(ints)) != int(trace_worker.tensor_digest(ints.flip(0)))
    assert ints.tolist() == [1, 2]  # the product is formed in a copy, not in the caller's tensor
    values = torch.randn(21)
    whole = int(trace_worker.tensor_digest(values))
    monkeypatch.setattr(trace_worker, "WEIGHT_CHUNK", 4)
    monkeypatch.setattr(trace_worker, "_weights", {})
    assert int(trace_worker.tensor_digest(values)) == whole


@needs_torch
def test_kernel_launches_that_debug_mode_reports_join_the_trace(tmp_path):
    import torch

    from repro_lint.verify import trace_worker

    if importlib.util.find_spec("torch.utils._debug_mode") is None:
        pytest.skip("torch < 2.10 has no DebugMode")
    from torch.utils._debug_mode import get_active_debug_mode

    class Device:  # what inductor hands to a finished launch
        def current_device(self):
            return 0

        def synchronize(self, device):
            pass

    tracer = trace_worker.OpTracer(trace_worker.UserFrames(Path(__file__).parent), 100)
    out = torch.zeros(4)
    # What inductor's Triton launcher does on a GPU, here by hand: the CPU has no Triton kernels.
    with tracer, trace_worker.kernel_recorder(tracer, force=True):
        call = get_active_debug_mode().record_triton_kernel("triton_poi_fused_relu_0", {"out_ptr0": out, "xnumel": 4})
        out += 1
        call.finalize(Device())
    tracer.flush(final=True)

    kernel = tracer.ops[0]
    assert kernel[0] == "kernel.triton_poi_fused_relu_0" and kernel[2] == "float32[4]"
    assert Path(kernel[1].rsplit(":", 1)[0]).name == "test_verify.py"
    assert kernel[3] == f"{int(trace_worker.tensor_digest(out)) & 0xFFFFFFFFFFFFFFFF:016x}"
    assert tracer.ops[1][0] == "aten.add_.Tensor"


UNSEEDED = {
    "shuffle": ("""\
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        if __name__ == "__main__":
            weight = torch.full((4,), 0.5)
            data = TensorDataset(torch.arange(32.0).reshape(8, 4))
            for (x,) in DataLoader(data, batch_size=2, shuffle=True, num_workers=0):
                print((x * weight).sum().item())
    """, ("aten.random_.default", 7)),
    "dropout": ("""\
        import torch

        x = torch.arange(8.0)
        y = torch.nn.functional.dropout(x, 0.5)
        print(y.sum().item())
    """, ("aten.bernoulli_.float", 4)),
    # A draw inside compiled code: inductor seeds its kernels with a draw at the compiled function.
    "torch.compile": ("""\
        import torch

        @torch.compile
        def noisy(x):
            return (x + torch.rand_like(x)).relu()

        print(noisy(torch.ones(8)).sum().item())
    """, ("aten.randint.low_out", 3)),
}


@needs_torch
@pytest.mark.parametrize("case", UNSEEDED)
def test_unseeded_versions_name_the_first_divergent_op_and_line(tmp_path, monkeypatch, case):
    if case == "torch.compile" and shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("torch.compile on the CPU (inductor) needs a C++ compiler")
    source, (op, line) = UNSEEDED[case]
    write(tmp_path, "unseeded.py", source)
    monkeypatch.chdir(tmp_path)
    settings = RunSettings(Path("unseeded.py"), (), 1, 100_000, 300.0)

    # Runs 1 and 2 only: the deterministic-mode run adds nothing to where they part.
    first, second = (trace._traced(settings, label, 1, False, tmp_path, None) for label in ("1", "2"))

    assert not first.failed and not second.failed, first.child.output + second.child.output
    comparison = trace.compare(first.completed_trace, second.completed_trace)
    assert comparison["result"] == "diverged"
    side = comparison["divergence"]["run_1"]
    assert (side["op"], side["location"], side["process"]) == (op, f"unseeded.py:{line}", "main process")


# -- DataLoader workers, progress while a run runs ------------------------------------


DATASET = """\
import torch
from torch.utils.data import Dataset


class Noisy(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        sample = torch.rand(4) + index
        sample.put_(torch.tensor([0, 0]), torch.ones(2))
        return sample
"""


@needs_torch
def test_a_divergence_that_starts_in_a_dataloader_worker_is_named_at_the_workers_line(tmp_path, monkeypatch, capsys):
    # The main process is seeded, so every worker's torch seed is too, until worker_init_fn
    # reseeds it from the pid. Untraced workers showed this at the main process's model(batch).
    write(tmp_path, "data.py", DATASET)
    write(tmp_path, "train.py", """\
        import os
        import torch
        from torch.utils.data import DataLoader
        from data import Noisy

        def seed_worker(worker_id):
            torch.manual_seed(os.getpid())

        if __name__ == "__main__":
            torch.manual_seed(0)
            model = torch.nn.Linear(4, 1)
            for batch in DataLoader(Noisy(), batch_size=4, num_workers=2, worker_init_fn=seed_worker):
                model(batch).sum().backward()
    """)
    monkeypatch.chdir(tmp_path)

    code, out = verify(capsys, "--run", "train.py", "--threads", "1", "--format", "json")

    report = json.loads(out)
    assert code == 1 and report["result"] == "diverged", out
    first = report["divergence"]["run_1"]
    assert (first["op"], first["location"], first["process"]) == (
        "aten.rand.default", "data.py:10", "DataLoader worker 0, batch 0")
    assert "aten.rand.default at data.py:10 in DataLoader worker 0, batch 0" in trace.render_text(report)
    assert (report["prediction"]["path"], report["prediction"]["line"]) == ("train.py", 7)  # the pid seed
    assert [run["devices"] for run in report["runs"]] == [["cpu"]] * 3
    # The workers' alerts (deterministic mode) and reached lines come back too.
    assert [(a["location"], a["op"]) for a in report["alerts"]] == [("data.py:11", "aten.put_.default")]
    assert [(f["path"], f["line"], f["status"]) for f in report["findings"]] == [
        ("data.py", 11, "confirmed at runtime")]


@needs_torch
def test_spawned_persistent_dataloader_workers_are_traced_batch_by_batch(tmp_path, monkeypatch):
    write(tmp_path, "data.py", DATASET)
    write(tmp_path, "epochs.py", """\
        import torch
        from torch.utils.data import DataLoader
        from data import Noisy

        if __name__ == "__main__":
            torch.manual_seed(0)
            loader = DataLoader(Noisy(), batch_size=2, num_workers=2, multiprocessing_context="spawn",
                                persistent_workers=True)
            for epoch in range(2):
                for step, batch in enumerate(loader):
                    batch.sum()
                    if epoch == 0 and step == 1:
                        break  # batches 2 and 3 may be prefetched by then: no one takes them
    """)
    monkeypatch.chdir(tmp_path)
    settings = RunSettings(Path("epochs.py"), (), 1, 100_000, 300.0)

    run = trace._traced(settings, "1", 1, False, tmp_path, None)

    assert not run.failed, run.child.output
    ops = run.completed_trace["ops"]
    taken = []
    for *_, origin in ops:
        if origin and (not taken or taken[-1] != origin):
            taken.append(origin)
    # Round robin: batch i comes from worker i % 2; epoch 1 starts again at batch 0.
    assert taken == ["worker 0, batch 0", "worker 1, batch 1",
                     "worker 0, batch 0", "worker 1, batch 1", "worker 0, batch 2", "worker 1, batch 3"]
    draws = [(location, origin) for op, location, _, _, origin in ops if op == "aten.rand.default"]
    assert len(draws) == 12 and {location for location, _ in draws} == {"data.py:10"}
    # Each batch's worker ops come just before the main process's op that reads it.
    sums = [index for index, (op, location, *_) in enumerate(ops) if location == "epochs.py:11"]
    assert len(sums) == 6 and all(ops[index - 1][4] for index in sums)


def test_progress_on_a_terminal_is_one_line_rewritten_and_in_a_pipe_a_line_per_30_s():
    import io

    terminal, pipe = io.StringIO(), io.StringIO()
    for stream, is_terminal in ((terminal, True), (pipe, False)):
        progress = RunProgress(stream, terminal=is_terminal)
        progress.started("1", Path("train.py"))
        for seconds, ops in ((0.5, 10), (1.0, 10), (29.0, 500), (31.0, 700), (59.0, 900), (95.0, 1200)):
            progress.running("1", ops, seconds)
        progress.finished("1", "1300 ops", 96.2)
    assert pipe.getvalue().splitlines() == [
        "repro-lint verify: run 1 of train.py: started",
        "repro-lint verify: run 1: 700 ops so far, 30 s",
        "repro-lint verify: run 1: 1200 ops so far, 90 s",
        "repro-lint verify: run 1: 1300 ops in 96.2 s",
    ]
    shown = terminal.getvalue()
    assert shown.startswith("repro-lint verify: run 1 of train.py: started\n"
                            "\rrepro-lint verify: run 1: 10 ops so far, 0 s")
    assert shown.count("10 ops so far, 0 s") == 1  # unchanged: not rewritten
    assert "\rrepro-lint verify: run 1: 1200 ops so far, 95 s" in shown
    assert shown.endswith("\rrepro-lint verify: run 1: 1300 ops in 96.2 s\n")


@needs_torch
def test_a_running_script_reports_the_ops_traced_so_far(tmp_path, monkeypatch):
    # The script waits until the progress reports its ops: without live progress it would time out.
    write(tmp_path, "wait.py", """\
        import os
        import time
        import torch

        for _ in range(5):
            torch.ones(2).add_(1)
        while not os.path.exists("go"):
            time.sleep(0.05)
    """)
    monkeypatch.chdir(tmp_path)

    class Recording(RunProgress):
        def running(self, label, ops, seconds):
            if ops >= 10:
                Path("go").touch()

    run = trace._traced(RunSettings(Path("wait.py"), (), 1, 1000, 120.0), "1", 1, False, tmp_path, Recording())

    assert not run.failed, run.child.describe_failure()
    assert run.completed_trace["total_ops"] == 10
