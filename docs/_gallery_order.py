"""Order of the examples in the gallery (sphinx-gallery's within_subsection_order)."""

from pathlib import Path

ORDER = [
    "plot_quickstart.py",
    "plot_pandas.py",
    "plot_grid_search.py",
    "plot_beta_tradeoff.py",
    "plot_specific_representations.py",
    "plot_early_stopping.py",
    "plot_retrieval.py",
    "plot_digit_halves.py",
    "plot_compare_methods.py",
    "plot_contrastive_ica.py",
]


class GalleryOrder:
    """Sort key: the examples listed in ``ORDER`` first, in that order, then the rest by name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = Path(filename).name
        return (ORDER.index(name) if name in ORDER else len(ORDER), name)

    def __repr__(self):
        return f"{type(self).__name__}()"
