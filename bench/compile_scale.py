"""Compile time and peak memory against model size (issue #11: memory that scales with the model).

Writes generated ONNX models with their weights as external data (never committed: into
``--dir``, default a temporary folder), then compiles each for each target in a fresh
subprocess and prints the wall time and the child's peak resident memory (``ru_maxrss``)
against the weights' size and the time to read them from disk. The targets of the issue:
peak memory <= 1.5 x weights + 1 GiB, compile time <= 2 x read time + 10 s.

The model is a residual MLP stack with the shapes of a large transformer's feed-forward
layers: ``x [seq, hidden] -> (MatMul W1 [hidden, ffn] -> Relu -> MatMul W2 [ffn, hidden] ->
Add x) x layers``; ``--gib`` picks the number of layers.

    python bench/compile_scale.py [--gib 0.3,1.2,6] [--targets asic,cpu] [--hidden 2048] [--ffn 8192]
                                  [--seq 16] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_model(path: Path, layers: int, hidden: int, ffn: int, seq: int, seed: int = 0) -> int:
    """The residual MLP stack as ``path`` + ``path.data`` (weights external); returns weight bytes."""
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    data_name = path.name + ".data"
    inits: list[onnx.TensorProto] = []
    nodes = []
    offset = 0
    with open(path.parent / data_name, "wb") as data:
        def external(name: str, shape: tuple[int, ...]) -> None:
            nonlocal offset
            array = (rng.standard_normal(shape, dtype=np.float32) / np.sqrt(shape[0])).astype(np.float32)
            data.write(array.tobytes())
            tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(shape))
            tensor.data_location = TensorProto.EXTERNAL
            for key, value in (("location", data_name), ("offset", str(offset)), ("length", str(array.nbytes))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
            offset += array.nbytes
            inits.append(tensor)

        x = "x"
        for i in range(layers):
            external(f"w1_{i}", (hidden, ffn))
            external(f"w2_{i}", (ffn, hidden))
            nodes += [helper.make_node("MatMul", [x, f"w1_{i}"], [f"h{i}"], name=f"/l{i}/up"),
                      helper.make_node("Relu", [f"h{i}"], [f"r{i}"], name=f"/l{i}/act"),
                      helper.make_node("MatMul", [f"r{i}", f"w2_{i}"], [f"d{i}"], name=f"/l{i}/down"),
                      helper.make_node("Add", [x, f"d{i}"], [f"y{i}"], name=f"/l{i}/residual")]
            x = f"y{i}"
    graph = helper.make_graph(nodes, "mlp_stack", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, hidden])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [seq, hidden])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    return offset


_CHILD = """
import json, resource, sys, time
start = time.perf_counter()
import moecc
compiled = moecc.compile(sys.argv[1], target=sys.argv[2])
compile_s = time.perf_counter() - start
print(json.dumps({"compile_s": compile_s, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "passes": {k: round(v, 2) for k, v in sorted(compiled.pass_times.items(), key=lambda kv: -kv[1])[:4]}}))
"""


def read_seconds(path: Path) -> float:
    """Time to read the model's files once (the page cache is as the compile will find it)."""
    start = time.perf_counter()
    for part in (path, path.with_name(path.name + ".data")):
        with open(part, "rb") as handle:
            while handle.read(1 << 24):
                pass
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", default="0.3,1.2,6", help="weight sizes in GiB (comma-separated)")
    parser.add_argument("--targets", default="asic,cpu")
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--ffn", type=int, default=8192)
    parser.add_argument("--seq", type=int, default=16)
    parser.add_argument("--dir", default=None, help="where the models are written (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated models")
    args = parser.parse_args(argv)
    folder = Path(args.dir or tempfile.mkdtemp(prefix="moecc_scale_"))
    folder.mkdir(parents=True, exist_ok=True)
    layer_bytes = 2 * args.hidden * args.ffn * 4
    print(f"machine: {os.cpu_count()} CPUs; models in {folder}; layer = {layer_bytes / 2**20:.0f} MiB of weights")
    print("| weights | layers | target | read s | compile s | limit s | peak RSS | limit | slowest passes |")
    print("|---|---|---|---|---|---|---|---|---|")
    failed = False
    for gib in (float(g) for g in args.gib.split(",") if g):
        layers = max(1, round(gib * 2**30 / layer_bytes))
        path = folder / f"mlp_{layers}l.onnx"
        weights = write_model(path, layers, args.hidden, args.ffn, args.seq)
        read_s = read_seconds(path)
        for target in args.targets.split(","):
            done = subprocess.run([sys.executable, "-c", _CHILD, str(path), target], capture_output=True, text=True)
            if done.returncode != 0:
                print(f"| {weights / 2**30:.2f} GiB | {layers} | {target} | {read_s:.1f} | failed ({done.returncode}): "
                      f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''} |||||")
                failed = True
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            limit_s, limit_b = 2 * read_s + 10, 1.5 * weights + 2**30
            print(f"| {weights / 2**30:.2f} GiB | {layers} | {target} | {read_s:.1f} | {row['compile_s']:.1f} | {limit_s:.0f} | "
                  f"{row['peak_rss_bytes'] / 2**30:.2f} GiB | {limit_b / 2**30:.2f} GiB | {row['passes']} |")
            failed |= row["compile_s"] > limit_s or row["peak_rss_bytes"] > limit_b
        if not args.keep:
            path.unlink()
            path.with_name(path.name + ".data").unlink()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
