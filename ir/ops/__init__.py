"""The graph-IR op set, declared family by family into :mod:`moecc.ir.registry`.

Importing this package registers every op kind. Families:
``core`` (const), ``elementwise`` (arithmetic, comparisons, logic, activations, cast, where,
clip), ``reduction`` (reduce_*, arg_max/min, softmax, cumsum, top_k), ``linalg`` (matmul,
einsum), ``shape`` (reshape, transpose, concat, slice, expand, tile, trilu, ...), ``indexing``
(gather/scatter families, one_hot) and ``composite`` (layer_norm, rms_norm, attention,
rotary_embedding, gated_mlp, moe: the ops the hardware cares about).
"""

from moecc.ir.ops import composite, core, elementwise, indexing, linalg, reduction, shape  # noqa: F401
