"""The app reads what spotify_credentials wrote, refreshes through real spotipy against the
loopback fake Spotify, and the next playbook run keeps the fresher token (changed=0)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from credentials_harness import TOP, Fleet

sys.path.insert(0, str(TOP / "tests"))  # `import fakes`

from fakes.spotify import FakeSpotify  # noqa: E402
from needledrop.config import load_config  # noqa: E402
from needledrop.spotify import make_oauth, read_token_file  # noqa: E402


def _app_config(fleet: Fleet, fake: FakeSpotify):
    """The app's config as the service would load it: TOML plus the role's env file."""
    env = dict(
        line.split("=", 1)
        for line in fleet.env_file.read_text().splitlines()
        if line and not line.startswith("#")
    )
    toml = fleet.root / "needledrop.toml"
    toml.write_text(
        f'[paths]\ntoken_cache = "{fleet.token_file}"\n'
        f'[spotify]\naccounts_url = "{fake.url}"\napi_url = "{fake.api_url}"\n'
    )
    return load_config(toml, env=env)


def test_tokens_the_app_refreshed_survive_the_next_run(tmp_path: Path) -> None:
    with FakeSpotify() as fake:
        signin = fake.grant()
        fleet = Fleet(tmp_path)
        fleet.write(
            {
                "vault_spotify_home_client_id": fake.client_id,
                "vault_spotify_home_client_secret": fake.client_secret,
                "vault_spotify_home_token": json.dumps(signin),
                "vault_spotify_home_authorized_at": "2026-10-01T18:30:00Z",
            }
        )
        first = fleet.run()
        assert first.rc == 0, first.output[-2000:]

        cfg = _app_config(fleet, fake)
        assert cfg.paths.token_cache == fleet.token_file
        oauth = make_oauth(cfg.spotify, cfg.paths.token_cache, timeout=5.0)
        # An ordinary refresh (no new refresh token), then one that hands out a new one.
        for rotate in (False, True):
            fake.rotate_refresh_tokens = rotate
            before = read_token_file(fleet.token_file)
            oauth.refresh_access_token(before["refresh_token"])
            refreshed = read_token_file(fleet.token_file)
            assert refreshed["access_token"] != before["access_token"]
            assert (refreshed["refresh_token"] != signin["refresh_token"]) == rotate
            assert refreshed["authorized_at"] == 1790879400  # the app kept the sign-in time

            again = fleet.run()
            assert again.rc == 0, again.output[-2000:]
            assert again.recap["display"]["changed"] == 0
            assert read_token_file(fleet.token_file) == refreshed
