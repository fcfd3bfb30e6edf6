"""The sklearn-dssl command line, run as users run it (subprocess) and in-process."""

import importlib.metadata
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.utils.validation import check_is_fitted

import sklearn_dssl
from sklearn_dssl import LinearCCA, load, save
from sklearn_dssl._cli import ESTIMATOR_OPTIONS, METHODS, build_parser, main
from sklearn_dssl.datasets import make_paper_synthetic
from tests.conftest import cxx_found, needs_cxx, small_model

pd = pytest.importorskip("pandas")

TINY = ["--n-shared", "2", "--n-specific", "2", "--hidden", "8", "--epochs-shared", "2",
        "--epochs-specific", "2", "--batch-size", "32", "--random-state", "0"]
# one epoch of a deep baseline (JointOptSSL, FOCAL, DMVAE), tiny widths
BASELINE_EPOCH = ["--n-shared", "2", "--n-specific", "2", "--hidden", "8", "--epochs", "1",
                  "--batch-size", "32", "--random-state", "0"]
RNA = [f"rna_{i}" for i in range(3)]
ATAC = [f"atac_{i}" for i in range(3)]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """A cell table with an id column, two modalities and a label, as CSV and Parquet."""
    folder = tmp_path_factory.mktemp("tables")
    data = make_paper_synthetic(n_samples=120, n_latent=2, n_features=3, random_state=0)
    frame = pd.DataFrame(data.data, columns=RNA + ATAC)
    frame.insert(0, "cell", [f"c{i}" for i in range(len(frame))])
    frame["label"] = data.target[:, 1]
    frame.to_csv(folder / "cells.csv", index=False)
    pytest.importorskip("pyarrow")
    frame.to_parquet(folder / "cells.parquet")
    return folder, frame


def start_cli(*args, cwd, stdout=subprocess.PIPE):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen([sys.executable, "-m", "sklearn_dssl", *args], cwd=cwd, env=env,
                            stdout=stdout, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def runs(tables):
    """Three commands run as a user runs them, side by side (starting Python and
    torch dominates their time): a fit, a fit that fails on its input, and a
    fit whose output pipe has no reader (``... | head`` after head exited)."""
    folder, _ = tables
    read_end, write_end = os.pipe()
    os.close(read_end)
    processes = {
        "fit": start_cli("fit", "cells.csv", "--prefix", "rna=rna_", "--modality",
                         "atac=atac_*", "--id", "cell", *TINY, "-o", "out/embeddings.parquet",
                         "--model", "model.zip", cwd=folder),
        "error": start_cli("fit", "cells.csv", "--prefix", "rna=rnx_", "--prefix",
                           "atac=atac_", "--model", "m.zip", cwd=folder),
        "closed pipe": start_cli("fit", "cells.csv", "--prefix", "rna=rna_", "--prefix",
                                 "atac=atac_", *TINY, "--model", "closed.zip", cwd=folder,
                                 stdout=write_end),
    }
    os.close(write_end)
    results = {}
    for name, process in processes.items():
        out, err = process.communicate(timeout=300)
        results[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return results


def test_fit_as_a_user_runs_it_then_transform(tables, runs, capsys):
    folder, frame = tables
    fitted = runs["fit"]
    assert fitted.returncode == 0, fitted.stderr
    assert "train_loss" in fitted.stdout  # the per-epoch log of verbose training
    assert "ignoring 1 column(s) in no modality: label" in fitted.stderr

    model = load(folder / "model.zip")
    assert model.verbose == 0  # trained verbosely, saved to refit quietly
    names = model.get_feature_names_out().tolist()
    assert list(model.modalities_) == ["rna", "atac"]
    assert model.feature_names_in_.tolist() == RNA + ATAC
    embeddings = pd.read_parquet(folder / "out" / "embeddings.parquet")
    assert embeddings.columns.tolist() == ["cell", *names]
    assert embeddings["cell"].tolist() == frame["cell"].tolist()
    np.testing.assert_array_equal(embeddings[names].to_numpy(),
                                  model.transform(frame[RNA + ATAC]))

    # new rows with their columns in another order, as Parquet
    moved = frame[["label", *ATAC[::-1], "cell", *RNA]].iloc[::-1]
    moved.to_parquet(folder / "new.parquet")
    assert main(["transform", str(folder / "model.zip"), str(folder / "new.parquet"),
                 "--id", "cell", "-o", str(folder / "new.csv")]) == 0
    assert "wrote embeddings (120 rows x 8 columns)" in capsys.readouterr().out
    new = pd.read_csv(folder / "new.csv")
    assert new["cell"].tolist() == moved["cell"].tolist()
    np.testing.assert_allclose(new[names].to_numpy(), model.transform(moved[RNA + ATAC]),
                               rtol=1e-6, atol=1e-9)


def test_errors_are_one_line_without_traceback(runs):
    result = runs["error"]
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "sklearn-dssl fit: error: --prefix rna=rnx_: no column starts with 'rnx_'; columns "
        "are: cell, rna_0, rna_1, rna_2, atac_0, atac_1, atac_2, label."
    ]


def test_a_closed_output_pipe_stops_the_command_quietly(runs):
    result = runs["closed pipe"]
    assert result.returncode == 1
    assert "Broken pipe" not in result.stderr and "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr


def test_help_everywhere(capsys):
    for argv in (["--help"], ["fit", "--help"], ["transform", "--help"], ["demo", "--help"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: sklearn-dssl")
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_console_script_entry_point():
    scripts = {
        e.name: e.value
        for d in importlib.metadata.distributions() if d.metadata["Name"] == "sklearn-dssl"
        for e in d.entry_points if e.group == "console_scripts"
    }
    if not scripts:
        pytest.skip("the package is installed without its metadata")
    assert scripts == {"sklearn-dssl": "sklearn_dssl._cli:main"}


def test_a_header_with_empty_cells_is_read_as_pandas_reads_it(tables, tmp_path):
    # a spreadsheet's export can end its lines with separators: pandas names
    # the empty header cells apart ("Unnamed: 9"), and they are no repeated names
    folder, frame = tables
    lines = (folder / "cells.csv").read_text().splitlines()
    (tmp_path / "trailing.csv").write_text("\n".join(line + ",," for line in lines) + "\n")
    argv = ["fit", str(tmp_path / "trailing.csv"), "--prefix", "rna=rna_", "--prefix",
            "atac=atac_", "--id", "cell", "--method", "cca", "--n-components", "2", "-q",
            "--model", str(tmp_path / "m.zip")]
    assert main(argv) == 0
    np.testing.assert_allclose(load(tmp_path / "m.zip").transform(frame[RNA + ATAC]),
                               LinearCCA(modalities=[3, 3], n_components=2)
                               .fit(frame[RNA + ATAC].to_numpy()).transform(
                                   frame[RNA + ATAC].to_numpy()), rtol=1e-6, atol=1e-9)


def test_quoted_header_names_are_read_as_pandas_reads_them(tables, tmp_path):
    # a comma inside a quoted name is part of it; a quoted name equal to an
    # unquoted one repeats it
    folder, frame = tables
    body = frame[RNA + ATAC].to_csv(index=False, header=False)
    names = ['"rna,0"', '"rna,1"', "rna_2", "atac_0", "atac_1", "atac_2"]
    (tmp_path / "quoted.csv").write_text(",".join(names) + "\n" + body)
    argv = ["fit", str(tmp_path / "quoted.csv"), "--prefix", "rna=rna", "--prefix",
            "atac=atac_", "--method", "cca", "--n-components", "2", "-q",
            "--model", str(tmp_path / "m.zip")]
    assert main(argv) == 0
    assert list(load(tmp_path / "m.zip").feature_names_in_[:2]) == ["rna,0", "rna,1"]
    names[1] = "atac_0"
    (tmp_path / "repeated.csv").write_text(",".join(names).replace('"rna,0"', '"atac_1"')
                                           + "\n" + body)
    assert main([*argv[:1], str(tmp_path / "repeated.csv"), *argv[2:]]) == 1


@pytest.mark.parametrize("method, extra, width", [
    pytest.param("contrastive", ["--n-components", "2", "--epochs", "1", "--ica", "--hidden",
                                 "8", "--compile"], 4, marks=needs_cxx),
    ("cca", ["--n-components", "2"], 2 * 2 + 2 * 3),
    ("cca", [], 2 * 3 + 2 * 3),  # by default as wide as the modalities of 3 columns allow
    ("dssl", [*TINY, "--blocks", "shared"], 4),
    ("jointopt", BASELINE_EPOCH, 8),
    ("focal", BASELINE_EPOCH, 8),
    ("dmvae", BASELINE_EPOCH, 8),
])
def test_fit_other_methods_in_process(tables, tmp_path, capsys, method, extra, width):
    folder, frame = tables
    argv = ["fit", str(folder / "cells.csv"), "--modality", "rna=rna_0,rna_1,rna_2",
            "--prefix", "atac=atac_", "--method", method, "--quiet", *extra,
            "-o", str(tmp_path / "z.tsv"), "--model", str(tmp_path / "model")]
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "train_loss" not in out
    assert f"wrote embeddings ({len(frame)} rows x {width} columns)" in out
    Z = pd.read_csv(tmp_path / "z.tsv", sep="\t")
    assert Z.shape == (len(frame), width)
    model = load(tmp_path / "model", device="auto")  # where it was fitted
    np.testing.assert_allclose(Z.to_numpy(), model.transform(frame[RNA + ATAC]),
                               rtol=1e-6, atol=1e-9)


def test_fit_three_modalities(tables, tmp_path, capsys):
    folder, _ = tables
    argv = ["fit", str(folder / "cells.csv"), "--modality", "x=rna_0,rna_1",
            "--modality", "y=rna_2,atac_0", "--modality", "z=atac_1,atac_2", "--id", "cell",
            *TINY, "--quiet", "-o", str(tmp_path / "z.csv")]
    assert main(argv) == 0, capsys.readouterr().err
    # the count leaves out the id column
    assert "wrote embeddings (120 rows x 12 columns)" in capsys.readouterr().out
    Z = pd.read_csv(tmp_path / "z.csv")
    assert Z.columns.tolist() == ["cell", *(f"{block}_{m}_{i}" for block in ("shared", "specific")
                                            for m in "xyz" for i in range(2))]


def test_fit_with_held_out_rows_and_early_stopping(tables, tmp_path, capsys):
    folder, frame = tables
    argv = ["fit", str(folder / "cells.csv"), "--prefix", "rna=rna_", "--prefix", "atac=atac_",
            *TINY, "--epochs-shared", "6", "--epochs-specific", "6", "--validation-fraction",
            "0.25", "--early-stopping", "1", "--quiet", "--model", str(tmp_path / "model")]
    assert main(argv) == 0, capsys.readouterr().err
    model = load(tmp_path / "model")
    for net in (model.shared_net_, model.specific_net_):
        assert np.isfinite(net.history[:, "valid_loss"]).all()
    # at this seed step 1's held-out loss rises at its fifth epoch (3.649 to 3.666)
    assert len(model.shared_net_.history) == 5
    assert model.get_params()["validation_fraction"] == 0.25

    # the early stopping keeps each step's best epoch (load_best=True), not its last:
    # the same fit in Python, its weights recorded after every epoch
    from skorch.callbacks import Callback, EarlyStopping

    class RecordWeights(Callback):
        steps = []  # on the class: each net trains a copy of the callback

        def on_train_begin(self, net, **kwargs):
            self.steps.append([])

        def on_epoch_end(self, net, **kwargs):
            self.steps[-1].append({k: v.clone() for k, v in net.module_.state_dict().items()})

    replica = sklearn_dssl.DisentangledSSL(
        modalities={"rna": RNA, "atac": ATAC}, n_shared=2, n_specific=2, hidden_layer_sizes=(8,),
        max_epochs_shared=6, max_epochs_specific=6, batch_size=32, random_state=0,
        validation_fraction=0.25,
        callbacks=[RecordWeights(), EarlyStopping(monitor="valid_loss", patience=1)],
    ).fit(frame[RNA + ATAC])
    shared, _ = RecordWeights.steps  # step 1's epochs, then step 2's
    valid_loss = model.shared_net_.history[:, "valid_loss"]
    assert replica.shared_net_.history[:, "valid_loss"] == valid_loss  # the same training
    best = int(np.argmin(valid_loss))
    assert best == 3 and len(shared) == 5
    saved = model.shared_net_.module_.state_dict()
    assert saved.keys() == shared[best].keys()
    for key, value in saved.items():
        torch.testing.assert_close(value, shared[best][key], rtol=0, atol=0)
    assert any(not torch.equal(value, shared[-1][key]) for key, value in saved.items())


def test_transform_with_a_model_fitted_on_an_array(tables, tmp_path, capsys):
    folder, frame = tables
    X = frame[RNA + ATAC].to_numpy()
    model = small_model(n_shared=2).fit(X)
    save(model, tmp_path / "array_model")
    argv = ["transform", str(tmp_path / "array_model"), str(folder / "cells.csv"),
            "-o", str(tmp_path / "z.csv"), "--id", "cell", "--blocks", "specific"]
    assert main(argv) == 1
    assert "fitted on 6 unnamed columns, but" in capsys.readouterr().err
    frame[["cell", *RNA, *ATAC]].to_csv(tmp_path / "plain.csv", index=False)
    argv[2] = str(tmp_path / "plain.csv")
    assert main(argv) == 0
    Z = pd.read_csv(tmp_path / "z.csv")
    assert Z.columns[0] == "cell" and Z.shape == (len(frame), 1 + 4)
    np.testing.assert_allclose(Z.iloc[:, 1:].to_numpy(),
                               model.set_params(output="specific").transform(X),
                               rtol=1e-6, atol=1e-9)
    # the header pandas writes for unnamed columns, 0, 1, ..., is a header, not data
    pd.DataFrame(X).to_csv(tmp_path / "unnamed.csv", index=False)
    assert main(["transform", str(tmp_path / "array_model"), str(tmp_path / "unnamed.csv"),
                 "-o", str(tmp_path / "z.csv")]) == 0, capsys.readouterr().err
    assert pd.read_csv(tmp_path / "z.csv").shape == (len(frame), 2 * 2 + 2 * 2)


def test_ids_keep_their_text_and_parquet_index_ids_are_found(tables, tmp_path, capsys):
    folder, frame = tables
    ids = [f"{i:05d}" for i in range(len(frame))]  # "00000" must not become 0
    frame.assign(cell=ids).to_csv(tmp_path / "zeros.csv", index=False)
    frame.assign(cell=ids).set_index("cell").to_parquet(tmp_path / "indexed.parquet")
    common = ["--prefix", "rna=rna_", "--prefix", "atac=atac_", "--method", "cca",
              "--n-components", "2", "--id", "cell"]
    for table in ("zeros.csv", "indexed.parquet"):
        out = tmp_path / f"{table}.z.csv"
        assert main(["fit", str(tmp_path / table), *common, "-o", str(out),
                     "--model", str(tmp_path / "m.zip")]) == 0, capsys.readouterr().err
        assert pd.read_csv(out, dtype=str)["cell"].tolist() == ids
        assert main(["transform", str(tmp_path / "m.zip"), str(tmp_path / table),
                     "--id", "cell", "-o", str(out)]) == 0, capsys.readouterr().err
        assert pd.read_csv(out, dtype=str)["cell"].tolist() == ids
    frame.set_index("label").to_parquet(tmp_path / "numbers.parquet")
    assert main(["fit", str(tmp_path / "numbers.parquet"), *common, "--id", "label",
                 "-o", str(tmp_path / "n.parquet")]) == 0, capsys.readouterr().err
    labels = pd.read_parquet(tmp_path / "n.parquet")["label"]
    assert labels.dtype == frame["label"].dtype and labels.tolist() == frame["label"].tolist()
    # a range index other than 0, 1, ..., n - 1 (rows cut from a larger table) is kept
    frame.drop(columns="cell").iloc[20:].to_parquet(tmp_path / "cut.parquet")
    assert main(["fit", str(tmp_path / "cut.parquet"), *common[:-2], "--id", "index", "-o",
                 str(tmp_path / "cut.csv")]) == 0, capsys.readouterr().err
    assert pd.read_csv(tmp_path / "cut.csv")["index"].tolist() == list(range(20, len(frame)))


@pytest.fixture(scope="module")
def bad_tables(tables):
    folder, frame = tables
    (folder / "folder.zip").mkdir()
    frame.assign(rna_1=["x"] * len(frame)).to_csv(folder / "text.csv", index=False)
    frame.assign(atac_0=np.where(np.arange(len(frame)) == 3, np.nan, 0.0)).to_csv(
        folder / "nan.csv", index=False)
    (folder / "garbage.parquet").write_bytes(b"not parquet")
    (folder / "empty.csv").write_text("")
    frame[["cell", *RNA]].to_csv(folder / "rna_only.csv", index=False)
    frame.assign(**{c: frame[c] * 1e20 for c in RNA + ATAC}).to_csv(folder / "huge.csv",
                                                                   index=False)
    frame.assign(rna_2=np.where(np.arange(len(frame)) == 5, np.inf, 0.0),
                 atac_1=np.where(np.arange(len(frame)) == 7, -np.inf, 0.0)).to_csv(
        folder / "inf.csv", index=False)
    frame[RNA + ATAC].to_csv(folder / "headerless.csv", index=False, header=False)
    # a header-less first row with an empty cell or NA, which are no numbers
    gaps = frame[RNA + ATAC].copy()
    gaps.iloc[0, 1] = np.nan
    gaps.to_csv(folder / "headerless_gap.csv", index=False, header=False)
    gaps.to_csv(folder / "headerless_na.csv", index=False, header=False, na_rep="NA")
    # a separator at the end of the first data row, or of every row: pandas
    # had taken the first field as the index and shifted every column left
    lines = frame.to_csv(index=False).splitlines()
    (folder / "trailing_first.csv").write_text("\n".join([lines[0], lines[1] + ","]
                                                         + lines[2:]) + "\n")
    (folder / "trailing_all.tsv").write_text(
        "\n".join([lines[0].replace(",", "\t")]
                  + [line.replace(",", "\t") + "\t" for line in lines[1:]]) + "\n")
    # the same with ids 1, 2, 3, ..., which pandas 3 reads as its default index
    numbered = frame.assign(cell=np.arange(1, len(frame) + 1)).to_csv(index=False).splitlines()
    (folder / "trailing_numbered.csv").write_text(
        "\n".join([numbered[0]] + [line + "," for line in numbered[1:]]) + "\n")
    frame.to_csv(folder / "decimal_commas.tsv", index=False, sep="\t", decimal=",")
    (folder / "semicolons_commas.csv").write_text(
        "cell;rna_0;atac_0\r\nc1;0;3\r\nc2;1,5;2\r\n")
    frame.to_csv(folder / "utf16.csv", index=False, encoding="utf-16")
    frame.rename(columns={"rna_2": "rna_1"}).to_csv(folder / "repeated.csv", index=False)
    frame.rename(columns={"rna_2": "rna_1"}).to_csv(folder / "repeated.tsv", index=False,
                                                    sep="\t")
    frame.rename(columns={"rna_2": "rna_1"}).to_csv(folder / "repeated_bom.csv", index=False,
                                                    encoding="utf-8-sig")
    (folder / "outdir.csv").mkdir()
    (folder / "plain_file").write_text("not a model")
    frame.to_csv(folder / "semicolons.csv", index=False, sep=";")
    frame.set_index(pd.Index([f"x{i}" for i in range(len(frame))], name="cell")).to_parquet(
        folder / "index_clash.parquet")
    # the lines of separators alone that spreadsheets leave at the end
    (folder / "separators_alone.csv").write_text(
        frame.to_csv(index=False) + "," * (frame.shape[1] - 1) + "\n")
    frame.assign(rna_1=[f"{1000 * i:,}" for i in range(len(frame))]).to_csv(
        folder / "thousands.csv", index=False)
    frame.assign(rna_1=frame["rna_1"] * 1e200).to_csv(folder / "beyond_float32.csv",
                                                      index=False)
    frame.assign(rna_1=1.0).to_csv(folder / "constant.csv", index=False)
    import pyarrow
    import pyarrow.parquet

    pyarrow.parquet.write_table(pyarrow.table([frame[c] for c in RNA + ATAC],
                                              names=["rna_0", "rna_0", *RNA[2:], *ATAC]),
                                folder / "repeated.parquet")
    return folder


ERRORS = {
    "early stopping without held-out rows": (
        ["fit", "{f}/cells.csv", "--prefix", "a=rna_", "--prefix", "b=atac_",
         "--early-stopping", "3", "--model", "{t}/m"],
        "--early-stopping watches the loss on held-out rows; give --validation-fraction"),
    "early stopping of cca": (
        ["fit", "{f}/cells.csv", "--prefix", "a=rna_", "--prefix", "b=atac_", "--method", "cca",
         "--early-stopping", "3", "--model", "{t}/m"],
        "--early-stopping does not apply to --method cca"),
    "no patience": (
        ["fit", "{f}/cells.csv", "--prefix", "a=rna_", "--prefix", "b=atac_",
         "--validation-fraction", "0.2", "--early-stopping", "0", "--model", "{t}/m"],
        "give a patience of at least 1 epoch"),
    "validation fraction out of range": (
        ["fit", "{f}/cells.csv", "--prefix", "a=rna_", "--prefix", "b=atac_",
         "--validation-fraction", "1.5", "--model", "{t}/m"],
        "validation_fraction"),
    "missing file": (["fit", "{f}/absent.csv", "--prefix", "a=rna_", "--prefix", "b=atac_",
                      "--model", "{t}/m"], "no such file"),
    "unreadable parquet": (["fit", "{f}/garbage.parquet", "--prefix", "a=rna_",
                            "--prefix", "b=atac_", "--model", "{t}/m"],
                           "cannot read {f}/garbage.parquet as PARQUET"),
    "empty csv": (["fit", "{f}/empty.csv", "--prefix", "a=rna_", "--prefix", "b=atac_",
                   "--model", "{t}/m"], "cannot read {f}/empty.csv as CSV"),
    "unknown extension": (["fit", "{f}/cells.xlsx", "--prefix", "a=rna_", "--prefix",
                           "b=atac_", "--model", "{t}/m"], "cannot tell the format"),
    "missing column": (["fit", "{f}/cells.csv", "--modality", "rna=rna_0,gene9",
                        "--prefix", "atac=atac_", "--model", "{t}/m"],
                       "--modality rna: no column 'gene9'"),
    "pattern matches nothing": (["fit", "{f}/cells.csv", "--modality", "rna=gene*",
                                 "--prefix", "atac=atac_", "--model", "{t}/m"],
                                "pattern 'gene*' matches no column"),
    "not NAME=VALUE": (["fit", "{f}/cells.csv", "--prefix", "rna_", "--prefix", "atac=atac_",
                        "--model", "{t}/m"], "expected NAME=VALUE"),
    "NAME= without a value": (["fit", "{f}/cells.csv", "--prefix", "rna=", "--prefix",
                               "atac=atac_", "--model", "{t}/m"], "expected NAME=VALUE"),
    "one modality": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--model", "{t}/m"],
                     "give at least two modalities"),
    "overlap": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--modality", "both=rna_0",
                 "--prefix", "atac=atac_", "--model", "{t}/m"],
                "column 'rna_0' is in both modality 'rna' and 'both'"),
    "unknown id": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
                    "--id", "barcode", "--model", "{t}/m"], "has no column 'barcode'"),
    "text column": (["fit", "{f}/text.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
                     "--model", "{t}/m"], "column(s) rna_1 are not numeric"),
    "missing values": (["fit", "{f}/nan.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
                        "--model", "{t}/m"], "column(s) atac_0 have missing values"),
    "option of another method": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--prefix",
                                  "atac=atac_", "--method", "cca", "--beta", "1",
                                  "--model", "{t}/m"], "--beta does not apply to --method cca"),
    "invalid parameter": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--prefix",
                           "atac=atac_", "--method", "cca", "--n-components", "9",
                           "--model", "{t}/m"],
                          # the option, not the Python parameter (n_components=9)
                          "error: --n-components 9 exceeds the smallest modality's 3 columns; "
                          "use at most 3."),
    "model path is a file": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--prefix",
                              "atac=atac_", "--model", "{f}/plain_file"],
                             "--model {f}/plain_file: a path not ending in .zip is written "
                             "as a directory, but it is an existing file"),
    "model named like a table": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--prefix",
                                  "atac=atac_", "-o", "{t}/model.csv", "--model",
                                  "{t}/embeddings.csv"],
                                 "--model {t}/embeddings.csv: a model is written as a .zip "
                                 "file or a directory, and this path is named like a table; "
                                 "give e.g. {t}/embeddings.zip"),
    "model named like a table, in capitals": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_",
                                               "--prefix", "atac=atac_", "--model",
                                               "{t}/model.PQ"],
                                              "this path is named like a table"),
    "a combination the estimator refuses, before the table is read": (
        ["fit", "{f}/absent.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--method", "focal", "--n-shared", "3", "--n-specific", "4", "--model", "{t}/m"],
        "needs --n-shared == --n-specific; got --n-shared 3 and --n-specific 4"),
    "options are checked before the table is read": (
        ["fit", "{f}/absent.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--n-shared", "0", "--model", "{t}/m"],
        "--n-shared 0: The 'n_shared' parameter of DisentangledSSL must be an int"),
    "a device torch does not see": (
        ["fit", "{f}/absent.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--device", "cuda:99", "--model", "{t}/m"], "error: --device 'cuda:99' "),
    "semicolon-separated csv": (["fit", "{f}/semicolons.csv", "--prefix", "rna=rna_",
                                 "--prefix", "atac=atac_", "--id", "cell", "--model",
                                 "{t}/m"],
                                "has no column 'cell'. {f}/semicolons.csv was read as one "
                                "column, 'cell;rna_0;"),
    "parquet index named like a column": (
        ["fit", "{f}/index_clash.parquet", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--model", "{t}/m"],
        "{f}/index_clash.parquet's index is named 'cell', as one of its columns is, with "
        "other values; rename one of them"),
    "model path is empty": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--prefix",
                             "atac=atac_", "--model", ""], "--model '' is empty"),
    "model .zip is a directory": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_",
                                   "--prefix", "atac=atac_", "--model", "{f}/folder.zip"],
                                  "is an existing directory"),
    "model folder is a file": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--prefix",
                                "atac=atac_", "--model", "{f}/cells.csv/m.zip"],
                               "is a file, so the folder cannot be created"),
    "output folder is a file": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--prefix",
                                 "atac=atac_", "-o", "{f}/cells.csv/sub/z.csv"],
                                "--output {f}/cells.csv/sub/z.csv: "),
    "training diverges": (["fit", "{f}/huge.csv", "--prefix", "rna=rna_", "--prefix",
                           "atac=atac_", "--method", "contrastive", "--similarity",
                           "euclidean", "--hidden", "none", "--n-components", "2",
                           "--epochs", "1", "-q", "--model", "{t}/m"],
                          "training loss became nan"),
    "nothing to write": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--prefix",
                          "atac=atac_"], "nothing to write"),
    "infinite values": (["fit", "{f}/inf.csv", "--prefix", "rna=rna_", "--prefix",
                         "atac=atac_", "--model", "{t}/m"],
                        "{f}/inf.csv: column(s) rna_2, atac_1 have infinite values"),
    "repeated column name, tab-separated": (
        ["fit", "{f}/repeated.tsv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--model", "{t}/m"], "the name(s) 'rna_1'"),
    "repeated column name, after a byte-order mark": (
        ["fit", "{f}/repeated_bom.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--model", "{t}/m"], "the name(s) 'rna_1'"),
    "model path of spaces": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--prefix",
                              "atac=atac_", "--model", "  "],
                             "is empty; give a .zip file or a directory to write the model to"),
    "prefix of the id column alone": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_",
                                       "--prefix", "c=c", "--id", "cell", "--model", "{t}/m"],
                                      "--prefix c=c: no column but the --id column 'cell' "
                                      "starts with 'c'"),
    "repeated column name": (["fit", "{f}/repeated.csv", "--prefix", "rna=rna_", "--prefix",
                              "atac=atac_", "--model", "{t}/m"],
                             "{f}/repeated.csv gives more than one column the name(s) "
                             "'rna_1'; give each column its own name."),
    "headerless csv at fit": (["fit", "{f}/headerless.csv", "--prefix", "rna=rna_",
                               "--prefix", "atac=atac_", "--model", "{t}/m"],
                              "{f}/headerless.csv seems to lack a header row"),
    "headerless csv at transform": (["transform", "{t}/model.zip", "{f}/headerless.csv",
                                     "-o", "{t}/z.csv"],
                                    "{f}/headerless.csv seems to lack a header row"),
    "headerless csv with an empty cell in its first row": (
        ["transform", "{t}/model.zip", "{f}/headerless_gap.csv", "-o", "{t}/z.csv"],
        "{f}/headerless_gap.csv seems to lack a header row"),
    "headerless csv with NA in its first row": (
        ["transform", "{t}/model.zip", "{f}/headerless_na.csv", "-o", "{t}/z.csv"],
        "{f}/headerless_na.csv seems to lack a header row"),
    "a trailing separator on the first data row": (
        ["fit", "{f}/trailing_first.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--id", "cell", "--model", "{t}/m"],
        "cannot read {f}/trailing_first.csv as CSV: its rows of data have 1 more field(s) "
        "than its header line names, and its last column is empty (a separator at the end "
        "of the rows"),
    "a trailing separator on every row": (
        ["transform", "{t}/model.zip", "{f}/trailing_all.tsv", "-o", "{t}/z.csv"],
        "its rows of data have 1 more field(s) than its header line names"),
    "a trailing separator on every row, ids numbered from 1": (
        ["fit", "{f}/trailing_numbered.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--method", "cca", "--model", "{t}/m"],
        "its rows of data have 1 more field(s) than its header line names"),
    "a trailing separator on every row, ids numbered from 1, as ids": (
        ["fit", "{f}/trailing_numbered.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--id", "cell", "--method", "cca", "--model", "{t}/m"],
        "its rows of data have 1 more field(s) than its header line names"),
    "decimal commas": (
        ["fit", "{f}/decimal_commas.tsv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--id", "cell", "--model", "{t}/m"],
        "are not numeric; every modality column must hold numbers. Column 'rna_0' holds "
        "'{comma}': a decimal comma; write the table with decimal points"),
    "separated by semicolons, with commas in some rows": (
        ["fit", "{f}/semicolons_commas.csv", "--prefix", "rna=rna_", "--prefix",
         "atac=atac_", "--model", "{t}/m"],
        "it seems to be separated by ';', where a .csv file is separated by commas"),
    "not UTF-8": (
        ["fit", "{f}/utf16.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--model", "{t}/m"],
        "cannot read {f}/utf16.csv as CSV: it is not UTF-8 text"),
    "output is a directory": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--prefix",
                               "atac=atac_", "-o", "{f}/outdir.csv", "--model", "{t}/m"],
                              "--output {f}/outdir.csv is an existing directory"),
    "transform output is a directory": (["transform", "{t}/model.zip", "{f}/cells.csv",
                                         "-o", "{f}/outdir.csv"],
                                        "--output {f}/outdir.csv is an existing directory"),
    "output inside the model directory": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_",
                                           "--prefix", "atac=atac_", "-o",
                                           "{t}/new/z.csv", "--model", "{t}/new"],
                                          "--output {t}/new/z.csv and --model {t}/new would "
                                          "be written over or inside each other"),
    "output inside the model zip": (["fit", "{f}/cells.csv", "--prefix", "rna=rna_",
                                     "--prefix", "atac=atac_", "-o", "{t}/new.zip/z.csv",
                                     "--model", "{t}/new.zip"], "inside each other"),
    # refused before the table (absent here) is read
    "model inside the output path": (["fit", "{f}/absent.csv", "--prefix", "rna=rna_",
                                      "--prefix", "atac=atac_", "-o", "{t}/e.csv", "--model",
                                      "{t}/e.csv/m.zip"],
                                     "--output {t}/e.csv and --model {t}/e.csv/m.zip would be "
                                     "written over or inside each other; give them separate "
                                     "paths"),
    "output inside the model path, before the table is read": (
        ["fit", "{f}/absent.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_", "-o",
         "{t}/new/z.csv", "--model", "{t}/new"], "would be written over or inside each other"),
    "rows of separators alone, imputed": (
        ["fit", "{f}/separators_alone.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--impute", "mean", "--method", "cca", "--model", "{t}/m"],
        "{f}/separators_alone.csv: data row(s) 121 have no value in any modality column "
        "(lines of separators alone, say), which the imputer would fill whole"),
    "thousands separators": (
        ["fit", "{f}/thousands.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--model", "{t}/m"],
        "Column 'rna_1' holds '1,000': a thousands separator (or, with a single comma, a "
        "decimal comma); write the table without thousands separators"),
    "values beyond float32, standardized": (
        ["fit", "{f}/beyond_float32.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--standardize", "--model", "{t}/m"],
        "column(s) rna_1 hold values beyond float32's range"),
    "a parquet file naming two columns alike": (
        ["fit", "{f}/repeated.parquet", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--model", "{t}/m"],
        "sklearn-dssl fit: error: {f}/repeated.parquet gives more than one column the "
        "name(s) 'rna_0'; give each column its own name."),
    "a model directory holding other files": (
        ["fit", "{f}/cells.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--model", "{f}"],
        "{f} is a directory holding other files than a saved model's"),
    "advice in the command's terms": (
        ["fit", "{f}/constant.csv", "--prefix", "rna=rna_", "--prefix", "atac=atac_",
         "--method", "cca", "--ridge", "0", "--model", "{t}/m"],
        "set --ridge > 0"),
    "a modality name given twice": (
        ["fit", "{f}/absent.csv", "--modality", "rna=rna_0,rna_1", "--modality", "rna=rna_2",
         "--prefix", "atac=atac_", "--model", "{t}/m"],
        "modality 'rna' is given more than once (--modality rna=rna_0,rna_1 and --modality "
        "rna=rna_2); give each modality its own name, or list all its columns in one option"),
    "a modality name given by a prefix and a column list": (
        ["fit", "{f}/absent.csv", "--prefix", "rna=rna_", "--modality", "rna=atac_0",
         "--model", "{t}/m"],
        "modality 'rna' is given more than once (--prefix rna=rna_ and --modality rna=atac_0)"),
    "a trailing comma": (
        ["fit", "{f}/absent.csv", "--modality", "rna=rna_0,rna_1,", "--prefix", "atac=atac_",
         "--model", "{t}/m"],
        "--modality rna=rna_0,rna_1,: an empty column name (a comma at an end, or two in a "
        "row); separate the column names with single commas."),
    "two commas in a row": (
        ["fit", "{f}/absent.csv", "--modality", "rna=rna_0, ,rna_1", "--prefix", "atac=atac_",
         "--model", "{t}/m"], "an empty column name"),
    "a column listed twice": (
        ["fit", "{f}/absent.csv", "--modality", "rna=rna_0,rna_1,rna_0", "--prefix",
         "atac=atac_", "--model", "{t}/m"],
        "--modality rna: 'rna_0' listed more than once; list each column once."),
    "a column selected by a pattern and by name": (
        ["fit", "{f}/cells.csv", "--modality", "rna=rna_*,rna_1", "--prefix", "atac=atac_",
         "--model", "{t}/m"],
        "--modality rna: column 'rna_1' is selected by both 'rna_*' and 'rna_1'; select each "
        "column once."),
    "not a model": (["transform", "{f}/cells.csv", "{f}/cells.csv", "-o", "{t}/z.csv"],
                    "is neither a directory nor a zip file"),
    "absent model": (["transform", "{t}/none.zip", "{f}/cells.csv", "-o", "{t}/z.csv"],
                     "no saved model at"),
    "columns missing at transform": (["transform", "{t}/model.zip", "{f}/rna_only.csv",
                                      "-o", "{t}/z.csv"],
                                     "lacks 3 column(s) the model was fitted on: atac_0"),
}


@pytest.fixture(scope="module")
def cca_model(tables, tmp_path_factory):
    folder, _ = tables
    target = tmp_path_factory.mktemp("cca")
    assert main(["fit", str(folder / "cells.csv"), "--prefix", "rna=rna_", "--prefix",
                 "atac=atac_", "--method", "cca", "--n-components", "2",
                 "--model", str(target / "model.zip")]) == 0
    return target


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_input_gives_one_line_and_status_1(case, bad_tables, cca_model, capsys):
    argv, expected = ERRORS[case]
    argv = [a.format(f=bad_tables, t=cca_model) for a in argv]
    capsys.readouterr()
    assert main(argv) == 1
    # the error, after any notes and warnings
    err = [line for line in capsys.readouterr().err.strip().splitlines()
           if not line.startswith(("sklearn-dssl: note: ", "sklearn-dssl: warning: "))]
    assert len(err) == 1, err
    assert err[0].startswith(f"sklearn-dssl {argv[0]}: error: ")
    comma = pd.read_csv(bad_tables / "decimal_commas.tsv", sep="\t")["rna_0"][0]
    assert expected.format(f=bad_tables, t=cca_model, comma=comma) in err[0]


def test_usage_errors_exit_with_status_2(capsys):
    for argv in (["fit"], ["fit", "t.csv", "--method", "pca"], ["nonsense"],
                 ["fit", "t.csv", "--hidden", "a,b"], ["demo", "--n-samples", "0"],
                 ["demo", "--random-state", "-1"], ["fit", "t.csv", "--random-state", "2.5"]):
        assert main(argv) == 2
        assert "usage: sklearn-dssl" in capsys.readouterr().err


@pytest.mark.parametrize("widths", ["a,b", "0", "8,0", "8,,8"])
def test_hidden_widths_are_refused_in_the_command_s_terms(widths, capsys):
    assert main(["fit", "t.csv", f"--hidden={widths}"]) == 2
    assert ("--hidden: expected comma-separated positive layer widths such as 512 or 256,256 "
            f"('none' for linear encoders), got '{widths}'") in capsys.readouterr().err


def test_demo_refuses_too_few_rows_for_its_probes(capsys):
    assert main(["demo", "--n-samples", "3"]) == 2
    assert "--n-samples: expected at least 100 rows, got '3'" in capsys.readouterr().err


def test_demo_subcommand_prints_the_probe_table(capsys):
    assert main(["demo", "--n-samples", "600", "-v"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("DisentangledSSL on make_paper_synthetic: 600 rows")
    assert "oracle: true Z_c" in out
    # the training log of -v on stderr, apart from the table
    assert "train_loss" in err and "train_loss" not in out


def test_an_id_column_that_a_prefix_matches_is_left_out_with_a_warning(tables, tmp_path, capsys):
    folder, _ = tables
    assert main(["fit", str(folder / "cells.csv"), "--prefix", "rna=rna_", "--prefix",
                 "atac=atac_", "--id", "rna_0", "--method", "cca", "--n-components", "1",
                 "-q", "--model", str(tmp_path / "m.zip")]) == 0
    assert ("--prefix rna=rna_: the --id column 'rna_0' starts with 'rna_' too; it is left "
            "out of modality 'rna'.") in capsys.readouterr().err
    assert len(load(tmp_path / "m.zip").modalities_["rna"]) == 2


def test_outputs_that_cannot_be_written_fail_before_training(tables, tmp_path, capsys,
                                                           monkeypatch):
    folder, _ = tables
    (tmp_path / "folder.csv").mkdir()
    fit = ["fit", str(folder / "cells.csv"), "--prefix", "rna=rna_", "--prefix", "atac=atac_",
           *TINY, "-q"]
    for outputs, expected in (
        (["-o", str(tmp_path / "folder.csv"), "--model", str(tmp_path / "model")],
         "is an existing directory"),
        (["-o", str(tmp_path / "model" / "z.csv"), "--model", str(tmp_path / "model")],
         "would be written over or inside each other"),
        (["-o", str(tmp_path / "e.csv"), "--model", str(tmp_path / "e.csv" / "m.zip")],
         "would be written over or inside each other"),
    ):
        assert main([*fit, *outputs]) == 1
        out, err = capsys.readouterr()
        assert "fitting" not in out and expected in err
    # without a Parquet engine, a .parquet output is refused up front
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "fastparquet", None)
    argv = [*fit, "-o", str(tmp_path / "z.parquet"), "--model", str(tmp_path / "m.zip")]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "fitting" not in out
    assert "writing Parquet needs pyarrow (or fastparquet)" in err
    assert not (tmp_path / "same.csv").exists() and not (tmp_path / "m.zip").exists()


def test_the_input_table_and_id_column_are_kept_from_being_overwritten(tables, tmp_path,
                                                                       capsys, cca_model):
    folder, frame = tables
    table, model = tmp_path / "cells.csv", cca_model / "model.zip"
    frame.to_csv(table, index=False)
    before = table.read_bytes()
    fit = ["fit", str(table), "--prefix", "rna=rna_", "--prefix", "atac=atac_", *TINY, "-q"]
    for argv, expected in (
        ([*fit, "-o", str(table)], f"--output {table} is the input table"),
        (["transform", str(model), str(table), "-o", str(table)],
         f"--output {table} is the input table"),
    ):
        assert main(argv) == 1
        out, err = capsys.readouterr()
        assert "fitting" not in out and expected in err
    assert table.read_bytes() == before
    # nor by another name of the same file
    link = tmp_path / "link.csv"
    os.link(table, link)
    assert main([*fit, "-o", str(link)]) == 1
    assert f"--output {link} is the input table" in capsys.readouterr().err
    assert table.read_bytes() == before
    # an --id named like an embedding column fails before training, not after
    renamed = tmp_path / "renamed.csv"
    frame.rename(columns={"cell": "specific_rna_7"}).to_csv(renamed, index=False)
    argv = ["fit", str(renamed), "--prefix", "rna=rna_", "--prefix", "atac=atac_",
            "--id", "specific_rna_7", *TINY, "-q", "-o", str(tmp_path / "z.csv")]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "fitting" not in out
    assert ("--id specific_rna_7 is also the name of an embedding column (specific block "
            "of modality 'rna'); rename the id column.") in err
    # a name that only looks alike is an id like any other
    frame.rename(columns={"cell": "specific_rna_x"}).to_csv(renamed, index=False)
    assert main(["fit", str(renamed), "--prefix", "rna=rna_", "--prefix", "atac=atac_",
                 "--id", "specific_rna_x", "--method", "cca", "--n-components", "1",
                 "-o", str(tmp_path / "z.csv")]) == 0
    assert pd.read_csv(tmp_path / "z.csv").columns[0] == "specific_rna_x"
    # as is the name of a block the command does not write
    frame.rename(columns={"cell": "specific_rna_0"}).to_csv(renamed, index=False)
    assert main(["fit", str(renamed), "--prefix", "rna=rna_", "--prefix", "atac=atac_",
                 "--id", "specific_rna_0", "--method", "cca", "--n-components", "1",
                 "--blocks", "shared", "-o", str(tmp_path / "z.csv")]) == 0


def test_the_model_is_saved_before_the_embeddings_are_written(tables, tmp_path, capsys,
                                                              monkeypatch):
    from sklearn_dssl import _cli

    def fail(frame, path):
        raise OSError(f"disk full writing {path}")

    folder, frame = tables
    monkeypatch.setattr(_cli, "write_table", fail)
    assert main(["fit", str(folder / "cells.csv"), "--prefix", "rna=rna_", "--prefix",
                 "atac=atac_", "--method", "cca", "--n-components", "2",
                 "-o", str(tmp_path / "z.csv"), "--model", str(tmp_path / "m.zip")]) == 1
    out, err = capsys.readouterr()
    assert "wrote the model to" in out and "disk full" in err
    Z = load(tmp_path / "m.zip").transform(frame[RNA + ATAC])
    assert Z.shape == (len(frame), 2 * 2 + 2 * 3)


def test_tilde_is_the_home_directory_in_every_path(tables, tmp_path, capsys, monkeypatch):
    folder, frame = tables
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    frame.to_csv(home / "cells.csv", index=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    common = ["--prefix", "rna=rna_", "--prefix", "atac=atac_", "--method", "cca",
              "--n-components", "2"]
    assert main(["fit", "~/cells.csv", *common, "-o", "~/out/z.csv",
                 "--model", "~/m.zip"]) == 0, capsys.readouterr().err
    assert f"wrote the model to {home / 'm.zip'}" in capsys.readouterr().out
    assert main(["transform", "~/m.zip", "~/cells.csv", "-o", "~/z2.csv"]) == 0
    np.testing.assert_array_equal(pd.read_csv(home / "out" / "z.csv").to_numpy(),
                                  pd.read_csv(home / "z2.csv").to_numpy())
    assert list(work.iterdir()) == []  # no literal ./~ folder


def test_transform_writes_arrays_whatever_set_output_the_model_was_saved_with(
        tables, tmp_path, capsys):
    """A model saved after set_output(transform="pandas") or "polars" (whether
    or not polars is installed here) embeds as the command needs."""
    import json

    from sklearn_dssl import LinearCCA

    folder, frame = tables
    model = LinearCCA(modalities={"rna": RNA, "atac": ATAC}, n_components=2)
    model.set_output(transform="pandas").fit(frame[RNA + ATAC])
    expected = np.asarray(model.transform(frame[RNA + ATAC]))
    save(model, tmp_path / "pandas")
    save(model, tmp_path / "polars")
    metadata = json.loads((tmp_path / "polars" / "metadata.json").read_text())
    assert metadata["output"] == "pandas"
    metadata["output"] = "polars"  # as saved after set_output(transform="polars")
    (tmp_path / "polars" / "metadata.json").write_text(json.dumps(metadata))
    for name in ("pandas", "polars"):
        out = tmp_path / f"{name}.csv"
        assert main(["transform", str(tmp_path / name), str(folder / "cells.csv"), "--id",
                     "cell", "-o", str(out)]) == 0, capsys.readouterr().err
        np.testing.assert_allclose(pd.read_csv(out).iloc[:, 1:].to_numpy(), expected,
                                   rtol=1e-6, atol=1e-9)


def test_a_shared_only_model_asks_for_blocks_shared(tables, tmp_path, capsys):
    folder, frame = tables
    model = small_model(modalities={"rna": RNA, "atac": ATAC}, n_shared=2, output="shared")
    save(model.fit(frame[RNA + ATAC]), tmp_path / "shared.zip")
    argv = ["transform", str(tmp_path / "shared.zip"), str(folder / "cells.csv"),
            "-o", str(tmp_path / "z.csv")]
    for blocks in ("all", "specific"):
        assert main([*argv, "--blocks", blocks]) == 1
        err = capsys.readouterr().err.strip()
        assert err.endswith("has no fitted specific block (it was fitted with --blocks "
                            "shared, or its training was interrupted); give --blocks shared.")
    assert main([*argv, "--blocks", "shared"]) == 0
    assert pd.read_csv(tmp_path / "z.csv").shape == (len(frame), 4)


# the training flags of both neural methods: (flag, value, parameter, expected)
NEURAL_TRAINING_FLAGS = [
    ("--batch-size", "16", "batch_size", 16),
    ("--lr", "0.01", "lr", 0.01),
    ("--device", "cpu", "device", "cpu"),
    ("--compile", None, "compile", True),
    ("--validation-fraction", "0.25", "validation_fraction", 0.25),
    ("--random-state", "7", "random_state", 7),
    ("--blocks", "shared", "output", "shared"),
]

# One epoch, tiny widths: the base of each method's run in the flag test below.
ONE_EPOCH = {
    "dssl": ["--n-shared", "2", "--n-specific", "2", "--hidden", "8", "--epochs-shared", "1",
             "--epochs-specific", "1", "--batch-size", "32", "--random-state", "0"],
    "contrastive": ["--n-components", "2", "--hidden", "8", "--epochs", "1",
                    "--batch-size", "32", "--random-state", "0"],
    "cca": ["--n-components", "2"],
    "jointopt": BASELINE_EPOCH,
    "focal": BASELINE_EPOCH,
    "dmvae": BASELINE_EPOCH,
}
# Every flag that sets an estimator parameter, for each method it applies to:
# (flag, its argument or None for a switch, parameter, value the parameter must
# get). Each value differs from the estimator's default and from ONE_EPOCH's, so
# a flag that sets another parameter (or none) leaves a value the test refuses.
# one case per flag: (its argument or None for a switch, parameter, value)
FLAG_CASES = {
    "--n-shared": ("3", "n_shared", 3),
    "--n-specific": ("3", "n_specific", 3),
    "--n-components": ("3", "n_components", 3),
    "--hidden": ("4,4", "hidden_layer_sizes", (4, 4)),
    "--specific-init": ("normal", "specific_init", "normal"),
    "--beta": ("0.3", "beta", 0.3),
    "--beta-start": ("0.01", "beta_start", 0.01),
    "--beta-ramp-epochs": ("0.5", "beta_ramp_epochs", 0.5),
    "--ortho-weight": ("0.5", "ortho_weight", 0.5),
    "--lambda": ("0.25", "ortho_weight", 0.25),
    "--specific-weight": ("10", "specific_weight", 10.0),
    "--kl-weight": ("0.5", "kl_weight", 0.5),
    "--temperature": ("0.2", "temperature", 0.2),
    "--head": ("gaussian", "head", "gaussian"),
    "--kappa": ("50", "kappa", 50.0),
    "--augmentation": ("noise", "augmentation", "noise"),
    "--noise-scale": ("0.3", "noise_scale", 0.3),
    "--mask-fraction": ("0.3", "mask_fraction", 0.3),
    "--epochs-shared": ("2", "max_epochs_shared", 2),
    "--epochs-specific": ("2", "max_epochs_specific", 2),
    "--epochs": ("2", "max_epochs", 2),
    "--similarity": ("l1", "similarity", "l1"),
    "--ica": (None, "ica", True),
    "--ridge": ("0.5", "ridge", 0.5),
    "--blocks": ("shared", "output", "shared"),
}


def _cases(*flags):
    return [(flag, *FLAG_CASES[flag]) for flag in flags]


_BASELINE_FLAGS = ("--n-shared", "--n-specific", "--hidden", "--augmentation", "--noise-scale",
                   "--mask-fraction", "--epochs")
ESTIMATOR_FLAGS = {
    "dssl": [
        *_cases("--n-shared", "--n-specific", "--hidden", "--specific-init", "--beta",
                "--ortho-weight", "--lambda", "--temperature", "--head", "--kappa",
                "--augmentation", "--noise-scale", "--mask-fraction", "--epochs-shared",
                "--epochs-specific", "--ica", "--beta-start"),
        # a ramp's length needs the ramp
        (*_cases("--beta-ramp-epochs")[0], ["--beta-start", "0.01"]),
        *NEURAL_TRAINING_FLAGS,
    ],
    "contrastive": [
        *_cases("--n-components", "--hidden", "--temperature", "--epochs", "--similarity",
                "--ica"),
        *NEURAL_TRAINING_FLAGS,
    ],
    "cca": _cases("--n-components", "--ridge", "--blocks"),
    "jointopt": [
        *_cases(*_BASELINE_FLAGS, "--specific-init", "--ortho-weight", "--lambda",
                "--specific-weight", "--temperature", "--head", "--kappa"),
        *NEURAL_TRAINING_FLAGS,
    ],
    "focal": [
        # FOCAL compares the two blocks by cosine: equal widths
        (*_cases("--n-shared")[0], ["--n-specific", "3"]),
        (*_cases("--n-specific")[0], ["--n-shared", "3"]),
        *_cases(*_BASELINE_FLAGS[2:], "--specific-init", "--ortho-weight", "--lambda",
                "--specific-weight", "--temperature"),
        *NEURAL_TRAINING_FLAGS,
    ],
    "dmvae": [*_cases(*_BASELINE_FLAGS, "--kl-weight"), *NEURAL_TRAINING_FLAGS],
}


def _method_class(method):
    return getattr(sklearn_dssl, METHODS[method])


def test_the_flag_test_covers_every_estimator_flag_of_every_method():
    # a method or flag added to the command later needs cases in ESTIMATOR_FLAGS too
    assert {METHODS[method] for method in ESTIMATOR_FLAGS} == set(METHODS.values())
    # and every estimator that save takes is a method of the command
    from sklearn_dssl._persistence import ESTIMATORS

    assert set(METHODS.values()) == set(ESTIMATORS)
    for method, cases in ESTIMATOR_FLAGS.items():
        accepted = _method_class(method)().get_params()
        expected = {flag for flags, param, _ in ESTIMATOR_OPTIONS if param in accepted
                    for flag in flags}
        assert {flag for flag, *_ in cases} == expected, method
        # and every parameter has a flag, but those a table's command cannot give
        flagged = {param for _, param, _ in ESTIMATOR_OPTIONS}
        assert set(accepted) - flagged <= {"modalities", "callbacks", "accelerator",
                                           "verbose"}, method


@pytest.mark.parametrize("method, flag, value, param, expected, extra", [
    (method, *case, *([] if len(case) == 5 else [[]]))
    for method, cases in ESTIMATOR_FLAGS.items() for case in cases
])
def test_each_estimator_flag_reaches_the_saved_model(tables, tmp_path, capsys, method, flag,
                                                     value, param, expected, extra):
    folder, _ = tables
    if flag == "--compile" and not cxx_found():
        pytest.skip("compile=True on a CPU needs a C++ compiler (g++ or clang++)")
    # the value tested is neither what the estimator nor the base run would use
    assert _method_class(method)().get_params()[param] != expected
    base = build_parser().parse_args(["fit", "t.csv", *ONE_EPOCH[method]])
    assert getattr(base, f"param_{param}", None) != expected

    argv = ["fit", str(folder / "cells.csv"), "--prefix", "rna=rna_", "--prefix", "atac=atac_",
            "--method", method, "-q", *ONE_EPOCH[method],
            flag, *([] if value is None else [value]), *extra, "--model", str(tmp_path / "m.zip")]
    assert main(argv) == 0, capsys.readouterr().err
    model = load(tmp_path / "m.zip")
    assert model.get_params()[param] == expected
    if flag == "--ica":
        # the shared block was rotated: the saved model carries a fitted FastICA
        check_is_fitted(model.ica_)


def _awkward_tables():
    """Tables whose CSV a reader could take otherwise than pandas writes it."""
    values = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    plain = pd.DataFrame(values, columns=["shared_m1_0", "a,b", 'c"d\te'])
    plain.insert(0, "id", ["00042", "y,z", 'q"r', "tab\there"])
    whole = plain.assign(**{"a,b": np.float32([0.0, 1.0, 2.0, -3.0])})  # a dead dimension
    dated = plain.assign(id=pd.to_datetime(["2020-01-01"] * 4))
    timed = plain.assign(id=pd.to_timedelta([1, 2, 3, 4], unit="s"))
    raw = plain.assign(id=[b"ab", b"cd", b"\xff", b"e"])
    flags = plain.assign(id=[True, False, True, True])
    return {"plain": plain, "whole": whole, "dated": dated, "timed": timed, "raw": raw,
            "flags": flags}


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
@pytest.mark.parametrize("pyarrow_installed", [True, False])
@pytest.mark.parametrize("table", list(_awkward_tables()))
def test_written_tables_read_back_as_pandas_writes_them(tmp_path, monkeypatch, suffix,
                                                        pyarrow_installed, table):
    # pyarrow's writer where it writes a table as pandas would read it back,
    # pandas' otherwise: either way, the file reads back as pandas' own
    from sklearn_dssl._cli import write_table

    frame = _awkward_tables()[table]
    sep = "\t" if suffix == ".tsv" else ","
    frame.to_csv(tmp_path / f"pandas{suffix}", index=False, sep=sep)
    with monkeypatch.context() as patch:
        if not pyarrow_installed:
            patch.setitem(sys.modules, "pyarrow", None)  # import pyarrow fails
        write_table(frame, tmp_path / f"table{suffix}")
    expected = pd.read_csv(tmp_path / f"pandas{suffix}", sep=sep)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / f"table{suffix}", sep=sep), expected)


def test_ctrl_c_during_fit_writes_nothing_and_exits_130(tables, tmp_path, capsys, monkeypatch):
    from sklearn_dssl._training import ContrastiveNet

    folder, _ = tables
    steps = {"count": 0}
    train_step = ContrastiveNet.train_step

    def interrupted_at_the_third_batch(self, batch, **fit_params):
        steps["count"] += 1
        if steps["count"] == 3:
            raise KeyboardInterrupt  # what Ctrl-C raises, where training runs
        return train_step(self, batch, **fit_params)

    monkeypatch.setattr(ContrastiveNet, "train_step", interrupted_at_the_third_batch)
    argv = ["fit", str(folder / "cells.csv"), "--prefix", "rna=rna_", "--prefix", "atac=atac_",
            *TINY, "-q", "-o", str(tmp_path / "z.csv"), "--model", str(tmp_path / "m.zip")]
    assert main(argv) == 130
    err = capsys.readouterr().err
    # not the estimator's warning, whose advice is for the model it keeps in Python
    assert "training was interrupted" not in err
    assert err.strip().splitlines()[-1] == ("sklearn-dssl fit: interrupted (Ctrl-C) while "
                                            "training; wrote neither the model nor the "
                                            "embeddings")
    assert list(tmp_path.iterdir()) == []
    # outside training too
    monkeypatch.setattr(ContrastiveNet, "train_step", train_step)
    monkeypatch.setattr("sklearn_dssl._cli.read_table", lambda *a: (_ for _ in ()).throw(
        KeyboardInterrupt))
    assert main(argv) == 130
    assert capsys.readouterr().err.strip().endswith("sklearn-dssl fit: interrupted (Ctrl-C)")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_table_write_leaves_no_half_written_table(tmp_path, monkeypatch):
    from sklearn_dssl import _cli

    frame = pd.DataFrame({"a": [0.5, 1.5]})
    (tmp_path / "z.csv").write_text("earlier\n")

    def interrupted(frame, path, sep, compression=None, name=None):
        path.write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "_write_delimited", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _cli.write_table(frame, tmp_path / "z.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["z.csv"]
    assert (tmp_path / "z.csv").read_text() == "earlier\n"


def test_a_ramp_to_no_bottleneck_is_refused_in_the_command_s_terms(tables, tmp_path, capsys):
    folder, _ = tables
    assert main(["fit", str(folder / "cells.csv"), "--prefix", "rna=rna_", "--prefix",
                 "atac=atac_", "--beta", "0", "--beta-start", "0.01", "-q",
                 "--model", str(tmp_path / "m.zip")]) == 1
    err = capsys.readouterr().err
    assert err.rstrip().endswith("set a positive beta, or, for no bottleneck, leave "
                                 "--beta-start out."), err


def test_files_whose_last_column_is_empty_are_read_when_their_rows_line_up(tmp_path, capsys):
    """R's write.table (row names 1, 2, ... without a header cell, NA in an
    empty last column) and a file opening with a blank line are no shifted
    files: only a separator at the end of the rows, which leaves an empty
    last field, is."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 4))
    header = '"rna_0"\t"rna_1"\t"atac_0"\t"atac_1"\t"note"'
    rows = [f'"{i + 1}"\t' + "\t".join(f"{v:.6f}" for v in row) + "\tNA"
            for i, row in enumerate(values)]
    (tmp_path / "r.tsv").write_text("\n".join([header, *rows]) + "\n")
    blank = "\n" + "\n".join(["rna_0,rna_1,atac_0,atac_1,note"]
                             + [",".join(f"{v:.6f}" for v in row) + "," for row in values])
    (tmp_path / "blank.csv").write_text(blank + "\n")
    for name in ("r.tsv", "blank.csv"):
        assert main(["fit", str(tmp_path / name), "--prefix", "rna=rna_", "--prefix",
                     "atac=atac_", "--method", "cca", "--n-components", "1", "-q",
                     "-o", str(tmp_path / f"{name}.out.csv")]) == 0, capsys.readouterr().err
        fitted = pd.read_csv(tmp_path / f"{name}.out.csv")
        expected = LinearCCA(n_components=1).fit_transform(values)
        np.testing.assert_allclose(fitted.to_numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_ramp_length_without_a_ramp_is_refused_in_the_command_s_terms(tables, tmp_path,
                                                                       capsys):
    # an option that would change nothing is an error, as for another method's
    folder, _ = tables
    assert main(["fit", str(folder / "cells.csv"), "--prefix", "rna=rna_", "--prefix",
                 "atac=atac_", "--beta-ramp-epochs", "2", "-q",
                 "--model", str(tmp_path / "m.zip")]) == 1
    assert capsys.readouterr().err.rstrip().endswith(
        "which --beta-start starts; give --beta-start too (e.g. --beta-start 0.001).")
    assert not (tmp_path / "m.zip").exists()


def test_a_model_too_large_for_memory_is_one_line(tables, tmp_path, capsys):
    folder, _ = tables
    # a typo: 10^11 units, over a terabyte of weights
    assert main(["fit", str(folder / "cells.csv"), "--prefix", "rna=rna_", "--prefix",
                 "atac=atac_", "--hidden", "100000000000", "-q",
                 "--model", str(tmp_path / "m.zip")]) == 1
    err = [line for line in capsys.readouterr().err.strip().splitlines()
           if not line.startswith("sklearn-dssl: note: ")]
    assert len(err) == 1, err
    # refused before anything is allocated, in the command's terms
    assert err[0].startswith("sklearn-dssl fit: error: DisentangledSSL needs at least "), err
    assert err[0].endswith("The encoders' weights grow with --hidden 100000000000, "
                           "--n-shared 100 and --n-specific 100, and with the modalities' "
                           "columns (3 and 3): choose smaller widths."), err


def test_a_parquet_index_that_copies_its_column_is_read_once(tables, tmp_path, capsys):
    folder, frame = tables
    # a missing id too: missing values equal missing values
    frame = frame.assign(cell=[None] + frame["cell"].tolist()[1:], batch=np.arange(len(frame)) % 3)
    for name, indexed in (("one", frame.set_index("cell", drop=False)),
                          # one level copies a column, the other is new
                          ("two", frame.set_index(["cell", pd.Index(np.arange(len(frame)) * 2,
                                                                    name="k")], drop=False))):
        indexed.to_parquet(tmp_path / f"{name}.parquet")
        assert main(["fit", str(tmp_path / f"{name}.parquet"), "--prefix", "rna=rna_",
                     "--prefix", "atac=atac_", "--id", "cell", "--method", "cca",
                     "--n-components", "2", "-o", str(tmp_path / f"{name}.csv")]) == 0
        written = pd.read_csv(tmp_path / f"{name}.csv", dtype={"cell": str})
        assert written["cell"].tolist()[1:] == frame["cell"].tolist()[1:]
        assert pd.isna(written["cell"][0])
    assert "ignoring 3 column(s) in no modality: k, label, batch" in capsys.readouterr().err


def test_ids_that_cannot_join_the_embeddings_back_are_warned_of(tables, tmp_path, capsys):
    folder, frame = tables
    frame.assign(cell=["a", "a"] + [None] * 3 + frame["cell"].tolist()[5:]).to_csv(
        tmp_path / "ids.csv", index=False)
    assert main(["fit", str(tmp_path / "ids.csv"), "--prefix", "rna=rna_", "--prefix",
                 "atac=atac_", "--id", "cell", "--method", "cca", "--n-components", "2",
                 "-o", str(tmp_path / "z.csv")]) == 0
    assert ("sklearn-dssl: warning: --id cell: " in capsys.readouterr().err)
    assert main(["fit", str(tmp_path / "ids.csv"), "--prefix", "rna=rna_", "--prefix",
                 "atac=atac_", "--id", "cell", "--method", "cca", "--n-components", "2",
                 "-o", str(tmp_path / "z.csv")]) == 0
    assert "has 3 row(s) without an id and 1 repeated id(s)" in capsys.readouterr().err
    frame.assign(cell=["a", "a"] + frame["cell"].tolist()[2:]).to_csv(tmp_path / "twice.csv",
                                                                      index=False)
    assert main(["fit", str(tmp_path / "twice.csv"), "--prefix", "rna=rna_", "--prefix",
                 "atac=atac_", "--id", "cell", "--method", "cca", "--n-components", "2",
                 "-o", str(tmp_path / "z.csv")]) == 0
    assert "twice.csv has 1 repeated id(s); those" in capsys.readouterr().err
    frame.assign(cell=[None] + frame["cell"].tolist()[1:]).to_csv(tmp_path / "gap.csv",
                                                                 index=False)
    assert main(["fit", str(tmp_path / "gap.csv"), "--prefix", "rna=rna_", "--prefix",
                 "atac=atac_", "--id", "cell", "--method", "cca", "--n-components", "2",
                 "-o", str(tmp_path / "z.csv")]) == 0
    assert "gap.csv has 1 row(s) without an id; those" in capsys.readouterr().err


def test_the_demo_probes_standardise_blocks_of_any_scale():
    from sklearn_dssl._demo import _probe_row

    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 2))
    y = (z > 0).astype(int)
    # an informative block at the scale of an untrained encoder's output:
    # a plain logistic regression would predict one class
    scores = _probe_row(1e-4 * z[:150], 1e-4 * z[150:], y[:150], y[150:])
    assert min(scores) > 0.95


def test_warnings_give_the_command_line_s_fix(tables, tmp_path, capsys):
    folder, frame = tables
    wide = frame.assign(rna_0=1e4 * frame["rna_0"])
    wide.to_csv(tmp_path / "wide.csv", index=False)
    argv = ["fit", str(tmp_path / "wide.csv"), "--prefix", "rna=rna_", "--prefix",
            "atac=atac_", *TINY, "--quiet", "--model", str(tmp_path / "m.zip")]
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(argv) == 0
    err = capsys.readouterr().err
    assert ("sklearn-dssl: warning: the columns of modality 'rna' differ in scale by a factor "
            "of") in err
    assert ("a Pipeline (sklearn_dssl.save keeps the two together). On the command line: "
            "give --standardize.\n") in err
    # which it then does not warn of
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main([*argv, "--standardize"]) == 0
    assert "differ in scale" not in capsys.readouterr().err


def test_standardize_fits_behind_a_standard_scaler_that_the_model_keeps(tables, tmp_path,
                                                                         capsys):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folder, frame = tables
    scales = np.array([1e-2, 1.0, 1e2, 1e4, 1.0, 1e3])
    wide = frame.assign(**{c: frame[c] * s + 3.0 for c, s in zip(RNA + ATAC, scales)})
    wide.to_csv(tmp_path / "wide.csv", index=False)
    argv = ["fit", str(tmp_path / "wide.csv"), "--prefix", "rna=rna_", "--prefix",
            "atac=atac_", "--id", "cell", "--method", "cca", "--n-components", "2",
            "--standardize", "-o", str(tmp_path / "fit.csv"), "--model",
            str(tmp_path / "m.zip")]
    assert main(argv) == 0
    assert "(rna: 3 columns, atac: 3 columns, standardized)" in capsys.readouterr().out
    # the Python equivalent
    model = LinearCCA(modalities={"rna": RNA, "atac": ATAC}, n_components=2)
    expected = make_pipeline(StandardScaler(), model).set_output(
        transform="pandas").fit_transform(wide[RNA + ATAC]).to_numpy()
    fitted = pd.read_csv(tmp_path / "fit.csv")
    np.testing.assert_allclose(fitted.iloc[:, 1:].to_numpy(), expected, rtol=1e-6, atol=1e-9)
    # the saved model standardises the tables it embeds by the fit's means and scales
    loaded = load(tmp_path / "m.zip")
    assert [type(step).__name__ for _, step in loaded.steps] == ["StandardScaler", "LinearCCA"]
    np.testing.assert_allclose(loaded[0].mean_, wide[RNA + ATAC].mean().to_numpy())
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["transform", str(tmp_path / "m.zip"), str(tmp_path / "wide.csv"), "--id",
                     "cell", "--blocks", "shared", "-o", str(tmp_path / "again.csv")]) == 0
    assert capsys.readouterr().err == ""  # the scaler hands the model its column names
    again = pd.read_csv(tmp_path / "again.csv")
    assert list(again.columns) == list(fitted.columns[:5])
    np.testing.assert_allclose(again.iloc[:, 1:].to_numpy(), fitted.iloc[:, 1:5].to_numpy())
    # the transform of another table uses the fit's statistics, not its own
    wide.iloc[:40].to_csv(tmp_path / "head.csv", index=False)
    assert main(["transform", str(tmp_path / "m.zip"), str(tmp_path / "head.csv"),
                 "-o", str(tmp_path / "head_out.csv")]) == 0
    np.testing.assert_allclose(pd.read_csv(tmp_path / "head_out.csv").to_numpy(),
                               fitted.iloc[:40, 1:].to_numpy())


def test_log1p_takes_the_log_of_counts_before_the_scaler_and_keeps_it(tables, tmp_path,
                                                                      capsys):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    folder, frame = tables
    counts = frame.assign(**{c: np.round(np.exp(2 * frame[c])) for c in RNA + ATAC})
    counts.to_csv(tmp_path / "counts.csv", index=False)
    argv = ["fit", str(tmp_path / "counts.csv"), "--prefix", "rna=rna_", "--prefix",
            "atac=atac_", "--id", "cell", "--method", "cca", "--n-components", "2",
            "--log1p", "--standardize", "-o", str(tmp_path / "fit.csv"), "--model",
            str(tmp_path / "m.zip")]
    assert main(argv) == 0
    assert "(rna: 3 columns, atac: 3 columns, log1p, standardized)" in capsys.readouterr().out
    # the Python equivalent
    model = LinearCCA(modalities={"rna": RNA, "atac": ATAC}, n_components=2)
    expected = make_pipeline(FunctionTransformer(np.log1p, feature_names_out="one-to-one"),
                             StandardScaler(), model).set_output(
        transform="pandas").fit_transform(counts[RNA + ATAC]).to_numpy()
    fitted = pd.read_csv(tmp_path / "fit.csv")
    np.testing.assert_allclose(fitted.iloc[:, 1:].to_numpy(), expected, rtol=1e-6, atol=1e-9)
    loaded = load(tmp_path / "m.zip")
    assert [type(step).__name__ for _, step in loaded.steps] == [
        "FunctionTransformer", "StandardScaler", "LinearCCA"]
    assert loaded[0].func is np.log1p
    counts.iloc[:40].to_csv(tmp_path / "head.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["transform", str(tmp_path / "m.zip"), str(tmp_path / "head.csv"),
                     "-o", str(tmp_path / "head_out.csv")]) == 0
    assert capsys.readouterr().err == ""
    np.testing.assert_allclose(pd.read_csv(tmp_path / "head_out.csv").to_numpy(),
                               fitted.iloc[:40, 1:].to_numpy(), rtol=1e-6, atol=1e-9)
    # the loaded model checks the columns' names, as a scaler does
    with pytest.raises(ValueError, match="feature names"):
        loaded.transform(counts[RNA + ATAC][::-1].iloc[:, ::-1])
    # negative values, where the log is not defined, are refused at fit and transform
    counts.assign(atac_1=counts["atac_1"] - 0.5).to_csv(tmp_path / "neg.csv", index=False)
    assert main([*argv[:1], str(tmp_path / "neg.csv"), *argv[2:]]) == 1
    assert ("--log1p is for counts or other values of at least 0, and "
            f"{tmp_path / 'neg.csv'} holds negative values") in capsys.readouterr().err
    assert main(["transform", str(tmp_path / "m.zip"), str(tmp_path / "neg.csv"),
                 "-o", str(tmp_path / "x.csv")]) == 1
    assert ("the model's log1p is for counts or other values of at least 0, and "
            f"{tmp_path / 'neg.csv'} holds negative values (as low as") in capsys.readouterr().err
    # but not in columns of no modality
    counts.assign(label=-counts["label"] - 1).to_csv(tmp_path / "label.csv", index=False)
    assert main([*argv[:1], str(tmp_path / "label.csv"), *argv[2:]]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("strategy", ["mean", "median"])
def test_impute_fills_gaps_before_the_other_steps_and_the_model_keeps_it(
        tables, tmp_path, capsys, strategy):
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folder, frame = tables
    gaps = frame.copy()
    rows = np.random.default_rng(0).random((len(frame), 6)) < 0.1
    for j, column in enumerate(RNA + ATAC):
        gaps.loc[rows[:, j], column] = np.nan
    gaps.to_csv(tmp_path / "gaps.csv", index=False)
    argv = ["fit", str(tmp_path / "gaps.csv"), "--prefix", "rna=rna_", "--prefix",
            "atac=atac_", "--id", "cell", "--method", "cca", "--n-components", "2",
            "--standardize", "-o", str(tmp_path / "fit.csv"), "--model", str(tmp_path / "m.zip")]
    # without --impute, the gaps are refused with the option that fills them
    assert main(argv) == 1
    assert "have missing values; give --impute (mean or median)" in capsys.readouterr().err
    assert main([*argv, "--impute", strategy]) == 0
    assert (f"(rna: 3 columns, atac: 3 columns, gaps filled with the {strategy}, standardized)"
            in capsys.readouterr().out)
    # the Python equivalent
    model = LinearCCA(modalities={"rna": RNA, "atac": ATAC}, n_components=2)
    expected = make_pipeline(SimpleImputer(strategy=strategy), StandardScaler(), model
                             ).set_output(transform="pandas").fit_transform(gaps[RNA + ATAC])
    fitted = pd.read_csv(tmp_path / "fit.csv")
    np.testing.assert_allclose(fitted.iloc[:, 1:].to_numpy(), expected.to_numpy(),
                               rtol=1e-6, atol=1e-9)
    loaded = load(tmp_path / "m.zip")
    assert [type(step).__name__ for _, step in loaded.steps] == [
        "SimpleImputer", "StandardScaler", "LinearCCA"]
    np.testing.assert_allclose(loaded[0].statistics_,
                               getattr(gaps[RNA + ATAC], strategy)().to_numpy())
    # transform fills a table's gaps with the fit's values
    gaps.iloc[:40].to_csv(tmp_path / "head.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["transform", str(tmp_path / "m.zip"), str(tmp_path / "head.csv"),
                     "--id", "cell", "-o", str(tmp_path / "head_out.csv")]) == 0
    assert capsys.readouterr().err == ""
    np.testing.assert_allclose(pd.read_csv(tmp_path / "head_out.csv").iloc[:, 1:].to_numpy(),
                               fitted.iloc[:40, 1:].to_numpy(), rtol=1e-6, atol=1e-9)
    # a model fitted without it says so
    frame.to_csv(tmp_path / "whole.csv", index=False)
    assert main(["fit", str(tmp_path / "whole.csv"), *argv[2:-4],
                 "--model", str(tmp_path / "plain.zip")]) == 0
    assert main(["transform", str(tmp_path / "plain.zip"), str(tmp_path / "head.csv"),
                 "-o", str(tmp_path / "x.csv")]) == 1
    assert ("have missing values; the model was fitted without --impute, so it fills none; "
            "impute or drop those rows first") in capsys.readouterr().err


def test_log1p_of_one_byte_counts_is_taken_in_float64(tables, tmp_path, capsys):
    """Parquet may hold counts as uint8, whose numpy log is float16."""
    pytest.importorskip("pyarrow")
    folder, frame = tables
    counts = frame.assign(**{c: np.round(np.exp(1.5 * frame[c])).clip(0, 255)
                             for c in RNA + ATAC})
    embeddings = {}
    for dtype in ("int64", "uint8"):
        counts.astype({c: dtype for c in RNA + ATAC}).to_parquet(tmp_path / f"{dtype}.parquet")
        assert main(["fit", str(tmp_path / f"{dtype}.parquet"), "--prefix", "rna=rna_",
                     "--prefix", "atac=atac_", "--method", "cca", "--n-components", "2",
                     "--log1p", "--model", str(tmp_path / f"{dtype}.zip"), "-o",
                     str(tmp_path / f"{dtype}.csv")]) == 0
        embeddings[dtype] = pd.read_csv(tmp_path / f"{dtype}.csv").to_numpy()
        assert main(["transform", str(tmp_path / f"{dtype}.zip"),
                     str(tmp_path / f"{dtype}.parquet"), "-o",
                     str(tmp_path / f"{dtype}_again.csv")]) == 0
        np.testing.assert_allclose(pd.read_csv(tmp_path / f"{dtype}_again.csv").to_numpy(),
                                   embeddings["int64"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(embeddings["uint8"], embeddings["int64"], rtol=1e-5, atol=1e-7)
    capsys.readouterr()


def test_transform_refuses_negative_values_for_a_model_s_square_root(tables, tmp_path, capsys):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    folder, frame = tables
    positive = frame.assign(**{c: frame[c] - frame[c].min() for c in RNA + ATAC})
    pipeline = make_pipeline(FunctionTransformer(np.sqrt, validate=True,
                                                 feature_names_out="one-to-one"),
                             LinearCCA(modalities={"rna": RNA, "atac": ATAC}, n_components=2))
    save(pipeline.set_output(transform="pandas").fit(positive[RNA + ATAC]), tmp_path / "m.zip")
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert main(["transform", str(tmp_path / "m.zip"), str(tmp_path / "t.csv"), "-o",
                 str(tmp_path / "x.csv")]) == 1
    assert "the model's sqrt is for counts or other values of at least 0" in (
        capsys.readouterr().err)


def test_the_chance_warning_names_standardize(capsys):
    from sklearn.exceptions import ConvergenceWarning

    from sklearn_dssl._cli import _one_line_warnings

    with warnings.catch_warnings(), _one_line_warnings():
        warnings.simplefilter("always")
        warnings.warn("at chance; standardise the columns if their scales differ widely.",
                      ConvergenceWarning)
        warnings.warn("another convergence warning.", ConvergenceWarning)
    assert capsys.readouterr().err == (
        "sklearn-dssl: warning: at chance; standardise the columns if their scales differ "
        "widely. On the command line, --standardize standardises the columns.\n"
        "sklearn-dssl: warning: another convergence warning.\n")
    # not where the command was given it
    with warnings.catch_warnings(), _one_line_warnings(can_standardize=False):
        warnings.simplefilter("always")
        warnings.warn("at chance; standardise the columns.", ConvergenceWarning)
    assert capsys.readouterr().err == (
        "sklearn-dssl: warning: at chance; standardise the columns.\n")


def test_standardize_is_offered_only_to_a_fit_without_it(tables, tmp_path, capsys,
                                                          monkeypatch):
    from sklearn.exceptions import ConvergenceWarning

    import sklearn_dssl._demo

    # a column that standardising leaves apart: constant to float32, not to float64
    folder, frame = tables
    wide = frame.assign(rna_0=1e8 + 1e-6 * frame["rna_0"])
    wide.to_csv(tmp_path / "wide.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["fit", str(tmp_path / "wide.csv"), "--prefix", "rna=rna_", "--prefix",
                     "atac=atac_", *TINY, "--quiet", "--standardize", "--model",
                     str(tmp_path / "m.zip")]) == 0
    err = capsys.readouterr().err
    assert "differ in scale" in err and "--standardize" not in err

    def chance(**kwargs):
        warnings.warn("at chance; standardise the columns.", ConvergenceWarning)
        return "table"

    monkeypatch.setattr(sklearn_dssl._demo, "run_demo", chance)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["demo"]) == 0
    assert capsys.readouterr().err == "sklearn-dssl: warning: at chance; standardise the columns.\n"


def test_transform_hands_a_polars_scaler_s_output_over_as_pandas(tables, tmp_path, capsys):
    """A Pipeline saved with set_output(transform="polars") embeds whether or
    not polars is installed here."""
    import json
    import zipfile

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folder, frame = tables
    pipeline = make_pipeline(StandardScaler(),
                             LinearCCA(modalities={"rna": RNA, "atac": ATAC}, n_components=2))
    pipeline.set_output(transform="pandas").fit(frame[RNA + ATAC])
    expected = np.asarray(pipeline.transform(frame[RNA + ATAC]))
    path = save(pipeline, tmp_path / "m.zip")
    with zipfile.ZipFile(path) as archive:
        metadata, weights = json.loads(archive.read("metadata.json")), archive.read("weights.pt")
    assert metadata["pipeline"]["steps"][0][1]["output"] == "pandas"
    metadata["pipeline"]["steps"][0][1]["output"] = "polars"  # as saved from polars
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("weights.pt", weights)
    assert load(path)[0].get_params() == StandardScaler().get_params()
    assert main(["transform", str(path), str(folder / "cells.csv"), "--id", "cell", "-o",
                 str(tmp_path / "out.csv")]) == 0, capsys.readouterr().err
    np.testing.assert_allclose(pd.read_csv(tmp_path / "out.csv").iloc[:, 1:].to_numpy(),
                               expected, rtol=1e-6, atol=1e-9)


def test_an_overfitting_warning_names_the_options_that_stop_early(capsys):
    from sklearn_dssl._cli import _one_line_warnings
    from sklearn_dssl._training import OverfittingWarning

    with warnings.catch_warnings(), _one_line_warnings():
        warnings.simplefilter("always")
        warnings.warn("the held-out loss rose.", OverfittingWarning)
    assert capsys.readouterr().err == (
        "sklearn-dssl: warning: the held-out loss rose. On the command line: "
        "--validation-fraction with --early-stopping PATIENCE.\n")


def test_only_the_estimator_s_errors_are_written_as_options(tables, tmp_path, capsys):
    from sklearn_dssl._cli import _in_option_terms

    assert _in_option_terms("n_components=9 and xlr=1 but lr=0.1; lr= alone") == (
        "--n-components 9 and xlr=1 but --lr 0.1; lr= alone")
    assert _in_option_terms("Change validation_fraction, or n_components_ or the lr") == (
        "Change --validation-fraction, or n_components_ or the lr")
    # --hidden's widths as the option takes them
    assert _in_option_terms("hidden_layer_sizes=(8,), hidden_layer_sizes=(256, 256) and "
                            "hidden_layer_sizes=()") == "--hidden 8, --hidden 256,256 and --hidden none"
    # a path and a modality name the user typed keep their name=value text
    folder, _ = tables
    missing = tmp_path / "runs" / "lr=0.01" / "cells.csv"
    assert main(["fit", str(missing), "--prefix", "rna=rna_", "--prefix", "atac=atac_",
                 "--model", str(tmp_path / "m.zip")]) == 1
    assert "runs/lr=0.01/cells.csv" in capsys.readouterr().err
    assert main(["fit", str(folder / "cells.csv"), "--modality", "beta=rna_0,zz", "--prefix",
                 "atac=atac_", "--model", str(tmp_path / "m.zip")]) == 1
    err = capsys.readouterr().err
    assert "--beta" not in err and "write beta=zz* or --prefix beta=zz" in err


def test_real_column_names_are_selected_by_their_exact_name():
    from sklearn_dssl._cli import CommandError, resolve_modality_columns

    columns = ["Alcohol [% vol]", "Pixel (r0, c0)", "Pixel (r0, c1)", " Proline ", "x1", "x2"]
    groups, unused = resolve_modality_columns(columns, [
        ("--modality", r"a=Alcohol [% vol],Pixel (r0\, c0), Pixel (r0\, c1)"),
        ("--modality", "b=x*, Proline "),
    ])
    assert groups == {"a": ["Alcohol [% vol]", "Pixel (r0, c0)", "Pixel (r0, c1)"],
                      "b": ["x1", "x2", " Proline "]} and unused == []
    # a pattern still selects by pattern
    groups, _ = resolve_modality_columns(columns, [("--modality", "a=Pixel (r0?*"),
                                                   ("--prefix", "b=x")])
    assert groups["a"] == ["Pixel (r0, c0)", "Pixel (r0, c1)"]
    for spec, message in [
        ("a=Pixel (r0, c0)", r"no column 'Pixel (r0'; a comma separates the columns of a list: "
                             r"write a comma within a column name as \,"),
        ("a=Proline", "no column 'Proline', but ' Proline ' has spaces at the ends of its "
                      "name: write them too, inside the quotes (--modality 'a= Proline ')."),
    ]:
        with pytest.raises(CommandError) as caught:
            resolve_modality_columns(columns, [("--modality", spec), ("--prefix", "b=x")])
        assert message in str(caught.value)


def test_decimal_columns_are_read_as_numbers(tables, tmp_path, capsys):
    import decimal

    pa = pytest.importorskip("pyarrow")
    folder, frame = tables
    exact = frame.assign(rna_0=[decimal.Decimal(f"{v:.2f}") for v in frame["rna_0"]])
    table = pa.Table.from_pandas(exact, preserve_index=False)
    table = table.set_column(table.schema.get_field_index("rna_0"), "rna_0",
                             table["rna_0"].cast(pa.decimal128(12, 2)))
    pa.parquet.write_table(table, tmp_path / "decimal.parquet")
    argv = ["fit", str(tmp_path / "decimal.parquet"), "--prefix", "rna=rna_", "--prefix",
            "atac=atac_", "--method", "cca", "--quiet", "-o", str(tmp_path / "z.csv")]
    assert main(argv) == 0, capsys.readouterr().err
    rounded = frame[RNA + ATAC].assign(rna_0=frame["rna_0"].round(2))
    expected = LinearCCA({"rna": RNA, "atac": ATAC}).fit(rounded).transform(rounded)
    np.testing.assert_allclose(pd.read_csv(tmp_path / "z.csv").to_numpy(), expected,
                               rtol=1e-6, atol=1e-9)
    # and as pandas' Arrow type
    from sklearn_dssl._cli import _numeric_block

    arrow = pd.read_parquet(tmp_path / "decimal.parquet", dtype_backend="pyarrow")
    assert str(arrow["rna_0"].dtype).startswith("decimal")
    assert _numeric_block(arrow, RNA, "t")["rna_0"].dtype == "float64"


def test_transform_refuses_an_id_that_the_model_reads(tables, cca_model, capsys):
    folder, _ = tables
    argv = ["transform", str(cca_model / "model.zip"), str(folder / "cells.csv"), "--id",
            "rna_1", "-o", str(cca_model / "t.csv")]
    assert main(argv) == 1
    assert ("error: --id rna_1 names a column the model reads; give the table's identifier "
            "column, or leave --id out.") in capsys.readouterr().err


def test_a_two_modality_method_refuses_three_before_reading_the_table(tmp_path, capsys):
    argv = ["fit", str(tmp_path / "absent.csv"), "--prefix", "a=a_", "--prefix", "b=b_",
            "--prefix", "c=c_", "--method", "focal", "--model", str(tmp_path / "m.zip")]
    assert main(argv) == 1
    assert ("error: --method focal (FOCAL) takes 2 modalities, and the options give 3: a, b, "
            "c; use --method dssl, contrastive or cca for more.") in capsys.readouterr().err


@pytest.mark.parametrize("compression", [".gz", ".bz2", ".xz"])
def test_compressed_csv_and_tsv_tables_are_read_and_written(tables, tmp_path, capsys,
                                                              compression):
    folder, frame = tables
    source = tmp_path / f"cells.csv{compression}"
    frame.to_csv(source, index=False)  # pandas compresses by the extension
    output = tmp_path / f"z.tsv{compression}"
    argv = ["fit", str(source), "--prefix", "rna=rna_", "--prefix", "atac=atac_", "--id",
            "cell", "--method", "cca", "--quiet", "-o", str(output)]
    assert main(argv) == 0, capsys.readouterr().err
    Z = pd.read_csv(output, sep="\t")  # compressed, as its name says
    expected = LinearCCA({"rna": RNA, "atac": ATAC}).fit(frame[RNA + ATAC])
    assert Z["cell"].tolist() == frame["cell"].tolist()
    np.testing.assert_allclose(Z.drop(columns="cell").to_numpy(),
                               expected.transform(frame[RNA + ATAC]), rtol=1e-6, atol=1e-9)
    # the header check reads the compressed file too
    frame.rename(columns={"atac_0": "rna_0"}).to_csv(source, index=False)
    assert main(argv) == 1
    assert "gives more than one column the name(s) 'rna_0'" in capsys.readouterr().err


def test_a_compressed_parquet_name_is_refused(tables, tmp_path, capsys):
    folder, _ = tables
    argv = ["fit", str(folder / "cells.csv"), "--prefix", "rna=rna_", "--prefix", "atac=atac_",
            "-o", str(tmp_path / "z.parquet.gz")]
    assert main(argv) == 1
    assert ("z.parquet.gz: a Parquet file compresses its columns itself; give it without .gz."
            in capsys.readouterr().err)


def test_modality_entries_escape_commas_and_backslashes():
    from sklearn_dssl._cli import _modality_items

    assert _modality_items(r"a,Pixel (r0\, c1),C:\dir\\,b,x\y,") == [
        "a", "Pixel (r0, c1)", "C:\\dir\\", "b", "x\\y", ""]
    assert _modality_items("a,ends\\") == ["a", "ends\\"]  # a last backslash is kept


@pytest.mark.parametrize("spec, expected", [
    ("a=x_[ab]", ["x_a", "x_b"]),  # a character class is still a pattern
    ("a=x_a, b", ["x_a", " b"]),  # a name's own spaces first (both " b" and "b" exist)
    ("a=x_a,b", ["x_a", "b"]),
])
def test_patterns_and_spaced_names_in_a_modality_list(spec, expected):
    from sklearn_dssl._cli import resolve_modality_columns

    columns = ["x_a", "x_b", "x_c", " b", "b", "y"]
    groups, _ = resolve_modality_columns(columns, [("--modality", spec), ("--prefix", "c=y")])
    assert groups["a"] == expected


def test_the_comma_hint_is_given_only_for_a_name_cut_at_its_comma():
    from sklearn_dssl._cli import CommandError, resolve_modality_columns

    columns = ["Pixel (r0, c0)", "Pixel [r0, c1]", "PC1", "x1"]
    for spec, message in [
        ("a=P", "no column 'P'; columns are: 'Pixel (r0, c0)', 'Pixel [r0, c1]', PC1, x1. To "
                "select by prefix, write a=P* or --prefix a=P."),
        ("a=Pixel [r0, c1]", r"no column 'Pixel [r0'; a comma separates the columns of a "
                             r"list: write a comma within a column name as \, (--modality "
                             r"'a=Pixel [r0\, c1]')."),
    ]:
        with pytest.raises(CommandError) as caught:
            resolve_modality_columns(columns, [("--modality", spec), ("--prefix", "b=x")])
        assert message in str(caught.value)


@pytest.mark.parametrize("name, expected", [
    ("cells.CSV.GZ", "csv"), ("data.v2.tsv.bz2", "tsv"), ("t.parquet", "parquet"),
    ("x.gz", None), ("archive.tar.gz", None), ("noext", None),
])
def test_table_formats_by_extension(name, expected):
    from sklearn_dssl._cli import CommandError, _table_format

    if expected is None:
        with pytest.raises(CommandError, match="cannot tell the format of"):
            _table_format(name)
    else:
        assert _table_format(name) == expected


def test_a_gzip_table_stores_its_own_name_and_no_time(tmp_path):
    import gzip

    from sklearn_dssl._cli import write_table

    frame = pd.DataFrame({"id": ["a", "b"], "x": [0.5, 1.25]})
    write_table(frame, tmp_path / "z.tsv.gz")
    first = (tmp_path / "z.tsv.gz").read_bytes()
    write_table(frame, tmp_path / "z.tsv.gz")
    assert (tmp_path / "z.tsv.gz").read_bytes() == first  # no time in the header
    assert first[3] & 0x08 and first[10:16] == b"z.tsv\x00"  # the name gzip -N restores
    with gzip.open(tmp_path / "z.tsv.gz", "rt") as text:
        assert text.read().splitlines()[0].replace('"', "") == "id\tx"


@pytest.mark.parametrize("model", ["m.parquet.gz", "m.csv.gz", "m.CSV"])
def test_a_model_path_named_like_a_table_is_refused(model, tmp_path, capsys):
    argv = ["fit", str(tmp_path / "absent.csv"), "--prefix", "a=a_", "--prefix", "b=b_",
            "--model", str(tmp_path / model)]
    assert main(argv) == 1
    assert (f"named like a table; give e.g. {tmp_path / 'm.zip'}"
            in capsys.readouterr().err)


def test_a_column_of_booleans_with_an_empty_cell_is_said_to_miss_a_value(tmp_path):
    from sklearn_dssl._cli import CommandError, _numeric_block, read_table

    (tmp_path / "t.csv").write_text("a,b,c\nTrue,1,x\n,2,y\nFalse,3,z\n")
    frame = read_table(tmp_path / "t.csv")  # pandas reads column a as text
    with pytest.raises(CommandError, match=r"column\(s\) a have missing values"):
        _numeric_block(frame, ["a", "b"], "t")
    with pytest.raises(CommandError, match=r"column\(s\) c are not numeric"):
        _numeric_block(frame, ["a", "b", "c"], "t")


def test_decimal_and_other_number_objects_are_read_as_numbers():
    import decimal

    from sklearn_dssl._cli import CommandError, _numeric_block

    frame = pd.DataFrame({"self": [decimal.Decimal("1.5"), 2.0, None],
                          "none": [None, None, None], "x": [1.0, 2.0, 3.0]}, dtype=object)
    frame["x"] = frame["x"].astype(float)
    with pytest.raises(CommandError, match=r"column\(s\) self have missing values"):
        _numeric_block(frame, ["self", "x"], "t")
    with pytest.raises(CommandError, match=r"column\(s\) none have missing values"):
        _numeric_block(frame, ["none", "x"], "t")
    block = _numeric_block(frame.iloc[:2], ["self", "x"], "t")
    assert block["self"].tolist() == [1.5, 2.0] and block["self"].dtype == "float64"
    with pytest.raises(CommandError, match="not numeric"):  # text stays refused
        _numeric_block(frame.astype({"self": str}), ["self", "x"], "t")


def test_option_terms_leave_plain_words_and_quoted_names_alone():
    from sklearn_dssl._cli import _in_option_terms

    text = ("modality 'random_state' of the head, output and similarity; leave it at None; "
            "validation_fraction")
    assert _in_option_terms(text) == (
        "modality 'random_state' of the head, output and similarity; leave it out; "
        "--validation-fraction")


@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".tsv.gz", "\t")])
def test_ids_spelled_like_missing_values_are_read_as_ids(tables, tmp_path, capsys, suffix, sep):
    folder, frame = tables
    ids = ["NA", "None", "null", "nan", "N/A", ""] + frame["cell"].tolist()[6:]
    table = tmp_path / f"ids{suffix}"
    frame.assign(cell=ids).to_csv(table, index=False, sep=sep)
    common = ["--prefix", "rna=rna_", "--prefix", "atac=atac_", "--id", "cell", "--method",
              "cca", "--n-components", "1"]
    assert main(["fit", str(table), *common, "-o", str(tmp_path / "z.csv")]) == 0
    # Namibia is an id; only the empty cell is a missing one
    assert "has 1 row(s) without an id" in capsys.readouterr().err
    written = pd.read_csv(tmp_path / "z.csv", dtype=str, keep_default_na=False)
    assert written["cell"].tolist() == ids
    # the other columns keep pandas' missing values
    frame.assign(cell=ids, rna_1=["NA"] + frame["rna_1"].tolist()[1:]).to_csv(
        table, index=False, sep=sep)
    assert main(["fit", str(table), *common, "-o", str(tmp_path / "z.csv")]) == 1
    assert "column(s) rna_1 have missing values" in capsys.readouterr().err


def test_parquet_integer_ids_with_a_missing_one_stay_integers(tables, tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    folder, frame = tables
    ids = [None, 2**53 + 1] + list(range(1002, 1000 + len(frame)))  # 2**53 + 1: no float
    exact = pa.array(ids, type=pa.int64())
    # the file's index, with pandas' metadata, as another writer may hold it
    indexed = pa.Table.from_pandas(frame.drop(columns="cell").rename_axis("cell"),
                                   preserve_index=True)
    for name, table in (
        ("column", pa.Table.from_pandas(frame.drop(columns="cell"), preserve_index=False)
         .append_column("cell", exact)),
        ("index", indexed.set_column(indexed.schema.get_field_index("cell"), "cell", exact)),
    ):
        pq.write_table(table, tmp_path / f"{name}.parquet")
        argv = ["fit", str(tmp_path / f"{name}.parquet"), "--prefix", "rna=rna_", "--prefix",
                "atac=atac_", "--id", "cell", "--method", "cca", "--n-components", "1"]
        assert main([*argv, "-o", str(tmp_path / "z.parquet")]) == 0, capsys.readouterr().err
        assert pq.read_schema(tmp_path / "z.parquet").field("cell").type == pa.int64()
        assert pq.read_table(tmp_path / "z.parquet")["cell"].to_pylist() == ids
        assert main([*argv, "-o", str(tmp_path / "z.csv")]) == 0, capsys.readouterr().err
        lines = (tmp_path / "z.csv").read_text().splitlines()
        assert [line.split(",")[0].strip('"') for line in lines[1:4]] == [
            "", str(2**53 + 1), "1002"]


def test_names_cut_at_their_commas_get_the_comma_hint_before_the_repeat_check():
    from sklearn_dssl._cli import CommandError, check_modality_options, resolve_modality_columns

    spec = ("--modality", "a=Pixel (r0, c0),Pixel (r0, c1)")
    check_modality_options([spec])  # 'Pixel (r0' twice: the table tells whether it is cut
    columns = ["Pixel (r0, c0)", "Pixel (r0, c1)", "x1"]
    with pytest.raises(CommandError) as caught:
        resolve_modality_columns(columns, [spec, ("--prefix", "b=x")])
    assert str(caught.value) == (
        r"--modality a: no column 'Pixel (r0'; a comma separates the columns of a list: "
        r"write a comma within a column name as \, (--modality "
        r"'a=Pixel (r0\, c0),Pixel (r0\, c1)').")
    # an entry given twice that cuts no name is refused, once the table is read
    with pytest.raises(CommandError, match="--modality a: 'p' listed more than once"):
        resolve_modality_columns(["p", "q", "r", "x1"],
                                 [("--modality", "a=p,q,p,r"), ("--prefix", "b=x")])
    # and before, where it could not be the start of a name cut at its comma
    with pytest.raises(CommandError, match="--modality a: 'p' listed more than once"):
        check_modality_options([("--modality", "a=p,q,p")])


def test_messages_show_the_spaces_and_tabs_of_column_names(tmp_path, capsys):
    from sklearn_dssl._cli import resolve_modality_columns

    (tmp_path / "spaced.csv").write_text(
        "cell, rna_0, rna_1, atac_0, atac_1\nc1, 1, 2, 3, 4\nc2, 2, 3, 4, 5\nc3, 3, 1, 2, 5\n")
    fit = ["fit", str(tmp_path / "spaced.csv"), "--model", str(tmp_path / "m.zip")]
    for options, expected in [
        (["--prefix", "rna=rna_", "--prefix", "atac=atac_"],
         "error: --prefix rna=rna_: no column starts with 'rna_', but ' rna_0' has spaces at "
         "the ends of its name: write them too, inside the quotes (--prefix 'rna= rna_').\n"),
        (["--modality", "rna=rna_*", "--prefix", "atac=atac_"],
         "error: --modality rna: pattern 'rna_*' matches no column, but would match ' rna_0', "
         "which has spaces at the ends of its name: write them too, inside the quotes "
         "(--modality 'rna= rna_*').\n"),
        (["--prefix", "rna= rna_", "--prefix", "atac= atac_", "--id", "atac_1"],
         "error: --id atac_1: {t} has no column 'atac_1', but ' atac_1' has spaces at the "
         "ends of its name: write them too, inside the quotes (--id ' atac_1').\n"),
    ]:
        assert main([*fit, *options]) == 1
        assert capsys.readouterr().err.endswith(expected.format(t=tmp_path / "spaced.csv"))
    # each advice, followed, selects the columns
    for options in (["--prefix", "rna= rna_", "--prefix", "atac= atac_"],
                    ["--modality", "rna= rna_*", "--prefix", "atac= atac_"]):
        resolved = resolve_modality_columns(
            ["cell", " rna_0", " rna_1", " atac_0", " atac_1"],
            list(zip(options[::2], options[1::2])), "cell")
        assert resolved[0]["rna"] == [" rna_0", " rna_1"]
    # a pattern matches without its spaces first: the space after a comma is layout
    resolved = resolve_modality_columns(["a", "b1", "b2", " bx", "c"],
                                        [("--modality", "x=a, b*"), ("--prefix", "y=c")])
    assert resolved[0]["x"] == ["a", "b1", "b2"]
    (tmp_path / "inner.csv").write_text("id,a  x,b\tc,d\n1,2,3,4\n")
    assert main(["fit", str(tmp_path / "inner.csv"), "--modality", "a=a x", "--prefix", "d=d",
                 "--model", str(tmp_path / "m.zip")]) == 1
    assert r"columns are: id, 'a  x', 'b\tc', d. To select" in capsys.readouterr().err


def test_a_message_is_one_line_with_the_spaces_inside_it_kept():
    from sklearn_dssl._cli import _one_line

    assert _one_line("no column 'a  x'\n   columns are:\t'b'\n") == (
        "no column 'a  x' columns are:\t'b'")


def test_a_table_read_as_one_column_names_its_separator(tables, tmp_path, capsys, cca_model):
    folder, frame = tables
    frame.to_csv(tmp_path / "tabs.csv.gz", index=False, sep="\t")
    frame.to_csv(tmp_path / "commas.tsv", index=False)
    frame.to_csv(tmp_path / "pipes.csv", index=False, sep="|")
    for table, options, expected in [
        ("tabs.csv.gz", ["--prefix", "rna=rna_", "--prefix", "atac=atac_"],
         "it seems to be separated by tabs, where a .csv file is separated by commas; give it "
         "a .tsv.gz extension, which the command reads as separated by tabs."),
        ("commas.tsv", ["--modality", "rna=rna_0,rna_1", "--prefix", "atac=atac_"],
         "it seems to be separated by commas, where a .tsv file is separated by tabs; give it "
         "a .csv extension"),
        ("pipes.csv", ["--modality", "rna=rna_*", "--prefix", "atac=atac_"],
         "it seems to be separated by '|', where a .csv file is separated by commas; save it "
         "separated by commas"),
        ("pipes.csv", ["--prefix", "rna=rna_", "--prefix", "atac=atac_", "--id", "cell"],
         "separated by '|'"),
    ]:
        assert main(["fit", str(tmp_path / table), *options, "--model",
                     str(tmp_path / "m.zip")]) == 1
        err = capsys.readouterr().err
        assert f"{tmp_path / table} was read as one column, 'cell" in err and expected in err
    assert main(["transform", str(cca_model / "model.zip"), str(tmp_path / "commas.tsv"), "-o",
                 str(tmp_path / "z.csv")]) == 1
    assert "seems to be separated by commas" in capsys.readouterr().err


def test_transform_refuses_a_device_and_an_id_in_the_command_s_terms(cca_model, tmp_path,
                                                                     capsys):
    model, absent = str(cca_model / "model.zip"), str(tmp_path / "absent.csv")
    assert main(["transform", model, absent, "-o", str(tmp_path / "z.csv"), "--device",
                 "gpu"]) == 1
    assert "error: --device 'gpu' is not a torch device; use 'auto', 'cpu'" in (
        capsys.readouterr().err)
    # before the table is read (here absent) and embedded
    assert main(["transform", model, absent, "-o", str(tmp_path / "z.csv"), "--id",
                 "shared_rna_0"]) == 1
    assert ("error: --id shared_rna_0 is also the name of an embedding column; rename the id "
            "column.") in capsys.readouterr().err
    # the widths are known: a name past them clashes with nothing (2 components)
    assert main(["transform", model, absent, "-o", str(tmp_path / "z.csv"), "--id",
                 "shared_rna_7"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_a_header_of_numbers_is_refused_with_the_ways_out(tmp_path, capsys):
    pd.DataFrame(np.ones((5, 4)), columns=["1", "2", "3.5", "4"]).to_csv(
        tmp_path / "numbers.csv", index=False)
    assert main(["fit", str(tmp_path / "numbers.csv"), "--modality", "a=1,2", "--modality",
                 "b=3.5,4", "--model", str(tmp_path / "m.zip")]) == 1
    assert ("add a first column whose name is not (an id column, say), or write the table to "
            "Parquet, whose column names are kept as given.") in capsys.readouterr().err


def test_a_header_of_numbers_after_an_index_column_is_a_header(tmp_path, capsys):
    # pandas' to_csv() with its index (and R's write.csv) leave the index
    # column's name empty: the very first column the refusal above asks for
    X = np.random.default_rng(0).normal(size=(60, 4))
    pd.DataFrame(X, columns=[1, 2, 3, 4]).to_csv(tmp_path / "indexed.csv")
    assert main(["fit", str(tmp_path / "indexed.csv"), "--modality", "a=1,2", "--modality",
                 "b=3,4", "--method", "cca", "-q", "-o", str(tmp_path / "z.csv")]) == 0, (
        capsys.readouterr().err)
    assert len(pd.read_csv(tmp_path / "z.csv")) == 60


def test_row_names_without_a_header_cell_line_up(tmp_path, capsys):
    # R's write.table(df, sep="\t"): the header names the columns, not the
    # row names, and every row has one more field; the columns line up
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(60, 4)),
                         columns=["rna_0", "rna_1", "atac_0", "atac_1"])
    lines = ["\t".join(f'"{c}"' for c in frame.columns)] + [
        f'"cell{i}"\t' + "\t".join(repr(float(v)) for v in row)
        for i, row in enumerate(frame.to_numpy())]
    (tmp_path / "rows.tsv").write_text("\n".join(lines) + "\n")
    frame.to_csv(tmp_path / "plain.tsv", sep="\t", index=False)
    for name in ("rows", "plain"):
        assert main(["fit", str(tmp_path / f"{name}.tsv"), "--prefix", "rna=rna_", "--prefix",
                     "atac=atac_", "--method", "cca", "-q", "-o",
                     str(tmp_path / f"{name}_z.csv")]) == 0, capsys.readouterr().err
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "rows_z.csv"),
                                  pd.read_csv(tmp_path / "plain_z.csv"))


@pytest.mark.parametrize("suffix, data", [(".csv.gz", b"\x1f\x8b\x08\x00garbage"),
                                          (".csv.xz", b"\xfd7zXZ\x00garbage")])
def test_a_damaged_compressed_table_is_one_line(tmp_path, capsys, suffix, data):
    (tmp_path / f"t{suffix}").write_bytes(data)
    assert main(["fit", str(tmp_path / f"t{suffix}"), "--prefix", "a=x", "--prefix", "b=y",
                 "--model", str(tmp_path / "m.zip")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sklearn-dssl fit: error: cannot read "), err


def test_only_the_estimator_s_warnings_are_written_as_options(capsys):
    from sklearn_dssl._cli import _estimator_errors_in_option_terms, _one_line_warnings

    with _one_line_warnings():
        warnings.warn("runs/lr=0.01/cells.csv has 3 repeated id(s)")  # the command's own
        with _estimator_errors_in_option_terms():
            warnings.warn("set ridge > 0 (the default is 1e-6)")
    err = capsys.readouterr().err
    assert "runs/lr=0.01/cells.csv has 3 repeated" in err
    assert "set --ridge > 0" in err

