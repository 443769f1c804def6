"""realdid-load: load a running RealDID deployment with simulated residents and sites.

Usage (docs/load.md is the manual)::

    .venv/bin/python bench/load/realdid_load.py prepare --node http://127.0.0.1:8080 \\
        --authority http://127.0.0.1:8081 --site http://127.0.0.1:8090 \\
        --residents residents.csv --captures captures.csv --pool 200
    .venv/bin/python bench/load/realdid_load.py run --open-loop --rate 200 --duration 60s \\
        --mix enroll=1,login=20,resolve=70,update=9 --out results.json
"""

from __future__ import annotations

import sys
from pathlib import Path

# ``bench/`` on the path, so the package is ``load``; not ``bench/load`` itself, whose
# module names must not shadow anything (the client processes run this file again).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from load.cli import main  # noqa: E402 - after the path is set

if __name__ == "__main__":
    sys.exit(main())
