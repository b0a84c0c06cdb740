"""`repro-lint verify`: observe nondeterminism by running code, where `check` only reads it.

Mode 1 runs catalog probes for flagged ops on each device (`probes`, `probe_worker`);
mode 2 runs the user's script under an op tracer (`trace`, `trace_worker`). Only
the `*_worker` modules import torch, and they run in child processes.
"""
