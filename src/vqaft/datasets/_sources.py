"""Find the rows of each split: hub ids, local Hugging Face folders, files, saved datasets.

:func:`hf_split_factories` turns what a user passes (``source``, ``data_files``, ...) into one
row-source opener per split:

* a local folder written by ``datasets.save_to_disk`` -> ``datasets.load_from_disk``;
* a local folder in Hub layout (``data/train-00000-of-00002.parquet``, ...), a single file, or
  explicit ``data_files`` -> the files ``datasets.load_dataset`` would read, in its order,
  read lazily with pyarrow when they are parquet or Arrow (``engine="auto"``);
* anything else, or ``engine="datasets"`` -> ``datasets.load_dataset`` (memory-mapped Arrow).
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union

from vqaft.datasets._arrow_rows import ArrowFileRows, DatasetRows, ParquetRows, RowSource
from vqaft.datasets._row_adapter import SplitFactories
from vqaft.errors import ConfigError, DatasetError

__all__ = [
    "DataFiles",
    "Engine",
    "PathLike",
    "expand_files",
    "hf_split_factories",
    "normalise_data_files",
]

Engine = Literal["auto", "pyarrow", "datasets"]
"""How to read local parquet/Arrow data: ``"auto"`` and ``"pyarrow"`` read the files lazily
with pyarrow; ``"datasets"`` goes through ``datasets.load_dataset`` as for a hub id."""

PathLike = Union[str, "os.PathLike[str]"]
DataFiles = Union[  # noqa: UP007
    PathLike, Sequence[PathLike], Mapping[str, Union[PathLike, Sequence[PathLike]]]  # noqa: UP007
]
"""One file or pattern, a list of them (split ``train``), or ``{split: file(s)}``."""

_ENGINES = ("auto", "pyarrow", "datasets")
_BUILDERS = {".parquet": "parquet", ".arrow": "arrow", ".jsonl": "json", ".json": "json"}
_BUILDERS.update({".csv": "csv", ".tsv": "csv"})


def normalise_data_files(data_files: DataFiles | None) -> dict[str, list[str]] | None:
    """``data_files`` as ``{split: [file or pattern, ...]}`` (a bare file or list -> ``train``).

    >>> normalise_data_files("a.parquet")
    {'train': ['a.parquet']}
    """
    if data_files is None:
        return None
    if isinstance(data_files, (str, os.PathLike)):
        return {"train": [_path_text(data_files)]}
    if isinstance(data_files, Mapping):
        result: dict[str, list[str]] = {}
        for split, files in data_files.items():
            if not isinstance(split, str) or not split:
                raise ConfigError(f"split names must be non-empty strings, got {split!r}")
            if isinstance(files, (str, os.PathLike)):
                result[split] = [_path_text(files)]
            else:
                result[split] = [_path_text(f) for f in files]
            if not result[split]:
                raise ConfigError(f"no files given for split {split!r}")
        if not result:
            raise ConfigError("no splits given", hint="pass {split: file(s)}")
        return result
    listed = [_path_text(f) for f in data_files]
    if not listed:
        raise ConfigError("no files given")
    return {"train": listed}


def _path_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        text = os.fspath(value)
        if isinstance(text, str):
            return text
    raise ConfigError(f"expected a file path, got {value!r}", hint="pass str or pathlib.Path")


def expand_files(patterns: Sequence[str], *, split: str, base: Path | None) -> list[Path]:
    """Resolve files (relative to ``base``) and glob patterns (matches sorted), in order given.

    Raises:
        DatasetError: a file does not exist or a pattern matches nothing.
    """
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if glob.has_magic(str(path)):
            matches = sorted(Path(m) for m in glob.glob(str(path), recursive=True))
            if not matches:
                raise DatasetError(
                    f"split {split!r}: pattern matches no file",
                    file=str(path),
                    hint="check the pattern",
                )
            found.extend(matches)
        elif path.is_file():
            found.append(path)
        else:
            raise DatasetError(
                f"split {split!r}: data file not found", file=str(path), hint="check the path"
            )
    return found


def _split_factory(files: list[Path], split: str, cache_row_groups: int) -> RowSource:
    suffixes = {f.suffix.lower() for f in files}
    if suffixes == {".arrow"}:
        return ArrowFileRows(files, split=split)
    return ParquetRows(files, split=split, cache_row_groups=cache_row_groups)


def _lazy_factories(files: dict[str, list[Path]], cache_row_groups: int) -> SplitFactories:
    def factory(split: str) -> Callable[[], RowSource]:
        return lambda: _split_factory(files[split], split, cache_row_groups)

    return {split: factory(split) for split in files}


def _readable_by_pyarrow(files: dict[str, list[Path]]) -> bool:
    for paths in files.values():
        suffixes = {p.suffix.lower() for p in paths}
        if suffixes not in ({".parquet"}, {".arrow"}):
            return False
    return True


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith(("/", "./", "../", "~", "\\"))
        or text.count("/") > 1
        or Path(text).suffix.lower() in _BUILDERS
    )


def hf_split_factories(
    source: PathLike | None,
    *,
    data_files: DataFiles | None = None,
    name: str | None = None,
    revision: str | None = None,
    cache_dir: PathLike | None = None,
    engine: Engine = "auto",
    cache_row_groups: int = 4,
) -> SplitFactories:
    """One opener per split for a hub id, a local folder or file, or explicit data files."""
    if engine not in _ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(_ENGINES)}, got {engine!r}")
    spec = normalise_data_files(data_files)
    cache = None if cache_dir is None else os.fspath(cache_dir)
    local: Path | None = None
    if source is not None:
        candidate = Path(os.fspath(source)).expanduser()
        if candidate.exists():
            local = candidate
        elif _looks_like_path(os.fspath(source)):
            raise DatasetError(
                "dataset not found",
                file=str(candidate),
                hint="check the path, or give a Hugging Face hub id such as 'howard-hou/OCR-VQA'",
            )
    elif spec is None:
        raise ConfigError("give a source (hub id or path) or data_files")

    if local is None and source is not None and not _all_local(spec):
        if engine == "pyarrow":
            raise ConfigError(
                f"engine='pyarrow' reads local files only; {os.fspath(source)!r} is a hub id",
                hint="use engine='auto' or 'datasets', or download the files first",
            )
        loaded = _load_dataset(
            os.fspath(source), name=name, data_files=spec, revision=revision, cache_dir=cache
        )
        return _dataset_factories(loaded, label=os.fspath(source), base_dir=None)

    if revision is not None:
        raise ConfigError(
            "revision applies to hub datasets only", hint="leave revision out for local data"
        )
    if local is not None and local.is_dir() and _is_saved_dataset(local):
        if spec is not None:
            raise ConfigError("data_files cannot be combined with a save_to_disk folder")
        return _dataset_factories(_load_from_disk(local), label=str(local), base_dir=local)

    base: Path | None = None
    if local is not None and local.is_file():
        if spec is not None:
            raise ConfigError(
                "source is a file; pass data_files only with a folder",
                hint="pass data_files alone, or a folder as source",
            )
        spec = {"train": [str(local)]}
    elif local is not None:
        base = local
        if spec is None:
            spec = _builder_data_files(local, name=name)
    if spec is None:  # pragma: no cover - excluded above
        raise ConfigError("no data files")
    files = {
        split: expand_files(patterns, split=split, base=base) for split, patterns in spec.items()
    }

    if engine != "datasets" and _readable_by_pyarrow(files):
        return _lazy_factories(files, cache_row_groups)
    if engine == "pyarrow":
        raise ConfigError(
            "engine='pyarrow' reads parquet and Arrow files only",
            hint="use engine='auto' to read other formats through datasets",
        )
    if local is not None and local.is_dir() and data_files is None:
        loaded = _load_dataset(
            str(local), name=name, data_files=None, revision=None, cache_dir=cache
        )
        return _dataset_factories(loaded, label=str(local), base_dir=local)
    suffixes = {p.suffix.lower() for paths in files.values() for p in paths}
    builders = {_BUILDERS.get(s) for s in suffixes}
    if len(builders) != 1 or None in builders:
        raise ConfigError(
            "cannot tell the data format from the file names: " + ", ".join(sorted(suffixes)),
            hint="use one of " + ", ".join(sorted(_BUILDERS)) + " for all files",
        )
    as_strings = {split: [str(p) for p in paths] for split, paths in files.items()}
    builder = str(builders.pop())
    loaded = _load_dataset(
        builder, name=None, data_files=as_strings, revision=None, cache_dir=cache
    )
    return _dataset_factories(loaded, label=str(local or builder), base_dir=base)


def _all_local(spec: dict[str, list[str]] | None) -> bool:
    if spec is None:
        return False
    return all(_exists_locally(p) for patterns in spec.values() for p in patterns)


def _exists_locally(pattern: str) -> bool:
    expanded = os.path.expanduser(pattern)
    if glob.has_magic(expanded):
        return bool(glob.glob(expanded, recursive=True))
    return Path(expanded).is_file()


def _is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def _builder_data_files(folder: Path, *, name: str | None) -> dict[str, list[str]] | None:
    """The data files ``datasets.load_dataset(folder)`` would read, per split, in its order.

    The builder is only asked for its configuration; its cache folder is a temporary one, so
    nothing (not even a lock file) is left in the user's ``datasets`` cache.
    """
    import datasets

    try:
        with tempfile.TemporaryDirectory(prefix="vqaft-resolve-") as scratch:
            builder = datasets.load_dataset_builder(str(folder), name=name, cache_dir=scratch)
    except Exception as exc:  # datasets raises many types here; report them uniformly
        raise DatasetError(
            f"no dataset found in folder: {type(exc).__name__}: {exc}",
            file=str(folder),
            hint="expected data files such as data/train-00000-of-00001.parquet, or a "
            "save_to_disk folder; or pass data_files={split: [files]}",
        ) from exc
    data_files = builder.config.data_files
    if not data_files:
        return None
    return {str(split): [str(f) for f in files] for split, files in data_files.items()}


def _load_dataset(
    path: str,
    *,
    name: str | None,
    data_files: dict[str, list[str]] | None,
    revision: str | None,
    cache_dir: str | None,
) -> Any:
    import datasets

    try:
        return datasets.load_dataset(
            path, name=name, data_files=data_files, revision=revision, cache_dir=cache_dir
        )
    except Exception as exc:  # network, auth, missing repo, bad files: report uniformly
        raise DatasetError(
            f"datasets.load_dataset failed: {type(exc).__name__}: {exc}",
            file=path,
            hint="check the hub id, revision and your network (or HF_TOKEN for gated data); "
            "or pass a local folder",
        ) from exc


def _load_from_disk(folder: Path) -> Any:
    import datasets

    try:
        return datasets.load_from_disk(str(folder))
    except Exception as exc:  # corrupt state files and the like
        raise DatasetError(
            f"datasets.load_from_disk failed: {type(exc).__name__}: {exc}",
            file=str(folder),
            hint="re-save the dataset with save_to_disk",
        ) from exc


def _dataset_factories(loaded: Any, *, label: str, base_dir: Path | None) -> SplitFactories:
    splits = dict(loaded) if isinstance(loaded, Mapping) else {"train": loaded}

    def factory(split: str) -> Callable[[], RowSource]:
        return lambda: DatasetRows(splits[split], split=split, label=label, base_dir=base_dir)

    return {str(split): factory(split) for split in splits}
