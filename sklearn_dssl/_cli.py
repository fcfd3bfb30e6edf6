"""The ``sklearn-dssl`` command (also ``python -m sklearn_dssl``).

``sklearn-dssl fit`` learns embeddings of a CSV or Parquet table whose
column groups are the modalities and writes the embeddings table and the
fitted model; ``sklearn-dssl transform`` embeds a new table with a saved
model; ``sklearn-dssl demo`` runs the demonstration. ``--help`` documents
every subcommand.
"""

import argparse
import contextlib
import csv
import fnmatch
import gzip
import importlib
import io
import itertools
import os
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import NotFittedError

from ._validation import is_allocation_failure, repeated_names

PROG = "sklearn-dssl"

METHODS = {
    "disentangledssl": "DisentangledSSL",
    "dssl": "DisentangledSSL",
    "multimodalcontrastive": "MultimodalContrastive",
    "contrastive": "MultimodalContrastive",
    "linearcca": "LinearCCA",
    "cca": "LinearCCA",
    "jointoptssl": "JointOptSSL",
    "jointopt": "JointOptSSL",
    "focal": "FOCAL",
    "dmvae": "DMVAE",
}

# what the command reads between a CSV or TSV file's columns, and its name
_SEPARATORS = {"csv": (",", "commas"), "tsv": ("\t", "tabs")}
TABLE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
# compressions of a CSV or TSV file, by the extension after the format's
# (cells.csv.gz), with the standard library's module that opens them
COMPRESSIONS = {".gz": ("gzip", "gzip"), ".bz2": ("bz2", "bz2"), ".xz": ("xz", "lzma")}
_TABLE_HELP = "input table: .csv, .tsv, .parquet or .pq (.csv and .tsv also as .gz, .bz2, .xz)"
_OUTPUT_HELP = ("embeddings table to write (.csv, .tsv, .parquet; .csv and .tsv also as .gz, "
                ".bz2, .xz)")
# Fewest rows of demo: a fifth are held out, and each probe trains on both
# classes of its label.
MIN_DEMO_SAMPLES = 100


class CommandError(Exception):
    """A problem with the command's input, reported as one line."""


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------
def _pandas():
    try:
        import pandas
    except ImportError:
        raise CommandError(
            "reading and writing tables needs pandas: pip install pandas "
            "(and pyarrow for Parquet), or pip install 'sklearn-dssl[cli]'."
        ) from None
    return pandas


def _index_as_columns(frame, path):
    """A Parquet table's index as columns, unless it is the default (no name,
    the range 0, 1, ..., n - 1) or a copy of the columns of its names (as
    ``df.set_index("cell", drop=False)`` writes)."""
    pd = _pandas()
    named = [name for name in frame.index.names if name is not None and name in frame.columns]
    # Index.equals: missing values equal missing values
    copies = [name for name in named
              if frame.index.get_level_values(name).equals(pd.Index(frame[name]))]
    clashes = [name for name in named if name not in copies]
    if clashes:
        raise CommandError(
            f"{path}'s index is named {clashes[0]!r}, as one of its columns is, with other "
            "values; rename one of them (or write the table with df.to_parquet(path, "
            "index=False))."
        )
    if copies:
        frame = frame.reset_index(level=copies, drop=True)
    if all(name is None for name in frame.index.names) and isinstance(frame.index, pd.RangeIndex) \
            and frame.index.equals(pd.RangeIndex(len(frame))):
        return frame
    return frame.reset_index()


def _table_suffixes(path):
    """The table extension that ends ``path`` and the compression's after it,
    lower-cased: ``(".csv", ".gz")`` for ``cells.CSV.GZ``, ``(".csv", None)``
    for ``cells.csv``; None for a name that is not a table's."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in TABLE_FORMATS:
        return suffixes[-1], None
    if len(suffixes) > 1 and suffixes[-1] in COMPRESSIONS and suffixes[-2] in TABLE_FORMATS:
        return suffixes[-2], suffixes[-1]
    return None


def _table_format(path):
    """``path``'s table format, by its extension: "csv", "tsv" or "parquet"."""
    found = _table_suffixes(path)
    fmt, compressed = (TABLE_FORMATS[found[0]], found[1]) if found else (None, None)
    if fmt is None:
        raise CommandError(
            f"cannot tell the format of {path}: use a file ending in "
            f"{', '.join(TABLE_FORMATS)}, or a CSV or TSV file compressed as "
            f"{', '.join(f'.csv{c}' for c in COMPRESSIONS)}."
        )
    if fmt == "parquet" and compressed:
        raise CommandError(
            f"{path}: a Parquet file compresses its columns itself; give it without "
            f"{compressed}."
        )
    return fmt


def _compression(path):
    """The ``COMPRESSIONS`` entry, (pandas' name, the module that opens it),
    of a table at ``path``; (None, None) for one not compressed."""
    found = _table_suffixes(path)
    return COMPRESSIONS[found[1]] if found and found[1] else (None, None)


def read_table(path, id_column=None):
    """The table at ``path`` (CSV, TSV or Parquet, by extension) as a DataFrame.

    The ``id_column`` of a CSV or TSV file is read as text, literally, so that
    ids such as ``00042`` stay as written and ``NA`` or ``None`` are ids (only
    an empty cell is a missing id); a Parquet file's integer ids stay integers
    when some are missing. A Parquet file's index, when it is not the default
    (it has a name, or is not the range 0, 1, ..., n - 1), becomes a column. A
    CSV or TSV file whose first line is all numbers is refused as lacking a
    header row.
    """
    pd = _pandas()
    fmt = _table_format(path)
    if not Path(path).is_file():
        raise CommandError(f"no such file: {path}.")
    try:
        if fmt == "parquet":
            _check_unique_parquet_names(path)
            frame = pd.read_parquet(path)
            _release_arrow_memory()
        else:
            frame = _read_delimited(path, _SEPARATORS[fmt][0], id_column)
    except CommandError:
        raise
    except ImportError as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        compressed = "" if _compression(path)[0] else (
            ", or, if it is compressed, give it the compression's extension too (e.g. "
            ".csv.gz)")
        raise CommandError(
            f"cannot read {path} as {fmt.upper()}: it is not UTF-8 text ({exc.reason}); "
            f"save it as UTF-8 (Excel: 'CSV UTF-8'){compressed}."
        ) from None
    except Exception as exc:  # parsers raise many types; report them in one line
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = (_separator_hint(_first_line_fields(path, _SEPARATORS[fmt][0]), path,
                                read="has a first line of")
                if fmt != "parquet" else "")
        raise CommandError(f"cannot read {path} as {fmt.upper()}: {message.rstrip('.')}."
                           f"{hint}") from None
    if fmt == "parquet":
        frame = _index_as_columns(frame, path)
        _restore_integer_ids(frame, path, id_column)
    frame.columns = [str(c) for c in frame.columns]
    if fmt != "parquet":
        _check_header(frame.columns, path)
        _check_unique_names(path, _SEPARATORS[fmt][0])
    if frame.shape[0] == 0:
        raise CommandError(f"{path} has no rows.")
    return frame


def _read_delimited(path, sep, id_column=None):
    """A CSV or TSV file as pandas reads it, but for ``id_column``, read as
    text without pandas' missing-value markers (ids ``NA``, ``None``, ``null``
    and ``nan`` are ids; an empty cell is a missing one). That column is
    read again on its own: a marker list for every other column instead
    would slow the parse of a wide table threefold."""
    pd = _pandas()
    compression = _compression(path)[0]
    with warnings.catch_warnings():
        # mixed types in a column: a modality's are refused by name, an id's
        # are read as text, and pandas' advice is for Python
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        frame = pd.read_csv(path, sep=sep, compression=compression,
                            dtype=None if id_column is None else {id_column: str})
    if _shifted(frame, pd, path, sep):
        raise ValueError(
            f"its rows of data have {frame.index.nlevels} more field(s) than its header "
            "line names, and its last column is empty (a separator at the end of the "
            "rows, say, or decimal commas), which would shift every column one place; "
            "remove the extra separators, or name every field in the header line"
        )
    if id_column is None:
        return frame
    if id_column in frame.columns:  # else the --id check names the problem
        ids = pd.read_csv(path, sep=sep, compression=compression, usecols=[id_column],
                          dtype=str, keep_default_na=False, na_values=[""])[id_column]
        if len(ids) == len(frame):
            frame[id_column] = ids.to_numpy()
    return frame


def _shifted(frame, pd, path, sep):
    """Whether pandas read a CSV or TSV file's rows, longer than its header,
    with every column shifted: it takes a row's first extra fields as the
    index and names the fields after them one place left, so that a
    separator at the end of the rows leaves the last column empty (and
    decimal commas give an index of several columns). One extra field with
    a full last column is the row names of a header without their cell (R's
    write.table), which line up. An index of consecutive integers (ids 0,
    1, 2, ... taken as the index) reads as pandas' default one, so there the
    file's first lines tell whether the rows are longer than the header."""
    if frame.index.nlevels > 1:
        return True
    if frame.shape[1] == 0 or not frame.iloc[:, -1].isna().all():
        return False
    if isinstance(frame.index, pd.RangeIndex):
        # a separator at the end leaves an empty last field (R's row names
        # 1, 2, ... of a last column of NA do not)
        lines = _first_lines_fields(path, sep, 2)
        return len(lines) == 2 and len(lines[1]) > len(lines[0]) and lines[1][-1] == ""
    return True


def _restore_integer_ids(frame, path, id_column):
    """Read again, as nullable integers, the Parquet integer ids that pandas
    read as floats because some are missing (so that 1001 is not written as
    1001.0, nor an id above 2**53 rounded); ``frame`` is changed in place."""
    if id_column not in frame.columns or frame[id_column].dtype.kind != "f":
        return
    pd = _pandas()
    try:
        exact = pd.read_parquet(path, columns=[id_column], dtype_backend="numpy_nullable")
    except Exception:  # an older pandas, another engine: the floats stay the ids
        return
    if id_column in exact.columns:
        exact = exact[id_column].array
    elif id_column in exact.index.names:  # the file's index (read back as the index)
        exact = exact.index.get_level_values(id_column).array
    else:
        return
    if len(exact) == len(frame) and pd.api.types.is_integer_dtype(exact.dtype):
        frame[id_column] = exact


def _release_arrow_memory():
    """Hand back what pyarrow's memory pool keeps of a file it has read: about
    twice the table, held until the process ends."""
    try:
        import pyarrow as pa
    except ImportError:  # pandas read with fastparquet
        return
    release = getattr(pa.default_memory_pool(), "release_unused", None)
    if release is not None:
        release()


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


# a column name pandas gives an empty header cell, or one of its missing-value
# markers (pandas.read_csv's na_values) as a header cell
_MISSING_OR_UNNAMED = re.compile(
    r"Unnamed: \d+|NA|N/A|#N/A|#N/A N/A|#NA|-1\.#IND|-1\.#QNAN|-NaN|-nan|1\.#IND|1\.#QNAN"
    r"|<NA>|NULL|NaN|None|n/a|nan|null"
)


def _check_header(names, path):
    """Refuse a CSV or TSV file whose first line is data: its first row would
    be lost as column names."""
    given = list(names)
    if given and given[0] == "Unnamed: 0":
        return  # an index column's empty name, as pandas' and R's writers leave it
    # other empty cells (pandas' "Unnamed: 3") and missing-value markers tell
    # nothing either way: a row of data may have them
    names = [n for n in given if not _MISSING_OR_UNNAMED.fullmatch(n)] or given
    if names == [str(i) for i in range(len(names))]:
        return  # the names pandas gives unnamed columns: DataFrame(X).to_csv(...)
    # pandas appends .1, .2, ... to repeated names
    if all(_is_number(n) or _is_number(re.sub(r"\.\d+$", "", n)) for n in names):
        held = "all numbers" if names == given else "numbers and empty or missing cells"
        raise CommandError(
            f"{path} seems to lack a header row: its first line ({_preview(given, 4)}) "
            f"is {held}. The command needs a first line of column names; add one "
            "(pandas' to_csv writes it unless given header=False), and if the names are "
            "numbers, add a first column whose name is not (an id column, say), or write "
            "the table to Parquet, whose column names are kept as given."
        )


def _first_line_fields(path, sep):
    """The first line of a CSV or TSV file split by ``sep`` as written (one
    field where another separator splits it); [] where it cannot be read."""
    return (_first_lines_fields(path, sep, 1) or [[]])[0]


def _first_lines_fields(path, sep, n):
    """The first ``n`` lines (records) of a CSV or TSV file, each split by
    ``sep``, past blank lines (which pandas skips too); fewer where the file
    has fewer or cannot be read."""
    module = _compression(path)[1]
    opener = open if module is None else importlib.import_module(module).open
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig", errors="replace") as file:
            records = (record for record in csv.reader(file, delimiter=sep) if record)
            return list(itertools.islice(records, n))
    except Exception:  # e.g. zlib's or lzma's error on a damaged file
        return []


def _check_unique_names(path, sep):
    """Refuse a CSV or TSV file that names two columns alike, which pandas
    would read apart as ``name`` and ``name.1`` (a prefix or pattern would
    then take both, or one would match nothing)."""
    header = _first_line_fields(path, sep)
    # pandas names empty header cells apart ("Unnamed: 7"), as a spreadsheet's
    # trailing separators leave them
    _refuse_repeated_names(path, [name for name in header if name.strip()])


def _refuse_repeated_names(path, names):
    """Refuse the table at ``path`` whose column ``names`` repeat one."""
    repeated = repeated_names(names)
    if repeated:
        raise CommandError(
            f"{path} gives more than one column the name(s) "
            f"{_preview([repr(name) for name in repeated], 4)}; give each column its own name."
        )


def _check_unique_parquet_names(path):
    """Refuse a Parquet file that names two columns alike, as a CSV file."""
    try:
        import pyarrow.parquet
    except ImportError:  # read_parquet names the engine missing
        return
    _refuse_repeated_names(path, pyarrow.parquet.read_schema(path).names)


def _parquet_engine_installed():
    """Whether pandas can write Parquet: pyarrow or fastparquet imports."""
    for module in ("pyarrow", "fastparquet"):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return True
    return False


def _check_output_table(path):
    """Refuse an ``--output`` table that cannot be written, before any training."""
    fmt = _table_format(path)
    if Path(path).is_dir():
        raise CommandError(
            f"--output {path} is an existing directory; give the path of a table "
            f"file to write, e.g. {Path(path) / 'embeddings.csv'}."
        )
    if fmt == "parquet" and not _parquet_engine_installed():
        raise CommandError(
            f"--output {path}: writing Parquet needs pyarrow (or fastparquet): pip install "
            "pyarrow, or write a .csv or .tsv file."
        )
    _check_writable_folder("--output", path)


def write_table(frame, path):
    """Write ``frame`` to ``path`` (CSV, TSV or Parquet, by extension): to a
    file beside it, then renamed, so that an interrupted write leaves no
    half-written table at the path."""
    fmt = _table_format(path)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        if fmt == "parquet":
            frame.to_parquet(partial, index=False)
        else:
            # the name gzip stores: the final one, without its compression extension
            _write_delimited(frame, partial, _SEPARATORS[fmt][0],
                             _compression(path)[0], target.stem)
        os.replace(partial, target)
    except ImportError as exc:
        raise CommandError(f"cannot write {path}: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)


def _write_delimited(frame, path, sep, compression=None, name=None):
    """Write a CSV or TSV file, with pyarrow's writer where it writes the table
    as pandas would read it back (:func:`_arrow_writes_it_back`).

    It writes a table of floats about eight times as fast as pandas' (whose
    writer formats each value in Python), the same values; it quotes text
    (names, ids), which every CSV reader strips. Without pyarrow, for other
    columns, or should it fail, pandas writes the file; compressed
    (``compression`` as pandas names it), pandas writes it, through a gzip
    stream whose header holds ``name`` (the file's final name, not that of
    the file written first) and no time, so that a run writes the same bytes.
    """
    if compression == "gzip":
        with open(path, "wb") as raw, \
                gzip.GzipFile(filename=name or Path(path).name, mode="wb", fileobj=raw,
                              mtime=0) as stream, \
                io.TextIOWrapper(stream, encoding="utf-8", newline="") as text:
            frame.to_csv(text, index=False, sep=sep)
        return
    if compression is not None:  # bz2 and xz store no name or time
        frame.to_csv(path, index=False, sep=sep, compression=compression)
        return
    try:
        import pyarrow as pa
        from pyarrow import csv

        options = csv.WriteOptions(delimiter=sep)
    except (ImportError, TypeError):  # no pyarrow, or one without a delimiter option
        pa = None
    if pa is not None and _arrow_writes_it_back(frame):
        try:
            csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path, options)
            return
        except (pa.ArrowException, TypeError, ValueError):
            Path(path).unlink(missing_ok=True)  # what it wrote before it failed
    frame.to_csv(path, index=False, sep=sep)


def _arrow_writes_it_back(frame):
    """Whether every column of ``frame`` reads back from pyarrow's CSV as
    written: integers, booleans, text, and floats with a fraction somewhere
    in the column (pyarrow writes 1.0 as 1, so a column of whole numbers
    would read back as integers). Dates, durations, bytes and mixed objects
    are written by pandas."""
    from pandas.api.types import infer_dtype

    for _, column in frame.items():
        kind = column.dtype.kind
        if kind == "f":
            values = column.to_numpy()
            finite = values[np.isfinite(values)]
            if not np.any(finite != np.round(finite)):
                return False
        elif kind not in "iub" and infer_dtype(column, skipna=False) != "string":
            return False
    return True


def _id_column(frame, column, path):
    if column is None:
        return None
    if column not in frame.columns:
        spaced = _spaced_names(frame.columns, lambda name: name == column.strip())
        besides = "" if not spaced else f", but {_write_the_spaces(spaced[0], '--id', spaced[0])}"
        raise CommandError(f"--id {column}: {path} has no column {column!r}{besides}."
                           + _separator_hint(frame.columns, path))
    ids = frame[column]
    missing, repeated = int(ids.isna().sum()), int(ids.dropna().duplicated().sum())
    if missing or repeated:
        problems = " and ".join(
            text for count, text in ((missing, f"{missing} row(s) without an id"),
                                     (repeated, f"{repeated} repeated id(s)")) if count)
        warnings.warn(
            f"--id {column}: {path} has {problems}; those embedding rows cannot be told "
            "apart by id (they keep the table's row order).",
            UserWarning,
        )
    return ids


def _preview(names, limit=8):
    # quoted: names holding ", ", to be told apart in the list, and names whose
    # spaces could not be seen (at an end, two in a row) or other whitespace
    names = [repr(n) if isinstance(n, str) and _needs_quotes(n) else n for n in names]
    shown = ", ".join(map(str, names[:limit]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _needs_quotes(name):
    """Whether a column name is shown quoted in a list of names: it holds
    ", ", spaces at an end or two in a row, or whitespace other than spaces
    (a tab)."""
    return (", " in name or name != name.strip() or "  " in name
            or any(ch.isspace() and ch != " " for ch in name))


def _spaced_names(columns, matches):
    """The ``columns`` with whitespace at an end of their name that ``matches``
    (a test of a name) once it is stripped: the names a user typed without
    those spaces."""
    return [c for c in columns if c != c.strip() and matches(c.strip())]


def _separator_hint(columns, path, read="was read as"):
    """The sentence that a column lookup in a CSV or TSV table read as one
    column, whose name holds another separator (a tab, a comma, ';' or '|'),
    ends with: what the file seems to be separated by and what to do; ""
    for any other table."""
    columns, found = list(columns), _table_suffixes(path) if path is not None else None
    fmt = TABLE_FORMATS[found[0]] if found else None
    if len(columns) != 1 or fmt not in ("csv", "tsv"):
        return ""
    read_with, read_name = _SEPARATORS[fmt]
    separator = next((s for s in ("\t", ",", ";", "|") if s != read_with and s in columns[0]),
                     None)
    if separator is None:
        return ""
    other = next((f for f, (s, _) in _SEPARATORS.items() if s == separator), None)
    if other is None:
        name, fix = repr(separator), "save it separated by commas (df.to_csv(path, index=False))"
    else:
        name = _SEPARATORS[other][1]
        fix = (f"give it a .{other}{found[1] or ''} extension, which the command reads as "
               f"separated by {name}")
    return (f" {path} {read} one column, {columns[0]!r}: it seems to be separated by "
            f"{name}, where a .{fmt} file is separated by {read_name}; {fix}.")


# --------------------------------------------------------------------------
# Modalities
# --------------------------------------------------------------------------
def _name_and_value(text, option):
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise CommandError(
            f"{option} {text!r}: expected NAME=VALUE, e.g. {option} rna=rna_"
            + ("*" if option == "--modality" else "")
        )
    return name, value


def check_modality_options(specs):
    """Refuse, before the table is read, ``--modality`` and ``--prefix``
    options that are not NAME=VALUE or that give a modality name twice, and
    ``--modality`` lists with an empty or a repeated entry. An entry repeated
    before a further entry each time may be the start of column names cut at
    their commas (``Pixel (r0, c0),Pixel (r0, c1)``): the table tells, so
    :func:`resolve_modality_columns` refuses it. Returns ``(option, name,
    value)`` triples in command-line order."""
    parsed, given = [], {}
    for option, text in specs or []:
        name, value = _name_and_value(text, option)
        if name in given:
            raise CommandError(
                f"modality {name!r} is given more than once ({given[name]} and {option} "
                f"{text}); give each modality its own name, or list all its columns in "
                f"one option (--modality {name}=COLUMN,COLUMN,...)."
            )
        given[name] = f"{option} {text}"
        if option == "--modality":
            items = [item.strip() for item in _modality_items(value)]
            if not all(items):
                raise CommandError(
                    f"--modality {text}: an empty column name (a comma at an end, or two "
                    "in a row); separate the column names with single commas."
                )
            repeated = repeated_names(items)
            if repeated and not _maybe_cut_at_commas(items, repeated):
                raise CommandError(_listed_more_than_once(name, repeated))
        parsed.append((option, name, value))
    return parsed


def _maybe_cut_at_commas(items, repeated):
    """Whether every occurrence of the ``repeated`` entries of a ``--modality``
    list is followed by another entry, as the starts of column names cut at
    their commas are (by their ends)."""
    return all(item not in repeated or position + 1 < len(items)
               for position, item in enumerate(items))


def _listed_more_than_once(name, repeated):
    """The error of a ``--modality`` list that gives the ``repeated`` entries more than once."""
    return (f"--modality {name}: {_preview([repr(r) for r in repeated], 4)} listed more "
            "than once; list each column once.")


def _modality_items(value):
    """The entries of a ``--modality`` list: split at commas, but not at
    commas escaped as ``\\,`` (column names such as ``Pixel (r0, c1)``);
    ``\\\\`` is a backslash (a name ending in one: ``C:\\\\,b``). Any other
    backslash is kept as it is."""
    items, current, chars = [], [], iter(value)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            current.append(following if following in (",", "\\") else char + following)
        elif char == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return items


def _escaped(name):
    """A column name as a ``--modality`` entry writes it."""
    return name.replace("\\", "\\\\").replace(",", "\\,")


def _modality_item_columns(item, candidates, candidate_set):
    """The columns one ``--modality`` entry selects: the column of that exact
    name (its spaces kept, then stripped: ``a, b`` lists ``a`` and ``b``),
    else the columns a shell-style pattern matches (stripped, then with its
    spaces); None for no match."""
    for name in (item, item.strip()):
        if name in candidate_set:
            return [name]
    # a pattern without its spaces first (the space after a list's comma is
    # layout), then with them (a header written with ", " between names)
    patterns = [p for p in dict.fromkeys((item.strip(), item)) if any(c in p for c in "*?[")]
    for pattern in patterns:
        matched = [c for c in candidates if fnmatch.fnmatchcase(c, pattern)]
        if matched:
            return matched
    return [] if patterns else None


def resolve_modality_columns(columns, specs, id_column=None, path=None):
    """Map the ``--modality`` and ``--prefix`` options to column groups.

    ``specs`` lists ``(option, "NAME=VALUE")`` pairs in command-line order.
    ``--modality NAME=COLUMNS``: a comma-separated list of column names or
    shell-style patterns (``rna_*``), each column selected once (a name is
    taken as it is before as a pattern; ``\\,`` is a comma in a name);
    ``--prefix NAME=PREFIX``: every column whose name starts with PREFIX.
    Returns ``{name: [column, ...]}`` in the order the options were given,
    and the columns left out. ``path``, the table's, is for the errors of a
    CSV or TSV table read with the wrong separator.
    """
    hint = _separator_hint(columns, path)
    candidates = [c for c in columns if c != id_column]
    candidate_set = set(candidates)
    groups = {}
    for option, name, value in check_modality_options(specs):
        if option == "--prefix":
            chosen = [c for c in candidates if c.startswith(value)]
            id_matches = id_column in columns and str(id_column).startswith(value)
            if not chosen:
                besides = f" but the --id column {id_column!r}" if id_matches else ""
                spaced = _spaced_names(candidates, lambda c: c.startswith(value.strip()))
                if spaced:
                    written = f"{name}={_leading_spaces(spaced[0])}{value.strip()}"
                    raise CommandError(
                        f"--prefix {name}={value}: no column{besides} starts with {value!r}, "
                        f"but {_write_the_spaces(spaced[0], '--prefix', written)}." + hint)
                raise CommandError(
                    f"--prefix {name}={value}: no column{besides} starts with {value!r}; "
                    f"columns are: {_preview(candidates)}." + hint
                )
            if id_matches:
                warnings.warn(f"--prefix {name}={value}: the --id column {id_column!r} starts "
                              f"with {value!r} too; it is left out of modality {name!r}.")
        else:
            chosen, selected_by, seen = [], {}, set()
            items = _modality_items(value)
            for position, item in enumerate(items):
                matched = _modality_item_columns(item, candidates, candidate_set)
                # a name cut at its comma: the entry and the next make (the start of) one
                joined = ",".join(items[position:position + 2]).strip()
                cut = [c for c in candidates if position + 1 < len(items) and c.startswith(joined)]
                item = item.strip()
                if not matched and cut:
                    fixed = _rejoined(items, candidate_set) or _escaped(cut[0])
                    raise CommandError(
                        f"--modality {name}: no column {item!r}; a comma separates the "
                        "columns of a list: write a comma within a column name as \\, "
                        f"(--modality '{name}={fixed}')."
                    )
                if item in seen:  # not the start of a name cut at its comma
                    raise CommandError(_listed_more_than_once(name, [item]))
                seen.add(item)
                spaced = _spaced_names(candidates, lambda c: c == item)
                if matched is None and spaced:
                    written = f"{name}={_escaped(spaced[0])}"
                    raise CommandError(
                        f"--modality {name}: no column {item!r}, but "
                        f"{_write_the_spaces(spaced[0], '--modality', written)}." + hint
                    )
                if matched is None:
                    raise CommandError(
                        f"--modality {name}: no column {item!r}"
                        + (" (it is the --id column)" if item == id_column else "")
                        + f"; columns are: {_preview(candidates)}. To select by "
                        f"prefix, write {name}={_escaped(item)}* or --prefix {name}={item}."
                        + hint
                    )
                spaced = _spaced_names(candidates, lambda c: fnmatch.fnmatchcase(c, item))
                if not matched and spaced:
                    written = f"{name}={_escaped(_spaced_pattern(item, spaced[0]))}"
                    raise CommandError(
                        f"--modality {name}: pattern {item!r} matches no column, but would "
                        f"match {spaced[0]!r}, which "
                        f"{_write_the_spaces(None, '--modality', written)}." + hint
                    )
                if not matched:
                    raise CommandError(
                        f"--modality {name}: pattern {item!r} matches no column; "
                        f"columns are: {_preview(candidates)}." + hint
                    )
                twice = next((c for c in matched if c in selected_by), None)
                if twice is not None:
                    raise CommandError(
                        f"--modality {name}: column {twice!r} is selected by both "
                        f"{selected_by[twice]!r} and {item!r}; select each column once."
                    )
                selected_by.update((c, item) for c in matched)
                chosen += matched
        groups[name] = chosen
    if len(groups) < 2:
        raise CommandError(
            "give at least two modalities, e.g. --prefix rna=rna_ --prefix atac=atac_ "
            "or --modality rna=gene1,gene2 --modality atac=peak1,peak2."
        )
    owner = {}
    for name, chosen in groups.items():
        for column in chosen:
            if column in owner:
                raise CommandError(
                    f"column {column!r} is in both modality {owner[column]!r} and {name!r}; "
                    "make the groups disjoint."
                )
            owner[column] = name
    unused = [c for c in candidates if c not in owner]
    return groups, unused


def _rejoined(items, columns):
    """A ``--modality`` list of ``items`` written again with the column names
    they cut at commas joined and their commas escaped
    (``Pixel (r0\\, c0),Pixel (r0\\, c1)``); None when no entries join into
    a name of ``columns``."""
    written, position, joined = [], 0, False
    while position < len(items):
        ends = [end for end in range(len(items), position + 1, -1)
                if ",".join(items[position:end]).strip() in columns]
        end = ends[0] if ends else position + 1
        joined = joined or bool(ends)
        written.append(_escaped(",".join(items[position:end]).strip() if ends
                                else items[position]))
        position = end
    return ",".join(written) if joined else None


def _leading_spaces(name):
    return name[:len(name) - len(name.lstrip())]


def _write_the_spaces(column, option, written):
    """The advice for a column name with spaces at its ends, which the user
    typed without them: ``column`` (None where the sentence has named it)
    and the option as it should be written."""
    subject = "" if column is None else f"{column!r} "
    return (f"{subject}has spaces at the ends of its name: write them too, inside the "
            f"quotes ({option} '{written}')")


def _spaced_pattern(pattern, column):
    """``pattern`` with the spaces at the ends of ``column``'s name that it
    needs to match that name."""
    lead = _leading_spaces(column)
    trail = column[len(column.rstrip()):]
    return next(p for p in (lead + pattern, pattern + trail, lead + pattern + trail)
                if fnmatch.fnmatchcase(column, p))


def _is_decimal(series):
    """Whether ``series`` holds decimals (a Parquet or database decimal column,
    which pandas reads as Python ``Decimal`` objects, possibly beside floats
    and missing values, or as an Arrow type)."""
    import decimal
    from numbers import Real

    pyarrow_type = getattr(series.dtype, "pyarrow_dtype", None)
    if pyarrow_type is not None:
        return str(pyarrow_type).startswith("decimal")
    if series.dtype != object:
        return False
    values = series.dropna()
    # an empty one: a column of missing values only, which the check of
    # missing values names
    return all(isinstance(v, (decimal.Decimal, Real)) and not isinstance(v, bool)
               for v in values)


def _numbers_but_for_missing(series):
    """Whether a column that pandas did not read as numbers holds numbers or
    booleans in every cell that is not empty (a CSV column of True and
    False with an empty cell is read as text)."""
    pd = _pandas()
    present = series.dropna()
    return len(present) < len(series) and pd.api.types.is_numeric_dtype(
        pd.Series(present.tolist(), dtype=None))


def _text_in_numbers_hint(series):
    """The sentence that the error of a modality column read as text ends
    with: its first value that is no number, and the fix for decimal commas."""
    present = series.dropna().astype(str)
    text = present[~present.map(_is_number)]
    if text.empty:
        return ""
    value = text.iloc[0]
    if re.fullmatch(r"\s*[-+]?\d{1,3}(,\d{3})+(\.\d*)?\s*", value):
        return (f" Column {series.name!r} holds {value!r}: a thousands separator (or, "
                "with a single comma, a decimal comma); write the table without thousands "
                "separators and with decimal points (in pandas, to_csv(path, decimal='.')).")
    if _is_number(value.strip().replace(",", ".", 1)) and value.count(",") == 1:
        return (f" Column {series.name!r} holds {value!r}: a decimal comma; write the "
                "table with decimal points (in pandas, to_csv(path, decimal='.')).")
    return f" Column {series.name!r} holds {value!r}."


def _numeric_block(frame, columns, path, impute=None,
                   missing_fix="give --impute (mean or median), or impute or drop those "
                               "rows first"):
    """The modality ``columns`` of ``frame``, refused (naming ``path``) where
    they are not numbers, infinite, or missing (with ``missing_fix``);
    missing values are kept, as float64 NaN, where ``impute`` names the
    imputer that fills them (``--impute``)."""
    pd = _pandas()
    decimals = [c for c in columns if _is_decimal(frame[c])]
    if decimals:  # numbers, read as float64 as the other columns are
        frame = frame.astype({c: "float64" for c in decimals})
    bad = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if any(not _numbers_but_for_missing(frame[c]) for c in bad):
        bad = [c for c in bad if not _numbers_but_for_missing(frame[c])]
        raise CommandError(
            f"{path}: column(s) {_preview(bad)} are not numeric; every modality column "
            f"must hold numbers.{_text_in_numbers_hint(frame[bad[0]])}"
        )
    block = frame[columns]
    if impute is not None:
        # nullable columns' pd.NA and booleans read as text become NaN
        block = block.astype("float64")
        empty = np.flatnonzero(block.isna().to_numpy().all(axis=1))
        if empty.size:
            raise CommandError(
                f"{path}: data row(s) {_preview((empty + 1).tolist())} have no value in any "
                f"modality column (lines of separators alone, say), which the imputer would "
                "fill whole, and train on or embed; drop those rows first."
            )
    elif bad or block.isna().to_numpy().any():
        # bad: columns read as text because of their empty cells (booleans)
        missing = [c for c in columns if frame[c].isna().any()]
        raise CommandError(
            f"{path}: column(s) {_preview(missing)} have missing values; {missing_fix}."
        )
    infinite = [c for c in columns if frame[c].isin([np.inf, -np.inf]).any()]
    if infinite:
        raise CommandError(
            f"{path}: column(s) {_preview(infinite)} have infinite values (inf or -inf); "
            "replace or drop those rows first."
        )
    limit = np.finfo(np.float32).max
    huge = [c for c in columns if np.nanmax(np.abs(block[c].to_numpy(dtype=float)),
                                            initial=0.0) > limit]
    if huge:
        raise CommandError(
            f"{path}: column(s) {_preview(huge)} hold values beyond float32's range (above "
            f"{limit:.3g} in magnitude), in which the methods compute, and whose variance "
            "--standardize cannot take; rescale those columns first (e.g. take their "
            "logarithms)."
        )
    return block


# --------------------------------------------------------------------------
# Estimator options
# --------------------------------------------------------------------------
def _seed(text):
    """A --random-state: an integer that numpy takes as a seed."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"expected a seed, an integer from 0 to {2**32 - 1}, got {text!r}")
    return value


def _hidden_sizes(text):
    text = text.strip()
    if text in ("", "none", "()"):
        return ()
    try:
        sizes = tuple(int(v) for v in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive layer widths such as 512 or 256,256 "
            f"('none' for linear encoders), got {text!r}"
        )
    return sizes


# (flags, parameter, argparse keywords)
ESTIMATOR_OPTIONS = [
    (["--n-shared"], "n_shared", dict(type=int, help="width of each shared block (DisentangledSSL and the deep baselines; default 100; FOCAL: equal to --n-specific)")),
    (["--n-specific"], "n_specific", dict(type=int, help="width of each specific block (DisentangledSSL and the deep baselines; default 100; FOCAL: equal to --n-shared)")),
    (["--n-components"], "n_components", dict(type=int, help="embedding width (MultimodalContrastive, default 16; LinearCCA, default 50, or fewer where a modality's columns or the training rows allow fewer)")),
    (["--hidden"], "hidden_layer_sizes", dict(type=_hidden_sizes, metavar="W[,W...]", help="hidden layer widths of every encoder, e.g. 512 or 256,256; 'none' for linear encoders")),
    (["--specific-init"], "specific_init", dict(choices=["looks_linear", "normal"], help="initial weights of the specific encoders (DisentangledSSL, JointOptSSL, FOCAL; default looks_linear)")),
    (["--beta"], "beta", dict(type=float, help="bottleneck weight of step 1 (DisentangledSSL; default 0.1)")),
    (["--beta-start"], "beta_start", dict(type=float, help="ramp the bottleneck weight geometrically from this value to --beta (DisentangledSSL; default: no ramp)")),
    (["--beta-ramp-epochs"], "beta_ramp_epochs", dict(type=float, help="length of the ramp in epochs of step 1, fractions allowed (DisentangledSSL; default: all of step 1)")),
    (["--ortho-weight", "--lambda"], "ortho_weight", dict(type=float, help="orthogonality weight of step 2 (DisentangledSSL; default 1.0), or of the joint loss (JointOptSSL, default 0.01; FOCAL, default 1.0)")),
    (["--specific-weight"], "specific_weight", dict(type=float, help="weight of the specific loss (JointOptSSL, FOCAL; default 1.0)")),
    (["--kl-weight"], "kl_weight", dict(type=float, help="weight of the KL terms (DMVAE; default 1.0)")),
    (["--temperature"], "temperature", dict(type=float, help="InfoNCE temperature")),
    (["--head"], "head", dict(choices=["vmf", "power_spherical", "gaussian"], help="posterior of the shared encoder (DisentangledSSL, JointOptSSL)")),
    (["--kappa"], "kappa", dict(type=float, help="concentration of the head (DisentangledSSL, JointOptSSL)")),
    (["--augmentation"], "augmentation", dict(choices=["mixed", "noise", "mask", "none"], help="training augmentation (DisentangledSSL and the deep baselines)")),
    (["--noise-scale"], "noise_scale", dict(type=float, help="standard deviation of the augmentation's noise, in each column's standard deviations (DisentangledSSL and the deep baselines; default 0.1)")),
    (["--mask-fraction"], "mask_fraction", dict(type=float, help="fraction of the entries the augmentation's masking replaces by their column's mean (DisentangledSSL and the deep baselines; default 0.1)")),
    (["--epochs-shared"], "max_epochs_shared", dict(type=int, help="epochs of step 1 (DisentangledSSL; default 50)")),
    (["--epochs-specific"], "max_epochs_specific", dict(type=int, help="epochs of step 2 (DisentangledSSL; default 30)")),
    (["--epochs"], "max_epochs", dict(type=int, help="training epochs (MultimodalContrastive, default 100; the deep baselines, default 50)")),
    (["--similarity"], "similarity", dict(choices=["cosine", "l1", "euclidean"], help="similarity of the loss (MultimodalContrastive)")),
    (["--ica"], "ica", dict(action="store_const", const=True, help="rotate the shared block by FastICA (MultimodalContrastive, DisentangledSSL)")),
    (["--ridge"], "ridge", dict(type=float, help="covariance ridge (LinearCCA)")),
    (["--batch-size"], "batch_size", dict(type=int, help="rows per training batch (default 256)")),
    (["--lr"], "lr", dict(type=float, help="initial learning rate of Adam")),
    (["--device"], "device", dict(metavar="DEVICE", help="torch device: auto (default), cpu, cuda, cuda:K")),
    (["--compile"], "compile", dict(action="store_const", const=True, help="compile each training step with torch.compile: faster epochs after a slower start (neural methods)")),
    (["--validation-fraction"], "validation_fraction", dict(type=float, help="hold out this fraction of the rows from each training step; its objective on them is logged as valid_loss (neural methods)")),
    (["--random-state"], "random_state", dict(type=_seed, metavar="SEED", help="seed, for reproducible embeddings")),
    (["--blocks"], "output", dict(choices=["all", "shared", "specific"], help="blocks to output (default all; 'shared' skips step 2 of DisentangledSSL)")),
]


def _estimator(args):
    from ._persistence import ESTIMATORS  # the package's estimators, by class name

    cls = ESTIMATORS[METHODS[args.method]]
    accepted = set(cls().get_params())
    params = {}
    for flags, param, _ in ESTIMATOR_OPTIONS:
        value = getattr(args, f"param_{param}")
        if value is None:
            continue
        if param not in accepted:
            raise CommandError(
                f"{flags[0]} does not apply to --method {args.method} ({cls.__name__}); "
                "see sklearn-dssl fit --help."
            )
        params[param] = value
    if "beta_ramp_epochs" in params and "beta_start" not in params:
        raise CommandError(
            "--beta-ramp-epochs is the length of a ramp of the bottleneck weight, which "
            "--beta-start starts; give --beta-start too (e.g. --beta-start 0.001)."
        )
    if args.early_stopping is not None:
        if "callbacks" not in accepted:
            raise CommandError(
                f"--early-stopping does not apply to --method {args.method} ({cls.__name__}), "
                "which is not trained by epochs."
            )
        if args.early_stopping < 1:
            raise CommandError(f"--early-stopping {args.early_stopping}: give a patience "
                               "of at least 1 epoch.")
        if params.get("validation_fraction") is None:
            raise CommandError(
                "--early-stopping watches the loss on held-out rows; give "
                "--validation-fraction too (e.g. --validation-fraction 0.1)."
            )
        from skorch.callbacks import EarlyStopping

        params["callbacks"] = [EarlyStopping(monitor="valid_loss", patience=args.early_stopping,
                                             load_best=True)]
    if "verbose" in accepted:
        params["verbose"] = 0 if args.quiet else 1
    return cls(**params)


def _check_estimator_options(model):
    """Refuse option values the estimator would refuse at fit, naming the option."""
    from sklearn.utils._param_validation import InvalidParameterError

    from ._training import resolve_device

    flags = {param: flags[0] for flags, param, _ in ESTIMATOR_OPTIONS}
    params = model.get_params()
    try:
        model._validate_params()
    except InvalidParameterError as exc:
        # "The 'n_shared' parameter of DisentangledSSL must be ..."
        named = re.match(r"The '(\w+)' parameter", str(exc))
        param = named.group(1) if named else None
        if param not in flags:
            raise
        raise CommandError(f"{flags[param]} {params[param]}: {exc}") from None
    with _estimator_errors_in_option_terms():
        if "device" in params:
            resolve_device(params["device"])
        if hasattr(model, "_check_params"):  # combinations, e.g. FOCAL's equal widths
            model._check_params()


# --------------------------------------------------------------------------
# Subcommands
# --------------------------------------------------------------------------
def _embeddings_frame(model, X, ids):
    pd = _pandas()
    Z = model.transform(X)
    # the frame wraps the embeddings (pandas 3 would copy them by default)
    frame = pd.DataFrame(Z, columns=[str(c) for c in model.get_feature_names_out()], copy=False)
    if ids is not None:  # named unlike every embedding column, as checked before
        # a nullable type kept (Parquet integer ids with missing ones)
        extension = isinstance(ids.dtype, pd.api.extensions.ExtensionDtype)
        frame.insert(0, ids.name, ids.array if extension else ids.to_numpy())
    return frame


def _check_model_path(path):
    """Refuse a ``--model`` path that save cannot write, before any training."""
    if not path.strip():
        raise CommandError(
            f"--model {path!r} is empty; give a .zip file or a directory to write the "
            "model to."
        )
    target = Path(path)
    found = _table_suffixes(target)
    if found:
        extensions = 1 if found[1] is None else 2
        stem = target.name[:len(target.name) - len("".join(target.suffixes[-extensions:]))]
        raise CommandError(
            f"--model {path}: a model is written as a .zip file or a directory, and "
            f"this path is named like a table; give e.g. {target.with_name(stem + '.zip')} "
            "(the embeddings go to --output)."
        )
    if target.suffix.lower() == ".zip":
        if target.is_dir():
            raise CommandError(
                f"--model {path}: a path ending in .zip is written as a zip file, but it "
                "is an existing directory; remove it or choose another path."
            )
    elif target.exists() and not target.is_dir():
        raise CommandError(
            f"--model {path}: a path not ending in .zip is written as a directory, but "
            "it is an existing file; give a path ending in .zip or a new directory."
        )
    else:
        from ._persistence import _check_no_other_files

        _check_no_other_files(target)
    _check_writable_folder("--model", path)


def _check_writable_folder(option, path):
    """Refuse a path whose folder cannot be created or written, before any training."""
    folder = Path(path).absolute().parent
    while not folder.exists():  # save and the table writers create missing folders
        folder = folder.parent
    if not folder.is_dir():
        raise CommandError(
            f"{option} {path}: {folder} is a file, so the folder cannot be created; "
            "choose another path."
        )
    if not os.access(folder, os.W_OK):
        raise CommandError(f"{option} {path}: {folder} is not writable; choose another path.")


def _check_separate_outputs(output, model):
    """Refuse an ``--output`` and ``--model`` that would be written over or
    inside each other, before any training."""
    table, saved = Path(output).resolve(), Path(model).resolve()
    if table == saved or table in saved.parents or saved in table.parents:
        raise CommandError(
            f"--output {output} and --model {model} would be written over or inside "
            "each other; give them separate paths."
        )


def _check_not_input(output, table):
    """Refuse an ``--output`` that is the input table, before any training
    (the same file by another name too: a link, or other letter cases)."""
    if Path(output).exists() and Path(table).exists() and os.path.samefile(output, table):
        raise CommandError(
            f"--output {output} is the input table; write to another path, so that "
            "the table is kept."
        )


def _check_id_not_output_name(id_column, model, modalities):
    """Refuse an ``--id`` named like an embedding column, before any training.

    Embedding columns are ``<block>_<modality>_<i>``; the widths are known
    only after fit, so any index counts.
    """
    if id_column is None:
        return
    for block in model._output_blocks():
        for name in modalities:
            prefix = f"{block}_{name}_"
            index = id_column[len(prefix):]
            if id_column.startswith(prefix) and index.isascii() and index.isdigit() and (
                index == str(int(index))
            ):
                raise CommandError(
                    f"--id {id_column} is also the name of an embedding column "
                    f"({block} block of modality {name!r}); rename the id column."
                )


def _check_id_not_embedding_name(id_column, model):
    """Refuse an ``--id`` that names one of the fitted ``model``'s embedding
    columns, before the table is read (``transform``; the widths are known)."""
    if id_column is not None and id_column in {str(c) for c in model.get_feature_names_out()}:
        raise CommandError(
            f"--id {id_column} is also the name of an embedding column; rename the id "
            "column."
        )


def _check_blocks_fitted(model, path):
    """Refuse blocks the saved model was not fitted to compute, with the
    command's fix rather than the Python one of the estimator's own check."""
    try:
        model._check_blocks_fitted(model._output_blocks())
    except NotFittedError as exc:
        block = next(b for b in model._output_blocks() if b not in model._fitted_blocks())
        raise CommandError(
            f"{path} has no fitted {block} block (it was fitted with --blocks shared, "
            "or its training was interrupted); give --blocks shared."
        ) from exc


def _fit(args):
    from ._persistence import save

    if args.output is None and args.model is None:
        raise CommandError("nothing to write: give --output EMBEDDINGS and/or --model PATH.")
    # paths that cannot be written fail before the table is read or anything trained
    if args.output is not None:
        _check_output_table(args.output)
    if args.model is not None:
        _check_model_path(args.model)
    if args.output is not None and args.model is not None:
        _check_separate_outputs(args.output, args.model)
    if args.output is not None:
        _check_not_input(args.output, args.table)
    # so are the options: before the table is read
    model = _estimator(args)
    _check_estimator_options(model)
    given = check_modality_options(args.groups)
    supported = getattr(model, "_n_modalities", None)
    if supported is not None and len(given) > supported:
        raise CommandError(
            f"--method {args.method} ({type(model).__name__}) takes {supported} modalities, "
            f"and the options give {len(given)}: {', '.join(name for _, name, _ in given)}; "
            "use --method dssl, contrastive or cca for more."
        )
    frame = read_table(args.table, args.id)
    ids = _id_column(frame, args.id, args.table)
    groups, unused = resolve_modality_columns(frame.columns, args.groups, args.id, args.table)
    _check_id_not_output_name(args.id, model, groups)
    columns = [c for chosen in groups.values() for c in chosen]
    X = _numeric_block(frame, columns, args.table, impute=args.impute)
    model.set_params(modalities=groups)
    if unused:
        print(f"{PROG}: note: ignoring {len(unused)} column(s) in no modality: "
              f"{_preview(unused)}", file=sys.stderr)
    sizes = ", ".join(f"{name}: {len(chosen)} columns" for name, chosen in groups.items())
    if args.log1p:
        _check_not_negative(X, "--log1p", args.table, "leave out --log1p, or those columns")
        X = _wide_enough_for_a_log(X)
    fitted = _preprocessed(model, impute=args.impute, log1p=args.log1p,
                           standardize=args.standardize)
    steps = "".join(f", {name}" for name, given in (
        (f"gaps filled with the {args.impute}", args.impute), ("log1p", args.log1p),
        ("standardized", args.standardize)) if given)
    print(f"fitting {type(model).__name__} on {X.shape[0]} rows ({sizes}{steps})",
          flush=True)
    start = time.perf_counter()
    with _estimator_errors_in_option_terms(), warnings.catch_warnings():
        # after a Ctrl-C the command writes nothing, whatever the estimator
        # keeps for a Python user (and says so below)
        warnings.filterwarnings("ignore", message="training was interrupted")
        fitted.fit(X)
    if _interrupted(model):
        # the estimator keeps the weights of a Ctrl-C for Python users; a
        # command stops, so that `fit ... && next step` does not go on
        raise _TrainingInterrupted
    print(f"fitted in {time.perf_counter() - start:.1f} s", flush=True)
    # the model first: a failure to write the embeddings then keeps the training
    if args.model is not None:
        if "verbose" in model.get_params():
            # the command's display, not the model's: a refit in Python is quiet
            model.set_params(verbose=0)
        with warnings.catch_warnings():
            # the CLI's only callback, --early-stopping, matters for training alone
            warnings.simplefilter("ignore", UserWarning)
            path = save(fitted, args.model)
        print(f"wrote the model to {path}", flush=True)
    if args.output is not None:
        embeddings = _embeddings_frame(fitted, X, ids)
        write_table(embeddings, args.output)
        print(f"wrote embeddings ({embeddings.shape[0]} rows x "
              f"{embeddings.shape[1] - (ids is not None)} columns) to {args.output}")
    return 0


def _preprocessed(model, impute=None, log1p=False, standardize=False):
    """``model`` behind the steps of ``--impute``, ``--log1p`` and
    ``--standardize``, which hand it the table's column names (as ``fit``
    selected the modalities by name); ``model`` itself without them."""
    import numpy as np
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    steps = []
    if impute is not None:
        # a column without a value is filled with 0, a constant, which save keeps
        steps.append(SimpleImputer(strategy=impute, keep_empty_features=True))
    if log1p:
        # validate: a loaded model checks the columns' names, as a scaler does
        steps.append(FunctionTransformer(np.log1p, validate=True,
                                         feature_names_out="one-to-one"))
    if standardize:
        steps.append(StandardScaler())
    if not steps:
        return model
    return make_pipeline(*(step.set_output(transform="pandas") for step in steps), model)


def _imputation(model):
    """The strategy of the SimpleImputer a loaded ``model`` begins with
    (``--impute``'s), or None."""
    from sklearn.impute import SimpleImputer

    first = model.steps[0][1] if hasattr(model, "steps") else None
    return first.strategy if type(first) is SimpleImputer else None


def _functions_of_counts(model):
    """The names of the model's steps that negative values are outside of
    (``--log1p``'s)."""
    import numpy as np

    names = {np.log1p: "log1p", np.sqrt: "sqrt"}
    return [names[step.func] for _, step in getattr(model, "steps", [])[:-1]
            if any(getattr(step, "func", None) is f for f in names)]


def _wide_enough_for_a_log(X):
    """``X`` with its one-byte columns (bool, int8, uint8, as Parquet may
    hold counts) as float64: numpy takes their log in float16."""
    narrow = {c: "float64" for c, dtype in X.dtypes.items() if dtype.itemsize == 1}
    return X.astype(narrow) if narrow else X


def _check_not_negative(X, function, path, fix):
    """Refuse negative values, which ``function`` (log1p, sqrt) does not take."""
    lowest = X.min()
    negative = [str(c) for c in lowest.index[lowest.to_numpy() < 0]]
    if negative:
        raise CommandError(
            f"{function} is for counts or other values of at least 0, and {path} holds "
            f"negative values (as low as {lowest.min():g}) in {len(negative)} column(s): "
            f"{_preview(negative)}; {fix}."
        )


class _TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training, which the estimator caught and ``fit`` re-raises."""


def _interrupted(model):
    """Whether a training step of ``model`` was stopped by Ctrl-C."""
    from skorch import NeuralNet

    return any(getattr(value, "interrupted_", False) for value in vars(model).values()
               if isinstance(value, NeuralNet))


def _transform(args):
    from ._persistence import estimator_in, load, output_of
    from ._training import resolve_device

    _check_output_table(args.output)
    _check_not_input(args.output, args.table)
    with _estimator_errors_in_option_terms():  # as fit says it: --device 'gpu' ...
        resolve_device(args.device)
    model = load(args.model, device=args.device)
    estimator = estimator_in(model)  # after the steps of --log1p and --standardize
    # the command builds its own table from arrays, whatever set_output the model
    # was saved with (e.g. "polars", which may not be installed here); steps
    # before it that hand it DataFrames keep doing so, in pandas
    estimator.set_output(transform="default")
    for _, step in getattr(model, "steps", [])[:-1]:
        if output_of(step) == "polars":
            step.set_output(transform="pandas")
    if args.id is not None and str(args.id) in map(str, getattr(model, "feature_names_in_", [])):
        raise CommandError(
            f"--id {args.id} names a column the model reads; give the table's identifier "
            "column, or leave --id out."
        )
    if args.blocks is not None:
        estimator.set_params(output=args.blocks)
    _check_blocks_fitted(estimator, args.model)
    _check_id_not_embedding_name(args.id, model)
    frame = read_table(args.table, args.id)
    ids = _id_column(frame, args.id, args.table)
    if hasattr(model, "feature_names_in_"):
        columns = [str(c) for c in model.feature_names_in_]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise CommandError(
                f"{args.table} lacks {len(missing)} column(s) the model was fitted on: "
                f"{_preview(missing)}." + _separator_hint(frame.columns, args.table)
            )
    else:
        columns = [c for c in frame.columns if c != args.id]
        if len(columns) != model.n_features_in_:
            raise CommandError(
                f"the model was fitted on {model.n_features_in_} unnamed columns, but "
                f"{args.table} has {len(columns)} (besides --id); give a table with "
                "exactly those columns, in order."
            )
    X = _numeric_block(frame, columns, args.table, impute=_imputation(model),
                       missing_fix="the model was fitted without --impute, so it fills "
                                   "none; impute or drop those rows first")
    functions = _functions_of_counts(model)
    for function in functions:
        _check_not_negative(X, f"the model's {function}", args.table,
                            "the model takes it of every column it reads")
    if functions:
        X = _wide_enough_for_a_log(X)
    if not hasattr(model, "feature_names_in_"):
        X = X.to_numpy()
    embeddings = _embeddings_frame(model, X, ids)
    write_table(embeddings, args.output)
    print(f"wrote embeddings ({embeddings.shape[0]} rows x "
          f"{embeddings.shape[1] - (ids is not None)} columns) to {args.output}")
    return 0


def _demo(args):
    from ._demo import run_demo

    # the training log of -v on stderr: stdout holds the table alone
    with contextlib.redirect_stdout(sys.stderr), _estimator_errors_in_option_terms():
        table = run_demo(n_samples=args.n_samples, random_state=args.random_state,
                         verbose=args.verbose)
    print(table, flush=True)
    return 0


# --------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------
def _demo_rows(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of rows, got {text!r}") from None
    if value < MIN_DEMO_SAMPLES:
        raise argparse.ArgumentTypeError(
            f"expected at least {MIN_DEMO_SAMPLES} rows, got {text!r}: the probes need "
            "rows of both classes of every label to train and score on"
        )
    return value


def build_parser():
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Shared and modality-specific embeddings of multimodal tables.\n\n"
            "A table's columns fall into groups, the modalities (e.g. rna_* and atac_*\n"
            "columns measured on the same cells); the methods learn what the\n"
            "modalities share and what each carries alone."
        ),
        epilog=(
            "examples:\n"
            "  sklearn-dssl demo\n"
            "  sklearn-dssl fit cells.csv --prefix rna=rna_ --prefix atac=atac_ --id cell \\\n"
            "      --n-shared 16 --n-specific 16 --random-state 0 \\\n"
            "      --output embeddings.parquet --model model.zip\n"
            "  sklearn-dssl transform model.zip new_cells.csv --id cell --output new.csv\n\n"
            "Run 'sklearn-dssl COMMAND --help' for a command's options."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    fit = commands.add_parser(
        "fit", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="fit a model on a table; write its embeddings and the model",
        description=(
            "Fit DisentangledSSL (or MultimodalContrastive, LinearCCA, JointOptSSL, FOCAL,\n"
            "DMVAE) on a CSV, TSV or Parquet table and write the embeddings table and/or\n"
            "the fitted model. A CSV or TSV table needs a first line of column names. A\n"
            "leading ~ in a path is the home directory.\n\n"
            "Modalities are column groups, in the order given; every modality column\n"
            "must be numeric. Columns in no modality (labels, ids) are ignored.\n"
            "  --prefix NAME=PREFIX      columns whose name starts with PREFIX\n"
            "  --modality NAME=COLUMNS   comma-separated column names or shell patterns\n"
            "                            (rna=gene1,gene2 or rna='rna_*')\n\n"
            "The embeddings table has the columns shared_<modality>_<i> and\n"
            "specific_<modality>_<i>, preceded by the --id column when given. The\n"
            "model is written by sklearn_dssl.save: a .zip file, or else a directory.\n"
            "The methods see the values as they are; --standardize centres every\n"
            "modality column and scales it to unit variance first, --log1p takes\n"
            "log(1 + x) of counts before that, and the model keeps both for the\n"
            "tables it embeds."
        ),
        epilog=(
            "example:\n"
            "  sklearn-dssl fit cells.parquet --prefix rna=rna_ --prefix atac=atac_ \\\n"
            "      --id cell --n-shared 16 --n-specific 16 --epochs-shared 20 \\\n"
            "      --epochs-specific 20 --random-state 0 -o embeddings.csv --model model.zip"
        ),
    )
    fit.add_argument("table", help=_TABLE_HELP)
    fit.add_argument("--modality", action="append", dest="groups", metavar="NAME=COLUMNS",
                     type=lambda text: ("--modality", text),
                     help="a modality by comma-separated column names or patterns; \\, "
                          "is a comma within a name (repeatable)")
    fit.add_argument("--prefix", action="append", dest="groups", metavar="NAME=PREFIX",
                     type=lambda text: ("--prefix", text),
                     help="a modality by column-name prefix (repeatable)")
    fit.add_argument("--id", metavar="COLUMN",
                     help="identifier column, copied to the embeddings table")
    fit.add_argument("-o", "--output", metavar="EMBEDDINGS",
                     help=_OUTPUT_HELP)
    fit.add_argument("--model", metavar="PATH",
                     help="where to save the fitted model (.zip file or directory)")
    fit.add_argument("--method", default="dssl", type=str.lower, choices=sorted(METHODS),
                     metavar="{dssl,contrastive,cca,jointopt,focal,dmvae}",
                     help="DisentangledSSL (dssl, default), MultimodalContrastive "
                          "(contrastive), LinearCCA (cca), or the deep baselines of the "
                          "DisentangledSSL paper: JointOptSSL (jointopt), FOCAL (focal), "
                          "DMVAE (dmvae)")
    fit.add_argument("--impute", choices=("mean", "median"),
                     help="fill each modality column's missing values with its mean or "
                          "median over the rows fitted on (before --log1p and "
                          "--standardize); the model keeps the values for the tables it "
                          "embeds")
    fit.add_argument("--log1p", action="store_true",
                     help="take log(1 + x) of each modality column before fitting (and "
                          "--standardize); for counts. The model keeps it for the tables "
                          "it embeds")
    fit.add_argument("--standardize", action="store_true",
                     help="centre and scale each modality column to unit variance before "
                          "fitting (a StandardScaler saved with the model); use it when "
                          "the columns' scales differ widely")
    fit.add_argument("-q", "--quiet", action="store_true",
                     help="no per-epoch log or progress bars")
    params = fit.add_argument_group("estimator parameters (default: the estimator's)")
    for flags, param, kwargs in ESTIMATOR_OPTIONS:
        if "choices" not in kwargs and "action" not in kwargs:
            kwargs = {"metavar": {int: "N", float: "FLOAT"}.get(kwargs.get("type"), "VALUE"),
                      **kwargs}
        params.add_argument(*flags, dest=f"param_{param}", default=None, **kwargs)
    params.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                        help="stop each training step after PATIENCE epochs without "
                             "improvement of valid_loss and keep its best epoch (needs "
                             "--validation-fraction)")
    fit.set_defaults(run=_fit)

    transform = commands.add_parser(
        "transform", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="embed a table with a saved model",
        description=(
            "Embed a CSV, TSV or Parquet table with a model saved by 'sklearn-dssl fit'\n"
            "(or sklearn_dssl.save). The table needs the columns the model was fitted\n"
            "on, by name; other columns are ignored (a model fitted in Python on an\n"
            "array, without column names, needs exactly its columns, in order)."
        ),
        epilog="example:\n  sklearn-dssl transform model.zip new_cells.csv --id cell -o new.parquet",
    )
    transform.add_argument("model", help="saved model (.zip file or directory)")
    transform.add_argument("table", help=_TABLE_HELP)
    transform.add_argument("-o", "--output", required=True, metavar="EMBEDDINGS",
                           help=_OUTPUT_HELP)
    transform.add_argument("--id", metavar="COLUMN",
                           help="identifier column, copied to the embeddings table")
    transform.add_argument("--blocks", choices=["all", "shared", "specific"],
                           help="blocks to output (default: as fitted)")
    transform.add_argument("--device", default="cpu",
                           help="torch device to compute on (default cpu; auto, cuda)")
    transform.set_defaults(run=_transform)

    demo = commands.add_parser(
        "demo", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="fit on built-in synthetic data and print probe accuracies",
        description=(
            "Fit DisentangledSSL on make_paper_synthetic data (two modalities of 20\n"
            "columns) and print the held-out accuracy of logistic probes of every\n"
            "block for the three labels; under a minute on 2 CPU cores."
        ),
    )
    demo.add_argument("--n-samples", type=_demo_rows, default=10000, metavar="N",
                      help=f"rows of synthetic data (default 10000; at least "
                           f"{MIN_DEMO_SAMPLES})")
    demo.add_argument("--random-state", type=_seed, default=0, metavar="SEED",
                      help="seed (default 0)")
    demo.add_argument("-v", "--verbose", action="count", default=0,
                      help="show the training log and progress bars")
    demo.set_defaults(run=_demo)
    return parser


def _expand_user(args):
    """Expand ``~`` in every path the command takes (the input table, the
    output and the model), as pandas and sklearn_dssl.save and load do."""
    for name in ("table", "output", "model"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(args, name, os.path.expanduser(value))


@contextlib.contextmanager
def _one_line_warnings(can_standardize=True):
    """Show warnings as ``warning: message`` lines on stderr, with the
    command's fix; ``can_standardize``: --standardize is one (a fit without
    it)."""
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        advice = next((text for kind, phrase, text in _command_line_advice(can_standardize)
                       if issubclass(category, kind) and phrase in str(message)), "")
        # the estimator's parameters as options; not in the command's own
        # warnings, which quote the paths and names a user typed
        text = _in_option_terms(str(message)) if _ESTIMATOR_CALLS else str(message)
        print(f"{PROG}: warning: {text}{advice}", file=sys.stderr)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


@contextlib.contextmanager
def _estimator_errors_in_option_terms():
    """Report a ValueError or TypeError of the estimator, or its error for a
    model too large for memory, as the command's error, its ``param=value``
    written as the command's options. Only around the estimator's own calls:
    the paths and names a user typed may hold ``name=value`` too
    (``runs/lr=0.01/cells.csv``)."""
    from .exceptions import ModelMemoryError

    _ESTIMATOR_CALLS.append(True)  # its warnings too (_one_line_warnings)
    try:
        yield
    except CommandError:
        raise
    except (ValueError, TypeError, ModelMemoryError) as exc:
        raise CommandError(_in_option_terms(_one_line(str(exc)))) from None
    finally:
        _ESTIMATOR_CALLS.pop()


# Non-empty while the estimator's own calls run (_estimator_errors_in_option_terms).
_ESTIMATOR_CALLS = []


def _one_line(text):
    """``text`` on one line: its lines joined by spaces, each without the
    indentation and ends a multi-line message gives them, and the whitespace
    within a line kept (a column name's two spaces or tab, shown quoted)."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _in_option_terms(message):
    """``message`` with the estimators' ``param=value`` written as the
    command's ``--option value`` (``n_components=50`` as ``--n-components 50``),
    and the parameters whose names no English word shares
    (``validation_fraction``) as their options."""
    # not within quotes: the modality and column names a user typed
    for flags, param, _ in ESTIMATOR_OPTIONS:
        message = re.sub(rf"(?<![\w'\"-]){param}=(?=\S)", f"{flags[0]} ", message)
        # "set ridge > 0", "a larger kappa": the parameter named as a word
        message = re.sub(rf"\b(set|larger|smaller) {param}\b(?![\w='\"])",
                         rf"\1 {flags[0]}", message)
        if "_" in param:
            message = re.sub(rf"(?<![\w'\"-]){param}(?![\w='\"])", flags[0], message)
    # --hidden's widths as the option takes them: (256, 256) as 256,256
    message = re.sub(r"--hidden \((\d+(?:, \d+)*),?\)",
                     lambda m: "--hidden " + m[1].replace(", ", ","), message)
    message = re.sub(r"--hidden \((?:none)?\)", "--hidden none", message)
    # an option left out is the parameter's None
    return re.sub(r"leave (it|--[\w-]+) at None", r"leave \1 out", message)


def _command_line_advice(can_standardize=True):
    """The fix of a warning the estimators give in Python terms, in the
    command's: (category, a phrase of the message, the advice), the first
    that applies. ``can_standardize``: whether --standardize is a fix (a
    fit that was not given it)."""
    from sklearn.exceptions import ConvergenceWarning

    from .exceptions import ColumnScaleWarning, OverfittingWarning

    advice = [(OverfittingWarning, "", " On the command line: --validation-fraction with "
                                       "--early-stopping PATIENCE.")]
    if can_standardize:
        advice += [
            (ColumnScaleWarning, "", " On the command line: give --standardize."),
            # the chance-level warning, which names standardising among its fixes
            (ConvergenceWarning, "standardise the columns",
             " On the command line, --standardize standardises the columns."),
        ]
    return advice


_SMALLER = ("give smaller --hidden, --n-shared, --n-specific or --n-components, a smaller "
            "--batch-size, or fewer rows")


def _discard_stdout():
    """Send what is left of stdout to the null device.

    The reader of the output went away (``sklearn-dssl demo | head``): as
    command-line tools do, stop without a message, and without the second
    error Python would report when it flushes stdout at exit.
    """
    with contextlib.suppress(OSError, ValueError):  # no file descriptor under a capture
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv=None):
    """Run the ``sklearn-dssl`` command line.

    Parameters
    ----------
    argv : list of str or None, default=None
        The arguments after the program name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success (``--help`` included), 1 when the command failed on its
        input or ran out of memory (the reason is printed as one line on
        stderr) or its output pipe was closed early (``... | head``,
        quietly), 2 for a usage error, 130 when interrupted (Ctrl-C; during
        training ``fit`` then writes neither the model nor the embeddings).

    Examples
    --------
    >>> from sklearn_dssl._cli import main
    >>> main(["fit", "no_such_table.csv", "--prefix", "a=a_", "--prefix", "b=b_",
    ...       "--model", "model.zip"])
    1
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits after --help (0) and usage errors (2)
        return exc.code
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    _expand_user(args)
    try:
        with _one_line_warnings(args.command == "fit" and not args.standardize):
            return args.run(args)
    except BrokenPipeError:
        _discard_stdout()
        return 1
    except _TrainingInterrupted:
        print(f"{PROG} {args.command}: interrupted (Ctrl-C) while training; wrote neither "
              "the model nor the embeddings", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        # a table is written beside its path and renamed, a .zip model too;
        # a model directory's two files may not match (load says so)
        print(f"{PROG} {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except (MemoryError, RuntimeError) as exc:
        # torch's allocators fail with a RuntimeError, on the CPU and on a GPU,
        # which the estimators' fit turns into a MemoryError
        failure = exc.__cause__ if isinstance(exc, MemoryError) else exc
        if not (isinstance(exc, MemoryError) or is_allocation_failure(exc)):
            raise
        smaller = "give a smaller --n-samples" if args.command == "demo" else _SMALLER
        if is_allocation_failure(failure):
            print(f"{PROG} {args.command}: error: the model does not fit in memory "
                  f"({str(failure).strip().splitlines()[0]}); {smaller}", file=sys.stderr)
        else:
            print(f"{PROG} {args.command}: error: out of memory; {smaller}", file=sys.stderr)
        return 1
    # FloatingPointError: a training loss that stopped being finite
    except (CommandError, ValueError, TypeError, NotFittedError, OSError,
            FloatingPointError) as exc:
        message = _one_line(str(exc)) or type(exc).__name__
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return 1
