"""Kernel IR -> LLVM code generator: JIT-compiled kernels against the kernel-IR interpreter.

Every case builds a kernel module (by hand, or with the real lowering), plans memory,
compiles it with :func:`moecc.backend.llvm.codegen.compile_kernel_module`, runs it over a
heap arena and compares each HBM buffer with :func:`run_kernel_module` on the same module.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import moecc
from moecc.backend.llvm.codegen import CpuProgram, compile_kernel_module, scratch_layout
from moecc.errors import SimulationError, UnsupportedError
from moecc.examples import build_example
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph
from moecc.ir.kernel import (
    VECTOR_OPS,
    Affine,
    Buffer,
    CpuCall,
    For,
    Gather,
    HbmRef,
    Kernel,
    KernelModule,
    Load,
    LocalRef,
    MatMul,
    Store,
    Vector,
)
from moecc.ir.kernel_interpreter import run_kernel_module
from moecc.ir.types import DType, TensorType
from moecc.isa_spec.target import load_target
from moecc.passes.kernel_lowering import lower_to_kernels
from moecc.passes.memory_plan import plan_memory

#: What the ASIC's HBM holds each graph dtype in (its target's storage dtypes).
ASIC_STORAGE = load_target("moe-asic-v1").storage_dtypes

TARGET = load_target("moe-asic-v1")
RTOL, ATOL = 1e-5, 1e-6


def _compile(module: KernelModule) -> tuple[KernelModule, CpuProgram]:
    planned, _ = plan_memory(module, TARGET)
    return planned, compile_kernel_module(planned)


def _compare(planned: KernelModule, program: CpuProgram, heap: np.ndarray, expected: dict[str, np.ndarray],
             rtol: float = RTOL, atol: float = ATOL) -> None:
    for buf in planned.hbm:
        got = program.read(heap, buf.name)
        want = expected[buf.name]
        if buf.dtype == DType.I32:
            np.testing.assert_array_equal(got, want, err_msg=buf.name)
        else:
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol,
                                       equal_nan=True, err_msg=buf.name)


def _run_both(module: KernelModule, values: dict[str, np.ndarray], **tolerance: float) -> CpuProgram:
    planned, program = _compile(module)
    heap = program.new_heap(values)
    program.run(heap)
    _compare(planned, program, heap, run_kernel_module(planned, values), **tolerance)
    return program


# -- hand-built modules ----------------------------------------------------------------------

def _softmax_module(rows: int, cols: int, tile: int) -> KernelModule:
    x = Buffer("x", "hbm", DType.F32, (rows, cols), role="input")
    y = Buffer("y", "hbm", DType.F32, (rows, cols), role="output")
    s = Buffer("s", "sram", DType.F32, (tile, cols), slots=rows // tile)
    t = Buffer("t", "sram", DType.F32, (tile, 1))
    slot = Affine.of("i")
    tile_ref = LocalRef("s", tile, cols, slot=slot)
    body = (
        Load(tile_ref, HbmRef("x", Affine.of("i") * (tile * cols), tile, cols, cols)),
        Vector("rmax", LocalRef("t", tile, 1), tile_ref),
        Vector("sub", tile_ref, tile_ref, LocalRef("t", tile, 1), bcast="col"),
        Vector("exp", tile_ref, tile_ref),
        Vector("rsum", LocalRef("t", tile, 1), tile_ref),
        Vector("div", tile_ref, tile_ref, LocalRef("t", tile, 1), bcast="col"),
        Store(HbmRef("y", Affine.of("i") * (tile * cols), tile, cols, cols), tile_ref),
    )
    kernel = Kernel("softmax", (s, t), (For("i", rows // tile, body),))
    return KernelModule([x, y], [kernel], ["x"], ["y"])


def test_softmax_loop_matches_interpreter():
    x = np.random.default_rng(0).standard_normal((8, 200)).astype(np.float32)
    program = _run_both(_softmax_module(8, 200, 2), {"x": x})
    assert program.segments == ((program.kernel_functions["softmax"],),)
    assert "define void @\"run_all\"" in program.llvm_ir


def test_strided_load_and_store_copy_exactly():
    x = Buffer("x", "hbm", DType.BF16, (6, 10), role="input")
    y = Buffer("y", "hbm", DType.BF16, (3, 4), role="output")
    s = Buffer("s", "sram", DType.BF16, (3, 4))
    # Rows 1, 3, 5 and columns 2..5 of x: a strided window.
    kernel = Kernel("window", (s,), (Load(LocalRef("s", 3, 4), HbmRef("x", Affine(12), 3, 4, 20)),
                                     Store(HbmRef("y", Affine(0), 3, 4, 4), LocalRef("s", 3, 4))))
    data = np.arange(60, dtype=np.float32).astype(ml_dtypes.bfloat16)
    planned, program = _compile(KernelModule([x, y], [kernel], ["x"], ["y"]))
    heap = program.new_heap({"x": data})
    program.run(heap)
    np.testing.assert_array_equal(program.read(heap, "y").reshape(3, 4), data.reshape(6, 10)[1::2, 2:6])


# every vector op, per dtype, on a generic kernel: load a, b and dst, apply, store dst and b.

def _vector_module(op: str, dtype: DType, rows: int, cols: int, bcast: str = "none", imm: float = 0.0, k: int = 0,
                   odt: DType | None = None) -> tuple[KernelModule, dict[str, np.ndarray]]:
    kind = VECTOR_OPS[op]
    b_shape = {"none": (rows, cols), "row": (1, cols), "col": (rows, 1), "scalar": (1, 1)}[bcast]
    a_shape = (rows, cols)
    d_shape, d_dtype, b_dtype = (rows, cols), dtype, dtype
    if kind == "unary":
        a_shape = b_shape
    if kind == "reduce":
        d_shape = (rows, 1)
    if kind == "convert":
        d_dtype = odt or dtype
    if kind == "topk":
        d_shape, b_shape, b_dtype = (rows, k), (rows, k), DType.I32
    if kind == "nonzero":
        d_shape, d_dtype, b_shape, b_dtype = (rows, cols), DType.I32, (1, 1), DType.I32
    shapes = {"a": (a_shape, dtype), "b": (b_shape, b_dtype), "d": (d_shape, d_dtype)}
    hbm = [Buffer(f"h{n}", "hbm", dt, shape, role="input") for n, (shape, dt) in shapes.items()]
    hbm += [Buffer(f"o{n}", "hbm", dt, shape, role="output") for n, (shape, dt) in shapes.items() if n in "bd"]
    local = tuple(Buffer(n, "sram", dt, shape) for n, (shape, dt) in shapes.items())
    refs = {n: LocalRef(n, *shape) for n, (shape, _) in shapes.items()}
    loads = tuple(Load(refs[n], HbmRef(f"h{n}", Affine(0), *shape, shape[1])) for n, (shape, _) in shapes.items())
    stmt = Vector(op, refs["d"], None if kind == "fill" else refs["a"],
                  refs["b"] if kind in ("binary", "topk", "nonzero") else None,
                  bcast=bcast, imm=imm, k=k, dtype=dtype, odt=odt)
    stores = tuple(Store(HbmRef(f"o{n}", Affine(0), *shapes[n][0], shapes[n][0][1]), refs[n]) for n in "bd")
    kernel = Kernel(f"v_{op}", local, loads + (stmt,) + stores)
    module = KernelModule(hbm, [kernel], [f"h{n}" for n in shapes], ["ob", "od"])
    rng = np.random.default_rng(abs(hash((op, str(dtype), bcast))) % 1000)
    values = {}
    for n, (shape, dt) in shapes.items():
        if dt == DType.I32:
            data = rng.integers(-5, 6, shape)
        else:
            data = rng.standard_normal(shape) * 3
            if op in ("log", "sqrt", "rsqrt"):
                data = np.abs(data) + 0.1
            if op in ("cmpeq", "cmpge", "sel", "nonzero", "topk", "max") and n in "ab":
                data = np.round(data)  # ties and zeros
        values[f"h{n}"] = np.asarray(data).astype(dt.numpy)
    return module, values


_FLOAT_ONLY = {"div", "exp", "log", "rsqrt", "rcp", "tanh", "erf", "sigmoid", "sqrt"}
_CASES = []
for _op, _kind in VECTOR_OPS.items():
    for _dtype in (DType.F32, DType.BF16, DType.I32):
        if _dtype == DType.I32 and _op in _FLOAT_ONLY:
            continue
        if _kind == "convert":
            _CASES += [(_op, _dtype, "none", _odt) for _odt in (DType.F32, DType.BF16, DType.I32) if _odt != _dtype]
        elif _op in ("add", "sel", "max", "mov", "exp"):
            _CASES += [(_op, _dtype, _b, None) for _b in ("none", "row", "col", "scalar")]
        else:
            _CASES.append((_op, _dtype, "none", None))


@pytest.mark.parametrize("op,dtype,bcast,odt", _CASES, ids=lambda v: str(v))
def test_vector_op_matches_interpreter(op, dtype, bcast, odt):
    module, values = _vector_module(op, dtype, 5, 37, bcast=bcast, imm=-1.75 if op != "muls" else 2.5, k=3, odt=odt)
    # f32 transcendental functions come from libm here and from numpy there: last-bit differences.
    _run_both(module, values, rtol=2e-6 if dtype == DType.F32 else 1e-2, atol=1e-6)


def test_row_sums_are_bitwise_numpy_pairwise():
    for cols in (7, 64, 129, 1000):
        module, values = _vector_module("rsum", DType.F32, 3, cols)
        planned, program = _compile(module)
        heap = program.new_heap(values)
        program.run(heap)
        np.testing.assert_array_equal(program.read(heap, "od"), run_kernel_module(planned, values)["od"])


def test_topk_ties_and_nan_order():
    module, values = _vector_module("topk", DType.F32, 1, 6, k=4)
    values["ha"] = np.array([[1.0, np.nan, 3.0, 3.0, -1.0, 1.0]], dtype=np.float32)
    planned, program = _compile(module)
    heap = program.new_heap(values)
    program.run(heap)
    assert program.read(heap, "ob").tolist() == [2, 3, 0, 5]
    assert program.read(heap, "od").tolist() == [3.0, 3.0, 1.0, 1.0]


def test_nonzero_overflow_faults():
    module, values = _vector_module("nonzero", DType.F32, 2, 3)
    kernel = module.steps[0]
    small = Kernel(kernel.name, tuple(b if b.name != "d" else Buffer("d", "sram", DType.I32, (1, 2)) for b in kernel.buffers),
                   tuple(s for s in kernel.body if not (isinstance(s, (Load, Store)) and "d" in (getattr(s.dst, "buffer", ""), getattr(s.src, "buffer", "")))))
    small = Kernel(small.name, small.buffers, tuple(
        Vector("nonzero", LocalRef("d", 1, 2), LocalRef("a", 2, 3), LocalRef("b", 1, 1)) if isinstance(s, Vector) else s
        for s in small.body))
    module = KernelModule([b for b in module.hbm if b.name not in ("hd", "od")], [small], ["ha", "hb"], ["ob"])
    values = {"ha": np.ones((2, 3), np.float32), "hb": np.zeros((1, 1), np.int32)}
    planned, program = _compile(module)
    with pytest.raises(SimulationError, match="nonzero"):
        program.run(program.new_heap(values))


def _gather_module(rows: int = 4) -> KernelModule:
    table = Buffer("table", "hbm", DType.F32, (10, 6), role="weight")
    ids = Buffer("ids", "hbm", DType.I32, (rows, 1), role="input")
    out = Buffer("out", "hbm", DType.F32, (rows, 6), role="output")
    idx = Buffer("idx", "sram", DType.I32, (rows, 1))
    dst = Buffer("dst", "sram", DType.F32, (rows, 6))
    kernel = Kernel("embed", (idx, dst), (
        Load(LocalRef("idx", rows, 1), HbmRef("ids", Affine(0), rows, 1, 1)),
        Gather(LocalRef("dst", rows, 6), HbmRef("table", Affine(0), 10, 6, 6), LocalRef("idx", rows, 1)),
        Store(HbmRef("out", Affine(0), rows, 6, 6), LocalRef("dst", rows, 6)),
    ))
    return KernelModule([table, ids, out], [kernel], ["ids"], ["out"])


def test_gather_rows_and_out_of_range_fault():
    table = np.arange(60, dtype=np.float32).reshape(10, 6)
    _run_both(_gather_module(), {"table": table, "ids": np.array([3, 0, 9, 3], np.int32)})
    planned, program = _compile(_gather_module())
    for bad in (10, -1):
        heap = program.new_heap({"table": table, "ids": np.array([1, bad, 2, 0], np.int32)})
        with pytest.raises(SimulationError, match=f"gather index {bad} is outside the table's 10 rows"):
            program.run(heap)
    heap = program.new_heap({"table": table, "ids": np.array([1, 2, 2, 0], np.int32)})
    program.run(heap)  # the fault flag is reset between runs
    np.testing.assert_array_equal(program.read(heap, "out").reshape(4, 6), table[[1, 2, 2, 0]])


@pytest.mark.parametrize("dtype", [DType.F32, DType.BF16])
@pytest.mark.parametrize("transpose", [False, True])
def test_matmul_accumulates_over_k_tiles(dtype, transpose):
    m, k, n, tk = 6, 40, 20, 8
    a = Buffer("a", "hbm", dtype, (m, k), role="input")
    w = Buffer("w", "hbm", dtype, (n, k) if transpose else (k, n), role="weight")
    y = Buffer("y", "hbm", DType.F32, (m, n), role="output")
    sa = Buffer("sa", "sram", dtype, (m, tk))
    sw = Buffer("sw", "sram", dtype, (n, tk) if transpose else (tk, n))
    acc = Buffer("acc", "acc", DType.F32, (m, n))
    out = Buffer("out", "sram", DType.F32, (m, n))
    w_window = HbmRef("w", Affine.of("p") * tk, n, tk, k) if transpose else HbmRef("w", Affine.of("p") * (tk * n), tk, n, n)
    w_ref = LocalRef("sw", n, tk) if transpose else LocalRef("sw", tk, n)
    first = MatMul(LocalRef("acc", m, n), LocalRef("sa", m, tk), w_ref, accumulate=False, dtype=dtype, transpose_w=transpose)
    rest = MatMul(LocalRef("acc", m, n), LocalRef("sa", m, tk), w_ref, accumulate=True, dtype=dtype, transpose_w=transpose)
    loads = (Load(LocalRef("sa", m, tk), HbmRef("a", Affine.of("p") * tk, m, tk, k)), Load(w_ref, w_window))
    kernel = Kernel("mm", (sa, sw, acc, out), (
        For("p", 1, loads + (first,)),
        For("q", k // tk - 1, (
            Load(LocalRef("sa", m, tk), HbmRef("a", Affine(tk) + Affine.of("q") * tk, m, tk, k)),
            Load(w_ref, HbmRef("w", Affine(tk) + Affine.of("q") * tk, n, tk, k) if transpose
                 else HbmRef("w", Affine(tk * n) + Affine.of("q") * (tk * n), tk, n, n)),
            rest)),
        Vector("mov", LocalRef("out", m, n), LocalRef("acc", m, n)),
        Store(HbmRef("y", Affine(0), m, n, n), LocalRef("out", m, n)),
    ))
    rng = np.random.default_rng(1)
    values = {"a": rng.standard_normal((m, k)).astype(dtype.numpy),
              "w": rng.standard_normal(w.shape).astype(dtype.numpy)}
    module = KernelModule([a, w, y], [kernel], ["a"], ["y"])
    layout = scratch_layout(plan_memory(module, TARGET)[0])
    # Only bf16 operands are widened into staging; a transposed f32 weight is packed transposed.
    assert layout.staging_bytes > 0 if dtype == DType.BF16 else layout.staging_bytes == 0
    assert layout.panel_b_bytes > 0
    _run_both(module, values, rtol=1e-5, atol=1e-5)


def test_cpu_steps_split_segments():
    module = _softmax_module(4, 16, 2)
    z = Buffer("z", "hbm", DType.F32, (4, 16), role="output")
    module = KernelModule(module.hbm + [z], [module.steps[0], CpuCall("host", ("y",), ("z",)), module.steps[0]],
                          ["x"], ["y", "z"])
    planned, program = _compile(module)
    assert len(program.segments) == 2 and isinstance(program.schedule[1], CpuCall)
    heap = program.new_heap({"x": np.ones((4, 16), np.float32)})
    with pytest.raises(UnsupportedError, match="host executor"):
        program.run(heap)

    def host(call: CpuCall, arena: np.ndarray) -> None:
        program.write(arena, "z", program.read(arena, "y") * 2)

    program.run(heap, cpu_step=host)
    np.testing.assert_allclose(program.read(heap, "z"), np.full(64, 2 / 16, np.float32), rtol=1e-6)


# -- modules from the real lowering ------------------------------------------------------------

def _lowered_one_op(kind: str, arrays: list[np.ndarray], attrs: dict, consts: tuple[int, ...] = ()) -> None:
    graph = Graph()
    builder = GraphBuilder(graph, fold=False)
    operands, feeds = [], {}
    for i, array in enumerate(arrays):
        if i in consts:
            operands.append(builder.const(array, name=f"c{i}"))
        else:
            value = graph.add_input(f"x{i}", TensorType.of(array))
            operands.append(value)
            feeds[value.name] = array
    results = builder.emit(kind, operands, attrs)
    graph.set_outputs(results, [f"y{i}" for i in range(len(results))])
    module, weights, partition, names = lower_to_kernels(graph, TARGET)
    assert partition.counts(graph)["cpu"] == 0, partition.reasons
    values = dict(weights)
    for v in graph.inputs:
        values[names[v.name]] = np.asarray(feeds[v.name]).astype(ASIC_STORAGE[v.type.dtype].numpy)
    _run_both(module, values, rtol=1e-5, atol=1e-5)


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("case", ["matmul", "add_row", "add_col", "softmax", "layer_norm", "rms_norm", "top_k",
                                  "gather", "transpose"])
def test_lowered_one_op_graphs(case):
    if case == "matmul":
        _lowered_one_op("matmul", [_rand(20, 70), _rand(70, 150, seed=1)], {}, consts=(1,))
    elif case == "add_row":
        _lowered_one_op("add", [_rand(3, 9, 33), _rand(33, seed=1)], {})
    elif case == "add_col":
        _lowered_one_op("add", [_rand(9, 33), _rand(9, 1, seed=1)], {})
    elif case == "softmax":
        _lowered_one_op("softmax", [_rand(2, 7, 130)], {"axis": -1})
    elif case == "layer_norm":
        _lowered_one_op("layer_norm", [_rand(6, 48), _rand(48, seed=1), _rand(48, seed=2)],
                        {"axis": -1, "epsilon": 1e-5}, consts=(1, 2))
    elif case == "rms_norm":
        _lowered_one_op("rms_norm", [_rand(6, 48), _rand(48, seed=1)], {"axis": -1, "epsilon": 1e-6}, consts=(1,))
    elif case == "top_k":
        _lowered_one_op("top_k", [_rand(5, 40)], {"k": 4, "axis": -1, "largest": True, "sorted": True})
    elif case == "gather":
        ids = np.array([[3, 0, 7], [1, 1, 6]], dtype=np.int64)
        _lowered_one_op("gather", [_rand(8, 24), ids], {"axis": 0}, consts=(0,))
    else:
        _lowered_one_op("transpose", [_rand(2, 5, 3, 16)], {"perm": [0, 2, 1, 3]})


# -- the bundled examples -----------------------------------------------------------------------

@pytest.mark.parametrize("example", ["gpt2-block", "llama-block", "mixtral-block"])
def test_examples_match_kernel_interpreter(example):
    compiled = moecc.compile(build_example(example), target="asic")
    exe = compiled.executable
    module = exe.module
    program = compile_kernel_module(module)
    feeds = moecc.asic_runtime.random_inputs(exe.graph, seed=3)
    heap = exe.initial_image(feeds)
    ops_by_name = {op.results[0].name: op for op in exe.graph.ops}
    program.run(heap, cpu_step=lambda call, arena: exe._run_cpu_step(call, arena, ops_by_name))

    initial = exe.initial_image(feeds)
    given = {b.name: program.read(initial, b.name) for b in module.hbm if b.role in ("input", "weight")}

    def host(call: CpuCall, memory: dict[str, np.ndarray]) -> None:
        image = initial.copy()
        for name, flat in memory.items():
            program.write(image, name, flat)
        exe._run_cpu_step(call, image, ops_by_name)
        for name in call.outputs:
            memory[name] = program.read(image, name)

    expected = run_kernel_module(module, given, cpu_step=host)
    for name in module.outputs:
        want = expected[name].astype(np.float64)
        got = program.read(heap, name).astype(np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())), err_msg=name)
