"""The LLVM backend's one door to llvmlite's binding layer: verify, optimise, JIT, emit objects.

Code generators build an :class:`llvmlite.ir.Module` with the IR builder and hand it here:

    module (ir.Module) --parse_assembly--> ModuleRef --verify()--> new pass manager at O3
        --MCJIT--> machine code in this process --> ctypes functions on numpy buffers

Everything is compiled for a :class:`~moecc.backend.llvm.cpu_target.CpuTarget` (by default the
host: its CPU name and features, so the vectorisers and the instruction selector use every
SIMD extension it has). :func:`compile_module` keeps each execution engine alive for the rest
of the process (the machine code lives in it) and caches it by the module's text, so building
the same module twice compiles once. :func:`emit_object` produces a relocatable object file
for the same target, for ahead-of-time use; :func:`load_object` puts such an object (a
``.moe`` artifact's) into an engine after checking that LLVM's loader can place it.

JIT modules and objects are the same code: small code model, position-independent (see
:func:`target_machine`), loaded by llvmlite's memory manager, which maps each object's code
and data as one block so its 32-bit PC-relative references reach wherever the process's
address space puts that block.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import threading
from collections.abc import Callable
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

    JIT and object machines generate the same code (``for_jit`` only tells LLVM who will
    load it): the small code model, position-independent.

    Why that pair. The code must run at whatever address the process's address space gives
    it: a process that already maps a few GiB (a big numpy array, another model) has free
    gaps on both sides of that region, and MCJIT's default memory manager maps code,
    read-only and writable data separately, each where the kernel finds room, so an object's
    ``.text`` landed in a gap above a 3 GiB array and its ``.rodata``/``.bss`` below it; the
    small code model's 32-bit PC-relative references between them then cannot be resolved
    and LLVM's loader aborts the process (an assertion, no exception). Position-independent
    small-model code needs only its own sections within 2 GiB of each other:
    :func:`compile_module` and :func:`load_object` use llvmlite's memory manager, which
    reserves one block per object for all its sections (with room for the loader's stubs and
    GOT, through which calls to libc and to other engines' functions go as 64-bit
    addresses), and :func:`load_object` refuses, before LLVM sees it, an object that block
    could not hold. Heap and scratch arenas are arguments, never addresses in the code. The
    ``--emit obj`` object is standard x86-64 PIC for C (``docs/cpu_object_abi.md``).

    The large code model would not need the block (every reference 64-bit) but loads each
    constant-pool address with ``movabs`` (and, position-independent, keeps a GOT base in a
    register) and calls indirectly; measured on llama-block and gpt2-block artifacts, small
    PIC ran as fast as large, medium and the old static large JIT (within 1 %), so the
    standard model it is. The medium code model would only move large globals (the weight
    image) out of 32-bit reach, which the reserved block makes unnecessary up to 2 GiB."""
    _initialise_llvm()
    target = target or host_cpu_target()
    try:
        llvm_target = llvm.Target.from_default_triple()
        return llvm_target.create_target_machine(
            cpu=target.name,
            features=target.features,
            opt=3,
            # Small code model, position-independent, for the JIT and objects alike (see the
            # docstring: why not the large or medium model, and what makes it load anywhere).
            reloc="pic",
            codemodel="small",
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


#: Whether O3 runs LLVM's loop unroller. Off: full unrolling of the tiled IR's static tile loops
#: (a 16-iteration loop around a 16 x 512 vectorised nest becomes 256 copies) made an MLP layer
#: 3,500 lines of IR and ~0.9 s of code generation per kernel, while the vectoriser's own
#: interleaving (on) keeps the inner loops as wide. Measured in docs/benchmarks.md.
LOOP_UNROLLING = False


def optimise(parsed: llvm.ModuleRef, target: CpuTarget | None = None, speed_level: int = DEFAULT_SPEED_LEVEL) -> None:
    """Run the new pass manager's default ``-O<speed_level>`` pipeline (loop and SLP
    vectorisation on) in place, with the target's cost model."""
    machine = target_machine(target)
    tuning = llvm.create_pipeline_tuning_options(speed_level=speed_level)
    tuning.loop_vectorization = True
    tuning.slp_vectorization = True
    tuning.loop_unrolling = LOOP_UNROLLING
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


#: Engines get llvmlite's memory manager (``use_lmm``; llvmlite's default only on 64-bit ARM),
#: which maps all of an object's sections as one block; MCJIT's default one maps code and data
#: separately, possibly GiBs apart (see :func:`target_machine`).
_CONTIGUOUS_SECTIONS = True


def _new_engine(module: llvm.ModuleRef, machine: llvm.TargetMachine) -> llvm.ExecutionEngine:
    """An MCJIT engine for ``module`` (it takes ownership of ``machine``) whose memory manager
    maps each object it loads as one block (``use_lmm``: in every llvmlite this project allows)."""
    return llvm.create_mcjit_compiler(module, machine, use_lmm=_CONTIGUOUS_SECTIONS)


_jit_cache: dict[str, JitModule] = {}
_jit_lock = threading.Lock()


def compile_module(
    module: ir.Module, target: CpuTarget | None = None, speed_level: int = DEFAULT_SPEED_LEVEL
) -> JitModule:
    """Verify, optimise and JIT-compile ``module`` for ``target`` (default: the host).

    Cached by (module text, target, speed level); the engine is kept for the process's life."""
    target = target or host_cpu_target()
    text = module_text(module, target)
    key = hashlib.sha256(f"{target}\n{speed_level}\n{LOOP_UNROLLING}\n{text}".encode()).hexdigest()
    with _jit_lock:
        cached = _jit_cache.get(key)
        if cached is not None:
            return cached
        parsed = parse_and_verify(module, target, text)
        optimise(parsed, target, speed_level)
        optimised_text = str(parsed)
        try:
            engine = _new_engine(parsed, target_machine(target))
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
    engine: nothing is parsed, optimised or compiled. The object's sections go into one block
    (:data:`_CONTIGUOUS_SECTIONS`), so it runs wherever that block is mapped. A file LLVM
    cannot load, or one whose relocations its loader could not apply at every address (it
    would abort the process), is a :class:`MoeccError` raised before LLVM sees it."""
    target = target or host_cpu_target()
    _check_elf_object(bytes(data), name)
    try:
        # The engine takes ownership of its target machine and frees it with itself, so it
        # gets a machine of its own, not the cached one other engines and emitters share.
        engine = _new_engine(llvm.parse_assembly(""), target_machine.__wrapped__(target))
        engine.add_object_file(llvm.ObjectFileRef.from_data(bytes(data)))
        engine.finalize_object()
    except (RuntimeError, ValueError, OSError) as err:
        raise MoeccError(f"LLVM could not load object '{name}': {str(err).strip()}", location=f"object '{name}'",
                         remedy="rebuild the object (recompile the model) for this machine") from err
    return JitModule(name=name, engine=engine, optimised_ir="")


def host_is_x86_64() -> bool:
    """Whether this process runs on x86-64 (whose relocation types :func:`load_object` checks)."""
    import platform

    return platform.machine().lower() in ("x86_64", "amd64")


#: ELF constants the checks below read.
_SHT_SYMTAB, _SHT_RELA, _SHT_NOBITS, _SHT_REL = 2, 4, 8, 9
_SHF_ALLOC = 2
_SHN_ABS, _SHN_COMMON = 0xFFF1, 0xFFF2
_EM_X86_64 = 62
#: x86-64 relocation types RuntimeDyld applies at any address: 64-bit ones (absolute, PC-,
#: GOT- and GOT-base-relative: what large-model code uses) ...
_RELOCATIONS_64 = {0: "NONE", 1: "64", 24: "PC64", 25: "GOTOFF64", 27: "GOT64", 29: "GOTPC64"}
#: ... and 32-bit PC-relative ones, which reach within the object's block (calls to symbols
#: outside it go through a stub, GOT references through a GOT entry, both inside the block),
#: except a PC32 to a symbol outside the object: that one would have to reach the symbol itself.
_RELOCATIONS_32_NEAR = {2: "PC32", 4: "PLT32", 9: "GOTPCREL", 26: "GOTPC32", 41: "GOTPCRELX", 42: "REX_GOTPCRELX"}
_R_X86_64_PC32 = 2
#: Most bytes an object with 32-bit PC-relative relocations may map: its block must lie within
#: +-2 GiB of every reference in it (a margin of 64 KiB under 2^31 for the loader's rounding).
_NEAR_REACH_BYTES = 2**31 - 2**16
#: What one relocation can add to the block at most: a stub (6 bytes on x86-64, aligned) and a
#: GOT entry (8 bytes).
_BYTES_PER_RELOCATION = 16


def _check_elf_object(data: bytes, name: str) -> None:
    """Refuse what is not a whole 64-bit little-endian relocatable ELF file before LLVM sees
    it: LLVM's object loader trusts the header and crashes the process on garbage. On x86-64
    hosts also refuse an object LLVM's loader would abort on wherever it is mapped
    (:func:`_check_x86_64_relocations`)."""
    import struct

    def bad(why: str) -> MoeccError:
        return MoeccError(f"'{name}' is not a loadable object file: {why}", location=f"object '{name}'",
                          remedy="rebuild the object (recompile the model)")

    if len(data) < 64 or data[:4] != b"\x7fELF":
        raise bad("no ELF header")
    if data[4] != 2 or data[5] != 1:
        raise bad("not a 64-bit little-endian ELF file")
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    e_shoff, = struct.unpack_from("<Q", data, 40)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 58)
    if e_type != 1:
        raise bad(f"ELF type {e_type}, not a relocatable object")
    if e_shentsize != 64 or e_shnum == 0 or e_shstrndx >= e_shnum or e_shoff + e_shnum * e_shentsize > len(data):
        raise bad("its section header table is truncated or malformed")
    sections = []
    for index in range(e_shnum):
        header = _Section(*struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + index * 64))
        if header.type != _SHT_NOBITS and header.offset + header.size > len(data):
            raise bad(f"section {index} extends past the end of the file")
        sections.append(header)
    if host_is_x86_64():
        if e_machine != _EM_X86_64:
            raise bad(f"it is for ELF machine {e_machine}, not x86-64 (62)")
        _check_x86_64_relocations(data, sections, name, bad)


@dataclass(frozen=True, slots=True)
class _Section:
    """An ELF64 section header (``Elf64_Shdr``)."""

    name: int
    type: int
    flags: int
    address: int
    offset: int
    size: int
    link: int
    info: int
    align: int
    entry_size: int


def _check_x86_64_relocations(data: bytes, sections: list[_Section], name: str,
                              bad: Callable[[str], MoeccError]) -> None:
    """Refuse, with a :class:`MoeccError`, an x86-64 object whose relocations LLVM's loader
    (RuntimeDyld) could not apply wherever the block holding the object is mapped: it asserts
    (aborting the process) when a 32-bit field cannot hold the value, and on types it does not
    implement. What passes: the types of :data:`_RELOCATIONS_64` anywhere, and those of
    :data:`_RELOCATIONS_32_NEAR` when the whole block stays within :data:`_NEAR_REACH_BYTES`
    and no PC32 names a symbol the object does not define (small-model objects moecc emits,
    large-model ones, and medium-model ones up to the same size)."""
    import struct

    block_bytes = 3 * 4096  # code, read-only and writable data are page-rounded apart
    near = 0  # the type of a 32-bit relocation the object has (0: none)
    for section in sections:
        if section.flags & _SHF_ALLOC:
            align = max(section.align, 1)
            block_bytes += -(-section.size // align) * align + align
        if section.type not in (_SHT_RELA, _SHT_REL) or section.info >= len(sections):
            continue
        if not sections[section.info].flags & _SHF_ALLOC:
            continue  # relocations of sections the loader does not map (debug information)
        entry = 24 if section.type == _SHT_RELA else 16
        if section.entry_size != entry or section.size % entry or section.link >= len(sections):
            raise bad(f"relocation section at offset {section.offset} is malformed")
        symbols = sections[section.link]
        if symbols.type != _SHT_SYMTAB:
            raise bad(f"relocation section at offset {section.offset} has no symbol table")
        count = section.size // entry
        block_bytes += count * _BYTES_PER_RELOCATION
        view = memoryview(data)[section.offset: section.offset + section.size]
        for row in struct.iter_unpack("<QQ" if entry == 16 else "<QQq", view):
            kind, symbol = row[1] & 0xFFFFFFFF, row[1] >> 32
            if kind in _RELOCATIONS_64:
                continue
            if kind not in _RELOCATIONS_32_NEAR:
                what = ("a 32-bit absolute address (static non-PIC code, only loadable in the lowest 2 GiB)"
                        if kind in (10, 11) else "not one moecc lets LLVM's JIT loader apply (it may abort on it)")
                raise MoeccError(
                    f"the object has x86-64 relocation type {kind}, {what}",
                    location=f"object '{name}'",
                    remedy="rebuild the object (recompile the model) with this moecc, which emits "
                           "position-independent code")
            near = near or kind
            if kind == _R_X86_64_PC32:
                if symbol * 24 + 24 > symbols.size:
                    raise bad(f"a relocation names symbol {symbol}, past the symbol table")
                shndx, = struct.unpack_from("<H", data, symbols.offset + symbol * 24 + 6)
                # No symbol, an undefined (SHN_UNDEF) or an absolute (SHN_ABS) one: the target
                # lies outside the block, possibly GiBs away.
                if symbol == 0 or shndx in (0, _SHN_ABS):
                    raise MoeccError(
                        "the object has a 32-bit PC-relative reference (R_X86_64_PC32) to symbol "
                        f"'{_symbol_name(data, sections, symbols, symbol)}', which it does not define: "
                        "it cannot reach it wherever the object and that symbol are mapped",
                        location=f"object '{name}'",
                        remedy="rebuild the object (recompile the model) with this moecc, whose "
                               "code reaches outside symbols through the GOT")
    block_bytes += _common_bytes(data, sections)
    if near and block_bytes > _NEAR_REACH_BYTES:
        raise MoeccError(
            f"the object needs {block_bytes / 2**30:.2f} GiB of code and data (its weight image "
            f"included) but has 32-bit PC-relative references ({_RELOCATIONS_32_NEAR[near]}), which "
            "reach 2 GiB: LLVM's loader cannot place it",
            location=f"object '{name}'",
            remedy="run the model JIT-compiled (moecc.compile(model, target='cpu')), which keeps "
                   "the weights in the heap rather than in the code, or make the weights smaller")


def _common_bytes(data: bytes, sections: list[_Section]) -> int:
    """Bytes the loader allocates, in the object's block, for its common symbols (``st_value``
    is their alignment)."""
    import struct

    total = 0
    for table in sections:
        if table.type == _SHT_SYMTAB:
            view = memoryview(data)[table.offset: table.offset + table.size - table.size % 24]
            for _, _, _, shndx, value, size in struct.iter_unpack("<IBBHQQ", view):
                if shndx == _SHN_COMMON:
                    total += size + max(value, 1)
    return total


def _symbol_name(data: bytes, sections: list[_Section], symbols: _Section, symbol: int) -> str:
    """The name of entry ``symbol`` of the symbol table ``symbols`` (for messages)."""
    import struct

    offset, = struct.unpack_from("<I", data, symbols.offset + symbol * 24)
    strings = sections[symbols.link] if symbols.link < len(sections) else None
    if strings is None or offset >= strings.size:
        return f"#{symbol}"
    start = strings.offset + offset
    end = data.find(b"\0", start, strings.offset + strings.size)
    return data[start: end if end >= 0 else strings.offset + strings.size].decode("utf-8", "replace")
