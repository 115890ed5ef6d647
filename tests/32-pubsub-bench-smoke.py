"""Smoke test of the pubsub fan-out benchmark (bench/run-pubsub-bench --smoke):
against Junction only, 20 subscribers logged in over STARTTLS + SCRAM and
subscribed to one node of junction-pubsub, 50 items published. The script
must finish, lose no notification and print a positive notifications/s
figure in its table. The figures themselves are not checked (docs/benchmarks.md).
"""

import os
import re
import subprocess

import pytest

from conftest import BUILD_DIR

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      'bench', 'run-pubsub-bench')


@pytest.mark.timeout(90)
def test_smoke_prints_a_positive_rate(tmp_path):
    env = dict(os.environ, BUILD=BUILD_DIR, TMPDIR=str(tmp_path),
               ASAN_OPTIONS='detect_leaks=0')
    for k in ('SUBSCRIBERS', 'ITEMS', 'WINDOW', 'PAYLOAD', 'TARGETS', 'PERF_DIR',
              'RUN_PUBSUB_BENCH_LIMITED'):
        env.pop(k, None)
    p = subprocess.run([SCRIPT, '--smoke', '--time-limit', '80'], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=85)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    line = re.search(r'notifications=(\d+) seconds=\S+ rate=(\d+) .*lost=(\d+) errors=(\d+)', out)
    assert line is not None, out
    assert int(line.group(1)) == 20 * 50 and line.group(3) == '0' and line.group(4) == '0', out
    row = re.search(r'^\| junction \|\s+(\d+) \|', p.stdout, re.M)
    assert row is not None and int(row.group(1)) > 0, out
    # The script cleans up after itself.
    assert os.listdir(tmp_path) == [], out
