"""Controller side: does the app accept this config? Uses the app's own parser (the limits are
defined once, in needledrop.config), so a bad value stops the play before any host changes.

    python check_config.py <app src dir>   < needledrop.toml
prints {"ok": true} or {"ok": false, "key": "matrix.rows", "message": "..."}.
"""

import json
import sys
import tomllib

sys.path.insert(0, sys.argv[1])
from needledrop.config import ConfigError, parse_config  # noqa: E402

try:
    # A stand-in share key: the role checks the real one (matrix_app_share_key) itself.
    parse_config(tomllib.loads(sys.stdin.read()), {"NEEDLEDROP_SHARE_KEY": "k" * 32})
except ConfigError as e:
    print(json.dumps({"ok": False, "key": e.key, "message": str(e)}))
except tomllib.TOMLDecodeError as e:
    print(json.dumps({"ok": False, "key": "", "message": f"the rendered TOML is invalid: {e}"}))
else:
    print(json.dumps({"ok": True, "key": "", "message": ""}))
