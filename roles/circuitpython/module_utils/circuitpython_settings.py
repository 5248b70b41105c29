# Copyright: needledrop contributors
# SPDX-License-Identifier: MIT
"""settings.toml as CircuitPython reads it: render, merge with a user's file, parse.

CircuitPython's ``os.getenv`` understands a small subset of TOML, read line by line:

* ``KEY = "value"`` or ``KEY = 123`` on one line, keys before any ``[table]`` line;
* a value is a basic double-quoted string or a base-10 integer;
* inside a string, ``\\"`` and ``\\\\`` and ``\\uXXXX`` / ``\\UXXXXXXXX`` escapes are understood;
  a raw newline or NUL byte ends the line with an error;
* after the closing quote only spaces and a ``# comment`` may follow, then a newline (8.x reads
  a value at end of file without a newline as an error);
* the last line that sets a key wins.

The writer here emits only that subset and only printable ASCII (everything else as ``\\u``
escapes), so a file it wrote is read the same by CircuitPython 8.2, 9 and 10 and by any TOML
parser. It refuses what CircuitPython can't carry (NUL, lone surrogates, floats, booleans, keys
that are not bare words) with a message naming the key.
"""

from __future__ import annotations

import re

BEGIN_MARK = "# BEGIN needledrop managed keys (change them in the inventory, not here)"
END_MARK = "# END needledrop managed keys"

KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What CircuitPython's C parser accepts as an integer after strtol/mp_parse_num_integer and
# what the C callers (wifi, web workflow) can hold: keep to a signed 32-bit range.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

WIFI_SSID_KEY = "CIRCUITPY_WIFI_SSID"
WIFI_PASSWORD_KEY = "CIRCUITPY_WIFI_PASSWORD"


class SettingsError(ValueError):
    """A value or key that CircuitPython's settings.toml can't represent."""


def check_key(key: str) -> None:
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise SettingsError(
            f"settings.toml key {key!r} is not a bare word: use letters, digits and _ only, "
            "not starting with a digit"
        )


def escape_string(key: str, value: str) -> str:
    """Return ``value`` as a double-quoted string CircuitPython reads back unchanged."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif 0x20 <= code <= 0x7E:
            out.append(ch)
        elif code == 0:
            raise SettingsError(
                f"{key} contains a NUL character, which CircuitPython can't read: remove it"
            )
        elif 0xD800 <= code <= 0xDFFF:
            raise SettingsError(
                f"{key} contains a lone surrogate (U+{code:04X}), which is not valid Unicode: "
                "fix the value's encoding"
            )
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def format_value(key: str, value: object) -> str:
    check_key(key)
    if isinstance(value, bool) or value is None:
        raise SettingsError(
            f"{key} is {value!r}: CircuitPython's settings.toml holds only strings and integers; "
            "quote it in the inventory"
        )
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise SettingsError(f"{key} = {value} is outside the 32-bit range CircuitPython reads")
        return str(value)
    if isinstance(value, str):
        return escape_string(key, value)
    raise SettingsError(
        f"{key} is a {type(value).__name__}: CircuitPython's settings.toml holds only "
        "strings and integers"
    )


def check_wifi(settings: dict) -> None:
    """WPA limits that the C side of CircuitPython (wifi autoconnect, web workflow) relies on."""
    ssid = settings.get(WIFI_SSID_KEY)
    if ssid is not None:
        if not isinstance(ssid, str) or not ssid:
            raise SettingsError(f"{WIFI_SSID_KEY} must be a non-empty string")
        if len(ssid.encode("utf-8", "surrogatepass")) > 32:
            raise SettingsError(
                f"{WIFI_SSID_KEY} is {len(ssid.encode('utf-8', 'surrogatepass'))} bytes "
                "long; Wi-Fi network names are at most 32 bytes (UTF-8)"
            )
    password = settings.get(WIFI_PASSWORD_KEY)
    if password is not None:
        if not isinstance(password, str):
            raise SettingsError(f"{WIFI_PASSWORD_KEY} must be a string")
        is_psk = len(password) == 64 and all(c in "0123456789abcdefABCDEF" for c in password)
        printable = all(0x20 <= ord(c) <= 0x7E for c in password)
        if not is_psk and not (8 <= len(password) <= 63 and printable):
            # Never echo the password itself.
            raise SettingsError(
                f"{WIFI_PASSWORD_KEY} must be 8 to 63 printable ASCII characters (a WPA2 "
                f"passphrase) or 64 hex digits; the one given has {len(password)} characters"
                + ("" if printable else " and some outside printable ASCII")
            )


def render_block(settings: dict) -> str:
    """The managed block: marker lines around one ``KEY = value`` line per setting."""
    check_wifi(settings)
    lines = [BEGIN_MARK]
    for key, value in settings.items():
        lines.append(f"{key} = {format_value(key, value)}")
    lines.append(END_MARK)
    return "\n".join(lines) + "\n"


def _line_key(line: str):
    """The key a line sets as CircuitPython matches it, or None (comment, blank, table)."""
    stripped = line.lstrip(" \t\r\v\f")
    if not stripped or stripped[0] in "#[":
        return None
    match = re.match(r"([^\s=]+)\s*=", stripped)
    return match.group(1) if match else None


def merge(existing: bytes | None, settings: dict) -> tuple[bytes, list]:
    """New file content: the managed block first, then the user's own lines.

    Lines between the markers are replaced. Lines outside them are kept as they were, except
    lines that set a managed key (CircuitPython takes the last one, so they would override the
    inventory): those are dropped and their key names returned.
    """
    block = render_block(settings)
    kept = []
    dropped = []
    if existing:
        text = existing.decode("utf-8", "surrogateescape")
        inside = False
        for line in text.splitlines(keepends=True):
            bare = line.rstrip("\r\n")
            if bare == BEGIN_MARK:
                inside = True
                continue
            if bare == END_MARK:
                inside = False
                continue
            if inside:
                continue
            key = _line_key(bare)
            if key is not None and key in settings:
                dropped.append(key)
                continue
            kept.append(line)
        if kept and not kept[-1].endswith("\n"):
            kept[-1] += "\n"
    # Keys set before the first table stay before it: the block goes first.
    content = block + "".join(kept)
    return content.encode("utf-8", "surrogateescape"), dropped


class ParseError(ValueError):
    """What CircuitPython would raise from os.getenv for this key."""


def _parse_value(key: str, rest: str):
    rest = rest.lstrip(" \t\v\f\r")
    if rest.startswith('"'):
        out = []
        i = 1
        while True:
            if i >= len(rest):
                raise ParseError(f"{key}: string not closed on its line")
            ch = rest[i]
            if ch == "\x00":
                raise ParseError(f"{key}: NUL in string")
            if ch == '"':
                tail = rest[i + 1 :].lstrip(" \t\v\f\r")
                if tail and not tail.startswith("#"):
                    raise ParseError(f"{key}: unexpected {tail[0]!r} after string")
                return "".join(out)
            if ch == "\\":
                i += 1
                if i >= len(rest):
                    raise ParseError(f"{key}: escape at end of line")
                esc = rest[i]
                if esc in "uU":
                    size = 4 if esc == "u" else 8
                    digits = rest[i + 1 : i + 1 + size]
                    if len(digits) != size or not all(
                        c in "0123456789abcdefABCDEF" for c in digits
                    ):
                        raise ParseError(f"{key}: bad \\{esc} escape")
                    code = int(digits, 16)
                    if code >= 0x110000:
                        raise ParseError(f"{key}: invalid unicode escape")
                    out.append(chr(code))
                    i += 1 + size
                    continue
                out.append(
                    {
                        "b": "\b",
                        "r": "\r",
                        "n": "\n",
                        "t": "\t",
                        "v": "\v",
                        "f": "\f",
                    }.get(esc, esc)
                )
                i += 1
                continue
            out.append(ch)
            i += 1
    bare = rest.split("#", 1)[0].strip(" \t\v\f\r")
    if not re.match(r"^[+-]?[0-9]+$", bare):
        raise ParseError(f"{key}: {bare!r} is neither a quoted string nor an integer")
    return int(bare, 10)


def parse(content: bytes) -> dict:
    """Read settings.toml the way CircuitPython's os.getenv does (a model, for tests/checks).

    Returns {key: value}; a key whose last line can't be read maps to a ParseError instance.
    """
    result = {}
    text = content.decode("utf-8")
    lines = text.split("\n")
    for index, line in enumerate(lines):
        stripped = line.lstrip(" \t\r\v\f")
        if stripped.startswith("["):
            break
        key = _line_key(line)
        if key is None:
            continue
        value_part = stripped[len(key) :].lstrip(" \t\v\f\r")[1:]
        if index == len(lines) - 1 and value_part.rstrip(" \t").endswith('"'):
            # No newline after the last value: CircuitPython 8.x reads that as an error.
            result[key] = ParseError(f"{key}: no newline at end of file")
            continue
        try:
            result[key] = _parse_value(key, value_part)
        except ParseError as err:
            result[key] = err
    return result
