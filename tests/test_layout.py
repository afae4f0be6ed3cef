"""The layout is the architecture: every import of the package, including those inside functions,
follows cli -> experiments, course -> training, datasets -> files, npz -> core, and no two
modules import each other, directly or around a cycle.

The checker reads the source with ``ast`` (nothing is imported), so it also sees imports that
only run inside a function; its own tests below feed it a small package that breaks each rule.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "dmf_numpy"

#: Layer of each part of the package; a module may import its own part or a lower layer: two
#: parts of one layer (training and datasets, files and npz) may not import each other. The core
#: is the floor, so that every part can raise its error class (core/errors.py).
LAYERS = {"core": 0, "files": 1, "npz": 1, "training": 2, "datasets": 2, "experiments": 3, "course": 3, "cli": 4,
          "__main__": 5}
#: What the core may import from outside the package: NumPy and the standard library, nothing else.
CORE_THIRD_PARTY = {"numpy"}


def package_sources(root=ROOT / PACKAGE):
    """``{module name: source}`` of every module of the package (``dmf_numpy.core.fusion``, ...)."""
    sources = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        sources[name] = path.read_text(encoding="utf-8")
    return sources


def is_package(name, sources):
    return any(other.startswith(name + ".") for other in sources)


def imports(name, source, sources):
    """Every module imported anywhere in ``source`` (module ``name``): absolute names, with
    relative imports resolved and ``from package import module`` counted as that module."""
    base = name.split(".") if is_package(name, sources) else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            prefix = base[:len(base) - node.level + 1] if node.level else []
            module = ".".join(prefix + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in sources)
    return found


def part(name):
    """The part of the package a module belongs to: ``core``, ``training``, ..., or ``""`` for
    the package's own ``__init__``."""
    rest = name.split(".")[1:]
    return rest[0] if rest else ""


def layer_violations(sources):
    """``"importer -> imported (why)"`` for every import against the layers."""
    problems = []
    for name, source in sources.items():
        for target in sorted(imports(name, source, sources)):
            top = target.split(".")[0]
            if top != PACKAGE:
                if part(name) == "core" and top not in CORE_THIRD_PARTY and top not in sys.stdlib_module_names \
                        and top != "__future__":
                    problems.append(f"{name} -> {target} (core uses NumPy and the standard library only)")
                continue
            src, dst = part(name), part(target)
            if src == "" or target == PACKAGE:  # the package's public API sits above its own layers
                if target == PACKAGE and src != "__main__":
                    problems.append(f"{name} -> {target} (import the module that defines it, not the package)")
                continue
            if src == "core" and dst != "core":
                problems.append(f"{name} -> {target} (core imports nothing outside core)")
            elif LAYERS[dst] > LAYERS[src]:
                problems.append(f"{name} -> {target} (upward import)")
            elif LAYERS[dst] == LAYERS[src] and src != dst:
                problems.append(f"{name} -> {target} (sideways import between {src} and {dst})")
    return problems


def cycles(sources):
    """Each import cycle between modules of the package, as a list of names (empty if none)."""
    graph = {name: {t for t in imports(name, source, sources) if t in sources and t != name}
             for name, source in sources.items()}
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


# ---------------------------------------------------------------- the checker can fail

BAD_PACKAGE = {
    "dmf_numpy": "from .core.fusion import DMF\n",
    "dmf_numpy.core": "",
    "dmf_numpy.core.fusion": "import scipy.linalg\n\ndef f():\n    from ..training import loop\n",
    "dmf_numpy.training": "",
    "dmf_numpy.training.loop": "from ..datasets.halves import load\nfrom ..experiments import table1\n",
    "dmf_numpy.datasets": "",
    "dmf_numpy.datasets.halves": "def load():\n    from dmf_numpy.datasets import store\n",
    "dmf_numpy.datasets.store": "from . import halves\n",
    "dmf_numpy.experiments": "",
    "dmf_numpy.experiments.table1": "import dmf_numpy\nfrom ..training.loop import fit\n",
}


def test_the_checker_finds_every_kind_of_violation():
    assert layer_violations(BAD_PACKAGE) == [
        "dmf_numpy.core.fusion -> dmf_numpy.training (core imports nothing outside core)",
        "dmf_numpy.core.fusion -> dmf_numpy.training.loop (core imports nothing outside core)",
        "dmf_numpy.core.fusion -> scipy.linalg (core uses NumPy and the standard library only)",
        "dmf_numpy.training.loop -> dmf_numpy.datasets.halves (sideways import between training and datasets)",
        "dmf_numpy.training.loop -> dmf_numpy.experiments (upward import)",
        "dmf_numpy.training.loop -> dmf_numpy.experiments.table1 (upward import)",
        "dmf_numpy.experiments.table1 -> dmf_numpy (import the module that defines it, not the package)",
    ]


def test_the_checker_finds_cycles_through_imports_inside_functions():
    assert cycles(BAD_PACKAGE) == [
        ["dmf_numpy.datasets.halves", "dmf_numpy.datasets.store", "dmf_numpy.datasets.halves"],
        # through the package's __init__, which table1 imports
        ["dmf_numpy", "dmf_numpy.core.fusion", "dmf_numpy.training.loop", "dmf_numpy.experiments.table1",
         "dmf_numpy"],
        ["dmf_numpy.training.loop", "dmf_numpy.experiments.table1", "dmf_numpy.training.loop"],
    ]


def test_relative_imports_are_resolved():
    sources = {"dmf_numpy": "", "dmf_numpy.a": "", "dmf_numpy.a.b": "from .c import x\nfrom .. import d\n",
               "dmf_numpy.a.c": "", "dmf_numpy.d": ""}
    assert imports("dmf_numpy.a.b", sources["dmf_numpy.a.b"], sources) == {"dmf_numpy.a.c", "dmf_numpy", "dmf_numpy.d"}


# ---------------------------------------------------------------- the package itself

SOURCES = package_sources()


def test_every_module_belongs_to_a_layer():
    assert {part(name) for name in SOURCES} - {""} == set(LAYERS)


def test_the_package_follows_the_layers():
    assert layer_violations(SOURCES) == []


def test_the_package_has_no_import_cycle():
    assert cycles(SOURCES) == []


@pytest.mark.parametrize("name", sorted(n for n in SOURCES if part(n) != "experiments"))
def test_matplotlib_is_imported_only_by_the_experiments(name):
    assert not any(t.split(".")[0] == "matplotlib" for t in imports(name, SOURCES[name], SOURCES))
