"""The iCEBreaker bitstream builds from scratch with the pinned open tools (a few minutes)."""

import json

from spikeloom.sw.cli import main


def test_icebreaker_bitstream_builds(tmp_path, capsys):
    out = tmp_path / "icebreaker"
    status = main(["build", "--board", "icebreaker", "--out", str(out)])
    printed = capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    print(printed.out)
    # The board's default clock is chosen below what place and route reaches with seed 1.
    assert status == 0, printed.err
    assert (out / "spikeloom.bin").stat().st_size > 100_000
    assert report["board"] == "icebreaker" and report["device"] == "iCE40UP5K"
    assert 0 < report["luts"] <= report["luts_total"] == 5280
    assert 0 < report["brams"] <= report["brams_total"] == 30
    assert report["spram"] >= 1
    assert report["clock_mhz"] == 24.0
    assert report["timing_met"] and report["fmax_mhz"] >= report["clock_mhz"]
    assert "Fmax" in (out / "report.txt").read_text()
