"""Prometheus metrics: each process serves text format 0.0.4 at
[junction] metrics + its offset (router 0, c2s 1, sm 2, s2s 3, pubsub 4);
after logins and messages the counters have moved, and every line parses."""

import asyncio
import os
import re
import socket
import time
import urllib.error
import urllib.request

import pytest

from conftest import BUILD_DIR, free_port
from ops_helpers import PASSWORD, Deployment

OFFSETS = {'router': 0, 'c2s': 1, 'sm': 2, 's2s': 3, 'pubsub': 4}

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r'^(%s)(\{%s(?:,%s)*\})? (\S+)$' % (NAME, LABEL, LABEL))
VALUE = re.compile(r'^(?:[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN)$')


def parse(text):
    """{(name, labels): value}; asserts the exposition format: HELP and
    TYPE once per family and before its samples, every sample line
    `name{labels} value`, histogram buckets cumulative up to +Inf = count."""
    assert text.endswith('\n'), text[-200:]
    types, helps, samples = {}, set(), {}
    for line in text.splitlines():
        if line.startswith('# HELP '):
            name = line.split()[2]
            assert re.match('^%s$' % NAME, name) and name not in helps, line
            helps.add(name)
            continue
        if line.startswith('# TYPE '):
            _, _, name, typ = line.split(' ')
            assert typ in ('counter', 'gauge', 'histogram', 'summary', 'untyped'), line
            assert name not in types, 'TYPE twice: ' + line
            types[name] = typ
            continue
        assert not line.startswith('#') and line.strip(), 'unexpected line %r' % line
        m = SAMPLE.match(line)
        assert m, 'bad sample line %r' % line
        name, labels, value = m.group(1), m.group(2) or '', m.group(3)
        assert VALUE.match(value), line
        family = re.sub(r'_(bucket|sum|count)$', '', name)
        family = family if types.get(family) == 'histogram' else name
        assert family in types and family in helps, 'no TYPE/HELP before %r' % line
        if types[family] == 'counter':
            assert name.endswith('_total') and float(value) >= 0, line
        assert (name, labels) not in samples, 'sample twice: ' + line
        samples[(name, labels)] = float(value)
    for family, typ in types.items():
        if typ != 'histogram':
            continue
        buckets = [(k[1], v) for k, v in samples.items() if k[0] == family + '_bucket']
        values = [v for _, v in buckets]
        assert values == sorted(values), buckets
        assert ('{le="+Inf"}', samples[(family + '_count', '')]) in buckets, buckets
    return samples


def scrape(d, process, path='/metrics'):
    url = 'http://127.0.0.1:%d%s' % (d.metrics_base + OFFSETS[process], path)
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        assert r.headers['Content-Type'].startswith('text/plain; version=0.0.4'), r.headers
        return parse(r.read().decode())


def wait_metrics(d, process):
    """The first scrape: a process starts its metrics listener a moment
    after junctionctl start has returned."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return scrape(d, process)
        except urllib.error.URLError as e:
            if not isinstance(e.reason, ConnectionRefusedError) or \
                    time.monotonic() > deadline:
                raise AssertionError('%s metrics: %s\n%s' % (process, e, d.logs()))
            time.sleep(0.1)


def metrics_base():
    """A port p with p .. p+4 all free now."""
    for _ in range(50):
        p = free_port()
        ok = True
        for i in range(5):
            s = socket.socket()
            try:
                s.bind(('127.0.0.1', p + i))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return p
    raise RuntimeError('no 5 consecutive free ports')


async def failed_login(port):
    """A login with the wrong password, which fails."""
    from slixmpp import ClientXMPP
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'c2s_login', os.path.join(os.path.dirname(__file__), '20-c2s-login.py'))
    login = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(login)
    c = ClientXMPP('juliet@localhost/bad', PASSWORD + 'wrong', sasl_mech='SCRAM-SHA-256')
    c.ssl_context = login._no_verify()
    login._no_channel_binding(c)
    failed = asyncio.Event()
    c.add_event_handler('failed_auth', lambda _e: failed.set())
    c.connect(('127.0.0.1', port))
    await asyncio.wait_for(failed.wait(), 30)
    c.disconnect()
    await asyncio.sleep(0.3)


@pytest.mark.timeout(180)
@pytest.mark.skipif(not os.access(os.path.join(BUILD_DIR, 'junction-pubsub'), os.X_OK),
                    reason='junction-pubsub not built')
def test_every_process_serves_metrics_that_move(tmp_path):
    base = metrics_base()
    d = Deployment(tmp_path, sections={
        'junction': {'metrics': '127.0.0.1:%d' % base},
        'pubsub': {'create_nodes': 'users'},
        's2s': {'listen': '127.0.0.1:%d' % free_port(), 'resolver': 'static',
                'require_tls': 'no'},
    })
    d.metrics_base = base
    d.adduser('juliet@localhost')
    d.adduser('romeo@localhost')
    try:
        out = d.ctl('start').stdout
        for p in OFFSETS:
            assert '%s: started' % p in out, out
        d.wait_linked()
        before = {p: wait_metrics(d, p) for p in OFFSETS}
        deadline = time.monotonic() + 20
        for p in OFFSETS:
            assert before[p][('junction_uptime_seconds', '')] >= 0, p
            # pubsub and s2s may still be connecting to the router.
            while p != 'router' and before[p][('junction_%s_router_up' % p, '')] != 1:
                assert time.monotonic() < deadline, (p, before[p])
                time.sleep(0.1)
                before[p] = scrape(d, p)

        asyncio.run(failed_login(d.c2s_port))
        during = asyncio.run(d.session(['juliet', 'romeo'], messages=5, during=lambda: {
            p: scrape(d, p) for p in ('c2s', 'sm', 'router')}))
        after = {p: scrape(d, p) for p in OFFSETS}
    finally:
        d.shutdown()

    c2s, sm, router = during['c2s'], during['sm'], during['router']
    # Sessions while both clients were online.
    assert c2s[('junction_c2s_sessions', '')] == 2, c2s
    assert c2s[('junction_c2s_connections', '')] >= 2, c2s
    assert sm[('junction_sm_sessions', '')] == 2, sm
    assert sm[('junction_sm_sessions_available', '')] == 2, sm
    # Logins: two good ones, at least one failure.
    a, b = after['c2s'], before['c2s']
    assert a[('junction_c2s_logins_total', '{result="ok"}')] - \
        b[('junction_c2s_logins_total', '{result="ok"}')] == 2, a
    assert a[('junction_c2s_logins_total', '{result="failed"}')] >= 1, a
    # Stanzas in and out: five messages, plus presence, roster and the rest.
    for name in ('junction_c2s_stanzas_in_total', 'junction_c2s_stanzas_out_total',
                 'junction_c2s_router_stanzas_out_total', 'junction_c2s_router_stanzas_in_total'):
        assert a[(name, '')] - b[(name, '')] >= 5, (name, a)
    for name in ('junction_sm_router_stanzas_in_total', 'junction_sm_router_stanzas_out_total'):
        assert after['sm'][(name, '')] - before['sm'][(name, '')] >= 10, (name, after['sm'])
    for name in ('junction_router_stanzas_in_total', 'junction_router_stanzas_out_total'):
        assert after['router'][(name, '')] - before['router'][(name, '')] >= 20, after['router']
    # Queue depths per stream at the router, and of the links.
    for stream in ('sm.localhost', 'c2s.localhost', 'pubsub.localhost', 's2s.localhost'):
        assert ('junction_router_queued_bytes', '{stream="%s"}' % stream) in router, router
    assert ('junction_sm_router_queued_bytes', '') in sm
    # Storage latency: logins read credentials, sessions read rosters.
    assert after['sm'][('junction_sm_store_seconds_count', '')] > \
        before['sm'][('junction_sm_store_seconds_count', '')], after['sm']
    assert after['sm'][('junction_sm_store_seconds_sum', '')] > 0
    assert ('junction_pubsub_store_seconds_count', '') in after['pubsub']
    assert ('junction_s2s_router_stanzas_in_total', '') in after['s2s']
    assert after['router'][('junction_metrics_scrapes_total', '')] > \
        before['router'][('junction_metrics_scrapes_total', '')]


@pytest.mark.timeout(60)
def test_metrics_http_errors(tmp_path):
    base = metrics_base()
    d = Deployment(tmp_path, sections={'junction': {'metrics': '127.0.0.1:%d' % base}})
    d.metrics_base = base
    try:
        d.ctl('start', 'router')
        wait_metrics(d, 'router')
        with pytest.raises(urllib.error.HTTPError) as e:
            scrape(d, 'router', '/nothing')
        assert e.value.code == 404
        req = urllib.request.Request('http://127.0.0.1:%d/metrics' % base, data=b'x',
                                     method='POST')
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 405
        # Not HTTP at all: 400, and the server goes on.
        s = socket.create_connection(('127.0.0.1', base), timeout=10)
        s.sendall(b'\x16\x03\x01 hello\r\n\r\n')
        assert s.recv(100).startswith(b'HTTP/1.1 400 ')
        s.close()
        assert scrape(d, 'router')[('junction_router_streams', '')] == 0
    finally:
        d.shutdown()
