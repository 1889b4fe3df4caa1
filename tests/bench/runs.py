"""What the bench tests share: run a bench module in a subprocess as make would, and list the databases
a run of it made (each run owns its database and must drop it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from bench.run import database_server
from harness import BASE_DIR


def run_module(module: str, *args: str, out: Path, timeout: float) -> tuple[dict, str]:
    """``python -m module *args --out out``; fails the test with the run's stderr unless it ended well, and
    returns the JSON document it wrote and its stderr (its progress)."""
    completed = subprocess.run(
        [sys.executable, "-m", module, *args, "--out", str(out)],
        cwd=BASE_DIR,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(out.read_text()), completed.stderr


def databases_named(prefix: str) -> set[str]:
    """The databases on the server whose names start with ``prefix``."""
    with psycopg.connect(database_server() + "/postgres", autocommit=True) as connection:
        rows = connection.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [prefix + "%"]).fetchall()
    return {row[0] for row in rows}
