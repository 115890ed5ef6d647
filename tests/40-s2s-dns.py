"""junction-s2s's DNS resolver (c-ares, [s2s] resolver = dns) against a
dnsmasq started here on 127.0.0.4 that answers only for the test's names
and forwards nothing ([s2s] dns_servers points s2s at it), so no query
leaves the machine.

b.example has two _xmpp-server SRV records: priority 10 on a port where
nothing listens, priority 20 on b.example's real s2s; a.example must try
them in that order and get through. A domain without any record bounces
with remote-server-not-found, and an RFC 6761 .invalid name bounces
without any query at all."""

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
federation = fed.federation

DNSMASQ = shutil.which('dnsmasq') or '/usr/sbin/dnsmasq'
pytestmark = [fed.pytestmark,
              pytest.mark.skipif(not os.access(DNSMASQ, os.X_OK), reason='dnsmasq not installed')]


class Dnsmasq:
    def __init__(self, workdir, records):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('127.0.0.4', 0))
        self.port = s.getsockname()[1]
        s.close()
        self.log_path = os.path.join(workdir, 'dnsmasq.log')
        self.proc = subprocess.Popen(
            [DNSMASQ, '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv',
             '--no-hosts', '--no-poll', '--bind-interfaces', '--listen-address=127.0.0.4',
             '--port=%d' % self.port, '--pid-file=%s/dnsmasq.pid' % workdir, '--user=root',
             '--local=/example/', '--log-queries', '--log-facility=%s' % self.log_path]
            + records, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while 'started' not in self.log():
            assert self.proc.poll() is None, 'dnsmasq exited: ' + self.log()
            assert time.monotonic() < deadline, 'dnsmasq did not start: ' + self.log()
            time.sleep(0.05)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ''

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


@pytest.mark.timeout(120)
def test_srv_priority_and_failures(federation, tmp_path):
    dead = fed.free_port_on('127.0.0.3')   # nothing listens there
    # b.example's s2s port is chosen inside Federation; choose it first.
    pb = fed.free_port_on('127.0.0.3')
    dns = Dnsmasq(str(tmp_path), [
        '--srv-host=_xmpp-server._tcp.b.example,b1.b.example,%d,10,0' % dead,
        '--srv-host=_xmpp-server._tcp.b.example,b2.b.example,%d,20,0' % pb,
        '--host-record=b1.b.example,127.0.0.3',
        '--host-record=b2.b.example,127.0.0.3',
    ])  # dnsmasq gives these a TTL of 0: the answer must still reach its waiters
    try:
        orig = fed.free_port_on
        ports = iter([fed.free_port_on('127.0.0.2'), pb])
        fed.free_port_on = lambda ip: next(ports)
        try:
            f = federation(a_opts={'hosts': None, 'resolver': 'dns',
                                   'dns_servers': '127.0.0.4:%d' % dns.port})
        finally:
            fed.free_port_on = orig
        out = {}

        async def main():
            j = await fed.login('juliet', f.a)
            r = await fed.login('romeo', f.b)
            j.send_message(mto='romeo@b.example', mbody='found you', mtype='chat')
            out['at_romeo'] = await fed.next_event(r, 'message')
            j.send_message(mto='someone@nowhere.example', mbody='x', mtype='chat')
            out['nowhere'] = await fed.next_event(j, 'message', lambda e: e[3] == 'error')
            j.send_message(mto='someone@nowhere.invalid', mbody='x', mtype='chat')
            out['invalid'] = await fed.next_event(j, 'message', lambda e: e[3] == 'error')
            j.disconnect()
            r.disconnect()
            await asyncio.sleep(0.5)
        asyncio.run(main())
        log = dns.log()
    finally:
        dns.stop()
    assert out['at_romeo'][1:3] == ('juliet@a.example/home', 'found you'), out
    assert out['nowhere'][4] == 'remote-server-not-found', out
    assert out['invalid'][4] == 'remote-server-not-found', out
    assert 'query[SRV] _xmpps-server._tcp.b.example' in log, log
    assert 'query[SRV] _xmpp-server._tcp.b.example' in log, log
    # Priority 10 first: b1 is looked up and tried (and refused), then b2.
    assert 'query[A] b1.b.example' in log and 'query[A] b2.b.example' in log, log
    assert 'query[SRV] _xmpp-server._tcp.nowhere.example' in log, log
    assert 'query[A] nowhere.example' in log, log  # no SRV: the domain's own address
    assert 'invalid' not in log, log
