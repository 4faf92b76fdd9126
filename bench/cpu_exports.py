"""Exported models (``examples/export_hf.py`` output) on the ``cpu`` target against onnxruntime.

One configuration per process (a thread pool per compiled model: two in one process would
share the cores), onnxruntime and moecc taking turns on the export's inputs in blocks of
``--block`` runs; prints the medians of ``--repeats`` runs each and moecc's speed as a ratio of
onnxruntime's (above 1: faster).

Blocks, not alternate runs: both engines' worker threads spin for a while after a run, waiting
for the next one, so with two threads on a two-core machine a run right after the other
engine's finds a core taken by its spinning worker. Each block starts after a pause longer than
either engine's spin and drops its first run.

    python bench/cpu_exports.py /tmp/hf_l4/llama.onnx --threads 1 [--disable-pass raise-composites] [--repeats 21]
"""

from __future__ import annotations

import os

# One thread for every BLAS/OpenMP runtime numpy might load; must precede ``import numpy``.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import moecc  # noqa: E402


#: Pause before each block: longer than the worker threads of either engine spin idle
#: (moecc's: about a millisecond, thread_pool.WORKER_SPINS).
PAUSE_S = 0.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="MODEL.onnx with MODEL.npz (inputs) beside it")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--block", type=int, default=7, help="runs per turn (the first is dropped)")
    parser.add_argument("--disable-pass", action="append", default=[], metavar="NAME")
    args = parser.parse_args()
    import onnxruntime as ort

    data = np.load(args.model.with_suffix(".npz"))
    inputs = {k[len("input:"):]: data[k] for k in data.files if k.startswith("input:")}
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    compiled = moecc.compile(args.model, target="cpu", threads=args.threads, disable_passes=args.disable_pass)
    runs = {"onnxruntime": lambda: session.run(None, inputs), "moecc": lambda: compiled.run(inputs)}
    for run in runs.values():
        run(), run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    while min(len(times) for times in samples.values()) < args.repeats:
        for name, run in runs.items():
            time.sleep(PAUSE_S)
            for position in range(max(args.block, 2)):
                start = time.perf_counter()
                run()
                if position:
                    samples[name].append(time.perf_counter() - start)
    ort_s, ours = statistics.median(samples["onnxruntime"]), statistics.median(samples["moecc"])
    disabled = f", without {', '.join(args.disable_pass)}" if args.disable_pass else ""
    print(f"{args.model} threads={args.threads}{disabled}: onnxruntime {ort_s * 1e3:.2f} ms, moecc {ours * 1e3:.2f} ms "
          f"({ort_s / ours:.2f}x onnxruntime's speed; load average {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
