"""save / load: round trips, refusal of foreign or modified files, GPU-to-CPU loading."""

import copy
import hashlib
import io
import json
import pathlib
import pickle
import re
import sys
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback, LRScheduler
from skorch.exceptions import DeviceWarning

from sklearn_dssl import (
    DMVAE,
    FOCAL,
    DisentangledSSL,
    JointOptSSL,
    LinearCCA,
    MultimodalContrastive,
    load,
    save,
)
from sklearn_dssl._modules import TabularAugmenter
from sklearn_dssl._persistence import _NoObjective
from sklearn_dssl.datasets import make_paper_synthetic
from tests.conftest import small_model
from tests.fixtures.make_fixtures import (CUDA_EXPECTED, CUDA_MODEL, EXPECTED,
                                          LINEAR_EXPECTED, LINEAR_MODEL, MODEL,
                                          cuda_location_tags)


@pytest.fixture(scope="module")
def data():
    return make_paper_synthetic(n_samples=160, n_latent=2, n_features=4, random_state=0)


def _refit_step_2(X):
    model = small_model().fit(X)
    with pytest.warns(UserWarning, match="n_shared=5"):  # step 1 keeps its width
        return model.set_params(n_specific=3, n_shared=5).fit_specific(X)


def _frame(X):
    pd = pytest.importorskip("pandas")
    return pd.DataFrame(X, columns=[f"rna_{i}" for i in range(4)] + [f"atac_{i}" for i in range(4)])


CASES = {
    "dssl-directory": (lambda X: small_model().fit(X), "model"),
    "dssl-shared-only-ica-zip": (lambda X: small_model(output="shared", ica=True).fit(X),
                                 "model.zip"),
    "dssl-after-fit_specific": (_refit_step_2, "model.zip"),
    "dssl-dataframe-named-modalities": (
        lambda X: small_model(
            modalities={"rna": [f"rna_{i}" for i in range(4)],
                        "atac": [f"atac_{i}" for i in range(4)]},
            head="gaussian", augmentation="noise",
        ).fit(_frame(X)),
        "model",
    ),
    # every setting of the objectives and augmenters off its default, and each
    # distinct (beta vs temperature, noise_scale vs mask_fraction): a value
    # stored in another's place shows
    "dssl-own-objective-and-augmenter": (
        lambda X: small_model(beta=0.25, temperature=0.2, ortho_weight=0.5, kappa=50.0,
                              head="power_spherical", augmentation="mask", noise_scale=0.3,
                              mask_fraction=0.15, beta_start=0.02, beta_ramp_epochs=1.5).fit(X),
        "model.zip",
    ),
    "contrastive-l1-ica": (
        # temperature off its default, which a loaded objective would fall back to
        lambda X: MultimodalContrastive(
            n_components=2, similarity="l1", temperature=0.2, ica=True,
            hidden_layer_sizes=(8,), max_epochs=2, batch_size=16, random_state=0,
        ).fit(X),
        "model.zip",
    ),
    **{
        f"{cls.__name__.lower()}-baseline": (
            lambda X, cls=cls: cls(n_shared=2, n_specific=2, hidden_layer_sizes=(8,),
                                   max_epochs=1, batch_size=32, random_state=0).fit(X),
            "model.zip",
        )
        for cls in (JointOptSSL, FOCAL, DMVAE)
    },
    "linear-cca-slices": (
        lambda X: LinearCCA(modalities=[slice(0, 4), slice(4, 8)], n_components=2).fit(X),
        "cca",
    ),
}


# The settings of each stored training objective. The baselines' objectives
# (JointObjective, FocalObjective, DMVAEObjective, with their specific_weight,
# ortho_weight or kl_weight) are not stored: their loaded nets get a
# placeholder objective that refuses to train.
STORED_OBJECTIVES = {
    "SharedObjective": ("temperature", "beta"),
    "SpecificObjective": ("temperature", "ortho_weight"),
    "ContrastiveObjective": ("similarity", "temperature"),
}
UNSTORED_OBJECTIVES = {"JointObjective", "FocalObjective", "DMVAEObjective"}


def _assert_same_objective_and_augmenters(loaded, net):
    """The loaded net trains towards the saved one's objective, on the same
    augmentation: output alone cannot tell, as neither acts at inference."""
    original, criterion = net.criterion_, loaded.criterion_
    name = type(original).__name__
    if name in UNSTORED_OBJECTIVES:
        assert type(criterion) is _NoObjective
    else:
        assert type(criterion) is type(original)
        for setting in STORED_OBJECTIVES[name]:
            assert getattr(criterion, setting) == getattr(original, setting), setting
    if hasattr(original, "head"):  # the posterior of step 1
        assert type(criterion.head) is type(original.head)
        assert criterion.head.kappa == original.head.kappa
    # every augmenter, step 2's copy of step 1's included
    augmenters = {n: m for n, m in net.module_.named_modules()
                  if isinstance(m, TabularAugmenter)}
    loaded_augmenters = {n: m for n, m in loaded.module_.named_modules()
                         if isinstance(m, TabularAugmenter)}
    assert loaded_augmenters.keys() == augmenters.keys()
    for where, augmenter in augmenters.items():
        copy = loaded_augmenters[where]
        assert (copy.kind, copy.noise_scale, copy.mask_fraction) == (
            augmenter.kind, augmenter.noise_scale, augmenter.mask_fraction), where
        for buffer in ("center", "scale"):
            torch.testing.assert_close(getattr(copy, buffer).cpu(),
                                       getattr(augmenter, buffer).cpu(), rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", list(CASES))
def test_round_trip_gives_identical_output(case, data, tmp_path):
    make, name = CASES[case]
    X = data.data.astype(np.float32)
    model = make(X)
    if hasattr(model, "feature_names_in_"):
        X = _frame(X)
    path = save(model, tmp_path / name)
    assert path.is_file() == name.endswith(".zip")
    loaded = load(path, device="auto")  # where the model was fitted: the same arithmetic

    assert type(loaded) is type(model)
    assert repr(loaded.get_params()) == repr(model.get_params())
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    np.testing.assert_array_equal(loaded.get_feature_names_out(), model.get_feature_names_out())
    for block, arrays in model.transform_blocks(X).items():
        for modality, array in arrays.items():
            np.testing.assert_array_equal(loaded.transform_blocks(X)[block][modality], array)
    assert list(loaded.modalities_) == list(model.modalities_)
    if hasattr(model, "feature_names_in_"):
        np.testing.assert_array_equal(loaded.feature_names_in_, model.feature_names_in_)
    if hasattr(model, "score"):
        assert loaded.score(X) == model.score(X)
    if hasattr(model, "ica_"):
        np.testing.assert_array_equal(loaded.unmixing_, model.unmixing_)
        assert loaded.unmixing_ is loaded.ica_.components_
        with sklearn.config_context(transform_output="pandas"):
            np.testing.assert_array_equal(np.asarray(loaded.transform(X)),
                                          np.asarray(model.transform(X)))
    for net in ("shared_net_", "specific_net_", "net_"):
        assert hasattr(loaded, net) == hasattr(model, net)
        if hasattr(model, net):
            assert getattr(loaded, net).history[:, "train_loss"] == (
                getattr(model, net).history[:, "train_loss"])
            _assert_same_objective_and_augmenters(getattr(loaded, net), getattr(model, net))
    # the loaded model pickles, and refits like a fresh one
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(loaded)).transform(X),
                                  model.transform(X))
    # its nets compute but do not go on training (the optimiser state is not stored)
    for net in ("shared_net_", "specific_net_", "net_"):
        if hasattr(loaded, net):
            with pytest.raises(RuntimeError, match="cannot continue training; refit"):
                getattr(loaded, net).partial_fit(torch.tensor(np.asarray(X), dtype=torch.float32))


def test_loaded_model_refits_like_the_original(data, tmp_path):
    X = data.data
    model = small_model().fit(X)
    loaded = load(save(model, tmp_path / "m"))
    np.testing.assert_array_equal(loaded.fit(X).transform(X), model.transform(X))


def test_callbacks_are_stored_as_none_with_a_warning(data, tmp_path):
    model = small_model(callbacks=[Callback()]).fit(data.data)
    with pytest.warns(UserWarning, match=r"callbacks=None"):
        path = save(model, tmp_path / "m.zip")
    loaded = load(path)
    assert loaded.callbacks is None
    np.testing.assert_array_equal(loaded.transform(data.data), model.transform(data.data))


def test_set_output_survives_a_round_trip(data, tmp_path):
    pd = pytest.importorskip("pandas")
    X = data.data
    model = LinearCCA(n_components=2).set_output(transform="pandas").fit(X)
    loaded = load(save(model, tmp_path / "cca"))
    assert isinstance(loaded.transform(X), pd.DataFrame)
    pd.testing.assert_frame_equal(loaded.transform(X), model.transform(X))


def test_range_modalities_are_stored_as_lists(data, tmp_path):
    X = data.data
    model = LinearCCA(modalities=range(3, 6, 2), n_components=2).fit(X)
    assert load(save(model, tmp_path / "cca")).modalities == [3, 5]
    for modalities in ({"a": range(4), "b": range(4, 8)}, [range(4), range(4, 8)]):
        model = LinearCCA(modalities=modalities, n_components=2).fit(X)
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # modalities is stored as given
            loaded = load(save(model, tmp_path / "cca2"))
        assert [list(v) for v in loaded.fit(X).modalities_.values()] == [
            list(range(4)), list(range(4, 8))]


def test_a_torch_device_trains_there_and_is_stored_as_its_name(data, tmp_path):
    import torch

    model = small_model(device=torch.device("cpu")).fit(data.data)
    assert model.get_params()["device"] == torch.device("cpu")  # as given
    np.testing.assert_array_equal(model.transform(data.data),
                                  small_model(device="cpu").fit(data.data).transform(data.data))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # nothing lost
        loaded = load(save(model, tmp_path / "m.zip"))
    assert loaded.get_params()["device"] == "cpu"
    np.testing.assert_array_equal(loaded.transform(data.data), model.transform(data.data))


def test_pandas_modalities_are_stored_as_lists(data, tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(data.data, columns=[f"c{i}" for i in range(8)])
    counts = pd.Series([3, 5], index=["a", "b"])
    for modalities, columns in [
        ([frame.columns[:3], frame.columns[3:]], [[0, 1, 2], [3, 4, 5, 6, 7]]),
        ({"a": frame.columns[:5], "b": frame.columns[5:]}, [[0, 1, 2, 3, 4], [5, 6, 7]]),
        (counts, [[0, 1, 2], [3, 4, 5, 6, 7]]),
        ([pd.Series(frame.columns.str.fullmatch("c[0-3]")),
          pd.Series(~frame.columns.str.fullmatch("c[0-3]"))], [[0, 1, 2, 3], [4, 5, 6, 7]]),
    ]:
        model = LinearCCA(modalities=modalities, n_components=2).fit(frame)
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # modalities is stored as given
            loaded = load(save(model, tmp_path / "cca"))
        refitted = clone(loaded).fit(frame).modalities_
        assert [v.tolist() for v in refitted.values()] == columns
        # a Series indexed by names keeps them: they name the modalities
        assert list(refitted) == list(model.modalities_) == list(loaded.modalities_)


def test_column_selectors_are_stored_as_the_groups_they_selected(data, tmp_path):
    pd = pytest.importorskip("pandas")
    from sklearn.compose import make_column_selector

    frame = pd.DataFrame(data.data, columns=["a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3"])
    model = LinearCCA(modalities={"a": make_column_selector("^a"), "b": lambda X: ["b0", "b1",
                      "b2", "b3"]}, n_components=2).fit(frame)
    with pytest.warns(UserWarning, match="modalities as the column groups fitted"):
        loaded = load(save(model, tmp_path / "cca"))
    assert loaded.get_params()["modalities"] == {"a": ["a0", "a1", "a2", "a3"],
                                                 "b": ["b0", "b1", "b2", "b3"]}
    refitted = clone(loaded).fit(frame[["b3", "a0", "b0", "a1", "b1", "a2", "b2", "a3"]])
    assert [v.tolist() for v in refitted.modalities_.values()] == [[1, 3, 5, 7], [2, 4, 6, 0]]
    # without column names, as indices
    model = LinearCCA(modalities=[lambda X: [0, 1, 2, 3], lambda X: [4, 5, 6, 7]],
                      n_components=2).fit(data.data)
    with pytest.warns(UserWarning, match="modalities as the column groups"):
        loaded = load(save(model, tmp_path / "cca_array"))
    assert loaded.get_params()["modalities"] == {"m1": [0, 1, 2, 3], "m2": [4, 5, 6, 7]}


def test_save_refuses_a_directory_path_that_is_a_file(data, tmp_path):
    (tmp_path / "model").write_text("notes")
    with pytest.raises(ValueError, match="is a file; save writes a model as a directory"):
        save(LinearCCA(n_components=2).fit(data.data), tmp_path / "model")
    assert (tmp_path / "model").read_text() == "notes"


def test_save_refuses_a_directory_holding_other_files(data, tmp_path):
    (tmp_path / "notes.txt").write_text("notes")
    model = LinearCCA(n_components=2).fit(data.data)
    with pytest.raises(ValueError, match=r"is a directory holding other files than a saved "
                                         r"model's \(notes.txt\); save writes a model as a "
                                         r"directory of two files"):
        save(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    # a model's own directory is written over, as a .zip file is
    save(model, tmp_path / "model")
    save(model, tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["metadata.json",
                                                                    "weights.pt"]


@pytest.mark.parametrize("path", ["", "  "])
def test_an_empty_path_is_refused(data, path, tmp_path, monkeypatch):
    # Path("") is the current directory, which save would fill and load read
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=f"the path {path!r} is empty"):
        save(LinearCCA(n_components=1).fit(data.data), path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=f"the path {path!r} is empty"):
        load(path)


def test_save_refuses_unfitted_and_foreign_objects(tmp_path):
    with pytest.raises(NotFittedError):
        save(small_model(), tmp_path / "m")
    with pytest.raises(TypeError, match="use pickle or joblib for other objects"):
        save(StandardScaler().fit([[0.0], [1.0]]), tmp_path / "m")


@pytest.fixture(scope="module")
def saved_zip(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "model.zip"
    return save(small_model().fit(data.data), path)


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("metadata.json")), archive.read("weights.pt")


def _write(path, metadata, weights, checksum=True):
    if checksum:
        metadata["weights_sha256"] = hashlib.sha256(weights).hexdigest()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("weights.pt", weights)
    return path


class _Trap:
    triggered = False

    def __reduce__(self):
        return (_Trap._spring, ())

    @staticmethod
    def _spring():
        _Trap.triggered = True


def test_load_refuses_foreign_and_modified_files(saved_zip, tmp_path):
    metadata, weights = _members(saved_zip)

    with pytest.raises(FileNotFoundError, match="no saved model"):
        load(tmp_path / "absent.zip")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="neither a directory nor a zip file"):
        load(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no metadata.json"):
        load(tmp_path / "empty")

    flipped = bytearray(weights)
    flipped[len(flipped) // 2] ^= 0xFF
    with pytest.raises(ValueError, match="checksum"):
        load(_write(tmp_path / "a.zip", dict(metadata), bytes(flipped), checksum=False))

    with pytest.raises(ValueError, match="format tag"):
        load(_write(tmp_path / "b.zip", {**metadata, "format": "other"}, weights))
    with pytest.raises(ValueError, match="newer"):
        load(_write(tmp_path / "c.zip", {**metadata, "format_version": 99}, weights))
    for version in (0, "2", True):
        with pytest.raises(ValueError, match=f"format version {version!r} is not a version"):
            load(_write(tmp_path / "c.zip", {**metadata, "format_version": version}, weights))
    with pytest.raises(ValueError, match="unknown estimator 'os.system'"):
        load(_write(tmp_path / "d.zip", {**metadata, "estimator": "os.system"}, weights))
    with pytest.raises(ValueError, match="unknown JSON tag"):
        bad = {**metadata, "params": {**metadata["params"], "lr": {"__reduce__": "os.system"}}}
        load(_write(tmp_path / "e.zip", bad, weights))
    with pytest.raises(ValueError, match="unknown DisentangledSSL parameter"):
        load(_write(tmp_path / "f.zip", {**metadata, "params": {"evil": 1}}, weights))
    # values fit refuses, which save never writes
    for name, value in (("batch_size", 0), ("temperature", -1.0), ("head", "cauchy")):
        bad = {**metadata, "params": {**metadata["params"], name: value}}
        with pytest.raises(ValueError, match=f"damaged or was modified.*'{name}' parameter"):
            load(_write(tmp_path / "f.zip", bad, weights))

    nets = json.loads(json.dumps(metadata["nets"]))
    nets["shared_net_"]["module"]["n_outputs"] += 1
    with pytest.raises(ValueError, match="damaged or was modified"):
        load(_write(tmp_path / "g.zip", {**metadata, "nets": nets}, weights))
    for key, value in (("batch_size", "x"), ("lr", None), ("history", "x"), ("history", [1]),
                       ("interrupted", 1), ("stopped_by_callback", "no")):
        nets = json.loads(json.dumps(metadata["nets"]))
        nets["shared_net_"][key] = value
        with pytest.raises(ValueError, match=f"damaged or was modified: the net's {key}"):
            load(_write(tmp_path / "g.zip", {**metadata, "nets": nets}, weights))

    # a weights file holding an arbitrary pickled object, with a matching
    # checksum: the weights-only reader refuses it without running it
    buffer = io.BytesIO()
    torch.save({"shared_net_": _Trap(), "specific_net_": {}}, buffer)
    with pytest.raises(ValueError, match="damaged or was modified"):
        load(_write(tmp_path / "h.zip", dict(metadata), buffer.getvalue()))
    assert not _Trap.triggered


def test_load_refuses_damaged_bytes_and_hand_made_files(saved_zip, data, tmp_path):
    # a damaged download: a flipped byte anywhere in a small model's zip (its
    # headers and compressed streams included) loads or is refused with a
    # ValueError, nothing else
    small = save(LinearCCA(n_components=2).fit(data.data[:50]), tmp_path / "small.zip")
    raw = small.read_bytes()
    assert len(raw) < 4000  # every byte is tried
    for position in range(len(raw)):
        damaged = bytearray(raw)
        damaged[position] ^= 0xFF
        (tmp_path / "d.zip").write_bytes(bytes(damaged))
        try:
            load(tmp_path / "d.zip")
        except ValueError:
            pass
    metadata, weights = _members(saved_zip)
    deep = {**metadata, "params": json.loads("[" * 200 + "]" * 200)}
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "metadata.json").write_text(
        json.dumps(deep).replace('"params": [', '"params": ' + "[" * 5000, 1)
        .replace("]", "]" * 5000, 1))
    (tmp_path / "deep" / "weights.pt").write_bytes(weights)
    with pytest.raises(ValueError, match="not valid JSON"):
        load(tmp_path / "deep")
    with pytest.raises(ValueError, match="damaged or was modified"):
        load(_write(tmp_path / "empty.zip", dict(metadata), b""))

    # fitted attributes that do not fit together, each with a valid checksum
    cca = save(LinearCCA(n_components=2).fit(data.data), tmp_path / "cca.zip")
    metadata, weights = _members(cca)
    attributes = dict(metadata["attributes"])
    groups = {"__dict__": [["m1", {"__ndarray__": [0, 1], "dtype": "<i8", "shape": [2]}],
                           ["m2", {"__ndarray__": [2, 3], "dtype": "<i8", "shape": [2]}],
                           ["m3", {"__ndarray__": [4, 5, 6, 7], "dtype": "<i8", "shape": [4]}]]}
    for name, value in (("modalities_", groups), ("feature_names_in_", 5)):
        with pytest.raises(ValueError, match="damaged or was modified"):
            load(_write(tmp_path / "a.zip",
                        {**metadata, "attributes": {**attributes, name: value}}, weights))
    # a column named twice; a fitted number that is not finite
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(data.data, columns=[f"c{i}" for i in range(data.data.shape[1])])
    metadata, weights = _members(save(LinearCCA(n_components=2).fit(frame), tmp_path / "n.zip"))
    names = [f"c{i}" for i in range(data.data.shape[1])]
    for name, value, message in (
            ("feature_names_in_", _array(["c0", *names[:-1]], "object"), "names a column twice"),
            ("canonical_correlations_", _array([float("inf"), 0.5]), "not finite")):
        with pytest.raises(ValueError, match=f"damaged or was modified.*{message}"):
            load(_write(tmp_path / "a.zip", {**metadata, "attributes": {
                **metadata["attributes"], name: value}}, weights))
    metadata, weights = _members(saved_zip)
    states = torch.load(io.BytesIO(weights), weights_only=True)
    for tamper, message in ((lambda t: t * float("nan"), "not all finite"),
                            (lambda t: t.to(torch.complex64), "not all float32")):
        changed = {net: dict(state) for net, state in states.items()}
        name = next(iter(changed["shared_net_"]))
        changed["shared_net_"][name] = tamper(changed["shared_net_"][name])
        buffer = io.BytesIO()
        torch.save(changed, buffer)
        with pytest.raises(ValueError, match=message):
            load(_write(tmp_path / "w.zip", dict(metadata), buffer.getvalue()))


def test_a_range_of_hidden_layer_sizes_is_stored_as_a_list(data, tmp_path):
    model = small_model(hidden_layer_sizes=range(6, 8)).fit(data.data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        loaded = load(save(model, tmp_path / "m.zip"))
    assert loaded.hidden_layer_sizes == [6, 7]
    np.testing.assert_array_equal(clone(loaded).fit(data.data).transform(data.data),
                                  model.transform(data.data))


def test_load_refuses_what_would_allocate_much_memory(saved_zip, tmp_path):
    metadata, weights = _members(saved_zip)
    huge = {"__ndarray__": ["a"], "dtype": "<U500000000", "shape": [1]}
    attributes = {**metadata["attributes"], "made_up_": {"__tuple__": []}}
    with pytest.raises(ValueError, match=r"unexpected DisentangledSSL attribute\(s\) \['made_up_'\]"):
        load(_write(tmp_path / "a.zip", {**metadata, "attributes": attributes}, weights))
    attributes = {**metadata["attributes"], "feature_names_in_": huge}
    with pytest.raises(ValueError, match="strings of no length, or longer than 1024 characters"):
        load(_write(tmp_path / "b.zip", {**metadata, "attributes": attributes}, weights))
    # an unsized dtype, which numpy would size to its longest string
    unsized = {"__ndarray__": ["x" * 4000] + [""] * 3999, "dtype": "<U", "shape": [4000]}
    attributes = {**metadata["attributes"], "feature_names_in_": unsized}
    with pytest.raises(ValueError, match="strings of no length, or longer than 1024"):
        load(_write(tmp_path / "b2.zip", {**metadata, "attributes": attributes}, weights))
    nets = {**metadata["nets"], "net_": metadata["nets"]["shared_net_"]}
    with pytest.raises(ValueError, match=r"unexpected DisentangledSSL net\(s\) \['net_'\]"):
        load(_write(tmp_path / "c.zip", {**metadata, "nets": nets}, weights))
    nets = json.loads(json.dumps(metadata["nets"]))
    nets["shared_net_"]["module"]["hidden_layer_sizes"] = [2 ** 40]  # 4 TB of weights
    with pytest.raises(ValueError, match="architecture does not match the stored weights"):
        load(_write(tmp_path / "d.zip", {**metadata, "nets": nets}, weights))


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_load_refuses_members_compressed_otherwise_than_save_writes(saved_zip, tmp_path, method):
    # zipfile inflates a bzip2 or lzma member whole before it checks the
    # declared size: a small file could take gigabytes
    with zipfile.ZipFile(saved_zip) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    with pytest.raises(ValueError, match=f"compressed by method {method}, where save writes "
                                         "deflate"):
        load(path)


def test_save_and_load_name_a_path_of_another_type(saved_zip, tmp_path):
    model = load(saved_zip)
    for path in (str(tmp_path / "m.zip").encode(), io.BytesIO()):
        with pytest.raises(TypeError, match=f"path is a {type(path).__name__}; give the "
                                            "model's .zip file or directory as a str"):
            save(model, path)
        with pytest.raises(TypeError, match=f"path is a {type(path).__name__}"):
            load(path)


def test_a_pipeline_step_that_does_nothing_is_named(data, tmp_path):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    for step, said in [("passthrough", "a 'passthrough' step (drop it"),
                       (None, "a None step (drop it"),
                       (FunctionTransformer(), "a FunctionTransformer of no function")]:
        pipe = Pipeline([("s", step), ("m", LinearCCA(n_components=1))]).fit(data.data)
        with pytest.raises(TypeError, match=re.escape(said)):
            save(pipe, tmp_path / "p.zip")


def test_a_model_whose_modalities_are_a_table_of_names_loads(data, tmp_path):
    table = pd.DataFrame(data.data, columns=[f"c{i}" for i in range(data.data.shape[1])])
    names = table.columns.to_numpy().reshape(2, -1)  # an object array of 2 rows
    model = LinearCCA(modalities=names, n_components=2).fit(table)
    loaded = load(save(model, tmp_path / "m.zip"))
    np.testing.assert_array_equal(loaded.modalities, names)
    np.testing.assert_array_equal(loaded.transform(table), model.transform(table))


def test_save_refuses_parameters_set_since_the_fit_to_values_fit_refuses(data, tmp_path):
    model = small_model().fit(data.data)
    for params, message in [({"batch_size": 1}, "'batch_size' parameter"),
                            ({"hidden_layer_sizes": (-8,)}, "hidden_layer_sizes"),
                            ({"beta_start": 0.1, "beta_ramp_epochs": 50.0},
                             "beta_ramp_epochs=50.0 is longer than step 1")]:
        changed = clone(model).set_params(**params)
        changed.__dict__.update({k: v for k, v in vars(model).items() if k.endswith("_")})
        with pytest.raises(ValueError, match="cannot save this model: a parameter was set "
                                             "since the fit to a value fit refuses.*" + message):
            save(changed, tmp_path / "m.zip")
    assert not (tmp_path / "m.zip").exists()


def test_load_refuses_step_one_settings_fit_would_not_have_used(saved_zip, tmp_path):
    metadata, weights = _members(saved_zip)
    for step1, message in [(5, "step1_params_ is not a dict of step 1's parameters"),
                           ({"__dict__": [["zzz", 1]]}, "not a dict of step 1's parameters"),
                           ({"__dict__": [["n_shared", -3]]}, "'n_shared' parameter")]:
        attributes = {**metadata["attributes"], "step1_params_": step1}
        with pytest.raises(ValueError, match=message):
            load(_write(tmp_path / "s.zip", {**metadata, "attributes": attributes}, weights))


def test_saving_with_cuda_location_tags_loads_on_the_cpu(data, tmp_path):
    """A file whose tensors are tagged "cuda:0", as torch writes a GPU model's
    weights, loads on the CPU (weights mapped with map_location="cpu")."""
    model = small_model().fit(data.data)
    with cuda_location_tags():
        path = save(model, tmp_path / "m.zip")
    _, weights = _members(path)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(io.BytesIO(weights), weights_only=True)  # the plain load fails
    loaded = load(path)
    assert loaded.shared_net_.device == "cpu"
    np.testing.assert_array_equal(loaded.transform(data.data), model.transform(data.data))


@pytest.mark.parametrize("make", [
    lambda: small_model(),
    lambda: FOCAL(n_shared=3, n_specific=3, hidden_layer_sizes=(8,), max_epochs=2,
                  batch_size=16, lr=1e-3, random_state=0),
    lambda: DMVAE(n_shared=3, n_specific=3, hidden_layer_sizes=(8,), max_epochs=2,
                  batch_size=16, lr=1e-3, random_state=0),
], ids=["DisentangledSSL", "FOCAL", "DMVAE"])
def test_a_pickle_with_cuda_location_tags_unpickles_on_the_cpu(make, data):
    """Every tensor of a GPU-fitted model's pickle is tagged "cuda:0" (forced
    here, as in the fixtures): skorch maps its module_ and criterion_ to the
    CPU on a machine without CUDA, and so must every other tensor the
    pickle holds (the module and criterion the nets were built from, which
    are the same objects, and no tensor kept from the last batch)."""
    warnings.simplefilter("ignore", UserWarning)  # convergence, after 2 epochs
    model = make().fit(data.data)
    with cuda_location_tags():
        pickled = pickle.dumps(model)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):  # the tags are in force
            with cuda_location_tags():
                pickle.loads(pickle.dumps(torch.zeros(1)))
    restored = pickle.loads(pickled)
    np.testing.assert_array_equal(restored.transform(data.data), model.transform(data.data))
    copy.deepcopy(model)
    skorch_default = ["module_", "criterion_", "optimizer_"]
    for fitted in (model, restored):
        for net in [getattr(fitted, name) for name in ("net_", "shared_net_", "specific_net_")
                    if hasattr(fitted, name)]:
            assert net.module is net.module_ and net.criterion is net.criterion_
            # pickling lends skorch more names and gives them back
            assert net.cuda_dependent_attributes_ == skorch_default
            assert not vars(net).get("_batch_terms")  # no tensor of the last batch kept
    restored.fit(data.data)  # refits


def _array(values, dtype="<f8"):
    return {"__ndarray__": list(values), "dtype": dtype, "shape": [len(values)]}


def _edited(metadata, path, value):
    """``metadata`` with the entry at ``path`` (keys and list positions; a
    tagged dict's entries by key) set to ``value``."""
    metadata = json.loads(json.dumps(metadata))
    entry = metadata
    for key in path[:-1]:
        if isinstance(entry, dict) and "__dict__" in entry:
            entry = next(v for k, v in entry["__dict__"] if k == key)
        else:
            entry = entry[key]
    entry[path[-1]] = value
    return metadata


@pytest.mark.parametrize("make, path, value, message", [
    # an array of another shape, which numpy would broadcast
    ("cca", ("attributes", "means_", 0), [0.5], "means_ is not an array of numbers of shape"),
    ("cca", ("attributes", "weights_", 1), _array([0.5, 0.5]), "weights_ is not an array"),
    ("cca", ("attributes", "loadings_", 0, "shape"), [1, 8], "loadings_ is not an array"),
    ("cca", ("attributes", "canonical_correlations_"), 0.5, "canonical_correlations_ is not"),
    ("ica", ("attributes", "ica_", "fitted", "mean_"), 1.0, r"ica_\.mean_ is not an array"),
    ("ica", ("attributes", "ica_", "fitted", "mean_"), True, r"ica_\.mean_ is not an array"),
    # numbers too large for their type
    ("cca", ("attributes", "modalities_", "m1", "__ndarray__", 0), 2**63, "OverflowError"),
    ("ica", ("nets", "shared_net_", "module", "hidden_layer_sizes", 0), float("inf"),
     "OverflowError"),
])
def test_load_refuses_fitted_values_of_the_wrong_shape_or_size(data, tmp_path, make, path, value,
                                                              message):
    model = (LinearCCA(n_components=2).fit(data.data) if make == "cca"
             else small_model(ica=True, output="shared").fit(data.data))
    metadata, weights = _members(save(model, tmp_path / "m.zip"))
    with pytest.raises(ValueError, match=f"damaged or was modified.*{message}"):
        load(_write(tmp_path / "e.zip", _edited(metadata, path, value), weights))


def test_a_model_with_a_learning_rate_scheduler_of_its_own_unpickles_on_the_cpu(data):
    """skorch's LRScheduler keeps its torch scheduler, which holds the
    optimiser, after training: a pickle stored the optimiser again, tagged
    with the GPU, which a CPU-only machine could not unpickle."""
    model = MultimodalContrastive(
        n_components=2, hidden_layer_sizes=(8,), max_epochs=2, batch_size=16,
        random_state=0, callbacks=[LRScheduler(policy="StepLR", step_size=1)]).fit(data.data)
    assert dict(model.net_.callbacks_)["LRScheduler"].lr_scheduler_ is None
    with cuda_location_tags():
        pickled = pickle.dumps(model)
    restored = pickle.loads(pickled)
    np.testing.assert_array_equal(restored.transform(data.data), model.transform(data.data))
    restored.fit(data.data)  # the scheduler is built again
    # and dropped again after the net trains further
    model.net_.partial_fit(model._in_model_order(data.data), epochs=1)
    assert dict(model.net_.callbacks_)["LRScheduler"].lr_scheduler_ is None
    with cuda_location_tags():
        pickle.loads(pickle.dumps(model))


@pytest.mark.parametrize("device", ["mps", "cuda:7", "xpu"])
def test_a_net_fitted_on_a_device_this_machine_lacks_unpickles_on_the_cpu(data, device):
    from sklearn_dssl._training import _usable_here

    if _usable_here(device):
        pytest.skip(f"this machine has {device}")
    model = small_model().fit(data.data)
    expected = model.transform(data.data)
    for net in (model.shared_net_, model.specific_net_):
        net.device = device  # as after a fit there
    with cuda_location_tags(device):
        pickled = pickle.dumps(model)
    with pytest.warns(DeviceWarning, match=f"fitted on '{device}'.*loaded on the CPU"):
        restored = pickle.loads(pickled)
    assert restored.shared_net_.device == restored.specific_net_.device == "cpu"
    np.testing.assert_array_equal(restored.transform(data.data), expected)


def test_committed_gpu_model_fixture_loads_on_the_cpu():
    """The committed ``tests/fixtures/disentangledssl_gpu.zip`` (format version
    1) loads and reproduces its committed output.

    It covers: files written by earlier versions keep loading (with the
    parameters their models were trained with); the weights are
    tagged "cuda:0" and the estimator's ``device`` is "cuda", as for a model
    fitted and saved on a GPU, and it loads on a CPU-only machine. The tensors
    were written on a CPU with a forced location tag (see
    ``tests/fixtures/make_fixtures.py``); the next test loads a file written
    on a GPU.
    """
    expected = np.load(EXPECTED)
    loaded = load(MODEL)
    assert loaded.get_params()["device"] == "cuda"
    # saved before specific_init existed, so trained from the authors' start
    assert loaded.get_params()["specific_init"] == "normal"
    assert loaded.shared_net_.device == "cpu"
    np.testing.assert_allclose(loaded.transform(expected["X"]), expected["Z"],
                               rtol=1e-5, atol=1e-6)
    assert load(MODEL, device="auto").transform(expected["X"]).shape == expected["Z"].shape


def test_committed_model_fitted_on_a_gpu_loads_on_the_cpu():
    """``tests/fixtures/disentangledssl_cuda.zip`` was fitted and saved on a CUDA
    GPU (``make_fixtures.py --cuda``), with the GPU's transform output beside it:
    loaded on the CPU, it reproduces that output up to float rounding."""
    expected = np.load(CUDA_EXPECTED)
    loaded = load(CUDA_MODEL)
    assert loaded.get_params()["device"] == "cuda"
    assert loaded.shared_net_.device == loaded.specific_net_.device == "cpu"
    Z = loaded.transform(expected["X"])
    np.testing.assert_allclose(Z, expected["Z"], rtol=1e-4, atol=1e-6 * np.abs(Z).max())
    # a model of another seed is far off: the comparison can fail
    other = load(CUDA_MODEL).set_params(random_state=1, device="cpu").fit(expected["X"])
    assert np.abs(other.transform(expected["X"]) - expected["Z"]).max() > 1e-2 * np.abs(Z).max()


@pytest.mark.parametrize("cls", [DisentangledSSL, JointOptSSL, FOCAL, MultimodalContrastive])
def test_pickles_from_before_a_parameter_unpickle_with_the_value_they_trained_with(cls):
    """compile and validation_fraction (all neural estimators),
    specific_init (those with specific encoders) and DisentangledSSL's ramp of
    beta came later; older pickles trained without compiling, on all rows,
    where there were specific encoders from the authors' start, and at a
    constant beta."""
    state = cls().__getstate__()
    for name in ("compile", "specific_init", "validation_fraction", "beta_start",
                 "beta_ramp_epochs"):
        state.pop(name, None)  # as pickled by versions without the parameters
    restored = cls.__new__(cls)
    restored.__setstate__(state)
    params = restored.get_params()
    assert params["compile"] is False
    assert params["validation_fraction"] is None
    assert params.get("specific_init", "normal") == "normal"
    assert params.get("beta_start") is None and params.get("beta_ramp_epochs") is None
    assert pickle.loads(pickle.dumps(cls())).get_params() == cls().get_params()


def test_fit_specific_on_a_loaded_model_still_warns_of_changed_step_one(data, tmp_path):
    model = small_model(beta=0.1).fit(data.data)
    # saved after a change of beta: the step 1 saved is the one fitted at 0.1
    loaded = load(save(model.set_params(beta=1.0), tmp_path / "model.zip"))
    assert loaded.beta == 1.0 and loaded.step1_params_ == model.step1_params_
    with pytest.warns(UserWarning, match=r"beta=1\.0 \(fitted with 0\.1\)"):
        loaded.fit_specific(data.data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded.set_params(beta=0.1).fit_specific(data.data)
    with pytest.warns(UserWarning, match="changed since: modalities"):
        loaded.set_params(modalities=[3, 5]).fit_specific(data.data)


@pytest.mark.parametrize("hidden", [np.int64(8), (np.int64(8),), np.array([8, 6])[:1]])
def test_numpy_scalar_parameters_save(hidden, data, tmp_path):
    # e.g. a grid of np.float32 values, then search.best_estimator_; a
    # grid of widths given as an array gives numpy integers
    model = small_model(beta=np.float32(0.1), temperature=np.float32(0.07),
                        ortho_weight=np.float32(1.0), hidden_layer_sizes=hidden).fit(data.data)
    loaded = load(save(model, tmp_path / "m.zip"))
    np.testing.assert_array_equal(loaded.transform(data.data), model.transform(data.data))


def test_an_ica_with_a_random_generator_saves_with_its_default(data, tmp_path):
    from sklearn.decomposition import FastICA

    ica = FastICA(random_state=np.random.RandomState(0), max_iter=300)
    model = small_model(ica=ica).fit(data.data)
    with pytest.warns(UserWarning) as caught:
        loaded = load(save(model, tmp_path / "m.zip"))
    # one warning, though the ica is stored three times (ica, ica_, step1_params_)
    assert [str(w.message)[:43] for w in caught] == [
        "save stores FastICA's random_state=None ins"]
    assert caught[0].filename == __file__  # it points at the call of save
    np.testing.assert_array_equal(loaded.transform(data.data), model.transform(data.data))
    assert loaded.ica.max_iter == 300
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same ica settings: nothing has changed
        loaded.fit_specific(data.data)
    with pytest.warns(UserWarning, match=r"ica=FastICA\(max_iter=10"):
        loaded.set_params(ica__max_iter=10).fit_specific(data.data)


def test_a_scaler_set_as_a_parameter_is_refused(data, tmp_path):
    """Only a Pipeline's steps are saved as scalers: elsewhere one is a value
    fit refuses, which load would refuse too."""
    model = small_model().fit(data.data).set_params(ica=StandardScaler())
    with pytest.raises(ValueError, match=r"cannot save this model.*'ica' parameter"):
        save(model, tmp_path / "m.zip")


def test_load_puts_the_nets_on_the_device_asked_for(data, tmp_path):
    model = small_model(max_epochs_shared=1, max_epochs_specific=1).fit(data.data)
    loaded = load(save(model, tmp_path / "model.zip"), device="cpu:0")
    assert [net.device for net in (loaded.shared_net_, loaded.specific_net_)] == ["cpu:0"] * 2
    np.testing.assert_array_equal(loaded.transform(data.data), model.transform(data.data))


def test_save_refuses_a_zip_path_that_is_a_directory(data, tmp_path):
    (tmp_path / "model.zip").mkdir()
    with pytest.raises(ValueError, match=r"model\.zip is a directory; save writes a model "
                                         "as one zip file when the path ends in .zip"):
        save(LinearCCA(n_components=2).fit(data.data), tmp_path / "model.zip")
    assert list((tmp_path / "model.zip").iterdir()) == []


def test_save_and_load_expand_the_home_directory(data, tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    model = LinearCCA(n_components=2).fit(data.data)
    for name in ("m.zip", "m"):
        assert save(model, f"~/{name}") == home / name
        np.testing.assert_array_equal(load(f"~/{name}").transform(data.data),
                                      model.transform(data.data))
    assert list(work.iterdir()) == []  # no literal ./~ folder


def test_a_truncated_zip_is_reported_as_damaged(saved_zip, tmp_path):
    raw = saved_zip.read_bytes()
    for cut in (0, 10, len(raw) // 2, len(raw) - 1):
        names = ["cut.zip"] + (["cut.bin"] if cut >= 4 else [])  # named .zip, or PK\x03\x04
        for name in names:
            (tmp_path / name).write_bytes(raw[:cut])
            with pytest.raises(ValueError, match=r"is not a readable zip file \(.*\); it looks "
                                                 r"damaged or truncated \(e\.g\. an interrupted "
                                                 r"copy or download\)"):
                load(tmp_path / name)


def test_a_model_from_a_newer_version_asks_for_an_upgrade(saved_zip, tmp_path):
    from sklearn_dssl import __version__

    metadata, weights = _members(saved_zip)
    newer = {**metadata, "sklearn_dssl_version": "99.0"}
    upgrade = (rf"saved by sklearn_dssl 99\.0, newer than this {re.escape(__version__)}; "
               "upgrade sklearn_dssl to load it")
    for changed, problem in (
        ({"params": {**metadata["params"], "new_option": 1}},
         r"has unknown DisentangledSSL parameter\(s\) \['new_option'\]: it was "),
        ({"attributes": {**metadata["attributes"], "new_attribute_": 1}},
         r"has unexpected DisentangledSSL attribute\(s\) \['new_attribute_'\]: it was "),
        ({"estimator": "NewEstimator"}, r"has unknown estimator 'NewEstimator'"),
    ):
        with pytest.raises(ValueError, match=problem + ".*" + upgrade):
            load(_write(tmp_path / "newer.zip", {**newer, **changed}, weights))
        # from this version or an earlier one, such names mean a modified file
        with pytest.raises(ValueError, match="damaged or was modified"):
            load(_write(tmp_path / "same.zip", {**metadata, **changed}, weights))
    # a newer version's file with nothing new in it loads
    assert isinstance(load(_write(tmp_path / "plain.zip", newer, weights)), DisentangledSSL)


@pytest.mark.parametrize("with_packaging", [True, False])
def test_versions_compare_with_or_without_packaging(with_packaging, monkeypatch):
    from sklearn_dssl._persistence import _is_newer

    if with_packaging:
        pytest.importorskip("packaging")
    else:
        monkeypatch.setitem(sys.modules, "packaging", None)
        monkeypatch.setitem(sys.modules, "packaging.version", None)
    assert _is_newer("0.10.0", "0.9.1")
    assert _is_newer("1.0.0rc1", "0.9")
    assert not _is_newer("0.1.0", "0.1")
    assert not _is_newer("0.1.0", "0.2.0")
    assert not _is_newer("not a version", "0.1.0")
    assert not _is_newer(None, "0.1.0")


def test_a_linear_cca_saved_with_residual_maps_loads_with_its_loadings(tmp_path):
    """``tests/fixtures/linearcca_format2.zip`` was saved by sklearn_dssl 0.1.0
    (format version 2), which stored LinearCCA's D x D ``residual_maps_``;
    ``linearcca_format2_expected.npz`` holds rows and its transform output."""
    expected = np.load(LINEAR_EXPECTED)
    assert _members(LINEAR_MODEL)[0]["format_version"] == 2
    loaded = load(LINEAR_MODEL)
    assert "residual_maps_" not in vars(loaded)
    assert [L.shape for L in loaded.loadings_] == [(2, 5), (2, 5)]
    np.testing.assert_allclose(loaded.transform(expected["X"]), expected["Z"],
                               rtol=1e-5, atol=1e-6)
    # saved again, it has today's attribute only
    metadata = _members(save(loaded, tmp_path / "again.zip"))[0]
    assert metadata["format_version"] == 3
    assert "loadings_" in json.dumps(metadata) and "residual_maps_" not in json.dumps(metadata)


def test_a_current_file_holding_residual_maps_is_refused(tmp_path, data):
    model = LinearCCA(modalities=[4, 4], n_components=2).fit(data.data)
    metadata, weights = _members(save(model, tmp_path / "m.zip"))
    renamed = json.loads(json.dumps(metadata).replace("loadings_", "residual_maps_"))
    with pytest.raises(ValueError, match="unexpected LinearCCA attribute.*residual_maps_"):
        load(_write(tmp_path / "b.zip", renamed, weights))


def _with_modalities(metadata, groups):
    """``metadata`` with its ``modalities_`` replaced by ``[(name, columns)]``."""
    encoded = {"__dict__": [[name, {"__ndarray__": list(columns), "dtype": "<i8",
                                    "shape": [len(columns)]}] for name, columns in groups]}
    return {**metadata, "attributes": {**metadata["attributes"], "modalities_": encoded}}


def test_load_refuses_a_file_without_what_save_always_writes(saved_zip, data, tmp_path):
    metadata, weights = _members(saved_zip)
    for name in ("modalities_", "n_features_in_"):
        attributes = {k: v for k, v in metadata["attributes"].items() if k != name}
        with pytest.raises(ValueError, match=rf"the DisentangledSSL lacks \['{name}'\], which "
                                             "save writes"):
            load(_write(tmp_path / "a.zip", {**metadata, "attributes": attributes}, weights))
    nets = {k: v for k, v in metadata["nets"].items() if k != "shared_net_"}
    with pytest.raises(ValueError, match=r"lacks \['shared_net_'\]"):
        load(_write(tmp_path / "b.zip", {**metadata, "nets": nets}, weights))

    cca = save(LinearCCA(n_components=2).fit(data.data), tmp_path / "cca.zip")
    metadata, weights = _members(cca)
    for name in ("means_", "weights_", "canonical_correlations_", "loadings_"):
        attributes = {k: v for k, v in metadata["attributes"].items() if k != name}
        with pytest.raises(ValueError, match=rf"the LinearCCA lacks \['{name}'\]"):
            load(_write(tmp_path / "c.zip", {**metadata, "attributes": attributes}, weights))

    # a model fitted with ica, without its ICA: its transform would differ
    model = small_model(ica=True).fit(data.data)
    metadata, weights = _members(save(model, tmp_path / "ica.zip"))
    attributes = {k: v for k, v in metadata["attributes"].items() if k != "ica_"}
    with pytest.raises(ValueError, match="ica_ does not match the ica setting the model was "
                                         "fitted with"):
        load(_write(tmp_path / "d.zip", {**metadata, "attributes": attributes}, weights))
    # and an ICA in a model fitted without it
    plain = _members(saved_zip)[0]
    attributes = {**plain["attributes"], "ica_": metadata["attributes"]["ica_"]}
    with pytest.raises(ValueError, match="ica_ does not match the ica setting"):
        load(_write(tmp_path / "e.zip", {**plain, "attributes": attributes},
                    _members(saved_zip)[1]))
    # settings changed after the fit are not the fit's: the file loads
    model.set_params(ica=False)
    np.testing.assert_array_equal(load(save(model, tmp_path / "f.zip")).transform(data.data),
                                  model.transform(data.data))


@pytest.mark.parametrize("fixture", [MODEL, CUDA_MODEL])
def test_a_model_of_an_earlier_format_saves_again_and_loads(fixture, data, tmp_path):
    """The committed models were saved in format 1, before step1_params_."""
    loaded = load(fixture)
    assert _members(fixture)[0]["format_version"] == 1
    assert "step1_params_" not in vars(loaded)
    again = load(save(loaded, tmp_path / "again.zip"))
    X = np.load(EXPECTED if fixture == MODEL else CUDA_EXPECTED)["X"]
    np.testing.assert_array_equal(again.transform(X), loaded.transform(X))


def test_load_checks_the_modalities_before_using_their_sizes(saved_zip, tmp_path):
    metadata, weights = _members(saved_zip)
    # names that become the same string, each group its own columns
    with pytest.raises(ValueError, match="names the modality '0' twice"):
        load(_write(tmp_path / "a.zip", _with_modalities(metadata, [("0", [0, 1, 2, 3]),
                                                                    (0, [4, 5, 6, 7])]),
                    weights))
    # a column count that np.arange could not allocate: refused by the count
    huge = {**metadata, "attributes": {**metadata["attributes"], "n_features_in_": 10**12}}
    with pytest.raises(ValueError, match="does not cover the n_features_in_ columns once each"):
        load(_write(tmp_path / "b.zip", huge, weights))
    with pytest.raises(ValueError, match="does not cover the n_features_in_ columns once each"):
        load(_write(tmp_path / "c.zip", _with_modalities(metadata, [("m1", [0, 1, 2, 3]),
                                                                    ("m2", [3, 4, 5, 6])]),
                    weights))


def test_load_refuses_more_layers_than_the_weights_hold_before_building_them(saved_zip,
                                                                             tmp_path,
                                                                             monkeypatch):
    from sklearn_dssl import _persistence

    build = _persistence._build_module

    def built_when_small(spec):
        if len(json.dumps(spec)) > 10_000:
            raise AssertionError("a module was built for an architecture refused by its size")
        return build(spec)

    monkeypatch.setattr(_persistence, "_build_module", built_when_small)
    metadata, weights = _members(saved_zip)
    for key, value in (("hidden_layer_sizes", [1] * 100_000), ("modality_sizes", [1] * 100_000)):
        nets = json.loads(json.dumps(metadata["nets"]))
        nets["shared_net_"]["module"][key] = value
        with pytest.raises(ValueError, match="architecture does not match the stored weights"):
            load(_write(tmp_path / "a.zip", {**metadata, "nets": nets}, weights))
    nets = json.loads(json.dumps(metadata["nets"]))
    nets["specific_net_"]["module"]["shared"]["hidden_layer_sizes"] = [1] * 100_000
    with pytest.raises(ValueError, match="architecture does not match the stored weights"):
        load(_write(tmp_path / "b.zip", {**metadata, "nets": nets}, weights))


def test_load_refuses_zip_members_twice_or_inflating_far_beyond_their_size(saved_zip,
                                                                          tmp_path):
    metadata, weights = _members(saved_zip)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zipfile.ZipFile(tmp_path / "twice.zip", "w") as archive:
            archive.writestr("metadata.json", json.dumps(metadata))
            archive.writestr("metadata.json", json.dumps(metadata))
            archive.writestr("weights.pt", weights)
    with pytest.raises(ValueError, match="holds metadata.json 2 times, where save writes it "
                                         "once"):
        load(tmp_path / "twice.zip")
    # 20 MB of JSON whitespace, deflated to some KB
    padded = json.dumps(metadata) + " " * (20 * 2**20)
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", padded)
        archive.writestr("weights.pt", weights)
    assert (tmp_path / "bomb.zip").stat().st_size < 2**20
    with pytest.raises(ValueError, match=r"its metadata.json would inflate from \d+ to "
                                         r"\d+ bytes"):
        load(tmp_path / "bomb.zip")
    # as much whitespace under 16 MB is only large
    with zipfile.ZipFile(tmp_path / "padded.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps(metadata) + " " * (8 * 2**20))
        archive.writestr("weights.pt", weights)
    assert isinstance(load(tmp_path / "padded.zip"), DisentangledSSL)


def test_load_reports_unreadable_content_without_the_reader_s_advice(saved_zip, tmp_path):
    metadata, weights = _members(saved_zip)
    buffer = io.BytesIO()
    torch.save({"shared_net_": _Trap(), "specific_net_": {}}, buffer)
    with pytest.raises(ValueError, match="weights.pt holds something other than the tensors "
                                         "save writes") as caught:
        load(_write(tmp_path / "a.zip", dict(metadata), buffer.getvalue()))
    assert "weights_only" not in str(caught.value) and not _Trap.triggered
    with pytest.raises(ValueError, match="weights.pt holds something other"):
        load(_write(tmp_path / "b.zip", dict(metadata), b"not a torch file"))
    # an integer beyond Python's limit on the digits it converts
    (tmp_path / "digits").mkdir()
    (tmp_path / "digits" / "metadata.json").write_text(
        json.dumps({**metadata, "format_version": 0}).replace('"format_version": 0',
                                                              '"format_version": ' + "9" * 5000))
    (tmp_path / "digits" / "weights.pt").write_bytes(weights)
    with pytest.raises(ValueError, match="metadata.json is not valid JSON"):
        load(tmp_path / "digits")
    # a value this version does not know, from a newer version
    nets = json.loads(json.dumps(metadata["nets"]))
    nets["shared_net_"]["criterion"]["head"] = "laplace"
    newer = {**metadata, "nets": nets, "sklearn_dssl_version": "99.0"}
    with pytest.raises(ValueError, match=r"cannot be read by this sklearn_dssl .*'laplace'.*"
                                         r"saved by sklearn_dssl 99\.0: upgrade sklearn_dssl"):
        load(_write(tmp_path / "c.zip", newer, weights))
    # FastICA's fitted attributes: no special names
    model_ica = {"__estimator__": "FastICA", "params": {"__dict__": []},
                 "fitted": {"__dict__": {"__tuple__": []}}, "output": None}
    attributes = {**metadata["attributes"], "ica_": model_ica}
    with pytest.raises(ValueError, match="unexpected FastICA attribute '__dict__'"):
        load(_write(tmp_path / "d.zip", {**metadata, "attributes": attributes}, weights))


def test_history_entries_of_numpy_scalars_are_kept(data, tmp_path):
    model = small_model(lr=np.float32(1e-3)).fit(data.data)
    loaded = load(save(model, tmp_path / "m.zip"))
    assert "event_lr" in model.shared_net_.history[-1]
    assert (loaded.shared_net_.history[:, "event_lr"]
            == pytest.approx(model.shared_net_.history[:, "event_lr"]))


def test_save_writes_only_what_load_reads(data, tmp_path):
    model = LinearCCA(n_components=2).fit(data.data)
    model.cv_score_ = 0.9  # set by hand, not by fit
    with pytest.warns(UserWarning, match="save does not store cv_score_: LinearCCA does not "
                                         "set it in fit"):
        loaded = load(save(model, tmp_path / "a.zip"))
    assert not hasattr(loaded, "cv_score_")
    np.testing.assert_array_equal(loaded.transform(data.data), model.transform(data.data))
    # column names longer than a file's fixed-width strings may be: stored as
    # the groups they selected
    pd = pytest.importorskip("pandas")
    names = [f"{'x' * 1100}{i}" for i in range(8)]
    frame = pd.DataFrame(data.data, columns=names)
    model = LinearCCA(modalities=[np.array(names[:4]), np.array(names[4:])],
                      n_components=2).fit(frame)
    with pytest.warns(UserWarning, match="stores LinearCCA's modalities as the column groups"):
        loaded = load(save(model, tmp_path / "b.zip"))
    np.testing.assert_array_equal(loaded.transform(frame), model.transform(frame))


def test_an_interrupted_save_leaves_the_earlier_file_whole(data, tmp_path, monkeypatch):
    path = save(LinearCCA(n_components=2).fit(data.data), tmp_path / "m.zip")
    before = path.read_bytes()

    def interrupted(self, name, data, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfile.ZipFile, "writestr", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(LinearCCA(n_components=3).fit(data.data), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.zip"]


def test_an_interrupted_directory_save_leaves_the_earlier_model_whole(data, tmp_path,
                                                                    monkeypatch):
    path = save(LinearCCA(n_components=2).fit(data.data), tmp_path / "m")
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    write_bytes, written = pathlib.Path.write_bytes, []

    def interrupted_at_the_second_file(self, content):
        written.append(self.name)
        if len(written) == 2:
            raise KeyboardInterrupt
        return write_bytes(self, content)

    monkeypatch.setattr(pathlib.Path, "write_bytes", interrupted_at_the_second_file)
    with pytest.raises(KeyboardInterrupt):
        save(LinearCCA(n_components=3).fit(data.data), path)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    monkeypatch.undo()
    assert load(path).n_components == 2
    assert load(save(LinearCCA(n_components=3).fit(data.data), path)).n_components == 3
    assert sorted(p.name for p in path.iterdir()) == ["metadata.json", "weights.pt"]


class _StopAtEpoch(Callback):
    """Stop training at the end of epoch n, with a KeyboardInterrupt raised at
    a batch (as a Ctrl-C) or at the epoch's end (as skorch's EarlyStopping)."""

    def __init__(self, n, where):
        self.n, self.where = n, where

    def on_batch_end(self, net, **kwargs):
        if self.where == "batch" and len(net.history) == self.n:
            raise KeyboardInterrupt

    def on_epoch_end(self, net, **kwargs):
        if self.where == "epoch" and len(net.history) == self.n:
            raise KeyboardInterrupt


@pytest.mark.parametrize("where, interrupted, stopped_by_callback",
                         [("batch", True, False), ("epoch", False, True)])
def test_loaded_nets_keep_how_their_training_ended(data, tmp_path, where, interrupted,
                                                   stopped_by_callback):
    model = small_model(max_epochs_shared=3, callbacks=[_StopAtEpoch(2, where)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the interruption's warning; callbacks not stored
        model.fit(data.data)
        loaded = load(save(model, tmp_path / "m.zip"))
    for net in (model.shared_net_, loaded.shared_net_):
        assert (net.interrupted_, net.stopped_by_callback_) == (interrupted, stopped_by_callback)


def test_save_tells_how_to_keep_a_pipeline(data, tmp_path):
    from sklearn.pipeline import make_pipeline

    from sklearn.linear_model import LogisticRegression

    pipeline = make_pipeline(StandardScaler(), LinearCCA(n_components=2), StandardScaler(),
                             LogisticRegression()).fit(data.data, data.target[:, 1])
    # the steps up to the package's, which save takes whole with its scaler
    for kept in (pipeline, pipeline[:-1]):
        with pytest.raises(TypeError, match=r"for this Pipeline, save pipeline\[:2\], its steps "
                                            r"up to LinearCCA, and keep the other steps with "
                                            r"joblib\)\.$"):
            save(kept, tmp_path / "m.zip")
    loaded = load(save(pipeline[:2], tmp_path / "m.zip"))
    np.testing.assert_array_equal(loaded.transform(data.data), pipeline[:2].transform(data.data))
    from sklearn.preprocessing import FunctionTransformer

    logged = make_pipeline(FunctionTransformer(np.log1p, validate=True,
                                               feature_names_out="one-to-one"),
                           LinearCCA(n_components=2), LogisticRegression())
    with pytest.raises(TypeError, match=r"save pipeline\[:2\], its steps up to LinearCCA"):
        save(logged.fit(np.exp(data.data), data.target[:, 1]), tmp_path / "m.zip")
    # where a step before it is not a scaler save takes, the package's step alone
    from sklearn.preprocessing import MinMaxScaler

    pipeline = make_pipeline(MinMaxScaler(), LinearCCA(n_components=2),
                             LogisticRegression()).fit(data.data, data.target[:, 1])
    with pytest.raises(TypeError, match=r"for this Pipeline, save its sklearn_dssl step, "
                                        r"pipeline\[1\] \(LinearCCA\), and keep the other steps "
                                        r"with joblib\)\.$"):
        save(pipeline, tmp_path / "m.zip")
    # a Pipeline without one, or another object, is told to use pickle or joblib
    for other in (make_pipeline(StandardScaler()).fit(data.data), StandardScaler()):
        with pytest.raises(TypeError, match=r"use pickle or joblib for other objects\.$"):
            save(other, tmp_path / "m.zip")


def test_load_refuses_parts_that_do_not_fit_together(saved_zip, data, tmp_path):
    metadata, weights = _members(saved_zip)
    # the nets' modalities against modalities_: [3, 5] where the nets have [4, 4]
    with pytest.raises(ValueError, match="does not match modalities_"):
        load(_write(tmp_path / "a.zip", _with_modalities(metadata, [("m1", [0, 1, 2]),
                                                                    ("m2", [3, 4, 5, 6, 7])]),
                    weights))
    # weights of a net the metadata does not list
    states = torch.load(io.BytesIO(weights), weights_only=True)
    buffer = io.BytesIO()
    torch.save({**states, "net_": states["shared_net_"]}, buffer)
    with pytest.raises(ValueError, match="the weights do not hold the nets the metadata lists"):
        load(_write(tmp_path / "b.zip", dict(metadata), buffer.getvalue()))
    # a bool where a count belongs
    nets = json.loads(json.dumps(metadata["nets"]))
    nets["shared_net_"]["max_epochs"] = True
    with pytest.raises(ValueError, match="the net's max_epochs is a bool"):
        load(_write(tmp_path / "c.zip", {**metadata, "nets": nets}, weights))
    # LinearCCA's means that embed every row into NaN
    cca = save(LinearCCA(n_components=2).fit(data.data), tmp_path / "cca.zip")
    metadata, weights = _members(cca)
    metadata["attributes"]["means_"][0]["__ndarray__"][0] = float("nan")
    with pytest.raises(ValueError, match="embeds a row of ones into values that are not finite"):
        load(_write(tmp_path / "d.zip", metadata, weights))


def test_a_zip_path_in_capitals_is_a_zip_and_nets_keep_their_settings(data, tmp_path):
    model = small_model(lr=2e-3, batch_size=48).fit(data.data)
    path = save(model, tmp_path / "MODEL.ZIP")
    assert path.is_file() and zipfile.is_zipfile(path)
    loaded = load(path)
    for name in ("shared_net_", "specific_net_"):
        original, again = getattr(model, name), getattr(loaded, name)
        assert (again.max_epochs, again.batch_size, again.lr) == (
            original.max_epochs, original.batch_size, original.lr)


# --------------------------------------------------------------------------
# A Pipeline of StandardScaler steps ending in an estimator of the package
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scaled_frame(data):
    """The test data as a named DataFrame whose columns' scales differ widely."""
    return _frame(data.data * np.array([1.0, 10.0, 1e3, 1e4, 1.0, 0.1, 1e2, 1e5]) + 5.0)


def _scaled_pipeline(X, *steps, model=None):
    from sklearn.pipeline import make_pipeline

    model = model if model is not None else LinearCCA(
        modalities={"rna": [f"rna_{i}" for i in range(4)],
                    "atac": [f"atac_{i}" for i in range(4)]}, n_components=2)
    return make_pipeline(*(steps or (StandardScaler(),)), model).set_output(
        transform="pandas").fit(X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", ["linear", "dssl", "two-scalers-without-mean-or-std"])
def test_a_pipeline_of_standard_scalers_saves_whole(case, scaled_frame, tmp_path):
    if case == "linear":
        pipeline = _scaled_pipeline(scaled_frame)
    elif case == "dssl":
        pipeline = _scaled_pipeline(scaled_frame, model=small_model(
            modalities={"rna": [f"rna_{i}" for i in range(4)],
                        "atac": [f"atac_{i}" for i in range(4)]}))
    else:
        pipeline = _scaled_pipeline(scaled_frame, StandardScaler(with_mean=False),
                                    StandardScaler(with_std=False))
    path = save(pipeline, tmp_path / "pipeline.zip")
    metadata = _members(path)[0]
    assert metadata["format_version"] == 4
    loaded = load(path)
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipeline.steps]
    for (_, before), (_, after) in zip(pipeline.steps[:-1], loaded.steps[:-1]):
        assert type(after) is StandardScaler and after.get_params() == before.get_params()
        for name in ("mean_", "var_", "scale_", "feature_names_in_"):
            a, b = getattr(before, name), getattr(after, name)
            assert (a is None and b is None) or np.array_equal(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the names reach the estimator as in fit
        Z = loaded.transform(scaled_frame)
    pd_ = pytest.importorskip("pandas")
    assert isinstance(Z, pd_.DataFrame)
    pd_.testing.assert_frame_equal(Z, pipeline.transform(scaled_frame))
    # the scaler was applied: the estimator alone embeds the raw columns otherwise
    assert not np.allclose(Z.to_numpy(), np.asarray(pipeline[-1].transform(scaled_frame)))


def test_a_lone_estimator_keeps_the_format_earlier_releases_read(saved_zip):
    assert _members(saved_zip)[0]["format_version"] == 3
    assert "pipeline" not in _members(saved_zip)[0]


@pytest.mark.parametrize("fit_config, save_config, load_config", [
    ("pandas", "pandas", "default"),
    ("pandas", "default", "default"),
    ("default", "pandas", "default"),
    ("default", "default", "pandas"),
])
def test_a_loaded_pipeline_hands_each_step_what_it_was_fitted_on(
        fit_config, save_config, load_config, data, tmp_path):
    """Whatever the global ``transform_output`` at fit, save and load, the
    estimator gets named columns where it was fitted on them, arrays where
    not, without a feature-name warning."""
    from sklearn.pipeline import make_pipeline

    names = fit_config == "pandas"
    groups = ({"rna": [f"rna_{i}" for i in range(4)], "atac": [f"atac_{i}" for i in range(4)]}
              if names else [4, 4])
    with sklearn.config_context(transform_output=fit_config):
        pipeline = make_pipeline(StandardScaler(), LinearCCA(modalities=groups, n_components=2))
        pipeline.fit(_frame(data.data))
        expected = np.asarray(pipeline.transform(_frame(data.data)))
    assert hasattr(pipeline[-1], "feature_names_in_") == names
    with sklearn.config_context(transform_output=save_config):
        path = save(pipeline, tmp_path / "m.zip")
    with sklearn.config_context(transform_output=load_config), warnings.catch_warnings():
        warnings.simplefilter("error")
        Z = load(path).transform(_frame(data.data))
    np.testing.assert_array_equal(np.asarray(Z), expected)


def test_user_chosen_step_names_list_steps_and_verbose_are_kept(data, tmp_path):
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline([["scale me", StandardScaler()], ["CCA-1", LinearCCA(n_components=2)]],
                        verbose=True)
    pipeline.fit(data.data)
    loaded = load(save(pipeline, tmp_path / "m"))
    assert [name for name, _ in loaded.steps] == ["scale me", "CCA-1"]
    assert loaded.verbose is True
    np.testing.assert_array_equal(loaded.transform(data.data), pipeline.transform(data.data))


def test_save_refuses_a_pipeline_whose_steps_were_fitted_apart(data, tmp_path):
    from sklearn.pipeline import Pipeline

    cca = LinearCCA(n_components=2).fit(data.data)
    pipeline = Pipeline([("scale", StandardScaler().fit(data.data[:, :6])), ("cca", cca)])
    with pytest.raises(ValueError, match=r"cannot save this Pipeline: the Pipeline step 'scale' "
                                         r"reads 6 columns, and the LinearCCA 8, so it does not "
                                         r"transform as its steps were fitted\. Fit the Pipeline "
                                         r"as a whole\."):
        save(pipeline, tmp_path / "m.zip")
    assert not (tmp_path / "m.zip").exists()


def test_save_refuses_other_steps_and_unfitted_scalers(scaled_frame, data, tmp_path):
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    pipeline = _scaled_pipeline(scaled_frame, MinMaxScaler())
    with pytest.raises(TypeError, match=r"steps before its sklearn_dssl estimator are "
                                        r"SimpleImputer \(numeric statistics, no "
                                        r"add_indicator\), StandardScaler or FunctionTransformer "
                                        r"steps .*, and "
                                        r"this one's step 'minmaxscaler' \(a MinMaxScaler\) is "
                                        r"not; change the step, or save the estimator, "
                                        r"pipeline\[-1\]"):
        save(pipeline, tmp_path / "m.zip")
    fitted = LinearCCA(n_components=2).fit(data.data)
    with pytest.raises(NotFittedError):
        save(Pipeline([("scale", StandardScaler()), ("cca", fitted)]), tmp_path / "m.zip")
    with pytest.raises(NotFittedError):
        save(make_pipeline(StandardScaler(), LinearCCA(n_components=2)), tmp_path / "m.zip")
    # a cache directory is for fitting alone: stored as None, with a warning
    cached = make_pipeline(StandardScaler(), LinearCCA(n_components=2),
                           memory=str(tmp_path / "cache")).fit(data.data)
    with pytest.warns(UserWarning, match=r"the Pipeline's memory=None instead"):
        loaded = load(save(cached, tmp_path / "cached.zip"))
    assert loaded.memory is None
    np.testing.assert_array_equal(loaded.transform(data.data), cached.transform(data.data))


@pytest.fixture(scope="module")
def saved_pipeline(scaled_frame, tmp_path_factory):
    path = tmp_path_factory.mktemp("pipeline") / "pipeline.zip"
    return save(_scaled_pipeline(scaled_frame), path)


def _with_scaler(metadata, **fitted):
    """``metadata`` whose first scaler step has the given fitted attributes."""
    metadata = copy.deepcopy(metadata)
    metadata["pipeline"]["steps"][0][1]["fitted"].update(fitted)
    return metadata


@pytest.mark.parametrize("change, problem", [
    (lambda m: {**m, "format_version": 3}, "format version 3 does not hold a Pipeline"),
    (lambda m: _with_scaler(m, n_features_in_=7), "reads 7 columns, and the LinearCCA 8"),
    (lambda m: _with_scaler(m, scale_=_array([1.0] * 7 + [0.0])),
     "has scales that are not positive"),
    (lambda m: _with_scaler(m, mean_=_array([1.0] * 7 + [float("nan")])),
     "has no finite mean_ per column"),
    (lambda m: _with_scaler(m, scale_=None), "has no finite scale_ per column"),
    (lambda m: _with_scaler(m, feature_names_in_=_array(list("abcdefgh"), "object")),
     "the Pipeline step after 'standardscaler' reads other columns than 'standardscaler' "
     "writes"),
    (lambda m: _with_scaler(m, feature_names_in_=_array([1.0] * 8)),
     "has feature_names_in_ that do not name its columns"),
    (lambda m: json.loads(json.dumps(m).replace('"standardscaler"', '"memory"')),
     "'memory' is not a Pipeline step name"),
    (lambda m: json.loads(json.dumps(m).replace('"output": "pandas"', '"output": "xml"')),
     "unknown transform output 'xml'"),
    (lambda m: _with_scaler(m, feature_names_in_=None),
     "reads other columns than 'standardscaler' writes"),
    (lambda m: _with_scaler(m, mean_=_array([1.0])), "has no finite mean_ per column"),
    (lambda m: json.loads(json.dumps(m).replace('"output": "pandas"', '"output": "default"')),
     "outputs arrays, and the step after it was fitted on named columns"),
    (lambda m: json.loads(json.dumps(m).replace('"with_mean", true', '"with_mean", "no"')),
     "The 'with_mean' parameter of StandardScaler must be"),
    (lambda m: {**m, "pipeline": {k: v for k, v in m["pipeline"].items() if k != "verbose"}},
     r"the Pipeline lacks \['verbose'\], which save writes"),
    (lambda m: json.loads(json.dumps(m).replace('"fitted":', '"extra": 1, "fitted":')),
     "a transformer entry has the fields"),
    (lambda m: _with_scaler(m, copy_=1), "unexpected StandardScaler attribute 'copy_'"),
    (lambda m: json.loads(json.dumps(m).replace('"StandardScaler"', '"MinMaxScaler"')),
     "unsupported estimator 'MinMaxScaler' \\(expected SimpleImputer or StandardScaler or "
     "FunctionTransformer\\)"),
    (lambda m: json.loads(json.dumps(m).replace('"standardscaler"', '"linearcca"')),
     "the Pipeline names a step twice"),
    (lambda m: json.loads(json.dumps(m).replace('"standardscaler"', '"a__b"')),
     "'a__b' is not a Pipeline step name"),
    (lambda m: {**m, "pipeline": {**m["pipeline"], "verbose": "yes"}},
     "the Pipeline's steps or verbose are not what save writes"),
])
def test_load_refuses_a_modified_pipeline(change, problem, saved_pipeline, tmp_path):
    metadata, weights = _members(saved_pipeline)
    assert isinstance(load(_write(tmp_path / "same.zip", metadata, weights)),
                      sklearn.pipeline.Pipeline)
    with pytest.raises(ValueError, match="damaged or was modified: .*" + problem):
        load(_write(tmp_path / "changed.zip", change(metadata), weights))


def test_a_newer_version_s_pipeline_asks_for_an_upgrade(saved_pipeline, tmp_path):
    metadata, weights = _members(saved_pipeline)
    newer = {**metadata, "sklearn_dssl_version": "99.0",
             "pipeline": {**metadata["pipeline"], "new_field": 1}}
    with pytest.raises(ValueError, match=r"unknown Pipeline field\(s\) \['new_field'\].*"
                                         "upgrade sklearn_dssl to load it"):
        load(_write(tmp_path / "newer.zip", newer, weights))


def _with_gaps(X, seed=0):
    """``X`` with a tenth of its values missing (NaN)."""
    X = np.array(X, dtype=float)
    X[np.random.default_rng(seed).random(X.shape) < 0.1] = np.nan
    return X


@pytest.mark.parametrize("imputer", [
    dict(), dict(strategy="median"), dict(strategy="most_frequent"),
    dict(strategy="constant", fill_value=-1), dict(keep_empty_features=True),
    dict(missing_values=-999.0),
])
@pytest.mark.parametrize("named", [False, True])
def test_a_pipeline_with_an_imputer_saves_whole(imputer, named, data, tmp_path):
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    X = _with_gaps(data.data)
    if "missing_values" in imputer:
        X = np.where(np.isnan(X), imputer["missing_values"], X)
    if named:
        X = _frame(X)
    if imputer.get("keep_empty_features"):  # a column without a value at fit: zeros
        X[X.columns[3] if named else (slice(None), 3)] = np.nan
    pipeline = make_pipeline(SimpleImputer(**imputer), StandardScaler(),
                             small_model(max_epochs_specific=1)).fit(X)
    loaded = load(save(pipeline, tmp_path / "m.zip"))
    assert type(loaded[0]) is SimpleImputer and loaded[0].get_params() == pytest.approx(
        pipeline[0].get_params(), nan_ok=True)
    np.testing.assert_array_equal(loaded[0].statistics_.astype(float),
                                  pipeline[0].statistics_.astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Z = loaded.transform(X)
    np.testing.assert_array_equal(Z, pipeline.transform(X))
    # rows with other gaps, filled by the stored statistics
    other = _with_gaps(data.data, seed=1)
    if "missing_values" in imputer:
        other = np.where(np.isnan(other), imputer["missing_values"], other)
    other = _frame(other) if named else other
    np.testing.assert_array_equal(loaded.transform(other), pipeline.transform(other))


@pytest.mark.parametrize("strategy", ["constant", "most_frequent", "median"])
def test_an_imputer_fitted_on_integer_rows_fills_them_after_loading(strategy, data, tmp_path):
    """A constant fitted on integer rows is held as an object; read back as
    a float, scikit-learn's transform refused the integer rows."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    X = np.round(np.abs(data.data) * 3).astype(np.int64)
    X[::7, 1] = -1
    pipeline = make_pipeline(
        SimpleImputer(missing_values=-1, strategy=strategy, fill_value=7),
        LinearCCA(n_components=2)).fit(X)
    loaded = load(save(pipeline, tmp_path / "m.zip"))
    np.testing.assert_array_equal(loaded.transform(X), pipeline.transform(X))
    np.testing.assert_array_equal(loaded[0].transform(X), pipeline[0].transform(X))


def test_a_loaded_imputer_fills_in_the_dtype_it_was_fitted_on(data, tmp_path):
    # fitted on float32 rows, scikit-learn's imputer fills float64 ones with
    # its float64 means rounded to float32
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    X = _with_gaps(data.data).astype(np.float32)
    pipeline = make_pipeline(SimpleImputer(), StandardScaler(), LinearCCA(n_components=2)).fit(X)
    loaded = load(save(pipeline, tmp_path / "m.zip"))
    for rows in (X, X.astype(np.float64)):
        np.testing.assert_array_equal(loaded[0].transform(rows), pipeline[0].transform(rows))
        np.testing.assert_array_equal(loaded.transform(rows), pipeline.transform(rows))


@pytest.mark.parametrize("imputer, reason", [
    (dict(add_indicator=True), "a SimpleImputer with add_indicator=True"),
    (dict(), "a SimpleImputer that drops the columns without a value at fit; give it "
             "keep_empty_features=True, which fills them with 0"),
    (dict(strategy=lambda column: 0.0), "a SimpleImputer with a callable strategy"),
    (dict(missing_values=None, strategy="most_frequent"),
     "a SimpleImputer whose missing_values is None, not NaN or a number"),
])
def test_save_refuses_imputers_that_do_not_fill_with_numbers(imputer, reason, data, tmp_path):
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    X = _with_gaps(data.data)
    if "drops" in reason:
        X[:, 3] = np.nan  # a column without a value at fit, which the imputer drops
    if "missing_values" in imputer:
        X = np.where(np.isnan(X), None, X.astype(object))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's of the column without a value
        pipeline = make_pipeline(SimpleImputer(**imputer), LinearCCA(n_components=2)).fit(X)
    with pytest.raises(TypeError, match=r"this one's step 'simpleimputer' \(" + re.escape(reason)):
        save(pipeline, tmp_path / "m.zip")


@pytest.mark.parametrize("change, problem", [
    ({"statistics_": _array([1.0] * 7 + [float("nan")])},
     "a SimpleImputer step has no finite statistic per column"),
    ({"statistics_": _array([1.0] * 7)}, "has no statistic per column"),
    ({"statistics_": None}, "a SimpleImputer step has no finite statistic per column"),
    ({"indicator_": 1}, "a SimpleImputer step adds indicator columns"),
])
def test_load_refuses_a_modified_imputer(change, problem, data, tmp_path):
    from sklearn.impute import SimpleImputer

    pipeline = _scaled_pipeline(_frame(_with_gaps(data.data)), SimpleImputer(), StandardScaler())
    metadata, weights = _members(save(pipeline, tmp_path / "m.zip"))
    with pytest.raises(ValueError, match="damaged or was modified: .*" + problem):
        load(_write(tmp_path / "changed.zip", _with_scaler(metadata, **change), weights))


@pytest.mark.parametrize("function, inverse", [(np.log1p, np.expm1), (np.arcsinh, None),
                                               (np.sqrt, np.square)])
def test_a_pipeline_with_a_transform_of_counts_saves_whole(function, inverse, data, tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    counts = _frame(np.round(np.exp(data.data)))
    step = FunctionTransformer(function, inverse_func=inverse, validate=True,
                               feature_names_out="one-to-one")
    pipeline = _scaled_pipeline(counts, step, StandardScaler())
    path = save(pipeline, tmp_path / "m.zip")
    assert _members(path)[0]["pipeline"]["steps"][0][1]["params"]["__dict__"][-2:] == [
        ["func", function.__name__],
        ["inverse_func", None if inverse is None else inverse.__name__]]
    loaded = load(path)
    assert loaded[0].func is function and loaded[0].inverse_func is inverse
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Z = loaded.transform(counts)
    np.testing.assert_array_equal(np.asarray(Z), np.asarray(pipeline.transform(counts)))
    # a table whose columns come in another order is refused, not misread
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        loaded.transform(counts[counts.columns[::-1]])
    # the function was applied: without it the embedding differs
    unlogged = _scaled_pipeline(counts, StandardScaler())
    assert not np.allclose(np.asarray(Z), np.asarray(unlogged.transform(counts)))


@pytest.mark.parametrize("step, reason", [
    (lambda F: F(np.log1p), "a FunctionTransformer without feature_names_out='one-to-one'"),
    (lambda F: F(np.log, feature_names_out="one-to-one"),
     "a FunctionTransformer of numpy.log, not of numpy's log1p, arcsinh, sqrt"),
    (lambda F: F(lambda x: x, feature_names_out="one-to-one"),
     "a FunctionTransformer of tests.test_persistence.<lambda>, not of"),
    (lambda F: F(np.log1p, inverse_func=np.exp, check_inverse=False,
                 feature_names_out="one-to-one"),
     "a FunctionTransformer whose inverse_func is not None or one of expm1, sinh, square"),
    (lambda F: F(np.log1p, kw_args={"dtype": float}, feature_names_out="one-to-one"),
     "a FunctionTransformer with kw_args or inv_kw_args"),
    (lambda F: F(np.log1p, inverse_func=np.expm1, inv_kw_args={"dtype": float}, check_inverse=False,
                 feature_names_out="one-to-one"),
     "a FunctionTransformer with kw_args or inv_kw_args"),
    (lambda F: F(np.emath.sqrt, feature_names_out="one-to-one"),
     "a FunctionTransformer of numpy.lib.scimath.sqrt, not of numpy's log1p, arcsinh, sqrt"),
    (lambda F: F(np.log1p, feature_names_out="one-to-one"),
     "a FunctionTransformer without validate=True, which would read a table whose columns "
     "come in another order than at fit as if they did not"),
])
def test_save_refuses_function_transformers_it_cannot_name(step, reason, data, tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipeline = make_pipeline(step(FunctionTransformer), LinearCCA(n_components=2))
    pipeline.fit(np.exp(data.data))
    with pytest.raises(TypeError, match=r"FunctionTransformer steps \(func log1p, arcsinh, "
                                        r"sqrt, feature_names_out='one-to-one', validate=True\), and "
                                        r"this "
                                        r"one's step 'functiontransformer' \(" + re.escape(reason)):
        save(pipeline, tmp_path / "m.zip")


def test_a_function_transformer_saved_without_validate_loads_with_it(data, tmp_path):
    """Earlier versions saved FunctionTransformer(validate=False), which reads
    a table whose columns come in another order as if they did not: load
    gives it validate=True, with a warning, and the same output."""
    from sklearn.preprocessing import FunctionTransformer

    counts = _frame(np.round(np.exp(data.data)))
    step = FunctionTransformer(np.log1p, validate=True, feature_names_out="one-to-one")
    pipeline = _scaled_pipeline(counts, step, StandardScaler())
    metadata, weights = _members(save(pipeline, tmp_path / "m.zip"))
    text = json.dumps(metadata)
    assert text.count('["validate", true]') == 1
    earlier = _write(tmp_path / "earlier.zip",
                     json.loads(text.replace('["validate", true]', '["validate", false]')), weights)
    with pytest.warns(UserWarning, match=r"step 'functiontransformer' was saved with "
                      r"validate=False, which save no longer writes: it is loaded with "
                      r"validate=True"):
        loaded = load(earlier)
    assert loaded[0].validate is True
    np.testing.assert_array_equal(np.asarray(loaded.transform(counts)),
                                  np.asarray(pipeline.transform(counts)))
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        loaded.transform(counts[counts.columns[::-1]])


@pytest.mark.parametrize("change, problem", [
    (lambda m: json.loads(json.dumps(m).replace('["func", "log1p"]', '["func", "eval"]')),
     "unknown FunctionTransformer functions 'eval'"),
    (lambda m: json.loads(json.dumps(m).replace('"one-to-one"', 'null')),
     "a Pipeline step is a FunctionTransformer without feature_names_out='one-to-one'"),
    (lambda m: json.loads(json.dumps(m).replace('["kw_args", null]', '["kw_args", 1]')),
     "The 'kw_args' parameter of FunctionTransformer must be"),
])
def test_load_refuses_a_modified_function_transformer(change, problem, data, tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    step = FunctionTransformer(np.log1p, validate=True, feature_names_out="one-to-one")
    path = save(_scaled_pipeline(_frame(np.exp(data.data)), step), tmp_path / "m.zip")
    metadata, weights = _members(path)
    with pytest.raises(ValueError, match="damaged or was modified: .*" + problem):
        load(_write(tmp_path / "changed.zip", change(metadata), weights))
