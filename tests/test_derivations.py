"""The derivations stay true to the code: every function and test they name exists, every
equation of the paper is cited in the code and has a test named after it, and the index is complete."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DERIVATIONS = sorted((ROOT / "derivations").glob("*.md"))
TOPICS = [path for path in DERIVATIONS if path.name != "README.md"]
EQUATIONS = set(range(1, 9))

#: ``dmf_numpy/core/fusion.py: eq5_fork`` or ``dmf_numpy/core/fusion.py: FusionNet.backward``
CODE_REF = re.compile(r"dmf_numpy/((?:\w+/)*\w+)\.py: ([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)")
#: ``tests/test_paths.py::test_emf_has_no_modality_path``
TEST_REF = re.compile(r"tests/(\w+)\.py::(\w+)")
#: "Eq. 5", "Eqs. 6 and 8", "Eqs. 5-8", "Eqs. 1, 3, 4" in prose; "eq_2", "eqs_5_to_8", "eqs_3_and_4" in names
EQ_REF = re.compile(r"(?<![a-z])eqs?(?:\.\s*|_)(\d+(?:(?:\s*(?:,|and|to|-|–)\s*|_and_|_to_|_)\d+)*)",
                    re.IGNORECASE)


def defined_names(path):
    """Top-level functions and classes of a Python file, and ``Class.method`` for their methods."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names |= {f"{node.name}.{item.name}" for item in node.body if isinstance(item, ast.FunctionDef)}
    return names


def broken_references(text):
    """The code and test references in ``text`` that name no existing module or definition."""
    broken = []
    for folder, pattern, sep in (("dmf_numpy", CODE_REF, ": "), ("tests", TEST_REF, "::")):
        for module, name in pattern.findall(text):
            path = ROOT / folder / f"{module}.py"
            if not path.is_file() or name not in defined_names(path):
                broken.append(f"{folder}/{module}.py{sep}{name}")
    return broken


def equation_numbers(text):
    """Every equation number cited in ``text``; "5-8" and "5_to_8" are ranges, "and" and "," lists."""
    numbers = set()
    for group in EQ_REF.findall(text):
        parts = re.split(r"(\d+)", group)  # "5_to_8" -> ["", "5", "_to_", "8", ""]
        values = [int(v) for v in parts[1::2]]
        numbers.update(values)
        for first, last, sep in zip(values, values[1:], parts[2::2]):
            if re.search(r"to|-|–", sep):
                numbers.update(range(first, last + 1))
    return numbers


def names_of_tests():
    """The names of all test functions and methods under ``tests/``."""
    return [node.name for path in sorted((ROOT / "tests").glob("*.py"))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test")]


# ---------------------------------------------------------------- the parsers themselves

@pytest.mark.parametrize("text, expected", [
    ("Eq. 5", {5}),
    ("the typo of Eq. 3's w_l", {3}),
    ("Eqs. 6 and 8", {6, 8}),
    ("Eqs. 5-8", {5, 6, 7, 8}),
    ("Eqs. 5–8 and Eq. 2", {2, 5, 6, 7, 8}),
    ("Eqs. 1, 3, 4", {1, 3, 4}),
    ("# Eq. 4: h^m_{l+1} = f(W^m_l h^m_l + b^m_l)", {4}),
    ("test_gradcheck_fails_when_a_term_of_eqs_5_to_8_is_removed", {5, 6, 7, 8}),
    ("test_dmf_forward_equals_eqs_3_and_4_evaluated", {3, 4}),
    ("test_imf_and_emf_forward_are_eq_1_and_the_early_stack", {1}),
    ("test_eqs_2_7_and_8_in_column_form", {2, 7, 8}),
    ("Equation 5, frequency 2, seq_3, eq5_fork, eq. 12", {12}),
])
def test_equation_numbers_reads_lists_and_ranges(text, expected):
    assert equation_numbers(text) == expected


def test_broken_references_are_reported_and_good_ones_are_not():
    text = """
    good: `dmf_numpy/core/fusion.py: eq5_fork`, `dmf_numpy/core/fusion.py: FusionNet.backward`,
          `dmf_numpy/core/ops.py: sigmoid`, `dmf_numpy/cli.py: main`.
    good: `tests/test_gradients.py::test_gradcheck_every_entry_of_every_tensor`.
    bad:  `dmf_numpy/core/fusion.py: eq9_fork`, `dmf_numpy/core/fusion.py: FusionNet.sideways`,
          `dmf_numpy/nowhere.py: f`, `dmf_numpy/model.py: eq5_fork`,
          `tests/test_paths.py::test_that_was_never_written`, `tests/test_nowhere.py::test_x`.
    """
    assert broken_references(text) == [
        "dmf_numpy/core/fusion.py: eq9_fork", "dmf_numpy/core/fusion.py: FusionNet.sideways",
        "dmf_numpy/nowhere.py: f", "dmf_numpy/model.py: eq5_fork",
        "tests/test_paths.py::test_that_was_never_written", "tests/test_nowhere.py::test_x"]


# ---------------------------------------------------------------- the derivations

def test_there_are_derivations():
    assert [p.name for p in TOPICS][:4] == ["01_notation.md", "02_forward.md", "03_backward.md",
                                            "04_single_path.md"]


@pytest.mark.parametrize("path", DERIVATIONS, ids=lambda p: p.name)
def test_every_function_and_test_a_derivation_names_exists(path):
    assert broken_references(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", TOPICS, ids=lambda p: p.name)
def test_every_derivation_names_its_code_and_its_tests(path):
    text = path.read_text(encoding="utf-8")
    assert CODE_REF.search(text) and TEST_REF.search(text), f"{path.name} names no function or no test"
    assert text.count("$$") % 2 == 0, f"{path.name}: an unclosed $$ display formula"


def test_the_index_lists_exactly_the_derivations():
    index = (ROOT / "derivations" / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([^)#]+\.md)\)", index))
    assert linked == {p.name for p in TOPICS}


def test_the_derivations_cover_every_equation():
    assert equation_numbers("\n".join(p.read_text(encoding="utf-8") for p in TOPICS)) >= EQUATIONS


# ---------------------------------------------------------------- equations in code and tests

def test_every_equation_is_cited_in_the_code():
    code = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "dmf_numpy").rglob("*.py")))
    assert EQUATIONS - equation_numbers(code) == set()


def test_every_equation_has_a_test_named_after_it():
    assert EQUATIONS - equation_numbers("\n".join(names_of_tests())) == set()


# ---------------------------------------------------------------- the README's names

def test_every_module_and_folder_the_readme_names_exists():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert broken_references(readme) == []
    paths = set(re.findall(r"`(dmf_numpy/[\w/]+(?:\.py)?)`", readme))
    # "`dmf_numpy/training/optim.py`, `pretrain.py`": a bare name in a table row lies beside the first
    for row in re.findall(r"^\| `(dmf_numpy/[\w/]+)/\w+\.py`((?:, `\w+\.py`)+)", readme, re.MULTILINE):
        paths |= {f"{row[0]}/{name}" for name in re.findall(r"`(\w+\.py)`", row[1])}
    assert len(paths) > 20 and not [p for p in sorted(paths) if not (ROOT / p).exists()]


def test_the_readme_layout_lists_every_module():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "dmf_numpy").rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py")}
    listed = set(re.findall(r"`(dmf_numpy/[\w/]+\.py)`", layout))
    for row in re.findall(r"^\| `(dmf_numpy/[\w/]+)/\w+\.py`((?:, `\w+\.py`)+)", layout, re.MULTILINE):
        listed |= {f"{row[0]}/{name}" for name in re.findall(r"`(\w+\.py)`", row[1])}
    assert modules - listed == set() and listed - modules == set()


def test_every_dotted_name_the_docs_and_docstrings_cite_exists():
    """``dmf_numpy.core.fusion.FusionNet.backward`` and the like, in the package's docstrings and
    comments, the README, the derivations and the examples: each names a module or attribute."""
    import importlib

    def resolves(ref):
        parts = ref.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for attr in parts[i:]:
                if not hasattr(obj, attr):
                    return False
                obj = getattr(obj, attr)
            return True
        return False

    files = [*(ROOT / "dmf_numpy").rglob("*.py"), ROOT / "README.md", *DERIVATIONS, *(ROOT / "examples").glob("*.py")]
    refs = {(m.group(0), path.relative_to(ROOT).as_posix()) for path in files
            for m in re.finditer(r"\bdmf_numpy(?:\.[A-Za-z_]\w*)+", path.read_text(encoding="utf-8"))}
    assert len(refs) > 50 and sorted((ref, where) for ref, where in refs if not resolves(ref)) == []
    assert not resolves("dmf_numpy.model.FusionNet") and not resolves("dmf_numpy.core.fusion.FusionNet.sideways")
