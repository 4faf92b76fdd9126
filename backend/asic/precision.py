"""The moe-asic's MXU precisions, and the matmuls that keep f32 at ``precision="bf16"``.

Where it sits in the flow: :data:`PRECISIONS` is what the ``asic`` target accepts as its
``precision`` option (:meth:`moecc.targets.asic.AsicTarget.check_options`);
:func:`routing_matmuls` is read by ``stage-for-asic`` (:mod:`moecc.backend.asic.staging.module`),
after ``lower-to-tiled`` and before ``plan-memory``, to stage the kernels implementing a routing
matmul with an f32 MXU dtype while every other matmul runs in bf16.
"""

from __future__ import annotations

from moecc.ir.graph import Graph, Op

#: MXU precisions of the ``asic`` target: f32, or bf16 operands with f32 accumulation.
PRECISIONS: tuple[str, ...] = ("f32", "bf16")

#: Ops a routing score passes through between the router matmul and the top-k.
_ROUTING_PATH_KINDS = frozenset({"softmax", "log_softmax", "sigmoid", "reshape", "transpose", "add", "sub", "mul",
                                 "div", "cast", "exp", "slice", "expand", "squeeze"})


def routing_matmuls(graph: Graph, max_depth: int = 8) -> list[Op]:
    """Matmuls whose result reaches a ``top_k``/``arg_max`` through element-wise/shape ops, and
    ``moe`` ops (whose router matmul is part of the op).

    At ``precision="bf16"`` these stay f32: a bf16 router flips near-tied expert choices,
    a discrete error of the whole expert's output rather than a rounding error (MoE models
    keep the router in f32 for the same reason)."""
    found: list[Op] = []
    seen: set[int] = set()
    for op in graph.ops:
        if op.kind == "moe":
            # Its router matmul is inside (the tiled lowering emits it in the op's kernel).
            found.append(op)
            continue
        if op.kind not in ("top_k", "arg_max", "arg_min"):
            continue
        frontier = [(op.operands[0], 0)]
        while frontier:
            value, depth = frontier.pop()
            producer = value.producer
            if producer is None or id(producer) in seen or depth > max_depth:
                continue
            seen.add(id(producer))
            if producer.kind in ("matmul", "gemm"):
                found.append(producer)
            elif producer.kind in _ROUTING_PATH_KINDS:
                frontier.extend((v, depth + 1) for v in producer.operands if v.producer is not None and not v.producer.is_const)
    return found


__all__ = ["PRECISIONS", "routing_matmuls"]
