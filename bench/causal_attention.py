"""Causal attention with and without skipping the keys a query tile cannot see.

For each sequence length, one causal ``attention`` op (batch 1, ``--heads`` query heads over
``--kv-heads`` key/value heads, head size ``--head-dim``) is compiled twice in this process:
as moecc compiles it (each query tile computes only the keys its rows can see) and with
``composite.SKIP_HIDDEN_KEYS`` off (the whole square, masked). Both run on the same seeded
inputs; the script prints the simulated ASIC cycles of each (``--target asic``) or the median
CPU time over ``--repeats`` runs (``--target cpu``), their ratio, and the largest difference
between the two outputs (the skipped keys add exactly zero: 0 on the ASIC's online form).

With ``--window W`` the op is ONNX ``Attention`` (opset 25) with ``is_causal=1`` and
``left_window_size=W``: a sliding window, whose structural mask folds to a constant, so each
query tile computes only the keys ``[lo, hi)`` inside its rows' windows.

    python bench/causal_attention.py --target asic --asic-target moe-asic-v1 --seq 128,512,1024
    python bench/causal_attention.py --target cpu --seq 128,512
    python bench/causal_attention.py --target asic --seq 512,1024 --window 64
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import moecc
from moecc.ir.parser import parse_graph
from moecc.passes.tiled_lowering import composite


def build(seq: int, heads: int, kv_heads: int, dim: int):  # noqa: ANN201
    scale = 1.0 / float(np.sqrt(dim))
    return parse_graph(f"""graph @main(%q: tensor<1x{heads}x{seq}x{dim}xf32>, %k: tensor<1x{kv_heads}x{seq}x{dim}xf32>, \
%v: tensor<1x{kv_heads}x{seq}x{dim}xf32>) {{
  %a = attention(%q, %k, %v) {{scale = {scale!r}, is_causal = true}} : tensor<1x{heads}x{seq}x{dim}xf32>
  return %a
}}""")


def build_window(seq: int, heads: int, kv_heads: int, dim: int, window: int) -> bytes:
    """ONNX ``Attention``, causal with a left window of ``window`` keys."""
    from onnx import TensorProto, helper

    shapes = {"q": heads, "k": kv_heads, "v": kv_heads}
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, h, seq, dim]) for n, h in shapes.items()]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, heads, seq, dim])
    node = helper.make_node("Attention", ["q", "k", "v"], ["y"], is_causal=1, left_window_size=window)
    graph = helper.make_graph([node], "sliding", ins, [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 25)]).SerializeToString()


def measure(args: argparse.Namespace, seq: int, skip: bool) -> tuple[float, np.ndarray]:
    composite.SKIP_HIDDEN_KEYS = skip
    try:
        options = ({"asic_target": args.asic_target, "precision": args.precision} if args.target == "asic"
                   else {"threads": args.threads})
        if args.window:
            compiled = moecc.compile(build_window(seq, args.heads, args.kv_heads, args.head_dim, args.window),
                                     args.target, **options)
        else:
            compiled = moecc.compile_graph(build(seq, args.heads, args.kv_heads, args.head_dim), args.target,
                                           **options)
    finally:
        composite.SKIP_HIDDEN_KEYS = True
    rng = np.random.default_rng(seq)
    heads = {"q": args.heads, "k": args.kv_heads, "v": args.kv_heads}
    feeds = {name: rng.standard_normal((1, h, seq, args.head_dim)).astype(np.float32) for name, h in heads.items()}
    (out,) = compiled.run(feeds).values()
    if args.target == "asic":
        return float(compiled.report()["cycles"]), out
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        compiled.run(feeds)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=["asic", "cpu"], default="asic")
    parser.add_argument("--asic-target", default="moe-asic-v1")
    parser.add_argument("--precision", default="f32", choices=["f32", "bf16"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seq", default="128,512")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--window", type=int, default=0, help="a sliding window of this many keys (0: causal only)")
    args = parser.parse_args()
    unit = "cycles" if args.target == "asic" else "ms"
    where = f"{args.asic_target} {args.precision}" if args.target == "asic" else f"cpu, {args.threads} thread(s)"
    kind = f"sliding-window ({args.window}) attention" if args.window else "causal attention"
    print(f"### {kind}, {args.heads}/{args.kv_heads} heads of {args.head_dim}, {where}\n")
    print(f"| sequence | whole square, {unit} | visible keys only, {unit} | ratio | max difference |")
    print("|---|---|---|---|---|")
    for seq in (int(s) for s in args.seq.split(",")):
        dense, expected = measure(args, seq, skip=False)
        skipped, got = measure(args, seq, skip=True)
        difference = float(np.abs(got - expected).max())
        print(f"| {seq} | {dense:,.3f} | {skipped:,.3f} | {skipped / dense:.2f}x | {difference:.1e} |"
              if unit == "ms" else f"| {seq} | {dense:,.0f} | {skipped:,.0f} | {skipped / dense:.2f}x | {difference:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
