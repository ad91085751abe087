"""The DatasetAdapter protocol, its registry, and cookbook-parity sampling.

An adapter reads one dataset and yields :class:`~vqaft.types.Example` objects lazily, one per
(question, answer) pair, grouped by image: all questions about one image come out together,
in order, with ids ``"<image_id>:<k>"``.

Rows are *images*: ``num_images(split)`` counts them and ``examples(split, rows=[...])``
yields the examples of exactly those image rows, in the order given. Sampling therefore works
by image, never by QA pair, so no image can land in two splits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

from vqaft._registry import Registry
from vqaft.types import Example

__all__ = [
    "DatasetAdapter",
    "OnError",
    "SamplingMixin",
    "SkippedItem",
    "dataset_adapters",
    "few_shot_examples",
    "load_adapter",
    "register_dataset",
    "sample_rows",
]

OnError = Literal["raise", "skip"]
"""What to do with a bad row or image: raise a clear error, or skip it and record why."""


class SkippedItem(BaseModel):
    """A row, example or image that was skipped under ``on_error="skip"``, and why."""

    model_config = ConfigDict(frozen=True)

    reason: str
    split: str | None = None
    row: int | None = None
    example_id: str | None = None
    file: str | None = None
    line: int | None = None


@runtime_checkable
class DatasetAdapter(Protocol):
    """What vqaft needs from a dataset. Implement these methods; inherit nothing.

    ``examples`` must be lazy (a generator): nothing may require the whole dataset in memory.
    With ``on_error="skip"`` a bad row is appended to ``skipped`` (when given) instead of
    raising :class:`~vqaft.errors.DatasetError`.
    """

    def splits(self) -> list[str]:
        """Names of the available splits (e.g. ``["train", "validation", "test"]``)."""
        ...

    def num_images(self, split: str) -> int:
        """Number of image rows in ``split``."""
        ...

    def examples(
        self,
        split: str,
        rows: Sequence[int] | None = None,
        *,
        on_error: OnError = "raise",
        skipped: list[SkippedItem] | None = None,
    ) -> Iterator[Example]:
        """Yield the examples of ``split`` (only image rows ``rows``, in that order, if given)."""
        ...

    def sample(
        self,
        split: str,
        n_images: int,
        seed: int,
        *,
        on_error: OnError = "raise",
        skipped: list[SkippedItem] | None = None,
    ) -> Iterator[Example]:
        """Yield the examples of ``n_images`` images, as ``shuffle(seed).select(range(n))``."""
        ...


def sample_rows(num_rows: int, n_images: int, seed: int) -> list[int]:
    """The row indices that ``datasets``' ``ds.shuffle(seed=seed).select(range(n_images))`` picks.

    ``datasets.Dataset.shuffle`` draws ``np.random.default_rng(seed).permutation(len(ds))``;
    this reproduces it exactly, so a vqaft sample of the real OCR-VQA equals the cookbook's.

    >>> sample_rows(10, 3, seed=42)
    [5, 6, 0]
    """
    if n_images < 0:
        raise ValueError("n_images must be >= 0")
    if n_images > num_rows:
        from vqaft.errors import ConfigError

        raise ConfigError(
            f"asked for {n_images} images but the split has only {num_rows}",
            hint="lower the sample size",
        )
    permutation = np.random.default_rng(seed).permutation(num_rows)
    return [int(i) for i in permutation[:n_images]]


def few_shot_examples(adapter: DatasetAdapter, k: int, *, n_train: int, seed: int) -> list[Example]:
    """One question from each of ``k`` training images just past a training sample of ``n_train``.

    The shuffle that picks the training images continues past them, so few-shot images never
    repeat a training image and the choice is reproducible for a seed.
    """
    if k <= 0:
        return []
    rows = sample_rows(adapter.num_images("train"), n_train + k, seed)[n_train:]
    chosen: dict[str, Example] = {}
    for example in adapter.examples("train", rows):
        chosen.setdefault(example.image_id, example)
    return list(chosen.values())


class SamplingMixin:
    """Supplies :meth:`DatasetAdapter.sample` from ``num_images`` and ``examples``."""

    def sample(
        self: _HasRows,
        split: str,
        n_images: int,
        seed: int,
        *,
        on_error: OnError = "raise",
        skipped: list[SkippedItem] | None = None,
    ) -> Iterator[Example]:
        rows = sample_rows(self.num_images(split), n_images, seed)
        return self.examples(split, rows, on_error=on_error, skipped=skipped)


class _HasRows(Protocol):
    def num_images(self, split: str) -> int: ...

    def examples(
        self,
        split: str,
        rows: Sequence[int] | None = None,
        *,
        on_error: OnError = "raise",
        skipped: list[SkippedItem] | None = None,
    ) -> Iterator[Example]: ...


dataset_adapters: Registry[Callable[..., DatasetAdapter]] = Registry(
    "dataset adapter", "vqaft.datasets", check=callable
)
"""Registry of dataset adapter factories (usually classes), entry-point group ``vqaft.datasets``."""

register_dataset = dataset_adapters.register
"""Decorator: ``@register_dataset("name")`` registers an adapter class or factory."""


def load_adapter(name: str, **kwargs: object) -> DatasetAdapter:
    """Create the adapter registered as ``name`` with ``kwargs``.

    >>> adapter = load_adapter("synthetic-covers", seed=0)  # doctest: +SKIP
    """
    return dataset_adapters.get(name)(**kwargs)
