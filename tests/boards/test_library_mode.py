"""library mode: CircuitSpotify fetched on the controller, checksum-verified, copied to lib/.

The upstream file is never in the repository: these tests serve a stand-in they write
themselves from a loopback HTTP server and pin its sha256.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pytest
from boardsim import S3, board_host, dir_board, dir_listing, run_playbook
from circuitpython_settings import parse

STANDIN = b"# stand-in for circuitspotify.py (test)\nclass CircuitSpotify:\n    pass\n"
TAMPERED = STANDIN + b"import evil\n"
USER_CODE = b"from circuitspotify import CircuitSpotify\nprint('my own display')\n"
COMMIT = "0" * 40


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    root = tmp_path_factory.mktemp("upstream")
    (root / "good").mkdir()
    (root / "good" / "circuitspotify.py").write_bytes(STANDIN)
    (root / "bad").mkdir()
    (root / "bad" / "circuitspotify.py").write_bytes(TAMPERED)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


@pytest.fixture(scope="module")
def library_fleet(tmp_path_factory, upstream):
    url, root = upstream
    tmp = tmp_path_factory.mktemp("library")
    sha = hashlib.sha256(STANDIN).hexdigest()
    boards = {
        name: dir_board(tmp / name, "9.2.1", S3, uid, {"code.py": USER_CODE})
        for name, uid in [
            ("lib_ok", "A1"),
            ("lib_bad_download", "A2"),
            ("lib_bad_local", "A3"),
            ("lib_local", "A4"),
        ]
    }
    common = {
        "circuitpython_mode": "library",
        "circuitpython_circuitspotify_sha256": sha,
        "circuitpython_circuitspotify_commit": COMMIT,
        "circuitpython_spotify_code": "code-1",
    }
    hosts = {
        "lib_ok": {"circuitpython_circuitspotify_url": f"{url}/good/circuitspotify.py"},
        "lib_bad_download": {"circuitpython_circuitspotify_url": f"{url}/bad/circuitspotify.py"},
        "lib_bad_local": {
            "circuitpython_circuitspotify_src": str(root / "bad" / "circuitspotify.py")
        },
        "lib_local": {"circuitpython_circuitspotify_src": str(root / "good" / "circuitspotify.py")},
    }
    for name, extra in hosts.items():
        hosts[name] = board_host(
            circuitpython_drive_paths=[str(boards[name])],
            circuitpython_controller_cache_dir=str(tmp / "cache" / name),
            **common,
            **extra,
        )
    before = {name: dir_listing(path) for name, path in boards.items()}
    first = run_playbook(tmp, hosts)
    after = {name: dir_listing(path) for name, path in boards.items()}
    second = run_playbook(tmp, hosts)
    return {
        "before": before,
        "after": after,
        "first": first,
        "second": second,
        "tmp": tmp,
    }


@pytest.mark.parametrize("name", ["lib_ok", "lib_local"])
def test_verified_circuitspotify_and_its_libraries_go_to_lib_and_users_code_stays(
    library_fleet, name
):
    files = library_fleet["after"][name]
    assert library_fleet["first"].recap[name]["failed"] == 0, library_fleet["first"].output[-3000:]
    assert files["lib/circuitspotify.py"] == STANDIN
    assert "lib/adafruit_requests.py" in files and "lib/adafruit_connection_manager.py" in files
    assert files["code.py"] == USER_CODE and "code.py.orig" not in files
    assert (
        "lib/needledrop_spotify.py" not in files
        and "lib/adafruit_display_text/__init__.py" not in files
    )
    settings = parse(files["settings.toml"])
    assert settings["CIRCUITSPOTIFY_CODE"] == "code-1"
    assert not any(key.startswith("NEEDLEDROP_") for key in settings)
    assert library_fleet["second"].recap[name] == {"changed": 0, "failed": 0}


@pytest.mark.parametrize("name", ["lib_bad_download", "lib_bad_local"])
def test_circuitspotify_with_another_checksum_is_refused_and_nothing_written(library_fleet, name):
    run = library_fleet["first"]
    assert run.recap[name]["failed"] == 1
    message = run.failure_of(name)
    assert "Nothing was written" in message and COMMIT in message, message
    assert library_fleet["after"][name] == library_fleet["before"][name]
    # The bad download is not left in the controller's cache either.
    assert not (library_fleet["tmp"] / "cache" / name / f"circuitspotify-{COMMIT}.py").exists()
