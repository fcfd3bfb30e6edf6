"""How the benchmark scripts add rows to a shared results file (``--append``).

The benchmarks run outside the test suite; their result-file merging is
plain Python that concurrent runs rely on, so it is tested here.
"""

import json
import multiprocessing
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
paper_synthetic = pytest.importorskip("paper_synthetic")
baselines = pytest.importorskip("baselines")


def shared_row(beta, seconds):
    return {"beta": beta, "noise_scale": 0.1, "fit_seconds": seconds, "shared": 0.8}


def specific_row(beta, ortho_weight, seconds):
    return {"beta": beta, "ortho_weight": ortho_weight, "noise_scale": 0.1,
            "fit_seconds": seconds, "specific_m1": 0.7}


def study(shared, specific, reference=None):
    return {"reference": reference or {}, "shared_vs_beta": shared,
            "specific_frontier": specific}


def test_merge_study_keeps_a_refit_with_its_own_step2_rows():
    saved = study([shared_row(0.1, 10.0)], [specific_row(0.1, 1.0, 20.0)], {"oracle": 1})
    report = study([shared_row(0.1, 11.0), shared_row(10.0, 12.0)],
                   [specific_row(0.1, 0.5, 21.0), specific_row(10.0, 2.0, 22.0)])
    paper_synthetic.merge_study(saved, report)
    # beta 0.1 was recorded by another run: this run's step 1 is a refit
    assert saved["shared_vs_beta"] == [shared_row(0.1, 10.0), shared_row(10.0, 12.0)]
    assert saved["specific_frontier"] == [
        specific_row(0.1, 1.0, 20.0),
        {**specific_row(0.1, 0.5, 21.0), "step1_refit": shared_row(0.1, 11.0)},
        specific_row(10.0, 2.0, 22.0),
    ]
    assert saved["reference"] == {"oracle": 1}  # an empty report keeps the file's
    # and so does a report with its own, recomputed on the same data
    paper_synthetic.merge_study(saved, study([], [], {"oracle": 1.0001}))
    assert saved["reference"] == {"oracle": 1}
    fresh = study([], [])
    paper_synthetic.merge_study(fresh, study([], [], {"oracle": 1}))
    assert fresh["reference"] == {"oracle": 1}  # a file without them takes the run's

    merged_once = json.loads(json.dumps(saved))
    paper_synthetic.merge_study(saved, report)  # the run's next save adds nothing
    assert saved == merged_once


def test_merge_runs_adds_new_rows_and_one_linear_cca():
    cca = {"method": "LinearCCA", "params": {"n_components": 50}, "fit_seconds": 0.2}
    fitted = {"method": "FOCAL", "params": {"ortho_weight": 0.1}, "fit_seconds": 5.0}
    saved = {"reference": {"oracle Z_c": 1}, "runs": [cca]}
    new = {"method": "JointOptSSL", "params": {"ortho_weight": 0.01}, "fit_seconds": 7.0}
    report = {"reference": {"oracle Z_1": 2},
              "runs": [{**cca, "fit_seconds": 0.3}, fitted, new]}
    baselines.merge_runs(saved, report)
    baselines.merge_runs(saved, report)
    assert saved["runs"] == [cca, fitted, new]
    assert saved["reference"] == {"oracle Z_c": 1, "oracle Z_1": 2}


def test_check_appendable_names_the_mismatch(tmp_path):
    output = tmp_path / "results.json"
    with pytest.raises(SystemExit, match="does not exist yet"):
        paper_synthetic.check_appendable(output, {"data": "paper"}, ["data"])
    output.write_text(json.dumps({"data": "paper", "epochs": 50}))
    paper_synthetic.check_appendable(output, {"data": "paper", "label_init": "normal"},
                                     ["data", "label_init"], defaults={"label_init": "normal"})
    with pytest.raises(SystemExit, match="epochs=50, this run 30"):
        paper_synthetic.check_appendable(output, {"epochs": 30}, ["epochs"])


def _append_rows(folder, first, count):
    paper_synthetic.RESULTS = folder
    output = folder / "runs.json"
    report = {"reference": {}, "runs": []}
    for i in range(first, first + count):
        report["runs"].append({"method": "DMVAE", "params": {"i": i}, "fit_seconds": 0.0})
        paper_synthetic.save_results(output, report, baselines.merge_runs)


@pytest.mark.skipif(sys.platform == "win32", reason="the results lock is POSIX only")
def test_concurrent_appends_lose_no_rows(tmp_path):
    (tmp_path / "runs.json").write_text(json.dumps({"reference": {}, "runs": []}))
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_append_rows, args=(tmp_path, start, 25))
               for start in (0, 100, 200)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
        assert writer.exitcode == 0
    rows = json.loads((tmp_path / "runs.json").read_text())["runs"]
    assert sorted(r["params"]["i"] for r in rows) == [*range(25), *range(100, 125),
                                                      *range(200, 225)]
    assert not list(tmp_path.glob("*.partial"))


def test_frontier_keeps_the_points_no_other_beats_on_both_axes():
    # (leakage, accuracy): lower leakage and higher accuracy are better
    points = [(0.60, 0.70), (0.55, 0.65), (0.60, 0.72), (0.70, 0.72), (0.58, 0.60),
              (0.65, 0.80), (0.55, 0.65)]
    # at equal leakage the more accurate point; an equal accuracy at more
    # leakage, and a repeated point, drop out
    assert baselines.frontier(points) == [1, 2, 5]
    assert baselines.frontier([]) == []
