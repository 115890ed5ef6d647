"""Fixtures for the junction-router integration tests.

`router` is a factory: each call writes a config into the test's tmp dir,
starts $JUNCTION_BUILD_DIR/junction-router on a free 127.0.0.1 port and
returns a RouterProcess once the port accepts connections. At teardown the
router gets SIGTERM; the test fails if it had to be killed, exited non-zero,
or printed a sanitizer report.

    def test_x(router):
        r = router(router_opts={'queue_limit': '64K'},
                   components={'slow.localhost': 'pw'})
        s = connect_component(r, 'a.localhost')
"""

import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

BUILD_DIR = os.environ.get('JUNCTION_BUILD_DIR', '/work/main/build')
ROUTER_BIN = os.path.join(BUILD_DIR, 'junction-router')

STARTUP_TIMEOUT = float(os.environ.get('JUNCTION_TEST_STARTUP_TIMEOUT', '20'))
SHUTDOWN_TIMEOUT = float(os.environ.get('JUNCTION_TEST_SHUTDOWN_TIMEOUT', '15'))
LOG_LEVEL = os.environ.get('JUNCTION_TEST_LOG_LEVEL', 'info')

SANITIZER_MARKERS = ('AddressSanitizer', 'LeakSanitizer', 'runtime error:')

# Components every router config knows about, unless a test replaces them.
DEFAULT_COMPONENTS = ('a.localhost', 'b.localhost', 'c.localhost', 'd.localhost')


def _ephemeral_range():
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


_port_rng = random.Random(os.getpid())


def free_port():
    """A port free now and outside the kernel's ephemeral range, so that no
    outgoing connection (a component's, a client's) can take it between
    this choice and the server's bind."""
    lo, _hi = _ephemeral_range()
    for _ in range(200):
        port = _port_rng.randrange(10000, min(lo, 32768))
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(('127.0.0.1', port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError('no free port below the ephemeral range')


def _short_dir(workdir):
    """A directory for the UNIX socket whose path fits in sun_path."""
    if len(os.path.join(workdir, 'router.sock')) < 100:
        return workdir
    return tempfile.mkdtemp(prefix='jrt-')


class RouterProcess:
    def __init__(self, workdir, router_opts, junction_opts, components, extra, asan_extra=''):
        self.asan_extra = (':' + asan_extra) if asan_extra else ''
        self.workdir = workdir
        self.host = '127.0.0.1'
        self.port = None
        self.secret = 'router-' + secrets.token_hex(8)
        self.components = dict(components)
        self.router_opts = router_opts
        self.junction_opts = junction_opts
        self.extra = extra
        self.config_path = os.path.join(workdir, 'junction.conf')
        self.log_path = os.path.join(workdir, 'router.log')
        self.unix_path = None
        self.proc = None
        self.stopped = False
        self.problems = []

    @property
    def pid(self):
        return self.proc.pid

    # ---- config --------------------------------------------------------
    def write_config(self):
        sockdir = _short_dir(self.workdir)
        junction = {
            'domains': 'localhost',
            'data_dir': os.path.join(self.workdir, 'data'),
            'log_level': LOG_LEVEL,
        }
        router = {
            'listen': '%s:%d' % (self.host, self.port),
            'listen_unix': os.path.join(sockdir, 'router.sock'),
            'secret': self.secret,
            'max_stanza_bytes': '256K',
        }
        junction.update(self.junction_opts)
        router.update(self.router_opts)
        self.unix_path = router.get('listen_unix')
        if junction.get('data_dir'):
            os.makedirs(junction['data_dir'], exist_ok=True)
        lines = []

        def section(title, kv):
            lines.append('[%s]' % title)
            for k, v in kv.items():
                if v is not None:
                    lines.append('%s = %s' % (k, v))
            lines.append('')

        section('junction', junction)
        section('router', router)
        for name, secret in self.components.items():
            section('component %s' % name, {'secret': secret})
        if self.extra:
            lines.append(self.extra)
        with open(self.config_path, 'w') as f:
            f.write('\n'.join(lines))

    # ---- process -------------------------------------------------------
    def start(self):
        if not os.access(ROUTER_BIN, os.X_OK):
            pytest.fail('router binary %s not found (set JUNCTION_BUILD_DIR)' % ROUTER_BIN)
        last = None
        for _attempt in range(3):
            self.port = free_port()
            self.write_config()
            env = dict(os.environ)
            env['ASAN_OPTIONS'] = 'detect_leaks=1:abort_on_error=0' + self.asan_extra
            env['UBSAN_OPTIONS'] = 'print_stacktrace=1'
            log = open(self.log_path, 'ab')
            self.proc = subprocess.Popen([ROUTER_BIN, '-c', self.config_path],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         cwd=self.workdir, env=env)
            log.close()
            ok, last = self._wait_listening()
            if ok:
                return self
            if self.proc.poll() is None:
                break  # running but not listening: retrying will not help
        self.kill()
        pytest.fail('router did not start: %s\n--- router log ---\n%s' % (last, self.log_tail()))

    def _wait_listening(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                return False, 'router exited with status %d during startup' % rc
            try:
                s = socket.create_connection((self.host, self.port), timeout=0.5)
                s.close()
                return True, None
            except OSError:
                time.sleep(0.05)
        return False, 'port %d not accepting connections after %.0fs' % (self.port, STARTUP_TIMEOUT)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self):
        """SIGTERM, bounded wait, SIGKILL. Returns a list of problems."""
        if self.stopped or self.proc is None:
            return self.problems
        self.stopped = True
        rc = self.proc.poll()
        if rc is not None:
            self.problems.append('router had already exited (status %d) before the end of the test' % rc)
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait(10)
                self.problems.append('router ignored SIGTERM for %.0fs and was killed' % SHUTDOWN_TIMEOUT)
        if rc != 0 and not self.problems:
            if rc < 0:
                self.problems.append('router was terminated by signal %d (expected a clean exit 0 on SIGTERM)' % -rc)
            else:
                self.problems.append('router exited with status %d' % rc)
        text = self.log_text()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                self.problems.append('router log contains %r' % marker)
        return self.problems

    # ---- logs ----------------------------------------------------------
    def log_text(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def log_tail(self, lines=150):
        text = self.log_text().splitlines()
        out = text[-lines:]
        # Always keep sanitizer reports whole: they are what matters.
        for i, line in enumerate(text):
            if any(m in line for m in SANITIZER_MARKERS) and i < len(text) - lines:
                out = text[i:i + 80] + ['[...]'] + out
                break
        return '\n'.join(out)


def dump_router_log(r, lines=150):
    """Print a router's log (shown by pytest for failing tests)."""
    print('--- %s (pid %s, port %s) ---' % (r.log_path, r.proc.pid if r.proc else '?', r.port))
    print(r.log_tail(lines))


@pytest.fixture
def router(request, tmp_path):
    started = []
    request.node._junction_routers = started

    def start(router_opts=None, junction_opts=None, components=None, extra_components=None,
              extra=None, asan_options=''):
        """Start a router.

        router_opts / junction_opts: keys to set in [router] / [junction]
        (value None removes a default key). components: {name: secret}
        replacing the default a..d.localhost; extra_components: added to
        them. extra: raw text appended to the config. asan_options: appended
        to ASAN_OPTIONS (e.g. 'quarantine_size_mb=16' for memory checks)."""
        if components is None:
            components = {n: 'pw-%s-%s' % (n.split('.')[0], secrets.token_hex(4))
                          for n in DEFAULT_COMPONENTS}
        components = dict(components)
        components.update(extra_components or {})
        workdir = tmp_path / ('router%d' % len(started))
        workdir.mkdir()
        r = RouterProcess(str(workdir), router_opts or {}, junction_opts or {},
                          components, extra, asan_options)
        started.append(r)
        return r.start()

    yield start

    # Normally pytest_pyfunc_call below has stopped and checked them already;
    # this covers tests that failed (or timed out) first.
    details = _router_failures([r for r in started if not r.stopped])
    if details:
        pytest.fail('router failed at teardown:\n' + details, pytrace=False)


def _router_failures(routers):
    problems = []
    for r in routers:
        for p in r.stop():
            problems.append('%s: %s' % (r.log_path, p))
    if not problems:
        return None
    details = '\n'.join(problems)
    for r in routers:
        if r.problems:
            details += '\n--- router log %s ---\n%s' % (r.log_path, r.log_tail(200))
    return details


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """When the test body passed, stop its routers right away and check
    them, so a crash, sanitizer report or unclean exit fails *the test*
    (not only its teardown)."""
    outcome = yield
    if outcome.excinfo is not None:
        return  # already failing; the fixture teardown still checks the routers
    routers = getattr(pyfuncitem, '_junction_routers', [])
    details = _router_failures([r for r in routers if not r.stopped])
    if details:
        pytest.fail('router failed:\n' + details, pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == 'call' and rep.failed:
        for r in getattr(item, '_junction_routers', []):
            rep.sections.append(('router log %s (pid %s)' % (r.log_path, r.proc.pid if r.proc else '?'),
                                 r.log_tail()))
