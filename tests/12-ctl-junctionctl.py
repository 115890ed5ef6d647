"""junctionctl: `check` validates a configuration and names the problem;
`status` asks the running router which names are bound, by whom, since when,
with counters."""

import os
import re
import subprocess

import pytest

from conftest import BUILD_DIR
from junction_helpers import connect_component, message

CTL = os.path.join(BUILD_DIR, 'junctionctl')


def ctl(config_path, *args):
    env = dict(os.environ, ASAN_OPTIONS='detect_leaks=1')
    return subprocess.run([CTL, '-c', config_path] + list(args), capture_output=True,
                          text=True, timeout=30, env=env)


def write(tmp_path, text):
    p = tmp_path / 'junction.conf'
    p.write_text(text)
    return str(p)


GOOD = """[junction]
domains = localhost, example.org
[router]
listen = 127.0.0.1:5999
secret = s
[component gw.localhost]
secret = g
"""


def test_check_accepts_good_config(tmp_path):
    path = write(tmp_path, GOOD)
    r = ctl(path, 'check')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(path + ': ok')
    assert 'localhost example.org' in r.stdout
    assert 'third-party components: 1' in r.stdout


@pytest.mark.parametrize('text, line, key, what', [
    (GOOD.replace('secret = s\n', 'secret = s\nqueue_limit = 12Q\n'), 6, 'queue_limit', ''),
    (GOOD.replace('listen = 127.0.0.1:5999', 'listen = nohost'), 4, 'listen', ''),
    (GOOD.replace('secret = s\n', 'secret = s\nbogus = 1\n'), 6, 'bogus', 'unknown'),
    (GOOD + '[nosuchsection]\nx = 1\n', 8, None, 'nosuchsection'),
    (GOOD.replace('domains = localhost, example.org', 'domains = local host'), 2, 'domains', ''),
    (GOOD.replace('[component gw.localhost]\nsecret = g\n', '[component gw.localhost]\n'),
     None, 'secret', 'gw.localhost'),
])
def test_check_names_file_line_and_key(tmp_path, text, line, key, what):
    path = write(tmp_path, text)
    r = ctl(path, 'check')
    assert r.returncode != 0
    msg = r.stderr.strip()
    assert len(msg.splitlines()) == 1, msg
    assert path in msg
    if line is not None:
        assert '%s:%d:' % (path, line) in msg, msg
    if key is not None:
        assert key in msg
    assert what in msg


def test_check_missing_secret_and_missing_file(tmp_path):
    path = write(tmp_path, '[junction]\ndomains = localhost\n')
    r = ctl(path, 'check')
    assert r.returncode != 0 and 'secret' in r.stderr and '[router]' in r.stderr
    r = ctl(str(tmp_path / 'nope.conf'), 'check')
    assert r.returncode != 0 and 'nope.conf' in r.stderr


def test_router_refuses_bad_config_with_one_line(tmp_path):
    path = write(tmp_path, GOOD.replace('secret = s\n', 'secret = s\nstall_timeout = soon\n'))
    r = subprocess.run([os.path.join(BUILD_DIR, 'junction-router'), '-c', path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert re.search(re.escape(path) + r':6: .*stall_timeout', r.stderr), r.stderr


def test_status_lists_bound_names_and_counters(router):
    r = router()
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    for i in range(3):
        a.send(message('u@b.localhost', 'x@a.localhost', id='m%d' % i, body='hi'))
    b.collect(3)
    a.send(message('u@b.localhost', 'x@forged.localhost', id='f', body='no'))
    a.next()  # the forbidden error
    res = ctl(r.config_path, 'status')
    assert res.returncode == 0, res.stderr
    # The router's table ends at the first blank line (the processes follow).
    table = res.stdout.split('\n\n')[0]
    lines = {l.split()[1]: l.split() for l in table.splitlines()[2:] if l.strip()}
    assert set(lines) == {'a.localhost', 'b.localhost'}, res.stdout
    # columns: ID NAME PEER SINCE IN OUT BOUNCED REJECTED QUEUED BINDS...
    la, lb = lines['a.localhost'], lines['b.localhost']
    assert la[4] == '4' and la[7] == '1', res.stdout   # 4 in, 1 rejected
    assert lb[5] == '3', res.stdout                    # 3 out
    assert re.match(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', la[3])
    assert la[9] == 'a.localhost'


def test_status_reports_unreachable_router(tmp_path):
    path = write(tmp_path, GOOD)
    r = ctl(path, 'status')
    assert r.returncode != 0
    assert 'cannot connect to the router at 127.0.0.1:5999' in r.stderr


def test_router_listens_on_a_host_name(tmp_path):
    """listen = localhost:PORT is resolved at start-up, and junctionctl
    reaches the router through it."""
    import signal
    import socket
    import time
    from conftest import free_port
    port = free_port()
    path = write(tmp_path, GOOD.replace('127.0.0.1:5999', 'localhost:%d' % port))
    log = open(str(tmp_path / 'router.log'), 'wb')
    proc = subprocess.Popen([os.path.join(BUILD_DIR, 'junction-router'), '-c', path],
                            stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(('127.0.0.1', port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, 'router did not listen on localhost'
                time.sleep(0.05)
        r = ctl(path, 'status')
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith('router up')
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        log.close()
