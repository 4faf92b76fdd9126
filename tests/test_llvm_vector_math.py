"""Branch-free f32 math (:mod:`moecc.backend.llvm.vector_math`) against numpy, and the element
loops of the tiled-IR emitter that apply it (vectorised, no libm).

Each function is applied by a tiny builder-made loop, JIT-compiled for the host (FMA, AVX-512
where present) and for a plain SSE2 x86-64 target (no FMA: ``llvm.fmuladd`` stays a multiply
and an add), and compared over dense sweeps of the whole finite range plus random bit
patterns: in ulps against numpy's float32 functions and against the correctly rounded result
(float64 numpy rounded to f32), and exactly on special values. The loops must also vectorise.
"""

from __future__ import annotations

import ctypes
import functools
import re
from collections.abc import Callable

import llvmlite.binding as llvm
import numpy as np
import pytest
from llvmlite import ir

from moecc.backend.llvm import jit, vector_math
from moecc.backend.llvm.cpu_target import host_cpu_target, make_cpu_target
from moecc.backend.llvm.loop_builder import I8_PTR, I64, counted_loop, element_pointer
from moecc.ir.types import DType
from moecc.ir.vector_semantics import erf as erf_reference

#: Max ulps from the correctly rounded result (as measured; sigmoid adds a rounded 1 + e and a division).
MAX_ULP_CORRECTLY_ROUNDED = {"exp": 1, "sigmoid": 2, "tanh": 1, "log": 1}
#: Max ulps from numpy's float32 functions. numpy's own float32 exp is up to 2 ulp and its log
#: up to 4 ulp from the correctly rounded result (measured on these sweeps), so 2 ulp from
#: numpy would demand errors opposite to numpy's; the bounds are ours plus numpy's.
#: sigmoid is numpy's ``1 / (1 + exp(-x))`` in float32, whose exp error the division carries.
MAX_ULP_NUMPY = {"exp": 3, "sigmoid": 4, "tanh": 2, "log": 4}
#: erf is A&S 7.1.26 in f32 against the same formula in float64: t = 1/(1 + p|x|) carries an
#: f32 rounding that the polynomial amplifies ~3.4x near 0 (measured max 4.75e-7). The kernel
#: tests compare erf with atol 1e-6.
ERF_MAX_ABS_ERROR = 5e-7

SSE2_TARGET = make_cpu_target("x86-64", "+sse2", 32 * 1024, 1 << 20, 8 << 20)
TARGETS = {"host": None, "sse2": SSE2_TARGET}
FUNCTIONS = ("exp", "sigmoid", "tanh", "log", "erf")


@functools.cache
def _apply_module(name: str) -> ir.Module:
    """``void apply(float* src, float* dst, i64 n)``: dst[i] = vector_math.<name>(src[i])."""
    module = ir.Module(name=f"vector_math_{name}")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I8_PTR, I8_PTR, I64]), name="apply")
    src, dst, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def body(i: ir.Value) -> None:
        x = b.load(element_pointer(b, src, DType.F32, i))
        b.store(getattr(vector_math, name)(b, x), element_pointer(b, dst, DType.F32, i))

    counted_loop(b, n, body)
    b.ret_void()
    return module


@functools.cache
def _compiled(name: str, target_name: str) -> tuple[jit.JitModule, Callable[[np.ndarray], np.ndarray]]:
    compiled = jit.compile_module(_apply_module(name), TARGETS[target_name])
    fn = compiled.function("apply", None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)

    def run(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.empty_like(x)
        fn(x.ctypes.data, y.ctypes.data, x.size)
        return y

    return compiled, run


def _ordered(values: np.ndarray) -> np.ndarray:
    """float32 bit patterns as integers that count ulps across zero (+0 and -0 coincide)."""
    bits = np.asarray(values, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def ulp_distance(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Ulps between two float32 arrays; 0 where both are NaN, huge where only one is."""
    distance = np.abs(_ordered(got) - _ordered(want))
    got_nan, want_nan = np.isnan(got), np.isnan(want)
    return np.where(got_nan & want_nan, 0, np.where(got_nan | want_nan, 2**32, distance))


def _random_bit_patterns(count: int) -> np.ndarray:
    bits = np.random.default_rng(1234).integers(0, 2**32, count, dtype=np.uint64).astype(np.uint32)
    return bits.view(np.float32)


def _sweep(name: str) -> np.ndarray:
    """About 10^6 inputs over the range where ``name`` is not constant, plus random floats."""
    dense = {
        "exp": np.linspace(-110.0, 95.0, 10**6, dtype=np.float32),
        "sigmoid": np.linspace(-110.0, 110.0, 10**6, dtype=np.float32),
        "tanh": np.concatenate([np.linspace(-12.0, 12.0, 10**6, dtype=np.float32),
                                np.geomspace(1e-38, 1.0, 10**5, dtype=np.float32)]),
        "log": np.concatenate([np.geomspace(1e-45, 3e38, 10**6, dtype=np.float32),
                               np.linspace(0.5, 2.0, 10**6, dtype=np.float32)]),
        "erf": np.linspace(-6.0, 6.0, 10**6, dtype=np.float32),
    }[name]
    return np.concatenate([dense, _random_bit_patterns(2 * 10**5)])


def _numpy_f32(name: str, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            return (np.float32(1.0) / (np.float32(1.0) + np.exp(-x))).astype(np.float32)
        return getattr(np, name)(x).astype(np.float32)


def _correctly_rounded(name: str, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        x64 = x.astype(np.float64)
        if name == "sigmoid":
            return (1.0 / (1.0 + np.exp(-x64))).astype(np.float32)
        return getattr(np, name)(x64).astype(np.float32)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", ["exp", "sigmoid", "tanh", "log"])
def test_ulp_error_over_the_whole_range(name: str, target: str) -> None:
    _, run = _compiled(name, target)
    x = _sweep(name)
    got = run(x)
    worst_numpy = ulp_distance(got, _numpy_f32(name, x))
    assert worst_numpy.max() <= MAX_ULP_NUMPY[name], f"{name}({x[worst_numpy.argmax()]!r})"
    want = _correctly_rounded(name, x)
    if name == "sigmoid":
        # Below -88.7, exp(-x) overflows f32 and the f32 formula (the VPU's) gives 0 where
        # float64 gives a subnormal; the numpy comparison above covers that end.
        keep = ~(x < -88.0)
        got, want, x = got[keep], want[keep], x[keep]
    worst = ulp_distance(got, want)
    assert worst.max() <= MAX_ULP_CORRECTLY_ROUNDED[name], f"{name}({x[worst.argmax()]!r})"


@pytest.mark.parametrize("target", TARGETS)
def test_erf_is_abramowitz_stegun_within_tolerance(target: str) -> None:
    _, run = _compiled("erf", target)
    x = _sweep("erf")
    x = x[np.isfinite(x)]
    got = run(x).astype(np.float64)
    error = np.abs(got - erf_reference(x.astype(np.float64)))
    assert error.max() <= ERF_MAX_ABS_ERROR, f"erf({x[error.argmax()]!r}) off by {error.max():.3g}"


_TINY = float(np.finfo(np.float32).tiny)
_DENORMAL_MIN = float(np.float32(1e-45))
_SPECIAL_INPUTS = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, _DENORMAL_MIN, -_DENORMAL_MIN, _TINY / 2,
                   -_TINY / 2, _TINY, 1.0, -1.0, float(np.finfo(np.float32).max), -float(np.finfo(np.float32).max)]


def _exact_cases(name: str) -> list[tuple[float, float]]:
    """(input, exact expected output) pairs every implementation must hit bit for bit."""
    inf, nan = np.inf, np.nan
    largest_finite_exp = float(np.nextafter(np.float32(88.72284), np.float32(0)))
    return {
        "exp": [(0.0, 1.0), (-0.0, 1.0), (-inf, 0.0), (inf, inf), (nan, nan), (_DENORMAL_MIN, 1.0),
                (-_DENORMAL_MIN, 1.0), (88.72284, inf), (89.0, inf), (1000.0, inf), (-104.0, 0.0),
                (-103.98, 0.0), (-1000.0, 0.0), (float(np.finfo(np.float32).max), inf),
                (largest_finite_exp, float(np.float32(np.exp(np.float64(largest_finite_exp)))))],
        "sigmoid": [(0.0, 0.5), (-0.0, 0.5), (inf, 1.0), (-inf, 0.0), (nan, nan), (200.0, 1.0), (-200.0, 0.0),
                    (-89.0, 0.0)],
        "tanh": [(0.0, 0.0), (-0.0, -0.0), (inf, 1.0), (-inf, -1.0), (nan, nan), (20.0, 1.0), (-20.0, -1.0),
                 (1e30, 1.0), (_DENORMAL_MIN, _DENORMAL_MIN), (-_DENORMAL_MIN, -_DENORMAL_MIN),
                 (_TINY, _TINY)],
        "log": [(1.0, 0.0), (0.0, -inf), (-0.0, -inf), (inf, inf), (-inf, nan), (nan, nan), (-1.0, nan),
                (-_DENORMAL_MIN, nan), (2.0, float(np.float32(np.log(2.0)))),
                (_DENORMAL_MIN, float(np.float32(np.log(np.float64(_DENORMAL_MIN))))),
                (_TINY, float(np.float32(np.log(np.float64(_TINY)))))],
        "erf": [(0.0, 0.0), (inf, 1.0), (-inf, -1.0), (nan, nan), (10.0, 1.0), (-10.0, -1.0)],
    }[name]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_special_values_are_exact(name: str, target: str) -> None:
    _, run = _compiled(name, target)
    cases = _exact_cases(name)
    got = run(np.array([x for x, _ in cases], dtype=np.float32))
    want = np.array([y for _, y in cases], dtype=np.float32)
    for (x, _), g, w in zip(cases, got, want):
        if np.isnan(w):
            assert np.isnan(g), f"{name}({x!r}) = {g!r}, want NaN"
        else:
            assert g.tobytes() == w.tobytes(), f"{name}({x!r}) = {g!r}, want {w!r}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_special_inputs_agree_with_numpy(name: str) -> None:
    """±0, ±inf, NaN, subnormals, the smallest normal and ±FLT_MAX against numpy's float32."""
    _, run = _compiled(name, "host")
    x = np.array(_SPECIAL_INPUTS, dtype=np.float32)
    got = run(x)
    if name == "erf":
        want = erf_reference(x.astype(np.float64)).astype(np.float32)
        assert np.array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=0, atol=ERF_MAX_ABS_ERROR)
        return
    distance = ulp_distance(got, _numpy_f32(name, x))
    assert distance.max() <= MAX_ULP_NUMPY[name], list(zip(x.tolist(), got.tolist(), distance.tolist()))


def test_exp_overflow_and_underflow_thresholds() -> None:
    """exp is finite up to ln(FLT_MAX) and inf above; subnormal near ln(2^-149), 0 below ln(2^-150)."""
    _, run = _compiled("exp", "host")
    top = np.float32(88.72283)
    x = np.array([top, np.nextafter(top, np.float32(np.inf)), np.nextafter(np.nextafter(top, np.inf), np.inf)],
                 dtype=np.float32)
    with np.errstate(over="ignore"):
        want = np.exp(x.astype(np.float64)).astype(np.float32)
    assert ulp_distance(run(x), want).max() <= MAX_ULP_CORRECTLY_ROUNDED["exp"]
    bottom = np.float32(-150 * np.log(2.0))  # exp rounds to 0 below, to the smallest subnormal above
    x = np.array([np.nextafter(bottom, np.float32(-np.inf)), bottom, np.float32(-103.0), np.float32(-87.5),
                  np.float32(-87.3)], dtype=np.float32)
    want = np.exp(x.astype(np.float64)).astype(np.float32)
    assert ulp_distance(run(x), want).max() <= MAX_ULP_CORRECTLY_ROUNDED["exp"]
    assert run(np.array([-103.0], dtype=np.float32))[0] > 0  # a subnormal, not flushed


@pytest.mark.parametrize("name", FUNCTIONS)
def test_apply_loops_vectorise_without_libm_calls(name: str) -> None:
    for target, width in (("host", host_cpu_target().vector_floats), ("sse2", 4)):
        compiled, _ = _compiled(name, target)
        text = compiled.optimised_ir
        assert f"<{width} x float>" in text or f"<{2 * width} x float>" in text, f"{name} on {target} did not vectorise"
        for libm in ("@expf", "@tanhf", "@logf", "@llvm.exp.", "@llvm.log."):
            assert libm not in text, f"{name} on {target} calls {libm}"



# -- the element loops of the tiled-IR emitter -------------------------------------------------

def _optimised_model_ir(onnx_op: str, reduce: str) -> str:
    """The optimised LLVM IR of a [37, 150] f32 ``onnx_op`` followed by a row ``reduce`` as the
    cpu target compiles it (odd sizes: vector bodies and scalar remainders both exist)."""
    from onnx import TensorProto, helper

    import moecc

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [37, 150])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [37, 1])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [helper.make_node(onnx_op, ["x"], ["e"]), helper.make_node(reduce, ["e", "axes"], ["y"], keepdims=1)]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], initializer=[axes]),
                              opset_imports=[helper.make_opsetid("", 18)])
    program = moecc.compile(model, target="cpu").executable.program
    parsed = llvm.parse_assembly(program.llvm_ir)
    jit.optimise(parsed, program.cpu_target)
    return str(parsed)


@pytest.mark.parametrize("onnx_op", ["Exp", "Sigmoid", "Tanh", "Erf", "Log"])
@pytest.mark.parametrize("reduce", ["ReduceSum", "ReduceMax"])
def test_tiled_element_loops_vectorise(onnx_op: str, reduce: str) -> None:
    """The element loops of a compiled model are widened and nothing calls libm."""
    text = _optimised_model_ir(onnx_op, reduce)
    arithmetic = re.findall(r"= (?:fadd|fsub|fmul|fdiv|select|fcmp \w+)(?: \w+)* <\d+ x (?:float|i1)>", text)
    assert arithmetic, f"{onnx_op} + {reduce} has no vector arithmetic"
    for libm in ("@expf", "@tanhf", "@logf", "@erff", "@llvm.exp.", "@llvm.log."):
        assert libm not in text, f"{onnx_op} + {reduce} calls {libm}"
