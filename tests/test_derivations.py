"""The derivations stay true to the code: every function and test they name exists, a function
named beside equation numbers cites one of them in its docstring, every equation of the paper is
cited in the code and has a test named after it, and the index is complete."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DERIVATIONS = sorted((ROOT / "derivations").glob("*.md"))
TOPICS = [path for path in DERIVATIONS if path.name != "README.md"]
#: The README and the long pages it links to, each beside what it discusses.
DOCS = [ROOT / "README.md", ROOT / "results" / "README.md", ROOT / "examples" / "README.md",
        *sorted((ROOT / "docs").glob("*.md"))]
EQUATIONS = set(range(1, 9))

#: ``dmf_numpy/core/fusion.py: eq5_fork`` or ``dmf_numpy/core/fusion.py: FusionNet.backward``
CODE_REF = re.compile(r"dmf_numpy/((?:\w+/)*\w+)\.py: ([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)")
#: ``tests/test_paths.py::test_emf_has_no_modality_path``
TEST_REF = re.compile(r"tests/(\w+)\.py::(\w+)")
#: "Eq. 5", "Eqs. 6 and 8", "Eqs. 5-8", "Eqs. 1, 3, 4" in prose; "eq_2", "eqs_5_to_8", "eqs_3_and_4" in names
EQ_REF = re.compile(r"(?<![a-z])eqs?(?:\.\s*|_)(\d+(?:(?:\s*(?:,|and|to|-|–)\s*|_and_|_to_|_)\d+)*)",
                    re.IGNORECASE)
#: "G4", "Eqs. G1–G3", "(G7)", "Eqs. G6, G7": the generative model's own equations (05_generative.md)
G_REF = re.compile(r"(?<!\w)G(\d+)(?:\s*(?:-|–|to)\s*G(\d+))?")


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


def equations_cited(text):
    """The equations ``text`` cites: the paper's as numbers in strings ("5"), the generative
    model's as "G1" .. "G7"."""
    cited = {str(n) for n in equation_numbers(text)}
    for first, last in G_REF.findall(text):
        cited |= {f"G{n}" for n in range(int(first), int(last or first) + 1)}
    return cited


def contexts(text):
    """The pieces of Markdown a reference is read with: paragraphs (blocks between blank lines),
    except that every table row and every list item is a piece of its own."""
    pieces, current = [], []
    for line in text.splitlines():
        stripped = line.strip()
        starts_piece = not stripped or stripped.startswith("|") or re.match(r"(?:[-*+]|\d+\.)\s", stripped)
        if starts_piece and current:
            pieces.append("\n".join(current))
            current = []
        if stripped.startswith("|"):
            pieces.append(line)
        elif stripped:
            current.append(line)
    if current:
        pieces.append("\n".join(current))
    return pieces


def docstring_of(path, name):
    """The docstring of ``name`` (a function, a class or ``Class.method``) in a Python file: ""
    if it has none, None if the file does not define it."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    node = None
    for part in name.split("."):
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part), None)
        if node is None:
            return None
        body = node.body
    return ast.get_docstring(node) or ""


def equation_claims(text):
    """Every code reference in ``text`` whose paragraph, table row or list item cites equations:
    ``(reference, equations the text cites, equations the docstring cites)``. Test names are
    left out of the text first ("test_..._eqs_3_and_4" says what a test checks, not what a
    function implements), and so are the other references; a reference to nothing is skipped
    (:func:`broken_references` reports it)."""
    claims = []
    for piece in contexts(text):
        cited = equations_cited(CODE_REF.sub("", TEST_REF.sub("", piece)))
        if not cited:
            continue
        for module, name in CODE_REF.findall(piece):
            path = ROOT / "dmf_numpy" / f"{module}.py"
            doc = docstring_of(path, name) if path.is_file() else None
            if doc is not None:
                claims.append((f"dmf_numpy/{module}.py: {name}", cited, equations_cited(doc)))
    return claims


def uncited_equations(text):
    """The code references in ``text`` whose docstring cites none of the equations their
    paragraph (table row, list item) cites."""
    return [f"{ref}: the text cites {sorted(cited)}, the docstring {sorted(doc)}"
            for ref, cited, doc in equation_claims(text) if not cited & doc]


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


def test_a_function_named_beside_equations_its_docstring_does_not_cite_is_reported():
    text = """
    Eq. 6 with Eq. 8 is `dmf_numpy/core/fusion.py: eq6_shared_chain`.

    The modality path, Eq. 2, is `dmf_numpy/core/fusion.py: eq6_shared_chain`.

    | Eq. 7 | `dmf_numpy/core/fusion.py: eq7_shared_path` |
    | Eq. 4 | `dmf_numpy/core/fusion.py: eq5_fork` |

    - Eq. 3 is the forward pass of `dmf_numpy/core/fusion.py: DMF`.
    - No equation in this item: `dmf_numpy/core/ops.py: sigmoid`.

    Only a test name cites one: `dmf_numpy/core/fusion.py: FusionNet.forward`,
    `tests/test_model.py::test_dmf_forward_equals_eqs_3_and_4_evaluated_one_sample_at_a_time`.

    The fork of G7 is `dmf_numpy/core/generative.py: decoder_fork`.

    The loss, Eq. G4, is `dmf_numpy/core/generative.py: decoder_fork`.

    A function that does not exist is another test's business: Eq. 5, `dmf_numpy/core/fusion.py: eq9_fork`.
    """
    assert uncited_equations(text) == [
        "dmf_numpy/core/fusion.py: eq6_shared_chain: the text cites ['2'], the docstring ['6', '8']",
        "dmf_numpy/core/fusion.py: eq5_fork: the text cites ['4'], the docstring ['2', '5', '7']",
        "dmf_numpy/core/generative.py: decoder_fork: the text cites ['G4'], the docstring ['G7']"]
    assert [ref for ref, _, _ in equation_claims(text)] == [
        "dmf_numpy/core/fusion.py: eq6_shared_chain", "dmf_numpy/core/fusion.py: eq6_shared_chain",
        "dmf_numpy/core/fusion.py: eq7_shared_path", "dmf_numpy/core/fusion.py: eq5_fork",
        "dmf_numpy/core/fusion.py: DMF", "dmf_numpy/core/generative.py: decoder_fork",
        "dmf_numpy/core/generative.py: decoder_fork"]


@pytest.mark.parametrize("text, expected", [
    ("Eqs. G1–G3 and Eq. 4", {"G1", "G2", "G3", "4"}),
    ("(G7), Eqs. G6, G7", {"G6", "G7"}),
    ("Eq. G4; Eqs. 5-8", {"G4", "5", "6", "7", "8"}),
    ("GAN, G-string, NG7, eq_g4", set()),
])
def test_equations_cited_reads_the_papers_and_the_generative_models(text, expected):
    assert equations_cited(text) == expected


# ---------------------------------------------------------------- the derivations

def test_there_are_derivations():
    assert [p.name for p in TOPICS][:4] == ["01_notation.md", "02_forward.md", "03_backward.md",
                                            "04_single_path.md"]


@pytest.mark.parametrize("path", DERIVATIONS, ids=lambda p: p.name)
def test_every_function_and_test_a_derivation_names_exists(path):
    assert broken_references(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", DERIVATIONS, ids=lambda p: p.name)
def test_every_function_named_beside_equations_cites_one_of_them_in_its_docstring(path):
    assert uncited_equations(path.read_text(encoding="utf-8")) == []


def test_the_docstring_check_has_something_to_check():
    claims = [claim for path in DERIVATIONS for claim in equation_claims(path.read_text(encoding="utf-8"))]
    assert len(claims) >= 10 and len({ref for ref, _, _ in claims}) >= 8


def test_the_parameter_counts_05_states_are_the_codes():
    from dmf_numpy import GenerativeDMF

    model = GenerativeDMF((392, 512, 128), (392, 512, 128), (512, 256, 64))  # the paper's MNIST sizes

    def count(first_letters):  # W_, b_: the encoder's; V_, c_: the decoder's
        return sum(v.size for k, v in model.params.items() if k[0] in first_letters)

    encoder, decoder, weights = count("Wb"), count("Vc"), count("W")
    assert encoder + decoder == model.n_params and count("V") == weights
    text = " ".join((ROOT / "derivations" / "05_generative.md").read_text(encoding="utf-8").split())
    for figure in (f"encoder has {encoder:,} parameters", f"decoder {decoder:,},", f"{model.n_params:,} in all",
                   f"{weights:,} on each side", f"= {decoder - encoder}$ more"):
        assert figure in text, figure


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

def test_the_docs_are_there():
    assert all(path.is_file() for path in DOCS) and len(DOCS) >= 4


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_function_and_test_a_page_names_exists(path):
    assert broken_references(path.read_text(encoding="utf-8")) == []


def github_anchor(heading):
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_github_anchor_is_githubs():
    assert github_anchor("The paper's 1.40 %, reached with regularization") == "the-papers-140--reached-with-regularization"
    assert github_anchor("Parameters (`model.params`)") == "parameters-modelparams"


def broken_links(path):
    """The relative links and images of a Markdown file whose file, folder or heading does not exist."""
    text = path.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", dest.read_text(encoding="utf-8"), re.MULTILINE)
            if anchor not in {github_anchor(h) for h in headings}:
                broken.append(target)
    return broken


@pytest.mark.parametrize("path", [*DOCS, *DERIVATIONS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_of_the_docs_and_derivations_leads_somewhere(path):
    assert broken_links(path) == []


def test_every_module_and_folder_the_readme_names_exists():
    readme = "\n".join(path.read_text(encoding="utf-8") for path in DOCS)
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
    comments, the README and its pages, the derivations and the examples: each names a module or
    attribute."""
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

    files = [*(ROOT / "dmf_numpy").rglob("*.py"), *DOCS, *DERIVATIONS, *(ROOT / "examples").glob("*.py")]
    refs = {(m.group(0), path.relative_to(ROOT).as_posix()) for path in files
            for m in re.finditer(r"\bdmf_numpy(?:\.[A-Za-z_]\w*)+", path.read_text(encoding="utf-8"))}
    assert len(refs) > 50 and sorted((ref, where) for ref, where in refs if not resolves(ref)) == []
    assert not resolves("dmf_numpy.model.FusionNet") and not resolves("dmf_numpy.core.fusion.FusionNet.sideways")


# ---------------------------------------------------------------- 03's column form is the one-page DMF's

#: The rules of 03_backward.md that must each show their column form in ``python column-form`` code.
COLUMN_FORM_SECTIONS = ["Rule A", "Rule B", "Step 1", "Step 2", "Step 3", "Step 4", "Step 5", "Step 6"]


def column_form_blocks(text):
    """``[(section, code)]``: the ``python column-form`` code blocks of a derivation, each with the
    rule ("Rule A", "Rule B", "The fork rule") or step ("Step 3") it stands in."""
    blocks, section, code = [], None, None
    for line in text.splitlines():
        if code is not None:
            if line.strip() == "```":
                blocks.append((section, "\n".join(code)))
                code = None
            else:
                code.append(line)
            continue
        heading = re.match(r"## (Step \d+)|\*\*(Rule [AB]|The fork rule)\b", line)
        if heading:
            section = heading.group(1) or heading.group(2)
        elif line.startswith("## "):
            section = line[3:]
        elif line.strip() == "```python column-form":
            code = []
    return blocks


def column_form_errors(text):
    """What is wrong with the column forms in ``text`` (03_backward.md): a rule without one, or a
    line whose result is not what the one-page DMF computes. Every block is run, in order, in one
    namespace of arrays with the one-page DMF's orientation (samples as columns, N = 5, every
    size different so that a misplaced transpose cannot go unnoticed); the scores, labels and
    head are those of a real one-page DMF, whose softmax delta and head gradients they must give."""
    import numpy as np

    import dmf_numpy.core.one_page as op

    rng = np.random.default_rng(0)
    N, C = 5, 3
    params = op.init_params((4, 3), (3, 2), (6, 4), C, seed=1)
    x, y, labels = rng.uniform(size=(4, N)), rng.uniform(size=(3, N)), rng.integers(0, C, size=N)
    z, (h, s) = op.forward(params, x, y)
    seen = {"d_z": [], "delta_out": []}
    with pytest.MonkeyPatch.context() as patch:  # what one_page.loss_and_grads hands its backward pass
        backward, pre_activation = op.backward, op.delta_pre_activation
        patch.setattr(op, "backward", lambda p, cache, d_z: seen["d_z"].append(d_z) or backward(p, cache, d_z))
        patch.setattr(op, "delta_pre_activation",
                      lambda delta_out, out: seen["delta_out"].append(delta_out) or pre_activation(delta_out, out))
        grads = op.loss_and_grads(params, x, y, labels)[1]
    onehot = np.zeros((C, N))
    onehot[labels, np.arange(N)] = 1
    code = {"d_z": seen["d_z"][0], "p": seen["d_z"][0] * N + onehot, "delta_s_L": seen["delta_out"][0],
            "d_W_out": grads["W_out"], "d_b_out": grads["b_out"]}

    def uniform(*shape):
        return rng.uniform(0.05, 0.95, size=shape)

    ns = {"np": np, "N": N, "z": z, "labels": labels, "W_out": params["W_out"], "s_L": s[2],
          "a": rng.normal(size=(9, N)), "W": rng.normal(size=(10, 9)), "delta": rng.normal(size=(10, N)),
          "delta_s": rng.normal(size=(7, N)), "s": uniform(7, N),
          "delta_s_next": rng.normal(size=(6, N)), "s_next": uniform(6, N), "W_s": rng.normal(size=(6, 7)),
          "h_x": uniform(2, N), "W_xs": rng.normal(size=(7, 2)),
          "delta_h_next": rng.normal(size=(8, N)), "h_next": uniform(8, N), "W_x": rng.normal(size=(8, 2))}
    expected = {
        "d_a": lambda n: op.eq2_modality_path(n["W"], n["delta"]),
        "d_W": lambda n: op.weight_gradient(n["delta"], n["a"]),
        "d_b": lambda n: op.bias_gradient(n["delta"]),
        "delta_M": lambda n: op.delta_pre_activation(n["delta_s"], n["s"]),
        **{name: (lambda n, name=name: code[name]) for name in code},
        "delta_M_next": lambda n: op.delta_pre_activation(n["delta_s_next"], n["s_next"]),
        "delta_s": lambda n: op.eq6_shared_chain(n["W_s"], n["delta_M_next"]),
        "d_W_s": lambda n: op.weight_gradient(n["delta_M_next"], n["s"]),
        "d_b_s_next": lambda n: op.bias_gradient(n["delta_M_next"]),
        "shared_path": lambda n: op.eq7_shared_path(n["W_xs"], n["delta_M"]),
        "d_W_xs": lambda n: op.weight_gradient(n["delta_M"], n["h_x"]),
        "d_b_s": lambda n: op.bias_gradient(n["delta_M"]),
        "delta_M_x_next": lambda n: op.delta_pre_activation(n["delta_h_next"], n["h_next"]),
        "modality_path": lambda n: op.eq2_modality_path(n["W_x"], n["delta_M_x_next"]),
        "d_W_x": lambda n: op.weight_gradient(n["delta_M_x_next"], n["h_x"]),
        "d_b_x": lambda n: op.bias_gradient(n["delta_M_x_next"]),
        "delta_h": lambda n: op.eq5_fork(n["modality_path"], n["shared_path"]),
    }

    errors, blocks, assigned = [], column_form_blocks(text), set()
    errors += [f"{section}: no column form" for section in COLUMN_FORM_SECTIONS
               if section not in {where for where, _ in blocks}]
    for where, source in blocks:
        targets = {node.id for node in ast.walk(ast.parse(source))
                   if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
        targets |= {node.target.value.id for node in ast.walk(ast.parse(source))
                    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Subscript)}
        try:
            exec(source, ns)
        except Exception as error:  # a line that does not even run: a shape error, a name not defined
            errors.append(f"{where}: {type(error).__name__}: {error}")
            continue
        for name in sorted(targets):
            assigned.add(name)
            if name not in expected:
                errors.append(f"{where}: {name} is not a quantity the test knows")
                continue
            want, got = np.asarray(expected[name](ns)), np.asarray(ns[name])
            if want.shape != got.shape or not np.allclose(got, want, rtol=1e-12, atol=1e-15):
                errors.append(f"{where}: {name} is not what the one-page DMF computes")
    errors += [f"no column-form line computes {name}" for name in sorted(set(expected) - assigned)]
    return errors


def test_every_column_form_rule_of_03_is_the_one_page_code():
    text = (ROOT / "derivations" / "03_backward.md").read_text(encoding="utf-8")
    assert [where for where, _ in column_form_blocks(text)] == COLUMN_FORM_SECTIONS
    assert column_form_errors(text) == []
    # every rule and every step that has a formula also has its column form in words
    for section in ("Rule A", "Rule B", "The fork rule", *COLUMN_FORM_SECTIONS[2:]):
        start = text.index(f"## {section}" if section.startswith("Step") else f"**{section}")
        following = re.search(r"\n## |\n\*\*(?:Rule [AB]|The fork rule)\b", text[start + 3:])
        assert "**Column form** (`one_page.py`, the exercises)" in text[start:start + 3 + following.start()], section
    assert "| gradient, row form | gradient, column form |" in text


@pytest.mark.parametrize("row_rule, column_rule", [
    ("d_W = delta @ a.T", "d_W = delta.T @ a"),  # the row form's weight gradient, on columns
    ("d_b = delta.sum(axis=1)", "d_b = delta.sum(axis=0)"),  # the row form's bias gradient: N numbers
    ("shared_path = W_xs.T @ delta_M", "shared_path = delta_M.T @ W_xs"),
    ("delta_s = W_s.T @ delta_M_next", "delta_s = W_s.T @ delta_s_next"),  # Eq. 8's f' left out
    ("d_W_out = d_z @ s_L.T", "d_W_out = d_z @ s_L.T / N"),  # the mean taken twice
    ("delta_h = modality_path + shared_path", "delta_h = modality_path"),  # a path of Eq. 5 left out
])
def test_the_column_form_check_catches_a_wrong_rule(row_rule, column_rule):
    text = (ROOT / "derivations" / "03_backward.md").read_text(encoding="utf-8")
    assert text.count(row_rule) == 1
    assert column_form_errors(text.replace(row_rule, column_rule)) != []


def test_the_column_form_check_catches_a_missing_rule():
    text = (ROOT / "derivations" / "03_backward.md").read_text(encoding="utf-8")
    start = text.index("## Step 5")
    block = text.index("```python column-form", start)
    missing = text[:block] + "```python" + text[block + len("```python column-form"):]
    assert "Step 5: no column form" in column_form_errors(missing)
