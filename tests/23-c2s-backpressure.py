"""Client read backpressure in junction-c2s: a client that writes faster
than the rest of the path can take is no longer read until the path
drains, instead of c2s buffering for it without bound or dropping its
stanzas. Two cases: the receiving client is slow (its output queue in c2s
fills), and the router stops reading c2s's link (SIGSTOP)."""

import asyncio
import importlib.util
import os
import signal
import threading
import time

import pytest

from conftest import BUILD_DIR
from fake_sm import C2SProcess, RawClient
from junction_helpers import local, rss_kb, to_string

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('sm_session', os.path.join(_here, '19-sm-session.py'))
sm_session = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sm_session)
_login = importlib.util.spec_from_file_location('c2s_login', os.path.join(_here, '20-c2s-login.py'))
c2s_login = importlib.util.module_from_spec(_login)
_login.loader.exec_module(c2s_login)

pytestmark = pytest.mark.skipif(not os.access(os.path.join(BUILD_DIR, 'junction-sm'), os.X_OK),
                                reason='junction-sm not built')

COUNT = 2000
BODY = 'b' * 8000  # 2,000 of these are 16 MB: more than any socket buffer holds
# c2s holds at most a few queue limits for a client, whatever it is sent;
# ASan's quarantine is what the rest of the margin is for.
RSS_GROWTH_LIMIT_KB = 96 * 1024


@pytest.fixture
def im(router):
    r = router()
    sm_session.adduser(r, 'juliet@localhost', 'r0meo')
    sm_session.adduser(r, 'romeo@localhost', 'jul1et')
    c2s = C2SProcess(r, r.workdir)
    c2s.asan_extra = ':quarantine_size_mb=16'
    sm = sm_session.Sm(r)
    c2s.start()
    time.sleep(0.3)
    yield r, c2s
    c2s.stop()
    sm.stop()


def _slix(user, pw, port):
    from slixmpp import ClientXMPP
    c = ClientXMPP('%s@localhost/home' % user, pw, sasl_mech='SCRAM-SHA-256')
    c.ssl_context = c2s_login._no_verify()
    c2s_login._no_channel_binding(c)
    c.connect(('127.0.0.1', port))
    return c


@pytest.mark.timeout(240)
def test_burst_to_a_slow_reader_arrives_whole_and_in_order(im):
    """juliet sends 2,000 messages of 8 KB to romeo, whose client handles
    each one slowly. Every message arrives, in order, none bounces, romeo
    is not disconnected, and c2s's memory stays bounded."""
    r, c2s = im
    got, errors, gone, rss = [], [], [], [rss_kb(c2s.proc.pid)]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.2) and c2s.proc.poll() is None:
            rss.append(rss_kb(c2s.proc.pid))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    async def main():
        clients = []
        for user, pw in (('juliet', 'r0meo'), ('romeo', 'jul1et')):
            c = _slix(user, pw, c2s.port)  # one at a time: wait_until misses
            await asyncio.wait_for(c.wait_until('session_start'), 30)  # past events
            c.send_presence()
            clients.append(c)
        j, rm = clients
        done = asyncio.Event()

        def on_message(m):
            if m['type'] == 'error':
                return
            time.sleep(0.003)  # a slow client: its reads fall behind
            got.append(m['id'])
            if len(got) == COUNT:
                done.set()
        rm.add_event_handler('message', on_message)
        rm.add_event_handler('disconnected', lambda _e: gone.append(done.is_set()))
        j.add_event_handler('message', lambda m: m['type'] == 'error' and errors.append(
            (m['id'], m['error']['condition'])))
        await asyncio.sleep(0.3)
        for i in range(COUNT):
            m = j.make_message(mto='romeo@localhost/home', mbody=BODY, mtype='chat')
            m['id'] = 'n%d' % i
            m.send()
            if i % 50 == 49:
                await asyncio.sleep(0)
        try:
            await asyncio.wait_for(done.wait(), 90)
        except asyncio.TimeoutError:
            pass  # the assertions below say what is missing
        finally:
            j.disconnect()
            rm.disconnect()
            await asyncio.sleep(0.5)
    asyncio.run(main())
    stop.set()
    sampler.join(5)
    assert not errors, errors[:5]
    expected = ['n%d' % i for i in range(COUNT)]
    assert got == expected, 'got %d, first difference at %s (romeo disconnected: %s)' % (
        len(got), next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), len(got)),
        not all(gone))
    assert all(gone), 'romeo was disconnected during the burst'
    growth = max(rss) - rss[0]
    assert growth < RSS_GROWTH_LIMIT_KB, 'c2s grew by %d KB' % growth


@pytest.mark.timeout(180)
def test_router_not_reading_stops_client_reads(im):
    """With the router stopped (SIGSTOP) c2s's link fills: c2s stops reading
    the sending client (its writes block), holds a bounded amount, and once
    the router runs again every message arrives in order, none bounced."""
    r, c2s = im
    j = RawClient(c2s.port)
    j.login('juliet', 'r0meo', 'a')
    rm = RawClient(c2s.port)
    rm.login('romeo', 'jul1et', 'b')
    rm.start_reader()
    batches = [''.join("<message to='romeo@localhost/b' id='n%d' type='chat'><body>%s</body>"
                       "</message>" % (i, BODY) for i in range(k, k + 20))
               for k in range(0, COUNT, 20)]
    total = sum(len(b) for b in batches)
    sent = [0]

    def writer():
        for b in batches:
            if not j.try_send(b):
                return
            sent[0] += len(b)
    base_rss = rss_kb(c2s.proc.pid)
    os.kill(r.pid, signal.SIGSTOP)
    try:
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(4)
        stalled_at, rss = sent[0], rss_kb(c2s.proc.pid)
        assert 'stopped reading clients' in c2s.log_text()
    finally:
        os.kill(r.pid, signal.SIGCONT)
    assert stalled_at < total, 'c2s read all %d bytes while the router was stopped' % total
    assert rss - base_rss < RSS_GROWTH_LIMIT_KB, 'c2s grew by %d KB' % (rss - base_rss)
    got = rm.collect(COUNT, timeout=120, pred=lambda e: local(e) == 'message')
    t.join(30)
    assert [e.get('id') for e in got] == ['n%d' % i for i in range(COUNT)]
    assert all(e.get('type') == 'chat' for e in got)
    errors = [to_string(e) for e in j.drain(quiet=0.5, limit=5) if e.get('type') == 'error']
    assert not errors, errors[:3]
    j.close()
    rm.close()
