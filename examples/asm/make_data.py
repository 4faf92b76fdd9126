"""Deterministic input data for the hand-written moe-asic programs in this folder.

Run ``python examples/asm/make_data.py`` to rewrite every ``<name>.npz``
beside its ``<name>.s``; each array is keyed by the HBM region it initialises, so
``moecc sim examples/asm/<name>.s`` runs as is. Values are chosen to compress well and, for
the bf16 GEMMs, to be exact in bf16 so the golden comparison is exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FOLDER = Path(__file__).resolve().parent


def example_inputs() -> dict[str, dict[str, np.ndarray]]:
    """Inputs of every example, by example name then region name."""
    rng = np.random.default_rng(20240601)
    # small integers are exact in bf16 and their products sum exactly in f32
    gemm = {"a": rng.integers(-1, 2, (1024, 512)).astype(np.int8),
            "b": rng.integers(-1, 2, (512, 512)).astype(np.int8)}
    rows = rng.standard_normal((64, 256)).astype(np.float32).round(3)
    return {
        "gemm_seq": gemm,
        "gemm_db": gemm,
        "softmax": {"x": rows},
        "layernorm": {
            "x": rows,
            "gamma": (1 + rng.standard_normal(256) / 4).astype(np.float32).round(3),
            "beta": (rng.standard_normal(256) / 4).astype(np.float32).round(3),
        },
        "embedding": {
            "table": rng.standard_normal((1000, 64)).astype(np.float32).round(3),
            "ids": rng.integers(0, 1000, 48).astype(np.int32),
        },
        "hbm_copy": {"src": (np.arange(4 << 20) % 251).astype(np.uint8)},
        "moe_route": {
            "x": rng.standard_normal((64, 64)).astype(np.float32).round(3),
            "w_router": rng.standard_normal((64, 4)).astype(np.float32).round(3),
            "w_expert": (rng.standard_normal((4, 64, 64)) / 8).astype(np.float32).round(3),
            "expert_ids": np.arange(4, dtype=np.int32),
        },
    }


def main() -> None:
    for name, arrays in example_inputs().items():
        np.savez_compressed(FOLDER / f"{name}.npz", **arrays)


if __name__ == "__main__":
    main()
