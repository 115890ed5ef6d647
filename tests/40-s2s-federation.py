"""Federation between two complete Junction deployments on this machine:
a.example (router + sm + c2s + s2s, s2s on 127.0.0.2) and b.example (the
same, s2s on 127.0.0.3). Each s2s finds the other through [s2s] hosts with
resolver = static, so no DNS query ever leaves the machine. Users log in
with slixmpp and talk across: messages both ways (1,000 in order),
presence subscription with roster state on both sides, an iq error from
the remote side, and a bounce for a domain that does not resolve.

The other tests of s2s (40-s2s-*.py) load this file for `Federation`."""

import asyncio
import hashlib
import hmac
import os
import secrets
import signal
import subprocess
import time

import pytest

from conftest import BUILD_DIR, SANITIZER_MARKERS, free_port
from fake_sm import C2SProcess
from junction_helpers import load_test_file

sm_session = load_test_file('sm_session', '19-sm-session.py')
c2s_login = load_test_file('c2s_login', '20-c2s-login.py')

S2S_BIN = os.path.join(BUILD_DIR, 'junction-s2s')
NS_ROSTER = 'jabber:iq:roster'

pytestmark = pytest.mark.skipif(not os.access(S2S_BIN, os.X_OK), reason='junction-s2s not built')


def free_port_on(ip):
    """A port free on 127.0.0.1 (below the ephemeral range) and on ip."""
    import socket
    for _ in range(50):
        port = free_port()
        s = socket.socket()
        try:
            s.bind((ip, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError('no free port on %s' % ip)


class S2SProcess:
    """junction-s2s next to a router; its [s2s] section is appended to the
    router's configuration file."""

    def __init__(self, router, opts):
        self.router = router
        self.opts = opts
        with open(router.config_path, 'a') as f:
            f.write('\n[s2s]\n' + ''.join('%s = %s\n' % kv for kv in opts.items()
                                          if kv[1] is not None))
        self.log_path = os.path.join(router.workdir, 's2s.log')
        self.proc = None
        self.stopped = False

    def start(self):
        env = dict(os.environ, ASAN_OPTIONS='detect_leaks=1:abort_on_error=0',
                   UBSAN_OPTIONS='print_stacktrace=1')
        log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen([S2S_BIN, '-c', self.router.config_path],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        log.close()
        deadline = time.monotonic() + 20
        while 'linked to the router' not in self.log_text():
            assert self.proc.poll() is None, 's2s exited (%s):\n%s' % (self.proc.returncode,
                                                                     self.log_text())
            assert time.monotonic() < deadline, 's2s did not start:\n' + self.log_text()
            time.sleep(0.05)
        return self

    def log_text(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def stop(self):
        if self.stopped or self.proc is None:
            return
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError('s2s ignored SIGTERM:\n' + self.log_text()[-5000:])
        text = self.log_text()
        assert self.proc.returncode == 0, 's2s exited with %s:\n%s' % (self.proc.returncode,
                                                                     text[-5000:])
        for m in SANITIZER_MARKERS:
            assert m not in text, 's2s log has %r:\n%s' % (m, text[-8000:])


class Site:
    """One deployment: router, sm, c2s and s2s for one domain."""

    def __init__(self, router_factory, domain, ip, s2s_port, users, components=None):
        self.domain, self.ip, self.s2s_port = domain, ip, s2s_port
        self.router = router_factory(junction_opts={'domains': domain},
                                     extra_components=components)
        for user in users:
            sm_session.adduser(self.router, '%s@%s' % (user, domain), 'pw-' + user)
        self.c2s = C2SProcess(self.router, self.router.workdir, {'name': 'c2s.' + domain})
        self.dialback_secret = 'db-' + secrets.token_hex(8)
        self.sm = self.s2s = None

    def start(self, s2s_opts):
        opts = {'listen': '%s:%d' % (self.ip, self.s2s_port), 'resolver': 'static',
                'dialback_secret': self.dialback_secret, 'idle_timeout': '60s',
                'connect_timeout': '10s'}
        opts.update(s2s_opts)
        self.s2s = S2SProcess(self.router, opts)
        self.sm = sm_session.Sm(self.router)
        self.c2s.start()
        self.s2s.start()

    def dialback_key(self, receiving, originating, stream_id):
        """XEP-0185 key as this site's s2s makes it (docs/s2s.md)."""
        k = hashlib.sha256(self.dialback_secret.encode()).digest()
        msg = '%s %s %s' % (receiving, originating, stream_id)
        return hmac.new(k, msg.encode(), hashlib.sha256).hexdigest()

    def stop(self):
        errors = []
        for p in (self.s2s, self.c2s, self.sm):
            if p is None:
                continue
            try:
                p.stop()
            except AssertionError as e:
                errors.append(str(e))
        return errors


class Federation:
    def __init__(self, router_factory, users=('juliet', 'romeo', 'nurse'), a_opts=None,
                 b_opts=None, extra_hosts_a='', a_components=None, a_direct_tls=False):
        pa, pb = free_port_on('127.0.0.2'), free_port_on('127.0.0.3')
        self.a = Site(router_factory, 'a.example', '127.0.0.2', pa, users, a_components)
        self.b = Site(router_factory, 'b.example', '127.0.0.3', pb, users)
        hosts_a = 'b.example=127.0.0.3:%d' % pb + extra_hosts_a
        # b.example reaches a.example (and its components) on one address:
        # STARTTLS on [s2s] listen, or direct TLS on a listen_tls port.
        a_addr = '127.0.0.2:%d' % pa
        if a_direct_tls:
            ptls = self.a_tls_port = free_port_on('127.0.0.2')
            a_opts = dict(a_opts or {}, listen_tls='127.0.0.2:%d' % ptls)
            a_addr = '127.0.0.2:%d/tls' % ptls
        hosts_b = ', '.join('%s=%s' % (d, a_addr) for d in ['a.example'] + list(a_components or {}))
        self.a.start(dict({'hosts': hosts_a}, **(a_opts or {})))
        self.b.start(dict({'hosts': hosts_b}, **(b_opts or {})))

    def stop(self):
        errors = self.a.stop() + self.b.stop()
        assert not errors, '\n'.join(errors)


@pytest.fixture
def federation(router):
    made = []

    def start(**kw):
        f = Federation(router, **kw)
        made.append(f)
        return f
    try:
        yield start
    finally:
        for f in made:
            f.stop()


def client(user, domain, port):
    """A logged-in slixmpp client recording what arrives in .events."""
    from slixmpp import ClientXMPP
    c = ClientXMPP('%s@%s/home' % (user, domain), 'pw-' + user, sasl_mech='SCRAM-SHA-256')
    c.ssl_context = c2s_login._no_verify()
    c2s_login._no_channel_binding(c)
    c.events = asyncio.Queue()
    c.add_event_handler('message', lambda m: c.events.put_nowait(
        ('message', m['from'].full, m['body'], m['type'],
         m['error']['condition'] if m['type'] == 'error' else None)))
    c.add_event_handler('presence_subscribe', lambda p: c.events.put_nowait(
        ('subscribe', p['from'].bare, None, None, None)))
    c.add_event_handler('presence_available', lambda p: c.events.put_nowait(
        ('available', p['from'].full, None, None, None)))
    c.connect(('127.0.0.1', port))
    return c


async def login(user, site):
    c = client(user, site.domain, site.c2s.port)
    await asyncio.wait_for(c.wait_until('session_start'), 30)
    await c.get_roster()
    c.send_presence()
    return c


async def next_event(c, kind, pred=lambda e: True, timeout=20):
    while True:
        ev = await asyncio.wait_for(c.events.get(), timeout)
        if ev[0] == kind and pred(ev):
            return ev


async def roster_of(c):
    """The roster as the server has it now: {jid: subscription}."""
    iq = c.make_iq_get(queryxmlns=NS_ROSTER)
    res = await iq.send(timeout=15)
    q = res.xml.find('{%s}query' % NS_ROSTER)
    return {i.get('jid'): i.get('subscription') for i in q.findall('{%s}item' % NS_ROSTER)}


@pytest.mark.timeout(240)
def test_messages_both_ways_in_order(federation):
    f = federation()
    n = 1000
    got = {}

    async def main():
        j = await login('juliet', f.a)
        r = await login('romeo', f.b)
        # One first, to see the streams come up, then the burst.
        j.send_message(mto='romeo@b.example', mbody='hello', mtype='chat')
        got['first'] = await next_event(r, 'message')
        for i in range(n):
            j.send_message(mto='romeo@b.example', mbody='j-%d' % i, mtype='chat')
            r.send_message(mto='juliet@a.example', mbody='r-%d' % i, mtype='chat')
            if i % 100 == 99:
                await asyncio.sleep(0)
        got['romeo'] = [(await next_event(r, 'message', timeout=60))[1:3] for _ in range(n)]
        got['juliet'] = [(await next_event(j, 'message', timeout=60))[1:3] for _ in range(n)]
        j.disconnect()
        r.disconnect()
        await asyncio.sleep(0.5)
    asyncio.run(main())
    assert got['first'][1:4] == ('juliet@a.example/home', 'hello', 'chat'), got['first']
    assert got['romeo'] == [('juliet@a.example/home', 'j-%d' % i) for i in range(n)]
    assert got['juliet'] == [('romeo@b.example/home', 'r-%d' % i) for i in range(n)]
    assert 'authenticated (dialback)' in f.a.s2s.log_text()
    assert 'authenticated (dialback)' in f.b.s2s.log_text()


@pytest.mark.timeout(120)
def test_presence_subscription_across_servers(federation):
    f = federation()
    out = {}

    async def main():
        j = await login('juliet', f.a)
        r = await login('romeo', f.b)
        j.send_presence(pto='romeo@b.example', ptype='subscribe')
        out['request'] = await next_event(r, 'subscribe')
        r.send_presence(pto='juliet@a.example', ptype='subscribed')
        out['seen'] = await next_event(j, 'available', lambda e: e[1].startswith('romeo@'))
        # And the other way, so both end at 'both'.
        r.send_presence(pto='juliet@a.example', ptype='subscribe')
        out['request2'] = await next_event(j, 'subscribe')
        j.send_presence(pto='romeo@b.example', ptype='subscribed')
        out['seen2'] = await next_event(r, 'available', lambda e: e[1].startswith('juliet@'))
        await asyncio.sleep(0.5)
        out['roster_j'] = await roster_of(j)
        out['roster_r'] = await roster_of(r)
        j.disconnect()
        r.disconnect()
        await asyncio.sleep(0.5)
    asyncio.run(main())
    assert out['request'][1] == 'juliet@a.example', out
    assert out['seen'][1] == 'romeo@b.example/home', out
    assert out['request2'][1] == 'romeo@b.example', out
    assert out['seen2'][1] == 'juliet@a.example/home', out
    assert out['roster_j'].get('romeo@b.example') == 'both', out
    assert out['roster_r'].get('juliet@a.example') == 'both', out


@pytest.mark.timeout(120)
def test_iq_error_from_the_remote_side_and_bounces(federation):
    """An iq to an account b.example does not have comes back as b.example's
    error; a message to a domain that does not resolve (not in [s2s] hosts,
    or a special-use .invalid name) bounces with remote-server-not-found."""
    from slixmpp.exceptions import IqError
    f = federation()
    out = {}

    async def main():
        j = await login('juliet', f.a)
        iq = j.make_iq_get(queryxmlns='http://jabber.org/protocol/disco#info',
                           ito='nobody@b.example')
        try:
            await iq.send(timeout=20)
            out['iq'] = 'result'
        except IqError as e:
            out['iq'] = (e.iq['from'].full, e.iq['error']['type'], e.iq['error']['condition'])
        t0 = time.monotonic()
        j.send_message(mto='someone@c.example', mbody='anyone?', mtype='chat')
        out['c'] = await next_event(j, 'message', lambda e: e[3] == 'error')
        j.send_message(mto='someone@nowhere.invalid', mbody='anyone?', mtype='chat')
        out['invalid'] = await next_event(j, 'message', lambda e: e[3] == 'error')
        out['elapsed'] = time.monotonic() - t0
        j.disconnect()
        await asyncio.sleep(0.5)
    asyncio.run(main())
    assert out['iq'][0] == 'nobody@b.example', out
    assert out['iq'][2] in ('service-unavailable', 'item-not-found'), out
    assert out['c'][1] == 'someone@c.example' and out['c'][4] == 'remote-server-not-found', out
    assert out['invalid'][4] == 'remote-server-not-found', out
    assert out['elapsed'] < 5, out


@pytest.mark.timeout(120)
def test_direct_tls_and_idle_close(federation):
    """b.example reaches a.example over direct TLS (XEP-0368: a '/tls'
    entry in [s2s] hosts, [s2s] listen_tls at a.example); streams idle for
    [s2s] idle_timeout close, and the next stanza opens new ones."""
    f = federation(a_direct_tls=True, a_opts={'idle_timeout': '2s'},
                   b_opts={'idle_timeout': '2s'})
    out = {}

    async def main():
        j = await login('juliet', f.a)
        r = await login('romeo', f.b)
        r.send_message(mto='juliet@a.example', mbody='over direct TLS', mtype='chat')
        out['first'] = await next_event(j, 'message')
        await asyncio.sleep(4)
        out['idle'] = f.a.s2s.log_text().count('closing the idle stream')
        r.send_message(mto='juliet@a.example', mbody='again', mtype='chat')
        out['again'] = await next_event(j, 'message')
        j.send_message(mto='romeo@b.example', mbody='back', mtype='chat')
        out['back'] = await next_event(r, 'message')
        j.disconnect()
        r.disconnect()
        await asyncio.sleep(0.5)
    asyncio.run(main())
    assert out['first'][1:3] == ('romeo@b.example/home', 'over direct TLS'), out
    assert out['idle'] >= 1, out
    assert out['again'][1:3] == ('romeo@b.example/home', 'again'), out
    assert out['back'][1:3] == ('juliet@a.example/home', 'back'), out


@pytest.mark.timeout(120)
def test_component_domain_federates(federation):
    """A third-party component of a.example (gw.a.example, XEP-0114) talks
    to a user of b.example: its stanzas go out on a stream authenticated
    for gw.a.example itself, and the answer comes in to it."""
    from junction_helpers import connect_component, local, message
    f = federation(a_components={'gw.a.example': 'gw-secret'})
    gw = connect_component(f.a.router, 'gw.a.example')
    out = {}
    try:
        async def main():
            r = await login('romeo', f.b)
            gw.send(message('romeo@b.example', 'bot@gw.a.example/x', 'g1', 'from the gateway',
                            type='chat'))
            out['at_romeo'] = await next_event(r, 'message')
            r.send_message(mto='bot@gw.a.example/x', mbody='hello gateway', mtype='chat')
            await asyncio.sleep(0)
            r.disconnect()
            await asyncio.sleep(0.5)
        asyncio.run(main())
        el = gw.wait_for(lambda e: local(e) == 'message', timeout=20)
    finally:
        gw.close()
    assert out['at_romeo'][1:3] == ('bot@gw.a.example/x', 'from the gateway'), out
    assert el.get('from') == 'romeo@b.example/home' and el.get('type') == 'chat', el.attrib
    log = f.b.s2s.log_text()
    assert 'gw.a.example -> b.example authenticated (dialback)' in log, log
    assert 'b.example -> gw.a.example authenticated (dialback)' in log, log
