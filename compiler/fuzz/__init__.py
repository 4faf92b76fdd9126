"""moecc.fuzz: a differential fuzzer of random graph-IR graphs (issue #11).

Where it sits in the flow: beside the front door. Instead of importing ONNX, it builds random,
valid, well-conditioned graphs straight in the graph IR (:mod:`moecc.fuzz.strategy`, a
hypothesis strategy), compiles each for the ``asic``, ``cpu`` and ``tiled`` targets through the
same pipeline :func:`moecc.compile` runs after import (:func:`moecc.compile_graph`)
and compares every target's outputs with the reference interpreter's under the named tolerances
of :mod:`moecc.compare` (:mod:`moecc.fuzz.runner`). A failing case shrinks to a minimal graph
written as ``.mir`` text (:mod:`moecc.fuzz.cases`). ``scripts/fuzz.py`` runs a budget;
``tests/test_fuzz.py`` runs a small one on every change. The strategy needs ``hypothesis`` (the
``test`` extra); the rest does not.
"""

from __future__ import annotations

from moecc.fuzz.cases import FuzzCase, InputSpec, case_from_mir, case_to_mir, load_case

__all__ = ["FuzzCase", "InputSpec", "case_from_mir", "case_to_mir", "load_case"]
