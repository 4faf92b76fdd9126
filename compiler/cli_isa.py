"""ISA tool sub-commands: ``moecc asm``, ``moecc disasm``, ``moecc sim`` and ``moecc isa``.

Thin wrappers over :mod:`moecc.isa_spec` (assembler, encoder, disassembler, targets) and
:mod:`moecc.backend.asic.sim`; every failure is a :class:`~moecc.errors.MoeccError`, which
:mod:`moecc.cli` turns into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from moecc.errors import AssemblyError
from moecc.fileio import atomic_write


def _asm(args: argparse.Namespace) -> int:
    from moecc.isa_spec import encode_program
    from moecc.isa_spec.program_files import read_program

    program = read_program(args.file)
    output = args.output or str(Path(args.file).with_suffix(".bin"))
    atomic_write(output, encode_program(program))
    return 0


def _disasm(args: argparse.Namespace) -> int:
    from moecc.isa_spec import decode_program, disassemble

    path = Path(args.file)
    if not path.is_file():
        raise AssemblyError(f"binary '{path}' does not exist")
    text = disassemble(decode_program(path.read_bytes()))
    if args.output:
        atomic_write(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _sim(args: argparse.Namespace) -> int:
    from moecc.backend.asic import Simulator, format_report
    from moecc.isa_spec import load_target
    from moecc.isa_spec.program_files import initial_hbm, read_program

    program = read_program(args.file)
    target = load_target(args.target)
    options = {"step_limit": args.step_limit} if args.step_limit else {}
    result = Simulator(program, target, trace=bool(args.trace), **options).run(
        initial_hbm(args.file, args.hbm_image))
    print(format_report(result.report))
    if args.report:
        atomic_write(args.report, json.dumps(result.report.to_dict(), indent=2) + "\n")
    if args.trace:
        atomic_write(args.trace, json.dumps(result.trace()))
    if args.hbm_out:
        atomic_write(args.hbm_out, result.hbm.tobytes())
    return 0


def _isa(args: argparse.Namespace) -> int:
    from moecc.isa_spec import available_targets, load_isa, load_target

    isa = load_isa()
    print(f"{isa.isa} ISA {isa.isa_version}: {len(isa.instructions)} instructions, {isa.word_bits}-bit words")
    print(f"{'opcode':<8}{'mnemonic':<18}{'unit':<6}{'timing':<20}semantics")
    for inst in isa.instructions:
        print(f"{inst.opcode:#06x}  {inst.mnemonic:<18}{inst.unit:<6}{inst.timing:<20}{inst.semantics}")
    if args.targets:
        for name in available_targets():
            target = load_target(name)
            print(f"{name}: {target.description}; bf16 peak {target.peak_flops_per_s('bf16') / 1e12:.1f} TFLOP/s")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ISA sub-commands."""
    asm = subparsers.add_parser("asm", help="assemble moe-asic text into a binary")
    asm.add_argument("file", help="assembly file (.s)")
    asm.add_argument("-o", "--output", help="binary to write (default: FILE with .bin)")
    asm.set_defaults(func=_asm)

    disasm = subparsers.add_parser("disasm", help="disassemble a moe-asic binary")
    disasm.add_argument("file", help="binary file (.bin)")
    disasm.add_argument("-o", "--output", help="assembly file to write (default: stdout)")
    disasm.set_defaults(func=_disasm)

    sim = subparsers.add_parser("sim", help="simulate a moe-asic program (.s or .bin)")
    sim.add_argument("file", help="program: assembly text or binary")
    sim.add_argument("--target", default="moe-asic-v1", help="target name or target .toml (default moe-asic-v1)")
    sim.add_argument("--hbm-image", help="initial HBM: .npz of regions, .npy, or raw bytes "
                                         "(default: FILE's companion .npz if present)")
    sim.add_argument("--report", help="write the report as JSON")
    sim.add_argument("--trace", help="write a Chrome/Perfetto trace JSON")
    sim.add_argument("--hbm-out", help="write the final HBM image (raw bytes)")
    sim.add_argument("--step-limit", type=int, default=0, help="fault after this many instructions")
    sim.set_defaults(func=_sim)

    isa = subparsers.add_parser("isa", help="print the moe-asic instruction table")
    isa.add_argument("--targets", action="store_true", help="also list the target descriptions")
    isa.set_defaults(func=_isa)
