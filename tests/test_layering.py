"""Who may import whom (docs/architecture.md): checked on every module's import statements.

The rules keep the house layered: models know only torch; gateware knows only Amaranth; the host
reads the gateware's plain modules (sizes, layouts, protocol) but never the gateware itself; the
simulators and boards build on both; the CLI alone reaches everything, lazily.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hw", "sw", "sim", "boards", "models")
#: `hw` modules that import no Amaranth: what the host and the testbenches may read.
PLAIN_HW = {"params", "layout", "protocol"}
CLI = Path("sw/cli.py")


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, as absolute names (relative imports resolved)."""
    tree = ast.parse((ROOT / path).read_text())
    package = ["spikeloom", *path.parent.parts]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module
            names.add(module)
            # `from spikeloom.hw import layout` imports the module spikeloom.hw.layout
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _ours(names: set[str]) -> set[tuple[str, ...]]:
    return {tuple(name.split(".")[1:]) for name in names if name.startswith("spikeloom.")}


def _violations(path: Path) -> list[str]:
    package = path.parts[0]
    bad = []
    for parts in _ours(_imports(path)):
        top = parts[0] if parts else None
        if top is None or top == package:
            continue
        if package == "models":
            bad.append(".".join(parts))
        elif package == "hw":
            bad.append(".".join(parts))
        elif package == "sw" and path != CLI:
            if top in ("sim", "boards"):
                bad.append(".".join(parts))
            elif top == "hw" and len(parts) > 1 and parts[1] not in PLAIN_HW:
                bad.append(".".join(parts))
        elif package in ("sim", "boards"):
            if parts[:2] == ("sw", "cli") or top == "models":
                bad.append(".".join(parts))
            elif package == "sim" and top == "boards":
                bad.append(".".join(parts))
            elif package == "boards" and top == "sim":
                bad.append(".".join(parts))
    return sorted(bad)


@pytest.mark.parametrize("path", list(_modules()), ids=str)
def test_imports_follow_the_layers(path):
    assert _violations(path) == [], f"{path} imports what its layer may not"


def test_plain_hw_modules_import_no_amaranth():
    for name in PLAIN_HW:
        imports = _imports(Path("hw") / f"{name}.py")
        assert not any(module.startswith("amaranth") for module in imports), name


def test_no_package_imports_another_in_a_circle():
    edges = {package: set() for package in PACKAGES}
    for path in _modules():
        if path == CLI:
            continue
        for parts in _ours(_imports(path)):
            if parts and parts[0] != path.parts[0] and parts[0] in PACKAGES:
                edges[path.parts[0]].add(parts[0])

    def reaches(start, goal, seen=()):
        return any(
            n == goal or (n not in seen and reaches(n, goal, (*seen, n))) for n in edges[start]
        )

    assert [p for p in PACKAGES if reaches(p, p)] == [], edges


def test_benchmarks_do_not_use_the_cli():
    for path in sorted((ROOT / "bench").glob("*.py")):
        assert "spikeloom.sw.cli" not in _imports(path.relative_to(ROOT)), path


def test_the_host_runtime_imports_without_torch_or_amaranth():
    code = (
        "import sys\n"
        "import spikeloom.sw.runtime.device, spikeloom.sw.runtime.link\n"
        "import spikeloom.sw.runtime.serial, spikeloom.sw.runtime.engine_stream\n"
        "heavy = sorted(m for m in ('torch', 'amaranth') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
