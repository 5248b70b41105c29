"""``python -m needledrop`` is the ``needledrop`` command."""

from needledrop.cli import main

raise SystemExit(main())
