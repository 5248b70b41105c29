"""Album art: fetched once over HTTP (a loopback server here), cached on disk, resized well."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from needledrop.render.art import ArtCache, decode_square
from PIL import Image


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _cover() -> Image.Image:
    """300×200: a red band left, a blue band right, green in the middle 200 px."""
    img = Image.new("RGB", (300, 200), (0, 200, 0))
    img.paste((255, 0, 0), (0, 0, 50, 200))
    img.paste((0, 0, 255), (250, 0, 300, 200))
    return img


class ArtServer:
    def __init__(self) -> None:
        self.files: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                outer.gate.wait(10)
                status, body = outer.files.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ArtServer]:
    s = ArtServer()
    yield s
    s.close()


def test_art_is_fetched_once_and_then_served_from_disk_after_a_restart(
    server: ArtServer, tmp_path: Path
) -> None:
    server.files["/cover.png"] = (200, _png(_cover()))
    url = server.url("/cover.png")
    first = ArtCache(tmp_path / "art", background=False)
    a = first.get(url, 64, now=0.0)
    b = first.get(url, 32, now=1.0)  # another size from the same original
    assert a is not None and a.size == (64, 64) and b is not None and b.size == (32, 32)
    restarted = ArtCache(tmp_path / "art", background=False)
    c = restarted.get(url, 64, now=2.0)
    assert c is not None and c.tobytes() == a.tobytes()
    assert server.requests == ["/cover.png"]


def test_art_is_centre_cropped_to_a_square_not_squashed(tmp_path: Path) -> None:
    img = decode_square(_png(_cover()), 40)
    assert img.size == (40, 40)
    assert img.getpixel((0, 20)) == (0, 200, 0)  # the side bands were cropped away
    assert img.getpixel((39, 20)) == (0, 200, 0)


def test_transparent_art_is_composited_on_black() -> None:
    rgba = Image.new("RGBA", (100, 100), (255, 255, 255, 0))
    rgba.paste((255, 255, 255, 255), (0, 0, 50, 100))
    img = decode_square(_png(rgba), 10)
    assert img.getpixel((1, 5)) == (255, 255, 255)
    assert img.getpixel((8, 5)) == (0, 0, 0)


def test_background_fetch_does_not_block_and_the_art_appears_when_done(
    server: ArtServer, tmp_path: Path
) -> None:
    server.files["/slow.png"] = (200, _png(_cover()))
    server.gate.clear()  # hold the response
    cache = ArtCache(tmp_path, background=True)
    url = server.url("/slow.png")
    assert cache.get(url, 64, now=0.0) is None  # returns at once while the server waits
    assert cache.get(url, 64, now=0.1) is None
    server.gate.set()
    cache.wait()
    art = cache.get(url, 64, now=0.2)
    assert art is not None and art.size == (64, 64)
    assert server.requests == ["/slow.png"]
    cache.close()


def test_a_failed_fetch_is_retried_only_after_retry_after_s(
    server: ArtServer, tmp_path: Path
) -> None:
    cache = ArtCache(tmp_path, background=False, retry_after_s=60)
    url = server.url("/missing.png")
    assert cache.get(url, 32, now=0.0) is None
    assert cache.get(url, 32, now=30.0) is None
    assert len(server.requests) == 1
    server.files["/missing.png"] = (200, _png(_cover()))
    assert cache.get(url, 32, now=61.0) is not None
    assert len(server.requests) == 2


def test_bytes_that_are_not_an_image_are_not_cached(server: ArtServer, tmp_path: Path) -> None:
    server.files["/html"] = (200, b"<html>surprise</html>")
    cache = ArtCache(tmp_path / "art", background=False)
    assert cache.get(server.url("/html"), 32, now=0.0) is None
    assert list((tmp_path / "art").iterdir()) == []


def test_cache_files_are_readable_by_other_users(server: ArtServer, tmp_path: Path) -> None:
    server.files["/c.png"] = (200, _png(_cover()))
    cache = ArtCache(tmp_path, background=False)
    cache.get(server.url("/c.png"), 16, now=0.0)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes and set(modes.values()) == {0o644}


def test_data_and_demo_urls_need_no_network(tmp_path: Path) -> None:
    import base64

    data_url = "data:image/png;base64," + base64.b64encode(_png(_cover())).decode()
    cache = ArtCache(None, background=True)
    assert cache.get(data_url, 20, now=0.0) is not None
    assert cache.get("demo:sunset", 20, now=0.0) is not None
    assert not cache.pending()
