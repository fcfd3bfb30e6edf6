"""The docs against the package: the API reference and the code newcomers run first.

The API reference is docs/api.rst; the check reads its autosummary lists,
so it needs no Sphinx. The README's quickstart and the getting-started page
are run as written. Skipped when the docs are not part of the checkout (an
installed package).
"""

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import sklearn_dssl

ROOT = Path(__file__).resolve().parents[1]
API_RST = ROOT / "docs" / "api.rst"

pytestmark = pytest.mark.skipif(not API_RST.exists(), reason="docs/api.rst not in this checkout")


def public_modules():
    """The package and its public subpackages and modules that declare ``__all__``."""
    modules = [sklearn_dssl]
    for info in pkgutil.iter_modules(sklearn_dssl.__path__):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"sklearn_dssl.{info.name}")
            if hasattr(module, "__all__"):
                modules.append(module)
    return modules


def public_names():
    """Fully qualified names of everything the public modules export."""
    return sorted(
        f"{module.__name__}.{name}"
        for module in public_modules()
        for name in module.__all__
        if not (name.startswith("__") and name.endswith("__"))
    )


def documented_names(text):
    """Fully qualified names listed in the autosummary directives of ``text``.

    Entries resolve against the latest ``.. currentmodule::``, as in Sphinx;
    a fully qualified entry is taken as it is.
    """
    names, module, in_autosummary = set(), None, False
    for line in text.splitlines():
        if match := re.match(r"\.\.\s+currentmodule::\s*(\S+)", line):
            module, in_autosummary = match.group(1), False
        elif re.match(r"\.\.\s+autosummary::", line):
            in_autosummary = True
        elif in_autosummary:
            entry = line.strip()
            if not entry or entry.startswith(":"):
                continue
            if not line.startswith((" ", "\t")):
                in_autosummary = False
                continue
            entry = entry.lstrip("~")
            names.add(entry if entry.startswith("sklearn_dssl.") else f"{module}.{entry}")
    return names


def test_public_names_found():
    names = public_names()
    assert "sklearn_dssl.DisentangledSSL" in names
    assert any(name.startswith("sklearn_dssl.datasets.") for name in names)
    assert any(name.startswith("sklearn_dssl.metrics.") for name in names)


def test_every_public_name_in_api_reference():
    documented = documented_names(API_RST.read_text(encoding="utf-8"))
    missing = [name for name in public_names() if name not in documented]
    assert not missing, (
        f"public names missing from the API reference {API_RST.name}: {missing}; "
        "add them to an autosummary list there."
    )


def test_api_reference_names_exist():
    for name in documented_names(API_RST.read_text(encoding="utf-8")):
        module_name, _, attribute = name.rpartition(".")
        module = importlib.import_module(module_name)
        assert hasattr(module, attribute), f"{name} in {API_RST.name} does not exist"


def documented_defaults(obj):
    """``(name, default)`` of every parameter line ``name : type, default=value``
    of ``obj``'s numpydoc docstring, the value read as a Python literal."""
    lines = re.findall(r"^(\w+(?:, \w+)*) : [^\n]*?default=([^\n]+)$",
                       inspect.getdoc(obj) or "", re.M)
    return [(name, ast.literal_eval(value.strip()))
            for names, value in lines for name in names.split(", ")]


def test_every_documented_default_is_the_signatures():
    checked = 0
    for module in public_modules():
        for name in module.__all__:
            obj = getattr(module, name)
            if not callable(obj):
                continue
            signature = inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)
            for parameter, documented in documented_defaults(obj):
                where = f"{module.__name__}.{name}({parameter})"
                assert parameter in signature.parameters, where
                default = signature.parameters[parameter].default
                assert (documented, type(documented)) == (default, type(default)), where
                checked += 1
    assert checked > 150  # the estimators', functions' and generators' parameters


def test_parser_reads_currentmodule_and_options():
    text = """
.. currentmodule:: sklearn_dssl

.. autosummary::
   :toctree: generated/

   DisentangledSSL

.. currentmodule:: sklearn_dssl.metrics

.. autosummary::

   mcc
   sklearn_dssl.datasets.make_paper_synthetic

Prose
   indented prose
"""
    assert documented_names(text) == {
        "sklearn_dssl.DisentangledSSL",
        "sklearn_dssl.metrics.mcc",
        "sklearn_dssl.datasets.make_paper_synthetic",
    }


EXAMPLES = API_RST.parents[1] / "examples"


def gallery_scripts():
    return sorted(EXAMPLES.glob("plot_*.py"))


def test_gallery_scripts_have_a_title_and_a_place():
    """Each example parses, opens with a titled docstring and is in the gallery order."""
    import ast
    import sys

    sys.path.insert(0, str(API_RST.parent))
    try:
        from _gallery_order import ORDER
    finally:
        sys.path.pop(0)
    scripts = gallery_scripts()
    assert scripts
    for script in scripts:
        docstring = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
        assert docstring, f"{script.name} has no docstring"
        title, underline = docstring.splitlines()[:2]
        assert set(underline) == {"="} and len(underline) >= len(title), script.name
        assert script.name in ORDER, f"{script.name} is missing from docs/_gallery_order.py"


def python_blocks(path):
    """The ```python blocks of a Markdown file, in order."""
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"),
                      flags=re.MULTILINE | re.DOTALL)


def run_blocks(blocks, folder, monkeypatch):
    """Run code blocks one after the other in one namespace, inside ``folder``."""
    monkeypatch.chdir(folder)
    namespace = {"__name__": "__docs__"}
    for block in blocks:
        exec(compile(block, "<docs>", "exec"), namespace)
    return namespace


def test_python_blocks_found():
    assert python_blocks(ROOT / "README.md")[0].startswith("from sklearn")
    assert len(python_blocks(ROOT / "docs" / "getting_started.md")) == 2


def test_readme_quickstart_runs_as_written(tmp_path, monkeypatch):
    # the quickstart, then saving its model
    ns = run_blocks(python_blocks(ROOT / "README.md")[:2], tmp_path, monkeypatch)
    # saved whole, the StandardScaler with its means and scales included
    assert [name for name, _ in ns["model"].steps] == ["standardscaler", "disentangledssl"]
    assert (ns["model"].transform(ns["X"]) == ns["embed"].transform(ns["X"])).all()
    assert ns["Z"].shape == (5000, 40)  # the comments' figures
    assert ns["embed"].get_feature_names_out()[[0, 10, 20, 30]].tolist() == [
        "shared_m1_0", "shared_m2_0", "specific_m1_0", "specific_m2_0"]
    # the shared block predicts the shared label: 0.911 (chance: 0.5; the
    # blocks of an untrained model, lr 1e-9: 0.876; the raw columns: 0.892)
    assert ns["search"].best_score_ > 0.895


def test_getting_started_runs_as_written(tmp_path, monkeypatch):
    ns = run_blocks(python_blocks(ROOT / "docs" / "getting_started.md"), tmp_path, monkeypatch)
    assert ns["Z"].shape == (5000, 40)
    assert ns["model"].get_feature_names_out()[[0, 10, 20, 30]].tolist() == [
        "shared_m1_0", "shared_m2_0", "specific_m1_0", "specific_m2_0"]
    # the page: the shared block predicts the shared label, a specific block
    # its own modality's label
    probe_score, model, X, y = ns["probe_score"], ns["model"], ns["X"], ns["data"].target
    assert probe_score(model, X, y[:, 1], block="shared") > 0.8
    assert probe_score(model, X, y[:, 0], block="specific", modalities=["m1"]) > 0.7
    # and not the shared label (0.51; an untrained model's specific block: 0.76)
    assert probe_score(model, X, y[:, 1], block="specific", modalities=["m1"]) < 0.6


def test_the_user_guide_s_refit_leaves_out_settings_that_failed():
    # its refit callable, read from the guide: a setting whose fit or score
    # failed has NaN scores (error_score=np.nan), which min and argmax
    # would take for the best
    import numpy as np

    block = next(b for b in python_blocks(ROOT / "docs" / "user_guide.md")
                 if "def most_specific_of_the_least_leaky" in b)
    tree = ast.parse(block)
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef)
                    and node.name == "most_specific_of_the_least_leaky")
    namespace = {"np": np}
    exec(compile(ast.Module([function], []), "<docs>", "exec"), namespace)
    refit = namespace["most_specific_of_the_least_leaky"]
    results = {"mean_test_neg_leakage": np.array([-0.60, np.nan, -0.59, -0.70]),
               "mean_test_specific": np.array([0.70, 0.90, 0.75, 0.80])}
    assert refit(results) == 2  # the most specific of those within 0.02 of the least leakage
    results["mean_test_specific"][2] = np.nan
    assert refit(results) == 0
    # none scored (too few groups for the probes' cv, say): named, not numpy's error
    results["mean_test_specific"][:] = np.nan
    with pytest.raises(ValueError, match="every setting failed to fit or score"):
        refit(results)


def test_the_user_guide_s_nonlinear_r2_prints_what_its_comments_say(capsys):
    block = next(b for b in python_blocks(ROOT / "docs" / "user_guide.md")
                 if "nonlinear_r2(z, bent)" in b)
    exec(compile(block, "<docs>", "exec"), {"__name__": "__docs__"})
    printed = capsys.readouterr().out.split()
    assert printed == re.findall(r"# ([\d.]+)", block)
