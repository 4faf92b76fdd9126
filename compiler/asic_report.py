"""The ``asic`` target's report: what an architect reads after compiling a model.

Built from the last simulated run of a :class:`~moecc.compiled_model.CompiledModel` (or, if
it has not run yet, from one run on seeded random inputs, and the report says so): cycles and
the roofline bound of the same work, HBM traffic against the compulsory bytes, per-unit
busy cycles, what ran on the ASIC versus the CPU, the memory plan and the compile stage times.

Host steps are part of the model's time: each is priced by the part's host model
(:attr:`~moecc.isa_spec.target.Target.host_flops_per_s` and its neighbours: a launch overhead
plus the larger of its FLOPs at the host's rate and its HBM bytes at the host link's rate), in
ASIC cycles. ``cycles`` is the ASIC's (simulated), ``host_cycles`` the host steps' (modelled),
``total_cycles`` both, and the roofline ratio is taken on the total. The summary warns when more
than :data:`HOST_FLOPS_WARNING` of the FLOPs run on the host, naming the ops and why.

The model's FLOPs are counted on the graph (:func:`op_flops`, :func:`graph_flops`): the target's
``finish`` splits them by where each op ran (``partition["flops"]``, after ``stage-for-asic`` has
said which kernels it left to the host) and :func:`host_step_costs` prices each host step's ops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moecc.ir.graph import Graph, Op
from moecc.ir.kernel import CpuCall, Kernel

#: Share of the model's FLOPs on the host above which the summary warns.
HOST_FLOPS_WARNING = 0.05


#: Kernels the summary lists (the ones the most cycles go to).
TOP_KERNELS = 5


def op_flops(op: Op) -> int:
    """FLOPs of one op: 2*M*N*K for matmuls (batched), elements for element-wise ops."""
    if op.kind == "matmul":
        k = op.operands[0].type.shape[-1]
        return 2 * op.result.type.numel * k
    if op.kind in ("gemm", "einsum"):
        return 2 * op.result.type.numel * op.operands[0].type.shape[-1]
    if op.kind == "moe":
        # As a dense run computes it: the router and every expert on every token.
        tokens, hidden = op.operands[0].type.shape
        experts, ffn = op.operands[1].type.shape[1], op.operands[2].type.shape[2]
        projections = 3 if op.attrs["gated"] else 2
        return 2 * tokens * hidden * experts * (1 + projections * ffn)
    if op.is_const or op.kind in ("reshape", "transpose", "concat", "slice", "expand", "gather", "gather_nd",
                                   "gather_elements", "scatter_elements", "scatter_nd", "tile", "cast"):
        return 0
    return sum(r.type.numel for r in op.results)


def graph_flops(graph: Graph, placement: Mapping[int, str] | None = None) -> dict[str, int]:
    """FLOPs of ``graph``'s ops (:func:`op_flops`), split by placement (op index -> ``"asic"``
    or ``"cpu"``; an op without one counts as ``"cpu"``)."""
    out = {"asic": 0, "cpu": 0, "total": 0}
    for i, op in enumerate(graph.ops):
        flops = op_flops(op)
        if not flops:
            continue
        where = placement.get(i, "cpu") if placement is not None else "cpu"
        out["total"] += flops
        out[where if where in out else "cpu"] += flops
    return out

def host_step_costs(model: Any) -> list[dict[str, Any]]:
    """One row per host step: its name, graph ops, FLOPs, HBM bytes read and written, and the
    cycles the target's host model gives it (see the module docstring). A kernel staging left to
    the host has no graph ops: its FLOPs count as 0 and its bytes are the buffers it touches."""
    exe = model.executable
    target = exe.target
    ops = {op.results[0].name: op for op in model.graph.ops}
    sizes = {b.name: b.elements * b.dtype.itemsize for b in exe.module.hbm}
    rows = []
    for step in exe.module.steps:
        if isinstance(step, CpuCall):
            rows.append(host_step_cost(step, ops, sizes, target))
    return rows


def host_step_cost(step: CpuCall, ops: Mapping[str, Any], sizes: Mapping[str, int], target: Any) -> dict[str, Any]:
    """One host step's row: its name, op count, FLOPs, bytes and the modelled cycles."""
    flops = sum(op_flops(ops[name]) for name in step.ops if name in ops)
    moved = sum(sizes.get(name, 0) for name in set(step.inputs) | set(step.outputs))
    seconds = target.host_step_overhead_s + max(flops / target.host_flops_per_s, moved / target.host_bytes_per_s)
    return {"step": step.name, "ops": len(step.ops), "flops": flops, "bytes": moved,
            "cycles": int(round(seconds * target.clock_hz))}


def asic_report(model: Any) -> dict[str, Any]:
    from moecc.asic_runtime import random_inputs

    exe = model.executable
    if model.last_stats is None:
        _, stats = exe.run(random_inputs(model.graph, seed=0), trace=False)
        model.last_stats, model.last_stats_source = stats, "seeded random inputs (no run() yet)"
    stats = model.last_stats
    target = exe.target
    mxu_dtype = "bf16" if model.options.get("precision") == "bf16" else "f32"
    buffers = {b.name: b for b in exe.module.hbm}
    weight_bytes = sum(b.elements * b.dtype.itemsize for b in exe.module.hbm if b.role == "weight")
    # All-zero MXU blocks of a weight are stored but never loaded (mxu.mmsp skips them).
    weight_bytes -= sum(row.get("zero_block_bytes", 0) for row in model.partition.get("sparse_weights", []))
    io_bytes = sum(buffers[n].elements * buffers[n].dtype.itemsize for n in set(exe.module.inputs) | set(exe.module.outputs))
    compulsory = weight_bytes + io_bytes
    flops = model.partition.get("flops", {"total": 0, "asic": 0, "cpu": 0})
    compute_cycles = stats.mxu_flops / target.peak_flops_per_cycle(mxu_dtype) if stats.mxu_flops else 0.0
    memory_cycles = compulsory / target.hbm_bytes_per_cycle
    roofline = max(compute_cycles, memory_cycles, 1.0)
    host_rows = host_step_costs(model)
    host_cycles = sum(row["cycles"] for row in host_rows)
    total_cycles = stats.cycles + host_cycles
    cycles = max(stats.cycles, 1)
    kernels = [s for s in exe.module.steps if isinstance(s, Kernel)]
    from moecc.energy_report import energy_figures

    costs = energy_figures(model.graph, target, getattr(stats, "energy_pj", {}), stats.cycles / target.clock_hz,
                           host_cycles / target.clock_hz)
    return {
        "target": "asic",
        "asic_target": target.name,
        "precision": mxu_dtype,
        "figures_from": model.last_stats_source,
        # Whose expert choices the MoE layers ran: the model's routers, or a what-if.
        "routing_source": str(model.options.get("routing") or "model"),
        "cycles": stats.cycles,
        "host_cycles": host_cycles,
        "total_cycles": total_cycles,
        "seconds": total_cycles / target.clock_hz,
        "host": {
            "steps": len(host_rows),
            "flops": sum(row["flops"] for row in host_rows),
            "bytes": sum(row["bytes"] for row in host_rows),
            "model": f"host model of {target.name}: {target.host_flops_per_s / 1e9:g} GFLOP/s, "
                     f"{target.host_bytes_per_s / 1e9:g} GB/s to HBM, {target.host_step_overhead_s * 1e6:g} us per step",
            "per_step": host_rows,
        },
        "roofline_cycles": round(roofline, 1),
        "roofline_bound": "compute" if compute_cycles >= memory_cycles else "memory",
        "ratio_to_roofline": round(max(total_cycles, 1) / roofline, 3),
        "flops": flops["total"],
        "mxu_flops": stats.mxu_flops,
        "flops_on_asic_fraction": round(flops["asic"] / flops["total"], 4) if flops["total"] else 1.0,
        "hbm_bytes": {"read": stats.hbm_read, "written": stats.hbm_written},
        "compulsory_hbm_bytes": compulsory,
        "units": {
            unit: {
                "busy_cycles": busy,
                "utilization": round(busy / cycles, 4),
                "instructions": stats.unit_instructions.get(unit, 0),
            }
            for unit, busy in sorted(stats.unit_busy.items())
        },
        "ops": dict(model.partition.get("ops", {})),
        "cpu_ops": dict(model.partition.get("cpu_ops", {})),
        "host_ops": list(model.partition.get("host_ops", [])),
        "kernels": {
            "count": len(kernels),
            "cpu_steps": sum(1 for s in exe.module.steps if isinstance(s, CpuCall)),
            "program_segments": len(exe.segments),
            "instructions": sum(len(seg.program.instructions) for seg in exe.segments),
            # Where the cycles go: each kernel accounts for the cycles from the end of the kernels
            # before it to its own end (kernels overlap; these shares add up to the ASIC cycles).
            "by_kernel": _by_kernel(exe, stats, target, mxu_dtype),
        },
        "memory": dict(model.memory),
        # Energy by component (the simulator's priced events, static power over the whole time,
        # the host steps), average power, die area, tokens: moecc.energy_report.
        **costs,
        # Weights multiplied sparse (exact: all-zero MXU blocks skipped, 2:4 weights stored
        # compressed): per weight its form and the bytes it takes in HBM against dense.
        "sparse_weights": list(model.partition.get("sparse_weights", [])),
        "pass_times": {k: round(v, 6) for k, v in model.pass_times.items()},
        **_routing(exe, stats),
    }


#: A kernel whose cycles exceed its own roofline (compute or bandwidth) by more than this is
#: reported as bound by stalls (DMA setup, dependency waits, pipeline fill and drain).
STALL_BOUND_RATIO = 1.5


def _by_kernel(exe: Any, stats: Any, target: Any, mxu_dtype: str) -> list[dict[str, Any]]:
    """One row per kernel, in program order: its ONNX nodes, the cycles it accounts for, its
    work (MXU FLOPs, HBM bytes, busy cycles per unit, DMAs) and what bounds it: ``compute``
    (FLOPs at the MXU's peak) or ``bandwidth`` (bytes at HBM's) when the cycles are within
    :data:`STALL_BOUND_RATIO` of that; else ``<unit> busy`` when one unit is busy that long
    below its peak rate (an MXU loading weights for short streams), else ``stalls``
    (``stall_cycles``: the cycles beyond the busiest unit's; ``dma_setup_cycles``: what its
    DMAs' descriptor latency would be if none overlapped)."""
    from moecc.energy_report import kernel_energy_joules, static_watts

    static = static_watts(target)
    sources = {k.name: list(k.sources) for k in exe.module.steps if isinstance(k, Kernel)}
    total = max(1, int(stats.cycles))
    peak = target.peak_flops_per_cycle(mxu_dtype)
    rows = []
    for name, cycles, end in getattr(stats, "kernel_cycles", []):
        work = getattr(stats, "kernel_work", {}).get(name, {"busy": {}, "hbm_bytes": 0, "flops": 0, "dmas": 0})
        compute = work["flops"] / peak if work["flops"] else 0.0
        bandwidth = work["hbm_bytes"] / target.hbm_bytes_per_cycle
        roofline = max(compute, bandwidth)
        unit, busiest = max(((u, c) for u, c in work["busy"].items() if u != "ctrl"), key=lambda uc: uc[1],
                            default=("", 0))
        if cycles <= STALL_BOUND_RATIO * max(roofline, 1):
            bound = "compute" if compute >= bandwidth else "bandwidth"
        elif STALL_BOUND_RATIO * busiest >= cycles:
            bound = f"{unit} busy"  # busy below its peak rate: weight loads, short streams, small DMAs
        else:
            bound = "stalls"
        energy = kernel_energy_joules(work, cycles, target, static)
        rows.append({"kernel": name, "onnx_nodes": sources.get(name, []), "cycles": cycles, "ends_at_cycle": end,
                     "energy_joules": energy,
                     "share": round(cycles / total, 4), "flops": work["flops"], "hbm_bytes": work["hbm_bytes"],
                     "busy_cycles": dict(sorted(work["busy"].items())), "roofline_cycles": round(roofline, 1),
                     "bound": bound, "stall_cycles": max(0, cycles - busiest),
                     "dma_setup_cycles": work["dmas"] * target.dma_setup_cycles})
    return rows


def _routing(exe: Any, stats: Any) -> dict[str, Any]:
    """``{"moe": [...]}`` from the run's expert choices, or nothing when there are none."""
    import numpy as np

    from moecc.moe_report import routing_report

    if not exe.moe_layers or len(stats.moe_experts) != len(exe.moe_layers):
        return {}
    counts = [np.bincount(np.asarray(chosen, dtype=np.int64).reshape(-1), minlength=int(layer["experts"]))
              for layer, chosen in zip(exe.moe_layers, stats.moe_experts)]
    return {"moe": routing_report(exe.moe_layers, counts)}


def format_kernel_profile(report: dict[str, Any], top: int | None = None, source: str = "") -> str:
    """``moecc profile``'s table: every kernel (or the ``top`` ones), most cycles first, with its
    energy (its instructions' events and the static power over its cycles)."""
    rows = sorted(report["kernels"]["by_kernel"], key=lambda k: -k["cycles"])
    shown = rows[:top] if top else rows
    units = ("ld", "st", "mxu", "vpu")
    lines = [
        f"{report['asic_target']} ({report['precision']} MXU), {source or report['figures_from']}: "
        f"{report['total_cycles']:,} cycles ({report['cycles']:,} on the ASIC, {report['host_cycles']:,} in host "
        f"steps), roofline {report['roofline_cycles']:,.0f} ({report['ratio_to_roofline']:.2f}x), "
        f"{len(rows)} kernels" + (f", the {len(shown)} with the most cycles" if len(shown) < len(rows) else ""),
        f"{'cycles':>9} {'share':>6} {'MFLOP':>8} {'HBM KiB':>8} "
        + " ".join(f"{u + ' busy':>9}" for u in units) + f" {'roofline':>9} {'uJ':>7} {'bound':11} kernel (ONNX nodes)",
    ]
    for row in shown:
        nodes = ", ".join(row["onnx_nodes"][:2]) + (", ..." if len(row["onnx_nodes"]) > 2 else "")
        busy = row.get("busy_cycles", {})
        lines.append(f"{row['cycles']:>9,} {row['share'] * 100:5.1f}% {row.get('flops', 0) / 1e6:>8.1f} "
                     f"{row.get('hbm_bytes', 0) / 1024:>8.0f} " + " ".join(f"{busy.get(u, 0):>9,}" for u in units)
                     + f" {row.get('roofline_cycles', 0):>9,.0f} {row.get('energy_joules', 0) * 1e6:>7.2f}"
                     f" {row.get('bound', ''):11} {row['kernel']} ({nodes})")
    if report["host"]["steps"]:
        lines.append(f"host steps: {report['host']['steps']}, {report['host_cycles']:,} cycles ({report['host']['model']})")
    return "\n".join(lines) + "\n"


def format_asic_summary(report: dict[str, Any]) -> str:
    """A short human table of an ASIC report (the demo and ``--report -``)."""
    units = report["units"]
    lines = [
        f"target      {report['asic_target']} ({report['precision']} MXU), figures from {report['figures_from']}"
        + ("" if report.get("routing_source", "model") == "model" else
           f", routing what-if {report['routing_source']} (outputs are not the model's)"),
        f"cycles      {report['total_cycles']:,} ({report['seconds'] * 1e6:.1f} us): ASIC {report['cycles']:,}, "
        f"host steps {report['host_cycles']:,} ({report['host']['steps']} steps, modelled); "
        f"roofline {report['roofline_cycles']:,.0f} ({report['roofline_bound']}-bound), ratio {report['ratio_to_roofline']:.2f}x",
        f"FLOPs       {report['flops']:,} in the model, {report['flops_on_asic_fraction'] * 100:.1f}% on the ASIC",
        f"HBM         read {report['hbm_bytes']['read']:,} B, written {report['hbm_bytes']['written']:,} B, "
        f"compulsory {report['compulsory_hbm_bytes']:,} B",
        f"ops         {report['ops'].get('asic', 0)} on the ASIC, {report['ops'].get('cpu', 0)} on the CPU"
        + (f" ({', '.join(f'{k} {v}' for k, v in sorted(report['cpu_ops'].items()))})" if report["cpu_ops"] else ""),
        f"kernels     {report['kernels']['count']} kernels, {report['kernels']['cpu_steps']} CPU steps, "
        f"{report['kernels']['instructions']:,} instructions",
        f"memory      SRAM peak {report['memory'].get('sram_peak_bytes', 0):,} of {report['memory'].get('sram_capacity_bytes', 0):,} B, "
        f"HBM planned {report['memory'].get('hbm_bytes_planned', 0):,} B",
        "unit        busy cycles   utilisation",
    ]
    sparse = report.get("sparse_weights") or []
    if sparse:
        forms = {form: sum(1 for row in sparse if row["form"] == form) for form in ("2:4", "blocks")}
        dense = sum(row["dense_bytes"] for row in sparse)
        stored = sum(row["stored_bytes"] for row in sparse)
        blocks = sum(row.get("zero_blocks", 0) for row in sparse)
        lines.insert(-1, f"sparsity    {forms['2:4']} weights 2:4 (mxu.mm24), {forms['blocks']} with {blocks} zero MXU "
                         f"blocks skipped (mxu.mmsp); their HBM bytes {stored:,} stored for {dense:,} dense")
    for unit, data in units.items():
        lines.append(f"  {unit:8s}  {data['busy_cycles']:>11,}   {data['utilization'] * 100:6.1f}%")
    heaviest = sorted(report["kernels"].get("by_kernel", []), key=lambda k: -k["cycles"])[:TOP_KERNELS]
    if heaviest:
        lines.append("kernels     where the cycles go, most first: cycles, share, its roofline, bound, kernel (ONNX nodes)")
        for row in heaviest:
            nodes = ", ".join(row["onnx_nodes"][:3]) + (", ..." if len(row["onnx_nodes"]) > 3 else "")
            lines.append(f"  {row['cycles']:>9,} {row['share'] * 100:5.1f}%  {row.get('roofline_cycles', 0):>9,.0f}  "
                         f"{row.get('bound', ''):9s}  {row['kernel']} ({nodes})")
    on_host = 1.0 - report["flops_on_asic_fraction"]
    if on_host > HOST_FLOPS_WARNING:
        reasons = "; ".join(f"{row['kind']} ({row['onnx_node']}): {row['reason']}" for row in report["host_ops"][:6])
        more = len(report["host_ops"]) - 6
        lines.append(f"WARNING     {on_host * 100:.1f}% of the FLOPs run on the host: {reasons}"
                     + (f"; and {more} more" if more > 0 else ""))
    if "energy_joules" in report:
        from moecc.energy_report import format_energy_line

        lines.append(format_energy_line(report))
    total = sum(report["pass_times"].values())
    lines.append(f"compile     {total * 1000:.0f} ms")
    from moecc.moe_report import format_routing

    lines += [line for line in format_routing(report.get("moe", [])).splitlines()]
    return "\n".join(lines) + "\n"
