"""Interoperability with Debian's Prosody as the other server.

a.example is a complete Junction deployment (s2s on 127.0.0.2); p.example
is Prosody on 127.0.0.3, with a pubsub component at pubsub.p.example.
Junction finds Prosody through [s2s] hosts (resolver = static). Prosody
resolves a.example through a dnsmasq started here on 127.0.0.4, which
answers only for a.example (an SRV record and an A record) and forwards
nothing, so no DNS query leaves the machine. Covered: messages both ways in
order, presence subscription with rosters on both sides, an iq error from
Prosody, and a pubsub subscription to a node on Prosody's pubsub service
with the published item delivered to the Junction user."""

import asyncio
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('s2s_fed', os.path.join(_here, '40-s2s-federation.py'))
fed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fed)
_spec = importlib.util.spec_from_file_location('s2s_certs', os.path.join(_here, '40-s2s-certs.py'))
certs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(certs)

PROSODY = shutil.which('prosody') or '/usr/bin/prosody'
PROSODYCTL = shutil.which('prosodyctl') or '/usr/bin/prosodyctl'
DNSMASQ = shutil.which('dnsmasq') or '/usr/sbin/dnsmasq'

pytestmark = [
    fed.pytestmark,
    pytest.mark.skipif(not os.access(PROSODY, os.X_OK), reason='prosody not installed'),
    pytest.mark.skipif(not os.access(DNSMASQ, os.X_OK), reason='dnsmasq not installed'),
]

NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event'


def _free_udp_port(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Prosody:
    def __init__(self, workdir, a_port, users, pki=None):
        self.dir = os.path.join(workdir, 'prosody')
        os.makedirs(os.path.join(self.dir, 'data'))
        self.c2s_port = fed.free_port_on('127.0.0.3')
        self.s2s_port = fed.free_port_on('127.0.0.3')
        self.dns_port = _free_udp_port('127.0.0.4')
        self.log_path = os.path.join(self.dir, 'prosody.log')
        self.cert = os.path.join(self.dir, 'p.example.crt')
        self.key = os.path.join(self.dir, 'p.example.key')
        ca_line, secure_auth = '', 'false'
        if pki is None:
            subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                            'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', self.key,
                            '-out', self.cert, '-days', '2', '-subj', '/CN=p.example',
                            '-addext', 'subjectAltName=DNS:p.example,DNS:pubsub.p.example'],
                           check=True, capture_output=True, timeout=60)
        else:
            # A leaf from the test CA, which Prosody also trusts; with
            # s2s_secure_auth it accepts only a peer with a valid certificate.
            ca, ca_key = pki
            cert, key = certs.make_leaf(self.dir, ca, ca_key, 'p.example')
            os.rename(cert, self.cert)
            os.rename(key, self.key)
            ca_line, secure_auth = ', cafile = "%s"' % ca, 'true'
        self.config = os.path.join(self.dir, 'prosody.cfg.lua')
        with open(self.config, 'w') as f:
            f.write('''
run_as_root = true
admins = { "alice@p.example" } -- may create pubsub nodes
pidfile = "%(dir)s/prosody.pid"
data_path = "%(dir)s/data"
plugin_paths = {}
log = { { levels = { min = "debug" }, to = "file", filename = "%(log)s" } }
modules_enabled = { "roster", "saslauth", "tls", "dialback", "disco", "ping", "posix" }
modules_disabled = { "s2s_bidi" }
interfaces = { "127.0.0.3" }
local_interfaces = { "127.0.0.3" }
c2s_ports = { %(c2s)d }
s2s_ports = { %(s2s)d }
c2s_direct_tls_ports = {}
s2s_direct_tls_ports = {}
http_ports = {}
https_ports = {}
component_ports = {}
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = %(secure)s
authentication = "internal_hashed"
ssl = { certificate = "%(cert)s", key = "%(key)s"%(ca)s }
unbound = { resolvconf = false, hoststxt = false, forward = { "127.0.0.4@%(dns)d" } }
VirtualHost "p.example"
Component "pubsub.p.example" "pubsub"
''' % {'dir': self.dir, 'log': self.log_path, 'c2s': self.c2s_port, 's2s': self.s2s_port,
       'cert': self.cert, 'key': self.key, 'dns': self.dns_port, 'ca': ca_line,
       'secure': secure_auth})
        for user in users:
            r = subprocess.run([PROSODYCTL, '--config', self.config, 'register', user,
                                'p.example', 'pw-' + user],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
        # dnsmasq: only a.example exists; nothing is forwarded anywhere.
        self.dns = subprocess.Popen(
            [DNSMASQ, '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv',
             '--no-hosts', '--no-poll', '--bind-interfaces', '--listen-address=127.0.0.4',
             '--port=%d' % self.dns_port, '--pid-file=%s/dnsmasq.pid' % self.dir,
             '--user=root', '--local=/example/', '--log-queries',
             '--log-facility=%s/dnsmasq.log' % self.dir,
             '--host-record=a.example,127.0.0.2',
             '--srv-host=_xmpp-server._tcp.a.example,a.example,%d' % a_port],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = open(os.path.join(self.dir, 'prosody.out'), 'ab')
        self.proc = subprocess.Popen([PROSODY, '--config', self.config, '-F'],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, 'prosody exited:\n' + self.log_tail()
            assert self.dns.poll() is None, 'dnsmasq exited'
            try:
                socket.create_connection(('127.0.0.3', self.c2s_port), timeout=0.5).close()
                socket.create_connection(('127.0.0.3', self.s2s_port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, 'prosody did not start:\n' + self.log_tail()
                time.sleep(0.1)

    def log_tail(self, n=80):
        out = []
        for name in ('prosody.out', 'prosody.log'):
            try:
                with open(os.path.join(self.dir, name), errors='replace') as f:
                    out += f.read().splitlines()[-n:]
            except OSError:
                pass
        return '\n'.join(out)

    def stop(self):
        for p in (self.proc, self.dns):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)


@pytest.fixture
def interop_with(router, tmp_path):
    """Start a.example (Junction) and p.example (Prosody); with pki=True
    both have certificates from one test CA and require valid ones."""
    made = []

    def start(pki=False):
        users = ('juliet', 'romeo')
        pa = fed.free_port_on('127.0.0.2')
        a = fed.Site(router, 'a.example', '127.0.0.2', pa, users)
        opts = {}
        ca_pair = None
        if pki:
            ca_pair = certs.make_ca(str(tmp_path))
            cert, key = certs.make_leaf(str(tmp_path), ca_pair[0], ca_pair[1], 'a.example')
            opts = {'tls_cert': cert, 'tls_key': key, 'tls_ca': ca_pair[0],
                    'require_valid_cert': 'yes'}
        p = Prosody(str(tmp_path), pa, ('alice', 'bob'), pki=ca_pair)
        made.append((a, p))
        hosts = 'p.example=127.0.0.3:%d, pubsub.p.example=127.0.0.3:%d' % (p.s2s_port, p.s2s_port)
        a.start(dict({'hosts': hosts}, **opts))
        return a, p
    try:
        yield start
    finally:
        errors = []
        for a, p in made:
            errors += a.stop()
            p.stop()
        assert not errors, '\n'.join(errors)


@pytest.fixture
def interop(interop_with):
    return interop_with()


def prosody_client(user, p):
    from slixmpp import ClientXMPP
    c = ClientXMPP('%s@p.example/home' % user, 'pw-' + user, sasl_mech='SCRAM-SHA-1')
    c.ssl_context = fed.c2s_login._no_verify()
    fed.c2s_login._no_channel_binding(c)
    c.events = asyncio.Queue()
    c.add_event_handler('message', lambda m: c.events.put_nowait(
        ('message', m['from'].full, m['body'], m['type'], None)))
    c.add_event_handler('presence_subscribe', lambda p: c.events.put_nowait(
        ('subscribe', p['from'].bare, None, None, None)))
    c.add_event_handler('presence_available', lambda p: c.events.put_nowait(
        ('available', p['from'].full, None, None, None)))
    c.connect(('127.0.0.3', p.c2s_port))
    return c


async def prosody_login(user, p):
    c = prosody_client(user, p)
    await asyncio.wait_for(c.wait_until('session_start'), 30)
    await c.get_roster()
    c.send_presence()
    return c


def _dump(a, p):
    return '--- s2s ---\n%s\n--- prosody ---\n%s' % (a.s2s.log_text()[-6000:], p.log_tail(150))


async def hang_up(*clients):
    for c in clients:
        c.disconnect()
    await asyncio.sleep(0.5)


def run(a, p, main):
    """Run the test's coroutine; on failure print both servers' logs."""
    try:
        asyncio.run(main())
    except Exception:
        print(_dump(a, p))
        raise


@pytest.mark.timeout(180)
def test_messages_and_presence_with_prosody(interop):
    a, p = interop
    n = 1000
    out = {}

    async def main():
        j = await fed.login('juliet', a)
        al = await prosody_login('alice', p)
        j.send_message(mto='alice@p.example', mbody='hello prosody', mtype='chat')
        out['first'] = await fed.next_event(al, 'message', timeout=30)
        al.send_message(mto='juliet@a.example', mbody='hello junction', mtype='chat')
        out['reply'] = await fed.next_event(j, 'message', timeout=30)
        for i in range(n):
            j.send_message(mto='alice@p.example', mbody='j-%d' % i, mtype='chat')
            al.send_message(mto='juliet@a.example', mbody='a-%d' % i, mtype='chat')
        out['at_alice'] = [(await fed.next_event(al, 'message'))[2] for _ in range(n)]
        out['at_juliet'] = [(await fed.next_event(j, 'message'))[2] for _ in range(n)]

        j.send_presence(pto='alice@p.example', ptype='subscribe')
        out['request'] = await fed.next_event(al, 'subscribe')
        al.send_presence(pto='juliet@a.example', ptype='subscribed')
        out['seen'] = await fed.next_event(j, 'available', lambda e: e[1].startswith('alice@'))
        al.send_presence(pto='juliet@a.example', ptype='subscribe')
        out['request2'] = await fed.next_event(j, 'subscribe')
        j.send_presence(pto='alice@p.example', ptype='subscribed')
        out['seen2'] = await fed.next_event(al, 'available', lambda e: e[1].startswith('juliet@'))
        await asyncio.sleep(0.5)
        out['roster_j'] = await fed.roster_of(j)
        out['roster_al'] = await fed.roster_of(al)
        await hang_up(j, al)
    run(a, p, main)
    assert out['first'][1:3] == ('juliet@a.example/home', 'hello prosody'), out
    assert out['reply'][1:3] == ('alice@p.example/home', 'hello junction'), out
    assert out['at_alice'] == ['j-%d' % i for i in range(n)]
    assert out['at_juliet'] == ['a-%d' % i for i in range(n)]
    assert out['request'][1] == 'juliet@a.example', out
    assert out['seen'][1] == 'alice@p.example/home', out
    assert out['request2'][1] == 'alice@p.example', out
    assert out['seen2'][1] == 'juliet@a.example/home', out
    assert out['roster_j'].get('alice@p.example') == 'both', out
    assert out['roster_al'].get('juliet@a.example') == 'both', out
    # Prosody's certificate is self-signed: dialback both ways.
    log = a.s2s.log_text()
    assert 'a.example -> p.example authenticated (dialback)' in log, log[-3000:]
    assert 'p.example -> a.example authenticated (dialback)' in log, log[-3000:]


@pytest.mark.timeout(180)
def test_iq_error_and_pubsub_with_prosody(interop):
    from slixmpp.exceptions import IqError
    a, p = interop
    out = {}

    async def main():
        j = await fed.login('juliet', a)
        al = await prosody_login('alice', p)
        # An iq to an account Prosody does not have: Prosody's error.
        iq = j.make_iq_get(queryxmlns='jabber:iq:version', ito='nobody@p.example/x')
        try:
            await iq.send(timeout=30)
            out['iq'] = 'result'
        except IqError as e:
            out['iq'] = (e.iq['from'].full, e.iq['error']['condition'])

        # alice makes a node on Prosody's pubsub service; juliet subscribes
        # from a.example and gets what alice publishes.
        al.register_plugin('xep_0060')
        j.register_plugin('xep_0060')
        await al.plugin['xep_0060'].create_node('pubsub.p.example', 'news', timeout=30)
        sub = await j.plugin['xep_0060'].subscribe('pubsub.p.example', 'news', timeout=30)
        out['sub'] = sub.xml.find('{%s}pubsub/{%s}subscription' % (NS_PUBSUB, NS_PUBSUB))
        got = asyncio.get_running_loop().create_future()

        def on_event(msg):
            if not got.done():
                got.set_result(msg)
        j.add_event_handler('pubsub_publish', on_event)
        from slixmpp.xmlstream import ET
        payload = ET.fromstring("<entry xmlns='urn:example:news'>extra, extra</entry>")
        await al.plugin['xep_0060'].publish('pubsub.p.example', 'news', payload=payload,
                                            timeout=30)
        msg = await asyncio.wait_for(got, 30)
        out['event_from'] = msg['from'].full
        out['event'] = ET.tostring(msg.xml).decode()
        await hang_up(j, al)
    run(a, p, main)
    assert out['iq'][0] == 'nobody@p.example/x', out
    assert out['iq'][1] in ('service-unavailable', 'item-not-found'), out
    assert out['sub'] is not None and out['sub'].get('subscription') == 'subscribed', out
    assert out['event_from'] == 'pubsub.p.example', out
    assert 'extra, extra' in out['event'], out


@pytest.mark.timeout(180)
def test_sasl_external_with_prosody(interop_with):
    """Both servers hold certificates from one CA and trust it; both
    require valid certificates (Junction: require_valid_cert, Prosody:
    s2s_secure_auth), so dialback is out and SASL EXTERNAL (XEP-0178)
    authenticates each direction."""
    a, p = interop_with(pki=True)
    out = {}

    async def main():
        j = await fed.login('juliet', a)
        al = await prosody_login('alice', p)
        j.send_message(mto='alice@p.example', mbody='external out', mtype='chat')
        out['at_alice'] = await fed.next_event(al, 'message', timeout=30)
        al.send_message(mto='juliet@a.example', mbody='external in', mtype='chat')
        out['at_juliet'] = await fed.next_event(j, 'message', timeout=30)
        await hang_up(j, al)
    run(a, p, main)
    assert out['at_alice'][1:3] == ('juliet@a.example/home', 'external out'), out
    assert out['at_juliet'][1:3] == ('alice@p.example/home', 'external in'), out
    log = a.s2s.log_text()
    assert 'a.example -> p.example authenticated (SASL EXTERNAL)' in log, log[-3000:]
    assert 'p.example -> a.example authenticated (SASL EXTERNAL), TLS' in log, log[-3000:]
    assert '(dialback)' not in log, log[-3000:]
