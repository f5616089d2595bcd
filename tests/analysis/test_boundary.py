"""``analysis`` stands alone: no web framework, no database driver, no survey_app."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = [
    "survey_app",
    "questionnaires",
    "litestar",
    "piccolo",
    "asyncpg",
    "aiosqlite",
    "sqlite3",
]


def test_importing_analysis_loads_no_web_or_database_module():
    code = (
        "import sys, analysis, analysis.charts\n"
        f"loaded = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
