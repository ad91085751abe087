"""save_to_bytes: the bytes Pillow writes to a BytesIO, encoded without holding the GIL."""

from __future__ import annotations

import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vqaft.messages import _image_save
from vqaft.messages._image_save import save_to_bytes


def _image(seed: int, size: tuple[int, int] = (120, 80), mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = len(mode)
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(pixels, mode)


def _reference(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mode", "options"),
    [
        ("JPEG", "RGB", {"quality": 100}),
        ("JPEG", "RGB", {"quality": 40}),
        ("PNG", "RGBA", {}),
        ("WEBP", "RGB", {"quality": 80}),
    ],
)
def test_same_bytes_as_bytesio(fmt: str, mode: str, options: dict[str, Any]) -> None:
    image = _image(1, mode=mode)
    assert save_to_bytes(image, fmt, **options) == _reference(image, fmt, **options)


def test_a_smaller_image_after_a_larger_one_is_not_padded() -> None:
    big, small = _image(2, (800, 600)), _image(3, (20, 10))
    assert save_to_bytes(big, "PNG") == _reference(big, "PNG")
    assert save_to_bytes(small, "PNG") == _reference(small, "PNG")


@pytest.mark.parametrize(
    ("fmt", "options"), [("JPEG", {"quality": 100}), ("WEBP", {"quality": 80})]
)
def test_sizes_up_and_down_give_the_reference_bytes(fmt: str, options: dict[str, Any]) -> None:
    """The in-memory file is overwritten, not truncated: stale bytes must never leak in."""
    for seed, size in enumerate([(300, 200), (30, 20), (400, 100), (10, 10), (250, 250)]):
        image = _image(seed, size)
        assert save_to_bytes(image, fmt, **options) == _reference(image, fmt, **options)


def test_a_large_image_does_not_stay_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_image_save, "_KEEP_BYTES", 10_000)
    small, large = _image(4, (20, 20)), _image(5, (300, 300))

    def file_size() -> int:
        handle = _image_save._local.handle
        return os.fstat(handle.fileno()).st_size

    assert save_to_bytes(large, "PNG") == _reference(large, "PNG")
    assert file_size() == 0  # emptied after a result over the limit
    assert save_to_bytes(small, "PNG") == _reference(small, "PNG")
    assert 0 < file_size() < 10_000  # small results stay, to be overwritten next time
    assert save_to_bytes(large, "PNG") == _reference(large, "PNG")
    assert file_size() == 0


def test_threads_each_get_their_own_file() -> None:
    images = [_image(seed, (200 + seed, 150)) for seed in range(24)]
    expected = [_reference(im, "JPEG", quality=95) for im in images]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda im: save_to_bytes(im, "JPEG", quality=95), images))
    assert got == expected


def test_without_memfd_it_falls_back_to_bytesio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "memfd_create", raising=False)
    image = _image(4)
    result: list[bytes] = []
    handles: list[object] = []

    def work() -> None:  # a fresh thread: no in-memory file cached for it yet
        result.append(save_to_bytes(image, "JPEG", quality=90))
        handles.append(getattr(_image_save._local, "handle", None))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert result == [_reference(image, "JPEG", quality=90)]
    assert handles == [None]


def _file_inode() -> int:
    handle = _image_save._local.handle
    return os.fstat(handle.fileno()).st_ino


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="needs memfd_create (Linux)")
def test_a_forked_child_does_not_share_the_parents_file() -> None:
    """After fork the child would share the parent's file (offset and contents), so a parent
    and child encoding at once would corrupt each other's bytes: the child opens its own."""
    parent_image, child_image = _image(5, (300, 200)), _image(6, (40, 30))
    save_to_bytes(parent_image, "PNG")  # the parent's thread now holds an in-memory file
    parent_inode = _file_inode()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read)
            same = save_to_bytes(child_image, "PNG") == _reference(child_image, "PNG")
            os.write(write, f"{int(same)} {_file_inode()}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        same, child_inode = pipe.read().decode().split()
    os.waitpid(pid, 0)
    assert same == "1"
    assert int(child_inode) != parent_inode
    assert _file_inode() == parent_inode
    assert save_to_bytes(parent_image, "PNG") == _reference(parent_image, "PNG")
