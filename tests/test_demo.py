"""The README's main job: the demonstration runs and prints its table."""

from sklearn_dssl._demo import run_demo


def test_demo_prints_probe_table():
    table = run_demo(n_samples=1500)
    lines = table.splitlines()
    assert "Y_c (shared)" in lines[4]
    rows = {line[:20].strip(): [float(v) for v in line[20:].split()] for line in lines[5:]}
    assert list(rows) == [
        "shared [m1, m2]", "specific m1", "specific m2",
        "oracle: true Z_c", "oracle: true Z_1", "oracle: true Z_2",
    ]
    assert all(len(v) == 3 and all(0.0 <= s <= 1.0 for s in v) for v in rows.values())
    # the columns in the header's order, each oracle row carrying its own
    # label (its column) and no other
    header = lines[4]
    assert header.index("Y_s1") < header.index("Y_c") < header.index("Y_s2")
    for name, column in (("oracle: true Z_1", 0), ("oracle: true Z_c", 1),
                         ("oracle: true Z_2", 2)):
        scores = rows[name]
        assert scores[column] > 0.65 and max(scores) == scores[column], name
    # and the fitted blocks show what the demonstration is there to show: the
    # shared block carries Y_c and neither specific label (an untrained step 1
    # scores about 0.62 on Y_c and 0.60 on Y_s1 here), each specific block its
    # own modality's label above the others (untrained, 0.62 against 0.59 on
    # Y_c for m1, and 0.50 on Y_s2 for m2)
    shared = rows["shared [m1, m2]"]
    assert shared[1] > 0.7 and shared[1] > max(shared[0], shared[2]) + 0.15
    for name, own in (("specific m1", 0), ("specific m2", 2)):
        scores = rows[name]
        others = [s for j, s in enumerate(scores) if j != own]
        assert scores[own] > 0.6 and scores[own] > max(others) + 0.05, name
