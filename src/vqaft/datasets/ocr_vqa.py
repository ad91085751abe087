"""The ``ocr-vqa`` adapter: OCR-VQA book covers in the Hugging Face layout.

Each row of ``howard-hou/OCR-VQA`` is one cover image with a list of questions and the list of
their answers. The adapter yields one :class:`~vqaft.types.Example` per (question, answer)
pair, ids ``"<image_id>:<k>"``, with the book's title, author, genre and the source row in
``metadata``. Sampling picks whole images exactly as the cookbook's
``ds[split].shuffle(seed=seed).select(range(n))`` does.

>>> adapter = OcrVqaAdapter("path/to/OCR-VQA")  # doctest: +SKIP
>>> adapter.splits()  # doctest: +SKIP
['train', 'validation', 'test']
>>> test = list(adapter.sample("test", 100, seed=42))  # doctest: +SKIP
>>> test[0].id, test[0].question  # doctest: +SKIP
('<image_id>:0', 'Who wrote this book?')
"""

from __future__ import annotations

from vqaft.datasets._explode import RoleSpec
from vqaft.datasets._row_adapter import RowAdapter, SplitFactories
from vqaft.datasets._sources import DataFiles, Engine, PathLike, hf_split_factories
from vqaft.datasets.base import register_dataset
from vqaft.datasets.ocr_vqa_schema import HUB_ID, REQUIRED_COLUMNS

__all__ = ["METADATA_COLUMNS", "OcrVqaAdapter"]

METADATA_COLUMNS = (
    "title",
    "authorName",
    "genre",
    "set_name",
    "image_width",
    "image_height",
    "image_url",
)
"""OCR-VQA columns copied into each example's metadata when the data has them."""

_ROLES = RoleSpec.from_mapping(
    {
        "question": "questions",
        "answer": "answers",
        "image": "image",
        "image_id": "image_id",
        "id": None,
    },
    what="column",
)

_MISSING_HINT = (
    "the ocr-vqa adapter expects the Hugging Face OCR-VQA layout ("
    + ", ".join(REQUIRED_COLUMNS)
    + "); for other layouts use the 'hf' or 'parquet' adapter with columns={role: column}"
)


@register_dataset("ocr-vqa")
class OcrVqaAdapter(RowAdapter):
    """OCR-VQA from the Hugging Face hub, a local copy, explicit files or a saved dataset.

    Args:
        source: a hub id (default ``howard-hou/OCR-VQA``, loaded with ``datasets.load_dataset``
            into its memory-mapped cache), a local folder in hub layout
            (``data/train-00000-of-00002.parquet``, ...; shards read in the order
            ``datasets.load_dataset`` reads them), a single parquet/Arrow file (split
            ``train``), or a ``datasets.save_to_disk`` folder. ``None`` with ``data_files``.
        data_files: explicit files or glob patterns per split (``{"train": [...], ...}``);
            relative to ``source`` when it is a folder.
        revision: hub revision (branch, tag or commit) to pin the data to.
        cache_dir: ``datasets`` cache folder.
        engine: ``"auto"`` reads local parquet/Arrow lazily with pyarrow and hub ids with
            ``datasets``; ``"datasets"`` always uses ``datasets.load_dataset``; ``"pyarrow"``
            refuses anything that needs ``datasets``.
        cache_row_groups: parquet row groups kept in memory for random access.

    Nothing is read until the first call; local parquet is then read row group by row group
    (projected columns only), so memory stays small even for the 166k-image train split.

    Bad rows (question and answer lists of different lengths, empty or non-string questions
    or answers, a missing image or image id) raise :class:`~vqaft.errors.DatasetError` naming
    the split, file, row and image id, or are skipped and listed with ``on_error="skip"``.
    """

    def __init__(
        self,
        source: PathLike | None = HUB_ID,
        *,
        data_files: DataFiles | None = None,
        revision: str | None = None,
        cache_dir: PathLike | None = None,
        engine: Engine = "auto",
        cache_row_groups: int = 4,
    ) -> None:
        super().__init__(
            _ROLES,
            metadata_columns=METADATA_COLUMNS,
            optional_metadata=True,
            missing_hint=_MISSING_HINT,
        )
        self.source = source
        self.data_files = data_files
        self.revision = revision
        self.cache_dir = cache_dir
        self.engine = engine
        self.cache_row_groups = cache_row_groups

    def __repr__(self) -> str:
        return f"OcrVqaAdapter(source={self.source!r}, engine={self.engine!r})"

    def _open_splits(self) -> SplitFactories:
        return hf_split_factories(
            self.source,
            data_files=self.data_files,
            revision=self.revision,
            cache_dir=self.cache_dir,
            engine=self.engine,
            cache_row_groups=self.cache_row_groups,
        )
