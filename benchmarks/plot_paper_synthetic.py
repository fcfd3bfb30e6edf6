"""Draw Figure 4 of the paper from the JSON files of ``paper_synthetic.py``.

Run: python benchmarks/plot_paper_synthetic.py
Writes benchmarks/results/paper_synthetic.png (one row of panels per data set).
"""

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from paper_synthetic import (  # noqa: E402
    DEFAULT_N_SHARED,
    DEFAULT_N_SPECIFIC,
    DEFAULT_TEMPERATURE,
    RESULTS,
)

NAMES = {"shared": "Y_c", "specific_m1": "Y_s1", "specific_m2": "Y_s2"}


def setting_of(row):
    """(beta, augmentation noise, width of the specific block, its initial weights,
    temperature) of a step-2 row (rows without ``specific_init`` were fitted with
    "normal")."""
    return (row["beta"], row.get("noise_scale", 0.1), row.get("n_specific", DEFAULT_N_SPECIFIC),
            row.get("specific_init", "normal"), row.get("temperature", DEFAULT_TEMPERATURE))


def other_settings(row):
    """What a shared row changes from the default augmentation noise and temperature."""
    changed = []
    if row.get("noise_scale", 0.1) != 0.1:
        changed.append(f"augmentation noise {row['noise_scale']:g}")
    if row.get("temperature", DEFAULT_TEMPERATURE) != DEFAULT_TEMPERATURE:
        changed.append(f"temperature {row['temperature']:g}")
    if row.get("n_shared", DEFAULT_N_SHARED) != DEFAULT_N_SHARED:
        changed.append(f"shared width {row['n_shared']}")
    return ", ".join(changed)


def main():
    reports = [json.loads((RESULTS / f"paper_synthetic_{d}.json").read_text())
               for d in ("paper", "nonlinear") if (RESULTS / f"paper_synthetic_{d}.json").exists()]
    fig, axes = plt.subplots(len(reports), 2, figsize=(15, 4.2 * len(reports)), squeeze=False)
    for (ax_a, ax_b), report in zip(axes, reports):
        rows = sorted(report["shared_vs_beta"], key=lambda r: r["beta"])
        default = [r for r in rows if not other_settings(r)]
        other = [r for r in rows if other_settings(r)]
        markers = "DsP^v"
        if len(other) > len(markers):
            raise ValueError(f"{len(other)} shared rows of other settings, markers for "
                             f"{len(markers)}")
        for label, color in zip(NAMES, ("C0", "C1", "C2")):
            ax_a.plot([r["beta"] for r in default], [r[label] for r in default], "o-",
                      color=color, label=f"DisentangledSSL shared on {NAMES[label]}")
            for r, marker in zip(other, markers):
                ax_a.plot(r["beta"], r[label], marker, color=color, mfc="none",
                          label=(f"  hollow: {other_settings(r)}"
                                 if label == "shared" else None))
        ref = report["reference"]
        ax_a.axhline(ref["LinearCCA shared"]["shared"], color="C1", ls="--",
                     label="LinearCCA shared on Y_c")
        ax_a.axhline(ref["oracle Z_c"]["shared"], color="k", ls=":", label="oracle Z_c on Y_c")
        ax_a.set(xscale="log", xlabel="beta", ylabel="test accuracy",
                 title=f"(a) shared block vs beta, {report['data']} data")
        ax_a.legend(fontsize=7)

        # one line per setting (beta, augmentation noise, width of the specific
        # block, its initial weights), its points in order of lambda; step 2
        # refitted with other seeds: crosses of its colour
        # the default shared width only: the narrower ones are in the docs' tables
        rows = [r for r in report["specific_frontier"]
                if r.get("n_shared", DEFAULT_N_SHARED) == DEFAULT_N_SHARED]
        settings = sorted({setting_of(r) for r in rows})
        # C1 is LinearCCA's
        colors = [f"C{i}" for i in (0, 2, 3, 4, 5, 6, 7, 8, 9)] + ["navy", "olive", "teal",
                                                                     "maroon"]
        if len(settings) > len(colors):
            raise ValueError(f"{len(settings)} settings in {report['data']}'s frontier, "
                             f"colours for {len(colors)}")
        for color, (beta, noise, width, init, temperature) in zip(colors, settings):
            same = [r for r in rows if setting_of(r) == (beta, noise, width, init, temperature)]
            frontier = sorted((r for r in same if not r.get("step2_random_state")),
                              key=lambda r: r["ortho_weight"])
            wider = "" if width == DEFAULT_N_SPECIFIC else f", width {width}"
            start = ", looks-linear start" if init == "looks_linear" else ""
            if temperature != DEFAULT_TEMPERATURE:
                start += f", temperature {temperature:g}"
            ax_b.plot([r["shared"] for r in frontier], [r["specific_m1"] for r in frontier],
                      "o-" if init == "looks_linear" else "o--", color=color,
                      label=f"DisentangledSSL specific m1, beta={beta:g}, "
                            f"noise {noise:g}{wider}{start}")
            # lambda at the two ends of the line only: inside, the labels of the
            # crowded settings cover one another
            ends = (frontier[0], frontier[-1]) if frontier else ()
            for r in {id(r): r for r in ends}.values():
                ax_b.annotate(f"λ={r['ortho_weight']:g}", (r["shared"], r["specific_m1"]),
                              fontsize=7, xytext=(3, 3), textcoords="offset points",
                              color=color)
            seeds = [r for r in same if r.get("step2_random_state")]
            if seeds:
                ax_b.plot([r["shared"] for r in seeds], [r["specific_m1"] for r in seeds], "x",
                          color=color, label="  the same, step 2 with other seeds")
        if report["data"] == "paper":
            ax_b.plot(0.58, 0.74, "P", color="m", ms=9, label="the paper's best (about)")
        cca = ref["LinearCCA specific m1"]
        ax_b.plot(cca["shared"], cca["specific_m1"], "s", color="C1", label="LinearCCA residual m1")
        oracle = ref["oracle Z_1"]
        ax_b.plot(oracle["shared"], oracle["specific_m1"], "*", color="k", ms=10,
                  label="oracle Z_1")
        ax_b.set(xlabel="leakage: accuracy on Y_c (lower is better)",
                 ylabel="accuracy on Y_s1 (higher is better)",
                 title=f"(b) specific block of m1, {report['data']} data")
        # beside the panel: inside, it hides the points of the frontier
        ax_b.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    fig.savefig(RESULTS / "paper_synthetic.png", dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    main()
