"""Shared by the tests/30-pubsub-*.py files (no tests here): start
junction-pubsub beside the router, the real sm and c2s; log slixmpp clients
in with the XEP-0060 plugin; send raw pubsub requests and read the error
conditions (RFC 6120 condition plus the pubsub#errors one) of replies.

    d = start(router, create_nodes='users')          # router, sm, c2s, pubsub
    j = await login(d, 'juliet')                     # available, events queued
    kind, el = await ask(j, 'set', "<pubsub xmlns='...'><create node='n'/></pubsub>")
    assert kind == 'error' and error_of(el) == ('cancel', 'conflict', None, None)
    d.stop()
"""

import asyncio
import os
import signal
import subprocess
import time
import xml.etree.ElementTree as ET

from conftest import BUILD_DIR, SANITIZER_MARKERS
from junction_helpers import load_test_file


sm_session = load_test_file('sm_session', '19-sm-session.py')
c2s_login = load_test_file('c2s_login', '20-c2s-login.py')
from fake_sm import C2SProcess  # noqa: E402

PUBSUB_BIN = os.path.join(BUILD_DIR, 'junction-pubsub')
SERVICE = 'pubsub.localhost'
NS = 'http://jabber.org/protocol/pubsub'
NS_OWNER = NS + '#owner'
NS_EVENT = NS + '#event'
NS_ERRORS = NS + '#errors'
NS_DATA = 'jabber:x:data'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
NS_RSM = 'http://jabber.org/protocol/rsm'
USERS = ('juliet', 'romeo', 'nurse', 'tybalt')


class PubsubProcess:
    def __init__(self, r):
        self.r = r
        self.log_path = os.path.join(os.path.dirname(r.config_path), 'pubsub.log')
        self.proc = None

    def start(self):
        self.log = open(self.log_path, 'ab')
        start = os.path.getsize(self.log_path)
        self.proc = subprocess.Popen([PUBSUB_BIN, '-c', self.r.config_path], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     env=dict(os.environ, ASAN_OPTIONS='detect_leaks=1:abort_on_error=0',
                                              UBSAN_OPTIONS='print_stacktrace=1'))
        deadline = time.monotonic() + 20
        while 'linked to the router' not in self.text()[start:]:
            assert self.proc.poll() is None, 'pubsub exited:\n' + self.text()
            assert time.monotonic() < deadline, 'pubsub did not link:\n' + self.text()
            time.sleep(0.05)
        return self

    def text(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def kill9(self):
        self.proc.kill()
        self.proc.wait(10)
        self.log.close()

    def stop(self):
        if self.proc is None or self.proc.returncode is not None and self.log.closed:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError('pubsub ignored SIGTERM:\n' + self.text()[-5000:])
        self.log.close()
        text = self.text()
        assert self.proc.returncode == 0, 'pubsub exited with %s:\n%s' % (self.proc.returncode,
                                                                         text[-5000:])
        for m in SANITIZER_MARKERS:
            assert m not in text, 'pubsub log has %r:\n%s' % (m, text[-8000:])


class Deployment:
    def __init__(self, r, pubsub_opts):
        self.r = r
        for user in USERS:
            sm_session.adduser(r, '%s@localhost' % user, 'pw-' + user)
        with open(r.config_path, 'a') as f:
            f.write('\n[pubsub]\n' + ''.join('%s = %s\n' % kv for kv in pubsub_opts.items()))
        self.c2s = C2SProcess(r, r.workdir)
        self.sm = sm_session.Sm(r)
        self.pubsub = PubsubProcess(r)
        self.clients = []
        try:
            self.c2s.start()
            self.pubsub.start()
        except BaseException:
            self.stop()
            raise

    def stop(self):
        errors = []
        for part in (self.pubsub, self.c2s, self.sm):
            try:
                part.stop()
            except AssertionError as e:
                errors.append(str(e))
        assert not errors, '\n'.join(errors)


def start(router, **pubsub_opts):
    return Deployment(router(), pubsub_opts)


async def login(d, user, resource='home', plugins=(), before_presence=None):
    """A logged-in, available client whose incoming messages (as XML) wait
    in c.messages. plugins: more slixmpp plugins; before_presence: an
    async function of the client, awaited before initial presence."""
    from slixmpp import ClientXMPP
    c = ClientXMPP('%s@localhost/%s' % (user, resource), 'pw-' + user, sasl_mech='SCRAM-SHA-256')
    c.ssl_context = c2s_login._no_verify()
    c2s_login._no_channel_binding(c)
    for p in ('xep_0004', 'xep_0030', 'xep_0059', 'xep_0060') + tuple(plugins):
        c.register_plugin(p)
    c.messages = asyncio.Queue()
    # slixmpp's own 'message' event is only for messages with a body.
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
    c.register_handler(Callback('every message', MatchXPath('{jabber:client}message'),
                                lambda m: c.messages.put_nowait(m.xml)))
    c.connect(('127.0.0.1', d.c2s.port))
    await asyncio.wait_for(c.wait_until('session_start'), 30)
    if before_presence is not None:
        await before_presence(c)
    c.send_presence()
    await c.get_roster()
    d.clients.append(c)
    return c


async def logout_all(d):
    for c in d.clients:
        c.disconnect()
    await asyncio.sleep(0.3)


async def ask(c, itype, xml, to=SERVICE):
    """Send an iq with the payload xml; ('result', iq element) or ('error',
    iq element)."""
    from slixmpp.exceptions import IqError
    iq = c.make_iq(ito=to, itype=itype)
    iq.append(ET.fromstring(xml))
    try:
        res = await iq.send(timeout=15)
        return 'result', res.xml
    except IqError as e:
        return 'error', e.iq.xml


async def call(coro):
    """Await a slixmpp plugin request: ('result', xml) or ('error', xml)."""
    from slixmpp.exceptions import IqError
    try:
        res = await coro
        return 'result', res.xml
    except IqError as e:
        return 'error', e.iq.xml


def error_of(el):
    """(type, condition, pubsub#errors condition or None, its feature or None)."""
    err = el.find('{jabber:client}error')
    assert err is not None, ET.tostring(el)
    cond = app = feature = None
    for child in err:
        ns, _, name = child.tag[1:].partition('}')
        if ns == NS_STANZAS and name != 'text':
            cond = name
        elif ns == NS_ERRORS:
            app, feature = name, child.get('feature')
    return err.get('type'), cond, app, feature


async def expect(kind_el, *error):
    kind, el = kind_el
    if error:
        assert kind == 'error', ET.tostring(el)
        got = error_of(el)
        assert got[:len(error)] == error, (got, ET.tostring(el))
    else:
        assert kind == 'result', ET.tostring(el)
    return el


async def next_message(c, pred=lambda m: True, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, 'no matching message'
        m = await asyncio.wait_for(c.messages.get(), left)
        if pred(m):
            return m


async def events(c, n, timeout=10):
    """The next n pubsub#event children of messages."""
    out = []
    while len(out) < n:
        m = await next_message(c, lambda m: m.find('{%s}event' % NS_EVENT) is not None, timeout)
        out.append(m.find('{%s}event' % NS_EVENT))
    return out


async def no_event(c, wait=1.0):
    await asyncio.sleep(wait)
    while not c.messages.empty():
        m = c.messages.get_nowait()
        assert m.find('{%s}event' % NS_EVENT) is None, ET.tostring(m)


def config_form(c, **fields):
    """A submitted pubsub#node_config form from keyword fields
    (access_model='authorize' -> pubsub#access_model)."""
    form = c['xep_0004'].make_form(ftype='submit')
    form.add_field(var='FORM_TYPE', ftype='hidden', value=NS + '#node_config')
    for k, v in fields.items():
        form.add_field(var='pubsub#' + k, value=v)
    return form


def form_xml(ftype, form_type, **fields):
    out = ["<x xmlns='jabber:x:data' type='%s'>" % ftype]
    if form_type:
        out.append("<field var='FORM_TYPE' type='hidden'><value>%s</value></field>" % form_type)
    for k, v in fields.items():
        out.append("<field var='%s'><value>%s</value></field>" % (k, v))
    out.append('</x>')
    return ''.join(out)


def form_values(x):
    return {f.get('var'): [v.text or '' for v in f.findall('{%s}value' % NS_DATA)]
            for f in x.findall('{%s}field' % NS_DATA)}


def payload(text, ns='urn:example:note'):
    el = ET.Element('{%s}note' % ns)
    el.text = text
    return el
