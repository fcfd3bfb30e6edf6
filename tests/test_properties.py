"""Property tests: shapes, names, determinism and row-order equivariance; metric invariances."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_dssl import LinearCCA
from sklearn_dssl.metrics import mcc, retrieval_top_k
from tests.conftest import small_model

FAST = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw):
    """A random table, a random partition of its columns into 2 modalities (each
    listing its columns in a random order), a spec form, and a row permutation."""
    sizes = [draw(st.integers(1, 4)), draw(st.integers(1, 4))]
    n_rows = draw(st.integers(2, 40))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, sum(sizes)))
    order = rng.permutation(sum(sizes))
    groups = [order[: sizes[0]], order[sizes[0] :]]  # columns in any order
    form = draw(st.sampled_from(["indices", "dict", "counts"]))
    if form == "indices":
        spec, names = [g.tolist() for g in groups], ["m1", "m2"]
    elif form == "dict":
        spec, names = {"left": groups[0], "right": groups[1]}, ["left", "right"]
    else:
        spec, names = sizes, ["m1", "m2"]
    return X, spec, names, rng.permutation(n_rows)


@FAST
@given(problems(), st.integers(2, 3), st.integers(1, 3), st.sampled_from(["all", "shared", "specific"]))
def test_disentangled_shapes_names_determinism_equivariance(problem, n_shared, n_specific, output):
    X, spec, names, perm = problem
    params = dict(modalities=spec, n_shared=n_shared, n_specific=n_specific, output=output)
    model = small_model(**params).fit(X)
    Z = model.transform(X)
    blocks = [b for b in ("shared", "specific") if output in ("all", b)]
    widths = {"shared": n_shared, "specific": n_specific}
    expected = [f"{b}_{m}_{i}" for b in blocks for m in names for i in range(widths[b])]
    assert model.get_feature_names_out().tolist() == expected
    assert Z.shape == (X.shape[0], len(expected)) and np.isfinite(Z).all()
    # a second fit with the same random_state gives the same embedding
    np.testing.assert_array_equal(small_model(**params).fit(X).transform(X), Z)
    # transform treats rows independently
    np.testing.assert_allclose(model.transform(X[perm]), Z[perm], rtol=1e-5, atol=1e-6)
    # each modality embedded from its own columns, as the spec lists them
    if not isinstance(spec, list) or not isinstance(spec[0], int):
        groups = spec.values() if isinstance(spec, dict) else spec
        assert [list(g) for g in model.modalities_.values()] == [list(g) for g in groups]
    blocks_of_X = model.transform_blocks(X)
    for name, columns in model.modalities_.items():
        np.testing.assert_allclose(model.transform_modality(X[:, columns], name, blocks[0]),
                                   blocks_of_X[blocks[0]][name], rtol=1e-5, atol=1e-6)


@FAST
@given(problems())
def test_linear_cca_shapes_and_equivariance(problem):
    X, spec, names, perm = problem
    if X.shape[0] < 3:
        X = np.vstack([X, X + 1.0, X - 1.0])
        perm = np.random.default_rng(0).permutation(X.shape[0])
    model = LinearCCA(modalities=spec, n_components=1).fit(X)
    Z = model.transform(X)
    widths = [len(c) for c in model.modalities_.values()]
    assert Z.shape == (X.shape[0], 2 + sum(widths))
    assert list(model.modalities_) == names
    np.testing.assert_allclose(model.transform(X[perm]), Z[perm], rtol=1e-5, atol=1e-5)


@st.composite
def embedding_pairs(draw):
    """Two embeddings of the same rows, some rows repeated (exact ties), and a permutation."""
    n_rows, n_dims = draw(st.integers(2, 30)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    queries = rng.normal(size=(n_rows, n_dims))
    candidates = queries + draw(st.sampled_from([0.0, 0.1, 1.0])) * rng.normal(size=queries.shape)
    repeated = rng.integers(0, n_rows, size=draw(st.integers(0, n_rows // 2)))
    queries = np.vstack([queries, queries[repeated]])
    candidates = np.vstack([candidates, candidates[repeated]])
    return queries, candidates, rng.permutation(len(queries)), rng


@FAST
@given(embedding_pairs(), st.integers(1, 5))
def test_retrieval_top_k_is_a_property_of_the_pairs_not_their_order_or_scale(pairs, k):
    queries, candidates, perm, rng = pairs
    score = retrieval_top_k(queries, candidates, k=k)
    assert 0.0 <= score <= 1.0
    np.testing.assert_allclose(retrieval_top_k(queries[perm], candidates[perm], k=k), score)
    # cosine: a positive scale of any row changes nothing
    scales = rng.uniform(0.5, 2.0, size=(len(queries), 1))
    np.testing.assert_allclose(retrieval_top_k(scales * queries, candidates, k=k), score)
    # more candidates in the top k never lower it
    assert retrieval_top_k(queries, candidates, k=k + 1) >= score - 1e-12


@FAST
@given(embedding_pairs())
def test_mcc_ignores_order_sign_and_scale_of_the_learned_dimensions(pairs):
    z, learned, _, rng = pairs
    if len(z) < 3:
        return
    order = rng.permutation(learned.shape[1])
    signs = rng.choice([-1.0, 1.0], size=learned.shape[1]) * rng.uniform(0.5, 2.0, learned.shape[1])
    np.testing.assert_allclose(mcc(z, learned[:, order] * signs), mcc(z, learned), atol=1e-12)
