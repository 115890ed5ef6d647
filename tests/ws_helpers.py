"""Helpers for the web-transport tests (tests/35-ws-*.py): a deployment
of router + real sm + junction-c2s with [c2s] http_listen, and WsXmpp, an
RFC 7395 client over Debian's python3-websockets that speaks the XML
itself (SCRAM-SHA-1 computed with hashlib, bind, stanzas)."""

import asyncio
import base64
import hashlib
import hmac
import importlib.util
import os
import ssl
import xml.etree.ElementTree as ET

import pytest

from conftest import free_port
from fake_sm import C2SProcess

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('sm_session', os.path.join(_here, '19-sm-session.py'))
sm_session = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sm_session)

NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'
NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
NS_STREAM = 'http://etherx.jabber.org/streams'
NS_STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams'
NS_CLIENT = 'jabber:client'
TIMEOUT = 15


def no_verify():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Web:
    """router + sm + c2s with an HTTPS listener on 127.0.0.1:http_port."""

    def __init__(self, router, users=(), c2s_opts=None):
        self.r = router()
        for jid, pw in users:
            sm_session.adduser(self.r, jid, pw)
        self.http_port = free_port()
        opts = {'http_listen': '127.0.0.1:%d' % self.http_port}
        opts.update(c2s_opts or {})
        self.c2s = C2SProcess(self.r, self.r.workdir, opts)
        self.sm = sm_session.Sm(self.r)
        self.c2s.start()

    @property
    def ws_url(self):
        return 'wss://127.0.0.1:%d/xmpp-websocket' % self.http_port

    def stop(self):
        try:
            self.c2s.stop()
        finally:
            self.sm.stop()


@pytest.fixture
def web(router):
    made = []

    def start(**kw):
        w = Web(router, **kw)
        made.append(w)
        return w
    yield start
    for w in made:
        w.stop()


class Scram:
    """The client side of SCRAM-SHA-1 without channel binding (RFC 5802);
    every step base64 in and out, as SASL on XMPP carries it."""

    def __init__(self, user, password):
        self.user, self.password = user, password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.bare = 'n=%s,r=%s' % (user, self.nonce)

    def first(self):
        return base64.b64encode(('n,,' + self.bare).encode()).decode()

    def final(self, challenge_b64):
        first = base64.b64decode(challenge_b64).decode()
        f = dict(kv.split('=', 1) for kv in first.split(','))
        assert f['r'].startswith(self.nonce)
        salted = hashlib.pbkdf2_hmac('sha1', self.password.encode(), base64.b64decode(f['s']),
                                     int(f['i']))
        client_key = hmac.new(salted, b'Client Key', 'sha1').digest()
        final_bare = 'c=biws,r=%s' % f['r']
        self.auth_msg = ','.join((self.bare, first, final_bare)).encode()
        sig = hmac.new(hashlib.sha1(client_key).digest(), self.auth_msg, 'sha1').digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        self.server_key = hmac.new(salted, b'Server Key', 'sha1').digest()
        final = final_bare + ',p=' + base64.b64encode(proof).decode()
        return base64.b64encode(final.encode()).decode()

    def check(self, success_b64):
        want = 'v=' + base64.b64encode(
            hmac.new(self.server_key, self.auth_msg, 'sha1').digest()).decode()
        assert base64.b64decode(success_b64).decode() == want, 'bad server signature'


def local(el):
    return el.tag.split('}')[-1]


def ns(el):
    return el.tag[1:].split('}')[0] if el.tag.startswith('{') else ''


class WsXmpp:
    """One RFC 7395 session: every message is parsed on its own."""

    def __init__(self, ws):
        self.ws = ws
        self.stream_id = None

    @classmethod
    async def connect(cls, url, origin=None, subprotocols=('xmpp',)):
        import websockets
        tls = {'ssl': no_verify()} if url.startswith('wss:') else {}
        ws = await websockets.connect(url, origin=origin, **tls,
                                      subprotocols=list(subprotocols) if subprotocols else None,
                                      max_size=None)
        return cls(ws)

    async def send(self, xml):
        await self.ws.send(xml)

    async def recv(self, timeout=TIMEOUT):
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(text, str), 'binary message from the server: %r' % (text,)
        return ET.fromstring(text)

    async def expect(self, name, namespace, timeout=TIMEOUT):
        el = await self.recv(timeout)
        assert (local(el), ns(el)) == (name, namespace), ET.tostring(el)
        return el

    async def open(self, to='localhost'):
        await self.send("<open xmlns='%s' to='%s' version='1.0'/>" % (NS_FRAMING, to))
        op = await self.expect('open', NS_FRAMING)
        self.stream_id = op.get('id')
        assert op.get('version') == '1.0' and op.get('from') == to, ET.tostring(op)
        return await self.expect('features', NS_STREAM)

    async def scram_sha1(self, user, password):
        scram = Scram(user, password)
        await self.send("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
                        % (NS_SASL, scram.first()))
        ch = await self.recv()
        if local(ch) != 'challenge':
            return ch
        await self.send("<response xmlns='%s'>%s</response>" % (NS_SASL, scram.final(ch.text)))
        res = await self.recv()
        if local(res) == 'success':
            scram.check(res.text)
        return res

    async def login(self, user, password, resource='web'):
        feats = await self.open()
        mechs = [m.text for m in feats.iter('{%s}mechanism' % NS_SASL)]
        assert 'SCRAM-SHA-1' in mechs, mechs
        assert feats.find('{urn:ietf:params:xml:ns:xmpp-tls}starttls') is None
        res = await self.scram_sha1(user, password)
        assert local(res) == 'success', ET.tostring(res)
        feats = await self.open()
        assert feats.find('{%s}bind' % NS_BIND) is not None, ET.tostring(feats)
        await self.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='%s'>"
                        "<resource>%s</resource></bind></iq>" % (NS_BIND, resource))
        iq = await self.expect('iq', NS_CLIENT)
        assert iq.get('type') == 'result', ET.tostring(iq)
        return iq.find('{%s}bind/{%s}jid' % (NS_BIND, NS_BIND)).text

    async def close(self):
        await self.send("<close xmlns='%s'/>" % NS_FRAMING)
        while True:
            el = await self.recv()
            if (local(el), ns(el)) == ('close', NS_FRAMING):
                break
        await self.ws.close()

    async def expect_stream_error(self, timeout=TIMEOUT):
        """The next stream-level element must be an error, then <close/>;
        returns the condition. Stanzas before it are skipped."""
        while True:
            el = await self.recv(timeout)
            if (local(el), ns(el)) == ('error', NS_STREAM):
                break
        cond = [local(c) for c in el if ns(c) == NS_STREAMS and local(c) != 'text']
        nxt = await self.recv(timeout)
        assert (local(nxt), ns(nxt)) == ('close', NS_FRAMING), ET.tostring(nxt)
        return cond[0] if cond else None
