"""common/component.c, the client side of the component protocol that
Junction's own processes use: it binds its names, reconnects with backoff
when the router goes away (even kill -9) and binds them again, and finds a
router that starts after it. Driven through tests/echo-component."""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BUILD_DIR, SANITIZER_MARKERS
from junction_helpers import connect_component, message

ECHO = os.path.join(BUILD_DIR, 'tests', 'echo-component')


class Echo:
    """echo-component as a child process; lines of its stdout are kept."""

    def __init__(self, router, name, binds=(), shared=False):
        args = [ECHO, '-c', router.config_path, '-n', name]
        for b in binds:
            args += ['-b', b]
        if shared:
            args.append('-s')
        self.err_path = router.config_path + '.%s.err' % name
        self.err = open(self.err_path, 'wb')
        env = dict(os.environ, ASAN_OPTIONS='detect_leaks=1')
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err, env=env,
                                     text=True)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.strip())
                self.cond.notify_all()

    def wait_line(self, prefix, count=1, timeout=15):
        deadline = time.monotonic() + timeout
        with self.cond:
            while sum(1 for l in self.lines if l.startswith(prefix)) < count:
                left = deadline - time.monotonic()
                assert left > 0, 'echo-component printed %r, waited for %d x %r' % (
                    self.lines, count, prefix)
                self.cond.wait(left)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(15)
        self.err.close()
        text = open(self.err_path, errors='replace').read()
        assert rc == 0, 'echo-component exited %d:\n%s' % (rc, text)
        for m in SANITIZER_MARKERS:
            assert m not in text, text


@pytest.fixture
def echo_factory():
    """Start echo-components; any still running at the end is killed, so a
    failing test leaves no process behind."""
    made = []

    def start(*args, **kwargs):
        e = Echo(*args, **kwargs)
        made.append(e)
        return e
    yield start
    for e in made:
        if e.proc.poll() is None:
            e.proc.kill()
            e.proc.wait(10)


def restart_router(r, hard=True):
    """Stop the router (kill -9 or SIGTERM) and start it again on the same
    port with the same configuration."""
    if hard:
        r.proc.kill()
    else:
        r.proc.send_signal(signal.SIGTERM)
    r.proc.wait(15)
    log = open(r.log_path, 'ab')
    r.proc = subprocess.Popen([os.path.join(BUILD_DIR, 'junction-router'), '-c', r.config_path],
                              stdout=log, stderr=log)
    log.close()
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection((r.host, r.port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, 'router did not come back'
            time.sleep(0.05)


def echo_round_trip(a, to, mid):
    a.send(message(to, 'x@a.localhost', id=mid, body='ping ' + mid))
    el = a.wait_for(lambda e: e.get('id') == mid, 10)
    assert el.get('type') != 'error', el
    assert el.get('from') == to and el.get('to') == 'x@a.localhost'
    return el


@pytest.mark.timeout(90)
@pytest.mark.parametrize('hard', [True, False], ids=['kill-9', 'sigterm'])
def test_reconnects_and_rebinds_after_router_restart(router, echo_factory, hard):
    r = router()
    echo = echo_factory(r, 'echo1.localhost', binds=['localhost'], shared=True)
    echo.wait_line('ready')
    a = connect_component(r, 'a.localhost')
    echo_round_trip(a, 'juliet@localhost', 'before')
    echo_round_trip(a, 'echo1.localhost', 'before-own-name')

    restart_router(r, hard=hard)
    echo.wait_line('down')
    echo.wait_line('ready', count=2)
    a = connect_component(r, 'a.localhost')
    # Both the handshake name and the extra (shared) name are bound again.
    echo_round_trip(a, 'juliet@localhost', 'after')
    echo_round_trip(a, 'echo1.localhost', 'after-own-name')
    echo.stop()


@pytest.mark.timeout(60)
def test_waits_for_a_router_that_is_not_there_yet(router, echo_factory):
    r = router()
    r.proc.kill()
    r.proc.wait(10)
    echo = echo_factory(r, 'echo2.localhost', binds=['localhost'])
    time.sleep(1.0)  # several failed attempts with backoff
    assert not any(l.startswith('ready') for l in echo.lines)
    restart_router(r, hard=True)  # (the old one is already gone)
    echo.wait_line('ready', timeout=10)
    a = connect_component(r, 'a.localhost')
    echo_round_trip(a, 'romeo@localhost', 'late')
    echo.stop()


@pytest.mark.timeout(60)
def test_bind_conflict_is_retried_not_fatal(router, echo_factory):
    """A name held by someone else: the component keeps trying, and binds it
    once the holder goes away."""
    r = router()
    holder = connect_component(r, 'holder.localhost', secret=r.secret)
    from junction_helpers import bind
    assert bind(holder, 'busy.localhost').get('type') == 'result'
    echo = echo_factory(r, 'echo3.localhost', binds=['busy.localhost'])
    echo.wait_line('down')  # bind refused: conflict
    holder.close()
    echo.wait_line('ready', timeout=15)
    a = connect_component(r, 'a.localhost')
    echo_round_trip(a, 'u@busy.localhost', 'got-it')
    echo.stop()
