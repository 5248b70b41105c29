"""Boot a simulated CircuitPython board on CPython: run its drive's code.py with stand-ins.

    python run_board.py --drive DIR --nvm FILE --port PORT --ca CA.pem --seconds 120 \
        --log screen.jsonl [--net-down 30:90]

One run is one boot: NVM lives in --nvm across runs, the drive's settings.toml is read the way
CircuitPython's os.getenv reads it, time is virtual (code.py's sleeps advance it and return at
once), Spotify's hosts resolve to the loopback fake on --port and TLS is checked against the
throw-away CA. What the panel shows is written to --log as JSON lines whenever it changes; what
code.py prints (the serial console) goes to stdout. Exit 0 when the time is up, 1 if code.py
raised.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import ssl
import sys
import threading
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


class TimeUp(BaseException):
    """Raised from time.sleep when the run's virtual time is over (not an Exception)."""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drive", required=True, type=Path)
    parser.add_argument("--nvm", required=True)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--log", required=True)
    parser.add_argument("--net-down", action="append", default=[])
    args = parser.parse_args()

    os.environ["FAKE_NVM_PATH"] = args.nvm
    os.environ["SSL_CERT_FILE"] = args.ca
    drive = args.drive.resolve()
    sys.path[:] = [str(drive), str(drive / "lib"), str(HERE)] + [
        p for p in sys.path if Path(p or ".").resolve() != HERE
    ]
    sys.path.append(str(REPO / "roles" / "circuitpython" / "module_utils"))

    from _sim import WORLD
    from circuitpython_settings import parse

    def getenv(key, default=None):
        try:
            content = (drive / "settings.toml").read_bytes()
        except FileNotFoundError:
            return default
        value = parse(content).get(key, default)
        if isinstance(value, ValueError):
            raise ValueError(f"Invalid settings.toml value for {key}: {value}")  # noqa: TRY004
        return value

    os.getenv = getenv
    WORLD.port = args.port
    WORLD.ssid = getenv("CIRCUITPY_WIFI_SSID")
    WORLD.password = getenv("CIRCUITPY_WIFI_PASSWORD")
    for window in args.net_down:
        start, end = window.split(":")
        WORLD.net_down.append((float(start), float(end)))

    class LoopbackSSLSocket(ssl.SSLSocket):
        """Connect to the fake; SNI and certificate checks still use the real host name."""

        def connect(self, address):
            return super().connect(("127.0.0.1", WORLD.port))

    ssl.SSLContext.sslsocket_class = LoopbackSSLSocket

    log = open(args.log, "w", encoding="utf-8")  # noqa: SIM115 - closed at exit
    last = [None]

    def screen():
        import framebufferio

        if not framebufferio.DISPLAYS or framebufferio.DISPLAYS[0].root_group is None:
            return None
        texts, progress = [], None
        for item in framebufferio.DISPLAYS[0].root_group:
            if getattr(item, "hidden", False):
                continue
            if hasattr(item, "full_text"):
                texts.append(item.full_text.strip())  # scrolling adds a gap
            elif hasattr(item, "text"):
                texts.append(item.text)
            elif hasattr(item, "bitmap"):
                bitmap = item.bitmap
                progress = sum(bitmap[x, 0] for x in range(bitmap.width)) / bitmap.width
        return {"texts": texts, "progress": progress}

    def record(force=False):
        shown = screen()
        if shown is None:
            return
        key = (
            tuple(shown["texts"]),
            None if shown["progress"] is None else round(shown["progress"], 2),
        )
        if force or key != last[0]:
            last[0] = key
            log.write(json.dumps({"t": round(WORLD.now, 2), **shown}) + "\n")
            log.flush()

    real_sleep = time.sleep
    main_thread = threading.main_thread()

    def sleep(seconds):
        if threading.current_thread() is not main_thread:
            # blinka's displayio refreshes from a thread of its own: real time for that one.
            real_sleep(seconds)
            return
        WORLD.now += max(0.0, seconds)
        record()
        if WORLD.now >= args.seconds:
            raise TimeUp

    time.monotonic = lambda: WORLD.now
    time.sleep = sleep

    try:
        runpy.run_path(str(drive / "code.py"), run_name="__main__")
    except TimeUp:
        record(force=True)
        return 0
    except Exception:  # noqa: BLE001 - code.py crashed: the test reads the traceback
        traceback.print_exc(file=sys.stdout)
        return 1
    finally:
        log.close()
    print("code.py returned")
    return 1


if __name__ == "__main__":
    sys.exit(main())
