"""Short attention heads packed into one pass of the ASIC's array (passes/tiled_lowering/attention_packed.py).

Every form the packed kernel takes (causal, grouped-query, bool and float masks with rows that
see no key, softcap, several groups of heads, batches, query tiles, bf16, heads-last results)
agrees with the reference interpreter on the ASIC simulator and on the tiled interpreter; the
products are ``mxu.mmsp`` with the heads' diagonal blocks marked, so the MXU counts the same
FLOPs as one pass per head while it takes fewer cycles; heads whose sizes leave no block of 4
are not packed. A block mask makes the blocks it leaves out zero on every executor (the kernel
never writes them), and a pitched tile stays on a DMA's side (kernel verifier).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moecc
from moecc.backend.asic.staging.params import asic_tiling_params
from moecc.compare import tolerances
from moecc.ir.parser import parse_graph
from moecc.ir.tiled.interpreter import run_tiled_module
from moecc.ir.tiled.nodes import MatMul, walk
from moecc.isa_spec.target import load_target
from moecc.passes.tiled_lowering import composite
from moecc.passes.tiled_lowering.attention_packed import mask_block, packed_heads
from moecc.passes.tiled_lowering.lower import lower_graph

#: (hq, hkv, s, length, d, mask dtype or "", attrs, batch)
FORMS = {
    "causal-gqa": (4, 2, 32, 32, 32, "", "is_causal = true", 1),
    "causal-heads-last": (4, 4, 24, 24, 24, "", "is_causal = true, heads_last = true", 1),
    "bool-mask-blocked-row": (4, 2, 16, 16, 16, "bool", "", 2),
    "float-mask-causal": (4, 4, 16, 16, 16, "f32", "is_causal = true", 1),
    "softcap-causal": (4, 1, 16, 16, 32, "", "softcap = 2.5, is_causal = true", 1),
    "two-groups": (8, 8, 32, 32, 32, "", "is_causal = true", 1),
    "plain-batch": (2, 2, 8, 16, 64, "", "", 3),
    "causal-fewer-keys": (4, 4, 16, 8, 16, "", "is_causal = true", 1),
}


def _graph(form: str):  # noqa: ANN202
    hq, hkv, s, length, d, mask, attrs, batch = FORMS[form]
    heads_last = "heads_last" in attrs
    out = f"{batch}x{s}x{hq}x{d}" if heads_last else f"{batch}x{hq}x{s}x{d}"
    inputs = (f"%q: tensor<{batch}x{hq}x{s}x{d}xf32>, %k: tensor<{batch}x{hkv}x{length}x{d}xf32>, "
              f"%v: tensor<{batch}x{hkv}x{length}x{d}xf32>")
    inputs += f", %m: tensor<{batch}x1x{s}x{length}x{mask}>" if mask else ""
    operands = "%q2, %k2, %v2" + (", %m" if mask else "")
    # q, k and v produced by ops, as in a model (kept on chip): heads are packed only then.
    produce = "".join(f"  %{x}2 = add(%{x}, %{x}) : tensor<{batch}x{h}x{n}x{d}xf32>\n"
                      for x, h, n in (("q", hq, s), ("k", hkv, length), ("v", hkv, length)))
    text = (f"graph @main({inputs}) {{\n{produce}  %a = attention({operands}) {{scale = 0.3{', ' + attrs if attrs else ''}}}"
            f" : tensor<{out}xf32>\n  return %a\n}}")
    return parse_graph(text)


def _feeds(form: str) -> dict[str, np.ndarray]:
    hq, hkv, s, length, d, mask, _, batch = FORMS[form]
    rng = np.random.default_rng(7)
    feeds = {"q": rng.standard_normal((batch, hq, s, d)).astype(np.float32),
             "k": rng.standard_normal((batch, hkv, length, d)).astype(np.float32),
             "v": rng.standard_normal((batch, hkv, length, d)).astype(np.float32)}
    if mask == "bool":
        feeds["m"] = rng.random((batch, 1, s, length)) < 0.6
        feeds["m"][1, 0, 3, :] = False  # a row that sees no key: zeros
    elif mask == "f32":
        feeds["m"] = np.where(rng.random((batch, 1, s, length)) < 0.3, np.float32(-np.inf), np.float32(0.5))
        feeds["m"][0, 0, 2, :] = -np.inf
    return feeds


def _unpacked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(composite, "packed_heads", lambda *args, **kwargs: 1)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_packed_heads_agree_with_the_reference(form: str, monkeypatch: pytest.MonkeyPatch) -> None:
    graph, feeds = _graph(form), _feeds(form)
    (expected,) = moecc.compile_graph(graph, "ref").run(feeds).values()
    hq, _, _, length, d, _, _, _ = FORMS[form]
    params = asic_tiling_params(load_target("moe-asic-v1"))
    assert packed_heads(params, hq, FORMS[form][2], length, d, d) > 1
    lowering = lower_graph(graph, params)
    masked = [s for kernel in lowering.module.kernels for _, s, _ in walk(kernel.body)
              if isinstance(s, MatMul) and s.blocks is not None]
    assert len(masked) >= 2, "the heads were not packed"
    rtol, atol = tolerances("f32")
    (tiled,) = run_tiled_module(lowering.module, {**feeds, **lowering.weights}).values()
    np.testing.assert_allclose(tiled, expected, rtol=rtol, atol=atol)
    compiled = moecc.compile_graph(graph, "asic")
    (got,) = compiled.run(feeds).values()
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
    if FORMS[form][5] == "bool":
        assert np.all(got[1, :, 3] == 0)
    packed = compiled.report()
    assert packed["mxu_flops"] > 0
    _unpacked(monkeypatch)
    unpacked = moecc.compile_graph(graph, "asic")
    (plain,) = unpacked.run(feeds).values()
    np.testing.assert_allclose(got, plain, rtol=rtol, atol=atol)
    baseline = unpacked.report()
    # The masks keep the count honest: the diagonal blocks' multiplies, as one pass per head.
    assert packed["mxu_flops"] == baseline["mxu_flops"], form
    assert packed["cycles"] < baseline["cycles"], form


def test_packed_heads_in_bf16_agree_with_the_reference() -> None:
    graph, feeds = _graph("causal-gqa"), _feeds("causal-gqa")
    (expected,) = moecc.compile_graph(graph, "ref").run(feeds).values()
    (got,) = moecc.compile_graph(graph, "asic", precision="bf16").run(feeds).values()
    rtol, atol = tolerances("bf16")
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def test_the_products_are_masked_matmuls_on_the_array() -> None:
    """One masked matmul (``mxu.mmsp``) for the scores and one for the outputs of the group."""
    from moecc.ir.kernel import Kernel, MatMul as KMatMul, walk as kwalk

    compiled = moecc.compile_graph(_graph("causal-gqa"), "asic")
    kernels = [step for step in compiled.executable.module.steps if isinstance(step, Kernel)]
    matmuls = [s for kernel in kernels for s, _ in kwalk(kernel.body) if isinstance(s, KMatMul)]
    assert [(m.sparsity, m.block) for m in matmuls] == [("blocks", 32), ("blocks", 32)]


@pytest.mark.parametrize(("d", "length", "packs"), [(32, 32, True), (24, 24, True), (20, 20, True), (28, 28, True),
                                                    (18, 18, False), (30, 28, False), (32, 128, False),
                                                    (64, 32, True), (128, 16, False)])
def test_which_heads_pack(d: int, length: int, packs: bool) -> None:
    """Heads pack when two or more fit the array side by side in blocks of at least 4."""
    params = asic_tiling_params(load_target("moe-asic-v1"))
    assert (packed_heads(params, 4, 32, length, d, d) > 1) is packs
    assert mask_block(24, 24, 24) == 8 and mask_block(32, 32, 32) == 32
    cpu = dataclass_replace(params, in_order_units=False, array_rows=1, array_cols=1)
    assert packed_heads(cpu, 4, 32, 32, 32, 32) == 1
    small = dataclass_replace(params, local_bytes=8192)  # a 64 KiB SRAM's budget: the one-head form
    assert packed_heads(small, 4, 32, 32, 32, 32) == 1


def dataclass_replace(params, **changes):  # noqa: ANN001, ANN201
    import dataclasses

    return dataclasses.replace(params, **changes)


BLOCK_MASKED = """\
tiled_module(%a, %w, %m) {
  global %a : f32[2, 16] input
  global %w : f32[16, 16] input
  global %m : u8[2, 2] input
  global %y : f32[2, 16] output
  kernel @k {
    matmul %y[0; 2x16; 16, 1] = %a[0; 2x16; 16, 1] @ %w[0; 16x16; 16, 1] : f32 blocks %m[0; 2x2; 2, 1] block 8
  }
  return %y
}
"""

def test_a_block_mask_makes_the_unmarked_blocks_zero_on_every_executor() -> None:
    """The blocks a mask leaves out are zero whatever the weight holds there (the packed
    kernel never writes them): the tiled interpreter computes that product, as the ASIC's
    ``mxu.mmsp`` skips them; the CPU, whose products are dense, refuses the form."""
    from moecc.backend.llvm.tiled.program import compile_tiled_module
    from moecc.errors import UnsupportedError
    from moecc.ir.tiled.parser import parse_tiled_module

    module = parse_tiled_module(BLOCK_MASKED)
    weight = np.kron(np.eye(2, dtype=np.float32), np.ones((8, 8), np.float32))
    feeds = {"a": np.ones((2, 16), np.float32), "w": weight, "m": np.eye(2, dtype=np.uint8)}
    (out,) = run_tiled_module(module, feeds).values()
    np.testing.assert_allclose(out, np.ones((2, 16), np.float32) @ weight)
    garbage = weight.copy()
    garbage[0, 15], garbage[12, 3] = np.nan, 7.0  # in the two unmarked blocks
    (again,) = run_tiled_module(module, {**feeds, "w": garbage}).values()
    np.testing.assert_array_equal(again, out)
    with pytest.raises(UnsupportedError, match="block mask"):
        compile_tiled_module(module)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([(2, 1), (2, 2), (4, 1), (4, 2), (6, 3), (8, 8)]), st.sampled_from([8, 12, 16, 20, 24, 28, 32, 48]),
       st.sampled_from([8, 12, 16, 20, 24, 28, 40]), st.integers(1, 40), st.booleans(), st.integers(1, 2))
def test_packed_heads_property(heads: tuple[int, int], d: int, length: int, s: int, causal: bool, batch: int) -> None:
    """Random head counts, head sizes, key lengths and query rows: whatever the ASIC chooses
    (packed or not), its outputs are the reference's."""
    hq, hkv = heads
    out = f"{batch}x{hq}x{s}x{d}"
    inputs = (f"%q: tensor<{batch}x{hq}x{s}x{d}xf32>, %k: tensor<{batch}x{hkv}x{length}x{d}xf32>, "
              f"%v: tensor<{batch}x{hkv}x{length}x{d}xf32>")
    produce = "".join(f"  %{x}2 = add(%{x}, %{x}) : tensor<{batch}x{h}x{n}x{d}xf32>\n"
                      for x, h, n in (("q", hq, s), ("k", hkv, length), ("v", hkv, length)))
    attrs = ", is_causal = true" if causal else ""
    graph = parse_graph(f"graph @main({inputs}) {{\n{produce}  %a = attention(%q2, %k2, %v2) {{scale = 0.25{attrs}}}"
                        f" : tensor<{out}xf32>\n  return %a\n}}")
    rng = np.random.default_rng(d * 131 + length * 7 + s)
    feeds = {"q": rng.standard_normal((batch, hq, s, d)).astype(np.float32),
             "k": rng.standard_normal((batch, hkv, length, d)).astype(np.float32),
             "v": rng.standard_normal((batch, hkv, length, d)).astype(np.float32)}
    (expected,) = moecc.compile_graph(graph, "ref").run(feeds).values()
    (got,) = moecc.compile_graph(graph, "asic").run(feeds).values()
    rtol, atol = tolerances("f32")
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
