"""Generic adapters for your own data: any ``datasets`` dataset, parquet files, JSONL files.

All three yield the same :class:`~vqaft.types.Example` objects as the OCR-VQA adapter, read
lazily, and share its row rules. Tell them which column (or JSON field) plays which role:

* ``question``: a string (one example per row) or a list of strings (one example per entry;
  then ``answer`` must be a list of the same length);
* ``answer``: a string, or a list of acceptable answers (the first is the training target);
* ``image``: a ``datasets`` Image value (``{"bytes", "path"}``), bytes, a file path (relative
  paths are resolved against the data file), an ``http(s)://`` URL (kept as a URL), a ``data:``
  URL or raw base64;
* ``image_id`` (optional): default ``"<split>-<row>"``;
* ``id`` (optional): default ``"<image_id>:<k>"`` for the k-th question of the row; with a
  question list, give a list of ids (one per question) or one id per row (then
  ``"<id>:<k>"``). With one question per row and no ``id``, rows that share an ``image_id``
  would share example ids: give an ``id`` column then.

Unnamed roles use the default names ``question``/``questions``, ``answer``/``answers``,
``image``, ``image_id`` and ``id`` when the data has them.

>>> adapter = JsonlAdapter({"test": "qa.jsonl"})  # doctest: +SKIP
>>> adapter = ParquetAdapter({"train": "train-*.parquet"},
...                          columns={"question": "prompt", "answer": "label"})  # doctest: +SKIP
>>> adapter = HFDatasetAdapter("lmms-lab/DocVQA", columns={"answer": "answers"})  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from vqaft.datasets._arrow_rows import ParquetRows, RowSource
from vqaft.datasets._explode import RoleSpec
from vqaft.datasets._jsonl_rows import JsonlRows
from vqaft.datasets._row_adapter import RowAdapter, SplitFactories
from vqaft.datasets._sources import (
    DataFiles,
    Engine,
    PathLike,
    expand_files,
    hf_split_factories,
    normalise_data_files,
)
from vqaft.datasets.base import register_dataset
from vqaft.errors import ConfigError

__all__ = ["HFDatasetAdapter", "JsonlAdapter", "ParquetAdapter"]

ColumnMap = Mapping[str, "str | None"]
"""``{role: column}``: roles ``question``, ``answer``, ``image``, ``image_id``, ``id``."""

_COLUMNS_HINT = (
    "map roles to columns, e.g. columns={'question': 'q', 'answer': 'a', 'image': 'img'}"
)
_FIELDS_HINT = (
    "each line needs question, answer (or answers) and image fields; "
    "map other names with fields={'question': ..., 'answer': ..., 'image': ...}"
)


def _file_spec(files: DataFiles) -> dict[str, list[str]]:
    spec = normalise_data_files(files)
    if spec is None:  # pragma: no cover - normalise_data_files returns None only for None
        raise ConfigError("no files given")
    return spec


@register_dataset("hf")
class HFDatasetAdapter(RowAdapter):
    """Any ``datasets`` dataset (hub id, local folder, files, or ``save_to_disk`` folder).

    Args:
        source: hub id or local path (see :class:`~vqaft.datasets.ocr_vqa.OcrVqaAdapter`).
        columns: ``{role: column}``; unnamed roles use the default names.
        splits: expose only these splits (in this order); default all.
        data_files: explicit files or patterns per split.
        name: the dataset configuration (``datasets``' ``name``).
        revision: hub revision to pin.
        cache_dir: ``datasets`` cache folder.
        engine: ``"auto"``, ``"pyarrow"`` or ``"datasets"`` (see ``OcrVqaAdapter``).
        metadata_columns: columns copied into each example's ``metadata`` (JSON-ready).
        cache_row_groups: parquet row groups kept in memory for random access.
    """

    def __init__(
        self,
        source: PathLike | None,
        *,
        columns: ColumnMap | None = None,
        splits: Sequence[str] | None = None,
        data_files: DataFiles | None = None,
        name: str | None = None,
        revision: str | None = None,
        cache_dir: PathLike | None = None,
        engine: Engine = "auto",
        metadata_columns: Sequence[str] = (),
        cache_row_groups: int = 4,
    ) -> None:
        super().__init__(
            RoleSpec.from_mapping(columns, what="column"),
            metadata_columns=metadata_columns,
            only_splits=splits,
            missing_hint=_COLUMNS_HINT,
        )
        self.source = source
        self.data_files = data_files
        self.name = name
        self.revision = revision
        self.cache_dir = cache_dir
        self.engine = engine
        self.cache_row_groups = cache_row_groups

    def __repr__(self) -> str:
        return f"HFDatasetAdapter(source={self.source!r}, engine={self.engine!r})"

    def _open_splits(self) -> SplitFactories:
        return hf_split_factories(
            self.source,
            data_files=self.data_files,
            name=self.name,
            revision=self.revision,
            cache_dir=self.cache_dir,
            engine=self.engine,
            cache_row_groups=self.cache_row_groups,
        )


@register_dataset("parquet")
class ParquetAdapter(RowAdapter):
    """Parquet files per split, read lazily with pyarrow (row groups, projected columns).

    Args:
        files: ``{split: file(s) or glob pattern(s)}`` (or one file / list: split ``train``);
            patterns expand in sorted order, lists keep their order.
        columns: ``{role: column}``; unnamed roles use the default names.
        metadata_columns: columns copied into each example's ``metadata``.
        cache_row_groups: row groups kept in memory for random access.

    Raises:
        DatasetError: a file does not exist (checked at once; contents are read on first use).
    """

    def __init__(
        self,
        files: DataFiles,
        *,
        columns: ColumnMap | None = None,
        metadata_columns: Sequence[str] = (),
        cache_row_groups: int = 4,
    ) -> None:
        super().__init__(
            RoleSpec.from_mapping(columns, what="column"),
            metadata_columns=metadata_columns,
            missing_hint=_COLUMNS_HINT,
        )
        self.files = {
            split: expand_files(patterns, split=split, base=None)
            for split, patterns in _file_spec(files).items()
        }
        self.cache_row_groups = cache_row_groups

    def __repr__(self) -> str:
        return f"ParquetAdapter(splits={list(self.files)!r})"

    def _open_splits(self) -> SplitFactories:
        def opener(split: str) -> Callable[[], RowSource]:
            return lambda: ParquetRows(
                self.files[split], split=split, cache_row_groups=self.cache_row_groups
            )

        return {split: opener(split) for split in self.files}


@register_dataset("jsonl")
class JsonlAdapter(RowAdapter):
    """JSON Lines files per split: one image row (a JSON object) per non-blank line.

    Each object holds ``question`` (string or list), ``answer`` or ``answers``, ``image``
    (path relative to the JSONL file, http(s) URL, data URL or raw base64) and optionally
    ``id`` and ``image_id``. Errors name the file and the 1-based line: invalid JSON, bytes
    that are not UTF-8, missing fields, wrong types.

    Args:
        files: ``{split: file(s) or glob pattern(s)}`` (or one file / list: split ``train``).
        fields: ``{role: field}``; unnamed roles use the default names.
        metadata_fields: fields copied into each example's ``metadata`` (``None`` if absent).

    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> line = {"question": "Who wrote this book?", "answer": "Jane Doe", "image": "c.jpg"}
    >>> _ = (folder / "test.jsonl").write_text(json.dumps(line) + "\\n")
    >>> example = next(JsonlAdapter({"test": folder / "test.jsonl"}).examples("test"))
    >>> example.id, example.answers, example.image.path == str(folder / "c.jpg")
    ('test-0:0', ('Jane Doe',), True)
    """

    def __init__(
        self,
        files: DataFiles,
        *,
        fields: ColumnMap | None = None,
        metadata_fields: Sequence[str] = (),
    ) -> None:
        super().__init__(
            RoleSpec.from_mapping(fields, what="field"),
            metadata_columns=metadata_fields,
            missing_hint=_FIELDS_HINT,
            field_word="field",
        )
        self.files = {
            split: expand_files(patterns, split=split, base=None)
            for split, patterns in _file_spec(files).items()
        }

    def __repr__(self) -> str:
        return f"JsonlAdapter(splits={list(self.files)!r})"

    def _open_splits(self) -> SplitFactories:
        def opener(split: str) -> Callable[[], RowSource]:
            return lambda: JsonlRows(self.files[split], split=split)

        return {split: opener(split) for split in self.files}
