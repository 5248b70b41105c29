"""Album art: fetched once, kept on disk, resized well, with a placeholder when there is none.

URLs: ``http(s)://`` (Spotify's image CDN; fetched in a background thread so frames keep
coming), ``data:`` and ``file:`` (read at once) and ``demo:<name>`` (art the demo source
generates in-process). The original bytes and each resized square are written to the cache
directory under a hash of the URL, so a restart fetches nothing it has already seen.
"""

from __future__ import annotations

import colorsys
import concurrent.futures
import hashlib
import io
import logging
import threading
import urllib.parse
import urllib.request
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

from needledrop.files import write_atomic

log = logging.getLogger(__name__)

MAX_ART_BYTES = 8 * 1024 * 1024
USER_AGENT = "needledrop (album art)"


class ArtError(Exception):
    """The URL gave no usable image."""


def fetch_bytes(url: str, timeout_s: float) -> bytes:
    """The bytes behind ``url`` (http, https, data, file, demo). Raises ArtError."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    try:
        if scheme == "demo":
            from needledrop.demo import demo_art_png

            return demo_art_png(url.partition(":")[2])
        if scheme == "file":
            path = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
            return Path(path).read_bytes()[: MAX_ART_BYTES + 1]
        if scheme in ("http", "https", "data"):
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                data: bytes = resp.read(MAX_ART_BYTES + 1)
            if len(data) > MAX_ART_BYTES:
                raise ArtError(f"{_short(url)}: larger than {MAX_ART_BYTES} bytes")
            return data
    except ArtError:
        raise
    except (OSError, ValueError, KeyError) as e:
        raise ArtError(f"{_short(url)}: {e}") from None
    raise ArtError(f"{_short(url)}: unsupported URL scheme {scheme!r}")


def _short(url: str) -> str:
    return url if len(url) <= 80 else url[:77] + "..."


def decode_square(data: bytes, size: int) -> Image.Image:
    """Decode image bytes into an RGB ``size``×``size`` square: centre-cropped, Lanczos."""
    try:
        img: Image.Image = Image.open(io.BytesIO(data))
        img.draft("RGB", (size * 2, size * 2))  # JPEG: decode at a reduced scale, much faster
        img.load()
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise ArtError(f"not an image: {e}") from None
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.new("RGB", rgba.size, (0, 0, 0))
        img.paste(rgba, mask=rgba.getchannel("A"))
    else:
        img = img.convert("RGB")
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    if (w, h) != (side, side):
        img = img.crop((left, top, left + side, top + side))  # no bleed from outside the square
    return img.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)


def _check_image(data: bytes) -> None:
    try:
        Image.open(io.BytesIO(data)).verify()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ArtError(f"not an image: {e}") from None


def placeholder_art(seed: str, size: int) -> Image.Image:
    """Art for an item without any (local files, tracks without images): a gradient in two
    colours derived from ``seed`` with a music note on it. Same seed, same picture."""
    h = hashlib.sha256(seed.encode("utf-8")).digest()
    hue = h[0] / 255
    c1 = tuple(int(v * 255) for v in colorsys.hsv_to_rgb(hue, 0.75, 0.55))
    c2 = tuple(int(v * 255) for v in colorsys.hsv_to_rgb((hue + 0.15) % 1.0, 0.85, 0.20))
    # a diagonal gradient: blend along x + y
    ramp = Image.linear_gradient("L").resize((size, size))
    diag = Image.blend(ramp, ramp.transpose(Image.Transpose.ROTATE_90), 0.5)
    img = Image.composite(
        Image.new("RGB", (size, size), c2), Image.new("RGB", (size, size), c1), diag
    )
    d = ImageDraw.Draw(img)
    s = size / 16  # the note is drawn on a 16-unit grid
    ink = (235, 235, 235)
    head_w, head_h = max(2, round(4 * s)), max(2, round(3 * s))
    hx, hy = round(4 * s), round(10 * s)
    d.ellipse((hx, hy, hx + head_w - 1, hy + head_h - 1), fill=ink)
    stem_x = hx + head_w - max(1, round(s))
    stem_w = max(1, round(s))
    d.rectangle((stem_x, round(3 * s), stem_x + stem_w - 1, hy + head_h // 2), fill=ink)
    flag_len = max(2, round(4 * s))
    for i in range(max(1, round(1.5 * s))):
        d.line(
            (stem_x, round(3 * s) + i, stem_x + flag_len, round(3 * s) + flag_len // 2 + i),
            fill=ink,
        )
    return img


@dataclass
class ArtCache:
    """Art by URL and size. ``get`` never blocks on the network when ``background`` is on.

    ``directory`` None keeps everything in memory (and fetches again after a restart).
    """

    directory: Path | None
    background: bool = True
    timeout_s: float = 5.0
    retry_after_s: float = 60.0
    memory_items: int = 8
    _memory: OrderedDict[tuple[str, int], Image.Image] = field(default_factory=OrderedDict)
    _pending: dict[str, Future[bytes]] = field(default_factory=dict)
    _failed: dict[str, float] = field(default_factory=dict)
    _pool: ThreadPoolExecutor | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    fetches: int = 0  # network/file reads done, for tests and the benchmark

    def __post_init__(self) -> None:
        if self.directory is not None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                log.warning("art cache %s unusable (%s); keeping art in memory", self.directory, e)
                self.directory = None

    def _key(self, url: str) -> str:
        return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]

    def _disk(self, url: str, suffix: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{self._key(url)}{suffix}"

    def _store(self, path: Path | None, data: bytes) -> None:
        if path is None:
            return
        try:
            write_atomic(path, data, 0o644)
        except OSError as e:
            log.warning("cannot write %s: %s", path, e)

    def _read(self, path: Path | None) -> bytes | None:
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None

    def _fetch(self, url: str) -> bytes:
        self.fetches += 1
        data = fetch_bytes(url, self.timeout_s)
        _check_image(data)  # reject non-images before they reach the disk cache
        self._store(self._disk(url, ".orig"), data)
        return data

    def _original(self, url: str, now: float) -> bytes | None:
        """The original bytes if available now; may start a background fetch."""
        data = self._read(self._disk(url, ".orig"))
        if data is not None:
            return data
        failed_at = self._failed.get(url)
        if failed_at is not None and now - failed_at < self.retry_after_s:
            return None
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if not self.background or scheme not in ("http", "https"):
            try:
                return self._fetch(url)
            except ArtError as e:
                log.warning("album art unavailable: %s", e)
                self._failed[url] = now
                return None
        with self._lock:
            fut = self._pending.get(url)
            if fut is None:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="art")
                self._pending[url] = self._pool.submit(self._fetch, url)
                return None
            if not fut.done():
                return None
            del self._pending[url]
        try:
            return fut.result()
        except ArtError as e:
            log.warning("album art unavailable: %s", e)
            self._failed[url] = now
            return None

    def get(self, url: str, size: int, now: float) -> Image.Image | None:
        """RGB ``size``×``size`` art for ``url``, or None while it loads or if it failed."""
        mem_key = (url, size)
        img = self._memory.get(mem_key)
        if img is not None:
            self._memory.move_to_end(mem_key)
            return img
        failed_at = self._failed.get(url)
        if failed_at is not None and now - failed_at < self.retry_after_s:
            return None  # no disk or network work per frame while a failure is fresh
        with self._lock:
            fut = self._pending.get(url)
            if fut is not None and not fut.done():
                return None
        sized_path = self._disk(url, f"-{size}.png")
        sized = self._read(sized_path)
        if sized is not None:
            try:
                img = Image.open(io.BytesIO(sized)).convert("RGB")
            except OSError:
                img = None
        if img is None or img.size != (size, size):
            data = self._original(url, now)
            if data is None:
                return None
            try:
                img = decode_square(data, size)
            except ArtError as e:
                log.warning("album art unusable: %s", e)
                self._failed[url] = now
                return None
            buf = io.BytesIO()
            img.save(buf, "PNG")
            self._store(sized_path, buf.getvalue())
        self._memory[mem_key] = img
        while len(self._memory) > self.memory_items:
            self._memory.popitem(last=False)
        return img

    def pending(self) -> bool:
        """True while a background fetch is under way."""
        with self._lock:
            return any(not f.done() for f in self._pending.values())

    def wait(self, timeout_s: float = 10.0) -> None:
        """Block until the background fetches started so far have finished (tests, snapshots)."""
        with self._lock:
            futures = list(self._pending.values())
        concurrent.futures.wait(futures, timeout=timeout_s)  # errors: reported by get()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
