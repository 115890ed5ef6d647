"""junction-c2s with the real junction-sm (not the fake one): two users
created with junctionctl log in with slixmpp and exchange a message, both
on the one sm instance."""

import asyncio
import importlib.util
import os

import pytest

from conftest import BUILD_DIR
from fake_sm import C2SProcess

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('sm_session', os.path.join(_here, '19-sm-session.py'))
sm_session = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sm_session)
_login = importlib.util.spec_from_file_location('c2s_login', os.path.join(_here, '20-c2s-login.py'))
c2s_login = importlib.util.module_from_spec(_login)
_login.loader.exec_module(c2s_login)


@pytest.mark.timeout(90)
@pytest.mark.skipif(not os.access(os.path.join(BUILD_DIR, 'junction-sm'), os.X_OK),
                    reason='junction-sm not built')
def test_two_users_chat_through_real_sm(router):
    from slixmpp import ClientXMPP

    r = router()
    sm_session.adduser(r, 'juliet@localhost', 'r0meo')
    sm_session.adduser(r, 'romeo@localhost', 'jul1et')
    c2s = C2SProcess(r, r.workdir)
    sm = sm_session.Sm(r)
    try:
        c2s.start()
        got = {}

        async def main():
            clients, ready, done = [], asyncio.Event(), asyncio.Event()
            started = set()
            for user, pw in (('juliet', 'r0meo'), ('romeo', 'jul1et')):
                c = ClientXMPP('%s@localhost/chat' % user, pw, sasl_mech='SCRAM-SHA-256')
                c.ssl_context = c2s_login._no_verify()
                c2s_login._no_channel_binding(c)

                def on_session(_e, user=user, c=c):
                    c.send_presence()
                    started.add(user)
                    if len(started) == 2:
                        ready.set()

                def on_message(m, user=user):
                    if m['body']:
                        got[user] = (str(m['from']), m['body'])
                        done.set()
                c.add_event_handler('session_start', on_session)
                c.add_event_handler('message', on_message)
                c.connect(('127.0.0.1', c2s.port))
                clients.append(c)
            await asyncio.wait_for(ready.wait(), 30)
            clients[0].send_message(mto='romeo@localhost', mbody='wherefore', mtype='chat')
            await asyncio.wait_for(done.wait(), 20)
            for c in clients:
                c.disconnect()
            await asyncio.sleep(0.5)
        asyncio.run(main())
        assert got.get('romeo') == ('juliet@localhost/chat', 'wherefore'), got
    finally:
        c2s.stop()
        sm.stop()


def _client(user, pw, port):
    from slixmpp import ClientXMPP
    c = ClientXMPP('%s@localhost/home' % user, pw, sasl_mech='SCRAM-SHA-256')
    c.ssl_context = c2s_login._no_verify()
    c2s_login._no_channel_binding(c)
    c.events = asyncio.Queue()
    c.add_event_handler('message', lambda m: m['body'] and c.events.put_nowait(
        ('message', m['from'].full, m['body'], bool(m.xml.find('{urn:xmpp:delay}delay') is not None))))
    c.add_event_handler('presence_subscribe', lambda p: c.events.put_nowait(
        ('subscribe', p['from'].bare, None, None)))
    c.add_event_handler('presence_available', lambda p: c.events.put_nowait(
        ('available', p['from'].full, None, None)))
    c.connect(('127.0.0.1', port))
    return c


async def _next(c, kind, pred=lambda e: True, timeout=15):
    while True:
        ev = await asyncio.wait_for(c.events.get(), timeout)
        if ev[0] == kind and pred(ev):
            return ev


@pytest.mark.timeout(120)
@pytest.mark.skipif(not os.access(os.path.join(BUILD_DIR, 'junction-sm'), os.X_OK),
                    reason='junction-sm not built')
def test_subscription_presence_and_offline_message(router):
    """What a person does first: juliet adds romeo, he accepts, each sees
    the other come online, and a message sent while he is away waits for
    him (with a delay stamp)."""
    r = router()
    sm_session.adduser(r, 'juliet@localhost', 'pencil')
    sm_session.adduser(r, 'romeo@localhost', 'dagger')
    c2s = C2SProcess(r, r.workdir)
    sm = sm_session.Sm(r)
    result = {}
    try:
        c2s.start()

        async def main():
            clients = []
            for user, pw in (('juliet', 'pencil'), ('romeo', 'dagger')):
                c = _client(user, pw, c2s.port)  # one at a time: wait_until
                await asyncio.wait_for(c.wait_until('session_start'), 30)  # misses
                await c.get_roster()  # an event that fired before it was called
                c.send_presence()
                clients.append(c)
            j, rm = clients
            j.send_presence(pto='romeo@localhost', ptype='subscribe')
            result['request'] = await _next(rm, 'subscribe')
            rm.send_presence(pto='juliet@localhost', ptype='subscribed')
            result['seen'] = await _next(j, 'available', lambda e: e[1].startswith('romeo@'))
            await asyncio.sleep(0.3)
            result['roster'] = j.client_roster['romeo@localhost']['subscription']
            rm.disconnect()
            await asyncio.sleep(0.5)
            j.send_message(mto='romeo@localhost', mbody='while you were out', mtype='chat')
            await asyncio.sleep(0.5)
            rm2 = _client('romeo', 'dagger', c2s.port)
            await asyncio.wait_for(rm2.wait_until('session_start'), 30)
            await rm2.get_roster()
            rm2.send_presence()
            result['offline'] = await _next(rm2, 'message')
            j.disconnect()
            rm2.disconnect()
            await asyncio.sleep(0.5)
        asyncio.run(main())
    finally:
        c2s.stop()
        sm.stop()
    assert result['request'][1] == 'juliet@localhost', result
    assert result['seen'][1] == 'romeo@localhost/home', result
    assert result['roster'] in ('to', 'both'), result
    assert result['offline'][1:] == ('juliet@localhost/home', 'while you were out', True), result


@pytest.mark.timeout(60)
@pytest.mark.skipif(not os.access(os.path.join(BUILD_DIR, 'junction-sm'), os.X_OK),
                    reason='junction-sm not built')
def test_unknown_account_challenge_looks_like_a_real_one(router):
    """The SCRAM challenge for an account that does not exist has the same
    iteration count and salt size as a real account's, so a client cannot
    harvest account names."""
    import base64
    from fake_sm import NS_SASL, RawClient
    r = router()
    sm_session.adduser(r, 'juliet@localhost', 'pencil')
    c2s = C2SProcess(r, r.workdir)
    sm = sm_session.Sm(r)
    try:
        c2s.start()
        seen = {}
        for user in ('juliet', 'nobody'):
            cl = RawClient(c2s.port)
            cl.open_client()
            cl.starttls()
            cl.open_client()
            first = base64.b64encode(('n,,n=%s,r=0123456789abcdef' % user).encode()).decode()
            cl.send("<auth xmlns='%s' mechanism='SCRAM-SHA-256'>%s</auth>" % (NS_SASL, first))
            ch = cl.next()
            assert ch.tag == '{%s}challenge' % NS_SASL, ch
            fields = dict(kv.split('=', 1) for kv in base64.b64decode(ch.text).decode().split(','))
            seen[user] = (fields['i'], len(base64.b64decode(fields['s'])))
            cl.sock.close()
        assert seen['juliet'] == seen['nobody'], seen
        assert int(seen['juliet'][0]) >= 4096
    finally:
        c2s.stop()
        sm.stop()
