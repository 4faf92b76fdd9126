"""The ``cpu`` part of a ``cpu`` model's report: the host CPU and its blocking, threads, tile
sizes, kernels and host calls, matmuls through the sgemm, weights stored in its packed layout,
heap and scratch (bytes saved by temp reuse) and the last run's time."""

from __future__ import annotations

from typing import Any

from moecc.backend.llvm.tiled.params import cpu_tiling_params


def tiled_cpu_report(model: Any) -> dict[str, Any]:
    """The report of a compiled model whose executable is a ``TiledCpuExecutable`` (runs it on
    seeded random inputs first when it has not run yet, and says so)."""
    from moecc.asic_runtime import random_inputs

    program = model.executable.program
    if not isinstance(model.last_stats, float):
        model.run({spec.name: array for spec, array in zip(model.inputs, random_inputs(model.graph).values())})
        model.last_stats_source = "seeded random inputs (no run() yet)"
    target = program.cpu_target
    params = cpu_tiling_params(target)
    built = program.built
    return {
        "cpu": target.name,
        "vector_floats": target.vector_floats,
        "caches_bytes": {"l1d": target.l1d_bytes, "l2": target.l2_bytes, "l3": target.l3_bytes},
        "sgemm_blocking": {"mr": target.mr, "nr": target.nr, "mc": target.mc, "kc": target.kc, "nc": target.nc},
        "tiling": f"{params.tile_rows}x{params.tile_cols}, k {params.k_tile}, {params.local_bytes // 1024} KiB locals",
        "threads": program.threads,
        "kernels": len(program.module.kernels),
        "host_calls": len(program.host_calls),
        # The kernel-IR path's names: no CPU steps here (every op is a kernel), and what runs on
        # the interpreter runs in host calls.
        "cpu_steps_compiled": 0,
        "cpu_steps_interpreted": len(program.host_calls),
        "host_calls_run": program.host_calls_run,
        "sgemm_matmuls": built.sgemm_calls,
        # Weights the heap holds in the sgemm's packed layout (packed once at load time).
        "weights_stored_packed": len(built.packed_weights),
        "weights_stored_packed_bytes": sum(4 * w.k * w.n for w in built.packed_weights.values()),
        # Of those, the ones whose all-zero runs of rows the sgemm skips (pruned weights); 2:4
        # weights run densely on the CPU (no run of zero rows in them).
        "weights_skipping_zero_rows": sum(1 for w in built.packed_weights.values() if w.skip_zero),
        "sparsity": "2:4 weights run densely; packed weights with all-zero runs of 32 rows skip them",
        "staged_matmuls": built.staged_matmuls,
        "integer_matmuls": built.integer_matmuls,
        "dot_product_matmuls": built.dot_matmuls,
        "partition": dict(model.partition),
        "heap_bytes": program.heap_bytes,
        "heap_bytes_reused": built.heap.reused_bytes,
        # The temporaries' share of the heap (the same planner as the ASIC's HBM): as planned,
        # the most bytes live at one step (a lower bound), every one in a place of its own.
        "heap_activation_bytes": built.heap.temp_bytes_no_reuse - built.heap.reused_bytes,
        "heap_activation_lower_bound": built.heap.temp_bytes_lower_bound,
        "heap_activation_no_reuse": built.heap.temp_bytes_no_reuse,
        "heap_activation_planner": built.heap.temp_planner,
        "scratch_bytes_per_thread": program.scratch_bytes,
        "last_run_ms": round(float(model.last_stats) * 1e3, 3),
        "last_run_source": model.last_stats_source,
    }


__all__ = ["tiled_cpu_report"]
