"""Ahead-of-time output of the cpu target: one self-contained relocatable object per model.

Position in the flow: after LLVM emission (``emit-llvm-tiled``). :func:`link_object` is the
ABI builder: it links, into one module, the model's LLVM module, the blocked ``moecc_sgemm``
(:mod:`moecc.backend.llvm.matmul`) and a small ABI layer built with the IR builder, optimises
it at O3 for the target CPU and emits a position-independent ELF object.
:func:`emit_model_object` feeds it the module :mod:`moecc.backend.llvm.tiled` emits from the
tiled IR (``moecc_run`` calls its segments). The C interface is documented in
``docs/cpu_object_abi.md`` (:func:`c_header` writes the header); the same object is what a
``.moe`` artifact stores, and the cpu target's loader turns it back into a runnable program
without lowering or optimising anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import llvmlite.binding as llvm
from llvmlite import ir

from moecc.backend.llvm.cpu_target import CpuTarget, host_cpu_target
from moecc.backend.llvm.jit import optimise, parse_and_verify, target_machine
from moecc.backend.llvm.loop_builder import I8, I8_PTR, I32, I64
from moecc.errors import MoeccError
from moecc.ir.types import DType

#: Numeric codes of element types in ``moecc_tensor.dtype`` (stable: part of the C ABI).
DTYPE_CODES: dict[DType, int] = {DType.F32: 1, DType.F16: 2, DType.BF16: 3, DType.I64: 4, DType.I32: 5,
                                 DType.I8: 6, DType.U8: 7, DType.BOOL: 8}
#: Most dimensions a tensor of the C table describes.
MAX_RANK = 8
#: ``moecc_run``'s result when the model has steps only the Python runtime can execute.
NEEDS_HOST_STEPS = -1
#: The object's read-only copy of the heap's weight bytes (``moecc_init_heap`` copies it).
WEIGHT_IMAGE_SYMBOL = "moecc_weight_image"


@dataclass(frozen=True, slots=True)
class TensorAbi:
    """One model input or output as it sits in the heap arena."""

    name: str
    offset: int
    nbytes: int
    dtype: DType
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ObjectAbi:
    """What the object's C tables say: arena sizes, I/O placement, the weight image."""

    heap_bytes: int
    scratch_bytes: int
    inputs: tuple[TensorAbi, ...]
    outputs: tuple[TensorAbi, ...]
    weight_image: bytes  # the heap's first bytes with every weight at its offset
    host_steps: int  # CPU steps the object cannot run (moecc_run then refuses)


def model_abi(executable: object) -> ObjectAbi:
    """The ABI tables of a :class:`~moecc.backend.llvm.tiled.executable.TiledCpuExecutable`:
    global buffers at their heap offsets."""
    from moecc.backend.llvm.tiled.executable import TiledCpuExecutable

    exe = executable
    assert isinstance(exe, TiledCpuExecutable)
    program, graph = exe.program, exe.graph
    module = program.module
    offsets = program.built.heap.offsets

    def tensor(name: str, buffer_name: str, shape: Sequence[int]) -> TensorAbi:
        buffer = module.buffer(buffer_name)
        return TensorAbi(name, offsets[buffer_name], buffer.elements * buffer.dtype.itemsize, buffer.dtype, tuple(shape))

    weights = [b for b in module.buffers if b.role == "weight"]
    weight_end = max((offsets[b.name] + b.elements * b.dtype.itemsize for b in weights), default=0)
    heap = program.new_heap()
    for name, value in exe.weights.items():
        program.write(heap, name, value)
    return ObjectAbi(
        heap_bytes=program.heap_bytes,
        scratch_bytes=program.scratch_bytes,
        inputs=tuple(tensor(v.name, b, v.type.shape) for v, b in zip(graph.inputs, exe.input_buffers)),
        outputs=tuple(tensor(name, b, v.type.shape)
                      for name, v, b in zip(graph.output_names, graph.outputs, module.outputs)),
        weight_image=heap[:weight_end].tobytes(),
        host_steps=len(program.host_calls),
    )


def emit_model_object(program: object, abi: ObjectAbi, target: CpuTarget | None = None) -> bytes:
    """The object of a :class:`~moecc.backend.llvm.tiled.program.TiledCpuProgram`: its LLVM
    module (segments, kernels, thread pool, fault cells) with ``moecc_sgemm`` and the ABI layer;
    ``moecc_run`` runs the segments in order (there is one unless the model has host calls, and
    then ``moecc_run`` returns ``MOECC_NEEDS_HOST_STEPS``)."""
    from moecc.backend.llvm.tiled.codegen import SEGMENT_PREFIX
    from moecc.ir.tiled.nodes import HostCall

    schedule = program.built.schedule  # type: ignore[attr-defined]
    entries = [f"{SEGMENT_PREFIX}{item}" for item in schedule if not isinstance(item, HostCall)]
    return link_object(program.llvm_ir, abi, entries, target or program.cpu_target)  # type: ignore[attr-defined]


def executable_object(executable: object, target: CpuTarget | None = None) -> bytes:
    """:func:`emit_model_object` of a compiled :class:`~moecc.backend.llvm.tiled.executable.TiledCpuExecutable`."""
    return emit_model_object(executable.program, model_abi(executable), target)  # type: ignore[attr-defined]


def link_object(llvm_ir: str, abi: ObjectAbi, entries: Sequence[str], target: CpuTarget | None = None,
                rename: Callable[[str], str] | None = None) -> bytes:
    """The ABI builder: the model's LLVM module text (functions renamed by ``rename``), ``moecc_sgemm`` and the ABI layer (``moecc_run`` calling
    ``entries`` in order, stopping at a fault) linked into one module, optimised at O3 for
    ``target`` and emitted as a position-independent relocatable ELF object."""
    from moecc.backend.llvm.matmul import build_sgemm_module

    target = target or host_cpu_target()
    kernels = _parse(llvm_ir, "moecc_kernels")
    for fn in kernels.functions:
        if rename is not None:
            fn.name = rename(fn.name)
    kernels.link_in(parse_and_verify(build_sgemm_module(target), target))
    kernels.link_in(parse_and_verify(_abi_module(abi, entries), target))
    kernels.verify()
    optimise(kernels, target)
    return target_machine(target, for_jit=False).emit_object(kernels)


def _parse(text: str, name: str) -> llvm.ModuleRef:
    try:
        parsed = llvm.parse_assembly(text)
        parsed.verify()
    except RuntimeError as err:
        raise MoeccError(f"LLVM rejected module '{name}': {str(err).strip()}",
                         remedy="this is a bug in moecc's LLVM code generator; please report it") from err
    return parsed


def _abi_module(abi: ObjectAbi, entries: Sequence[str]) -> ir.Module:
    """``moecc_run`` (calling ``entries``, each ``void(i8* heap, i8* scratch)``, until one
    faults), ``moecc_init_heap`` and the layout tables, built with the IR builder."""
    module = ir.Module(name="moecc_abi")
    arena_fn = ir.FunctionType(ir.VoidType(), [I8_PTR, I8_PTR])
    fault_code = ir.GlobalVariable(module, I32, "moecc_fault_code")

    run = ir.Function(module, ir.FunctionType(I32, [I8_PTR, I8_PTR]), name="moecc_run")
    b = ir.IRBuilder(run.append_basic_block("entry"))
    if abi.host_steps:
        b.ret(ir.Constant(I32, NEEDS_HOST_STEPS))
    else:
        b.store(ir.Constant(I32, 0), fault_code)
        done = run.append_basic_block("done")
        for entry in entries:
            b.call(ir.Function(module, arena_fn, name=entry), run.args)
            ok = run.append_basic_block("next")
            b.cbranch(b.icmp_signed("!=", b.load(fault_code), ir.Constant(I32, 0)), done, ok)
            b.position_at_end(ok)
        b.branch(done)
        b.position_at_end(done)
        b.ret(b.load(fault_code))

    image_type = ir.ArrayType(I8, len(abi.weight_image))
    image = ir.GlobalVariable(module, image_type, WEIGHT_IMAGE_SYMBOL)
    image.global_constant = True
    image.align = 64
    image.initializer = ir.Constant(image_type, bytearray(abi.weight_image))
    init = ir.Function(module, ir.FunctionType(ir.VoidType(), [I8_PTR]), name="moecc_init_heap")
    b = ir.IRBuilder(init.append_basic_block("entry"))
    memcpy = module.declare_intrinsic("llvm.memcpy", [I8_PTR, I8_PTR, I64])
    b.call(memcpy, [init.args[0], b.bitcast(image, I8_PTR), ir.Constant(I64, len(abi.weight_image)),
                    ir.Constant(ir.IntType(1), 0)])
    # The rest starts zeroed: the flags of weights packed on first use (an MoE expert's) say
    # "not packed yet" (a fresh heap from the JIT path is zeroed too).
    memset = module.declare_intrinsic("llvm.memset", [I8_PTR, I64])
    rest = abi.heap_bytes - len(abi.weight_image)
    if rest > 0:
        b.call(memset, [b.gep(init.args[0], [ir.Constant(I64, len(abi.weight_image))]), ir.Constant(I8, 0),
                        ir.Constant(I64, rest), ir.Constant(ir.IntType(1), 0)])
    b.ret_void()

    def constant(name: str, typ: ir.Type, value: int) -> None:
        var = ir.GlobalVariable(module, typ, name)
        var.global_constant = True
        var.initializer = ir.Constant(typ, value)

    constant(WEIGHT_IMAGE_SYMBOL + "_bytes", I64, len(abi.weight_image))
    constant("moecc_heap_bytes", I64, abi.heap_bytes)
    constant("moecc_scratch_bytes", I64, abi.scratch_bytes)
    constant("moecc_input_count", I32, len(abi.inputs))
    constant("moecc_output_count", I32, len(abi.outputs))
    _tensor_table(module, "moecc_inputs", abi.inputs)
    _tensor_table(module, "moecc_outputs", abi.outputs)
    return module


_SHAPE = ir.ArrayType(I64, MAX_RANK)
_TENSOR = ir.LiteralStructType([I8_PTR, I64, I64, I32, I32, _SHAPE])


def _tensor_table(module: ir.Module, name: str, tensors: Sequence[TensorAbi]) -> None:
    entries = []
    for index, tensor in enumerate(tensors):
        if len(tensor.shape) > MAX_RANK:
            raise MoeccError(f"{name}[{index}] '{tensor.name}' has rank {len(tensor.shape)} > {MAX_RANK}",
                             remedy="reshape the model's I/O to at most 8 dimensions")
        text = bytearray(tensor.name.encode("utf-8") + b"\0")
        string = ir.GlobalVariable(module, ir.ArrayType(I8, len(text)), f"{name}.name{index}")
        string.global_constant = True
        string.linkage = "private"
        string.initializer = ir.Constant(ir.ArrayType(I8, len(text)), text)
        dims = list(tensor.shape) + [0] * (MAX_RANK - len(tensor.shape))
        entries.append(ir.Constant(_TENSOR, [
            string.gep([ir.Constant(I32, 0), ir.Constant(I32, 0)]), ir.Constant(I64, tensor.offset),
            ir.Constant(I64, tensor.nbytes), ir.Constant(I32, DTYPE_CODES[tensor.dtype]),
            ir.Constant(I32, len(tensor.shape)), ir.Constant(_SHAPE, dims)]))
    table_type = ir.ArrayType(_TENSOR, len(entries))
    table = ir.GlobalVariable(module, table_type, name)
    table.global_constant = True
    table.initializer = ir.Constant(table_type, entries)


def object_weight_image(jit: object, heap_bytes: int) -> bytes:
    """The weight image of an object loaded into ``jit`` (a :class:`~moecc.backend.llvm.jit.JitModule`)."""
    import ctypes

    engine = jit.engine  # type: ignore[attr-defined]
    size_address = engine.get_global_value_address(WEIGHT_IMAGE_SYMBOL + "_bytes")
    image_address = engine.get_global_value_address(WEIGHT_IMAGE_SYMBOL)
    if not size_address or not image_address:
        raise MoeccError(f"the object defines no {WEIGHT_IMAGE_SYMBOL}", remedy="rebuild the object (recompile the model)")
    size = ctypes.c_int64.from_address(size_address).value
    if not 0 <= size <= heap_bytes:
        raise MoeccError(f"the object's weight image claims {size} bytes, its heap has {heap_bytes}",
                         remedy="rebuild the object (recompile the model)")
    return ctypes.string_at(image_address, size)


def object_constant(jit: object, name: str) -> int:
    """The value of the object's ``int64`` constant ``name`` (``moecc_heap_bytes``, ...)."""
    import ctypes

    address = jit.engine.get_global_value_address(name)  # type: ignore[attr-defined]
    if not address:
        raise MoeccError(f"the object defines no {name}", remedy="rebuild the object (recompile the model)")
    return int(ctypes.c_int64.from_address(address).value)


C_HEADER = """\
/* moecc cpu object ABI (moecc compile MODEL --target cpu --emit obj -o model.o) */
#include <stdint.h>

enum moecc_dtype { MOECC_F32 = 1, MOECC_F16 = 2, MOECC_BF16 = 3, MOECC_I64 = 4, MOECC_I32 = 5,
                   MOECC_I8 = 6, MOECC_U8 = 7, MOECC_BOOL = 8 };
#define MOECC_MAX_RANK 8
#define MOECC_NEEDS_HOST_STEPS (-1)

typedef struct moecc_tensor {
    const char *name;      /* the ONNX input / output name */
    int64_t offset;        /* byte offset in the heap arena */
    int64_t nbytes;        /* bytes it occupies there */
    int32_t dtype;         /* enum moecc_dtype: the ONNX type, as the heap stores it
                              (MOECC_BOOL: one byte, 0 or 1; MOECC_F16: IEEE half) */
    int32_t rank;
    int64_t shape[MOECC_MAX_RANK];
} moecc_tensor;

extern const int64_t moecc_heap_bytes;     /* size of the heap arena */
extern const int64_t moecc_scratch_bytes;  /* size of the scratch arena */
extern const int32_t moecc_input_count, moecc_output_count;
extern const moecc_tensor moecc_inputs[], moecc_outputs[];
extern const uint8_t moecc_weight_image[];       /* the heap's first bytes: every weight in place */
extern const int64_t moecc_weight_image_bytes;

/* Write the weights into a heap arena and zero the rest of it (once; runs do not overwrite
   the weights, and weights packed on first use stay packed). */
void moecc_init_heap(uint8_t *heap);
/* Run the model: inputs are read from, outputs written to the heap. Arenas: 64-byte aligned,
   sizes as above, not shared between concurrent calls. Returns 0, a fault code
   (3: an index out of range in a gather/scatter kernel, 4: a run-time loop count out of
   range; see "Memory") or MOECC_NEEDS_HOST_STEPS. */
int32_t moecc_run(uint8_t *heap, uint8_t *scratch);
/* Threads (default 1): run on n threads in all, the caller plus n - 1 worker threads the object
   starts, each with a scratch arena of its own that the object allocates (moecc_scratch_bytes).
   Big matmuls are split among them; results do not depend on n. Returns 0, or 1 when the system
   refused some threads (moecc_get_threads() says how many run). Call with 1 to stop the workers
   before unloading the object. Not to be called while moecc_run runs. */
int32_t moecc_set_threads(int32_t n);
int32_t moecc_get_threads(void);
"""


def c_header() -> str:
    """The C header of the object ABI."""
    return C_HEADER


__all__ = ["C_HEADER", "DTYPE_CODES", "NEEDS_HOST_STEPS", "WEIGHT_IMAGE_SYMBOL", "ObjectAbi", "TensorAbi", "c_header",
           "emit_model_object", "executable_object", "link_object", "model_abi", "object_constant",
           "object_weight_image"]
