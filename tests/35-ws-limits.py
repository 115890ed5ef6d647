"""Limits and faults of the web transports, as on TCP (issue 9): a stanza
over max_stanza_bytes in a BOSH body; a BOSH session that never
authenticates; HTTP requests and a held BOSH request dropped halfway (the
session goes on, a re-sent rid gets its answer); XEP-0124 overactivity
(too many simultaneous requests, empty requests or polls too often), the
attributes a client asks for beyond the limits, xmpp:restart only after
SASL; 2,000 idle BOSH sessions (memory per session, the max_clients cap,
freed after bosh_inactivity); a flood of idle connections and of 5,000
bad requests while real clients chat. The WebSocket cases (oversized
stanza, authentication timeout, a frame cut off) are in 35-ws-raw.py."""

import asyncio
import re
import signal
import socket
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from ws_helpers import NS_BOSH, Bosh, WsXmpp, local, no_verify, web  # noqa: F401 (fixture)

NS_STREAM = 'http://etherx.jabber.org/streams'
NS_STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams'
ROSTER = "<iq xmlns='jabber:client' type='get' id='%s'><query xmlns='jabber:iq:roster'/></iq>"
USERS = (('juliet@localhost', 'r0meo'), ('romeo@localhost', 'dagger'))


def _terminate(body):
    """(type, condition, the stream error's condition or None)."""
    err = body.find('{%s}error' % NS_STREAM)
    cond = None
    if err is not None:
        cond = [local(c) for c in err if local(c) != 'text'][0]
    return body.get('type'), body.get('condition'), cond


def _tls(port, source='127.0.0.1', timeout=15):
    raw = socket.create_connection(('127.0.0.1', port), timeout=timeout,
                                   source_address=(source, 0))
    return no_verify().wrap_socket(raw)


def _post_head(port, length):
    return ('POST /http-bind HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: text/xml\r\n'
            'Content-Length: %d\r\n\r\n' % (port, length)).encode()


def _rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        return int(re.search(r'VmRSS:\s+(\d+)', f.read()).group(1))


def _until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.timeout(120)
def test_bosh_stanza_limit_and_auth_timeout(web):
    w = web(users=USERS[:1], c2s_opts={'max_stanza_bytes': '8K', 'auth_timeout': '3s'})
    # A stanza over max_stanza_bytes in a body that HTTP accepts (under
    # max_stanza_bytes + 8K): the stream error TCP would get, inside the
    # terminate; the session is gone after it.
    b = Bosh(w.http_port)
    b.create()
    big = "<message xmlns='jabber:client' to='x@localhost'><body>%s</body></message>" % (
        'a' * 9000)
    _, body = b.raw(b.rid, big)
    assert _terminate(body) == ('terminate', 'remote-stream-error', 'policy-violation'), \
        ET.tostring(body)
    _, body = b.raw(b.rid + 1)
    assert _terminate(body)[:2] == ('terminate', 'item-not-found')
    # So does a body with more children than a request may carry.
    b = Bosh(w.http_port)
    b.create()
    _, body = b.raw(b.rid, "<presence xmlns='jabber:client'/>" * 65)
    assert _terminate(body) == ('terminate', 'remote-stream-error', 'policy-violation')
    # A body that is not well-formed ends a live session as on TCP.
    b = Bosh(w.http_port)
    b.create()
    status, _, data = b.post_raw("<body xmlns='%s' rid='%d' sid='%s'><oops></body>"
                                 % (NS_BOSH, b.rid, b.sid))
    assert status == 200
    assert _terminate(ET.fromstring(data)) == ('terminate', 'remote-stream-error',
                                               'not-well-formed'), data
    _, body = b.raw(b.rid + 1)
    assert _terminate(body)[:2] == ('terminate', 'item-not-found')
    # A session that never authenticates ends after auth_timeout like a
    # TCP stream: its held request gets connection-timeout.
    b = Bosh(w.http_port, wait=20)
    b.create()
    t0 = time.monotonic()
    _, body = b.raw(b.rid)
    waited = time.monotonic() - t0
    assert _terminate(body) == ('terminate', 'remote-stream-error', 'connection-timeout'), \
        ET.tostring(body)
    assert 1.0 < waited < 10.0, waited
    # One with no request held at that moment is simply gone.
    b = Bosh(w.http_port, wait=1)
    b.create()
    time.sleep(4)
    b.conn.close()  # idle for auth_timeout: the server closed it too
    _, body = b.raw(b.rid)
    assert _terminate(body)[:2] == ('terminate', 'item-not-found')
    # Authenticated in time, the session stays.
    b = Bosh(w.http_port, wait=1)
    assert b.login('juliet', 'r0meo') == 'juliet@localhost/bosh'
    time.sleep(3.5)
    b.conn.close()
    b.post(ROSTER % 'r1')
    assert b.next(lambda el: el.get('id') == 'r1').get('type') == 'result'


def _held_on_socket(b):
    """An empty request for b.rid on a raw TLS socket of its own, left
    held by the server; the socket."""
    s = _tls(b.port)
    req = "<body xmlns='%s' rid='%d' sid='%s'/>" % (NS_BOSH, b.rid, b.sid)
    s.sendall(_post_head(b.port, len(req)) + req.encode())
    time.sleep(0.3)
    return s


@pytest.mark.timeout(120)
def test_bosh_dropped_requests(web):
    w = web(users=USERS[:1])
    port = w.http_port
    b = Bosh(port, wait=2)
    assert b.login('juliet', 'r0meo') == 'juliet@localhost/bosh'
    # The held request's connection closes: the next rid goes on.
    _held_on_socket(b).close()
    b.rid += 1
    b.post(ROSTER % 'r1')
    assert b.next(lambda el: el.get('id') == 'r1').get('type') == 'result'
    # The client sends the same rid again before the first was answered
    # (its connection broke): the new connection waits for the answer.
    _held_on_socket(b).close()
    t0 = time.monotonic()
    _, body = b.raw(b.rid)
    assert body.get('type') is None and time.monotonic() - t0 > 1.0, ET.tostring(body)
    b.rid += 1
    # A request cut off in its headers, and one cut off in its body.
    for cut in (_post_head(port, 200)[:30], _post_head(port, 200) + b"<body xmlns='"):
        s = _tls(port)
        s.sendall(cut)
        time.sleep(0.1)
        s.close()
    b.post(ROSTER % 'r3')
    assert b.next(lambda el: el.get('id') == 'r3').get('type') == 'result'
    # An old held connection still open when the rid comes again gets an
    # empty body; the new one the answer.
    s = _held_on_socket(b)
    _, body = b.raw(b.rid, wait='1')
    first = s.recv(65536)
    s.close()
    assert first.startswith(b'HTTP/1.1 200') and b"type='terminate'" not in first, first
    b.rid += 1
    b.post(ROSTER % 'r4')
    assert b.next(lambda el: el.get('id') == 'r4').get('type') == 'result'
    # c2s stops: a held request is answered with system-shutdown, and c2s
    # exits cleanly.
    b = Bosh(port, wait=30)
    b.create()
    held = _held(b, b.rid)
    time.sleep(0.5)
    w.c2s.stop()
    assert _terminate(held())[:2] == ('terminate', 'system-shutdown')


def _held(b, rid, payload='', **attrs):
    """POST rid on a connection of its own in a thread; join() returns the body."""
    other = Bosh(b.port)
    other.sid = b.sid
    out = {}
    t = threading.Thread(target=lambda: out.update(r=other.raw(rid, payload, **attrs)[1]))
    t.start()

    def join():
        t.join(15)
        return out.get('r')
    return join


def _two_unanswered(port, early=True):
    """A logged-in session with its next rid n held (empty) and, if early,
    n + 2 (a roster get) waiting for n + 1: (session, n, join held, join
    early or None)."""
    b = Bosh(port, wait=5)
    b.login('juliet', 'r0meo')
    n = b.rid
    held = _held(b, n)
    time.sleep(0.8)  # there, in order, even on a loaded machine
    ahead = None
    if early:
        ahead = _held(b, n + 2, ROSTER % 'e')
        time.sleep(0.8)
    return b, n, held, ahead


@pytest.mark.timeout(120)
def test_bosh_overactivity(web):
    w = web(users=USERS[:1])
    port = w.http_port
    # hold and wait above the limits are capped and the caps announced.
    b = Bosh(port, wait=300, hold='5')
    body = b.create()
    assert (body.get('hold'), body.get('requests'), body.get('wait')) == ('1', '2', '60')
    assert body.get('polling') == '2' and body.get('inactivity') == '60'
    # XEP-0206: xmpp:restart before SASL success ends the session.
    _, body = b.raw(b.rid, **{'xmpp:restart': 'true', 'xmlns:xmpp': 'urn:xmpp:xbosh'})
    assert _terminate(body) == ('terminate', 'remote-stream-error', 'not-authorized'), \
        ET.tostring(body)
    # Three unanswered requests where `requests` is 2: policy-violation,
    # for the request and the ones held.
    b, n, held, early = _two_unanswered(port)
    _, body = b.raw(n + 1, ROSTER % 'x')
    assert _terminate(body)[:2] == ('terminate', 'policy-violation'), ET.tostring(body)
    assert held().get('type') == 'terminate'
    assert early().get('type') == 'terminate'
    # One more is allowed for a pause (XEP-0124 11).
    b, n, held, early = _two_unanswered(port)
    _, body = b.raw(n + 1, pause='10')
    assert body.get('type') is None, ET.tostring(body)
    assert held().get('type') is None and early().get('type') is None
    # Two empty requests, both unanswered, within `polling` seconds.
    b, n, held, _ = _two_unanswered(port, early=False)
    _, body = b.raw(n + 1)
    assert _terminate(body)[:2] == ('terminate', 'policy-violation'), ET.tostring(body)
    assert held().get('type') == 'terminate'
    # With something in it, the second request is fine (the first is answered).
    b, n, held, _ = _two_unanswered(port, early=False)
    _, body = b.raw(n + 1, ROSTER % 'ok')
    assert body.get('type') is None and held().get('type') is None
    # A polling session (hold 0): answered at once; an empty poll right
    # after an empty answer is a violation, one `polling` seconds later is not.
    b = Bosh(port, wait=5, hold='0')
    body = b.create()
    assert (body.get('hold'), body.get('requests')) == ('0', '1')
    b.post()
    for _ in range(3):
        time.sleep(2.2)
        assert b.post().get('type') is None
    body = b.post()
    assert _terminate(body)[:2] == ('terminate', 'policy-violation'), ET.tostring(body)


def _create_many(port, n, threads=4):
    """n BOSH sessions (creation requests only), on `threads` keep-alive
    connections; their sids."""
    sids = []
    lock = threading.Lock()

    def run(k):
        c = Bosh(port)
        mine = []
        for _ in range(k):
            c.sid = None
            c.create()
            mine.append(c.sid)
        with lock:
            sids.extend(mine)
    ts = [threading.Thread(target=run, args=(n // threads + (i < n % threads),))
          for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    return sids


@pytest.mark.timeout(240)
def test_idle_bosh_sessions_memory_cap_inactivity(web):
    n_sessions, n_auth = 2000, 20
    # No ASan quarantine: RSS then counts live memory, not freed blocks.
    w = web(users=USERS[:1], asan_extra=':quarantine_size_mb=0',
            c2s_opts={'max_clients': n_sessions + n_auth, 'auth_timeout': '10m',
                      'bosh_inactivity': '10m'})
    pid = w.c2s.proc.pid
    # Warm up (TLS, first session), then measure.
    _create_many(w.http_port, 8, threads=2)
    before = _rss_kb(pid)
    t0 = time.monotonic()
    sids = _create_many(w.http_port, n_sessions - 8)
    created = time.monotonic() - t0
    auth = []
    for i in range(n_auth):
        b = Bosh(w.http_port)
        b.login('juliet', 'r0meo', resource='b%d' % i)
        auth.append(b)
    after = _rss_kb(pid)
    per = (after - before) * 1024 / (n_sessions - 8 + n_auth)
    print('\n%d idle BOSH sessions (%d logged in): c2s RSS %d -> %d kB, %.0f bytes per '
          'session; %.0f creations/s' % (n_sessions + n_auth, n_auth, before, after, per,
                                         (n_sessions - 8) / created))
    assert len(set(sids)) == n_sessions - 8
    assert per < 8192, per
    # max_clients: the next creation is refused, nothing else changes.
    extra = Bosh(w.http_port)
    body = extra.post(to='localhost', wait='1', hold='1')
    assert _terminate(body)[:2] == ('terminate', 'remote-connection-failed'), ET.tostring(body)
    # A TCP (here WebSocket) stream beyond it gets resource-constraint.

    async def ws_refused():
        c = await WsXmpp.connect(w.ws_url)
        await c.send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' "
                     "version='1.0'/>")
        await c.recv()
        return await c.expect_stream_error()
    assert asyncio.run(ws_refused()) == 'resource-constraint'
    # A logged-in session still works (its restart took no new place).
    auth[0].post(ROSTER % 'r1')
    assert auth[0].next(lambda el: el.get('id') == 'r1').get('type') == 'result'
    # bosh_inactivity down to 1s (SIGHUP): the idle sessions end and free
    # their places; a new session fits again.
    conf = open(w.r.config_path).read().replace('bosh_inactivity = 10m', 'bosh_inactivity = 1s')
    with open(w.r.config_path, 'w') as f:
        f.write(conf)
    w.c2s.proc.send_signal(signal.SIGHUP)
    _until(lambda: w.c2s.log_text().count('inactive, ending it') >= n_sessions + n_auth,
           60, 'idle sessions not ended')
    for sid in sids[:10]:
        extra.sid = sid
        _, body = extra.raw(extra.rid)
        assert _terminate(body)[:2] == ('terminate', 'item-not-found')
    extra.sid = None
    assert extra.create().get('type') is None


def _burst(port, n, threads, source):
    """n bad requests over `threads` keep-alive connections: unknown sid,
    no rid, not XML. Returns (answers by condition, seconds)."""
    kinds = ("<body xmlns='%s' rid='5' sid='nosuchsid%%d'/>" % NS_BOSH,
             "<body xmlns='%s' sid='x%%d'/>" % NS_BOSH,
             'garbage %d <<<')
    counts = {}
    lock = threading.Lock()

    def run(k):
        c = Bosh(port)
        c.conn.source_address = (source, 0)
        mine = {}
        for i in range(k):
            status, _, data = c.post_raw(kinds[i % 3] % i)
            key = (status, ET.fromstring(data).get('condition') if status == 200 else None)
            mine[key] = mine.get(key, 0) + 1
        with lock:
            for key, v in mine.items():
                counts[key] = counts.get(key, 0) + v
    t0 = time.monotonic()
    ts = [threading.Thread(target=run, args=(n // threads,)) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    return counts, time.monotonic() - t0


@pytest.mark.timeout(240)
def test_http_flood(web):
    per_ip = 50
    w = web(users=USERS, asan_extra=':quarantine_size_mb=16',
            c2s_opts={'auth_timeout': '6s', 'http_connections_per_ip': per_ip})
    port = w.http_port
    pid = w.c2s.proc.pid
    rss0 = _rss_kb(pid)
    # 200 connections from 127.0.0.2 that send nothing or half a TLS
    # record: those beyond the per-address cap are closed at once, the
    # others after auth_timeout.
    socks = []
    for i in range(200):
        s = socket.create_connection(('127.0.0.1', port), timeout=15,
                                     source_address=('127.0.0.2', 0))
        if i % 2:
            s.sendall(b'\x16\x03\x01\x02')
        socks.append(s)
    t0 = time.monotonic()
    closed_at = []

    def wait_closed(s):
        try:
            s.recv(100)
        except OSError:
            pass
        closed_at.append(time.monotonic() - t0)
        s.close()
    waiters = [threading.Thread(target=wait_closed, args=(s,)) for s in socks]
    for t in waiters:
        t.start()
    # Meanwhile, from 127.0.0.1: two clients log in and chat, while a
    # burst of bad requests comes from 127.0.0.3.
    burst = {}
    bt = threading.Thread(target=lambda: burst.update(r=_burst(port, 5000, 4, '127.0.0.3')))
    bt.start()

    async def chat():
        j = await WsXmpp.connect(w.ws_url)
        r = await WsXmpp.connect(w.ws_url)
        await j.login('juliet', 'r0meo')
        await r.login('romeo', 'dagger')
        for c in (j, r):
            await c.send("<presence xmlns='jabber:client'/>")
        for i in range(20):
            await j.send("<message xmlns='jabber:client' to='romeo@localhost/web' "
                         "type='chat'><body>m%d</body></message>" % i)
        got = []
        while len(got) < 20:
            el = await r.recv(30)
            if local(el) == 'message':
                got.append(el.find('{jabber:client}body').text)
        await j.close()
        await r.close()
        return got
    assert asyncio.run(chat()) == ['m%d' % i for i in range(20)]
    bt.join(300)
    for t in waiters:
        t.join(30)
    counts, secs = burst['r']
    print('\nburst: %d bad requests in %.1f s (%.0f/s): %r; idle connections closed at '
          '%.1f..%.1f s' % (sum(counts.values()), secs, sum(counts.values()) / secs, counts,
                           min(closed_at), max(closed_at)))
    unknown = 4 * len(range(0, 5000 // 4, 3))
    assert counts == {(200, 'item-not-found'): unknown, (200, 'bad-request'): 5000 - unknown}, \
        counts
    early = [t for t in closed_at if t < 3.0]
    late = [t for t in closed_at if t >= 3.0]
    assert len(early) >= 200 - per_ip and len(late) <= per_ip, sorted(closed_at)
    assert len(closed_at) == 200 and max(closed_at) < 20, sorted(closed_at)
    rss1 = _rss_kb(pid)
    print('c2s RSS %d -> %d kB' % (rss0, rss1))
    assert rss1 - rss0 < 64 * 1024, (rss0, rss1)
    # Nothing is left of the flood: a new connection from 127.0.0.2 is served.
    b = Bosh(port)
    b.conn.source_address = ('127.0.0.2', 0)
    assert b.create().get('type') is None
