"""The cpu target's machine code loads and runs whatever the process's address-space layout.

A process that already maps a few GiB (here a touched 3 GiB array) has mappings on both sides
of that region; MCJIT's default memory manager then put an artifact object's code above it and
its data below, and LLVM's loader aborted the interpreter (SIGABRT in RuntimeDyldELF) resolving
a 32-bit PC-relative reference across it. Each such run is a subprocess (the suite's own memory
stays small; an abort shows as exit code -6). Also: the loader's checks refuse, with a
:class:`MoeccError` and before LLVM sees them, objects it could not place.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
import pytest
from llvmlite import ir

import moecc
from moecc.backend.llvm import jit
from moecc.errors import ArtifactError, MoeccError
from moecc.examples import build_example, example_inputs

EXAMPLE = "llama-block"  # small default sizes
#: Bytes the subprocess maps (and touches, so they are really there) before any LLVM work.
BIG_BYTES = 3 * 2**30

#: Run in the subprocess: argv[1] the parent's artifact, argv[2] where to write outputs,
#: argv[3] where to save an artifact compiled in this process.
CHILD = textwrap.dedent(f"""
    import sys
    import numpy as np
    big = np.ones({BIG_BYTES} // 8)  # touched: every page mapped before LLVM maps anything
    import moecc
    from moecc.examples import build_example, example_inputs
    model = build_example({EXAMPLE!r})
    feeds = example_inputs({EXAMPLE!r}, model, seed=0)
    jitted = moecc.compile(model, target="cpu")
    outputs = {{"jit/" + k: v for k, v in jitted.run(feeds).items()}}
    outputs.update({{"load/" + k: v for k, v in moecc.load(sys.argv[1]).run(feeds).items()}})
    jitted.save(sys.argv[3])
    np.savez(sys.argv[2], **outputs)
    assert big[-1] == 1.0
""")


def _available_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@pytest.mark.skipif(_available_bytes() < BIG_BYTES + 2 * 2**30, reason="needs about 5 GiB of free memory")
def test_cpu_code_runs_in_a_process_holding_3_gib(tmp_path: Path) -> None:
    model = build_example(EXAMPLE)
    feeds = example_inputs(EXAMPLE, model, seed=0)
    reference = moecc.compile(model, target="ref").run(feeds)
    parent_artifact, child_artifact, outputs = tmp_path / "parent.moe", tmp_path / "child.moe", tmp_path / "out.npz"
    moecc.compile(model, target="cpu").save(parent_artifact)

    child = subprocess.run([sys.executable, "-c", CHILD, str(parent_artifact), str(outputs), str(child_artifact)],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, f"exit code {child.returncode} (-6: SIGABRT)\n{child.stderr[-3000:]}"
    got = np.load(outputs)
    for how in ("jit", "load"):  # (a) the JIT path, (b) an artifact saved by a normal process
        for name, expected in reference.items():
            np.testing.assert_allclose(got[f"{how}/{name}"], expected, rtol=1e-4, atol=1e-5, err_msg=f"{how} {name}")
    # ... and the other way round: an artifact saved by the big process, run here.
    for name, value in moecc.load(child_artifact).run(feeds).items():
        np.testing.assert_allclose(value, reference[name], rtol=1e-4, atol=1e-5, err_msg=name)


def _static_object(build: str) -> bytes:
    """An object of small-model *static* (non-PIC) code with ``dso_local`` globals, as moecc
    never emits: ``build`` is 'address' (a function returning a global's address: an
    R_X86_64_32 immediate) or 'extern' (a load of a global defined elsewhere: R_X86_64_PC32
    to an undefined symbol)."""
    text = {
        "address": "@cell = dso_local global i32 1\n"
                   "define i64 @where() {\n  ret i64 ptrtoint (ptr @cell to i64)\n}\n",
        "extern": "@cell = external dso_local global i32\n"
                  "define i32 @read() {\n  %v = load i32, ptr @cell\n  ret i32 %v\n}\n",
    }[build]
    jit._initialise_llvm()
    machine = llvm.Target.from_default_triple().create_target_machine(reloc="static", codemodel="small")
    return machine.emit_object(llvm.parse_assembly(text))


@pytest.mark.skipif(not jit.host_is_x86_64(), reason="x86-64 relocation checks")
@pytest.mark.parametrize(("build", "expected"), [("address", "relocation type 1[01]"),
                                                  ("extern", "R_X86_64_PC32.*'cell'")])
def test_loader_refuses_objects_llvm_could_not_place(build: str, expected: str) -> None:
    with pytest.raises(MoeccError, match=expected):
        jit.load_object(_static_object(build), name="static")


@pytest.mark.skipif(not jit.host_is_x86_64(), reason="x86-64 relocation checks")
def test_loader_refuses_other_machines_and_too_big_objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    obj = bytearray(jit.emit_object(ir.Module(name="empty")))
    struct.pack_into("<H", obj, 18, 183)  # e_machine: AArch64
    with pytest.raises(MoeccError, match="machine 183"):
        jit.load_object(bytes(obj), name="arm")

    # An object whose block would exceed the +-2 GiB its 32-bit references reach (here the
    # limit is lowered instead of emitting a 2 GiB weight image): the artifact's error names
    # the file and says what to do.
    model = build_example(EXAMPLE)
    path = tmp_path / "m.moe"
    moecc.compile(model, target="cpu").save(path)
    monkeypatch.setattr(jit, "_NEAR_REACH_BYTES", 4096)
    with pytest.raises(ArtifactError, match=r"m\.moe.*32-bit PC-relative.*moecc\.compile"):
        moecc.load(path)
