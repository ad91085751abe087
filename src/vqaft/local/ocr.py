"""OCR for the local backend: rapidocr (PP-OCR ONNX models), cached, spread over the cores.

:class:`OcrService` reads book covers into :class:`CoverOcr` objects -- the text lines with
their boxes, recognition scores and the measured gaps between neighbouring characters::

    with OcrService() as ocr:                    # cache in ~/.cache/vqaft/ocr
        covers = ocr.read_many(image_bytes_list, progress=True)
        print(covers[0].lines[0].text)

* **Models**: rapidocr-onnxruntime ships the PP-OCRv4 detection and recognition models and
  the direction classifier inside its wheel; nothing is downloaded, ever.
* **Cache**: every result is kept in memory and on disk as JSON (one small file per image,
  keyed by the SHA-256 of the image bytes and the OCR settings), under
  ``$VQAFT_CACHE_DIR/ocr`` (default ``~/.cache/vqaft/ocr``), so an image is read once per
  machine however many questions, runs and models use it.
* **Cores**: images not in the cache are read by a pool of worker processes (one per core
  by default, each ONNX session on one thread); ``workers=1`` reads in the calling process.
  The service is thread-safe and reads an image once even when several threads ask for it
  at the same time.
* **Spaces**: the recognition model often runs words together ("TheGuerrilla"). Each line
  therefore records, between every two characters, the widest ink-free gap as a fraction of
  the line's thickness (:attr:`OcrLine.gaps`); :mod:`vqaft.local.features` turns large gaps
  back into spaces (the fine-tune learns the threshold).
* **Rotated text**: when a cover holds vertical text lines (a spine-like title), the cover is
  read again turned by 90 and 270 degrees and the best reading of each vertical line is
  kept.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import multiprocessing
import os
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from vqaft.errors import ConfigError, ImageError

__all__ = [
    "CACHE_DIR_ENV",
    "OCR_FORMAT",
    "CoverOcr",
    "OcrEngine",
    "OcrLine",
    "OcrService",
    "check_image",
    "default_cache_dir",
    "image_digest",
    "rapidocr_available",
]

log = logging.getLogger("vqaft.local")

CACHE_DIR_ENV = "VQAFT_CACHE_DIR"
"""Environment variable naming the folder of vqaft's caches (default ``~/.cache/vqaft``)."""

OCR_FORMAT = 1
"""Version of the cached OCR record; part of the cache key, so a change re-reads images."""

_INSTALL_HINT = "install the local backend's OCR: pip install 'vqaft[local]'"
_VERTICAL_RATIO = 1.5  # a box this much taller than wide holds vertical text
_MAX_PIXELS = 40_000_000


def rapidocr_available() -> bool:
    """Whether rapidocr-onnxruntime can be imported (the ``[local]`` extra is installed)."""
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def default_cache_dir() -> Path:
    """The OCR cache folder: ``$VQAFT_CACHE_DIR/ocr``, else ``$XDG_CACHE_HOME/vqaft/ocr``,
    else ``~/.cache/vqaft/ocr``."""
    folder = os.environ.get(CACHE_DIR_ENV)
    if folder:
        return Path(folder).expanduser() / "ocr"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "vqaft" / "ocr"


def image_digest(data: bytes) -> str:
    """SHA-256 (hex) of an image's bytes: the key of its OCR result."""
    return hashlib.sha256(data).hexdigest()


Point = tuple[float, float]


@dataclass(frozen=True)
class OcrLine:
    """One text line as read by the OCR.

    Attributes:
        text: the recognised characters (spaces only where the recogniser put them).
        score: mean recognition confidence, 0..1.
        box: the four corners in image pixels (clockwise from the reading start's top).
        gaps: for each pair of neighbouring characters in ``text``, the widest ink-free run
            between them divided by the line's thickness (``len(text) - 1`` values; empty
            when unknown). Word spaces show as large gaps.
        rotation: how far (degrees, counter-clockwise) the image was turned when this line was
            read: 0, 90 or 270.
    """

    text: str
    score: float
    box: tuple[Point, Point, Point, Point]
    gaps: tuple[float, ...] = ()
    rotation: int = 0

    @property
    def xs(self) -> tuple[float, float]:
        """Left and right edge of the box."""
        values = [p[0] for p in self.box]
        return min(values), max(values)

    @property
    def ys(self) -> tuple[float, float]:
        """Top and bottom edge of the box."""
        values = [p[1] for p in self.box]
        return min(values), max(values)

    @property
    def length(self) -> float:
        """Extent along the reading direction, in pixels."""
        p0, p1, _, p3 = self.box
        return max(_dist(p0, p1), _dist(p0, p3))

    @property
    def thickness(self) -> float:
        """Extent across the reading direction (the text height), in pixels."""
        p0, p1, _, p3 = self.box
        return max(1.0, min(_dist(p0, p1), _dist(p0, p3)))

    @property
    def vertical(self) -> bool:
        """Whether the line runs up or down the image."""
        x0, x1 = self.xs
        y0, y1 = self.ys
        return (y1 - y0) >= _VERTICAL_RATIO * max(1.0, x1 - x0)

    def to_json(self) -> dict[str, Any]:
        """The line as a JSON-ready dict."""
        return {
            "text": self.text,
            "score": round(self.score, 4),
            "box": [[round(x, 1), round(y, 1)] for x, y in self.box],
            "gaps": [round(g, 3) for g in self.gaps],
            "rotation": self.rotation,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OcrLine:
        """Inverse of :meth:`to_json`."""
        box = tuple((float(p[0]), float(p[1])) for p in data["box"])
        if len(box) != 4:
            raise ValueError("a line box needs 4 points")
        return cls(
            text=str(data["text"]),
            score=float(data["score"]),
            box=(box[0], box[1], box[2], box[3]),
            gaps=tuple(float(g) for g in data.get("gaps", ())),
            rotation=int(data.get("rotation", 0)),
        )


@dataclass(frozen=True)
class CoverOcr:
    """Everything the OCR read on one image.

    Attributes:
        width, height: image size in pixels.
        lines: text lines, top to bottom then left to right.
        seconds: time the OCR took (0 when it came from the cache).
        digest: SHA-256 of the image bytes.
        cached: whether this result came from the cache.
    """

    width: int
    height: int
    lines: tuple[OcrLine, ...]
    seconds: float = 0.0
    digest: str = ""
    cached: bool = field(default=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-ready dict (what the cache stores)."""
        return {
            "format": OCR_FORMAT,
            "digest": self.digest,
            "width": self.width,
            "height": self.height,
            "seconds": round(self.seconds, 4),
            "lines": [line.to_json() for line in self.lines],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CoverOcr:
        """Inverse of :meth:`to_json`.

        Raises:
            ValueError: the record has another format version or is malformed.
        """
        if data.get("format") != OCR_FORMAT:
            raise ValueError(f"OCR record format {data.get('format')!r}, expected {OCR_FORMAT}")
        return cls(
            width=int(data["width"]),
            height=int(data["height"]),
            lines=tuple(OcrLine.from_json(line) for line in data["lines"]),
            seconds=float(data.get("seconds", 0.0)),
            digest=str(data.get("digest", "")),
        )


def _dist(a: Point, b: Point) -> float:
    return float(np.hypot(a[0] - b[0], a[1] - b[1]))


# -- reading one image ------------------------------------------------------------------------


def decode_rgb(data: bytes) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Decode image bytes to an RGB ``uint8`` array.

    Raises:
        ImageError: the bytes are not an image Pillow can read, or it is absurdly large.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > _MAX_PIXELS:
                raise ImageError(
                    f"image of {image.width}x{image.height} pixels is too large to OCR",
                    hint="resize the images (vqaft prepare --resize max_side)",
                )
            pixels: np.ndarray[Any, np.dtype[np.uint8]] = np.array(
                image.convert("RGB"), dtype=np.uint8
            )
            return pixels
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(
            f"cannot decode image: {exc}", hint="check the data URL or the image file"
        ) from None


def check_image(data: bytes) -> None:
    """Check that ``data`` is an image Pillow can open, without decoding all of it.

    Raises:
        ImageError: it is not.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(
            f"cannot decode image: {exc}", hint="check the data URL or the image file"
        ) from None


def _char_centres(char_boxes: Sequence[Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.array([np.mean(np.asarray(b, dtype=np.float64), axis=0) for b in char_boxes])


def _line_gaps(
    gray: np.ndarray[Any, np.dtype[np.float32]],
    box: np.ndarray[Any, np.dtype[np.float64]],
    centres: np.ndarray[Any, np.dtype[np.float64]],
) -> tuple[float, ...]:
    """Widest ink-free run between neighbouring character centres, over the line thickness."""
    import cv2

    if len(centres) < 2:
        return ()
    side_a, side_b = box[1] - box[0], box[3] - box[0]
    along, across = (
        (side_a, side_b)
        if np.linalg.norm(side_a) >= np.linalg.norm(side_b)
        else (
            side_b,
            side_a,
        )
    )
    length, thickness = float(np.linalg.norm(along)), float(np.linalg.norm(across))
    if length < 2 or thickness < 2:
        return tuple(0.0 for _ in range(len(centres) - 1))
    unit = along / length
    if float(np.dot(centres[-1] - centres[0], unit)) < 0:
        unit = -unit
    normal = np.array([-unit[1], unit[0]])
    centre = box.mean(axis=0)
    cols, rows = round(length), max(3, round(thickness))
    t = np.arange(cols, dtype=np.float64) - cols / 2
    s = np.arange(rows, dtype=np.float64) - rows / 2
    map_x = (centre[0] + t[None, :] * unit[0] + s[:, None] * normal[0]).astype(np.float32)
    map_y = (centre[1] + t[None, :] * unit[1] + s[:, None] * normal[1]).astype(np.float32)
    strip = cv2.remap(gray, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    edge = max(1, rows // 8)
    background = float(np.median(np.concatenate([strip[:edge].ravel(), strip[-edge:].ravel()])))
    contrast = np.abs(strip - background)
    level = max(28.0, 0.45 * float(np.percentile(contrast, 98)))
    ink = (contrast > level).sum(axis=0) >= max(1, rows // 25)
    positions = (centres - centre) @ unit + cols / 2
    gaps: list[float] = []
    for start, stop in itertools.pairwise(positions):
        lo, hi = int(max(0, min(start, stop))), int(min(cols, max(start, stop)))
        gaps.append(_longest_blank(ink[lo:hi]) / thickness)
    return tuple(gaps)


def _longest_blank(ink: np.ndarray[Any, np.dtype[np.bool_]]) -> int:
    """Length of the longest run of ``False`` in ``ink``."""
    best = run = 0
    for has_ink in ink.tolist():
        run = 0 if has_ink else run + 1
        best = max(best, run)
    return best


def _rotate_points(
    points: np.ndarray[Any, np.dtype[np.float64]], rotation: int, width: int, height: int
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Map points of an image turned by ``rotation`` degrees back onto the original."""
    if rotation == 0:
        return points
    x, y = points[..., 0], points[..., 1]
    if rotation == 90:  # np.rot90(k=1): rotated (x', y') <- original (W-1-y', x')
        return np.stack([width - 1 - y, x], axis=-1)
    if rotation == 270:  # np.rot90(k=3): rotated (x', y') <- original (y', H-1-x')
        return np.stack([y, height - 1 - x], axis=-1)
    raise ValueError(f"rotation must be 0, 90 or 270, got {rotation}")


class OcrEngine:
    """rapidocr in this process: :meth:`read` turns image bytes into a :class:`CoverOcr`.

    Args:
        threads: ONNX Runtime threads per model (``None``: its default, all cores).
        rotated: also read vertical text by turning the image (see the module docstring).

    Raises:
        ConfigError: rapidocr-onnxruntime is not installed.
    """

    def __init__(
        self,
        *,
        threads: int | None = None,
        rotated: bool = True,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise ConfigError(
                f"the local backend needs rapidocr-onnxruntime ({exc})", hint=_INSTALL_HINT
            ) from None
        settings: dict[str, Any] = {"print_verbose": False, **(options or {})}
        if threads is not None:
            settings["intra_op_num_threads"] = threads
            settings["inter_op_num_threads"] = 1
        self._ocr = RapidOCR(**settings)
        self.rotated = rotated

    def read(self, data: bytes) -> CoverOcr:
        """OCR one image (bytes of any format Pillow reads).

        Raises:
            ImageError: the bytes are not a readable image.
        """
        started = time.perf_counter()
        rgb = decode_rgb(data)
        height, width = rgb.shape[:2]
        lines = self._read_rotation(rgb, 0)
        if self.rotated and any(line.vertical for line in lines):
            lines = [line for line in lines if not line.vertical] + self._best_vertical(
                rgb, [line for line in lines if line.vertical]
            )
        lines.sort(key=lambda line: (round(line.ys[0]), line.xs[0]))
        return CoverOcr(
            width=width,
            height=height,
            lines=tuple(lines),
            seconds=time.perf_counter() - started,
            digest=image_digest(data),
        )

    def _read_rotation(
        self, rgb: np.ndarray[Any, np.dtype[np.uint8]], rotation: int
    ) -> list[OcrLine]:
        import cv2

        height, width = rgb.shape[:2]
        turned = np.ascontiguousarray(np.rot90(rgb, k=rotation // 90)) if rotation else rgb
        bgr = np.ascontiguousarray(turned[:, :, ::-1])
        result, _ = self._ocr(bgr, return_word_box=True)
        if not result:
            return []
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
        lines: list[OcrLine] = []
        for item in result:
            box = np.asarray(item[0], dtype=np.float64)
            text, score = str(item[1]), float(item[2])
            char_boxes = item[3] if len(item) > 3 else []
            gaps: tuple[float, ...] = ()
            if char_boxes and len(char_boxes) == len(text):
                gaps = _line_gaps(gray, box, _char_centres(char_boxes))
            if not text.strip():
                continue
            original = _rotate_points(box, rotation, width, height)
            corners = tuple((float(p[0]), float(p[1])) for p in original)
            lines.append(
                OcrLine(
                    text=text,
                    score=score,
                    box=(corners[0], corners[1], corners[2], corners[3]),
                    gaps=gaps,
                    rotation=rotation,
                )
            )
        return lines

    def _best_vertical(
        self, rgb: np.ndarray[Any, np.dtype[np.uint8]], upright: list[OcrLine]
    ) -> list[OcrLine]:
        """Keep, for each vertical text region, its best reading over three rotations."""
        candidates = list(upright)
        for rotation in (90, 270):
            candidates += [line for line in self._read_rotation(rgb, rotation) if line.vertical]
        candidates.sort(key=lambda line: -line.score * len(line.text.strip()))
        kept: list[OcrLine] = []
        for line in candidates:
            if all(_overlap(line, other) < 0.3 for other in kept):
                kept.append(line)
        return kept


def _overlap(a: OcrLine, b: OcrLine) -> float:
    """Intersection over the smaller box (axis-aligned)."""
    ax0, ax1 = a.xs
    ay0, ay1 = a.ys
    bx0, bx1 = b.xs
    by0, by1 = b.ys
    w = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    h = max(0.0, min(ay1, by1) - max(ay0, by0))
    smaller = min((ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0))
    return 0.0 if smaller <= 0 else w * h / smaller


# -- worker processes (executor="process") ----------------------------------------------------

_WORKER_ENGINE: OcrEngine | None = None


def _worker_init(rotated: bool, options: dict[str, Any]) -> None:
    global _WORKER_ENGINE
    _WORKER_ENGINE = OcrEngine(threads=1, rotated=rotated, options=options)


def _worker_read(data: bytes) -> dict[str, Any]:
    engine = _WORKER_ENGINE
    if engine is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("OCR worker not initialised")
    return engine.read(data).to_json()


# -- the cache ---------------------------------------------------------------------------------


class OcrCache:
    """OCR results in memory and, unless ``directory`` is ``None``, as JSON files on disk.

    Files are ``<directory>/<settings>/<digest[:2]>/<digest>.json``; they appear atomically
    (written under a temporary name, then renamed). A file that cannot be read is ignored
    (and the image read again).
    """

    def __init__(self, directory: Path | None, settings: str) -> None:
        self.directory = None if directory is None else directory / settings
        self._memory: dict[str, CoverOcr] = {}
        self._lock = threading.Lock()

    def _path(self, digest: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / digest[:2] / f"{digest}.json"

    def get(self, digest: str) -> CoverOcr | None:
        """The cached result for an image digest, or ``None``."""
        with self._lock:
            hit = self._memory.get(digest)
        if hit is not None:
            return hit
        path = self._path(digest)
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            cover = CoverOcr.from_json(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable OCR cache file %s: %s", path, exc)
            return None
        cover = CoverOcr(
            width=cover.width,
            height=cover.height,
            lines=cover.lines,
            seconds=cover.seconds,
            digest=digest,
            cached=True,
        )
        with self._lock:
            self._memory[digest] = cover
        return cover

    def put(self, digest: str, cover: CoverOcr) -> None:
        """Remember a result (and write its file)."""
        with self._lock:
            self._memory[digest] = cover
        path = self._path(digest)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            tmp.write_text(json.dumps(cover.to_json(), ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not write OCR cache file %s: %s", path, exc)
            tmp.unlink(missing_ok=True)


def _settings_key(rotated: bool, options: Mapping[str, Any]) -> str:
    try:
        from importlib.metadata import version

        engine = version("rapidocr-onnxruntime")
    except Exception:  # any metadata problem: an unknown version
        engine = "unknown"
    key = f"v{OCR_FORMAT}-rapidocr-{engine}" + ("" if rotated else "-norot")
    if options:
        text = json.dumps(dict(options), sort_keys=True, default=str)
        key += "-" + hashlib.sha256(text.encode()).hexdigest()[:10]
    return key


def _default_workers() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)  # pragma: no cover - non-Linux


DEFAULT_OPTIONS: Mapping[str, Any] = {"det_limit_type": "max", "det_limit_side_len": 960}
"""rapidocr settings used by default: detect text at the image's own size (up to 960 px)
instead of enlarging small covers to 736 px on the short side (half the detection time, the
same words found on catalogue-sized covers)."""


# -- the service --------------------------------------------------------------------------------


class OcrService:
    """Cached, parallel OCR of images (see the module docstring).

    Args:
        cache_dir: the cache folder (default :func:`default_cache_dir`); ``False`` keeps
            results in memory only.
        workers: images read at once (default: one per available core), each by its own
            OCR engine running ONNX Runtime on one thread.
        executor: ``"thread"`` (default): worker threads in this process (ONNX Runtime and
            OpenCV release the GIL, so threads use the cores; nothing to pickle, no
            ``if __name__ == "__main__"`` guard needed); ``"process"``: worker processes
            (spawned; a script using them needs the guard).
        rotated: also read vertical text (see :class:`OcrEngine`).
        options: rapidocr settings (default :data:`DEFAULT_OPTIONS`); part of the cache key.

    Use it as a context manager (or call :meth:`close`) to stop the workers.

    >>> with OcrService(workers=1) as ocr:  # doctest: +SKIP
    ...     cover = ocr.read(open("cover.jpg", "rb").read())
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | bool | None = None,
        *,
        workers: int | None = None,
        executor: Literal["thread", "process"] = "thread",
        rotated: bool = True,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        if executor not in ("thread", "process"):
            raise ConfigError(f"executor must be 'thread' or 'process', got {executor!r}")
        if cache_dir is False:
            directory: Path | None = None
        elif cache_dir is None or cache_dir is True:
            directory = default_cache_dir()
        else:
            directory = Path(cache_dir)
        self.workers = _default_workers() if workers is None else workers
        self.executor = executor
        self.rotated = rotated
        self.options: dict[str, Any] = dict(DEFAULT_OPTIONS if options is None else options)
        self.cache = OcrCache(directory, _settings_key(rotated, self.options))
        self._lock = threading.Lock()
        self._pending: dict[str, Future[CoverOcr]] = {}
        self._executor: Executor | None = None
        self._engines = threading.local()
        self.images_read = 0
        self.seconds_reading = 0.0

    # -- plumbing --------------------------------------------------------------------------

    def _pool(self) -> Executor:
        with self._lock:
            if self._executor is None:
                if not rapidocr_available():
                    raise ConfigError(
                        "the local backend needs rapidocr-onnxruntime", hint=_INSTALL_HINT
                    )
                if self.executor == "process":
                    self._executor = ProcessPoolExecutor(
                        max_workers=self.workers,
                        mp_context=multiprocessing.get_context("spawn"),
                        initializer=_worker_init,
                        initargs=(self.rotated, self.options),
                    )
                else:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self.workers, thread_name_prefix="vqaft-ocr"
                    )
            return self._executor

    def _engine(self) -> OcrEngine:
        """This thread's engine (created on first use)."""
        engine: OcrEngine | None = getattr(self._engines, "engine", None)
        if engine is None:
            engine = OcrEngine(threads=1, rotated=self.rotated, options=self.options)
            self._engines.engine = engine
        return engine

    def _read_here(self, data: bytes) -> dict[str, Any]:
        return self._engine().read(data).to_json()

    def _finish(self, digest: str, cover: CoverOcr) -> CoverOcr:
        self.cache.put(digest, cover)
        with self._lock:
            self.images_read += 1
            self.seconds_reading += cover.seconds
            self._pending.pop(digest, None)
        return cover

    def submit(self, data: bytes) -> Future[CoverOcr]:
        """Start reading an image (or return the cached result as a done future)."""
        digest = image_digest(data)
        hit = self.cache.get(digest)
        if hit is not None:
            done: Future[CoverOcr] = Future()
            done.set_result(hit)
            return done
        with self._lock:
            pending = self._pending.get(digest)
            if pending is not None:
                return pending
            future: Future[CoverOcr] = Future()
            self._pending[digest] = future
        try:
            pool = self._pool()
            job = _worker_read if self.executor == "process" else self._read_here
            inner = pool.submit(job, data)
            inner.add_done_callback(lambda f: self._settle(digest, future, f))
        except BaseException as exc:
            with self._lock:
                self._pending.pop(digest, None)
            future.set_exception(exc)
        return future

    def _settle(self, digest: str, future: Future[CoverOcr], inner: Future[dict[str, Any]]) -> None:
        try:
            cover = CoverOcr.from_json(inner.result())
        except BaseException as exc:
            with self._lock:
                self._pending.pop(digest, None)
            future.set_exception(exc)
            return
        future.set_result(self._finish(digest, cover))

    # -- public ----------------------------------------------------------------------------

    def read(self, data: bytes) -> CoverOcr:
        """OCR one image, from the cache when possible (blocks until done).

        Raises:
            ImageError: the bytes are not a readable image.
            ConfigError: rapidocr is not installed.
        """
        return self.submit(data).result()

    def read_many(
        self,
        images: Sequence[bytes],
        *,
        progress: bool = False,
        desc: str = "OCR",
    ) -> list[CoverOcr]:
        """OCR many images in parallel, in order; a progress bar counts the images done.

        Raises:
            ImageError: an image is not readable (the others are still read and cached).
        """
        futures = [self.submit(data) for data in images]
        results: list[CoverOcr] = []
        with tqdm(total=len(futures), desc=desc, unit="img", disable=not progress) as bar:
            for future in futures:
                results.append(future.result())
                bar.update(1)
        return results

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> OcrService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def stats(self) -> dict[str, float]:
        """Images read by the OCR so far (not from the cache) and their mean seconds each."""
        with self._lock:
            n, total = self.images_read, self.seconds_reading
        return {"images_read": n, "seconds_per_image": (total / n) if n else 0.0}
