"""Sparsity on an exported model: 2:4 pruning (Wanda against magnitude) and zero MXU tiles.

For ``MODEL.onnx`` (an export of ``examples/export_hf.py``, static shapes):

1. ``moecc.prune_report`` with ``prune="2:4"`` twice on the same input sets (``--calibration N``
   seeded sets): Wanda scores on them, and magnitude scores. Prints the accuracy of the logits
   for both, the whole model's cycles, MXU cycles and HBM bytes, and over the pruned matmuls
   (each alone on the simulator) their MXU cycles and weight bytes against unpruned.
2. The export with half of the MXU tiles of every MLP weight set to zero in the ONNX file itself
   (no ``prune``): compiled as it is, and with the sparse forms turned off (every weight dense);
   prints both programs' cycles, MXU cycles and HBM bytes, and whether the outputs are bitwise
   equal.

3. With ``--cpu``: on the ``cpu`` target, one matmul ``x [m x k] @ W [k x n]`` with half of W's
   128 x 128 tiles zero against the same W dense (no zero), median of ``--repeats`` timed runs in
   this process, one thread: the packed sgemm skips the zero runs of rows.

    python bench/pruning.py /tmp/hf_l4/llama.onnx [--precision f32] [--calibration 4] [--cpu]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

import moecc
from moecc.backend.asic.staging import module as staging_module
from moecc.backend.asic.staging.sparse_weights import SparsePlan
from moecc.prune_report import prune_report

#: The MXU tile of moe-asic-v1 (the block the zero-tile half is cut in).
TILE = 128


def _sum(rows: list[dict], *keys: str) -> int:
    total = 0
    for row in rows:
        value = row
        for key in keys:
            value = value[key]
        total += int(value)
    return total


def two_four(path: Path, precision: str, calibration: int, asic_target: str | None) -> None:
    options = {"precision": precision, "asic_target": asic_target}
    start = time.perf_counter()
    wanda = prune_report(path, "2:4", calibration=calibration, advise=False, **options)
    import moecc.prune_report as module

    module.EVAL_SETS = calibration  # magnitude scores, measured on the same seeded sets
    magnitude = prune_report(path, "2:4", advise=False, **options)
    took = time.perf_counter() - start
    assert wanda["evaluated_on"] == magnitude["evaluated_on"]
    print(f"2:4 on {path.name}, {precision}, accuracy on {wanda['evaluated_on']}:")
    for name, report in (("wanda", wanda), ("magnitude", magnitude)):
        for row in report["accuracy"]:
            top1 = "-" if row["top1_agreement"] is None else f"{row['top1_agreement'] * 100:.1f}%"
            print(f"  {name:<9} {row['output']}: cosine {row['cosine']:.4f}, relative error {row['relative_error']:.3f}, "
                  f"max abs error {row['max_abs_error']:.3g}, top-1 {top1}")
    rows = wanda["weights"]
    mxu = _sum(rows, "matmul_alone", "pruned", "mxu_cycles") / _sum(rows, "matmul_alone", "unpruned", "mxu_cycles")
    stored = _sum(rows, "hbm_bytes_stored", "pruned") / _sum(rows, "hbm_bytes_stored", "unpruned")
    alone = _sum(rows, "matmul_alone", "pruned", "cycles") / _sum(rows, "matmul_alone", "unpruned", "cycles")
    print(f"  the {len(rows)} pruned matmuls, each alone: MXU cycles {mxu:.3f}x, weight bytes stored {stored:.4f}x, "
          f"cycles {alone:.3f}x")
    u, p = wanda["model_figures"]["unpruned"], wanda["model_figures"]["pruned"]
    print(f"  whole model: cycles {u['cycles']:,} -> {p['cycles']:,} ({p['cycles'] / u['cycles']:.3f}x), MXU "
          f"{u['mxu_cycles']:,} -> {p['mxu_cycles']:,} ({p['mxu_cycles'] / u['mxu_cycles']:.3f}x), HBM read "
          f"{u['hbm_bytes_read']:,} -> {p['hbm_bytes_read']:,} ({p['hbm_bytes_read'] / u['hbm_bytes_read']:.3f}x)")
    print(f"  (two reports: {took:.1f} s)")


def zero_tiles(path: Path, precision: str, asic_target: str | None) -> None:
    model = onnx.load(path)
    compiled = moecc.compile(model, "asic", precision=precision, asic_target=asic_target)
    mlp = {row["name"] for row in moecc.compile(model, "ref", prune="tile:0.5").report()["pruning"]["weights"]
           if row["role"] == "mlp"}
    zeroed = 0
    for init in model.graph.initializer:
        if init.name not in mlp:
            continue
        w = numpy_helper.to_array(init).copy()
        rows, cols = w.shape[-2:]
        for i in range(rows // TILE):
            for j in range(cols // TILE):
                if (i + j) % 2 == 0:
                    w[..., i * TILE:(i + 1) * TILE, j * TILE:(j + 1) * TILE] = 0
                    zeroed += 1
        init.CopyFrom(numpy_helper.from_array(w, init.name))
    del compiled
    feeds = {k[len("input:"):]: v for k, v in np.load(path.with_suffix(".npz")).items() if k.startswith("input:")}
    sparse = moecc.compile(model, "asic", precision=precision, asic_target=asic_target)
    out_sparse = sparse.run(feeds)
    rs = sparse.report()
    saved = staging_module.plan_sparse_weights
    staging_module.plan_sparse_weights = lambda *args: SparsePlan()
    try:
        dense = moecc.compile(model, "asic", precision=precision, asic_target=asic_target)
    finally:
        staging_module.plan_sparse_weights = saved
    out_dense = dense.run(feeds)
    rd = dense.report()
    equal = all(np.array_equal(out_sparse[k], out_dense[k]) for k in out_dense)
    blocks = sum(row.get("zero_blocks", 0) for row in rs["sparse_weights"])
    print(f"half the MXU tiles of {len(mlp)} MLP weights zero in the ONNX file ({zeroed} tiles; the program skips "
          f"{blocks} zero blocks), {precision}:")
    for label, key in (("cycles", ("cycles",)), ("MXU cycles", ("units", "mxu", "busy_cycles")),
                       ("HBM bytes read", ("hbm_bytes", "read"))):
        a, b = rd, rs
        for part in key:
            a, b = a[part], b[part]
        print(f"  {label:<15} dense program {a:>12,}  sparse program {b:>12,}  ({b / a:.3f}x)")
    print(f"  outputs bitwise equal to the dense program's: {equal}")


def cpu_zero_tiles(repeats: int) -> None:
    import statistics

    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    print(f"cpu, one thread, one matmul, median of {repeats} runs: half of W's 128 x 128 tiles zero against W dense")
    for m, k, n in ((128, 256, 512), (128, 1024, 1024), (512, 512, 512)):
        dense = rng.standard_normal((k, n)).astype(np.float32)
        sparse = dense.copy()
        for i in range(k // TILE):
            for j in range(n // TILE):
                if (i + j) % 2 == 0:
                    sparse[i * TILE:(i + 1) * TILE, j * TILE:(j + 1) * TILE] = 0
        x = rng.standard_normal((m, k)).astype(np.float32)
        times = {}
        for label, w in (("dense", dense), ("half zero", sparse)):
            graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
                                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
                                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
                                      [numpy_helper.from_array(w, "w")])
            compiled = moecc.compile(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), "cpu")
            got = compiled.run({"x": x})["y"]
            assert np.allclose(got, x @ w, rtol=1e-4, atol=1e-4)
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                compiled.run({"x": x})
                runs.append(time.perf_counter() - start)
            times[label] = statistics.median(runs) * 1e6
        print(f"  {m} x {k} x {n}: dense {times['dense']:,.0f} us, half zero {times['half zero']:,.0f} us "
              f"({times['half zero'] / times['dense']:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--precision", default="f32", choices=["f32", "bf16"])
    parser.add_argument("--calibration", type=int, default=4, help="seeded input sets (default 4)")
    parser.add_argument("--asic-target", default=None)
    parser.add_argument("--cpu", action="store_true", help="also time zero tiles on the cpu target")
    parser.add_argument("--repeats", type=int, default=51)
    args = parser.parse_args()
    two_four(args.model, args.precision, args.calibration, args.asic_target)
    zero_tiles(args.model, args.precision, args.asic_target)
    if args.cpu:
        cpu_zero_tiles(args.repeats)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
