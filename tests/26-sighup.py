"""SIGHUP (systemd's ExecReload, `kill -HUP`) never ends a Junction
process: each one re-reads its log level and keeps running. A process
without a handler would die of the signal's default action."""

import os
import signal
import subprocess
import time

import pytest

from conftest import BUILD_DIR, SANITIZER_MARKERS, free_port


@pytest.mark.timeout(90)
@pytest.mark.parametrize('prog', ['junction-sm', 'junction-pubsub', 'junction-s2s'])
def test_sighup_reloads_and_keeps_running(router, prog):
    if not os.access(os.path.join(BUILD_DIR, prog), os.X_OK):
        pytest.skip('%s not built' % prog)
    r = router(extra='[s2s]\nlisten = 127.0.0.1:%d\nresolver = static\nrequire_tls = no\n'
               % free_port())
    log_path = os.path.join(r.workdir, prog + '.log')
    log = open(log_path, 'ab')
    proc = subprocess.Popen([os.path.join(BUILD_DIR, prog), '-c', r.config_path],
                            stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while 'connected to the router' not in open(log_path).read():
            assert time.monotonic() < deadline and proc.poll() is None, open(log_path).read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while 'reloaded log level' not in open(log_path).read():
            assert time.monotonic() < deadline and proc.poll() is None, open(log_path).read()
            time.sleep(0.05)
        time.sleep(0.3)
        assert proc.poll() is None, open(log_path).read()
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
        log.close()
    text = open(log_path).read()
    assert rc == 0, text
    for m in SANITIZER_MARKERS:
        assert m not in text, text
