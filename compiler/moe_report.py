"""The routing part of a report: per MoE layer, how tokens spread over experts and what it cost.

Built by a target's report from the layers its lowering dispatched (a ``moe`` op lowered by
:mod:`moecc.passes.tiled_lowering.moe_dispatch`) and the tokens each expert received in the
run the report's figures come from. Per layer: ``tokens_per_expert``, ``imbalance`` (max over
mean), ``dropped_tokens`` (token choices past an expert's ``capacity`` when a capacity factor
is set; 0 when dispatch is dropless, the default), ``padding_rows`` (slots of the experts' token
tiles that hold no token: the gathers, matmuls and scatter-adds take the tile's run-time row
count, on the CPU and on the ASIC (``mxu.mmr``, ``n`` from a register), so they move and
multiply none of them), ``dense_expert_flops`` (every expert on every token) and
``executed_expert_flops`` (the experts' matmuls on the rows they ran). A layer whose matmuls
run whole token tiles (``"padded_matmuls"``: an ASIC experts kernel staged without run-time
row counts) executes its padding rows too: they count in ``padding_flops`` and
``executed_expert_flops``. A layer run densely (``"dense"``) executes the dense FLOPs, and every
row no token chose is padding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def expert_flops_per_row(layer: Mapping[str, Any]) -> int:
    """FLOPs of one expert on one token row: two or three matmuls of ``hidden x ffn``."""
    return (3 if layer["gated"] else 2) * 2 * int(layer["hidden"]) * int(layer["ffn"])


def routing_report(layers: Sequence[Mapping[str, Any]], counts: Sequence[Sequence[int]]) -> list[dict[str, Any]]:
    """One entry per layer, from its description and the tokens each of its experts received."""
    rows = []
    for layer, per_expert in zip(layers, counts):
        tokens = [int(c) for c in per_expert]
        tile = int(layer["token_tile"])
        # With a capacity, an expert takes its first `capacity` tokens; the rest are dropped.
        capacity = layer.get("capacity")
        taken = [min(c, int(capacity)) for c in tokens] if capacity is not None else tokens
        dropped = sum(tokens) - sum(taken)
        moved_rows = sum(-(-c // tile) * tile for c in taken)
        per_row = expert_flops_per_row(layer)
        dense = int(layer["tokens"]) * int(layer["experts"]) * per_row
        mean = sum(tokens) / len(tokens) if tokens else 0.0
        if layer.get("dense"):
            padding_flops = dense - sum(tokens) * per_row
        elif layer.get("padded_matmuls"):  # whole token tiles multiplied (the ASIC's static shapes)
            padding_flops = (moved_rows - sum(taken)) * per_row
        else:
            padding_flops = 0
        rows.append({
            "layer": layer["onnx_node"],
            # How the layer ran, and who chose: the moe option, or moe="auto" per layer.
            "dispatch": "dense" if layer.get("dense") else "sparse",
            "chosen_by": layer.get("chosen_by", "option"),
            "op": layer["op"],
            "experts": int(layer["experts"]),
            "top_k": int(layer["top_k"]),
            "tokens_per_expert": tokens,
            "imbalance": round(max(tokens) / mean, 3) if mean else 0.0,
            # Token choices past an expert's capacity (none when dispatch is dropless).
            "dropped_tokens": dropped,
            "capacity": capacity,
            # Run densely (every expert on every token): the rows no token chose are the padding.
            "padding_rows": (int(layer["tokens"]) * int(layer["experts"]) if layer.get("dense") else moved_rows) - sum(taken),
            "padding_flops": padding_flops,
            "dense_expert_flops": dense,
            "executed_expert_flops": dense if layer.get("dense") else sum(taken) * per_row + padding_flops,
        })
    return rows


def format_routing(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per layer for a report summary."""
    lines = []
    for row in rows:
        share = row["executed_expert_flops"] / row["dense_expert_flops"] if row["dense_expert_flops"] else 0.0
        dropped = f", {row['dropped_tokens']} dropped (capacity {row['capacity']})" if row.get("capacity") is not None else ""
        how = f" ({row['dispatch']}{', chosen by auto' if row.get('chosen_by') == 'auto' else ''})"
        lines.append(f"moe           {row['layer']}{how}: tokens per expert {row['tokens_per_expert']}, imbalance "
                     f"{row['imbalance']:.2f}, {row['padding_rows']} padding rows{dropped}, expert FLOPs "
                     f"{share * 100:.0f}% of dense\n")
    return "".join(lines)




def first_routing_difference(got: Sequence[Mapping[str, Any]], want: Sequence[Mapping[str, Any]]) -> str | None:
    """Where two recorded routings first differ (layer, token, experts), or None."""
    if len(got) != len(want):
        return f"{len(got)} MoE layers routed, the recording has {len(want)}"
    for index, (a, b) in enumerate(zip(got, want)):
        if a["layer"] != b["layer"]:
            return f"layer {index} is '{a['layer']}', the recording's is '{b['layer']}'"
        if len(a["experts"]) != len(b["experts"]):
            return f"layer '{a['layer']}' routed {len(a['experts'])} tokens, the recording {len(b['experts'])}"
        for token, (x, y) in enumerate(zip(a["experts"], b["experts"])):
            if list(x) != list(y):
                return f"layer '{a['layer']}', token {token}: experts {list(x)}, the recording has {list(y)}"
    return None


__all__ = ["expert_flops_per_row", "first_routing_difference", "format_routing", "routing_report"]
