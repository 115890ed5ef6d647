"""junction-s2s at the protocol's edges, with a raw server stream written
here (Python sockets and ssl, no XMPP library) against a.example's s2s,
while b.example is a real Junction deployment acting as the authority for
its own dialback keys:

* TLS required and the peer has none: policy-violation (and outgoing: a
  peer that offers no STARTTLS gets nothing, the stanzas bounce);
* "dialback without dialback": a db:result answer nobody asked for;
* a peer authenticated by dialback whose stanza from/to break the rules
  (invalid-from, host-unknown), and one changing 'to' across the restart;
* a peer that closes in the middle of a stanza: what it sent whole is
  delivered, the half is not, and federation goes on."""

import asyncio
import importlib.util
import os
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from junction_helpers import NS_STREAM, RawStream, local, stream_error

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('s2s_fed', os.path.join(_here, '40-s2s-federation.py'))
fed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fed)
federation = fed.federation
pytestmark = fed.pytestmark

NS_SERVER = 'jabber:server'
NS_DB = 'jabber:server:dialback'
NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls'


class RawServer(RawStream):
    """An incoming server stream as a remote server would open it."""

    def __init__(self, site):
        super().__init__(site.ip, site.s2s_port)
        self.name = 'raw-peer'

    def _pump(self, timeout):
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            data = self.sock.recv(262144)
            if data:
                self._feed(data)
                return True
        return super()._pump(timeout)

    def open_server(self, to='a.example', frm='b.example'):
        """Send a header; return the features element."""
        self._parser = ET.XMLPullParser(events=('start', 'end'))
        self._depth = 0
        self.header = None
        self.stream_id = None
        attrs = ''.join(" %s='%s'" % kv for kv in (('to', to), ('from', frm)) if kv[1])
        self.send("<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:db='%s' "
                  "xmlns:stream='%s'%s version='1.0'>" % (NS_SERVER, NS_DB, NS_STREAM, attrs))
        return self.next()

    def starttls(self):
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = self.next()
        assert local(el) == 'proceed', ET.tostring(el)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname='a.example')

    def dialback(self, authority, frm='b.example', to='a.example'):
        """Authenticate frm -> to with a key the authority (a Site) made."""
        key = authority.dialback_key(to, frm, self.stream_id)
        self.send("<db:result from='%s' to='%s'>%s</db:result>" % (frm, to, key))
        el = self.next(timeout=20)
        assert el.tag == '{%s}result' % NS_DB and el.get('type') == 'valid', ET.tostring(el)


def tls_peer(site):
    s = RawServer(site)
    feats = s.open_server()
    assert feats.find('{%s}starttls' % NS_TLS) is not None, ET.tostring(feats)
    s.starttls()
    feats = s.open_server()
    assert feats.find('{urn:xmpp:features:dialback}dialback') is not None, ET.tostring(feats)
    return s


@pytest.mark.timeout(120)
def test_tls_required_and_dialback_without_dialback(federation):
    f = federation()
    # No TLS: the features say so, and dialback before STARTTLS is refused.
    s = RawServer(f.a)
    feats = s.open_server()
    tls = feats.find('{%s}starttls' % NS_TLS)
    assert tls is not None and tls.find('{%s}required' % NS_TLS) is not None, ET.tostring(feats)
    s.send("<db:result from='b.example' to='a.example'>00</db:result>")
    assert s.expect_stream_error() == 'policy-violation'
    s.close(graceful=False)

    # A dialback *answer* (type='valid') on an incoming stream: nobody asked.
    s = tls_peer(f.a)
    s.send("<db:result from='b.example' to='a.example' type='valid'/>")
    assert s.expect_stream_error() == 'not-authorized'
    s.close(graceful=False)
    # Nor a verify answer.
    s = tls_peer(f.a)
    s.send("<db:verify from='b.example' to='a.example' id='x' type='valid'/>")
    assert s.expect_stream_error() == 'not-authorized'
    s.close(graceful=False)
    # A wrong key is refused (the authority, b.example, says invalid).
    s = tls_peer(f.a)
    s.send("<db:result from='b.example' to='a.example'>%s</db:result>" % ('0' * 64))
    el = s.next(timeout=20)
    assert el.tag == '{%s}result' % NS_DB and el.get('type') == 'invalid', ET.tostring(el)
    s.send("<message from='romeo@b.example' to='juliet@a.example'><body>x</body></message>")
    assert s.expect_stream_error() == 'not-authorized'
    s.close(graceful=False)


@pytest.mark.timeout(120)
def test_stanza_addressing_rules(federation):
    f = federation()
    s = tls_peer(f.a)
    s.dialback(f.b)
    s.send("<message from='eve@evil.example' to='juliet@a.example'><body>x</body></message>")
    assert s.expect_stream_error() == 'invalid-from'
    s.close(graceful=False)

    s = tls_peer(f.a)
    s.dialback(f.b)
    s.send("<message from='romeo@b.example' to='someone@c.example'><body>x</body></message>")
    assert s.expect_stream_error() == 'host-unknown'
    s.close(graceful=False)

    s = tls_peer(f.a)
    s.dialback(f.b)
    s.send("<message to='juliet@a.example'><body>x</body></message>")
    assert s.expect_stream_error() == 'improper-addressing'
    s.close(graceful=False)

    # Nobody else may authenticate as one of a.example's own domains.
    s = tls_peer(f.a)
    s.send("<db:result from='a.localhost' to='a.example'>%s</db:result>" % ('0' * 64))
    assert s.expect_stream_error() == 'invalid-from'
    s.close(graceful=False)

    # 'to' may not change when the stream restarts after STARTTLS.
    s = RawServer(f.a)
    s.open_server(to='a.example')
    s.starttls()
    assert stream_error(s.open_server(to='a.localhost')) == 'host-unknown'
    s.wait_closed()
    s.close(graceful=False)

    # A domain this deployment does not serve.
    s = RawServer(f.a)
    s.send("<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s' to='c.example' "
           "from='b.example' version='1.0'>" % (NS_SERVER, NS_STREAM))
    assert s.expect_stream_error() == 'host-unknown'
    s.close(graceful=False)


@pytest.mark.timeout(120)
def test_peer_closes_mid_stanza(federation):
    f = federation()
    out = {}

    async def main():
        j = await fed.login('juliet', f.a)
        r = await fed.login('romeo', f.b)

        def peer():
            s = tls_peer(f.a)
            s.dialback(f.b)
            s.send("<message from='romeo@b.example/raw' to='juliet@a.example' type='chat'>"
                   "<body>whole</body></message>"
                   "<message from='romeo@b.example/raw' to='juliet@a.example' type='chat'>"
                   "<body>ha")
            time.sleep(0.2)
            s.sock.close()
        await asyncio.get_running_loop().run_in_executor(None, peer)
        out['whole'] = await fed.next_event(j, 'message')
        # Nothing more from the half stanza; federation still works both ways.
        j.send_message(mto='romeo@b.example', mbody='still there?', mtype='chat')
        out['after'] = await fed.next_event(r, 'message')
        r.send_message(mto='juliet@a.example', mbody='yes', mtype='chat')
        out['reply'] = await fed.next_event(j, 'message')
        j.disconnect()
        r.disconnect()
        await asyncio.sleep(0.5)
    asyncio.run(main())
    assert out['whole'][1:3] == ('romeo@b.example/raw', 'whole'), out
    assert out['after'][1:3] == ('juliet@a.example/home', 'still there?'), out
    assert out['reply'][1:3] == ('romeo@b.example/home', 'yes'), out


class PlainPeer:
    """A listening fake server for c.example that offers no STARTTLS and
    records what it is sent."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.3', 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.received = b''
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        c.settimeout(10)
        c.sendall(("<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:db='%s' "
                   "xmlns:stream='%s' from='c.example' id='plain1' version='1.0'>"
                   "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>"
                   "</stream:features>" % (NS_SERVER, NS_DB, NS_STREAM)).encode())
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                self.received += d
        except OSError:
            pass
        c.close()

    def close(self):
        self.sock.close()


@pytest.mark.timeout(120)
def test_outgoing_refused_when_peer_has_no_tls(federation):
    peer = PlainPeer()
    try:
        f = federation(extra_hosts_a=', c.example=127.0.0.3:%d' % peer.port)
        out = {}

        async def main():
            j = await fed.login('juliet', f.a)
            j.send_message(mto='someone@c.example', mbody='secret', mtype='chat')
            out['bounce'] = await fed.next_event(j, 'message', lambda e: e[3] == 'error')
            j.disconnect()
            await asyncio.sleep(0.5)
        asyncio.run(main())
        assert out['bounce'][4] == 'remote-server-not-found', out
        assert b'secret' not in peer.received and b'db:result' not in peer.received, peer.received
        assert b'policy-violation' in peer.received, peer.received
    finally:
        peer.close()


@pytest.mark.timeout(120)
def test_silent_peer_bounces_with_timeout(federation):
    """A peer that accepts the connection and never says a word: after
    [s2s] connect_timeout the queued stanzas bounce with
    remote-server-timeout, in the order they were sent."""
    silent = socket.socket()
    silent.bind(('127.0.0.3', 0))
    silent.listen(4)
    try:
        f = federation(extra_hosts_a=', d.example=127.0.0.3:%d' % silent.getsockname()[1],
                       a_opts={'connect_timeout': '2s'})
        out = {}

        async def main():
            j = await fed.login('juliet', f.a)
            t0 = time.monotonic()
            for i in range(3):
                j.send_message(mto='someone@d.example', mbody='m%d' % i, mtype='chat')
            out['bounces'] = [await fed.next_event(j, 'message', lambda e: e[3] == 'error')
                              for _ in range(3)]
            out['elapsed'] = time.monotonic() - t0
            j.disconnect()
            await asyncio.sleep(0.5)
        asyncio.run(main())
        assert [b[4] for b in out['bounces']] == ['remote-server-timeout'] * 3, out
        assert [b[2] for b in out['bounces']] == ['m0', 'm1', 'm2'], out
        assert 1.5 < out['elapsed'] < 10, out
    finally:
        silent.close()


@pytest.mark.timeout(120)
def test_queue_is_bounded(federation):
    """While a stream is being set up its queue holds at most [s2s]
    queue_limit bytes: beyond it stanzas bounce at once with
    resource-constraint (wait); what was queued bounces later with
    remote-server-timeout."""
    silent = socket.socket()
    silent.bind(('127.0.0.3', 0))
    silent.listen(4)
    try:
        f = federation(extra_hosts_a=', d.example=127.0.0.3:%d' % silent.getsockname()[1],
                       a_opts={'connect_timeout': '3s', 'queue_limit': '2K'})
        out = {}

        async def main():
            j = await fed.login('juliet', f.a)
            for i in range(10):
                j.send_message(mto='someone@d.example', mbody='m%d-%s' % (i, 'x' * 300),
                               mtype='chat')
            out['bounces'] = [await fed.next_event(j, 'message', lambda e: e[3] == 'error')
                              for _ in range(10)]
            j.disconnect()
            await asyncio.sleep(0.5)
        asyncio.run(main())
        conds = [b[4] for b in out['bounces']]
        full = conds.count('resource-constraint')
        assert 2 <= full <= 8 and conds[:full] == ['resource-constraint'] * full, conds
        assert conds[full:] == ['remote-server-timeout'] * (10 - full), conds
    finally:
        silent.close()
