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
    # shared block carries Y_c and neither specific label, each specific block
    # its own modality's label above the others. The probes standardise each
    # block, so that an untrained model's blocks, random projections of X, carry
    # every label somewhat: its shared block scores 0.760 on Y_c (0.603 and 0.590
    # on Y_s1 and Y_s2), its specific blocks 0.73 on Y_c, above their own labels
    # (0.657 for m1, 0.693 for m2); with step 1 alone untrained, specific m1
    # scores 0.703 against 0.683 on Y_c. Trained: the shared block 0.863 on Y_c
    # (0.600, 0.680), specific m1 0.723 against 0.580, specific m2 0.687
    # against 0.527.
    shared = rows["shared [m1, m2]"]
    assert shared[1] > 0.81 and shared[1] > max(shared[0], shared[2]) + 0.15
    for name, own in (("specific m1", 0), ("specific m2", 2)):
        scores = rows[name]
        others = [s for j, s in enumerate(scores) if j != own]
        assert scores[own] > 0.65 and scores[own] > max(others) + 0.08, name
