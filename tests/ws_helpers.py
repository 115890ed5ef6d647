"""Helpers for the web-transport tests (tests/35-ws-*.py): a deployment
of router + real sm + junction-c2s with [c2s] http_listen, and WsXmpp, an
RFC 7395 client over Debian's python3-websockets that speaks the XML
itself (SCRAM-SHA-1 computed with hashlib, bind, stanzas), and Bosh, a
XEP-0206 client on one keep-alive HTTPS connection."""

import asyncio
import base64
import hashlib
import hmac
import http.client
import importlib.util
import os
import random
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

    def __init__(self, router, users=(), c2s_opts=None, asan_extra=''):
        self.r = router()
        for jid, pw in users:
            sm_session.adduser(self.r, jid, pw)
        self.http_port = free_port()
        opts = {'http_listen': '127.0.0.1:%d' % self.http_port}
        opts.update(c2s_opts or {})
        self.c2s = C2SProcess(self.r, self.r.workdir, opts)
        self.sm = sm_session.Sm(self.r)
        self.c2s.asan_extra = asan_extra
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


NS_BOSH = 'http://jabber.org/protocol/httpbind'


class Bosh:
    """A BOSH client on one keep-alive HTTPS connection, one request at a
    time (so the server's hold of 1 never has to give a request back)."""

    def __init__(self, port, wait=2, **create_attrs):
        self.port, self.wait, self.create_attrs = port, wait, create_attrs
        self.conn = http.client.HTTPSConnection('127.0.0.1', port, context=no_verify(),
                                                timeout=30)
        self.rid = random.randint(1 << 20, 1 << 30)
        self.sid = None
        self.inbox = []
        self.log = self.inbox  # every element received, in order (may be shared)

    def post_raw(self, body, headers=None):
        self.conn.request('POST', '/http-bind', body=body,
                          headers=dict({'Content-Type': 'text/xml; charset=utf-8'},
                                       **(headers or {})))
        r = self.conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()

    def post(self, payload='', rid=None, **attrs):
        rid = rid if rid is not None else self.rid
        self.rid = rid + 1
        a = ''.join(" %s='%s'" % kv for kv in attrs.items())
        if self.sid is not None:
            a += " sid='%s'" % self.sid
        status, _, data = self.post_raw("<body xmlns='%s' rid='%d'%s>%s</body>"
                                        % (NS_BOSH, rid, a, payload))
        assert status == 200, (status, data)
        body = ET.fromstring(data)
        assert body.tag == '{%s}body' % NS_BOSH, data
        self.inbox.extend(list(body))
        if self.log is not self.inbox:
            self.log.extend(list(body))
        return body

    def raw(self, rid, payload='', **attrs):
        """POST one request of this session, rid as given (self.rid
        untouched); the response's bytes and its parsed <body/>."""
        a = ''.join(" %s='%s'" % kv for kv in attrs.items())
        status, _, data = self.post_raw("<body xmlns='%s' rid='%d' sid='%s'%s>%s</body>"
                                        % (NS_BOSH, rid, self.sid, a, payload))
        assert status == 200, (status, data)
        return data, ET.fromstring(data)

    def create(self):
        attrs = {'to': 'localhost', 'wait': str(self.wait), 'hold': '1',
                 'xmpp:version': '1.0', 'xmlns:xmpp': 'urn:xmpp:xbosh'}
        attrs.update(self.create_attrs)
        body = self.post(**attrs)
        self.sid, self.created = body.get('sid'), body
        assert self.sid and body.get('requests') == str(int(body.get('hold')) + 1), \
            ET.tostring(body)
        return body

    def next(self, pred=lambda el: True, polls=20):
        for _ in range(polls):
            for i, el in enumerate(self.inbox):
                if pred(el):
                    return self.inbox.pop(i)
            self.post()
        raise AssertionError('nothing matched; inbox %r' % [ET.tostring(e) for e in self.inbox])

    def login(self, user, password, resource='bosh'):
        self.create()
        feats = self.next(lambda el: local(el) == 'features')
        mechs = [m.text for m in feats.iter('{%s}mechanism' % NS_SASL)]
        assert 'SCRAM-SHA-1' in mechs, mechs
        scram = Scram(user, password)
        self.post("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>" % (NS_SASL, scram.first()))
        ch = self.next(lambda el: local(el) in ('challenge', 'failure'))
        self.post("<response xmlns='%s'>%s</response>" % (NS_SASL, scram.final(ch.text)))
        ok = self.next(lambda el: local(el) in ('success', 'failure'))
        assert local(ok) == 'success', ET.tostring(ok)
        scram.check(ok.text)
        self.post(**{'xmpp:restart': 'true', 'xmlns:xmpp': 'urn:xmpp:xbosh'})
        feats = self.next(lambda el: local(el) == 'features')
        assert feats.find('{%s}bind' % NS_BIND) is not None
        self.post("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='%s'>"
                  "<resource>%s</resource></bind></iq>" % (NS_BIND, resource))
        iq = self.next(lambda el: el.get('id') == 'b1')
        assert iq.get('type') == 'result', ET.tostring(iq)
        return iq.find('{%s}bind/{%s}jid' % (NS_BIND, NS_BIND)).text
