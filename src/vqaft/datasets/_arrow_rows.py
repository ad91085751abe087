"""Lazy, random-access readers of image rows from parquet files, Arrow files and ``datasets``.

Each reader (a *row source*) knows how many rows a split has and which columns it holds, and
reads only the rows and columns asked for:

* :class:`ParquetRows` reads parquet footers up front, then whole *row groups* of the projected
  columns on demand, keeping a few in a small LRU cache. A full pass streams record batches,
  so memory stays bounded by a row group (or a batch), never by the file.
* :class:`ArrowFileRows` memory-maps Arrow IPC files (``datasets`` cache files, stream or file
  format): rows are gathered from the map without reading the rest.
* :class:`DatasetRows` wraps a ``datasets.Dataset`` (itself memory-mapped) and gathers rows
  through its public indexing in Arrow format, so images are never decoded.

Rows come back as :class:`~vqaft.datasets._explode.RawRow` objects, in the order asked for.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vqaft.datasets._explode import RawRow
from vqaft.errors import DatasetError

__all__ = [
    "CHUNK_ROWS",
    "ArrowFileRows",
    "DatasetRows",
    "ParquetRows",
    "RowSource",
    "missing_columns_error",
]

CHUNK_ROWS = 64
"""Rows gathered per step; bounds the rows held in Python at once."""


class RowSource(Protocol):
    """What an adapter needs from the reader of one split."""

    label: str
    """Names the data in messages (a file, a directory or a hub id)."""

    def __len__(self) -> int: ...

    def file_columns(self) -> list[tuple[str, list[str]]] | None:
        """``(file, column names)`` for each file; ``None`` for schemaless data (JSONL)."""
        ...

    def rows(self, indices: Sequence[int] | None, columns: Sequence[str]) -> Iterator[RawRow]:
        """Yield rows ``indices`` (all rows, in order, for ``None``) with only ``columns``."""
        ...


def missing_columns_error(
    *, split: str, file: str, missing: Sequence[str], present: Sequence[str], hint: str
) -> DatasetError:
    """The error for a table without the columns an adapter needs."""
    return DatasetError(
        f"split {split!r}: missing required column(s) {', '.join(missing)} "
        f"(columns present: {', '.join(present) if present else 'none'})",
        file=file,
        hint=hint,
    )


def _chunks(indices: Iterable[int], size: int) -> Iterator[list[int]]:
    iterator = iter(indices)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class _GroupedRows:
    """Rows stored in consecutive groups (row groups, or whole files), gathered group by group."""

    label: str

    def __init__(self, files: Sequence[Path], split: str) -> None:
        if not files:
            raise DatasetError(f"split {split!r} has no data files", hint="name at least one file")
        self.files = list(files)
        self.split = split
        self.label = str(files[0]) if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)"
        self._names: list[list[str]] = []
        self._group_starts = np.zeros(1, dtype=np.int64)
        self._group_file: list[int] = []

    def _set_groups(self, sizes: Sequence[int], owners: Sequence[int]) -> None:
        self._group_starts = np.concatenate([[0], np.cumsum(np.asarray(sizes, dtype=np.int64))])
        self._group_file = list(owners)

    def __len__(self) -> int:
        return int(self._group_starts[-1])

    def file_columns(self) -> list[tuple[str, list[str]]] | None:
        return [(str(path), names) for path, names in zip(self.files, self._names, strict=True)]

    def _group_table(self, group: int, columns: list[str]) -> pa.Table:
        raise NotImplementedError

    def _stream(self, file_index: int, columns: list[str]) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def rows(self, indices: Sequence[int] | None, columns: Sequence[str]) -> Iterator[RawRow]:
        cols = list(columns)
        if indices is None:
            index = 0
            for file_index, path in enumerate(self.files):
                for batch in self._stream(file_index, cols):
                    for values in batch.to_pylist():
                        yield RawRow(
                            index=index, file=str(path), values=values, base_dir=path.parent
                        )
                        index += 1
            return
        for chunk in _chunks(indices, CHUNK_ROWS):
            wanted = np.asarray(chunk, dtype=np.int64)
            groups = np.searchsorted(self._group_starts, wanted, side="right") - 1
            gathered: list[dict[str, Any]] = [{} for _ in chunk]
            for group in dict.fromkeys(groups.tolist()):
                positions = np.flatnonzero(groups == group)
                local = wanted[positions] - self._group_starts[group]
                table = self._group_table(group, cols).take(pa.array(local))
                for position, values in zip(positions.tolist(), table.to_pylist(), strict=True):
                    gathered[position] = values
            for index, group, values in zip(chunk, groups.tolist(), gathered, strict=True):
                path = self.files[self._group_file[group]]
                yield RawRow(index=index, file=str(path), values=values, base_dir=path.parent)


class ParquetRows(_GroupedRows):
    """The rows of one split stored in parquet files (shards read in the order given).

    Opening reads only the footers. Random access reads the projected columns of one row group
    at a time and keeps the last ``cache_row_groups`` of them; ``row_groups_read`` counts reads.
    """

    def __init__(self, files: Sequence[Path], *, split: str, cache_row_groups: int = 4) -> None:
        super().__init__(files, split)
        self.cache_row_groups = max(1, cache_row_groups)
        self.row_groups_read = 0
        self._metadata: list[pq.FileMetaData] = []
        self._cache: OrderedDict[tuple[int, tuple[str, ...]], pa.Table] = OrderedDict()
        self._row_group_of: list[int] = []
        sizes: list[int] = []
        owners: list[int] = []
        for file_index, path in enumerate(self.files):
            try:
                with pq.ParquetFile(path) as parquet:
                    metadata = parquet.metadata
                    names = list(parquet.schema_arrow.names)
            except (OSError, pa.ArrowException) as exc:
                raise DatasetError(
                    f"split {split!r}: cannot read parquet file: {exc}",
                    file=str(path),
                    hint="check that the file exists and is a complete parquet file "
                    "(re-download a truncated shard)",
                ) from exc
            self._metadata.append(metadata)
            self._names.append(names)
            for row_group in range(metadata.num_row_groups):
                sizes.append(metadata.row_group(row_group).num_rows)
                owners.append(file_index)
                self._row_group_of.append(row_group)
        self._set_groups(sizes, owners)

    def _open(self, file_index: int) -> pq.ParquetFile:
        return pq.ParquetFile(self.files[file_index], metadata=self._metadata[file_index])

    def _group_table(self, group: int, columns: list[str]) -> pa.Table:
        key = (group, tuple(columns))
        table = self._cache.get(key)
        if table is not None:
            self._cache.move_to_end(key)
            return table
        file_index = self._group_file[group]
        try:
            with self._open(file_index) as parquet:
                table = parquet.read_row_group(
                    self._row_group_of[group], columns=columns, use_threads=False
                )
        except (OSError, pa.ArrowException) as exc:
            raise self._read_error(file_index, exc) from exc
        self.row_groups_read += 1
        self._cache[key] = table
        while len(self._cache) > self.cache_row_groups:
            self._cache.popitem(last=False)
        return table

    def _stream(self, file_index: int, columns: list[str]) -> Iterator[pa.RecordBatch]:
        try:
            with self._open(file_index) as parquet:
                yield from parquet.iter_batches(batch_size=CHUNK_ROWS, columns=columns)
        except (OSError, pa.ArrowException) as exc:
            raise self._read_error(file_index, exc) from exc

    def _read_error(self, file_index: int, exc: Exception) -> DatasetError:
        return DatasetError(
            f"split {self.split!r}: cannot read parquet data: {exc}",
            file=str(self.files[file_index]),
            hint="the file may be truncated or corrupt; re-download or re-export it",
        )


class ArrowFileRows(_GroupedRows):
    """The rows of one split stored in Arrow IPC files, memory-mapped (nothing read up front)."""

    def __init__(self, files: Sequence[Path], *, split: str) -> None:
        super().__init__(files, split)
        self._tables: list[pa.Table] = []
        for path in self.files:
            table = _map_arrow_file(path, split)
            self._tables.append(table)
            self._names.append(list(table.column_names))
        self._set_groups([t.num_rows for t in self._tables], range(len(self._tables)))

    def _group_table(self, group: int, columns: list[str]) -> pa.Table:
        return self._tables[group].select(columns)

    def _stream(self, file_index: int, columns: list[str]) -> Iterator[pa.RecordBatch]:
        yield from self._tables[file_index].select(columns).to_batches(max_chunksize=CHUNK_ROWS)


def _map_arrow_file(path: Path, split: str) -> pa.Table:
    """Memory-map an Arrow IPC file (stream format, as ``datasets`` writes, or file format)."""
    try:
        source = pa.memory_map(str(path), "r")
    except OSError as exc:
        raise DatasetError(
            f"split {split!r}: cannot open Arrow file: {exc.strerror or exc}",
            file=str(path),
            hint="check the path",
        ) from exc
    try:
        return pa.ipc.open_stream(source).read_all()
    except pa.ArrowInvalid:
        source.seek(0)
    try:
        return pa.ipc.open_file(source).read_all()
    except pa.ArrowInvalid as exc:
        raise DatasetError(
            f"split {split!r}: not an Arrow IPC file: {exc}",
            file=str(path),
            hint="pass parquet or Arrow files (as written by datasets or pyarrow)",
        ) from exc


class DatasetRows:
    """The rows of one ``datasets.Dataset`` split, read in Arrow format (images not decoded)."""

    def __init__(
        self, dataset: Any, *, split: str, label: str, base_dir: Path | None = None
    ) -> None:
        self.dataset = dataset
        self.split = split
        self.label = label
        self.base_dir = base_dir

    def __len__(self) -> int:
        return int(self.dataset.num_rows)

    def file_columns(self) -> list[tuple[str, list[str]]] | None:
        return [(self.label, list(self.dataset.column_names))]

    def rows(self, indices: Sequence[int] | None, columns: Sequence[str]) -> Iterator[RawRow]:
        view = self.dataset.select_columns(list(columns)).with_format("arrow")
        if indices is None:
            start = 0
            for table in view.iter(batch_size=CHUNK_ROWS):
                for offset, values in enumerate(table.to_pylist()):
                    yield self._raw(start + offset, values)
                start += table.num_rows
            return
        for chunk in _chunks(indices, CHUNK_ROWS):
            for index, values in zip(chunk, view[chunk].to_pylist(), strict=True):
                yield self._raw(index, values)

    def _raw(self, index: int, values: dict[str, Any]) -> RawRow:
        return RawRow(index=index, file=self.label, values=values, base_dir=self.base_dir)
