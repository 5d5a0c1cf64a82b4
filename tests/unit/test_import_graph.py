"""The package boundaries in docs/architecture.md, read from the source with ast (imports inside
functions included, since lazy imports are the easy way to slip past a module-level check)."""

import ast
from pathlib import Path

from support import ROOT

SANDBOX = ROOT / "sandbox" / "velasandbox"
SERVER = ROOT / "server" / "veladev"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every absolute module an import statement in `path` names, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def imports_of(package: Path, top: str) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line}: {module}"
            for path in sorted(package.rglob("*.py"))
            for line, module in imported_modules(path)
            if module == top or module.startswith(top + ".")]


def test_velasandbox_imports_nothing_from_veladev():
    assert sorted(SANDBOX.rglob("*.py")), "no velasandbox sources found"
    assert imports_of(SANDBOX, "veladev") == []


def test_only_the_demo_imports_velasandbox_from_the_product():
    offenders = [hit for hit in imports_of(SERVER, "velasandbox") if not hit.startswith("server/veladev/demo.py:")]
    assert offenders == []


def test_the_pure_layer_imports_nothing_of_ours_outside_it():
    spec = SERVER / "spec"
    outside = [hit for hit in imports_of(SERVER / "spec", "veladev") if not hit.split(": ")[1].startswith("veladev.spec")]
    relative_up = [f"{p.relative_to(ROOT)}:{n.lineno}" for p in sorted(spec.rglob("*.py"))
                   for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
                   if isinstance(n, ast.ImportFrom) and n.level > 1]
    assert outside == [] and relative_up == []
