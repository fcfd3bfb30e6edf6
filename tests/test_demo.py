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
    # the oracle rows carry their own label, as generated
    assert rows["oracle: true Z_c"][1] > 0.65
