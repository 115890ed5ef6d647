"""junctionctl start/stop/restart/status/reload with [junction]
supervisor = none: junctionctl runs the daemons itself, detached, and finds
them again through their pid files."""

import asyncio
import os
import signal
import time

import pytest

from conftest import BUILD_DIR
from junction_helpers import RawStream, message, stream_error
from ops_helpers import Deployment


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not reaped yet by whoever inherited it) has run its course.
    with open('/proc/%d/stat' % pid) as f:
        return f.read().split(')')[-1].split()[0] != 'Z'


def processes(status_out):
    """PROCESS -> (pid, state) from status's process table."""
    table = status_out.split('processes (pid files in')[1].splitlines()[2:]
    return {l.split()[0]: (int(l.split()[1]), ' '.join(l.split()[2:])) for l in table
            if l.strip() and not l.startswith('(no pid files')}


def streams(status_out):
    """NAME -> the router table's columns."""
    table = status_out.split('\n\n')[0].splitlines()
    head = next(i for i, l in enumerate(table) if l.startswith('ID '))
    return {l.split()[1]: l.split() for l in table[head + 1:]
            if l.strip() and not l.startswith('sessions on')}


@pytest.mark.timeout(180)
@pytest.mark.skipif(not os.access(os.path.join(BUILD_DIR, 'junction-sm'), os.X_OK),
                    reason='junction-sm not built')
def test_start_status_restart_stop(tmp_path):
    d = Deployment(tmp_path)
    d.adduser('juliet@localhost')
    d.adduser('romeo@localhost')
    try:
        out = d.ctl('start').stdout
        for name in ('router', 'sm', 'c2s'):
            assert '%s: started' % name in out, out
            assert alive(d.pid(name)), d.logs()
        assert 'pubsub' not in out and 's2s' not in out, out  # not configured
        d.wait_linked()

        # status while two clients are online: processes with pids, the
        # streams with their bound names and queues, sm's sessions.
        status = asyncio.run(d.session(['juliet', 'romeo'],
                                       during=lambda: d.ctl('status').stdout))
        procs = processes(status)
        for name in ('router', 'sm', 'c2s'):
            assert procs[name] == (d.pid(name), 'running'), status
        s = streams(status)
        assert 'localhost(shared)' in s['sm.localhost'], status
        assert 'c2s.localhost' in s['c2s.localhost'][9:], status
        assert int(s['c2s.localhost'][4]) >= 6, status   # stanzas in: 3 messages and more
        assert s['sm.localhost'][8].isdigit(), status     # QUEUED column
        assert 'sessions on sm.localhost: 2 (2 available)' in status, status

        # stop one: it exits, its pid file goes, status says so.
        c2s_pid = d.pid('c2s')
        out = d.ctl('stop', 'c2s').stdout
        assert 'c2s: stopped (pid %d)' % c2s_pid in out, out
        assert not alive(c2s_pid)
        assert d.pid('c2s') is None
        status = d.ctl('status').stdout
        assert 'c2s' not in processes(status) and 'c2s.localhost' not in streams(status), status
        assert 'shutting down' in d.log('c2s')

        # start it again; starting what runs is a no-op.
        out = d.ctl('start', 'c2s').stdout
        assert 'c2s: started' in out and alive(d.pid('c2s')), out
        out = d.ctl('start', 'router').stdout
        assert 'router: already running (pid %d)' % d.pid('router') in out, out

        # restart sm: a new process, and clients can log in and chat again.
        sm_pid = d.pid('sm')
        out = d.ctl('restart', 'sm').stdout
        assert 'sm: stopped' in out and 'sm: started' in out, out
        assert d.pid('sm') != sm_pid and alive(d.pid('sm')) and not alive(sm_pid)
        d.wait_linked()
        asyncio.run(d.session(['juliet', 'romeo']))

        # a process killed with -9 leaves a stale pid file: status says it
        # is dead, start replaces it.
        c2s_pid = d.pid('c2s')
        os.kill(c2s_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(c2s_pid):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status = d.ctl('status').stdout
        assert processes(status)['c2s'] == (c2s_pid, 'dead (stale pid file)'), status
        d.ctl('start', 'c2s')
        assert d.pid('c2s') != c2s_pid and alive(d.pid('c2s'))

        # reload reaches every process: each reopens its renamed log and
        # c2s takes its changed limits.
        for name in ('router', 'sm', 'c2s'):
            os.rename(d.log_path(name), d.log_path(name) + '.old')
        d.sections['c2s']['max_stanza_bytes'] = '100K'
        d.write_config()
        out = d.ctl('reload').stdout
        for name in ('router', 'sm', 'c2s'):
            assert '%s: reloaded (pid %d)' % (name, d.pid(name)) in out, out
            d.wait_log(name, 'reloaded log level')
        d.wait_log('c2s', 'reloaded limits: max_stanza_bytes 102400')

        assert d.ctl('stop', 'nonesuch', check=False).returncode == 2
    finally:
        pids = [d.pid(n) for n in ('router', 'sm', 'c2s')]
        d.shutdown()
    for pid in pids:
        assert pid is None or not alive(pid)
    assert 'router' not in processes(d.ctl('status', check=False).stdout)


def _send_big(d, size):
    """A component stream sends a message of about size bytes to itself;
    the stream error the router answers with, or None when it was
    delivered."""
    s = RawStream('127.0.0.1', d.router_port)
    try:
        s.open('a.localhost')
        s.handshake('a-secret')
        s.start_reader()
        s.send(message('a.localhost', 'a.localhost', 'big', 'x' * size))
        return stream_error(s.next())
    finally:
        s.close(graceful=False)


@pytest.mark.timeout(120)
def test_reload_rereads_limits_and_log_level_and_reopens_logs(tmp_path):
    d = Deployment(tmp_path, sections={'router': {'max_stanza_bytes': '64K'}})
    try:
        d.ctl('start', 'router')
        assert _send_big(d, 8000) is None, d.logs()
        assert 'DEBUG' not in d.log('router')

        # logrotate: rename the file, change the configuration, reload.
        os.rename(d.log_path('router'), d.log_path('router') + '.1')
        d.sections['router']['max_stanza_bytes'] = '4K'
        d.sections['junction']['log_level'] = 'debug'
        d.write_config()
        out = d.ctl('reload').stdout
        assert 'router: reloaded (pid %d)' % d.pid('router') in out, out
        d.wait_log('router', 'reloaded log level')

        # The new limit holds for the next stream, the new level is on,
        # and the lines go to the new file, not the renamed one.
        assert _send_big(d, 8000) == 'policy-violation', d.logs()
        assert _send_big(d, 2000) is None, d.logs()
        d.wait_log('router', 'DEBUG')
        old = open(d.log_path('router') + '.1').read()
        assert 'reloaded' not in old and 'DEBUG' not in old, old

        # A configuration that no longer loads keeps what runs (junctionctl
        # itself refuses it, so the signal comes from elsewhere).
        with open(d.config_path, 'a') as f:
            f.write('\n[router]\nbogus = 1\n')
        assert d.ctl('reload', 'router', check=False).returncode == 1
        os.kill(d.pid('router'), signal.SIGHUP)
        d.wait_log('router', 'keeping the running configuration')
        assert _send_big(d, 8000) == 'policy-violation'
        d.write_config()
        r = d.ctl('reload', 'sm', check=False)
        assert r.returncode == 1 and 'no running junction-sm' in r.stderr, r.stderr
    finally:
        d.shutdown()


@pytest.mark.timeout(60)
@pytest.mark.parametrize('supervisor,expect', [
    ('supervisord', ['-c', '/etc/sv.conf', 'restart', 'sm']),
    ('systemd', ['restart', 'junction-sm.service']),
])
def test_start_stop_delegate_to_the_supervisor(tmp_path, supervisor, expect):
    """With a supervisor, start/stop/restart are its commands (here fake
    supervisorctl and systemctl on PATH that record their arguments)."""
    d = Deployment(tmp_path, sections={'junction': {'supervisor': supervisor,
                                                    'supervisord_conf': '/etc/sv.conf'}})
    bindir = os.path.join(d.dir, 'bin')
    os.mkdir(bindir)
    record = os.path.join(d.dir, 'args')
    for prog in ('supervisorctl', 'systemctl'):
        with open(os.path.join(bindir, prog), 'w') as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$@" > %s\n' % record)
        os.chmod(os.path.join(bindir, prog), 0o755)
    os.environ['PATH'], old = bindir + ':' + os.environ['PATH'], os.environ['PATH']
    try:
        d.ctl('restart', 'sm')
    finally:
        os.environ['PATH'] = old
    assert open(record).read().split() == expect
    assert d.pid('sm') is None  # nothing was started by junctionctl itself


@pytest.mark.timeout(60)
def test_start_reports_a_daemon_that_dies(tmp_path):
    """c2s without its certificate exits at start-up: start says so, with
    the exit status and where its output went, and exits non-zero."""
    d = Deployment(tmp_path)
    os.unlink(d.sections['c2s']['tls_key'])
    try:
        d.ctl('start', 'router')
        r = d.ctl('start', 'c2s', check=False)
        assert r.returncode == 1, r.stdout + r.stderr
        assert 'junction-c2s exited at start-up (status 1)' in r.stderr, r.stderr
        assert d.pid('c2s') is None
        assert 'tls' in d.log('c2s').lower() or 'key' in d.log('c2s').lower(), d.logs()
    finally:
        d.shutdown()
