"""One Spotify poll per account: a primary serves what it sees, followers follow.

The primary (``[share] serve = true``) polls Spotify as any display does and keeps its latest
observation in a ``ShareHub``; a ``ShareServer`` serves it on the LAN address the inventory
names: ``GET /v1/now?since=V&wait=S`` answers at once when the hub's version differs from ``V``
(the item, the play state, a seek or the primary's health changed), else when it changes or
after ``S`` seconds (a long poll). A follower (``source = "follow"``) reads it through
``FollowSource``, another source of the pipeline; when its primary is unreachable or failing for
``failover_s`` it polls Spotify itself with its own token, and asks the primary again every
``recheck_s`` until it is healthy, then follows again.

What crosses the LAN: the item, play state, progress, timestamps, the art URL; never a token.
Every request carries ``Authorization: ND1 ts=…,nonce=…,sig=…``, an HMAC-SHA256 with the
account's key over the method, the path with its query, the time and a random nonce; the
server refuses stale times (``max_skew_s``) and nonces it has seen, so a request sniffed on the
LAN cannot be replayed. Anything wrong with it: 401 and an empty body. Requests are bounded
(no body, a short line, few headers) and rated per address.

Clocks: each answer carries the server's time and how long it held the request; the follower
estimates the offset from the round trip (NTP's midpoint) and turns the primary's
``observed_at`` into its own clock, so progress bars agree.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import http.client
import json
import logging
import math
import re
import secrets
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from needledrop.spotify import CallLog, Offline, RateLimited, SourceError
from needledrop.state import Item, Playback

log = logging.getLogger(__name__)

PATH = "/v1/now"
SCHEME = "ND1"
MAX_LINE = 512  # request line bytes
MAX_HEADERS = 16
MAX_HEADER_BYTES = 2048
MAX_ANSWER = 64 * 1024  # bytes a follower reads of an answer
MAX_CONNECTIONS = 32
NONCES_MAX = 4096
FOLLOW_GAP_S = 0.05  # least time between two follow requests
SEEK_SLACK_MS = 2000  # progress this far off the prediction: a seek, followers are told
PEER_MEMORY_S = 3600.0  # followers seen this recently are listed in status

# --- signing ------------------------------------------------------------------------------------

_AUTH = re.compile(
    r"ND1 ts=(?P<ts>[0-9]{1,12}),nonce=(?P<nonce>[0-9a-f]{32}),sig=(?P<sig>[0-9a-f]{64})"
)


def signature(key: bytes, method: str, target: str, ts: int, nonce: str) -> str:
    msg = f"{method}\n{target}\n{ts}\n{nonce}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def authorization(
    key: bytes, method: str, target: str, now: float, nonce: str | None = None
) -> str:
    """The Authorization header of one request (a fresh nonce unless given)."""
    ts = int(now)
    nonce = nonce if nonce is not None else secrets.token_hex(16)
    return f"{SCHEME} ts={ts},nonce={nonce},sig={signature(key, method, target, ts, nonce)}"


class Verifier:
    """Checks signed requests: the key, the time (within ``max_skew_s``), a nonce never seen."""

    def __init__(self, key: bytes, max_skew_s: float = 60.0) -> None:
        self.key = key
        self.max_skew_s = max_skew_s
        self._seen: OrderedDict[str, float] = OrderedDict()  # nonce -> its ts
        self._lock = threading.Lock()

    def check(self, header: str | None, method: str, target: str, now: float) -> bool:
        if header is None:
            return False
        m = _AUTH.fullmatch(header)
        if m is None:
            return False
        ts, nonce = int(m["ts"]), m["nonce"]
        want = signature(self.key, method, target, ts, nonce)
        if not hmac.compare_digest(want, m["sig"]):
            return False
        if abs(now - ts) > self.max_skew_s:
            return False
        with self._lock:
            while self._seen and (
                len(self._seen) >= NONCES_MAX
                or next(iter(self._seen.values())) < now - 2 * self.max_skew_s
            ):
                self._seen.popitem(last=False)
            if nonce in self._seen:
                return False
            self._seen[nonce] = ts
        return True


# --- what crosses the LAN -----------------------------------------------------------------------


def playback_doc(pb: Playback | None) -> dict[str, Any] | None:
    if pb is None:
        return None
    it = pb.item
    return {
        "item": None
        if it is None
        else {
            "kind": it.kind,
            "title": it.title,
            "artist": it.artist,
            "album": it.album,
            "duration_ms": it.duration_ms,
            "item_id": it.item_id,
            "art_url": it.art_url,
        },
        "is_playing": pb.is_playing,
        "progress_ms": pb.progress_ms,
        "observed_at": pb.observed_at,
        "device_name": pb.device_name,
    }


class BadAnswer(ValueError):
    pass


def _str(d: Mapping[str, Any], k: str, optional: bool = False) -> Any:
    v = d.get(k)
    if v is None and optional:
        return None
    if not isinstance(v, str) or len(v) > 1000:
        raise BadAnswer(k)
    return v


def _num(d: Mapping[str, Any], k: str) -> float:
    v = d.get(k)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise BadAnswer(k)
    return float(v)


def playback_from_doc(doc: Any, offset: float) -> Playback | None:
    """A Playback from the primary's JSON, its ``observed_at`` moved to our clock
    (``offset``: the primary's clock minus ours). Raises BadAnswer."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise BadAnswer("playback")
    raw = doc.get("item")
    item: Item | None = None
    if raw is not None:
        if not isinstance(raw, dict) or raw.get("kind") not in ("track", "episode", "local", "ad"):
            raise BadAnswer("item")
        item = Item(
            kind=raw["kind"],
            title=_str(raw, "title"),
            artist=_str(raw, "artist"),
            album=_str(raw, "album"),
            duration_ms=max(0, int(_num(raw, "duration_ms"))),
            item_id=_str(raw, "item_id", optional=True),
            art_url=_str(raw, "art_url", optional=True),
        )
    if not isinstance(doc.get("is_playing"), bool):
        raise BadAnswer("is_playing")
    return Playback(
        item=item,
        is_playing=doc["is_playing"],
        progress_ms=max(0, int(_num(doc, "progress_ms"))),
        observed_at=_num(doc, "observed_at") - offset,
        device_name=_str(doc, "device_name", optional=True),
    )


# --- the primary --------------------------------------------------------------------------------


def _key(pb: Playback | None) -> tuple[Any, ...]:
    if pb is None or pb.item is None:
        return (None,)
    it = pb.item
    return (it.kind, it.item_id, it.title, it.artist, it.album, it.duration_ms, pb.is_playing)


class ShareHub:
    """The primary's latest observation and its version; followers wait on it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        # A random start: a restarted primary never repeats the version a follower holds.
        self.version = secrets.randbelow(2**31)
        self.playback: Playback | None = None
        self.ok = False  # the primary's last poll succeeded (or was rate-limited: shared quota)
        self.error: str | None = "no observation yet"
        self.updated_at: float | None = None  # when the primary last asked Spotify
        self.next_poll_at: float | None = None  # when it means to ask next (stale after that)

    def publish(
        self,
        playback: Playback | None,
        error: SourceError | None,
        now: float,
        next_poll_at: float | None = None,
    ) -> None:
        """Fold one poll of the primary in; wake followers when something they show changed.
        ``next_poll_at``: when the primary asks next; an observation not renewed by then (and
        a follower's ``failover_s`` more) is stale: the primary hangs."""
        with self._cond:
            changed = False
            if error is None:
                old = self.playback
                changed = _key(old) != _key(playback) or not self.ok
                if not changed and old is not None and playback is not None:
                    drift = abs(old.progress_at(playback.observed_at) - playback.progress_ms)
                    changed = old.is_playing and drift > SEEK_SLACK_MS
                self.playback, self.ok, self.error = playback, True, None
            else:
                ok = isinstance(error, RateLimited)  # the quota is the fleet's: nobody may ask
                changed = ok != self.ok or str(error) != self.error
                self.ok, self.error = ok, str(error)
            self.updated_at, self.next_poll_at = now, next_poll_at
            if changed:
                self.version += 1
                self._cond.notify_all()

    def snapshot(self, since: int | None, wait_s: float) -> dict[str, Any]:
        """The document followers get; waits up to ``wait_s`` while the version is ``since``."""
        with self._cond:
            if since == self.version and wait_s > 0:
                self._cond.wait_for(lambda: self.version != since, timeout=wait_s)
            return {
                "version": self.version,
                "ok": self.ok,
                "error": self.error,
                "updated_at": self.updated_at,
                "next_poll_at": self.next_poll_at,
                "playback": playback_doc(self.playback),
            }

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class _RateLimiter:
    """A token bucket per address (``rate_per_s``, bursts of ``burst``)."""

    def __init__(self, rate_per_s: float, burst: float = 20.0) -> None:
        self.rate, self.burst = rate_per_s, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, addr: str, now: float) -> bool:
        with self._lock:
            if len(self._buckets) > 1024:
                self._buckets.clear()
            level, at = self._buckets.get(addr, (self.burst, now))
            level = min(self.burst, level + max(0.0, now - at) * self.rate)
            if level < 1:
                self._buckets[addr] = (level, now)
                return False
            self._buckets[addr] = (level - 1, now)
            return True


class _Handler(BaseHTTPRequestHandler):
    server_version = "needledrop"
    sys_version = ""
    protocol_version = "HTTP/1.0"
    timeout = 10.0  # seconds to read a request
    share: ShareServer  # set on the subclass per server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("share %s: " + format, self.client_address[0], *args)

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response_only(status)
        # The primary's clock (a board without one sets its own from it; not a detail of why)
        self.send_header("Date", email.utils.formatdate(self.share.clock(), usegmt=True))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.close_connection = True
        self._answer(code if code in (400, 404, 405, 408, 413, 414, 431) else 400)

    def parse_request(self) -> bool:
        if len(getattr(self, "raw_requestline", b"")) > MAX_LINE:
            self.requestline = ""
            self.request_version = "HTTP/1.0"
            self.close_connection = True
            self._answer(414)
            return False
        if not super().parse_request():
            return False
        if (
            len(self.headers) > MAX_HEADERS
            or sum(len(k) + len(v) for k, v in self.headers.items()) > MAX_HEADER_BYTES
        ):
            self.close_connection = True
            self._answer(431)
            return False
        return True

    def _refuse_others(self) -> None:
        self.close_connection = True
        self._answer(405)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _refuse_others

    def do_GET(self) -> None:
        srv = self.share
        self.close_connection = True
        now = srv.clock()
        if not srv.limiter.allow(self.client_address[0], now):
            self._answer(429)
            return
        if self.headers.get("Content-Length", "0") != "0" or self.headers.get("Transfer-Encoding"):
            self._answer(413)
            return
        if not srv.verifier.check(self.headers.get("Authorization"), "GET", self.path, now):
            self._answer(401)
            return
        parts = urlsplit(self.path)
        if parts.path != PATH:
            self._answer(404)
            return
        query = parse_qs(parts.query, max_num_fields=4)
        since: int | None = None
        wait = 0.0
        try:
            if "since" in query:
                since = int(query["since"][0])
            if "wait" in query:
                wait = float(query["wait"][0])
        except ValueError:
            self._answer(400)
            return
        wait = min(max(wait, 0.0), srv.long_poll_s) if math.isfinite(wait) else 0.0
        srv.saw(self.client_address[0], now)
        start = srv.clock()
        doc = srv.hub.snapshot(since, wait)
        sent = srv.clock()
        doc["server_time"] = sent
        doc["held_s"] = max(0.0, sent - start)
        self._answer(200, json.dumps(doc, separators=(",", ":")).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 16

    def __init__(self, addr: tuple[str, int], handler: type[_Handler], family: int) -> None:
        self.address_family = family
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(addr, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("share: a request from %s failed", client_address[0], exc_info=True)


class ShareServer:
    """The primary's endpoint: serves ``hub`` on ``bind``:``port`` (0: any free port)."""

    def __init__(
        self,
        hub: ShareHub,
        key: bytes,
        bind: str = "127.0.0.1",
        port: int = 0,
        *,
        long_poll_s: float = 20.0,
        max_skew_s: float = 60.0,
        rate_per_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hub = hub
        self.verifier = Verifier(key, max_skew_s)
        self.limiter = _RateLimiter(rate_per_s)
        self.long_poll_s = long_poll_s
        self.clock = clock
        self.peers: dict[str, float] = {}
        handler = type("Handler", (_Handler,), {"share": self})
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        self._server = _Server((bind, port), handler, family)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def saw(self, addr: str, now: float) -> None:
        if len(self.peers) > 256:
            self.peers.clear()
        self.peers[addr] = now

    def followers(self, now: float) -> list[str]:
        return sorted(a for a, t in list(self.peers.items()) if now - t < PEER_MEMORY_S)

    def start(self) -> ShareServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.hub.wake()


# --- the follower -------------------------------------------------------------------------------


@dataclass
class Answer:
    doc: dict[str, Any]
    offset: float  # the primary's clock minus ours
    rtt: float


class PrimaryClient:
    """Signed requests to one primary; keeps the best clock-offset estimate."""

    def __init__(
        self,
        url: str,
        key: bytes,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not an http URL: {url}")
        self.url = url
        self.host, self.port = parts.hostname, parts.port or 80
        self.key = key
        self.timeout = timeout
        self.clock = clock
        self.requests = CallLog()
        self._offsets: deque[tuple[float, float]] = deque(maxlen=8)  # (rtt, offset)
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        if not self._offsets:
            return 0.0
        return min(self._offsets)[1]  # the sample with the shortest round trip

    def interrupt(self) -> None:
        """Abort a request in flight (the service is stopping)."""
        with self._lock:
            conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def get(self, since: int | None, wait_s: float) -> Answer:
        """One request; raises Offline (unreachable, refused, unreadable)."""
        target = PATH + f"?wait={wait_s:g}" + ("" if since is None else f"&since={since}")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout + wait_s)
        with self._lock:
            self._conn = conn
        sent = self.clock()
        self.requests.record(sent)
        try:
            conn.request(
                "GET",
                target,
                headers={"Authorization": authorization(self.key, "GET", target, sent)},
            )
            resp = conn.getresponse()
            body = resp.read(MAX_ANSWER + 1)
        except (OSError, http.client.HTTPException) as e:
            raise Offline(
                f"Cannot reach the primary display {self.url} ({type(e).__name__})."
            ) from None
        finally:
            conn.close()
            with self._lock:
                self._conn = None
        got = self.clock()
        if resp.status == 401:
            raise Offline(
                f"The primary display {self.url} refused this display's key (401); "
                "check NEEDLEDROP_SHARE_KEY."
            )
        if resp.status != 200:
            raise Offline(f"The primary display {self.url} answered HTTP {resp.status}.")
        try:
            if len(body) > MAX_ANSWER:
                raise BadAnswer("size")
            doc = json.loads(body)
            if not isinstance(doc, dict):
                raise BadAnswer("document")
            server_time, held = _num(doc, "server_time"), _num(doc, "held_s")
            if not isinstance(doc.get("version"), int) or not isinstance(doc.get("ok"), bool):
                raise BadAnswer("version")
        except (ValueError, UnicodeDecodeError):
            raise Offline(
                f"The primary display {self.url} sent an answer needledrop cannot read."
            ) from None
        rtt = max(0.0, (got - sent) - held)
        offset = server_time - (got - rtt / 2)
        self._offsets.append((rtt, offset))
        return Answer(doc, self.offset, rtt)


@dataclass
class FollowState:
    mode: str = "following"  # following | fallback
    since: int | None = None  # the primary's version we last saw
    healthy_at: float = 0.0  # when the primary was last healthy (our clock)
    next_probe_at: float = 0.0  # fallback: when to ask the primary again
    spotify_not_before: float = -math.inf  # fallback: a 429's Retry-After
    switches: list[tuple[float, str]] = field(default_factory=list)


class FollowSource:
    """A display that shows what its primary sees; polls Spotify itself when the primary is
    gone or failing for ``failover_s``, and follows again once the primary is healthy."""

    def __init__(
        self,
        client: PrimaryClient,
        fallback: Callable[[float], Playback | None],
        *,
        now: float,
        long_poll_s: float = 20.0,
        failover_s: float = 30.0,
        recheck_s: float = 20.0,
        calls: CallLog | None = None,
    ) -> None:
        self.client = client
        self.fallback = fallback
        self.long_poll_s = long_poll_s
        self.failover_s = failover_s
        self.recheck_s = recheck_s
        self.calls = calls if calls is not None else CallLog()  # the fallback's Spotify calls
        self.state = FollowState(healthy_at=now)
        self._last: Playback | None = None

    @property
    def following(self) -> bool:
        return self.state.mode == "following"

    def _switch(self, mode: str, now: float, why: str) -> None:
        if mode != self.state.mode:
            if mode == "fallback":
                log.warning("%s; polling Spotify until it is back", why)
            else:
                log.info("%s; following it again", why)
            self.state.mode = mode
            self.state.switches.append((now, mode))
            del self.state.switches[:-20]

    def _ask(self, wait_s: float, now: float) -> tuple[Answer, Playback | None, bool]:
        answer = self.client.get(self.state.since, wait_s)
        doc = answer.doc
        try:
            pb = playback_from_doc(doc.get("playback"), answer.offset)
        except (BadAnswer, TypeError, ValueError):
            raise Offline(
                f"The primary display {self.client.url} sent an answer needledrop cannot read."
            ) from None
        healthy = bool(doc["ok"])
        due = doc.get("next_poll_at")
        if isinstance(due, int | float) and not isinstance(due, bool):
            # the primary has not renewed what it saw when it said it would: it hangs
            healthy = healthy and float(doc["server_time"]) <= due + self.failover_s
        self.state.since = int(doc["version"])
        return answer, pb, healthy

    def poll(self, now: float) -> Playback | None:
        st = self.state
        if st.mode == "following":
            try:
                answer, pb, healthy = self._ask(self.long_poll_s, now)
            except Offline:
                if now - st.healthy_at <= self.failover_s:
                    raise
                self._switch(
                    "fallback", now, f"the primary display {self.client.url} is unreachable"
                )
            else:
                if healthy:
                    st.healthy_at = self.client.clock()
                    self._last = pb
                    return pb
                if now - st.healthy_at <= self.failover_s:
                    why = answer.doc.get("error")
                    why = why if isinstance(why, str) else "it stopped polling Spotify"
                    raise Offline(f"The primary display fails: {why}")
                self._switch("fallback", now, f"the primary display {self.client.url} fails")
            st.next_probe_at = now + self.recheck_s
        elif now >= st.next_probe_at:
            st.next_probe_at = now + self.recheck_s
            try:
                _, pb, healthy = self._ask(0.0, now)
            except Offline:
                healthy = False
            if healthy:
                st.healthy_at = now
                self._switch("following", now, f"the primary display {self.client.url} is back")
                return pb
        if now < st.spotify_not_before:
            raise RateLimited(
                "Spotify rate limit; not asking again yet.", st.spotify_not_before - now
            )
        try:
            return self.fallback(now)
        except RateLimited as e:
            st.spotify_not_before = now + e.retry_after
            raise

    def pace(self, planned: float, asked_at: float, ok: bool) -> float:
        """When the runner polls next: at once while following (a long poll waits for us),
        soon after a failure, and at least every ``recheck_s`` while failed over."""
        if self.following:
            return asked_at + FOLLOW_GAP_S if ok else min(planned, asked_at + 2.0)
        return min(planned, self.state.next_probe_at)

    def sharing(self, now: float) -> dict[str, Any]:
        return {
            "role": "follower",
            "following": self.client.url,
            "mode": self.state.mode,
            "polling_spotify": not self.following,
            "primary_healthy_s_ago": round(max(0.0, now - self.state.healthy_at), 1),
            "lan_requests_last_hour": self.client.requests.count(now),
        }

    def interrupt(self) -> None:
        self.client.interrupt()
