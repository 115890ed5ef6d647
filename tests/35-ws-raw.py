"""The WebSocket listener at the edges: Origin policy, the xmpp
subprotocol, RFC 7395 framing errors, limits as on TCP (stanza size,
unauthenticated timeout), a client that vanishes mid-frame, plain HTTP
errors, XEP-0156 host-meta, and the http_tls = no rule."""

import asyncio
import base64
import json
import os
import socket
import ssl
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import BUILD_DIR, free_port
from ws_helpers import NS_FRAMING, WsXmpp, no_verify, web  # noqa: F401 (fixture)

LIMITS = {'max_stanza_bytes': '8K', 'auth_timeout': '3s'}


def _status(exc):
    return getattr(exc, 'status_code', None)


async def _refused(url, **kw):
    import websockets
    try:
        c = await WsXmpp.connect(url, **kw)
    except websockets.exceptions.InvalidStatusCode as e:
        return _status(e)
    await c.ws.close()
    return 101


def _https(port, request, timeout=10):
    """Send raw bytes over TLS; return everything until the server closes."""
    raw = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    s = no_verify().wrap_socket(raw)
    s.sendall(request)
    out = b''
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except (ssl.SSLError, ConnectionResetError, socket.timeout):
        pass
    s.close()
    return out


@pytest.mark.timeout(90)
def test_origin_and_subprotocol(web):
    w = web(users=(('juliet@localhost', 'r0meo'),), c2s_opts=LIMITS)
    own = 'https://127.0.0.1:%d' % w.http_port
    got = {}

    async def main():
        got['foreign'] = await _refused(w.ws_url, origin='https://evil.example')
        got['own'] = await _refused(w.ws_url, origin=own)
        got['none'] = await _refused(w.ws_url)
        got['no-subprotocol'] = await _refused(w.ws_url, subprotocols=None)
        got['wrong-subprotocol'] = await _refused(w.ws_url, subprotocols=('chat',))
        # The browser's own page logs in.
        c = await WsXmpp.connect(w.ws_url, origin=own)
        got['jid'] = await c.login('juliet', 'r0meo')
        await c.close()
    asyncio.run(main())
    assert got == {'foreign': 403, 'own': 101, 'none': 101, 'no-subprotocol': 400,
                   'wrong-subprotocol': 400, 'jid': 'juliet@localhost/web'}, got


@pytest.mark.timeout(90)
def test_configured_origins(web):
    w = web(c2s_opts={'http_origins': 'https://app.example, https://other.example:8443'})
    own = 'https://127.0.0.1:%d' % w.http_port

    async def main():
        return [await _refused(w.ws_url, origin=o)
                for o in ('https://app.example', 'https://other.example:8443', own,
                          'https://evil.example')]
    assert asyncio.run(main()) == [101, 101, 403, 403]


async def _stream_error_after(url, messages, binary=False):
    c = await WsXmpp.connect(url)
    await c.open()
    for m in messages:
        await c.ws.send(m.encode() if binary else m)
    return await c.expect_stream_error()


@pytest.mark.timeout(90)
def test_framing_errors_and_limits(web):
    w = web(c2s_opts=LIMITS)
    got = {}

    async def before_open():
        """A stanza before <open/>: the server's header, then the error."""
        c = await WsXmpp.connect(w.ws_url)
        await c.send("<message xmlns='jabber:client' to='x@localhost'/>")
        op = await c.recv()
        assert op.tag == '{%s}open' % NS_FRAMING, ET.tostring(op)
        return await c.expect_stream_error()

    async def timeout():
        c = await WsXmpp.connect(w.ws_url)
        await c.open()
        t0 = time.monotonic()
        cond = await c.expect_stream_error(timeout=10)
        return cond, time.monotonic() - t0

    async def run():
        await main_cases()
        got['before-open'] = await before_open()
        got['timeout'] = await timeout()

    async def main_cases():
        big = "<message xmlns='jabber:client' to='x@localhost'><body>%s</body></message>" % (
            'a' * 9000)
        got['oversized'] = await _stream_error_after(w.ws_url, [big])
        got['not-xml'] = await _stream_error_after(w.ws_url, ['this is not XML'])
        got['half'] = await _stream_error_after(w.ws_url, ["<message xmlns='jabber:client'>"])
        got['two'] = await _stream_error_after(
            w.ws_url, ["<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" * 2])
        got['binary'] = await _stream_error_after(w.ws_url, ["<presence/>"], binary=True)

    asyncio.run(run())
    assert got['oversized'] == 'policy-violation', got
    assert got['not-xml'] in ('not-well-formed', 'bad-format'), got
    assert got['half'] == 'not-well-formed', got
    assert got['two'] == 'not-well-formed', got
    assert got['binary'] == 'unsupported-encoding', got
    assert got['before-open'] == 'not-authorized', got
    cond, waited = got['timeout']
    assert cond == 'connection-timeout' and 2.0 < waited < 8.0, got


def _upgrade_request(port, key=None):
    key = key or base64.b64encode(os.urandom(16)).decode()
    return ('GET /xmpp-websocket HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n'
            'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n'
            'Sec-WebSocket-Protocol: xmpp\r\n\r\n' % (port, key)).encode()


@pytest.mark.timeout(90)
def test_vanishing_clients_and_http_errors(web):
    """Clients that go away mid-frame or mid-request leave nothing behind
    (c2s exits cleanly under ASan at teardown and still serves); plain HTTP
    mistakes get their status codes."""
    w = web(users=(('juliet@localhost', 'r0meo'),), c2s_opts=LIMITS)
    port = w.http_port
    for _ in range(5):
        # Upgrade, then half a masked frame header and payload, then gone.
        raw = socket.create_connection(('127.0.0.1', port), timeout=10)
        s = no_verify().wrap_socket(raw)
        s.sendall(_upgrade_request(port))
        head = b''
        while b'\r\n\r\n' not in head:
            head += s.recv(4096)
        assert head.startswith(b'HTTP/1.1 101'), head
        s.sendall(b'\x81\xfe\x04\x00' + os.urandom(4) + b'<open xmlns=')
        s.close()
        # Half a request.
        raw = socket.create_connection(('127.0.0.1', port), timeout=10)
        s = no_verify().wrap_socket(raw)
        s.sendall(b'GET /xmpp-webs')
        s.close()
    assert _https(port, b'GET /nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
                  ).startswith(b'HTTP/1.1 404 ')
    assert _https(port, b'NOT HTTP AT ALL\r\n\r\n').startswith(b'HTTP/1.1 400 ')
    assert _https(port, b'GET / HTTP/1.1\r\nX-Big: ' + b'a' * 10000 + b'\r\n\r\n').startswith(
        b'HTTP/1.1 431 ')
    assert _https(port, b'POST /http-bind HTTP/1.1\r\nContent-Length: 999999\r\n\r\n'
                  ).startswith(b'HTTP/1.1 413 ')
    bad_version = _upgrade_request(port).replace(b'Version: 13', b'Version: 8')
    assert _https(port, bad_version).startswith(b'HTTP/1.1 426 ')
    # An idle connection without a session is closed after auth_timeout.
    raw = socket.create_connection(('127.0.0.1', port), timeout=10)
    s = no_verify().wrap_socket(raw)
    t0 = time.monotonic()
    assert s.recv(100) == b''
    assert 2.0 < time.monotonic() - t0 < 8.0
    s.close()

    async def login():
        c = await WsXmpp.connect(w.ws_url)
        jid = await c.login('juliet', 'r0meo')
        await c.close()
        return jid
    assert asyncio.run(login()) == 'juliet@localhost/web'


@pytest.mark.timeout(60)
def test_host_meta(web):
    w = web()
    port = w.http_port
    host = '127.0.0.1:%d' % port
    xrd = _https(port, ('GET /.well-known/host-meta HTTP/1.1\r\nHost: %s\r\n'
                        'Connection: close\r\n\r\n' % host).encode())
    head, _, body = xrd.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200 ') and b'Access-Control-Allow-Origin: *' in head
    links = {l.get('rel'): l.get('href') for l in ET.fromstring(body).iter(
        '{http://docs.oasis-open.org/ns/xri/xrd-1.0}Link')}
    assert links['urn:xmpp:alt-connections:websocket'] == 'wss://%s/xmpp-websocket' % host
    assert links['urn:xmpp:alt-connections:xbosh'] == 'https://%s/http-bind' % host
    jrd = _https(port, ('GET /.well-known/host-meta.json HTTP/1.1\r\nHost: %s\r\n'
                        'Connection: close\r\n\r\n' % host).encode())
    head, _, body = jrd.partition(b'\r\n\r\n')
    assert b'application/json' in head
    links = {l['rel']: l['href'] for l in json.loads(body)['links']}
    assert links == {'urn:xmpp:alt-connections:websocket': 'wss://%s/xmpp-websocket' % host,
                     'urn:xmpp:alt-connections:xbosh': 'https://%s/http-bind' % host}
    # Two requests on one connection (keep-alive), then a bad Host.
    two = _https(port, ('GET /.well-known/host-meta HTTP/1.1\r\nHost: %s\r\n\r\n'
                        'GET /.well-known/host-meta.json HTTP/1.1\r\nHost: a b\r\n\r\n'
                        % host).encode())
    assert two.count(b'HTTP/1.1 200 ') == 1 and b'HTTP/1.1 400 ' in two, two


def _check(router, opts):
    path = router.config_path + '.http'
    with open(router.config_path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text + '\n[c2s]\n' + ''.join('%s = %s\n' % kv for kv in opts.items()))
    return subprocess.run([os.path.join(BUILD_DIR, 'junctionctl'), '-c', path, 'check'],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.timeout(90)
def test_plain_http_only_on_loopback(router, web):
    r = router()
    bad = _check(r, {'http_listen': '0.0.0.0:%d' % free_port(), 'http_tls': 'no'})
    assert bad.returncode != 0 and 'loopback' in bad.stderr, bad
    ok = _check(r, {'http_listen': '127.0.0.1:%d' % free_port(), 'http_tls': 'no'})
    assert ok.returncode == 0, ok.stderr
    # Behind a local reverse proxy: plain ws:// on loopback, SCRAM works
    # (PLAIN is not offered without TLS).
    w = web(users=(('juliet@localhost', 'r0meo'),), c2s_opts={'http_tls': 'no'})

    async def main():
        c = await WsXmpp.connect('ws://127.0.0.1:%d/xmpp-websocket' % w.http_port)
        jid = await c.login('juliet', 'r0meo')
        await c.close()
        return jid
    assert asyncio.run(main()) == 'juliet@localhost/web'
