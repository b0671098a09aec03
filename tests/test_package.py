"""The wheel: one top-level package, every file the code reads at run time, and a working install.

Builds the wheel from the repository, checks what it holds, installs it into a fresh virtual
environment (its dependencies come from this environment's site-packages, so nothing is
downloaded) and runs a small Program on the simulated board from there, outside the repository.
"""

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
from spikeloom.sim.toolchain import simulator_missing
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.program import save_program

from tests.sw.test_device import small_program

ROOT = Path(__file__).resolve().parent.parent
#: Files the code opens at run time, not imports: they must travel in the wheel.
DATA_FILES = ("spikeloom/sw/reports/energy.yaml", "spikeloom/sim/verilator_transport_main.cpp")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a clean copy: setuptools stages files in `build/` next to the sources, and a
    # stale stage there (a module since moved) would end up in the wheel.
    source = tmp_path_factory.mktemp("source") / "spikeloom"
    ignore = shutil.ignore_patterns(".git", ".venv", "build", "runs", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT, source, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(out), str(source)],
        check=True,
        cwd=out,
    )
    (path,) = out.glob("spikeloom-*.whl")
    return path


def test_the_wheel_installs_one_package_with_its_data(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"spikeloom", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    for name in DATA_FILES:
        assert name in names, name
    # Every package of the repository, and every module in it.
    for folder in ("hw", "sw", "sim", "boards", "models"):
        for source in (ROOT / folder).rglob("*.py"):
            assert f"spikeloom/{source.relative_to(ROOT)}" in names, source
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    # Nothing of the repository's other folders (tests, bench, docs) and no build outputs.
    assert not [n for n in names if n.startswith(("spikeloom/tests", "tests/", "bench/", "build"))]


@pytest.mark.skipif(simulator_missing("verilator") is not None, reason="needs Verilator")
def test_an_installed_wheel_runs_a_program(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # The dependencies, from this environment; a path line in a .pth file adds the folder but
    # runs none of the .pth files in it, so this environment's editable spikeloom stays out.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + ["--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    installed = site / "spikeloom"
    before = sorted(p for p in installed.rglob("*") if "__pycache__" not in p.parts)

    # The Program `tests/sw/test_cli.py` runs on the simulated board: one cached build serves both.
    program, spikes = small_program(5)
    save_program(program, tmp_path / "program")
    np.save(tmp_path / "spikes.npy", spikes)
    env = {"PATH": f"{venv / 'bin'}:{Path(sys.executable).parent}:/usr/bin:/bin"}
    env["HOME"] = str(Path.home())
    completed = subprocess.run(
        [str(venv / "bin" / "spikeloom"), "run", "program", "--input", "spikes.npy"]
        + ["--board", "sim", "--out", "result.npz"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    where = subprocess.run(
        [str(python), "-c", "import spikeloom.sw.cli as c; print(c.__file__)"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(installed)), where
    with np.load(tmp_path / "result.npz") as result:
        np.testing.assert_array_equal(result["readout"], run_golden(program, spikes).readout)
    # The run built or reused its simulator in the cache directory, not in the package.
    after = sorted(p for p in installed.rglob("*") if "__pycache__" not in p.parts)
    assert after == before
    shutil.rmtree(venv)
