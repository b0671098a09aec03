"""Every subcommand, fed bad arguments and bad files, ends in one line and a non-zero exit.

Each case runs `main` in this process: an uncaught exception (a traceback for the user) fails
the test by itself. The cases fail before any long work starts, so the sweep takes seconds.
"""

import re
import shutil

import numpy as np
import pytest
import torch
import yaml
from spikeloom.sw.cli import main
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.program import load_program


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small trained model, its Program, inputs, a result, and a gallery of bad files."""
    root = tmp_path_factory.mktemp("bad")
    ckpt, program = root / "model.pt", root / "program"
    argv = ["train", "--hidden", "16", "--epochs", "1", "--encoder", "thermometer", "--quiet"]
    assert main([*argv, "--out", str(ckpt)]) == 0
    assert main(["compile", str(ckpt), "--out", str(program), "--no-eval"]) == 0
    assert (
        main(
            ["encode", str(program), "--out", str(root / "x.npy"), "--labels", str(root / "y.npy")]
        )
        == 0
    )
    x = np.load(root / "x.npy")
    run_golden(load_program(program), x[:5]).save(root / "r5.npz")
    result = (root / "r5.npz").read_bytes()
    (root / "truncated.npz").write_bytes(result[: len(result) // 2])
    np.savez(root / "strings.npz", readout=np.array(["a"]), cycles=np.zeros(1, np.int64))

    (root / "empty.npy").write_bytes(b"")
    (root / "text.npy").write_text("not numpy\n")
    (root / "folder").mkdir()
    np.savez(root / "archive.npz", x=x[:2])
    shutil.copy(root / "archive.npz", root / "archive_as.npy")
    data = (root / "x.npy").read_bytes()
    (root / "truncated.npy").write_bytes(data[: len(data) // 2])
    np.save(root / "wrong_shape.npy", x[:2, :, :5])
    np.save(root / "twos.npy", x[:2] * 2)
    np.save(root / "labels_short.npy", np.zeros(3, np.int64))
    np.save(root / "labels_2d.npy", np.zeros((360, 2), np.int64))
    (root / "empty.pt").write_bytes(b"")
    (root / "text.pt").write_text("not a checkpoint\n")
    torch.save([1, 2, 3], root / "list.pt")
    blob = ckpt.read_bytes()
    (root / "truncated.pt").write_bytes(blob[: len(blob) // 2])
    (root / "afile.txt").write_text("x")
    (root / "foreign").mkdir()
    (root / "foreign" / "notes.txt").write_text("mine")

    def program_variant(name, edit=None, npz=None):
        folder = root / name
        shutil.copytree(program, folder)
        if edit is not None:
            header = yaml.safe_load((folder / "program.yaml").read_text())
            edit(header)
            (folder / "program.yaml").write_text(yaml.safe_dump(header))
        if npz is not None:
            (folder / "program.npz").write_bytes(npz)

    program_variant("typo_top", lambda h: h.update(timestep=4))
    program_variant("typo_layer", lambda h: h["layers"][0].update(leakshift=1))
    program_variant("typo_encoder", lambda h: h["encoder"].update(level=4))
    program_variant("bad_dataset", lambda h: h.update(dataset="cifar"))
    npz = (program / "program.npz").read_bytes()
    program_variant("truncated_npz", npz=npz[: len(npz) // 2])
    program_variant("empty_yaml")
    (root / "empty_yaml" / "program.yaml").write_text("")
    return root


def _call(capsys, argv) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    return code, capsys.readouterr().err


# (argv with {f} for the fixture folder, text the one-line message must contain)
CASES = [
    # train: every number out of range, every option that contradicts another
    ("train --epochs 0 --out {f}/m.pt", "--epochs: 0 is out of range (must be 1..100000)"),
    ("train --epochs ten --out {f}/m.pt", "expected an integer, got 'ten'"),
    ("train --timesteps 0 --out {f}/m.pt", "--timesteps: 0 is out of range"),
    ("train --hidden 0 --out {f}/m.pt", "--hidden: 0 is out of range (must be 1..65536)"),
    ("train --hidden a,b --out {f}/m.pt", "expected comma-separated integers"),
    ("train --batch-size 1 --out {f}/m.pt", "--batch-size: 1 is out of range (must be 2.."),
    ("train --lr 0 --out {f}/m.pt", "--lr: 0 is out of range (must be > 0"),
    ("train --lr inf --out {f}/m.pt", "--lr: inf is out of range"),
    ("train --lr nan --out {f}/m.pt", "--lr: nan is out of range"),
    ("train --weight-bits 9,1 --out {f}/m.pt", "--weight-bits: 9 is out of range (must be 1..8)"),
    ("train --weight-bits 1 --out {f}/m.pt", "weight_bits has 1 entries but the model has 2"),
    ("train --leak-shift 32 --out {f}/m.pt", "--leak-shift: 32 is out of range (must be 0..31"),
    ("train --leak-shift -1 --out {f}/m.pt", "--leak-shift: -1 is out of range"),
    ("train --burst-max 3 --out {f}/m.pt", "a lif neuron has burst_max 1, got 3"),
    ("train --neuron lifb --out {f}/m.pt", "--neuron lifb needs --burst-max (2..7)"),
    ("train --neuron lifb --burst-max 8 --out {f}/m.pt", "--burst-max: 8 is out of range"),
    ("train --seed -1 --out {f}/m.pt", "--seed: -1 is out of range"),
    ("train --weight-budget 0 --out {f}/m.pt", "--weight-budget: 0 is out of range"),
    ("train --weight-budget 100 --out {f}/m.pt", "weight budget 100 bits is below the smallest"),
    ("train --k-bits 4 --out {f}/m.pt", "--k-bits does not apply without --weight-budget"),
    ("train --estimator weight --out {f}/m.pt", "--estimator does not apply without"),
    ("train --weight-budget 9999 --k-bits 9 --out {f}/m.pt", "--k-bits: 9 is out of range"),
    (
        "train --weight-budget 99999 --weight-bits 1,1 --out {f}/m.pt",
        "--weight-bits does not apply with --weight-budget",
    ),
    ("train --out {f}/folder", "the file name must end in .pt"),
    ("train --out {f}/m.ckpt", "the file name must end in .pt"),
    ("train --data-dir {f} --out {f}/m.pt", "--data-dir does not apply to digits"),
    ("train --dataset mnist --out {f}/m.pt", "needs --data-dir"),
    ("train --dataset mnist --data-dir {f}/folder --out {f}/m.pt", "folder"),
    ("train --encoder spiky --out {f}/m.pt", "invalid choice: 'spiky'"),
    ("train --out {f}/m.pt --frobnicate", "unrecognized arguments: --frobnicate"),
    # compile: checkpoints that are not, widths out of range, outputs that are not folders
    ("compile {f}/nope.pt --out {f}/p", "no such checkpoint file"),
    ("compile {f}/folder --out {f}/p", "is a folder, not a checkpoint file"),
    ("compile {f}/empty.pt --out {f}/p", "is empty, not a checkpoint file"),
    ("compile {f}/text.pt --out {f}/p", "not a usable spikeloom checkpoint"),
    ("compile {f}/list.pt --out {f}/p", "not a usable spikeloom checkpoint"),
    ("compile {f}/truncated.pt --out {f}/p", "not a usable spikeloom checkpoint"),
    ("compile {f}/x.npy --out {f}/p", "not a usable spikeloom checkpoint"),
    ("compile {f}/model.pt --v-bits 7 --out {f}/p", "--v-bits: 7 is out of range (must be 8..32)"),
    ("compile {f}/model.pt --v-bits 33 --out {f}/p", "--v-bits: 33 is out of range"),
    ("compile {f}/model.pt --out {f}/afile.txt", "is a file, not a folder"),
    ("compile {f}/model.pt --out {f}/foreign", "is a folder with other files in it"),
    ("compile {f}/model.pt --no-eval --dataset digits --out {f}/p", "--dataset does not apply"),
    # encode: Programs that are not, outputs named otherwise than they will be written
    ("encode {f}/nope --out {f}/s.npy", "no such Program folder"),
    ("encode {f}/afile.txt --out {f}/s.npy", "is a file, not a Program folder"),
    ("encode {f}/folder --out {f}/s.npy", "missing program.yaml"),
    ("encode {f}/typo_top --out {f}/s.npy", "unknown key 'timestep'; did you mean 'timesteps'?"),
    ("encode {f}/typo_layer --out {f}/s.npy", "layers[0]: unknown key 'leakshift'"),
    ("encode {f}/typo_encoder --out {f}/s.npy", "encoder: unknown key 'level'"),
    ("encode {f}/bad_dataset --out {f}/s.npy", "dataset: 'cifar' is not one of"),
    ("encode {f}/truncated_npz --out {f}/s.npy", "program.npz: unreadable"),
    ("encode {f}/empty_yaml --out {f}/s.npy", "expected a mapping at the top level"),
    ("encode {f}/program --out {f}/s.npz", "--out {f}/s.npz: the file name must end in .npy"),
    ("encode {f}/program --out {f}/s.npy --labels {f}/y", "--labels {f}/y: the file name must"),
    ("encode {f}/program --out {f}/s.npy --split val", "invalid choice: 'val'"),
    ("encode {f}/program --out {f}/s.npy --data-dir {f}", "--data-dir does not apply to digits"),
    # sim: every kind of bad input file, options that do not apply to the golden model
    ("sim {f}/program --input {f}/nope.npy --out {f}/r.npz", "no such spikes .npy file"),
    ("sim {f}/program --input {f}/folder --out {f}/r.npz", "is a folder, not a spikes .npy file"),
    ("sim {f}/program --input {f}/empty.npy --out {f}/r.npz", "is empty, not a spikes .npy file"),
    ("sim {f}/program --input {f}/text.npy --out {f}/r.npz", "not a .npy array"),
    ("sim {f}/program --input {f}/truncated.npy --out {f}/r.npz", "not a .npy array"),
    ("sim {f}/program --input {f}/archive.npz --out {f}/r.npz", "an .npz archive, not a .npy"),
    ("sim {f}/program --input {f}/archive_as.npy --out {f}/r.npz", "an .npz archive"),
    ("sim {f}/program --input {f}/wrong_shape.npy --out {f}/r.npz", "input spikes have shape"),
    ("sim {f}/program --input {f}/twos.npy --out {f}/r.npz", "input spikes must be 0 or 1"),
    ("sim {f}/program --input {f}/x.npy --out {f}/r.npy", "the file name must end in .npz"),
    ("sim {f}/program --input {f}/x.npy --out {f}/r.npz --backend gpu", "invalid choice: 'gpu'"),
    ("sim {f}/program --input {f}/x.npy --out {f}/r.npz --lanes 4", "--lanes does not apply to"),
    ("sim {f}/program --input {f}/x.npy --out {f}/r.npz --waves w.vcd", "--waves does not apply"),
    (
        "sim {f}/program --input {f}/x.npy --out {f}/r.npz --backend amaranth --lanes 0",
        "--lanes: 0",
    ),
    ("sim {f}/program --input {f}/x.npy --out {f}/r.npz --backend amaranth --lanes 999", "1..256"),
    (
        "sim {f}/program --input {f}/x.npy --out {f}/r.npz --backend amaranth --waves w.fst",
        "--waves w.fst: amaranth writes .vcd files",
    ),
    # eval: a float checkpoint runs on no backend
    ("eval {f}/model.pt --backend amaranth", "--backend does not apply to a checkpoint"),
    ("eval {f}/model.pt --lanes 4", "--lanes does not apply to a checkpoint"),
    ("eval {f}/model.pt --out {f}/r.npz", "--out does not apply to a checkpoint"),
    ("eval {f}/program --waves w.vcd", "--waves does not apply to the golden model"),
    ("eval {f}/program --out {f}/r.txt", "the file name must end in .npz"),
    ("eval {f}/nope.pt", "no such checkpoint file"),
    ("eval {f}/program --dataset mnist", "needs --data-dir"),
    # info
    ("info {f}/nope", "no such checkpoint file"),
    ("info {f}/empty.pt", "is empty, not a checkpoint file"),
    ("info {f}/folder", "missing program.yaml"),
    # run and bridge: boards, lanes of a fixed engine, rates and timeouts
    ("run {f}/program --board fpga --input {f}/x.npy --out {f}/r.npz", "--board 'fpga' is not"),
    ("run {f}/program --board serial: --input {f}/x.npy --out {f}/r.npz", "needs a port"),
    (
        "run {f}/program --board sim:icebreaker --lanes 4 --input {f}/x.npy --out {f}/r.npz",
        "--lanes does not apply to sim:icebreaker",
    ),
    (
        "run {f}/program --board serial:/dev/null --lanes 4 --input {f}/x.npy --out {f}/r.npz",
        "--lanes does not apply to serial:/dev/null",
    ),
    ("run {f}/program --baud 0 --input {f}/x.npy --out {f}/r.npz", "--baud: 0 is out of range"),
    ("run {f}/program --timeout 0 --input {f}/x.npy --out {f}/r.npz", "--timeout: 0 is out"),
    ("run {f}/program --timeout -1 --input {f}/x.npy --out {f}/r.npz", "--timeout: -1 is out"),
    ("run {f}/program --input {f}/x.npy --out {f}/r", "the file name must end in .npz"),
    ("run {f}/program --input {f}/empty.npy --out {f}/r.npz", "is empty, not a spikes .npy file"),
    (
        "run {f}/program --board serial:/dev/nope --input {f}/x.npy --out {f}/r.npz",
        "cannot open serial port",
    ),
    ("bridge {f}/program --board serial:/dev/x", "invalid choice"),
    ("bridge {f}/program --board sim:ulx3s-85f --lanes 8", "--lanes does not apply to sim:ulx3s"),
    ("bridge {f}/program --baud 0", "--baud: 0 is out of range"),
    ("bridge {f}/nope", "no such Program folder"),
    # build and flash
    ("build --board de10 --out {f}/b", "invalid choice: 'de10'"),
    ("build --board icebreaker --clock-mhz 0 --out {f}/b", "--clock-mhz: 0 is out of range"),
    ("build --board icebreaker --seed -1 --out {f}/b", "--seed: -1 is out of range"),
    ("build --board icebreaker --out {f}/afile.txt", "is a file, not a folder"),
    ("build --board icebreaker --program {f}/typo_top --out {f}/b", "unknown key 'timestep'"),
    ("flash --board icebreaker --dir {f} --bitstream {f}/a.bin", "not both"),
    ("flash --board icebreaker --bitstream {f}/a.bin", "a.bin"),
    # report: results that do not belong to the Program, inputs and labels that do not fit
    ("report {f}/nope.npz --program {f}/program --board icebreaker", "does not exist"),
    ("report {f}/x.npy --program {f}/program --board icebreaker", "is not a result file"),
    ("report {f}/empty.npy --program {f}/program --board icebreaker", "is not a result file"),
    ("report {f}/folder --program {f}/program --board icebreaker", "is a folder"),
    ("report {f}/truncated.npz --program {f}/program --board icebreaker", "not an .npz archive"),
    ("report {f}/strings.npz --program {f}/program --board icebreaker", "expected 2-d integers"),
    (
        "report {f}/r5.npz --program {f}/program --board icebreaker --input {f}/x.npy",
        "has 360 samples, the result was run on 5",
    ),
    (
        "report {f}/r5.npz --program {f}/program --board icebreaker --labels {f}/y.npy",
        "has 360 labels for 5 samples",
    ),
    (
        "report {f}/r5.npz --program {f}/program --board icebreaker --labels {f}/labels_2d.npy",
        "expected a 1-d integer array",
    ),
    (
        "report {f}/r5.npz --program {f}/program --board icebreaker --neurons fc1:0",
        "--neurons does not apply without --input",
    ),
    ("report {f}/r5.npz --program {f}/program --board icebreaker --neurons fc1:x", "LAYER:I,J"),
    ("report {f}/r5.npz --program {f}/program --board icebreaker --sample -1", "--sample: -1"),
    (
        "report {f}/r5.npz --program {f}/program --board icebreaker --sample 5 --out {f}/rep",
        "--sample 5 is outside 0..4",
    ),
    ("report {f}/r5.npz --program {f}/program --board pynq", "invalid choice: 'pynq'"),
    (
        "report {f}/r5.npz --program {f}/program --board icebreaker --build {f}/folder",
        "does not exist",
    ),
    (
        "report {f}/r5.npz --program {f}/program --board icebreaker --build {f}/text.npy",
        "is not a build report",
    ),
    # demo
    ("demo --epochs 0", "--epochs: 0 is out of range"),
    ("demo --board sim", "invalid choice: 'sim'"),
    ("demo --backend golden --lanes 4", "--lanes does not apply to the golden model"),
    ("demo --backend golden --board sim:icebreaker", "--board does not apply with --backend"),
    ("demo --lanes 4", "--lanes does not apply to a board"),
    ("demo --out {f}/afile.txt", "is a file, not a folder"),
    ("demo --out {f}/foreign", "is a folder with other files in it"),
    ("clean-cache --all", "unrecognized arguments: --all"),
    ("nonsense", "invalid choice: 'nonsense'"),
]


@pytest.mark.parametrize("argv, expected", CASES, ids=[case[0].split()[0] for case in CASES])
def test_bad_input_ends_in_one_line(files, capsys, argv, expected):
    argv = argv.format(f=files).split()
    code, err = _call(capsys, argv)
    expected = expected.format(f=files)
    assert code in (1, 2), (code, err)
    assert err.startswith("spikeloom") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert expected in err, err


def test_report_refuses_a_result_of_another_program(files, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(files / "program", other)
    header = yaml.safe_load((other / "program.yaml").read_text())
    header["timesteps"] += 1
    (other / "program.yaml").write_text(yaml.safe_dump(header))
    argv = ["report", str(files / "r5.npz"), "--program", str(other), "--board", "icebreaker"]
    code, err = _call(capsys, argv)
    assert code == 1 and "does not belong to this Program" in err, err


def _help(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 0
    return capsys.readouterr().out


def test_every_command_has_help_with_defaults_choices_and_an_example(capsys):
    from spikeloom.sw.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    top = _help(capsys, ["--help"])
    for name in commands:
        assert f"\n    {name}" in top, name
        assert re.search(f"examples?:\n  spikeloom {name}", _help(capsys, [name, "--help"])), name
    assert "epochs (default: 60)" in _help(capsys, ["train", "--help"])
    assert "{golden,amaranth,verilator,icarus}" in _help(capsys, ["sim", "--help"])
    assert "{icebreaker,ulx3s-85f}" in _help(capsys, ["build", "--help"])
    assert _help(capsys, ["--version"]).startswith("spikeloom ")
