"""How much of an ASIC run is the matrix unit's own latency: the same model on a part where every other unit is free.

For each ``MODEL.onnx`` given (with its ``MODEL.npz`` of inputs beside it, as
``examples/export_hf.py`` writes them): compile and simulate it on the part, then on a what-if
of the part whose DMA setup, HBM and SRAM bandwidth, vector lanes and vector pipeline cost
(next to) nothing, the matrix unit unchanged (``--set`` overrides, :data:`FREE_UNITS`). Prints
both runs' cycles over the *real* part's roofline. The second figure is what the compiled
program's chain of dependent array passes takes by itself (each pass's weight shift, stream and
fill/drain, one after another as the data flows): with few tokens it is most of the run, and
hiding the other units' work, however well, does not take the program below it. To go lower takes fewer dependent passes,
or a part with a smaller array or lower fill/drain (``moecc compare``, ``moecc sweep``).

    python bench/array_floor.py /tmp/hf_s24h128/llama.onnx /tmp/hf_s96/gpt2.onnx [--target moe-asic-v1] [--precision f32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import moecc

#: Overrides that make every unit but the matrix unit (next to) free: no DMA latency, unbounded
#: HBM and SRAM bandwidth, a vector unit that takes any tile in one cycle and no pipeline latency.
FREE_UNITS = {
    "dma.setup_cycles": 0,
    "dma.local_setup_cycles": 0,
    "dma.gather_row_cycles": 0,
    "hbm.bandwidth_bytes_per_s": 1e18,
    "sram.banks": 1 << 20,
    "vpu.lanes": 1 << 30,
    "timing.vpu_pipeline": 0,
}


def measure(path: Path, target: str, precision: str) -> dict[str, object]:
    data = np.load(path.with_suffix(".npz"))
    inputs = {k[len("input:"):]: data[k] for k in data.files if k.startswith("input:")}
    real = moecc.compile(path, target="asic", asic_target=target, precision=precision)
    real.run(inputs)
    report = real.report()
    free = moecc.compile(path, target="asic", asic_target=target, precision=precision, target_overrides=FREE_UNITS)
    free.run(inputs)
    roofline = report["cycles"] / report["ratio_to_roofline"]
    array_only = free.report()["cycles"]
    return {"model": f"{path.parent.name}/{path.stem}", "cycles": report["cycles"], "roofline": roofline,
            "array_only": array_only}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="MODEL.onnx files with MODEL.npz beside them")
    parser.add_argument("--target", default="moe-asic-v1")
    parser.add_argument("--precision", default="f32", choices=["f32", "bf16"])
    args = parser.parse_args()
    print(f"### {args.target}, {args.precision}: the run, and the same program with every unit but the MXU free\n")
    print("| model | cycles | vs roofline | array only | array only vs roofline | array share of the run |")
    print("|---|---|---|---|---|---|")
    for path in args.models:
        r = measure(path, args.target, args.precision)
        cycles, roofline, array_only = int(r["cycles"]), float(r["roofline"]), int(r["array_only"])  # type: ignore[arg-type]
        print(f"| {r['model']} | {cycles:,} | {cycles / roofline:.2f}x | {array_only:,} | {array_only / roofline:.2f}x "
              f"| {array_only / cycles:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
