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
