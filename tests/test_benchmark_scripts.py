"""The benchmark commands run end to end (their ``--quick`` smoke runs).

The benchmarks run outside the test suite, at full scale. These runs, on a
few thousand rows for an epoch or two, check that the commands docs/benchmarks.md
names still start, train, measure and write their results: a script broken
by a change elsewhere in the package would otherwise go unnoticed until its
next full run. Every run writes to a temporary folder
(``SKLEARN_DSSL_BENCHMARK_RESULTS``), never to benchmarks/results, whose
committed files the figures are redrawn from.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
COMMITTED = BENCHMARKS / "results"

pytestmark = pytest.mark.skipif(not BENCHMARKS.is_dir(), reason="needs a source checkout")


def run_benchmark(script, *args, results):
    """Run ``python benchmarks/<script> <args>`` writing into ``results``; its stdout."""
    env = {**os.environ, "SKLEARN_DSSL_BENCHMARK_RESULTS": str(results),
           "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args],
                          cwd=BENCHMARKS.parent, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, (
        f"{script} {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    )
    return done.stdout


def numbers_in(value):
    """Every number in a JSON document."""
    if isinstance(value, dict):
        for item in value.values():
            yield from numbers_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers_in(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def committed_files():
    return sorted(p.name for p in COMMITTED.iterdir())


@pytest.mark.parametrize("script, output, keys", [
    ("speed.py", "speed_quick.json",
     {"machine", "shared", "specific", "matmul_gflops", "paper_fit_fraction_of_matmul",
      "transform_rows_per_second"}),
    ("paper_synthetic.py", "paper_synthetic_paper_quick.json",
     {"reference", "shared_vs_beta", "specific_frontier"}),
    ("baselines.py", "baselines_paper_quick.json", {"reference", "runs"}),
    ("linear_cca.py", "linear_cca_quick.json", {"config", "machine", "runs"}),
])
def test_quick_run_writes_its_measurements(script, output, keys, tmp_path):
    before = committed_files()
    results = tmp_path / "not" / "yet" / "made"  # the scripts make the folder
    run_benchmark(script, "--quick", results=results)
    assert committed_files() == before  # nothing written beside the committed results
    report = json.loads((results / output).read_text())
    assert keys <= set(report)
    numbers = list(numbers_in(report))
    assert numbers and all(math.isfinite(x) for x in numbers)
    if script == "speed.py":
        for step in ("shared", "specific"):
            assert report[step]["epoch_seconds"] > 0
            assert 0 < report[step]["fraction_of_matmul"] < 1
    if script == "baselines.py":
        methods = {run["method"] for run in report["runs"]}
        assert methods == {"LinearCCA", "DisentangledSSL", "JointOptSSL", "FOCAL", "DMVAE"}
    if script == "linear_cca.py":
        # the dense computation it is timed against computes the same blocks
        assert [run["width_1"] for run in report["runs"]] == [50, 600]
        assert all(run["largest_relative_difference"] < 1e-5 for run in report["runs"])


def test_a_study_with_a_ramp_of_beta_writes_its_own_file_and_records_the_ramp(tmp_path):
    run_benchmark("paper_synthetic.py", "--quick", "--beta-start", "0.01", "--betas", "1",
                  "--specific-betas", "1", "--lambdas", "0.01", results=tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [
        "paper_synthetic_paper_ramp_quick.json"]  # the figure's files stay without ramps
    report = json.loads((tmp_path / "paper_synthetic_paper_ramp_quick.json").read_text())
    for row in report["shared_vs_beta"] + report["specific_frontier"]:
        assert (row["beta"], row["beta_start"], row["beta_ramp_epochs"]) == (1.0, 0.01, 2.0)
    assert len(report["specific_frontier"]) == 1


@pytest.mark.parametrize("command, figure", [
    (["plot_paper_synthetic.py"], "paper_synthetic.png"),
    (["baselines.py", "--plot-only"], "baselines_frontier.png"),
])
def test_figures_are_redrawn_from_the_committed_results(command, figure, tmp_path):
    for json_file in COMMITTED.glob("*.json"):
        shutil.copy(json_file, tmp_path)
    run_benchmark(*command, results=tmp_path)
    png = (tmp_path / figure).read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
