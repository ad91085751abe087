"""Write chat-format JSONL files from example streams, and ``prepare`` a run's data folder.

:func:`write_split` streams examples into one JSONL file (one chat record per line) and a side
file ``<stem>.ids.jsonl`` saying which example each line holds: example ids never enter the
prompts, so this is how they travel to the prediction and evaluation stages.

* Memory stays flat: examples are consumed one by one, and only a bounded number of images
  are in flight at once.
* Each image is encoded once, however many questions it has (consecutive examples of one image
  share the encode; a small cache catches images that come back later), and the encodes are
  spread over a pool of threads (Pillow releases the GIL while it decodes, and while it
  encodes into the in-memory file of :mod:`vqaft.messages._image_save`) while the output
  keeps the input's order. Writing runs on a background thread.
* The manifest records each file's *content digest* (:func:`content_digest`): SHA-256 over
  the file with every image data URL replaced by the URL's own BLAKE2b-256 digest, so each
  image is hashed once, not once per question, and the digest can still be recomputed from
  the file.
* Files appear atomically: they are written under a temporary name and renamed when complete,
  so an interrupted run never leaves a file that looks finished. Rerunning rewrites them.

:func:`prepare` samples the train/validation/test splits of a dataset adapter the way the
cookbook does and writes ``train.jsonl``, ``validation.jsonl``, ``test.jsonl`` (test without
answers) and ``manifest.json``::

    >>> from vqaft import load_adapter
    >>> manifest = prepare(load_adapter("ocr-vqa"), "runs/demo/data")  # doctest: +SKIP
    >>> manifest.splits["train"].examples  # doctest: +SKIP
    721
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import Executor, Future
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from vqaft.datasets.base import DatasetAdapter, OnError, SkippedItem
from vqaft.errors import ConfigError, ImageError
from vqaft.messages._encode_pool import (
    EncodeFailure,
    EncodeOutcome,
    encode_job,
    open_executor,
    resolve_workers,
)
from vqaft.messages._record_lines import RecordLines, json_string_body
from vqaft.messages._record_lines import url_digest as _url_digest
from vqaft.messages._record_writer import RecordWriter
from vqaft.messages.builder import MessageBuilder
from vqaft.messages.images import ImagePolicy, _Encoded
from vqaft.messages.vision_tokens import Detail
from vqaft.types import Example

__all__ = [
    "ANSWER_SPLITS",
    "DEFAULT_SPLITS",
    "MANIFEST_NAME",
    "PrepareManifest",
    "SplitManifest",
    "content_digest",
    "ids_path",
    "prepare",
    "write_split",
]

DEFAULT_SPLITS: Mapping[str, tuple[int | None, int]] = MappingProxyType(
    {"train": (150, 42), "validation": (50, 42), "test": (100, 42)}
)
"""The cookbook's sample: split -> (number of images, seed); ``None`` images means all."""

ANSWER_SPLITS = ("train", "validation")
"""Splits whose files carry the assistant's answer; any other split (test) gets none."""

MANIFEST_NAME = "manifest.json"
"""File name of the manifest :func:`prepare` writes next to the JSONL files."""

_CACHE_SIZE = 32  # encoded images kept for images that come back non-consecutively
_IN_FLIGHT_PER_WORKER = 4  # images queued or being encoded, per worker


class SplitManifest(BaseModel):
    """What :func:`write_split` wrote for one split.

    Attributes:
        split: split name, when known.
        file: the JSONL file's name (it sits next to the manifest).
        ids_file: the side file's name (``<stem>.ids.jsonl``).
        include_answer: whether records end with the assistant's answer.
        images: images written (runs of consecutive examples of one image).
        examples: records (lines) written.
        images_encoded: image encodes actually run (lower than ``images`` when images repeat).
        content_sha256: the JSONL file's content digest (see :func:`content_digest`).
        byte_size: size of the JSONL file in bytes.
        skipped: examples left out under ``on_error="skip"``, with the reason.
        seconds: wall time spent writing.
        requested_images: images asked for by :func:`prepare` (``None``: all).
        seed: sampling seed used by :func:`prepare`.
    """

    model_config = ConfigDict(frozen=True)

    split: str | None = None
    file: str
    ids_file: str
    include_answer: bool
    images: int
    examples: int
    images_encoded: int
    content_sha256: str
    byte_size: int
    skipped: list[SkippedItem] = Field(default_factory=list)
    seconds: float
    requested_images: int | None = None
    seed: int | None = None


class PrepareManifest(BaseModel):
    """The record :func:`prepare` leaves in ``manifest.json``: settings, counts, hashes.

    >>> manifest = PrepareManifest.read("runs/demo/data/manifest.json")  # doctest: +SKIP
    >>> manifest.splits["test"].examples  # doctest: +SKIP
    473
    """

    model_config = ConfigDict(frozen=True)

    vqaft_version: str
    created_at: str
    dataset: dict[str, Any]
    builder: dict[str, Any]
    policy: ImagePolicy
    on_error: OnError
    splits: dict[str, SplitManifest]
    seconds: float

    def summary(self) -> str:
        """A few human-readable lines: one per split, then the total."""
        lines = []
        for name, split in self.splits.items():
            skipped = f", {len(split.skipped)} skipped" if split.skipped else ""
            lines.append(
                f"{name}: {split.examples} examples from {split.images} images -> {split.file} "
                f"({split.byte_size / 1e6:.1f} MB{skipped}, {split.seconds:.1f} s)"
            )
        lines.append(f"done in {self.seconds:.1f} s")
        return "\n".join(lines)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the manifest as indented JSON, atomically."""
        text = self.model_dump_json(indent=2) + "\n"
        with _AtomicFile(Path(path)) as out:
            out.write(text.encode())

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> PrepareManifest:
        """Read a manifest written by :meth:`write`.

        Raises:
            ConfigError: the file is missing or is not a valid manifest.
        """
        try:
            return cls.model_validate_json(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read prepare manifest: {exc}",
                file=str(path),
                hint="run prepare again to rewrite it",
            ) from exc


def ids_path(path: str | os.PathLike[str]) -> Path:
    """The side file for the JSONL file ``path``: ``train.jsonl`` -> ``train.ids.jsonl``.

    >>> ids_path("data/train.jsonl").as_posix()
    'data/train.ids.jsonl'
    """
    path = Path(path)
    return path.with_name(f"{path.stem}.ids.jsonl")


def write_split(
    examples: Iterable[Example],
    path: str | os.PathLike[str],
    *,
    builder: MessageBuilder,
    policy: ImagePolicy | None = None,
    include_answer: bool,
    workers: int | None = None,
    on_error: OnError = "raise",
    skipped: list[SkippedItem] | None = None,
    split: str | None = None,
    progress: bool = False,
    progress_total: int | None = None,
    durable: bool = False,
) -> SplitManifest:
    """Stream ``examples`` into the chat-format JSONL file ``path`` and its ids side file.

    Args:
        examples: the examples, grouped by image (as adapters yield them); consumed lazily.
        path: the JSONL file to write; ``<stem>.ids.jsonl`` is written next to it with one
            line per record: ``line``, ``example_id``, ``image_id``, ``question``, ``answers``,
            ``image_sha256`` (of the source image bytes).
        builder: turns each example into a chat record.
        policy: image encoding settings (default :class:`ImagePolicy`).
        include_answer: end each record with the assistant's answer (train/validation).
        workers: encoding threads; ``1`` encodes in the calling thread, ``None`` uses one per
            available CPU.
        on_error: ``"raise"`` stops at the first bad image with an :class:`ImageError` naming
            its example; ``"skip"`` leaves out every example of a bad image and records them.
        skipped: a list that receives a :class:`SkippedItem` per left-out example.
        split: the split name, recorded in the manifest and in skipped items.
        progress: show a tqdm progress bar (counting images).
        progress_total: number of images expected, for the progress bar.
        durable: flush the file to disk (``fsync``) before renaming it into place, so that it
            survives a power loss too. Off by default: an interrupted or killed process never
            leaves a partial file under the final name either way, and the manifest's
            ``byte_size`` tells a file truncated by a crash of the whole machine.

    Raises:
        ImageError: an image cannot be used and ``on_error="raise"``.

    >>> write_split(examples, "data/train.jsonl", builder=MessageBuilder(),
    ...             include_answer=True)  # doctest: +SKIP
    """
    policy = policy or ImagePolicy()
    n_workers = resolve_workers(workers)
    with open_executor(n_workers) as executor:
        return _write_split(
            examples,
            Path(path),
            builder=builder,
            policy=policy,
            include_answer=include_answer,
            executor=executor,
            in_flight=_IN_FLIGHT_PER_WORKER * n_workers,
            on_error=on_error,
            skipped=skipped,
            split=split,
            progress=progress,
            progress_total=progress_total,
            durable=durable,
        )


def prepare(
    adapter: DatasetAdapter,
    out_dir: str | os.PathLike[str],
    *,
    splits: Mapping[str, tuple[int | None, int]] | None = None,
    builder: MessageBuilder | None = None,
    policy: ImagePolicy | None = None,
    workers: int | None = None,
    on_error: OnError = "raise",
    progress: bool = True,
    answer_splits: Collection[str] = ANSWER_SPLITS,
    dataset_info: Mapping[str, Any] | None = None,
    durable: bool = False,
) -> PrepareManifest:
    """Sample a dataset's splits and write ``<split>.jsonl`` files plus ``manifest.json``.

    Args:
        adapter: the dataset (see :func:`vqaft.load_adapter`).
        out_dir: folder for ``train.jsonl``, ``validation.jsonl``, ``test.jsonl``, their
            ``.ids.jsonl`` side files and ``manifest.json`` (created if missing).
        splits: split -> ``(n_images, seed)``; ``n_images=None`` takes the whole split.
            Default :data:`DEFAULT_SPLITS`, the cookbook's 150/50/100 images with seed 42.
        builder: the message builder (default ``MessageBuilder()``).
        policy: image encoding settings (default ``ImagePolicy()``; the cookbook's are
            ``ImagePolicy.cookbook()``).
        workers: encoding threads shared by all splits; ``None`` = one per available CPU.
        on_error: ``"raise"`` or ``"skip"`` (bad rows and images are listed in the manifest).
        progress: show tqdm progress bars.
        answer_splits: splits whose records include the answer (default train, validation).
        dataset_info: how the dataset was loaded, recorded in the manifest (the CLI passes the
            adapter's registered name and arguments); default: the adapter's class.
        durable: ``fsync`` each file before renaming it into place (see :func:`write_split`).

    Raises:
        ConfigError: a requested split does not exist in the dataset.
        DatasetError: a bad row or image, with ``on_error="raise"``.
    """
    from vqaft import __version__

    started = time.perf_counter()
    chosen = DEFAULT_SPLITS if splits is None else splits
    available = list(adapter.splits())
    missing = [name for name in chosen if name not in available]
    if missing:
        raise ConfigError(
            f"split(s) {', '.join(map(repr, missing))} not in the dataset",
            hint="available splits: " + ", ".join(available),
        )
    builder = builder or MessageBuilder()
    policy = policy or ImagePolicy()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # A manifest vouches for every file next to it: drop the old one before rewriting any, so
    # that an interrupted run leaves no manifest rather than one that no longer matches.
    (out / MANIFEST_NAME).unlink(missing_ok=True)
    n_workers = resolve_workers(workers)
    written: dict[str, SplitManifest] = {}
    with open_executor(n_workers) as executor:
        for name, (n_images, seed) in chosen.items():
            dataset_skipped: list[SkippedItem] = []
            if n_images is None:
                stream = adapter.examples(name, on_error=on_error, skipped=dataset_skipped)
                total = adapter.num_images(name)
            else:
                stream = adapter.sample(
                    name, n_images, seed, on_error=on_error, skipped=dataset_skipped
                )
                total = n_images
            result = _write_split(
                stream,
                out / f"{name}.jsonl",
                builder=builder,
                policy=policy,
                include_answer=name in answer_splits,
                executor=executor,
                in_flight=_IN_FLIGHT_PER_WORKER * n_workers,
                on_error=on_error,
                skipped=None,
                split=name,
                progress=progress,
                progress_total=total,
                durable=durable,
            )
            written[name] = result.model_copy(
                update={
                    "skipped": dataset_skipped + result.skipped,
                    "requested_images": n_images,
                    "seed": None if n_images is None else seed,
                }
            )
    manifest = PrepareManifest(
        vqaft_version=__version__,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        dataset=dict(dataset_info) if dataset_info else {"adapter": _describe(adapter)},
        builder=builder.config(),
        policy=policy,
        on_error=on_error,
        splits=written,
        seconds=round(time.perf_counter() - started, 3),
    )
    manifest.write(out / MANIFEST_NAME)
    return manifest


def _describe(adapter: DatasetAdapter) -> str:
    cls = type(adapter)
    return f"{cls.__module__}.{cls.__qualname__}"


# --------------------------------------------------------------------------------------------
# The streaming writer


@dataclass
class _Group:
    """Consecutive examples sharing one image, and the (future) encoded image."""

    key: str
    image_sha256: str
    outcome: Future[EncodeOutcome]
    examples: list[Example] = field(default_factory=list)


def _done(outcome: EncodeOutcome) -> Future[EncodeOutcome]:
    future: Future[EncodeOutcome] = Future()
    future.set_result(outcome)
    return future


def _write_split(
    examples: Iterable[Example],
    path: Path,
    *,
    builder: MessageBuilder,
    policy: ImagePolicy,
    include_answer: bool,
    executor: Executor,
    in_flight: int,
    on_error: OnError,
    skipped: list[SkippedItem] | None,
    split: str | None,
    progress: bool,
    progress_total: int | None,
    durable: bool,
) -> SplitManifest:
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    side_path = ids_path(path)
    my_skipped: list[SkippedItem] = []
    few_shot = [json_string_body(url) for url in builder.few_shot_urls(policy)]
    detail = builder.detail
    pending: deque[_Group] = deque()
    running: dict[str, Future[EncodeOutcome]] = {}
    cache: OrderedDict[str, EncodeOutcome] = OrderedDict()
    counts = {"images": 0, "encodes": 0}
    last_image: list[str | None] = [None]

    with ExitStack() as stack:
        records = stack.enter_context(_AtomicFile(path, durable=durable))
        ids = stack.enter_context(_AtomicFile(side_path, durable=durable))
        hashing = stack.enter_context(RecordWriter(records, durable=durable))
        bar = stack.enter_context(
            tqdm(
                total=progress_total,
                unit="img",
                desc=f"{split or path.stem}",
                disable=not progress,
                leave=True,
            )
        )
        sink = RecordLines(
            hashing,
            ids,
            builder,
            few_shot,
            include_answer=include_answer,
        )

        def flush(group: _Group) -> None:
            outcome = group.outcome.result()
            if running.get(group.key) is group.outcome:
                del running[group.key]
            bar.update(1)
            if isinstance(outcome, EncodeFailure):
                first = group.examples[0]
                if on_error == "raise":
                    raise ImageError(
                        f"image {first.image_id!r}: {outcome.message}",
                        file=first.image.path,
                        example_id=first.id,
                        hint=outcome.hint
                        or "fix or drop the image, or pass on_error='skip' to leave it out",
                    )
                for example in group.examples:
                    my_skipped.append(
                        SkippedItem(
                            reason=f"image {example.image_id!r}: {outcome.message}",
                            split=split,
                            example_id=example.id,
                            file=example.image.path,
                        )
                    )
                return
            cache[group.key] = outcome
            cache.move_to_end(group.key)
            while len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)
            url = outcome.url if isinstance(outcome, _Encoded) else b""
            url_digest = (
                outcome.url_digest
                if isinstance(outcome, _Encoded) and outcome.url_digest
                else _url_digest(url)
            )
            for example in group.examples:
                if example.image_id != last_image[0]:
                    counts["images"] += 1
                    last_image[0] = example.image_id
            sink.write_group(group.examples, url, url_digest, group.image_sha256)

        current: _Group | None = None
        previous_ref = None
        for example in examples:
            ref = example.image
            if current is not None and (ref is previous_ref or ref == previous_ref):
                current.examples.append(example)
                continue
            key, image_sha256, outcome, data = _identify(example)
            previous_ref = ref
            if current is not None and key == current.key:
                current.examples.append(example)
                continue
            if outcome is None:
                outcome = running.get(key)
            if outcome is None and key in cache:
                cache.move_to_end(key)
                outcome = _done(cache[key])
            if outcome is None:
                outcome = executor.submit(_encode_and_digest, data, policy, detail, image_sha256)
                running[key] = outcome
                counts["encodes"] += 1
            current = _Group(key, image_sha256, outcome, [example])
            pending.append(current)
            while len(pending) > in_flight:
                flush(pending.popleft())
        while pending:
            flush(pending.popleft())

    if skipped is not None:
        skipped.extend(my_skipped)
    return SplitManifest(
        split=split,
        file=path.name,
        ids_file=side_path.name,
        include_answer=include_answer,
        images=counts["images"],
        examples=sink.lines,
        images_encoded=counts["encodes"],
        content_sha256=hashing.content_sha256,
        byte_size=hashing.byte_size,
        skipped=my_skipped,
        seconds=round(time.perf_counter() - started, 3),
    )


_DATA_URL_IN_RECORD = re.compile(rb'"url": "(data:[^"\\]*)"')


def _encode_and_digest(
    data: bytes, policy: ImagePolicy, detail: Detail, image_sha256: str
) -> EncodeOutcome:
    """Encode one image and hash its data URL for the content digest, on the encoding thread
    (hashlib releases the GIL), so the writing thread only copies bytes."""
    outcome = encode_job(data, policy, detail, image_sha256)
    if isinstance(outcome, _Encoded):
        return replace(outcome, url_digest=_url_digest(outcome.url))
    return outcome


def content_digest(path: str | os.PathLike[str]) -> str:
    """Recompute the content digest that :func:`write_split` records for a JSONL file.

    The digest is SHA-256 over the file's bytes with every image data URL (the string value of
    an ``"url"`` key starting with ``data:``) replaced by the hex BLAKE2b-256 of that URL. Two files
    have the same digest exactly when they have the same bytes, but writing it costs one hash
    per image instead of one per question (an image sits in every record that asks about it).

    >>> content_digest("runs/demo/data/train.jsonl")  # doctest: +SKIP
    '5f0c...'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for line in handle:
            start = 0
            for match in _DATA_URL_IN_RECORD.finditer(line):
                digest.update(line[start : match.start(1)])
                digest.update(_url_digest(match.group(1)))
                start = match.end(1)
            digest.update(line[start:])
    return digest.hexdigest()


def _identify(
    example: Example,
) -> tuple[str, str, Future[EncodeOutcome] | None, bytes]:
    """Key the example's image by content; remote and unreadable images are settled here.

    Returns the key, the image's SHA-256, the outcome when already known, and the bytes.
    """
    ref = example.image
    if ref.is_remote:
        url = ref.url or ""
        digest = hashlib.sha256(url.encode()).hexdigest()
        if not url.startswith(("http://", "https://")):
            failure = EncodeFailure(
                f"image URL {url[:60]!r} is neither http(s) nor a data: URL",
                "the chat API fetches http(s) URLs only; download the image or fix the URL",
            )
            return f"bad-url:{digest}", digest, _done(failure), b""
        body = json_string_body(url)
        passthrough = _Encoded(body, "", 0, 0, 0, digest, reencoded=False)
        return f"url:{digest}", digest, _done(passthrough), b""
    try:
        data = ref.load_bytes()
    except ImageError as exc:
        failure = EncodeFailure(exc.message, exc.hint)
        return f"unreadable:{example.image_id}:{ref!r}", "", _done(failure), b""
    digest = hashlib.sha256(data).hexdigest()
    return digest, digest, None, data


class _AtomicFile:
    """A binary file written under a temporary name and renamed into place on success.

    On any exception (including KeyboardInterrupt) the temporary file is removed and the
    destination is left as it was.
    """

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        self.path = path
        self.durable = durable
        self._opened: list[tuple[IO[bytes], str]] = []

    def __enter__(self) -> IO[bytes]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Not tempfile.mkstemp: its files are private (0600); these should follow the umask.
        tmp = str(self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.partial"))
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        handle = os.fdopen(os.open(tmp, flags, 0o666), "wb")
        self._opened.append((handle, tmp))
        return handle

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        handle, tmp = self._opened.pop()
        try:
            if exc_type is None:
                handle.flush()
                if self.durable:
                    os.fsync(handle.fileno())
            handle.close()
            if exc_type is None:
                os.replace(tmp, self.path)
        finally:
            handle.close()
            if os.path.exists(tmp):
                os.unlink(tmp)
