"""DisentangledSSL: fit/transform contract, composition with scikit-learn, errors."""

import io
import pickle
import re
import sys
import threading
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from skorch.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochScoring,
    LoadInitState,
    ProgressBar,
    TensorBoard,
    TrainEndCheckpoint,
)
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import DisentangledSSL, MultimodalContrastive, load, save
from sklearn_dssl._disentangled import STEP1_ONLY_PARAMETERS
from sklearn_dssl._losses import SharedObjective, SpecificObjective
from sklearn_dssl._modules import HEADS
from sklearn_dssl.datasets import make_paper_synthetic
from sklearn_dssl.exceptions import ModelMemoryError, NonFiniteLossError
from sklearn_dssl.metrics import probe_score
from tests.conftest import small_model


@pytest.fixture(scope="module")
def data():
    return make_paper_synthetic(n_samples=120, n_latent=3, n_features=5, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    return small_model(modalities={"rna": 5, "protein": 5}).fit(data.data)


def test_transform_layout_and_feature_names(fitted, data):
    Z = fitted.transform(data.data)
    names = fitted.get_feature_names_out()
    assert Z.shape == (120, 2 * 3 + 2 * 2) == (120, len(names))
    assert Z.dtype == np.float32
    assert names.tolist() == [
        *(f"shared_rna_{i}" for i in range(3)),
        *(f"shared_protein_{i}" for i in range(3)),
        *(f"specific_rna_{i}" for i in range(2)),
        *(f"specific_protein_{i}" for i in range(2)),
    ]
    blocks = fitted.transform_blocks(data.data)
    np.testing.assert_array_equal(Z[:, :3], blocks["shared"]["rna"])
    np.testing.assert_array_equal(Z[:, 3:6], blocks["shared"]["protein"])
    np.testing.assert_array_equal(Z[:, 6:8], blocks["specific"]["rna"])
    np.testing.assert_array_equal(Z[:, 8:], blocks["specific"]["protein"])


@pytest.mark.parametrize("output, prefix, width", [("shared", "shared_", 6), ("specific", "specific_", 4)])
def test_output_selects_blocks(fitted, data, output, prefix, width):
    model = clone(fitted).set_params(output=output).fit(data.data)
    Z = model.transform(data.data)
    names = model.get_feature_names_out()
    assert Z.shape == (120, width) and all(n.startswith(prefix) for n in names)
    columns = [i for i, n in enumerate(fitted.get_feature_names_out()) if n.startswith(prefix)]
    np.testing.assert_array_equal(Z, fitted.transform(data.data)[:, columns])


def test_output_shared_fits_step_one_only(data):
    model = small_model(output="shared").fit(data.data)
    assert not hasattr(model, "specific_net_")
    assert model.transform(data.data).shape == (120, 6)
    assert set(model.transform_blocks(data.data)) == {"shared"}
    model.set_params(output="all")
    with pytest.raises(NotFittedError, match="fit_specific"):
        model.transform(data.data)
    with pytest.raises(NotFittedError, match="fit_specific"):
        model.get_feature_names_out()
    full = small_model().fit(data.data)
    np.testing.assert_array_equal(
        model.fit_specific(data.data).transform(data.data), full.transform(data.data)
    )


def test_one_modality_alone_gives_its_blocks(fitted, data):
    blocks = fitted.transform_blocks(data.data)
    X_protein = data.data[:, 5:]
    for block in ("shared", "specific"):
        got = fitted.transform_modality(X_protein, "protein", block=block)
        np.testing.assert_allclose(got, blocks[block]["protein"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        fitted.transform_modality(data.data[:, :5], 0), blocks["shared"]["rna"], atol=1e-6
    )
    with pytest.raises(ValueError, match="modality 'protein' has 5"):
        fitted.transform_modality(data.data, "protein")
    with pytest.raises(ValueError, match="none of"):
        fitted.transform_modality(X_protein, "dna")
    with pytest.raises(ValueError, match="none of"):
        fitted.transform_modality(X_protein, ["protein"])
    with pytest.raises(ValueError, match="block="):
        fitted.transform_modality(X_protein, "protein", block="joint")


def test_histories_and_frozen_step_one(fitted):
    assert len(fitted.shared_net_.history) == fitted.max_epochs_shared
    assert len(fitted.specific_net_.history) == fitted.max_epochs_specific
    assert np.isfinite(fitted.specific_net_.history[:, "train_loss"]).all()
    # the step-1 encoders inside step 2 kept the step-1 weights
    frozen = fitted.specific_net_.module_.shared.state_dict()
    for name, value in fitted.shared_net_.module_.state_dict().items():
        torch.testing.assert_close(frozen[name], value, rtol=0, atol=0)
    # and the optimiser of step 2 only updates the specific encoders
    optimised = {id(p) for g in fitted.specific_net_.optimizer_.param_groups for p in g["params"]}
    assert optimised == {id(p) for p in fitted.specific_net_.module_.encoders.parameters()}


@pytest.mark.parametrize(
    "net, terms", [("shared_net_", ("contrast", "bottleneck")),
                   ("specific_net_", ("contrast", "orthogonality"))],
)
def test_history_records_each_loss_term(fitted, net, terms):
    net = getattr(fitted, net)
    weights = net.criterion_.term_weights()
    assert tuple(net.criterion_.term_names) == terms
    for epoch in net.history:
        # the loss is the weighted sum of its terms, epoch by epoch
        total = sum(weights[name] * epoch[f"train_{name}"] for name in terms)
        assert epoch["train_loss"] == pytest.approx(total, rel=1e-5)
        assert all(np.isfinite(epoch[f"train_{name}"]) for name in terms)


def test_same_random_state_same_output_and_different_otherwise(data):
    a = small_model(random_state=3).fit_transform(data.data)
    b = small_model(random_state=3).fit_transform(data.data)
    c = small_model(random_state=4).fit_transform(data.data)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_does_not_touch_global_torch_rng(data):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    small_model().fit(data.data)
    torch.testing.assert_close(torch.rand(3), expected)


def test_fit_specific_reuses_step_one_and_matches_a_full_fit(data):
    model = small_model(ortho_weight=1.0).fit(data.data)
    shared_net = model.shared_net_
    model.set_params(ortho_weight=5.0, n_specific=4).fit_specific(data.data)
    assert model.shared_net_ is shared_net
    full = small_model(ortho_weight=5.0, n_specific=4).fit(data.data)
    np.testing.assert_array_equal(model.transform(data.data), full.transform(data.data))


def test_widths_follow_the_fitted_model_not_later_settings(data):
    model = small_model(n_shared=3, n_specific=2).fit(data.data)
    with pytest.warns(UserWarning, match=r"n_shared=7 \(fitted with 3\)\. Call fit"):
        model.set_params(n_shared=7, n_specific=4).fit_specific(data.data)
    names = model.get_feature_names_out()
    assert model.transform(data.data).shape == (120, 2 * 3 + 2 * 4) == (120, len(names))
    assert names[5] == "shared_m2_2" and names[-1] == "specific_m2_3"


def test_fit_specific_warns_only_of_changed_step_one_settings(data):
    model = small_model(beta=0.1).fit(data.data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # step-2 settings, and the same column groups in another form
        model.set_params(ortho_weight=3.0, n_specific=3, lr=1e-3,
                         modalities=[list(range(5)), list(range(5, 10))]).fit_specific(data.data)
    with pytest.warns(UserWarning, match=r"beta=1\.0 \(fitted with 0\.1\), head='gaussian'"):
        model.set_params(beta=1.0, head="gaussian").fit_specific(data.data)
    with pytest.warns(UserWarning, match="changed since: modalities"):
        model.set_params(beta=0.1, head="vmf", modalities=[4, 6]).fit_specific(data.data)


# Each parameter that only step 1 uses, with a valid value other than small_model's.
STEP1_CHANGES = {
    "n_shared": (3, 4),
    "beta": (0.1, 1.0),
    "beta_start": (None, 0.01),
    "beta_ramp_epochs": (None, 1.0),
    "head": ("vmf", "gaussian"),
    "kappa": (1000.0, 10.0),
    "max_epochs_shared": (2, 3),
    "ica": (False, True),
}


# Settings a case needs beside its own: a ramp's length acts only with a ramp.
STEP1_CONTEXT = {"beta_ramp_epochs": {"beta_start": 0.01}}


def test_a_ramp_length_changed_without_a_ramp_is_no_change_of_step_one(data):
    model = small_model().fit(data.data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.set_params(beta_ramp_epochs=1.0).fit_specific(data.data)


def test_every_step_one_setting_has_a_case_in_the_warning_test():
    # a name added to STEP1_ONLY_PARAMETERS needs a case below
    assert set(STEP1_CHANGES) == set(STEP1_ONLY_PARAMETERS)


@pytest.mark.parametrize("name", list(STEP1_CHANGES))
def test_fit_specific_warns_of_each_changed_step_one_setting(data, name):
    """fit_specific keeps step 1: a change to any setting only step 1 reads is
    named in the warning (the list is fixed here, so one dropped from
    STEP1_ONLY_PARAMETERS goes unwarned and fails its case)."""
    fitted_with, changed = STEP1_CHANGES[name]
    model = small_model(**STEP1_CONTEXT.get(name, {}), **{name: fitted_with}).fit(data.data)
    assert model.step1_params_[name] == fitted_with
    with pytest.warns(UserWarning, match=re.escape(
            f"changed since: {name}={changed!r} (fitted with {fitted_with!r}). Call fit")):
        model.set_params(**{name: changed}).fit_specific(data.data)


def test_fit_specific_warns_of_a_ramp_set_on_a_model_fitted_before_ramps(data):
    model = small_model().fit(data.data)
    for name in ("beta_start", "beta_ramp_epochs"):
        del model.step1_params_[name]  # as in a model saved by an earlier version
    with pytest.warns(UserWarning, match=r"changed since: beta_start=0\.01 \(fitted with None\)"):
        model.set_params(beta_start=0.01).fit_specific(data.data)


def test_fit_specific_on_an_array_after_column_selectors_warns_of_names_alone(data):
    from sklearn.compose import make_column_selector

    df = pd.DataFrame(data.data, columns=[f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)])
    model = small_model(modalities=[make_column_selector("^a"), make_column_selector("^b")])
    model.fit(df)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit_specific(df.to_numpy())
    messages = [str(w.message) for w in caught]
    assert any("X does not have valid feature names" in m for m in messages)
    assert not any("changed since" in m for m in messages)
    # selectors that pick other columns are a change, array or not
    model.set_params(modalities=[make_column_selector("^a[0-2]"), make_column_selector("^b")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit_specific(df.to_numpy())
    messages = [str(w.message) for w in caught]
    assert any("X does not have valid feature names" in m for m in messages)
    assert any("changed since: modalities" in m for m in messages)


def test_fit_specific_refuses_bad_input_before_any_warning_of_its_settings(data):
    from sklearn.compose import make_column_selector

    df = pd.DataFrame(data.data, columns=[f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)])
    model = small_model(modalities=[make_column_selector("^a"), make_column_selector("^b")])
    model.fit(df)
    for bad in (df[df.columns[::-1]], df.drop(columns=["a0"]), df.iloc[:1]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError):
                model.fit_specific(bad)
        assert not any("changed since" in str(w.message) for w in caught)


def test_fit_specific_compares_array_settings_by_value(data):
    from sklearn.decomposition import FastICA

    model = small_model(ica=FastICA(w_init=np.eye(3), max_iter=500)).fit(data.data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # step1_params_ holds a copy of the same w_init
        model.set_params(ortho_weight=2.0).fit_specific(data.data)
    with pytest.warns(UserWarning, match="changed since: ica"):
        model.set_params(ica__w_init=2 * np.eye(3)).fit_specific(data.data)


def test_fit_specific_needs_a_fitted_step_one(data):
    with pytest.raises(NotFittedError):
        small_model().fit_specific(data.data)


def test_score_is_negative_contrastive_loss_and_rewards_training(data):
    X = StandardScaler().fit_transform(data.data)
    untrained = small_model(max_epochs_shared=1, lr=1e-6).fit(X)
    trained = small_model(max_epochs_shared=40, lr=3e-3).fit(X)
    assert untrained.score(X) <= 0 and trained.score(X) <= 0
    assert trained.score(X) > untrained.score(X) + 0.3


def test_score_averages_the_batches_by_their_rows(data):
    model = small_model().fit(data.data)  # batch_size 16: blocks of 16 and 4 rows
    rows = data.data[:20]
    weighted = (16 * model.score(rows[:16]) + 4 * model.score(rows[16:])) / 20
    assert model.score(rows) == pytest.approx(weighted, rel=1e-5)


def test_score_leaves_out_a_last_row_that_has_no_other_to_be_told_from(data):
    model = small_model().fit(data.data)  # batch_size 16
    np.testing.assert_allclose(model.score(data.data[:33]), model.score(data.data[:32]))
    assert model.score(data.data[:34]) != model.score(data.data[:32])
    with pytest.raises(ValueError, match="score needs at least 2 rows"):
        model.score(data.data[:1])


def test_dataframe_in_pandas_out_and_column_names(data):
    columns = [f"g{i}" for i in range(5)] + [f"p{i}" for i in range(5)]
    df = pd.DataFrame(data.data, columns=columns)
    spec = {"genes": columns[:5], "proteins": columns[5:]}
    model = small_model(modalities=spec).set_output(transform="pandas").fit(df)
    out = model.transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == model.get_feature_names_out().tolist()
    assert out.columns[0] == "shared_genes_0" and out.columns[-1] == "specific_proteins_1"
    np.testing.assert_allclose(
        model.transform_modality(df[columns[5:]], "proteins"),
        out.iloc[:, 3:6].to_numpy(),
        rtol=1e-5,
        atol=1e-7,
    )
    with pytest.raises(ValueError, match="do not match modality"):
        model.transform_modality(df[columns[:5]], "proteins")
    # names on one side only: scikit-learn's warnings, as transform gives them
    with pytest.warns(UserWarning, match="X does not have valid feature names, but "
                      "DisentangledSSL was fitted with feature names"):
        model.transform_modality(df[columns[5:]].to_numpy(), "proteins")
    unnamed = small_model(modalities=[5, 5]).fit(data.data)
    with pytest.warns(UserWarning, match="X has feature names, but DisentangledSSL was "
                      "fitted without feature names"):
        unnamed.transform_modality(df[columns[5:]], 1)
    # reordered columns are refused by name
    with pytest.raises(ValueError, match="feature names"):
        model.transform(df[columns[::-1]])


def test_modalities_given_by_interleaved_indices(data):
    order = np.ravel(np.column_stack([np.arange(5), np.arange(5, 10)]))  # 0, 5, 1, 6, ...
    X = data.data[:, order]
    spec = [slice(0, None, 2), slice(1, None, 2)]
    a = small_model(modalities=spec).fit_transform(X)
    b = small_model(modalities=[5, 5]).fit_transform(data.data)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_pipeline_grid_search_over_beta():
    data = make_paper_synthetic(n_samples=300, n_latent=3, n_features=5, random_state=0)
    X, y = data.data, data.target[:, 1]
    pipe = Pipeline(
        [
            ("standardscaler", StandardScaler()),
            ("disentangledssl", small_model(output="shared")),
            # the embeddings' scale is free (about 1e-3 here), and an unscaled
            # logistic regression on them predicts one class
            ("scaled", StandardScaler()),
            ("logisticregression", LogisticRegression()),
        ]
    )
    search = GridSearchCV(pipe, {"disentangledssl__beta": [0.0, 10.0]}, cv=2).fit(X, y)
    assert search.best_params_["disentangledssl__beta"] in (0.0, 10.0)
    assert search.predict(X).shape == (300,)
    scores = cross_val_score(pipe, X, y, cv=3)
    # the shared block carries Y_c: 0.77, 0.80 and 0.84 on the folds; shuffled
    # labels give 0.42 to 0.59 (chance), the fold's majority class 0.5
    assert scores.shape == (3,) and np.all(scores > 0.7), scores


def test_unsupervised_grid_search_uses_score(data):
    search = GridSearchCV(small_model(), {"temperature": [0.07, 0.5]}, cv=2).fit(data.data)
    assert np.all(search.cv_results_["mean_test_score"] <= 0)


@pytest.mark.parametrize("dump_load", ["pickle", "joblib"])
def test_persistence_round_trip(fitted, data, tmp_path, dump_load):
    if dump_load == "pickle":
        loaded = pickle.loads(pickle.dumps(fitted))
    else:
        joblib.dump(fitted, tmp_path / "model.joblib")
        loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.transform(data.data), fitted.transform(data.data))
    unfitted = clone(fitted)
    assert unfitted.get_params() == fitted.get_params()
    assert not hasattr(unfitted, "shared_net_")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_prints_skorch_log(data, capsys):
    small_model(verbose=1).fit(data.data)
    out, err = capsys.readouterr()
    assert "train_loss" in out and "epoch" in out
    # stderr is captured, as a log file would be: no progress-bar redraws in it
    assert "\r" not in err and "it/s" not in err
    # nor colour codes in the log; each step's table under its caption
    assert "\x1b[" not in out
    lines = out.splitlines()
    assert lines[0] == "step-1 (shared) training:" and "epoch" in lines[1]
    assert "step-2 (specific) training:" in lines


def test_a_quiet_fit_prints_nothing(data, capsys):
    small_model().fit(data.data)
    assert capsys.readouterr().out == ""


def test_the_log_goes_through_the_printer_given(monkeypatch):
    # an accelerator's print (its main process only): on a terminal as it
    # is, elsewhere without the colour codes
    from sklearn_dssl._training import log_sink

    printed = []

    def printer(*values, **kwargs):
        printed.append(values)

    monkeypatch.setattr(sys, "stdout", _Terminal())
    assert log_sink(printer) is printer
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    log_sink(printer)("\x1b[36m4.98\x1b[0m")
    assert printed == [("4.98",)] and sys.stdout.getvalue() == ""


def test_verbose_log_keeps_its_colours_on_a_terminal(data, monkeypatch):
    monkeypatch.setattr(sys, "stdout", _Terminal())
    small_model(verbose=1).fit(data.data)
    assert "\x1b[" in sys.stdout.getvalue()


def test_verbose_draws_progress_bars_on_a_terminal_only(data, monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    model = small_model(verbose=1).fit(data.data)
    assert "progress_bar" in dict(model.shared_net_.callbacks_)
    assert "it/s" in sys.stderr.getvalue()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    model = small_model(verbose=1).fit(data.data)
    assert "progress_bar" not in dict(model.shared_net_.callbacks_)
    assert sys.stderr.getvalue() == ""
    # a Jupyter kernel (notebook, Colab) shows it, though its stderr is no terminal
    import types

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    model = small_model(verbose=1).fit(data.data)
    assert "progress_bar" in dict(model.shared_net_.callbacks_)


def test_the_progress_bar_counts_the_batches_trained(data, monkeypatch):
    # 120 rows in batches of 16: 7 batches, the 8 rows left over dropped
    monkeypatch.setattr(sys, "stderr", _Terminal())
    small_model(verbose=1).fit(data.data)
    drawn = sys.stderr.getvalue()
    assert "0/7 " in drawn and "/8 " not in drawn
    # and so does skorch's, given as a callback, its class or a named pair
    for bar in (ProgressBar(), ProgressBar, ("bar", ProgressBar())):
        monkeypatch.setattr(sys, "stderr", _Terminal())
        small_model(callbacks=[bar]).fit(data.data)
        drawn = sys.stderr.getvalue()
        assert "0/7 " in drawn and "/8 " not in drawn


class _CountEpochs(Callback):
    def on_epoch_end(self, net, **kwargs):
        net.history.record("counted", True)


def test_callbacks_reach_both_steps(data):
    model = small_model(callbacks=[_CountEpochs()]).fit(data.data)
    assert all(model.shared_net_.history[:, "counted"])
    assert all(model.specific_net_.history[:, "counted"])


def test_callbacks_as_classes_and_named_pairs(data):
    model = small_model(callbacks=[("counter", _CountEpochs), _CountEpochs]).fit(data.data)
    assert all(model.shared_net_.history[:, "counted"])
    assert "counter" in dict(model.specific_net_.callbacks_)


@pytest.mark.parametrize("entry", [1, "print_log", ("name", 2), ProgressBar.__init__])
def test_a_callback_list_entry_that_is_no_callback_is_refused(data, entry):
    with pytest.raises(TypeError, match="is not a skorch callback"):
        small_model(callbacks=[entry]).fit(data.data)


def test_a_callback_named_like_one_of_the_package_is_refused_with_the_fix(data):
    from skorch.callbacks import LRScheduler

    with pytest.raises(ValueError, match="'lr_schedule' is one of the package's own"):
        small_model(callbacks=[("lr_schedule", LRScheduler(policy="StepLR", step_size=1))]
                    ).fit(data.data)
    # verbose's progress bar is reserved whether or not stderr is a terminal
    with pytest.raises(ValueError, match="'progress_bar' is one of the package's own"):
        small_model(verbose=1, callbacks=[("progress_bar", _CountEpochs())]).fit(data.data)
    small_model(callbacks=[("progress_bar", _CountEpochs())]).fit(data.data)


class _Writer:
    """A logging handle (a SummaryWriter, a tracking run): it holds a lock, so
    it cannot be copied, and what it is sent must reach the user's object."""

    def __init__(self):
        self.scalars = []
        self._lock = threading.Lock()

    def add_scalar(self, tag, scalar_value, global_step=None):
        self.scalars.append(tag)

    def flush(self):
        pass

    def close(self):
        pass


def test_callbacks_send_to_the_objects_they_are_given(data, capsys):
    writer, lines = _Writer(), []
    never_better = EarlyStopping(monitor="train_loss", patience=1, threshold=1e6,
                                 threshold_mode="abs", sink=lines.append)
    given = dict(vars(never_better))
    model = small_model(callbacks=[TensorBoard(writer), never_better], verbose=1
                        ).fit(data.data)
    # both steps log to the one writer (skorch's TensorBoard records every
    # epoch's train_loss), and each step's stopping message reaches the sink
    assert writer.scalars.count("Loss/train_loss") == 2 + 2
    assert len(lines) == 2 and all("Stopping since train_loss" in line for line in lines)
    # each net has its own copy, which holds its own state
    stops = [dict(net.callbacks_)["EarlyStopping"] for net in
             (model.shared_net_, model.specific_net_)]
    assert stops[0] is not stops[1] and stops[0] is not never_better
    assert vars(never_better) == given  # the given callback is left as it was


def test_checkpoints_of_the_two_steps_keep_their_own_files(data, tmp_path):
    checkpoint = Checkpoint(monitor=None, dirname=str(tmp_path))
    small_model(callbacks=[checkpoint]).fit(data.data)
    files = {p.name for p in tmp_path.iterdir()}
    assert {"step1_params.pt", "step2_params.pt", "step1_history.json"} <= files
    assert "params.pt" not in files
    # and a later fit starts each step from its own step's files
    again = small_model(callbacks=[checkpoint, LoadInitState(checkpoint)]).fit(data.data)
    assert len(again.shared_net_.history) == len(again.specific_net_.history) == 2 + 2
    # file names with folders in them keep their folders
    folder = tmp_path / "weights"
    folder.mkdir()
    small_model(callbacks=[Checkpoint(monitor=None, f_params=str(folder / "params.pt"),
                                      f_optimizer=None, f_criterion=None, f_history=None)]
                ).fit(data.data)
    assert sorted(p.name for p in folder.iterdir()) == ["step1_params.pt", "step2_params.pt"]


def test_a_later_fit_starts_from_the_end_of_training_checkpoints(data, tmp_path):
    at_the_end = TrainEndCheckpoint(dirname=str(tmp_path))
    small_model(callbacks=[at_the_end]).fit(data.data)
    assert {"train_end_step1_params.pt", "train_end_step2_params.pt"} <= {
        p.name for p in tmp_path.iterdir()}
    again = small_model(callbacks=[LoadInitState(at_the_end)]).fit(data.data)
    assert len(again.shared_net_.history) == len(again.specific_net_.history) == 2 + 2


def test_a_callback_that_cannot_be_copied_is_named_with_the_fix(data):
    # state kept in an attribute without a trailing '_' is a skorch parameter,
    # which the copy made for each net passes to __init__
    keeper = _CountEpochs()
    keeper.rows = []
    model = small_model().fit(data.data)
    before = model.transform(data.data)
    for refit in ("fit", "fit_specific"):
        model.set_params(callbacks=[keeper])
        with pytest.raises(TypeError, match=r"callbacks: _CountEpochs cannot be copied.*"
                                            r"trailing '_'"):
            getattr(model, refit)(data.data)
        model.set_params(callbacks=None)
        np.testing.assert_array_equal(model.transform(data.data), before)


@pytest.mark.parametrize("head", ["vmf", "power_spherical", "gaussian"])
@pytest.mark.parametrize("augmentation", ["mixed", "noise", "mask", "none", lambda x: -x])
def test_heads_and_augmentations_train(data, head, augmentation):
    model = small_model(head=head, augmentation=augmentation, kappa=10.0).fit(data.data)
    assert np.isfinite(model.transform(data.data)).all()


def test_callable_augmentation_is_used(data):
    calls = []

    def augment(x):
        calls.append(tuple(x.shape))
        return x + 0.1 * torch.randn_like(x)

    small_model(augmentation=augment, batch_size=50).fit(data.data)
    # step 1 augments each batch once, step 2 twice; 2 batches per epoch
    assert calls == [(50, 10)] * (2 * 2 + 2 * 2 * 2)


@pytest.mark.parametrize(
    "augment, error, message",
    [
        (lambda x: x.numpy(), TypeError, "returned ndarray"),
        (lambda x: None, TypeError, "returned NoneType"),
        (lambda x: x[:, :4], ValueError, r"shape \(50, 4\).*shaped like its input batch \(50, 10\)"),
        (lambda x: (x > 0).long(), TypeError, "torch.int64 tensor"),
        (lambda x: x.to("meta"), ValueError, "on meta, but the batch is on cpu"),
    ],
)
def test_callable_augmentation_output_is_checked(data, augment, error, message):
    model = small_model(augmentation=augment, batch_size=50, device="cpu")
    with pytest.raises(error, match=message):
        model.fit(data.data)
    assert not hasattr(model, "shared_net_")


def test_callable_augmentation_of_another_precision_is_cast(data):
    model = small_model(augmentation=lambda x: x.double() + 0.1, batch_size=50)
    assert model.fit(data.data).transform(data.data).dtype == np.float32


def test_device_handling(data):
    assert small_model(device="auto").fit(data.data).shared_net_.device in ("cpu", "cuda")
    with pytest.raises(ValueError, match="not a torch device"):
        small_model(device="gpu0").fit(data.data)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            small_model(device="cuda").fit(data.data)
    with pytest.raises(ValueError, match="no usable 'meta' device"):
        small_model(device="meta").fit(data.data)
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="no usable 'mps' device"):
            small_model(device="mps").fit(data.data)


@pytest.mark.parametrize(
    "X, error, message",
    [
        (np.full((20, 4), np.nan), ValueError, "NaN"),
        (np.full((20, 4), np.inf), ValueError, "infinity"),
        (np.array([["a", "b", "c", "d"]] * 20, dtype=object), ValueError, "convert"),
        (sp.random(20, 4, density=0.5, format="csr", random_state=0), TypeError, "dense data"),
        (np.ones((1, 4)), ValueError, "1 sample"),
        (np.ones((0, 4)), ValueError, "0 sample"),
        (np.ones(4), ValueError, "2D array"),
    ],
)
def test_bad_input_at_fit(X, error, message):
    with pytest.raises(error, match=message):
        small_model().fit(X)


def test_bad_input_at_transform(fitted, data):
    with pytest.raises(ValueError, match="X has 9 features, but DisentangledSSL is expecting 10"):
        fitted.transform(data.data[:, :9])
    X = data.data.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fitted.transform(X)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(modalities=[4, 4]), "add up to 8, but X has 10"),
        (dict(modalities=[[0, 1], [2, 3]]), "belong to no modality"),
        (dict(hidden_layer_sizes=(8, 0)), "positive ints"),
        (dict(hidden_layer_sizes=("a",)), "positive ints"),
        (dict(n_shared=1), "n_shared >= 2"),
    ],
)
def test_bad_settings_are_named(data, params, message):
    with pytest.raises(ValueError, match=message):
        small_model(**params).fit(data.data)


def test_linear_encoders_and_more_than_batch_rows(data):
    model = small_model(hidden_layer_sizes=(), batch_size=1000).fit(data.data)
    assert model.transform(data.data).shape == (120, 10)


def test_probes_see_shared_and_specific_information():
    """Shared block carries the shared label, modality-1's specific block its own label."""
    data = make_paper_synthetic(n_samples=6000, n_latent=10, n_features=20, random_state=0)
    X = StandardScaler().fit_transform(data.data)
    X_train, X_test, y_train, y_test = train_test_split(
        X, data.target, test_size=0.3, random_state=0
    )
    model = DisentangledSSL(
        modalities=data.modalities, n_shared=10, n_specific=10, hidden_layer_sizes=(64,),
        max_epochs_shared=30, max_epochs_specific=20, batch_size=128, lr=1e-3,
        random_state=0,
    ).fit(X_train)
    train_blocks, test_blocks = model.transform_blocks(X_train), model.transform_blocks(X_test)

    def probe(block, modalities, label):
        A = np.hstack([train_blocks[block][m] for m in modalities])
        B = np.hstack([test_blocks[block][m] for m in modalities])
        j = data.target_names.index(label)
        clf = LogisticRegression(max_iter=2000).fit(A, y_train[:, j])
        return clf.score(B, y_test[:, j])

    shared = {label: probe("shared", ["m1", "m2"], label) for label in data.target_names}
    specific = {label: probe("specific", ["m1"], label) for label in data.target_names}
    # chance is 0.5; measured: shared block 0.77 on Y_c, at most 0.58 on the
    # specific labels; modality 1's specific block 0.60 on Y_s1, 0.52 on Y_c
    assert shared["shared"] > 0.72
    assert shared["shared"] > max(shared["specific_m1"], shared["specific_m2"]) + 0.12
    assert specific["specific_m1"] > 0.57
    assert specific["specific_m1"] > specific["shared"] + 0.05


def test_looks_linear_specific_encoders_keep_more_of_their_modality():
    """specific_init="looks_linear" starts g_1 as a linear map of [x_1, f_1(x_1)];
    its trained block holds more of Z_1 than the authors' N(0, 0.01^2) start,
    and as little of Z_c."""
    from sklearn.linear_model import LinearRegression

    data = make_paper_synthetic(n_samples=3000, n_latent=8, n_features=16, random_state=0)
    X = StandardScaler().fit_transform(data.data)
    train, test = train_test_split(np.arange(len(X)), test_size=0.3, random_state=0)
    model = DisentangledSSL(
        modalities=data.modalities, n_shared=8, n_specific=8, hidden_layer_sizes=(64,),
        max_epochs_shared=20, max_epochs_specific=10, batch_size=128, lr=1e-3,
        random_state=0, output="shared",
    ).fit(X[train])

    def r2_of_latents(specific_init):
        model.set_params(specific_init=specific_init, output="all").fit_specific(X[train])
        S_train, S_test = (model.transform_blocks(X[rows])["specific"]["m1"]
                           for rows in (train, test))
        return {block: LinearRegression().fit(S_train, data.latents[block][train])
                .score(S_test, data.latents[block][test])
                for block in ("specific_m1", "shared")}

    normal, looks_linear = r2_of_latents("normal"), r2_of_latents("looks_linear")
    # measured: R^2 of Z_1 0.40 (normal) and 0.54 (looks_linear); of Z_c 0.04 and 0.08
    # (seeds 1 and 2 of the data: 0.48 / 0.60 and 0.52 / 0.63)
    assert looks_linear["specific_m1"] > normal["specific_m1"] + 0.07
    assert looks_linear["shared"] < 0.2 and normal["shared"] < 0.2


ALLOCATION_FAILURE = ("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: "
                      "can't allocate memory: you tried to allocate 32000000000 bytes.")


def test_a_model_too_large_for_memory_is_a_memory_error_naming_its_sizes(data, monkeypatch):
    """torch's allocator fails with a RuntimeError (here building step 2's
    encoders, after step 1 trained); fit raises a MemoryError that names the
    settings the model's size follows, and leaves the fitted model as it was."""
    import sklearn_dssl._disentangled as module

    model = small_model().fit(data.data)
    before = model.transform(data.data)

    def too_large(*args, **kwargs):
        raise RuntimeError(ALLOCATION_FAILURE)

    monkeypatch.setattr(module, "SpecificEncoders", too_large)
    with pytest.raises(ModelMemoryError, match=re.escape(
            "DisentangledSSL ran out of memory while fitting ([enforce fail") + r".*"
            + re.escape("Its memory grows with hidden_layer_sizes=(8,), n_shared=3, "
                        "n_specific=10000, batch_size=16 and the rows of X: choose smaller "
                        "values, or fit on fewer rows.")):
        model.set_params(n_specific=10_000).fit(data.data)
    np.testing.assert_array_equal(model.transform(data.data), before)

    def out_of_gpu_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 30.00 GiB")

    # code that catches torch's errors still catches it
    monkeypatch.setattr(module, "SpecificEncoders", out_of_gpu_memory)
    with pytest.raises(torch.cuda.OutOfMemoryError, match="DisentangledSSL ran out of memory "
                       r"while fitting \(CUDA out of memory\. Tried") as caught:
        model.fit(data.data)
    assert isinstance(caught.value, ModelMemoryError)
    monkeypatch.setattr(module, "SpecificEncoders", too_large)
    with pytest.raises(RuntimeError):
        model.fit(data.data)
    monkeypatch.setattr(module, "SpecificEncoders", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # other errors pass as they are
        model.fit(data.data)


@pytest.mark.parametrize("make", [
    lambda: small_model(hidden_layer_sizes=(10**12,)),
    lambda: MultimodalContrastive(hidden_layer_sizes=(10, 10**12), max_epochs=1),
])
def test_widths_too_large_for_memory_are_refused_before_anything_is_allocated(data, make):
    # a typo: at 16 bytes a weight (itself, its gradient, Adam's two
    # averages), far more than any machine holds; allocating it could end
    # the process instead of failing
    model = make()
    name = type(model).__name__
    widths = ("n_shared=3 and n_specific=2" if name == "DisentangledSSL"
              else "n_components=16")
    with pytest.raises(ModelMemoryError, match=(
            rf"{name} needs at least [\d,.]+ GiB for its encoders' weights, their gradients "
            r"and Adam's state, more than the [\d,.]+ GiB of memory of the device it trains on "
            r"\(cpu\)\. The encoders' weights grow with hidden_layer_sizes="
            rf"\([\d, ]+\),? (and )?{widths}, and with the modalities' columns \(5 and 5\): "
            r"choose smaller widths\.")):
        model.fit(data.data)
    assert not hasattr(model, "n_features_in_")  # left unfitted


def test_the_memory_check_counts_the_encoders_against_the_device_s_memory(data, monkeypatch):
    import sklearn_dssl._neural as neural

    # two modalities of 5 columns, a hidden layer of 8, encoders to the
    # shared block (3 wide) and the specific one (2): at least
    # 16 * 2 * ((5 * 8 + 8 + 8 * 3 + 3) + (5 * 8 + 8 + 8 * 2 + 2)) bytes
    shared, specific = 5 * 8 + 8 + 8 * 3 + 3, 5 * 8 + 8 + 8 * 2 + 2
    needed = 16 * 2 * (shared + specific)
    monkeypatch.setattr(neural, "device_memory", lambda device: needed - 1)
    with pytest.raises(MemoryError, match="needs at least"):
        small_model().fit(data.data)
    monkeypatch.setattr(neural, "device_memory", lambda device: needed)
    small_model().fit(data.data)
    # step 1 alone: the specific block's width does not count
    monkeypatch.setattr(neural, "device_memory", lambda device: 16 * 2 * shared)
    small_model(output="shared", n_specific=10**12).fit(data.data)
    with pytest.raises(MemoryError, match=r"n_specific=1000000000000"):
        small_model(n_specific=10**12).fit(data.data)
    # and fit_specific, which trains step 2 whatever the output
    fitted = small_model(output="shared").fit(data.data)
    with pytest.raises(MemoryError, match=r"n_specific=1000000000000"):
        fitted.set_params(n_specific=10**12).fit_specific(data.data)
    assert not hasattr(fitted, "specific_net_")
    # counting step 1's encoders as built, not at today's hidden_layer_sizes
    fitted.set_params(n_specific=2, hidden_layer_sizes=(4096,))
    built = sum(p.numel() for p in fitted.shared_net_.module_.parameters())
    assert built == 2 * shared
    specific_now = 2 * (5 * 4096 + 4096 + 4096 * 2 + 2)
    monkeypatch.setattr(neural, "device_memory", lambda device: 16 * (built + specific_now))
    fitted.set_params(max_epochs_specific=1).fit_specific(data.data)
    monkeypatch.setattr(neural, "device_memory",
                        lambda device: 16 * (built + specific_now) - 1)
    with pytest.raises(MemoryError, match=r"hidden_layer_sizes=\(4096,\) and n_specific=2,"):
        fitted.fit_specific(data.data)


def test_non_finite_loss_stops_with_a_named_error(data):
    from sklearn_dssl._training import NonFiniteLossError

    with pytest.raises(NonFiniteLossError, match=r"step-1 \(shared\).*epoch 1.*lower lr"):
        small_model(augmentation=lambda x: x * float("nan")).fit(data.data)


@pytest.mark.parametrize(
    "bad_refit",
    [
        lambda model, X: model.fit(np.full_like(X, np.nan)),
        lambda model, X: model.set_params(modalities=[4, 4]).fit(X),
        lambda model, X: model.set_params(augmentation=lambda x: x * float("nan")).fit(X),
        lambda model, X: model.set_params(ortho_weight=1.0).fit_specific(X[:, :9]),
    ],
)
def test_failed_refit_leaves_the_fitted_model_usable(data, bad_refit):
    model = small_model().fit(data.data)
    before = model.transform(data.data)
    nets = model.shared_net_, model.specific_net_
    with pytest.raises((ValueError, FloatingPointError)):
        bad_refit(model, data.data)
    assert (model.shared_net_, model.specific_net_) == nets
    assert model.n_features_in_ == 10
    np.testing.assert_array_equal(model.set_params(modalities=None).transform(data.data), before)


def _objective_loss(objective, inputs):
    torch.manual_seed(0)  # the head's samples
    return objective(inputs).item()


@pytest.mark.parametrize("head", ["vmf", "gaussian"])
def test_parameters_reach_the_trained_objectives(data, head):
    """Each step's criterion is the objective of the estimator's parameters: its
    loss on fixed inputs equals that of the objective built from them, and each
    parameter set back to its default changes the loss of a step that uses it."""
    params = dict(beta=0.37, kappa=25.0, temperature=0.3, ortho_weight=0.4)
    model = small_model(head=head, max_epochs_shared=1, max_epochs_specific=1, **params)
    model.fit(data.data)
    g = torch.Generator().manual_seed(1)  # not the samples' seed: other numbers

    def normal(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    means = [normal(16, 3) for _ in range(2)]
    views = tuple(([normal(16, 2) for _ in range(2)], [normal(16, 3) for _ in range(2)])
                  for _ in range(2))
    steps = [
        (model.shared_net_.criterion_, means, lambda p: SharedObjective(
            HEADS[head](p["kappa"]), temperature=p["temperature"], beta=p["beta"])),
        (model.specific_net_.criterion_, views, lambda p: SpecificObjective(
            temperature=p["temperature"], ortho_weight=p["ortho_weight"])),
    ]
    defaults = DisentangledSSL().get_params()
    for trained, inputs, reference in steps:
        expected = _objective_loss(reference(params), inputs)
        assert _objective_loss(trained, inputs) == pytest.approx(expected, rel=1e-9)
    # every parameter changes one of the two steps' losses
    for name in params:
        assert any(
            _objective_loss(reference({**params, name: defaults[name]}), inputs)
            != pytest.approx(_objective_loss(reference(params), inputs), rel=1e-6)
            for _, inputs, reference in steps
        ), name


def _batch_history(net, key):
    return np.concatenate([np.asarray(row, dtype=float) for row in net.history[:, "batches", :, key]])


@pytest.mark.parametrize("validation_fraction", [None, 0.25])
def test_beta_ramps_geometrically_batch_by_batch_and_the_loss_follows(data, validation_fraction):
    """With beta_start, each training batch's bottleneck weight is the
    authors' exponential ramp, recorded in the history; the loss of every
    batch is its contrast plus that weight times its bottleneck; the weight
    stays at beta after the ramp and is beta again when training ends."""
    model = small_model(beta=2.0, beta_start=0.002, beta_ramp_epochs=1.5, max_epochs_shared=3,
                        validation_fraction=validation_fraction).fit(data.data)
    net = model.shared_net_
    beta = _batch_history(net, "beta")
    per_epoch = net.history[0, "train_batch_count"]
    assert per_epoch == round(120 * (1 - (validation_fraction or 0))) // 16
    assert len(beta) == 3 * per_epoch  # training batches only
    done = np.arange(len(beta)) / per_epoch
    expected = 0.002 * 1000.0 ** np.minimum(done / 1.5, 1.0)
    np.testing.assert_allclose(beta, expected, rtol=1e-12)
    assert beta[0] == 0.002 and beta[-1] == 2.0 and 0.002 < beta[per_epoch] < 2.0
    loss, contrast, bottleneck = (_batch_history(net, f"train_{k}")
                                  for k in ("loss", "contrast", "bottleneck"))
    np.testing.assert_allclose(loss, contrast + beta * bottleneck, rtol=1e-5, atol=1e-6)
    assert type(net.criterion_.beta) is float and net.criterion_.beta == 2.0
    # step 2 has no ramp
    assert "beta" not in model.specific_net_.history[-1, "batches", 0]


def test_a_ramp_over_all_of_step_one_by_default_ends_at_the_last_batch(data):
    net = small_model(beta=1.0, beta_start=0.01, max_epochs_shared=2).fit(data.data).shared_net_
    beta = _batch_history(net, "beta")
    np.testing.assert_allclose(beta, 0.01 * 100.0 ** (np.arange(len(beta)) / len(beta)),
                               rtol=1e-12)


def test_a_ramp_from_beta_to_beta_trains_as_a_constant_beta(data):
    """The ramp's weight, a tensor filled in place, changes nothing else:
    the same seed gives the same embeddings as beta kept constant."""
    constant = small_model(beta=0.3).fit(data.data)
    ramped = small_model(beta=0.3, beta_start=0.3).fit(data.data)
    np.testing.assert_array_equal(ramped.transform(data.data), constant.transform(data.data))
    assert "beta" not in constant.shared_net_.history[-1, "batches", 0]


def test_a_ramp_changes_what_step_one_learns(data):
    ramped = small_model(beta=0.3, beta_start=30.0).fit(data.data)
    constant = small_model(beta=0.3).fit(data.data)
    assert not np.allclose(ramped.transform(data.data), constant.transform(data.data))


def test_a_ramp_longer_than_step_one_is_refused_with_the_fix(data):
    with pytest.raises(ValueError, match=r"beta_ramp_epochs=2\.5 is longer than step 1 "
                       r"\(max_epochs_shared=2\).*Set beta_ramp_epochs to at most "
                       r"max_epochs_shared, or leave it at None"):
        small_model(beta_start=0.01, beta_ramp_epochs=2.5).fit(data.data)
    small_model(beta_start=0.01, beta_ramp_epochs=2.0).fit(data.data)


def test_a_ramp_to_no_bottleneck_is_refused_with_the_fix(data):
    with pytest.raises(ValueError, match=r"cannot end at beta=0; set a positive beta, or, "
                                         r"for no bottleneck, leave beta_start at None\."):
        small_model(beta=0.0, beta_start=0.01).fit(data.data)


def test_a_ramp_length_without_a_ramp_is_ignored(data):
    # as scikit-learn ignores a parameter that does not apply: a grid may pair it with None
    ramp_length_alone = small_model(beta_ramp_epochs=1.0).fit(data.data)
    assert "beta" not in ramp_length_alone.shared_net_.history[-1, "batches", 0]
    np.testing.assert_array_equal(ramp_length_alone.transform(data.data),
                                  small_model().fit(data.data).transform(data.data))


def test_the_held_out_loss_of_a_ramp_is_taken_at_beta(data):
    """Early stopping compares the held-out loss of epochs: it is the
    objective at beta itself, while the training loss follows the ramp."""
    net = small_model(beta=2.0, beta_start=0.002, max_epochs_shared=3,
                      validation_fraction=0.25).fit(data.data).shared_net_
    valid = {k: np.array(net.history[:, f"valid_{k}"])
             for k in ("loss", "contrast", "bottleneck")}
    np.testing.assert_allclose(valid["loss"], valid["contrast"] + 2.0 * valid["bottleneck"],
                               rtol=1e-5, atol=1e-6)


def test_a_ramped_net_trained_further_trains_at_beta(data):
    model = small_model(beta=1.0, beta_start=0.01).fit(data.data)
    net = model.shared_net_
    ramped = len(_batch_history(net, "beta"))
    X = torch.as_tensor(model._in_model_order(data.data), dtype=torch.float32)
    net.partial_fit(X, epochs=1)
    assert len(_batch_history(net, "beta")) == ramped  # no ramp again
    last = net.history[-1, "batches"]
    np.testing.assert_allclose(
        [b["train_loss"] for b in last],
        [b["train_contrast"] + 1.0 * b["train_bottleneck"] for b in last], rtol=1e-5, atol=1e-6)
    assert type(net.criterion_.beta) is float and net.criterion_.beta == 1.0


def test_a_net_trained_further_on_a_data_frame_reads_its_columns_by_name(data):
    """The table a model was fitted on, its columns in another order than
    the modalities', trains a net further as the array of its columns in the
    modalities' order does; a table that lacks one is refused by name."""
    names = [f"c{i}" for i in range(data.data.shape[1])]
    table = pd.DataFrame(data.data, columns=names)[names[::-1]]  # m2's columns first
    model = small_model(modalities={"m1": names[:5], "m2": names[5:]}).fit(table)
    in_order = table[names].to_numpy(np.float32)
    nets = [pickle.loads(pickle.dumps(model.shared_net_)) for _ in range(2)]
    for net, X in zip(nets, (table, in_order)):
        torch.manual_seed(0)
        net.partial_fit(X, epochs=1)
    for a, b in zip(nets[0].module_.parameters(), nets[1].module_.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"the columns of X do not match the net's input: "
                       r"X lacks \['c0'\]; pass a DataFrame holding its columns"):
        nets[0].partial_fit(table.drop(columns="c0"), epochs=1)
    # a frame without names (integer labels), to a net fitted on an array: no warning
    unnamed = small_model().fit(data.data).shared_net_
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        unnamed.partial_fit(pd.DataFrame(data.data), epochs=1)
    # a net that does not know the names (pickled before nets kept them)
    del nets[1].column_names_
    with pytest.warns(UserWarning, match=r"X has column names, but this net reads its columns "
                      r"by position .* in the order of the estimator's modalities_"):
        nets[1].partial_fit(table[names], epochs=1)


def test_fit_specific_warns_of_columns_unlike_those_step_one_was_fitted_on(data):
    """The model of a Pipeline refitted on the raw table, which step 1 read
    through a scaler: step 2 would learn from encoders fed the wrong inputs."""
    X = pd.DataFrame(data.data * 10 + 50, columns=[f"c{i}" for i in range(10)])
    pipe = Pipeline([("scale", StandardScaler()), ("model", small_model())]).set_output(
        transform="pandas").fit(X)
    with pytest.warns(UserWarning, match=r"X's columns are not those step 1 was fitted on: 10 "
                      r"of 10 lie far from the fit's, e\.g\. 'c0', of mean \d+\.\d+ and "
                      r"standard deviation \d+\.?\d* here, -?\d.*e-\d+ and 1 at fit\..*"
                      r"pipe\[-1\]\.fit_specific\(pipe\[:-1\]\.transform\(X\)\)"):
        pipe[-1].fit_specific(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        pipe[-1].fit_specific(pipe[:-1].transform(X))
        pipe[-1].fit_specific(pipe[:-1].transform(X.iloc[:40]))  # a part of the rows
    # unnamed columns by position; a part of the rows where some columns are
    # constant or far off is the fit's table still
    indicator = np.column_stack([data.data[:, :9], np.arange(120) % 10 == 0]).astype(float)
    model = small_model().fit(indicator)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit_specific(indicator[indicator[:, 9] == 0])  # column 9 constant there
        model.fit_specific(indicator[indicator[:, 0] > 1.0])  # column 0 far off, alone
    with pytest.warns(UserWarning, match=r"fitted on: 10 of 10 .* e\.g\. column 0, of mean"):
        model.fit_specific(indicator * 100)
    # one modality's columns raw (a ColumnTransformer that scaled the other's)
    one_raw = indicator.copy()
    one_raw[:, 5:] = one_raw[:, 5:] * 100 + 50
    with pytest.warns(UserWarning, match=r"fitted on: 5 of 10 lie far .* e\.g\. column 5"):
        model.fit_specific(one_raw)


def test_a_fit_resumed_from_a_checkpoint_goes_on_with_the_ramp(data, tmp_path):
    """LoadInitState loads the history: the ramp counts its epochs, so a fit
    resumed after 2 epochs of a 4-epoch ramp trains the ramp's last 2 epochs
    and then keeps beta, as one fit of 4 epochs would."""
    saved = Checkpoint(monitor=None, dirname=str(tmp_path))
    model = small_model(beta=1.0, beta_start=0.01, max_epochs_shared=2,  # a ramp over 2
                        callbacks=[saved, LoadInitState(saved)])
    first = _batch_history(model.fit(data.data).shared_net_, "beta")
    np.testing.assert_allclose(first, 0.01 * 100.0 ** (np.arange(len(first)) / len(first)),
                               rtol=1e-12)
    model.set_params(beta_ramp_epochs=4.0, max_epochs_shared=4)
    beta = _batch_history(model.fit(data.data).shared_net_, "beta")  # resumes: 4 epochs more
    per_epoch = len(first) // 2
    assert len(beta) == 6 * per_epoch
    done = np.arange(len(beta)) / per_epoch
    # the checkpoint's 2 epochs at a ramp over 2, then from epoch 2 of a ramp over 4
    np.testing.assert_allclose(beta[2 * per_epoch:],
                               0.01 * 100.0 ** np.minimum(done[2 * per_epoch:] / 4.0, 1.0),
                               rtol=1e-12)
    assert beta[-1] == 1.0 and beta[2 * per_epoch] == pytest.approx(0.1)


@pytest.mark.parametrize("params", [dict(beta_start=0.0), dict(beta_start=-1.0),
                                    dict(beta_start=0.1, beta_ramp_epochs=0)])
def test_ramp_settings_outside_their_range_are_refused(data, params):
    with pytest.raises(ValueError, match="beta_start|beta_ramp_epochs"):
        small_model(**params).fit(data.data)


def test_the_augmenter_scale_stays_finite_where_float32_squares_overflow(data, monkeypatch):
    # as on CUDA, which reduces float32 in float32: the squared deviations of
    # 1e30-scale columns overflow there (on the CPU they are accumulated wider)
    std = torch.Tensor.std

    def float32_std(self, *args, **kwargs):
        out = std(self, *args, **kwargs)
        return torch.where(out > 1e19, torch.inf, out) if self.dtype == torch.float32 else out

    monkeypatch.setattr(torch.Tensor, "std", float32_std)
    X = data.data * 1e30
    model = small_model(output="shared", max_epochs_shared=1).fit(X)
    scale = model.shared_net_.module_.augmenter.scale.numpy()
    np.testing.assert_allclose(scale, X.std(axis=0), rtol=1e-4)


def test_each_steps_augmenter_is_scaled_to_the_rows_it_trains_on(data):
    # fit reads the columns' means and standard deviations once for both
    # steps; fit_specific on other rows scales step 2 to those
    X = data.data + 5.0 * np.arange(1, data.data.shape[1] + 1)
    model = small_model(max_epochs_shared=1, max_epochs_specific=1).fit(X)
    shared = model.shared_net_.module_.augmenter
    specific = model.specific_net_.module_.augmenter
    for augmenter in (shared, specific):
        np.testing.assert_allclose(augmenter.center.numpy(), X.mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(augmenter.scale.numpy(), X.std(axis=0), rtol=1e-4)
    # each with buffers of its own
    assert not any(np.shares_memory(a.numpy(), b.numpy())
                   for a in shared.buffers() for b in specific.buffers())
    other = 3.0 * X[:100] - 1.0
    specific = model.fit_specific(other).specific_net_.module_.augmenter
    np.testing.assert_allclose(specific.center.numpy(), other.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(specific.scale.numpy(), other.std(axis=0), rtol=1e-4)


@pytest.mark.parametrize("kind, noise_scale, mask_fraction", [("noise", 0.5, 0.05),
                                                               ("mask", 0.5, 0.3)])
def test_augmentation_parameters_reach_the_training_augmenter(data, kind, noise_scale,
                                                              mask_fraction):
    """The augmenter trained with noises by noise_scale times each column's
    standard deviation in X, or masks mask_fraction of the entries, each to
    its column's mean in X."""
    n_columns = data.data.shape[1]
    # columns centred far from 0 and from each other: a mask to zeros, or to
    # another column's mean, shows
    X = data.data + 5.0 * np.arange(1, n_columns + 1)
    model = small_model(output="shared", max_epochs_shared=1, augmentation=kind,
                        noise_scale=noise_scale, mask_fraction=mask_fraction).fit(X)
    augmenter = model.shared_net_.module_.augmenter.train()
    np.testing.assert_allclose(augmenter.center.numpy(), X.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(augmenter.scale.numpy(), X.std(axis=0), rtol=1e-4)
    torch.manual_seed(0)
    if kind == "noise":
        out = augmenter(torch.zeros(20000, n_columns)).std(dim=0).numpy()
        np.testing.assert_allclose(out / X.std(axis=0), noise_scale, atol=0.02)
    else:
        far = torch.full((20000, n_columns), 1e3)  # far from every column's mean
        out = augmenter(far)
        masked = out != 1e3
        assert masked.float().mean().item() == pytest.approx(mask_fraction, abs=0.01)
        assert masked.any(dim=0).all()  # every column has masked entries
        column_means = torch.tensor(X.mean(axis=0), dtype=torch.float32).expand_as(out)
        torch.testing.assert_close(out[masked], column_means[masked])


def test_transform_blocks_computes_the_blocks_asked_for(fitted, data, monkeypatch):
    every = fitted.transform_blocks(data.data)
    for asked in ("shared", ["specific"], ("shared", "specific")):
        got = fitted.transform_blocks(data.data, blocks=asked)
        assert list(got) == ([asked] if isinstance(asked, str) else list(asked))
        for block in got:
            for name in got[block]:
                np.testing.assert_array_equal(got[block][name], every[block][name])
    with pytest.raises(ValueError, match="blocks is empty"):
        fitted.transform_blocks(data.data, blocks=[])
    with pytest.raises(ValueError, match="has no joint block"):
        fitted.transform_blocks(data.data, blocks=["joint"])
    # a generator of names is read once
    got = fitted.transform_blocks(data.data, blocks=(b for b in ["specific"]))
    assert list(got) == ["specific"]
    for wrong in (5, b"shared", {"shared": 1}, ["shared", 2]):
        with pytest.raises(TypeError, match=r"is not a block's name or a sequence of them; "
                                            r"pass one of \['shared', 'specific'\]"):
            fitted.transform_blocks(data.data, blocks=wrong)
    shared_only = clone(fitted).set_params(output="shared").fit(data.data)
    with pytest.raises(NotFittedError, match="no fitted specific block"):
        shared_only.transform_blocks(data.data, blocks="specific")

    # the shared block and the probe metrics on it need step 1 alone
    def step_two_not_needed(*args, **kwargs):
        raise AssertionError("step 2 ran")

    monkeypatch.setattr(fitted.specific_net_.module_, "encode", step_two_not_needed)
    fitted.transform_blocks(data.data, blocks="shared")
    probe_score(fitted, data.data, data.target[:, 1], block="shared")


def test_every_entry_point_gives_one_shared_block_after_step_one_trains_on(data):
    # training shared_net_ further leaves the model's shared blocks as step 2
    # was trained with, wherever they are read from
    model = small_model().fit(data.data)
    before = model.transform_blocks(data.data)["shared"]
    model.shared_net_.partial_fit(torch.as_tensor(data.data, dtype=torch.float32))
    alone = model.transform_blocks(data.data, blocks="shared")["shared"]
    shared_output = model.set_params(output="shared").transform(data.data)
    for i, name in enumerate(model.modalities_):
        np.testing.assert_array_equal(alone[name], before[name])
        np.testing.assert_array_equal(shared_output[:, 3 * i : 3 * (i + 1)], before[name])
        columns = data.data[:, model.modalities_[name]]
        np.testing.assert_array_equal(model.transform_modality(columns, name), before[name])
    # and fit_specific trains a step 2 on the continued encoders
    continued = model.shared_net_.module_.encode(
        torch.as_tensor(data.data, dtype=torch.float32))[0].detach().numpy()
    model.fit_specific(data.data)
    np.testing.assert_allclose(model.transform_blocks(data.data)["shared"]["m1"], continued,
                               rtol=1e-6)
    assert np.abs(continued - before["m1"]).max() > 1e-6


def test_a_net_trained_further_anneals_its_learning_rate_again(data):
    # the fit's cosine schedule ends at 0: going on with it, a further epoch
    # would not train and later ones would end at a high rate
    model = small_model(lr=1e-2).fit(data.data)
    net = model.shared_net_
    assert net.optimizer_.param_groups[0]["lr"] < 1e-12  # where a further epoch would run
    before = [p.detach().clone() for p in net.module_.parameters()]
    net.partial_fit(data.data, epochs=1)
    assert net.history[-1, "event_lr"] == pytest.approx(1e-2)
    assert any(not torch.equal(a, b) for a, b in zip(before, net.module_.parameters()))
    net.partial_fit(data.data, epochs=3)
    np.testing.assert_allclose(net.history[-3:, "event_lr"], [1e-2, 7.5e-3, 2.5e-3])


def test_a_net_trained_further_refuses_bad_rows_and_keeps_its_weights_on_divergence(
        data, monkeypatch):
    model = small_model().fit(data.data)
    net, Z = model.shared_net_, model.transform(data.data)
    for bad, message in [(np.full((1, 10), 0.5), "1 row.*at least 2"),
                         (np.where(np.eye(len(data.data), 10) > 0, np.nan, data.data),
                          "NaN or infinite values.*impute or drop"),
                         (np.where(np.eye(len(data.data), 10) > 0, np.inf, data.data),
                          "NaN or infinite")]:
        with pytest.raises(ValueError, match=message):
            net.partial_fit(bad)
    epochs = len(net.history)
    combine = net.criterion_.combine
    # a loss that diverges in the second epoch of the call (7 batches an epoch)
    calls = iter(range(10**6))
    monkeypatch.setattr(net.criterion_, "combine", lambda terms: combine(terms) * (
        float("nan") if next(calls) >= 7 else 1.0))
    with pytest.raises(NonFiniteLossError):
        net.partial_fit(data.data)
    monkeypatch.undo()
    # the net as before the call: weights, optimiser state and history
    assert len(net.history) == epochs
    np.testing.assert_array_equal(model.fit_specific(data.data).transform(data.data)[:, :6],
                                  Z[:, :6])
    assert all(torch.isfinite(p).all() for p in net.module_.parameters())
    assert all(torch.isfinite(v).all() for state in net.optimizer_.state.values()
               for v in state.values() if torch.is_tensor(v))


def test_a_net_trained_further_is_left_as_it_was_when_a_callback_fails(data):
    class FailInTheSecondEpoch(Callback):
        def on_batch_end(self, net, training=False, **kwargs):
            if training and len(net.history) == 3 and len(net.history[-1]["batches"]) == 2:
                raise RuntimeError("the callback failed")

    model = small_model(callbacks=[FailInTheSecondEpoch()]).fit(data.data)
    net, Z = model.shared_net_, model.transform(data.data)
    with pytest.raises(RuntimeError, match="the callback failed"):
        net.partial_fit(data.data, epochs=2)  # epoch 3 of the history fails
    assert len(net.history) == 2
    # without what training holds (a copy of the weights, the torch scheduler)
    callbacks = dict(net.callbacks_)
    assert callbacks["keep_last_epoch_weights"].state_ is None
    assert callbacks["lr_schedule"].lr_scheduler_ is None
    model.fit_specific(data.data)  # a step 2 on the net's encoders
    np.testing.assert_array_equal(model.transform(data.data)[:, :6], Z[:, :6])


@pytest.mark.parametrize("checkpoint", ["TrainEndCheckpoint", "Checkpoint"])
def test_a_fit_resumed_from_a_checkpoint_anneals_its_learning_rate_again(data, tmp_path,
                                                                         checkpoint):
    # LoadInitState loads the optimiser at the rate of 0 the fit ended at,
    # after the schedule was built: the resumed epochs had not trained
    import skorch.callbacks

    kind = getattr(skorch.callbacks, checkpoint)
    saved = kind(dirname=str(tmp_path)) if checkpoint == "TrainEndCheckpoint" else kind(
        monitor=None, dirname=str(tmp_path))
    model = small_model(lr=1e-2, max_epochs_shared=3, output="shared",
                        callbacks=[saved, skorch.callbacks.LoadInitState(saved)])
    before = model.fit(data.data).transform(data.data)
    model.fit(data.data)  # resumes: 3 more epochs
    history = model.shared_net_.history
    assert len(history) == 6
    np.testing.assert_allclose(history[:, "event_lr"], [1e-2, 7.5e-3, 2.5e-3] * 2)
    assert np.abs(model.transform(data.data) - before).max() > 1e-3


def test_callback_parameters_are_set_as_skorch_sets_them(data):
    stop = EarlyStopping(monitor="train_loss")
    model = small_model(callbacks=[("stop", stop), EpochScoring(_zero, name="a", on_train=True),
                                   EpochScoring(_zero, name="b", on_train=True), _CountEpochs])
    search = GridSearchCV(model, {"callbacks__stop__patience": [1, 3]}, cv=2,
                          scoring=lambda estimator, X, y=None: 0.0).fit(data.data)
    assert search.best_estimator_.callbacks[0][1].patience == 1
    assert stop.patience == 5  # the callback given is left as it is
    # unnamed callbacks by their class's name, numbered where several share it
    model.set_params(callbacks__EpochScoring_1=None, callbacks__EpochScoring_2__name="c")
    assert [getattr(cb, "name", None) for cb in model.callbacks[1:]] == ["c", None]
    model.set_params(callbacks___CountEpochs=None)
    assert len(model.set_params(callbacks__stop__patience=2).callbacks) == 2
    fitted = model.fit(data.data)
    assert dict(fitted.shared_net_.callbacks_)["stop"].patience == 2
    assert "c" in fitted.shared_net_.history[-1]
    with pytest.raises(ValueError, match=r"callbacks__EarlyStopping__patience names no "
                                         r"callback; the callbacks given are \['stop', "
                                         r"'EpochScoring'\]"):
        model.set_params(callbacks__EarlyStopping__patience=1)


def _zero(net, X, y=None):
    return 0.0


class _Report(Callback):
    """A callback whose __init__ changes a parameter (a tuple to a list), which
    scikit-learn's clone refuses and a fit's copy takes."""

    def __init__(self, keys=("train_loss",), every=1):
        self.keys = list(keys)
        self.every = every


def test_callback_parameters_are_set_on_a_copy_made_as_a_fit_makes_it(data):
    given = _Report(keys=["train_loss"])
    model = small_model(callbacks=[given]).set_params(callbacks___Report__every=2)
    assert (model.callbacks[0].every, model.callbacks[0].keys, given.every) == (
        2, ["train_loss"], 1)
    assert model.fit(data.data).shared_net_.history[-1, "train_loss"] > 0


def test_a_net_trains_further_on_an_array_as_on_a_tensor(data):
    # the docs' model.shared_net_.partial_fit(X): X as the estimator takes it
    from_array, from_tensor = small_model().fit(data.data), small_model().fit(data.data)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        from_array.shared_net_.partial_fit(data.data)  # float64 rows
    with torch.random.fork_rng():
        torch.manual_seed(0)
        from_tensor.shared_net_.partial_fit(torch.as_tensor(data.data, dtype=torch.float32))
    for a, b in zip(from_array.shared_net_.module_.parameters(),
                    from_tensor.shared_net_.module_.parameters()):
        torch.testing.assert_close(a, b)
    assert len(from_array.shared_net_.history) == 2 * from_array.max_epochs_shared
    with pytest.raises(ValueError, match=r"X has shape \(\d+, 3\), but the net reads 10 columns: "
                       r"every modality's columns side by side, in the order of the "
                       r"estimator's modalities_"):
        from_array.specific_net_.partial_fit(data.data[:, :3])


def test_a_net_trained_further_is_seeded_by_its_fit_and_leaves_torch_s_generator_alone(data):
    first, second = small_model().fit(data.data), small_model().fit(data.data)
    state = torch.get_rng_state()
    for model in (first, second):
        model.shared_net_.partial_fit(data.data, epochs=1)
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(first.shared_net_.module_.parameters(),
                    second.shared_net_.module_.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_net_trains_further_under_inference_mode(data):
    model = small_model().fit(data.data)
    net = model.shared_net_
    with torch.inference_mode():
        net.partial_fit(data.data, epochs=1)
    net.partial_fit(data.data, epochs=1)  # and outside it, on the same optimiser
    assert len(net.history) == model.max_epochs_shared + 2


@pytest.mark.parametrize("bad, error, message", [
    (np.arange(60 * 10).astype("datetime64[s]").reshape(60, 10), ValueError,
     "dates or durations"),
    (np.ones((60, 10)) + 1j, ValueError, "[Cc]omplex"),
    (torch.ones(60, 10, dtype=torch.complex64), TypeError, "real part"),
    (np.full((60, 10), "a"), ValueError, "could not convert|cannot be read as numbers"),
    (np.full((60, 10), 1e39), ValueError, "beyond float32's range"),
])
def test_a_net_trained_further_refuses_what_fit_refuses(data, bad, error, message):
    net = small_model().fit(data.data).shared_net_
    epochs = len(net.history)
    with pytest.raises(error, match=message):
        net.partial_fit(bad, epochs=1)
    assert len(net.history) == epochs


def test_a_net_trained_further_names_pandas_missing_values(data):
    net = small_model().fit(data.data).shared_net_
    table = pd.DataFrame(data.data).astype("Float64")
    table.iloc[0, 0] = pd.NA
    with pytest.raises(ValueError, match="NaN or infinite values.*impute"):
        net.partial_fit(table, epochs=1)


def test_fits_and_loads_ignore_the_caller_s_default_device(data, tmp_path):
    expected = small_model().fit(data.data)
    path = save(expected, tmp_path / "model.zip")
    torch.set_default_device("meta")
    try:
        model = small_model().fit(data.data)
        loaded = load(path)
    finally:
        torch.set_default_device(None)
    np.testing.assert_array_equal(model.transform(data.data), expected.transform(data.data))
    np.testing.assert_array_equal(loaded.transform(data.data), expected.transform(data.data))


def test_a_cpu_s_memory_is_its_container_s_limit_where_lower(tmp_path, monkeypatch):
    import sklearn_dssl._training as training

    limit = tmp_path / "memory.max"
    # the machine's memory, whatever this test runs in
    monkeypatch.setattr(training, "CGROUP_MEMORY_LIMITS", (str(tmp_path / "none"),))
    machine = training.device_memory("cpu")
    if machine is None:
        pytest.skip("the system does not say how much memory it has")
    monkeypatch.setattr(training, "CGROUP_MEMORY_LIMITS", (str(tmp_path / "none"), str(limit)))
    for text, expected in (("1000\n", 1000), ("max\n", machine), (f"{2 * machine}\n", machine)):
        limit.write_text(text)
        assert training.device_memory("cpu") == expected
    assert training.device_memory("meta") is None
