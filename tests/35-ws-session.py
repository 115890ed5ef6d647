"""XMPP over WebSocket (RFC 7395) end to end: juliet logs in over wss with
SCRAM-SHA-1 (the test speaks the XML itself), romeo over TCP with slixmpp;
they subscribe to each other, fetch the roster, chat both ways, exchange
1,000 messages each way in order, and romeo sees juliet's logout."""

import asyncio
import importlib.util
import os
import xml.etree.ElementTree as ET

import pytest

from ws_helpers import WsXmpp, local, web  # noqa: F401 (fixture)

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('c2s_real_sm',
                                               os.path.join(_here, '20-c2s-real-sm.py'))
real_sm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(real_sm)
_next = real_sm._next

N = 1000
ROMEO = 'romeo@localhost/home'


def _tcp_client(port):
    """romeo over TCP (slixmpp); the test answers subscriptions itself."""
    c = real_sm._client('romeo', 'dagger', port)
    c.roster.auto_authorize = None
    c.roster.auto_subscribe = None
    c.add_event_handler('presence_unavailable', lambda p: c.events.put_nowait(
        ('unavailable', p['from'].full, None, None)))
    return c


async def _ws_until(ws, pred, timeout=20):
    """The first element (kept from earlier calls, or new) that matches."""
    backlog = ws.__dict__.setdefault('backlog', [])
    for i, el in enumerate(backlog):
        if pred(el):
            return backlog.pop(i)
    while True:
        el = await ws.recv(timeout)
        if pred(el):
            return el
        backlog.append(el)


def _is_msg(el):
    return local(el) == 'message' and el.find('{jabber:client}body') is not None


@pytest.mark.timeout(180)
def test_ws_login_roster_chat_order_logout(web):
    w = web(users=(('juliet@localhost', 'r0meo'), ('romeo@localhost', 'dagger')))
    out = {}

    async def main():
        rm = _tcp_client(w.c2s.port)
        await asyncio.wait_for(rm.wait_until('session_start'), 30)
        rm.send_presence()
        j = await WsXmpp.connect(w.ws_url)
        jid = await j.login('juliet', 'r0meo')
        assert jid == 'juliet@localhost/web'

        # An interested, available resource, then subscriptions both ways.
        await j.send("<iq xmlns='jabber:client' type='get' id='ro0'>"
                     "<query xmlns='jabber:iq:roster'/></iq>")
        iq = await _ws_until(j, lambda el: el.get('id') == 'ro0')
        assert iq.get('type') == 'result', ET.tostring(iq)
        await j.send("<presence xmlns='jabber:client'/>")
        await j.send("<presence xmlns='jabber:client' to='romeo@localhost' type='subscribe'/>")
        await _next(rm, 'subscribe', lambda e: e[1] == 'juliet@localhost')
        rm.send_presence(pto='juliet@localhost', ptype='subscribed')
        rm.send_presence(pto='juliet@localhost', ptype='subscribe')
        await _ws_until(j, lambda el: local(el) == 'presence' and el.get('type') == 'subscribe')
        await j.send("<presence xmlns='jabber:client' to='romeo@localhost' type='subscribed'/>")
        await _next(rm, 'available', lambda e: e[1] == jid)
        await _ws_until(j, lambda el: local(el) == 'presence' and
                        el.get('from') == ROMEO and el.get('type') is None)

        # The roster push for the mutual subscription, then the roster.
        await _ws_until(j, lambda el: any(i.get('subscription') == 'both' for i in
                                          el.iter('{jabber:iq:roster}item')))
        # Roster over WebSocket.
        await j.send("<iq xmlns='jabber:client' type='get' id='ro1'>"
                     "<query xmlns='jabber:iq:roster'/></iq>")
        iq = await _ws_until(j, lambda el: el.get('id') == 'ro1')
        assert iq.get('type') == 'result', ET.tostring(iq)
        items = {i.get('jid'): i.get('subscription')
                 for i in iq.iter('{jabber:iq:roster}item')}
        out['roster'] = items

        # Chat both ways.
        await j.send("<message xmlns='jabber:client' to='romeo@localhost' type='chat'>"
                     "<body>wherefore art thou</body></message>")
        ev = await _next(rm, 'message')
        out['to_tcp'] = ev[1:3]
        rm.send_message(mto=jid, mbody='here & now <3', mtype='chat')
        m = await _ws_until(j, _is_msg)
        out['to_ws'] = (m.get('from'), m.find('{jabber:client}body').text)

        # 1,000 each way, in order.
        for i in range(N):
            await j.send("<message xmlns='jabber:client' to='romeo@localhost' type='chat'>"
                         "<body>w%d</body></message>" % i)
        got = []
        while len(got) < N:
            ev = await _next(rm, 'message', timeout=30)
            got.append(ev[2])
        out['ws_to_tcp'] = got
        for i in range(N):
            rm.send_message(mto=jid, mbody='t%d' % i, mtype='chat')
        got = []
        while len(got) < N:
            m = await _ws_until(j, _is_msg, timeout=30)
            got.append(m.find('{jabber:client}body').text)
        out['tcp_to_ws'] = got

        # Logout: romeo sees juliet go.
        await j.close()
        ev = await _next(rm, 'unavailable', lambda e: e[1] == jid)
        out['gone'] = ev[1]
        rm.disconnect()
        await asyncio.sleep(0.3)

    asyncio.run(main())
    assert out['roster'].get('romeo@localhost') == 'both', out['roster']
    assert out['to_tcp'] == ('juliet@localhost/web', 'wherefore art thou')
    assert out['to_ws'] == (ROMEO, 'here & now <3')
    assert out['ws_to_tcp'] == ['w%d' % i for i in range(N)]
    assert out['tcp_to_ws'] == ['t%d' % i for i in range(N)]
    assert out['gone'] == 'juliet@localhost/web'
