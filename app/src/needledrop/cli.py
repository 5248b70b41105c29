"""``needledrop``: argument parsing and wiring only.

    needledrop run     [--config PATH] [--duration S]
    needledrop auth    [--config PATH] [--paste] [--no-browser] [--out PATH]
    needledrop status  [--config PATH] [--json]
    needledrop render  --demo --size 64x64 --out frame.png [--scene track] [--scale N]

Errors a user can cause print one sentence to stderr and exit non-zero (2 for config errors,
1 otherwise); ``status`` exits 0 only when the display is healthy.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from needledrop import __version__
from needledrop.config import CONFIG_ENV, Config, ConfigError, load_config
from needledrop.snapshot import SnapshotError, add_render_arguments, run_render

if TYPE_CHECKING:
    from needledrop.share import ShareServer
    from needledrop.spotify import SpotifySource

EXIT_OK, EXIT_ERROR, EXIT_CONFIG = 0, 1, 2


class UserError(Exception):
    """A problem the user can fix; ``str()`` is one sentence."""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, help=f"the TOML config file (default: ${CONFIG_ENV})"
    )
    p = argparse.ArgumentParser(
        prog="needledrop", description="Spotify now-playing for HUB75 LED panels."
    )
    p.add_argument("--version", action="version", version=f"needledrop {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run the display service")
    run.add_argument("--duration", type=float, help="stop after this many seconds")
    run.add_argument("-v", "--verbose", action="store_true", help="log debug messages")

    auth = sub.add_parser(
        "auth", parents=[common], help="sign in to Spotify once and write the token cache"
    )
    auth.add_argument(
        "--paste", action="store_true", help="headless: paste the redirected URL instead"
    )
    auth.add_argument("--no-browser", action="store_true", help="print the URL, open nothing")
    auth.add_argument("--out", type=Path, help="token cache to write (default: from config)")
    auth.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for sign-in")

    status = sub.add_parser("status", parents=[common], help="what the display shows and why")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    render = sub.add_parser("render", help="render one demo frame to a PNG file")
    add_render_arguments(render)
    return p


# --- commands -------------------------------------------------------------------------------


def cmd_run(cfg: Config, duration: float | None) -> int:
    from needledrop.backends import BackendError, open_backend
    from needledrop.render import Renderer
    from needledrop.runner import Runner, Source, remove_stale_temporaries_at_start

    if cfg.source in ("spotify", "follow"):
        cfg.spotify.require_credentials()
    if cfg.share.serve or cfg.source == "follow":
        cfg.share.require_key()
    # The rgbmatrix backend drops root privileges when it starts; open it before any file
    # so that everything after (token, state, art cache) is opened as the service user.
    try:
        backend = open_backend(cfg)
    except BackendError as e:
        raise UserError(str(e)) from None
    source: Source
    source_close = None
    renderer: Renderer | None = None
    sharing: dict[str, Any] = {}
    server = None
    interrupt: Callable[[], None] | None = None
    try:
        remove_stale_temporaries_at_start(cfg)
        if cfg.source == "demo":
            from needledrop.demo import DemoSource

            source = DemoSource(start=time.time())
            token_info = None
        else:
            from needledrop.spotify import SpotifySource

            spotify = SpotifySource(
                cfg.spotify, cfg.paths.token_cache, timeout=cfg.polling.request_timeout_s
            )
            source, token_info, source_close = spotify, spotify.token_info, spotify.close
            sharing = {"calls": spotify.calls}
            if cfg.source == "follow":
                sharing |= follow_wiring(cfg, spotify)
                source = sharing["source"]
                interrupt = sharing["source"].interrupt
            elif cfg.share.serve:
                server = serve(cfg)
                sharing |= {"hub": server.hub, "sharing": primary_status(server)}
        width, height = cfg.size
        renderer = Renderer(width, height, cfg, cfg.paths.art_cache_dir)
        runner = Runner(
            cfg,
            source,
            renderer,
            backend,
            now=time.time(),
            token_info=token_info,
            calls=sharing.get("calls"),
            hub=sharing.get("hub"),
            pace=sharing.get("pace"),
            sharing=sharing.get("sharing"),
        )
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()
            if interrupt is not None:
                interrupt()  # a long poll to the primary in flight

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        logging.getLogger(__name__).info(
            "needledrop %s: %dx%d on %s, source %s",
            __version__,
            width,
            height,
            cfg.display.backend,
            cfg.source,
        )
        until = time.time() + duration if duration is not None else None
        runner.run(stop, until=until)
    finally:
        if renderer is not None:
            renderer.close()  # stops the art fetcher without waiting out a download
        backend.close()
        if server is not None:
            server.close()
        if source_close is not None:
            source_close()
    return EXIT_OK


def serve(cfg: Config) -> ShareServer:
    """The primary's endpoint for its followers (share.py)."""
    from needledrop.share import ShareHub, ShareServer

    share = cfg.share
    try:
        server = ShareServer(
            ShareHub(),
            share.require_key(),
            share.bind,
            share.port,
            long_poll_s=share.long_poll_s,
            max_skew_s=share.max_skew_s,
            rate_per_s=share.rate_per_s,
        )
    except OSError as e:
        raise UserError(
            f"Cannot serve followers on {share.bind}:{share.port} ({e.strerror or e}); "
            "check share.bind (an address of this host) and share.port."
        ) from None
    return server.start()


def primary_status(server: ShareServer) -> Callable[[float], dict[str, Any]]:
    def status(now: float) -> dict[str, Any]:
        host, port = server.address
        return {
            "role": "primary",
            "following": None,
            "serving": f"{host}:{port}",
            "followers": server.followers(now),
        }

    return status


def follow_wiring(cfg: Config, spotify: SpotifySource) -> dict[str, Any]:
    """A follower's source (its own Spotify source as the fallback) and its hooks."""
    from needledrop.share import FollowSource, PrimaryClient

    share = cfg.share
    client = PrimaryClient(
        share.primary_url, share.require_key(), timeout=cfg.polling.request_timeout_s
    )
    follow = FollowSource(
        client,
        spotify.poll,
        now=time.time(),
        long_poll_s=share.long_poll_s,
        failover_s=share.failover_s,
        recheck_s=share.recheck_s,
        calls=spotify.calls,
    )
    return {"source": follow, "pace": follow.pace, "sharing": follow.sharing}


def cmd_auth(cfg: Config, paste: bool, no_browser: bool, out: Path | None, timeout: float) -> int:
    from needledrop.auth import AuthError, authorize

    token_path = out or cfg.paths.token_cache
    try:
        result = authorize(
            cfg.spotify,
            token_path,
            open_url=(lambda url: None) if no_browser else webbrowser.open,
            paste=paste,
            timeout_s=timeout,
        )
    except AuthError as e:
        raise UserError(str(e)) from None
    except EOFError:
        raise UserError("No URL was pasted; nothing was written.") from None
    print(f"Signed in. Token written to {result.token_path} (mode 0600).")
    return EXIT_OK


def cmd_status(cfg: Config, as_json: bool) -> int:
    from needledrop.spotify import TokenUnavailable, read_token_file
    from needledrop.status import RENEW_COMMAND, expiry_line, rate_limit_line, read_status

    try:
        raw = read_token_file(cfg.paths.token_cache)
        token = {k: raw.get(k) for k in ("expires_at", "authorized_at", "scope")}
    except TokenUnavailable:
        token = None
    doc, healthy = read_status(
        cfg.paths.status_file,
        cfg.paths.reauth_file,
        time.time(),
        token=token,
        warning_days=cfg.layout.token_warning_days,
    )
    if as_json:
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        shown = doc.get("showing") or {}
        what = shown.get("screen", "unknown")
        if shown.get("title"):
            what += f": {shown['title']} — {shown.get('artist', '')}"
        running = "running" if doc.get("running") else "NOT running"
        print(f"{'healthy' if healthy else 'NOT healthy'} ({running}); showing {what}")
        print(f"last successful poll: {doc.get('last_poll_ok_at')}")
        print(sharing_line(doc))
        limited = rate_limit_line(doc, time.time())
        if limited:
            print(limited)
        if doc.get("last_error"):
            print(f"last error: {doc['last_error']}")
        save_error = (doc.get("token") or {}).get("save_error")
        if save_error:
            print(
                f"refreshed token cannot be saved to {cfg.paths.token_cache} ({save_error}); "
                "kept in memory until it can"
            )
        expiring = expiry_line(doc)
        if expiring and not doc.get("reauth_needed"):
            print(expiring)
        if doc.get("reauth_needed"):
            print(f"re-auth needed: run '{RENEW_COMMAND}' on the controller")
    return EXIT_OK if healthy else EXIT_ERROR


def sharing_line(doc: dict[str, Any]) -> str:
    """ "follower of http://kitchen:8765 (following); 0 Spotify calls in the last hour" """
    raw = doc.get("sharing")
    sh: dict[str, Any] = raw if isinstance(raw, dict) else {}
    role = sh.get("role", "solo")
    if role == "primary":
        who = (
            f"primary, serving {sh.get('serving')} to {len(sh.get('followers') or [])} follower(s)"
        )
    elif role == "follower":
        mode = "polling Spotify itself" if sh.get("polling_spotify") else "following"
        who = f"follower of {sh.get('following')} ({mode})"
    else:
        who = "solo (polls Spotify alone)"
    return f"{who}; {doc.get('spotify_calls_last_hour', 0)} Spotify calls in the last hour"


# --- entry point ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if getattr(args, "verbose", False) else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # spotipy logs every HTTP error at ERROR with the URL; the source logs one line itself.
    logging.getLogger("spotipy").setLevel(logging.CRITICAL)
    try:
        if args.command == "render":
            return run_render(args)
        cfg = load_config(args.config)
        if args.command == "run":
            return cmd_run(cfg, args.duration)
        if args.command == "auth":
            return cmd_auth(cfg, args.paste, args.no_browser, args.out, args.timeout)
        if args.command == "status":
            return cmd_status(cfg, args.json)
    except ConfigError as e:
        print(f"needledrop: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except (UserError, SnapshotError) as e:
        print(f"needledrop: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")  # argparse restricts choices
