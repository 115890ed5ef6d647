"""Shared by the 25-acct-*.py tests (issue 8 part B: blocking, in-band
registration, service administration): a deployment of router, sm and c2s
with accounts, and slixmpp clients that record every stanza they receive
so that tests can assert on what arrived and on what did not."""

import asyncio
import os

from conftest import BUILD_DIR
from junction_helpers import load_test_file
from fake_sm import C2SProcess


sm_session = load_test_file('sm_session', '19-sm-session.py')
c2s_login = load_test_file('c2s_login', '20-c2s-login.py')

SM_BIN = os.path.join(BUILD_DIR, 'junction-sm')


class Deployment:
    """router + sm + c2s on one config; users get password 'pw-USER'."""

    def __init__(self, router, users=(), extra=None, junction_opts=None):
        self.r = router(extra=extra, junction_opts=junction_opts)
        for u in users:
            sm_session.adduser(self.r, '%s@localhost' % u, 'pw-' + u)
        self.c2s = C2SProcess(self.r, self.r.workdir)
        self.sm = sm_session.Sm(self.r)
        self.c2s.start()
        self.port = self.c2s.port

    def stop(self):
        try:
            self.c2s.stop()
        finally:
            self.sm.stop()


def client(jid, password, port, register=False):
    """A slixmpp client that logs in (unless register: then it only opens
    a stream, for in-band registration) and records stanzas in c.got."""
    from slixmpp import ClientXMPP
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
    c = ClientXMPP(jid, password, sasl_mech='SCRAM-SHA-256')
    c.ssl_context = c2s_login._no_verify()
    c2s_login._no_channel_binding(c)
    c.got = []
    c.arrived = asyncio.Event()
    c.closed = asyncio.Event()

    def record(st):
        c.got.append(st.xml)
        c.arrived.set()

    for name in ('message', 'presence', 'iq'):
        c.register_handler(Callback('rec-' + name, MatchXPath('{jabber:client}%s' % name),
                                    record))
    c.add_event_handler('disconnected', lambda _e: c.closed.set())
    return c


async def login(user, port, resource='home', password=None):
    c = client('%s@localhost/%s' % (user, resource), password or 'pw-' + user, port)
    started = asyncio.Event()
    failed = asyncio.Event()
    c.add_event_handler('session_start', lambda _e: started.set())
    c.add_event_handler('failed_auth', lambda _e: failed.set())
    c.connect(('127.0.0.1', port))
    done, _ = await asyncio.wait([asyncio.ensure_future(started.wait()),
                                  asyncio.ensure_future(failed.wait())], timeout=30,
                                 return_when=asyncio.FIRST_COMPLETED)
    if not started.is_set():
        c.disconnect()
        raise LoginFailed(user)
    return c


class LoginFailed(Exception):
    pass


async def ask(c, type, payload, to=None, timeout=15):
    """Send an iq with payload (an ET element); return ('result', xml) or
    ('error', condition, error element)."""
    from slixmpp.exceptions import IqError
    iq = c.Iq()
    iq['type'] = type
    if to is not None:
        iq['to'] = to
    iq.append(payload)
    try:
        res = await iq.send(timeout=timeout)
        return ('result', res.xml)
    except IqError as e:
        return ('error', e.iq['error']['condition'], e.iq.xml)


def el(tag, attrs=None, children=()):
    from slixmpp.xmlstream import ET
    e = ET.Element(tag, attrs or {})
    for ch in children:
        e.append(ch)
    return e


def received(c, name, pred=lambda x: True):
    return [x for x in c.got if x.tag == '{jabber:client}%s' % name and pred(x)]


async def wait_for(c, name, pred=lambda x: True, timeout=10):
    """The first stanza c received (or receives within timeout) matching."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        hits = received(c, name, pred)
        if hits:
            return hits[0]
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError('no %s matching arrived; got %d stanzas' % (name, len(c.got)))
        c.arrived.clear()
        try:
            await asyncio.wait_for(c.arrived.wait(), left)
        except asyncio.TimeoutError:
            pass


def error_of(x):
    e = x.find('{jabber:client}error')
    if e is None:
        return None
    for ch in e:
        if ch.tag.startswith('{urn:ietf:params:xml:ns:xmpp-stanzas}') and not ch.tag.endswith('}text'):
            return ch.tag.split('}')[1]
    return None


def body(x):
    b = x.find('{jabber:client}body')
    return b.text if b is not None else None


async def befriend(a, b, a_jid, b_jid):
    """Mutual presence subscription (slixmpp accepts and reciprocates)."""
    a.send_presence(pto=b_jid, ptype='subscribe')
    await wait_for(a, 'presence', lambda x: x.get('type') == 'subscribed')
    await wait_for(b, 'presence', lambda x: x.get('type') == 'subscribed')
