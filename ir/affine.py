"""Affine index expressions: ``const + sum(coef * var)`` over loop variables.

Both tiled levels address memory with them: the ASIC kernel IR (:mod:`moecc.ir.kernel`)
for tile offsets and slots, and the target-neutral tiled loop IR (:mod:`moecc.ir.tiled`)
for view offsets and run-time loop-count elements. Keeping one definition here lets a
staging pass carry offsets from one level to the other unchanged.

Terms keep the order they were written in and are not merged (``%i + 2*%i`` stays two
terms), so the text forms of both IRs round-trip exactly; arithmetic (``+``, ``*``) merges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from moecc.errors import VerificationError


@dataclass(frozen=True, slots=True)
class Affine:
    """``const + sum(coef * var)`` over loop variables; the offsets of tiles."""

    const: int = 0
    terms: tuple[tuple[str, int], ...] = ()

    @staticmethod
    def of(value: int | str | Affine) -> Affine:
        if isinstance(value, Affine):
            return value
        if isinstance(value, str):
            return Affine(0, ((value, 1),))
        return Affine(int(value))

    def __add__(self, other: int | str | Affine) -> Affine:
        o = Affine.of(other)
        coefs: dict[str, int] = dict(self.terms)
        for var, coef in o.terms:
            coefs[var] = coefs.get(var, 0) + coef
        return Affine(self.const + o.const, tuple((v, c) for v, c in coefs.items() if c != 0))

    def __mul__(self, factor: int) -> Affine:
        return Affine(self.const * factor, tuple((v, c * factor) for v, c in self.terms if c * factor != 0))

    def eval(self, env: Mapping[str, int]) -> int:
        try:
            return self.const + sum(coef * env[var] for var, coef in self.terms)
        except KeyError as exc:
            raise VerificationError(f"offset {self} uses loop variable {exc.args[0]} outside its loop") from None

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.terms)

    def bounds(self, ranges: Mapping[str, int]) -> tuple[int, int]:
        """(min, max) of the expression over loop variables ``v in range(ranges[v])``."""
        lo = hi = self.const
        for var, coef in self.terms:
            top = coef * (ranges[var] - 1)
            lo += min(0, top)
            hi += max(0, top)
        return lo, hi

    def __str__(self) -> str:
        parts = [(f"{c}*{v}" if c != 1 else v) for v, c in self.terms]
        if self.const or not parts:
            parts.append(str(self.const))
        return " + ".join(parts).replace("+ -", "- ")


__all__ = ["Affine"]
