"""The README's screenshots: the script still drives the app, and the README shows every picture it makes."""

import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", header[16:24])


def test_the_readme_shows_every_committed_screenshot():
    readme = (BASE_DIR / "README.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"\(docs/screenshots/([\w.-]+\.png)\)", readme))
    committed = {p.name for p in (BASE_DIR / "docs" / "screenshots").glob("*.png")}
    assert committed and shown == committed


@pytest.mark.slow
def test_the_screenshot_script_drives_the_running_app_to_every_page(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    result = subprocess.run(
        [sys.executable, "scripts/screenshots.py", "--out", str(tmp_path)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    made = {p.name for p in tmp_path.glob("*.png")}
    assert made == {p.name for p in (BASE_DIR / "docs" / "screenshots").glob("*.png")}
    for name in made:
        assert _png_size(tmp_path / name) == (1200, 800)
