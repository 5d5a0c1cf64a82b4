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
    return [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted(package.rglob("*.py"))
        for line, module in imported_modules(path)
        if module == top or module.startswith(top + ".")
    ]


def test_velasandbox_imports_nothing_from_veladev():
    assert sorted(SANDBOX.rglob("*.py")), "no velasandbox sources found"
    assert imports_of(SANDBOX, "veladev") == []


def test_only_the_demo_imports_velasandbox_from_the_product():
    offenders = [hit for hit in imports_of(SERVER, "velasandbox") if not hit.startswith("server/veladev/demo.py:")]
    assert offenders == []


#: docs/architecture.md, "Layers of veladev": what each part may import of veladev ("" is the
#: package itself, for __version__).
ALLOWED = {
    "appmodel": set(),
    "cluster": set(),
    "packaged": set(),
    "catalog": {"appmodel", "cluster", "packaged"},
    "devmode": {"appmodel", "catalog", "cluster"},
    "delivery": {"appmodel", "catalog", "cluster"},
    "lsp": {"", "appmodel", "catalog", "cluster", "devmode", "delivery"},
    "cli": {"", "appmodel", "catalog", "cluster", "devmode", "delivery", "lsp", "demo"},
    "__main__": {"cli"},
    "demo": {"appmodel", "catalog", "cluster", "devmode", "delivery", "packaged"},
    "__init__": set(),
}


def layer_imports(path: Path) -> set[str]:
    """The veladev layers (first name under veladev) that `path` imports, relative imports resolved."""
    package = ["veladev", *path.relative_to(SERVER).parts[:-1]]
    layers = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            names = [[*base, *node.module.split(".")]] if node.module else [[*base, a.name] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module.split(".")]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
        else:
            continue
        for parts in names:
            if parts[0] == "veladev":
                layers.add(parts[1] if len(parts) > 1 and parts[1] != "__version__" else "")
    return layers


def test_each_layer_imports_only_what_the_architecture_allows():
    violations = []
    for path in sorted(SERVER.rglob("*.py")):
        rel = path.relative_to(SERVER)
        layer = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        assert layer in ALLOWED, f"{rel}: a new layer; add it to docs/architecture.md and ALLOWED"
        extra = layer_imports(path) - ALLOWED[layer] - {layer}
        violations += [f"{rel} imports veladev.{name}" for name in sorted(extra)]
    assert violations == []


def test_the_pure_layer_imports_nothing_of_ours_outside_it():
    spec = SERVER / "appmodel"
    outside = [
        hit
        for hit in imports_of(SERVER / "appmodel", "veladev")
        if not hit.split(": ")[1].startswith("veladev.appmodel")
    ]
    relative_up = [
        f"{p.relative_to(ROOT)}:{n.lineno}"
        for p in sorted(spec.rglob("*.py"))
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(n, ast.ImportFrom) and n.level > 1
    ]
    assert outside == [] and relative_up == []
