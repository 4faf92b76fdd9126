"""Simulator faults (named instruction + reason), timing model checks and the ISA CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from moecc.backend.asic import Simulator
from moecc.cli import main
from moecc.errors import SimulationError
from moecc.isa_spec import Addr, ProgramBuilder, assemble, load_target

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "asm"


def _run(body: str, **options: object):  # noqa: ANN202
    return Simulator(assemble(".isa moe-asic 2\n" + body), **options).run(np.zeros(4096, np.uint8))


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("  li r1, 4000\n  dma.ld sram[r0], hbm[r1], rows=1, row_bytes=256, sstride=256, dstride=256\n  halt\n",
         "instruction 1 (dma.ld): hbm: access [0xfa0, 0x10a0) is outside"),
        ("  vpu.exp sram[r0 + 2], sram[r0], rows=1, cols=4, dtype=f32\n", "not aligned"),
        ("  li r1, 30000000\n  vpu.fill sram[r1], rows=1, cols=4, dtype=f32, imm=1.0\n", "outside the"),
        ("  mxu.mm acc[r0], sram[r0], sram[r0], m=4, k=4, n=4, dtype=f32 wait(t7)\n  halt\n",
         "instruction 0 (mxu.mm): waits on token t7, which no instruction signals"),
        ("  nop wait(t2)\n  nop wait(t1) signal(t2)\n  nop signal(t1)\n", "deadlock"),
        ("  loopi 0xffffffff, end\n  addi r1, r1, 1\nend:\n  halt\n", "runaway"),
        ("  vpu.exp sram[r0], sram[r0], rows=1, cols=4, dtype=i32\n", "float dtype"),
        ("  vpu.mov sram[r0], acc[r0], rows=1, cols=4, dtype=bf16\n", "accumulator"),
        ("  mxu.mm acc[r0], sram[r0], sram[r0], m=4, k=4, n=4, dtype=i32\n", "does not multiply i32"),
    ],
)
def test_faults_name_instruction_and_reason(body: str, fragment: str) -> None:
    with pytest.raises(SimulationError) as info:
        _run(body, step_limit=1000)
    assert fragment in str(info.value)


def test_large_hbm_to_sram_copy_reaches_bandwidth() -> None:
    builder = ProgramBuilder()
    builder.region("src", 0, "u8", (16 << 20,))
    builder.emit("li", rd=1, imm=0)
    builder.emit("li", rd=2, imm=0)
    builder.emit("loopi", count=16, body="end")
    builder.emit("dma.ld", dst=Addr(2), src=Addr(1), rows=32, row_bytes=32768, sstride=32768, dstride=32768)
    builder.emit("addi", rd=1, ra=1, imm=1 << 20)
    builder.emit("addi", rd=2, ra=2, imm=1 << 20)
    builder.label("end")
    builder.emit("halt")
    report = Simulator(builder.build(), "moe-asic-v1", trace=False).run().report
    assert report.hbm_bytes_read == 16 << 20
    assert report.hbm_bandwidth_utilisation >= 0.90
    assert report.roofline_bound == "memory"


def test_an_on_chip_copy_of_bytes_a_load_is_landing_waits_for_them() -> None:
    """A unit's results take effect in program order, so no token orders a load and a later
    on-chip copy of its bytes on the ld queue: the copy's data moves only once the load's has
    landed (the copy's own 16-cycle setup would otherwise let it finish first)."""
    nbytes = 256 * 1024
    body = f""".isa moe-asic 2
.region x 0x0 u8 [{nbytes}]
    li r1, 0x100000
    li r2, 0x80000
    dma.ld sram[r0], hbm[r0], rows=256, row_bytes=1024, sstride=1024, dstride=1024
    dma.ld.sram sram[r1], sram[r0], rows=1, row_bytes=1024, sstride=0, dstride=0 signal(t1)
    dma.ld.sram sram[r1 + 0x1000], sram[r2], rows=1, row_bytes=1024, sstride=0, dstride=0 signal(t2)
    nop wait(t1, t2)
    halt
"""
    v1 = load_target("moe-asic-v1")
    result = Simulator(assemble(body), v1).run({"x": np.arange(nbytes, dtype=np.uint8)})
    load, copy, apart = result.pc_end[2], result.pc_end[3], result.pc_end[4]
    assert copy >= load > v1.dma_setup_cycles + nbytes / v1.hbm_bytes_per_cycle - 2
    assert apart < 100  # bytes no load is writing: copied at once


def test_back_to_back_tiles_pay_fill_and_drain_once() -> None:
    target = load_target("moe-asic-v1")
    rows, cols, m = target.mxu_rows, target.mxu_cols, 256

    def cycles(tiles: int) -> tuple[int, int]:
        body = "".join(
            f"  mxu.mm acc[r0], sram[r0], sram[r0], m={m}, k={rows}, n={cols}, dtype=bf16, acc=1\n"
            for _ in range(tiles))
        report = _run(body + "  halt\n").report
        return report.units["mxu"].busy_cycles, report.total_cycles

    busy1, total1 = cycles(1)
    busy4, total4 = cycles(4)
    isolated = 2 * rows + cols + m - 2  # SCALE-Sim weight-stationary fold
    assert busy1 == m and busy4 == 4 * m
    assert total4 - total1 == 3 * m  # later tiles only add their streaming time
    assert total1 >= isolated


def test_weight_preload_overlaps_the_wait_for_activations() -> None:
    """``mxu.wpre`` shifts the next matmul's first tile in while the matmul still waits on its
    activations (a long VPU op writing them): the matmul starts streaming when they arrive,
    ``rows`` cycles sooner than without; a preload of another tile gains nothing."""
    target = load_target("moe-asic-v1")
    rows, cols = target.mxu_rows, target.mxu_cols

    def total(preload: str) -> int:
        body = ("  li r1, 65536\n  li r2, 131072\n"
                "  vpu.exp sram[r0], sram[r0], rows=64, cols=2048, dtype=f32 signal(t1)\n"
                + (f"  mxu.wpre sram[{preload}], k={rows}, n={cols}, dtype=f32\n" if preload else "")
                + f"  mxu.mm acc[r0], sram[r0], sram[r1], m=8, k={rows}, n={cols}, dtype=f32 wait(t1)\n  halt\n")
        return _run(body).report.total_cycles

    plain = total("")
    assert total("r1") == plain - rows
    assert total("r2") == plain


def test_trace_has_one_track_per_unit(tmp_path: Path) -> None:
    result = Simulator(assemble((EXAMPLES / "softmax.s").read_text())).run()
    names = {e["args"]["name"] for e in result.trace_events if e["name"] == "thread_name"}
    assert names == {"ctrl", "ld", "st", "mxu", "vpu"}
    assert any(e["ph"] == "X" and e["name"] == "vpu.exp" for e in result.trace_events)
    json.dumps(result.report.to_dict())


def test_cli_asm_disasm_sim(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary, text = tmp_path / "p.bin", tmp_path / "p.s"
    assert main(["asm", str(EXAMPLES / "embedding.s"), "-o", str(binary)]) == 0
    assert main(["disasm", str(binary), "-o", str(text)]) == 0
    report, trace = tmp_path / "r.json", tmp_path / "t.json"
    assert main(["sim", str(EXAMPLES / "embedding.s"), "--report", str(report), "--trace", str(trace)]) == 0
    assert json.loads(report.read_text())["total_cycles"] > 0
    assert "traceEvents" in json.loads(trace.read_text())
    assert main(["isa"]) == 0
    assert "mxu.mmsp" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, command",
    [
        (b"", "asm"),
        (bytes(range(256)) * 4, "sim"),
        (b".isa moe-asic 2\n  fly r1\n", "sim"),
        (b".isa moe-asic 2\n  fly r1\n", "asm"),
        (b"MOEASIC\x00\x01\x00\x01\x00\x05\x00\x00\x00", "disasm"),
        (b".isa moe-asic 2\n  nop wait(t3)\n", "sim"),
    ],
)
def test_cli_reports_bad_input_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           content: bytes, command: str) -> None:
    path = tmp_path / "bad.s"
    path.write_bytes(content)
    args = [command, str(path)] + (["-o", str(tmp_path / "out.bin")] if command == "asm" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("moecc: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out.bin").exists()
