"""The LLVM backend's one door to llvmlite's binding layer: verify, optimise, JIT, emit objects.

Code generators build an :class:`llvmlite.ir.Module` with the IR builder and hand it here:

    module (ir.Module) --parse_assembly--> ModuleRef --verify()--> new pass manager at O3
        --MCJIT--> machine code in this process --> ctypes functions on numpy buffers

Everything is compiled for a :class:`~moecc.backend.llvm.cpu_target.CpuTarget` (by default the
host: its CPU name and features, so the vectorisers and the instruction selector use every
SIMD extension it has). :func:`compile_module` keeps each execution engine alive for the rest
of the process (the machine code lives in it) and caches it by the module's text, so building
the same module twice compiles once. :func:`emit_object` produces a relocatable object file
for the same target, for ahead-of-time use.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import threading
from dataclasses import dataclass, field

import llvmlite.binding as llvm
import llvmlite.ir as ir

from moecc.backend.llvm.cpu_target import CpuTarget, host_cpu_target
from moecc.errors import MoeccError, UnsupportedError

#: Optimisation level of the new pass manager's default pipeline (``-O3``).
DEFAULT_SPEED_LEVEL = 3

_REMEDY_BUG = "this is a bug in moecc's LLVM code generator; please report it with the module text"


@functools.cache
def _initialise_llvm() -> None:
    """Register the native target and its assembly printer (needed once per process)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()


@functools.cache
def target_machine(target: CpuTarget | None = None, *, for_jit: bool = True) -> llvm.TargetMachine:
    """An LLVM target machine for ``target`` (default: the host) at -O3.

    JIT machines use the JIT code model; object-file machines use position-independent code so
    the object can be linked into a shared library."""
    _initialise_llvm()
    target = target or host_cpu_target()
    try:
        llvm_target = llvm.Target.from_default_triple()
        return llvm_target.create_target_machine(
            cpu=target.name,
            features=target.features,
            opt=3,
            reloc="default" if for_jit else "pic",
            codemodel="jitdefault" if for_jit else "default",
            jit=for_jit,
        )
    except RuntimeError as err:
        raise UnsupportedError(
            f"LLVM cannot create a target machine for CPU '{target.name}': {err}",
            remedy="pass a CpuTarget whose name and features this LLVM build knows",
        ) from err


def module_text(module: ir.Module, target: CpuTarget | None = None) -> str:
    """The module's LLVM assembly, stamped with the target's triple and data layout (so the
    optimiser's cost models apply)."""
    machine = target_machine(target)
    module.triple = machine.triple
    module.data_layout = str(machine.target_data)
    return str(module)


def parse_and_verify(module: ir.Module, target: CpuTarget | None = None, text: str | None = None) -> llvm.ModuleRef:
    """Hand a builder-made module (or its already rendered ``text``) to the binding layer and
    run LLVM's verifier on it."""
    text = text if text is not None else module_text(module, target)
    try:
        parsed = llvm.parse_assembly(text)
        parsed.verify()
    except RuntimeError as err:
        raise MoeccError(
            f"LLVM rejected module '{module.name}': {str(err).strip()}",
            location=f"llvm module '{module.name}'",
            remedy=_REMEDY_BUG,
        ) from err
    parsed.name = module.name
    return parsed


def optimise(parsed: llvm.ModuleRef, target: CpuTarget | None = None, speed_level: int = DEFAULT_SPEED_LEVEL) -> None:
    """Run the new pass manager's default ``-O<speed_level>`` pipeline (loop and SLP
    vectorisation on) in place, with the target's cost model."""
    machine = target_machine(target)
    tuning = llvm.create_pipeline_tuning_options(speed_level=speed_level)
    tuning.loop_vectorization = True
    tuning.slp_vectorization = True
    tuning.loop_unrolling = True
    tuning.loop_interleaving = True
    builder = llvm.create_pass_builder(machine, tuning)
    builder.getModulePassManager().run(parsed, builder)


@dataclass(slots=True)
class JitModule:
    """A compiled module living in an MCJIT engine; hands out its functions as ctypes callables.

    Keep it (or any function taken from it) alive while calling: the machine code belongs to
    the engine. ``optimised_ir`` is the module text after the pass pipeline, for inspection."""

    name: str
    engine: llvm.ExecutionEngine
    optimised_ir: str
    _functions: dict[tuple[str, object, tuple[object, ...]], object] = field(default_factory=dict)

    def address(self, name: str) -> int:
        """The machine address of function ``name``."""
        address = self.engine.get_function_address(name)
        if not address:
            raise MoeccError(
                f"function '{name}' is not defined in JIT module '{self.name}'",
                location=f"llvm module '{self.name}'",
                remedy="check the function name the code generator defined",
            )
        return address

    def function(self, name: str, restype: object, *argtypes: object) -> ctypes._CFuncPtr:
        """Function ``name`` as a ctypes callable with the given C signature."""
        key = (name, restype, argtypes)
        if key not in self._functions:
            prototype = ctypes.CFUNCTYPE(restype, *argtypes)
            self._functions[key] = prototype(self.address(name))
        return self._functions[key]  # type: ignore[return-value]


_jit_cache: dict[str, JitModule] = {}
_jit_lock = threading.Lock()


def compile_module(
    module: ir.Module, target: CpuTarget | None = None, speed_level: int = DEFAULT_SPEED_LEVEL
) -> JitModule:
    """Verify, optimise and JIT-compile ``module`` for ``target`` (default: the host).

    Cached by (module text, target, speed level); the engine is kept for the process's life."""
    target = target or host_cpu_target()
    text = module_text(module, target)
    key = hashlib.sha256(f"{target}\n{speed_level}\n{text}".encode()).hexdigest()
    with _jit_lock:
        cached = _jit_cache.get(key)
        if cached is not None:
            return cached
        parsed = parse_and_verify(module, target, text)
        optimise(parsed, target, speed_level)
        optimised_text = str(parsed)
        try:
            engine = llvm.create_mcjit_compiler(parsed, target_machine(target))
            engine.finalize_object()
        except RuntimeError as err:
            raise MoeccError(
                f"LLVM could not JIT-compile module '{module.name}': {str(err).strip()}",
                location=f"llvm module '{module.name}'",
                remedy=_REMEDY_BUG,
            ) from err
        compiled = JitModule(name=module.name, engine=engine, optimised_ir=optimised_text)
        _jit_cache[key] = compiled
        return compiled


def emit_object(module: ir.Module, target: CpuTarget | None = None, speed_level: int = DEFAULT_SPEED_LEVEL) -> bytes:
    """A relocatable (position-independent) object file of ``module``, optimised, for ``target``."""
    target = target or host_cpu_target()
    parsed = parse_and_verify(module, target)
    optimise(parsed, target, speed_level)
    return target_machine(target, for_jit=False).emit_object(parsed)


def emit_assembly(module: ir.Module, target: CpuTarget | None = None, speed_level: int = DEFAULT_SPEED_LEVEL) -> str:
    """The optimised module as the target's assembly text (to inspect what the vectorisers did)."""
    target = target or host_cpu_target()
    parsed = parse_and_verify(module, target)
    optimise(parsed, target, speed_level)
    return target_machine(target).emit_assembly(parsed)


def load_object(data: bytes, target: CpuTarget | None = None, name: str = "object") -> JitModule:
    """Machine code from an object file (as :func:`emit_object` writes it) in a fresh MCJIT
    engine: nothing is parsed, optimised or compiled. A file LLVM cannot load, or one whose
    relocations it cannot resolve, is a :class:`MoeccError`."""
    target = target or host_cpu_target()
    _check_elf_object(bytes(data), name)
    try:
        # The engine takes ownership of its target machine and frees it with itself, so it
        # gets a machine of its own, not the cached one other engines and emitters share.
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), target_machine.__wrapped__(target))
        engine.add_object_file(llvm.ObjectFileRef.from_data(bytes(data)))
        engine.finalize_object()
    except (RuntimeError, ValueError, OSError) as err:
        raise MoeccError(f"LLVM could not load object '{name}': {str(err).strip()}", location=f"object '{name}'",
                         remedy="rebuild the object (recompile the model) for this machine") from err
    return JitModule(name=name, engine=engine, optimised_ir="")


def _check_elf_object(data: bytes, name: str) -> None:
    """Refuse what is not a whole 64-bit little-endian relocatable ELF file before LLVM sees
    it: LLVM's object loader trusts the header and crashes the process on garbage."""
    import struct

    def bad(why: str) -> MoeccError:
        return MoeccError(f"'{name}' is not a loadable object file: {why}", location=f"object '{name}'",
                          remedy="rebuild the object (recompile the model)")

    if len(data) < 64 or data[:4] != b"\x7fELF":
        raise bad("no ELF header")
    if data[4] != 2 or data[5] != 1:
        raise bad("not a 64-bit little-endian ELF file")
    e_type, = struct.unpack_from("<H", data, 16)
    e_shoff, = struct.unpack_from("<Q", data, 40)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 58)
    if e_type != 1:
        raise bad(f"ELF type {e_type}, not a relocatable object")
    if e_shentsize != 64 or e_shnum == 0 or e_shstrndx >= e_shnum or e_shoff + e_shnum * e_shentsize > len(data):
        raise bad("its section header table is truncated or malformed")
    for index in range(e_shnum):
        sh_type, = struct.unpack_from("<I", data, e_shoff + index * 64 + 4)
        sh_offset, sh_size = struct.unpack_from("<QQ", data, e_shoff + index * 64 + 24)
        if sh_type != 8 and sh_offset + sh_size > len(data):  # 8: SHT_NOBITS occupies no file bytes
            raise bad(f"section {index} extends past the end of the file")
