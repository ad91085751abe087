"""The machinery every table-like adapter shares: splits -> row sources -> examples.

A concrete adapter only says where each split's rows come from (:meth:`RowAdapter._open_splits`)
and which columns play which role; this base class checks the schema, validates requested
rows, applies the ``on_error`` policy and explodes rows with :func:`explode_row`.
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from vqaft.datasets._arrow_rows import RowSource, missing_columns_error
from vqaft.datasets._explode import (
    RESERVED_METADATA_KEYS,
    ErrorSink,
    Roles,
    RoleSpec,
    explode_row,
)
from vqaft.datasets.base import OnError, SamplingMixin, SkippedItem
from vqaft.errors import ConfigError, DatasetError
from vqaft.types import Example

__all__ = ["RowAdapter", "SplitFactories"]

SplitFactories = dict[str, Callable[[], RowSource]]
"""Split name -> a function opening that split's rows (called once, on first use)."""


@dataclass(frozen=True)
class _Prepared:
    source: RowSource
    roles: Roles | None  # None: resolved per row (schemaless JSONL)
    metadata: tuple[str, ...]
    columns: tuple[str, ...]


class RowAdapter(SamplingMixin):
    """Private base class of the OCR-VQA, HF, parquet and JSONL adapters."""

    def __init__(
        self,
        roles: RoleSpec,
        *,
        metadata_columns: Sequence[str] = (),
        optional_metadata: bool = False,
        only_splits: Sequence[str] | None = None,
        missing_hint: str,
        field_word: str = "column",
    ) -> None:
        reserved = [c for c in metadata_columns if c in RESERVED_METADATA_KEYS]
        if reserved:
            raise ConfigError(
                f"metadata {field_word}(s) {', '.join(map(repr, reserved))} clash with the "
                f"keys vqaft fills itself ({', '.join(RESERVED_METADATA_KEYS)})",
                hint="rename the column or leave it out of the metadata",
            )
        self._roles = roles
        self._metadata_columns = tuple(dict.fromkeys(metadata_columns))
        self._optional_metadata = optional_metadata
        self._only_splits = None if only_splits is None else list(only_splits)
        self._missing_hint = missing_hint
        self._field_word = field_word
        self._factories: SplitFactories | None = None
        self._prepared: dict[str, _Prepared] = {}

    # -- to be supplied by subclasses ----------------------------------------------------------

    def _open_splits(self) -> SplitFactories:
        raise NotImplementedError

    # -- DatasetAdapter ------------------------------------------------------------------------

    def splits(self) -> list[str]:
        """Names of the available splits, in the dataset's order."""
        return list(self._split_factories())

    def num_images(self, split: str) -> int:
        """Number of image rows in ``split`` (for parquet: read from the footers only)."""
        return len(self._prepare(split).source)

    def examples(
        self,
        split: str,
        rows: Sequence[int] | None = None,
        *,
        on_error: OnError = "raise",
        skipped: list[SkippedItem] | None = None,
    ) -> Iterator[Example]:
        """Yield the examples of ``split`` (of image rows ``rows`` only, in that order).

        The split, the schema and ``rows`` are checked when this is called; rows are read and
        validated lazily as the iterator advances.

        Raises:
            DatasetError: unknown split, missing columns, unreadable files; bad rows too unless
                ``on_error="skip"`` (then they are appended to ``skipped``).
            ConfigError: a row index out of range, or a bad ``on_error``.
        """
        prepared = self._prepare(split)
        sink = ErrorSink(on_error, skipped, split)
        indices = None if rows is None else _check_rows(rows, len(prepared.source), split)
        return self._generate(prepared, indices, sink, split)

    # -- internals -----------------------------------------------------------------------------

    def _split_factories(self) -> SplitFactories:
        if self._factories is None:
            factories = self._open_splits()
            if self._only_splits is not None:
                for name in self._only_splits:
                    if name not in factories:
                        raise _unknown_split(name, list(factories))
                factories = {name: factories[name] for name in self._only_splits}
            self._factories = factories
        return self._factories

    def _prepare(self, split: str) -> _Prepared:
        prepared = self._prepared.get(split)
        if prepared is not None:
            return prepared
        factories = self._split_factories()
        if split not in factories:
            raise _unknown_split(split, list(factories))
        source = factories[split]()
        per_file = source.file_columns()
        if per_file is None:
            prepared = _Prepared(source, None, self._metadata_columns, ())
        else:
            prepared = self._check_schema(split, source, per_file)
        self._prepared[split] = prepared
        return prepared

    def _check_schema(
        self, split: str, source: RowSource, per_file: list[tuple[str, list[str]]]
    ) -> _Prepared:
        union = list(dict.fromkeys(name for _, names in per_file for name in names))
        roles, missing = self._roles.resolve(union)
        if roles is None:
            file, present = per_file[0]
            raise missing_columns_error(
                split=split, file=file, missing=missing, present=present, hint=self._missing_hint
            )
        metadata = self._metadata_columns
        if self._optional_metadata:
            metadata = tuple(c for c in metadata if all(c in names for _, names in per_file))
        columns = tuple(dict.fromkeys([*roles.columns(), *metadata]))
        for file, names in per_file:
            absent = [repr(c) for c in columns if c not in names]
            if absent:
                raise missing_columns_error(
                    split=split, file=file, missing=absent, present=names, hint=self._missing_hint
                )
        return _Prepared(source, roles, metadata, columns)

    def _generate(
        self, prepared: _Prepared, indices: list[int] | None, sink: ErrorSink, split: str
    ) -> Iterator[Example]:
        for raw in prepared.source.rows(indices, prepared.columns):
            if raw.problem is not None:
                sink.report(raw.problem)
                continue
            roles = prepared.roles
            if roles is None:
                present = list(raw.values or {})
                roles, missing = self._roles.resolve(present)
                if roles is None:
                    sink.report(
                        DatasetError(
                            f"split {split!r}: missing {self._field_word}(s) "
                            f"{', '.join(missing)} ({self._field_word}s present: "
                            f"{', '.join(present) if present else 'none'})",
                            file=raw.file,
                            line=raw.line,
                            row=raw.index,
                            hint=self._missing_hint,
                        )
                    )
                    continue
            yield from explode_row(
                raw, roles, split=split, metadata_columns=prepared.metadata, sink=sink
            )


def _unknown_split(split: str, available: list[str]) -> DatasetError:
    close = difflib.get_close_matches(split, available, n=1) or [
        name for name in available if split and (name.startswith(split) or split.startswith(name))
    ]
    hint = "available splits: " + (", ".join(available) if available else "none")
    if close:
        hint = f"did you mean {close[0]!r}? {hint}"
    return DatasetError(f"unknown split {split!r}", hint=hint)


def _check_rows(rows: Sequence[int], num_rows: int, split: str) -> list[int]:
    checked: list[int] = []
    for row in rows:
        if isinstance(row, bool):
            raise ConfigError(f"row indices must be integers, got {row!r}")
        try:
            index = operator.index(row)
        except TypeError:
            raise ConfigError(f"row indices must be integers, got {row!r}") from None
        if not 0 <= index < num_rows:
            raise ConfigError(
                f"row {index} is out of range for split {split!r} ({num_rows} rows)",
                hint=f"use row indices from 0 to {num_rows - 1}",
            )
        checked.append(index)
    return checked
