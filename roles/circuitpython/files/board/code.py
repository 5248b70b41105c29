# SPDX-FileCopyrightText: needledrop contributors
# SPDX-License-Identifier: MIT
# needledrop: shows what Spotify plays on the HUB75 panel of this board.
# Written by the needledrop playbook, which overwrites changes here (a code.py of your own was
# kept as code.py.orig). Settings come from settings.toml.
import os
import ssl
import time

import adafruit_requests
import displayio
import microcontroller
import socketpool
import terminalio
import wifi
from adafruit_display_text import label
from adafruit_display_text.bitmap_label import Label as ScrollingLabel
from needledrop_spotify import IDLE, PAUSED, PLAYING, SpotifyClient, TokenStore

try:
    from needledrop_follow import FollowClient
except ImportError:  # a drive written before boards could follow a display
    FollowClient = None


def setting(key, default):
    value = os.getenv(key)
    return default if value is None else value


WIDTH = int(setting("NEEDLEDROP_PANEL_WIDTH", 64))
HEIGHT = int(setting("NEEDLEDROP_PANEL_HEIGHT", 32))
BIT_DEPTH = int(setting("NEEDLEDROP_PANEL_BIT_DEPTH", 4))
POLL_SECONDS = int(setting("NEEDLEDROP_POLL_SECONDS", 5))
FRAME_SECONDS = 0.05
GREEN = 0x1DB954


def make_display():
    import board
    import framebufferio
    import rgbmatrix

    if not hasattr(board, "MTX_ADDRESS"):
        # No HUB75 connector: a built-in screen if the board has one, else the serial console.
        return getattr(board, "DISPLAY", None)
    displayio.release_displays()
    rows = {16: 3, 32: 4, 64: 5}[HEIGHT]
    matrix = rgbmatrix.RGBMatrix(
        width=WIDTH,
        height=HEIGHT,
        bit_depth=BIT_DEPTH,
        rgb_pins=board.MTX_COLOR,
        addr_pins=board.MTX_ADDRESS[:rows],
        clock_pin=board.MTX_CLK,
        latch_pin=board.MTX_LAT,
        output_enable_pin=board.MTX_OE,
    )
    return framebufferio.FramebufferDisplay(matrix, auto_refresh=True)


class Screen:
    """Title and artist (scrolling), a progress bar, and one status line for everything else."""

    def __init__(self, display):
        chars = max(4, WIDTH // 6)
        self.root = displayio.Group()
        self.title = ScrollingLabel(
            terminalio.FONT, text=" ", max_characters=chars, animate_time=0.25
        )
        self.title.color = 0xFFFFFF
        self.title.y = 6
        self.artist = ScrollingLabel(
            terminalio.FONT, text=" ", max_characters=chars, animate_time=0.25
        )
        self.artist.color = GREEN
        self.artist.y = 18 if HEIGHT >= 32 else 12
        self.status = label.Label(terminalio.FONT, text=" ", color=0x909090)
        self.status.y = HEIGHT // 2
        self.bar = displayio.Bitmap(WIDTH, 2, 2)
        palette = displayio.Palette(2)
        palette[0] = 0x000000
        palette[1] = GREEN
        self.bar_grid = displayio.TileGrid(self.bar, pixel_shader=palette, y=HEIGHT - 2)
        for item in (self.title, self.artist, self.status, self.bar_grid):
            self.root.append(item)
        self.lit = 0
        self.track = None
        self.shown_at = 0
        if display is None:
            pass
        elif hasattr(display, "root_group"):
            display.root_group = self.root
        else:
            display.show(self.root)  # CircuitPython 8.0
        self.message("connecting")

    def message(self, text):
        self.track = None
        self.title.hidden = True
        self.artist.hidden = True
        self.status.hidden = False
        if 6 * len(text) > WIDTH and " " in text:
            text = text.replace(" ", "\n", 1)  # two short lines fit a small panel
        self.status.text = text
        widest = max(len(line) for line in text.split("\n"))
        self.status.x = max(0, (WIDTH - 6 * widest) // 2)
        self.status.y = HEIGHT // 2 - (6 if "\n" in text else 0)
        self.progress(0)

    def show(self, poll, now):
        if poll.state in (PLAYING, PAUSED) and poll.track:
            track = poll.track
            if self.title.full_text != track["title"]:
                self.title.text = track["title"] or " "
            if self.artist.full_text != track["artist"]:
                self.artist.text = track["artist"] or " "
            self.title.hidden = False
            self.artist.hidden = False
            self.status.hidden = True
            self.track = track
            self.shown_at = now
        elif poll.state == IDLE or poll.message == "rate limited" and self.track is None:
            self.message("nothing playing")
        elif poll.message != "rate limited":
            self.message(poll.message)

    def progress(self, fraction):
        lit = int(max(0.0, min(1.0, fraction)) * WIDTH)
        if lit == self.lit:
            return
        for x in range(min(lit, self.lit), max(lit, self.lit)):
            self.bar[x, 0] = 1 if x < lit else 0
            self.bar[x, 1] = 1 if x < lit else 0
        self.lit = lit

    def tick(self, now):
        track = self.track
        if track is None:
            return
        self.title.update()
        self.artist.update()
        if track["duration_ms"]:
            elapsed = (now - self.shown_at) * 1000 if track["is_playing"] else 0
            self.progress((track["progress_ms"] + elapsed) / track["duration_ms"])


def join_wifi():
    if wifi.radio.ipv4_address is None:
        wifi.radio.connect(os.getenv("CIRCUITPY_WIFI_SSID"), os.getenv("CIRCUITPY_WIFI_PASSWORD"))


def main():
    screen = Screen(make_display())
    pool = socketpool.SocketPool(wifi.radio)
    session = adafruit_requests.Session(pool, ssl.create_default_context())
    if os.getenv("NEEDLEDROP_FOLLOW_URL") and FollowClient is not None:
        # Follow a needledrop display (the account's primary): no Spotify sign-in, no Spotify call.
        client = FollowClient(session, os.getenv, print, POLL_SECONDS)
    else:
        client = SpotifyClient(
            session, TokenStore(microcontroller.nvm), os.getenv, print, POLL_SECONDS
        )
    next_poll = 0
    while True:
        now = time.monotonic()
        if now >= next_poll:
            try:
                join_wifi()
            except (OSError, ConnectionError, RuntimeError) as err:
                result = client.network_lost(err)
            else:
                result = client.poll(now)
            screen.show(result, now)
            next_poll = now + result.retry_in
        screen.tick(now)
        time.sleep(FRAME_SECONDS)


main()
