"""Sphinx configuration of the sklearn_dssl documentation.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
from the repository root (after ``pip install -e ".[docs]"``). The build
runs every ``examples/plot_*.py`` through sphinx-gallery.
"""

import os
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# Examples run in the build process, on one thread unless OMP_NUM_THREADS
# says otherwise (set before torch is imported); a headless matplotlib.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(DOCS))

import sklearn_dssl  # noqa: E402

project = "sklearn_dssl"
author = "The sklearn_dssl developers"
copyright = "2026, The sklearn_dssl developers"
release = sklearn_dssl.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb"]
# Pages written in Markdown; the ones not named in index.rst's toctree are
# added to its "More" section by _add_extra_pages below.
EXTRA_PAGES_PLACEHOLDER = "   EXTRA_PAGES"

# -- autodoc / autosummary / numpydoc ---------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# numpydoc checks every docstring it renders; with -W a failed check fails the
# build. All checks are on except those for optional sections (extended
# summary, See Also, Examples on every method) and two style rules: the
# summary's verb form, and a bare type on the first line of Returns (this
# package names its return values, as scikit-learn does).
numpydoc_validation_checks = {"all", "ES01", "SA01", "EX01", "SS05", "RT02"}
numpydoc_validation_exclude = {r"\.__init__$"}

# -- MyST --------------------------------------------------------------------
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

# -- sphinx-gallery ------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "_gallery_order.GalleryOrder",
    "download_all_examples": False,
    "remove_config_comments": True,
    "reset_modules": ("matplotlib",),
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "show_memory": False,
    "min_reported_time": 0,
    "doc_module": ("sklearn_dssl",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"sklearn_dssl": None},
}

# -- HTML ------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_dssl {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_show_sourcelink = True

# Warnings from libraries the examples call are not documentation problems.
warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")


def _extra_pages():
    """Top-level pages not named explicitly in index.rst (e.g. new guides)."""
    listed = {
        line.strip()
        for line in (DOCS / "index.rst").read_text().splitlines()
        if line.startswith("   ") and not line.strip().startswith(":")
    }
    pages = []
    for path in sorted(DOCS.glob("*.md")) + sorted(DOCS.glob("*.rst")):
        name = path.stem
        if name in {"index", "sg_execution_times"} or name in listed:
            continue
        pages.append(name)
    return pages


def _add_extra_pages(app, docname, source):
    if docname == "index":
        entries = "\n".join(f"   {page}" for page in _extra_pages())
        source[0] = source[0].replace(EXTRA_PAGES_PLACEHOLDER, entries)


def setup(app):
    app.connect("source-read", _add_extra_pages)
