"""Runs the entry-point fuzzer (fuzz_boundary.py) in a child process: a crash fails this test."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 600


def test_fuzzed_calls_return_the_clean_result_or_raise_a_python_error() -> None:
    done = subprocess.run([sys.executable, "-m", "tests.frontend.fuzz_boundary", str(EXAMPLES)], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, f"fuzzer died with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    tally = re.search(r"cases tried: (\d+), ran: (\d+), refused: (\d+), crashes: 0", done.stdout)
    assert tally, done.stdout
    tried, ran, refused = map(int, tally.groups())
    assert tried == EXAMPLES and ran > EXAMPLES // 4 and refused > EXAMPLES // 10
