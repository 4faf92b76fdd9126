"""Branch-free f32 transcendental functions emitted with the llvmlite IR builder.

Where it sits: the CPU backend lowers the tiled IR's element expressions
(:mod:`moecc.backend.llvm.tiled.expr`) to scalar loops and relies on LLVM's loop vectoriser
to widen them. A call to libm (``expf``, ``tanhf``, or ``llvm.exp.f32``, which becomes
``expf``) stops that: the vectoriser keeps one scalar call per element. Every function here
is straight-line arithmetic, bit manipulation, compares and selects on one f32 value, so a
loop that applies it vectorises to the full SIMD width.

Each function takes the builder and an f32 value and returns an f32 value:

- :func:`exp`: ``x = n*ln2 + r`` (``n`` rounded with the 1.5*2^23 shift trick, ``ln2`` split
  Cody–Waite style so ``n*ln2_hi`` is exact), ``exp(r) = 1 + r + r^2 P(r)`` with a degree-4
  ``P``, and ``2^n`` applied as two exactly representable powers of two built in the exponent
  bits, so results that overflow become +inf and results in the subnormal range are rounded
  once. Inputs below :data:`EXP_ZERO_BELOW`, where exp rounds to 0, give 0 without
  underflowing arithmetic (which x86 slows down with a microcode assist per element).
  NaN → NaN, -inf → 0, +inf → inf.
- :func:`sigmoid`: ``1 / (1 + exp(-x))``; 0 and 1 at the ends, NaN → NaN.
- :func:`tanh`: ``|x| + |x|^3 Q(x^2)`` below :data:`TANH_POLY_LIMIT`, ``1 - 2/(exp(2|x|) + 1)``
  above (no cancellation there), sign copied from ``x``; ±1 for large ``|x|``, NaN → NaN.
- :func:`log`: ``x = 2^e * m`` with ``m`` in [sqrt(1/2), sqrt(2)) (subnormals rescaled first),
  ``log(m) = 2s + s^3 P(s^2)`` with ``s = (m-1)/(m+1)``, evaluated so that the rounding of
  ``s`` only reaches a small correction term; log(0) = -inf, log(x<0) = NaN, log(inf) = inf.
- :func:`erf`: Abramowitz & Stegun 7.1.26 (the formula of
  :func:`moecc.ir.vector_semantics.erf`) evaluated in f32 with :func:`exp`.

The polynomial coefficients are near-minimax fits of the relative error (Lawson's
iteratively reweighted least squares in float64 over the reduced interval), rounded to f32.
Polynomials use ``llvm.fmuladd``, which the backend fuses where the target has FMA.

Accuracy, measured by ``tests/test_llvm_vector_math.py`` over 1.2-2.2 million inputs per
function (dense sweeps of the whole range where the function is not constant, plus random
bit patterns), on an AVX-512/FMA host and on a plain SSE2 target, in ulps from the correctly
rounded result (float64 numpy rounded to f32) and from numpy's float32 functions:

=========  =================  ==============================================
function   correctly rounded  numpy float32 (numpy's own distance from CR)
=========  =================  ==============================================
exp        1                  3 (2)
sigmoid    2                  4 (3), numpy's ``1 / (1 + exp(-x))`` in f32
tanh       1                  2 (1)
log        1                  4 (4)
=========  =================  ==============================================

erf stays within 4.8e-7 of the same formula evaluated in float64; the f32 rounding of
``t = 1/(1 + p|x|)``, amplified by the polynomial near 0, is most of that.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir

from moecc.backend.llvm.loop_builder import F32, I32


def _f32(value: float) -> ir.Constant:
    return ir.Constant(F32, float(np.float32(value)))


def _i32(value: int) -> ir.Constant:
    return ir.Constant(I32, value)


def _f32_bits(value: float) -> int:
    return int(np.float32(value).view(np.int32))


def _intrinsic(builder: ir.IRBuilder, name: str, arity: int) -> ir.Function:
    return builder.module.declare_intrinsic(name, [F32], ir.FunctionType(F32, [F32] * arity))


def _fmuladd(builder: ir.IRBuilder, a: ir.Value, b: ir.Value, c: ir.Value) -> ir.Value:
    """``a*b + c``, fused where the target has FMA (more accurate, never less)."""
    return builder.call(_intrinsic(builder, "llvm.fmuladd", 3), [a, b, c])


def _fabs(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return builder.call(_intrinsic(builder, "llvm.fabs", 1), [x])


def _copysign(builder: ir.IRBuilder, magnitude: ir.Value, sign: ir.Value) -> ir.Value:
    return builder.call(_intrinsic(builder, "llvm.copysign", 2), [magnitude, sign])


def _horner(builder: ir.IRBuilder, x: ir.Value, coefficients: tuple[float, ...]) -> ir.Value:
    """``c0 + c1*x + c2*x^2 + ...`` for ``coefficients = (c0, c1, c2, ...)``."""
    acc: ir.Value = _f32(coefficients[-1])
    for c in reversed(coefficients[:-1]):
        acc = _fmuladd(builder, acc, x, _f32(c))
    return acc


# -- exp ------------------------------------------------------------------------------------

#: Above ln(FLT_MAX) = 88.7228: clamping here still lets the result overflow to +inf.
EXP_CLAMP_HIGH = 89.0
#: Below ln(2^-150) = -103.972 exp rounds to +0. Such inputs are replaced by 0 before the
#: arithmetic and their result selected afterwards: letting the scaling underflow instead
#: costs a microcode assist per element on x86 (a softmax over masked scores is full of them).
EXP_ZERO_BELOW = -104.0
_LOG2E = 1.4426950408889634
#: Adding 1.5 * 2^23 rounds a float of magnitude < 2^22 to an integer held in the low
#: mantissa bits (round to nearest even), no conversion instruction needed.
_ROUND_SHIFT = 12582912.0
#: ln 2 = LN2_HI + LN2_LO; LN2_HI has 9 significant bits, so n * LN2_HI is exact for |n| < 2^15.
_LN2_HI = 0.693359375
_LN2_LO = float(np.float32(np.log(2.0) - 0.693359375))
#: exp(r) = 1 + r + r^2 * P(r) on |r| <= ln2/2: relative error 3.1e-9 before f32 rounding.
_EXP_P = (0.4999999403953552, 0.1666651964187622, 0.04166839271783829, 0.008368780836462975,
          0.0013814467238262296)


def _scale_by_power_of_two(builder: ir.IRBuilder, value: ir.Value, n: ir.Value) -> ir.Value:
    """``value * 2^n`` for n in [-150, 128], as two multiplications by normal powers of two:
    the first is exact, so a result that overflows or is subnormal is rounded exactly once."""
    first = builder.ashr(n, _i32(1))
    second = builder.sub(n, first)

    def power(k: ir.Value) -> ir.Value:
        return builder.bitcast(builder.shl(builder.add(k, _i32(127)), _i32(23)), F32)

    return builder.fmul(builder.fmul(value, power(first)), power(second))


def exp(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Emit ``exp(x)`` for an f32 ``x`` (within 1 ulp of the correctly rounded result)."""
    b = builder
    zero = b.fcmp_ordered("<", x, _f32(EXP_ZERO_BELOW))  # false for NaN, which passes through
    x = b.select(zero, _f32(0.0), x)
    x = b.select(b.fcmp_ordered(">", x, _f32(EXP_CLAMP_HIGH)), _f32(EXP_CLAMP_HIGH), x)
    shifted = _fmuladd(b, x, _f32(_LOG2E), _f32(_ROUND_SHIFT))
    n_float = b.fsub(shifted, _f32(_ROUND_SHIFT))
    n = b.sub(b.bitcast(shifted, I32), _i32(_f32_bits(_ROUND_SHIFT)))
    r = _fmuladd(b, n_float, _f32(-_LN2_HI), x)
    r = _fmuladd(b, n_float, _f32(-_LN2_LO), r)
    tail = _fmuladd(b, b.fmul(r, r), _horner(b, r, _EXP_P), r)
    return b.select(zero, _f32(0.0), _scale_by_power_of_two(b, b.fadd(_f32(1.0), tail), n))


def sigmoid(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Emit ``1 / (1 + exp(-x))``: exp(-x) is +inf for x below -88.7, giving 0."""
    one = _f32(1.0)
    return builder.fdiv(one, builder.fadd(one, exp(builder, builder.fneg(x))))


# -- tanh -----------------------------------------------------------------------------------

#: Below this |x| tanh is a polynomial: 1 - 2/(exp(2|x|) + 1) would cancel there (tanh = 0.55
#: at the limit, so the subtraction loses at most a bit).
TANH_POLY_LIMIT = 0.625
#: tanh(x) = x + x^3 * Q(x^2) on |x| <= TANH_POLY_LIMIT: relative error 4.4e-9 before rounding.
_TANH_Q = (-0.3333328068256378, 0.13331441581249237, -0.05373971536755562, 0.02063908614218235,
           -0.005704986862838268)


def tanh(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Emit ``tanh(x)``: a polynomial near 0, the exp form elsewhere, the sign of ``x``."""
    b = builder
    one = _f32(1.0)
    a = _fabs(b, x)
    a2 = b.fmul(a, a)
    near_zero = _fmuladd(b, b.fmul(a, a2), _horner(b, a2, _TANH_Q), a)
    # exp(2|x|) is +inf above |x| = 44.4, making this exactly 1; NaN stays NaN.
    far = b.fsub(one, b.fdiv(_f32(2.0), b.fadd(exp(b, b.fadd(a, a)), one)))
    magnitude = b.select(b.fcmp_ordered("<", a, _f32(TANH_POLY_LIMIT)), near_zero, far)
    return _copysign(b, magnitude, x)


# -- log ------------------------------------------------------------------------------------

_SMALLEST_NORMAL = float(np.finfo(np.float32).tiny)
_SQRT_HALF_BITS = _f32_bits(np.sqrt(0.5))
#: log(1+f) = 2s + s * z * P(z), s = f/(2+f), z = s^2 <= 0.0295: relative error 8.1e-10.
_LOG_P = (0.6666677594184875, 0.39977481961250305, 0.2987362742424011)


def log(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Emit the natural logarithm of an f32 ``x``."""
    b = builder
    # Subnormals get 23 more exponent bits first so the bit split below sees a normal float.
    subnormal = b.fcmp_ordered("<", x, _f32(_SMALLEST_NORMAL))
    scaled = b.select(subnormal, b.fmul(x, _f32(2.0**23)), x)
    bits = b.bitcast(scaled, I32)
    # The exponent that puts the mantissa m in [sqrt(1/2), sqrt(2)), so |log m| <= ln2/2.
    e = b.ashr(b.sub(bits, _i32(_SQRT_HALF_BITS)), _i32(23))
    m = b.bitcast(b.sub(bits, b.shl(e, _i32(23))), F32)
    e = b.sub(e, b.select(subnormal, _i32(23), _i32(0)))
    f = b.fsub(m, _f32(1.0))  # exact: m is within a factor 2 of 1
    s = b.fdiv(f, b.fadd(_f32(2.0), f))
    z = b.fmul(s, s)
    # log(1+f) = 2s + s*R with R = z*P(z), rewritten (2s = f - s*f) as f - (f^2/2 - s*(f^2/2 + R)):
    # the rounding errors of s and R then land only in a correction below f^2/2.
    half_f2 = b.fmul(_f32(0.5), b.fmul(f, f))
    r = b.fmul(z, _horner(b, z, _LOG_P))
    log_m = b.fsub(f, _fmuladd(b, b.fneg(s), b.fadd(half_f2, r), half_f2))
    e_float = b.sitofp(e, F32)
    finite = _fmuladd(b, e_float, _f32(_LN2_HI), _fmuladd(b, e_float, _f32(_LN2_LO), log_m))
    result = b.select(b.fcmp_ordered("==", x, _f32(np.inf)), _f32(np.inf), finite)
    result = b.select(b.fcmp_ordered("==", x, _f32(0.0)), _f32(-np.inf), result)
    return b.select(b.fcmp_unordered("<", x, _f32(0.0)), _f32(np.nan), result)  # x < 0 or NaN


# -- erf ------------------------------------------------------------------------------------

#: Abramowitz & Stegun 7.1.26: erf(x) = 1 - t*(a1 + t*(a2 + ...)) * exp(-x^2), t = 1/(1 + p|x|).
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Emit A&S 7.1.26 ``erf(x)`` in f32 (the VPU's formula; its own error is below 1.5e-7)."""
    b = builder
    one = _f32(1.0)
    t = b.fdiv(one, _fmuladd(b, _f32(_ERF_P), _fabs(b, x), one))
    poly = b.fmul(t, _horner(b, t, _ERF_A))
    magnitude = b.fsub(one, b.fmul(poly, exp(b, b.fmul(b.fneg(x), x))))
    return _copysign(b, magnitude, x)


__all__ = ["EXP_CLAMP_HIGH", "EXP_ZERO_BELOW", "TANH_POLY_LIMIT", "erf", "exp", "log", "sigmoid", "tanh"]
