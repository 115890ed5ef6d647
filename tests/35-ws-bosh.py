"""BOSH (XEP-0124/XEP-0206) at /http-bind: juliet logs in over HTTPS
requests with SCRAM-SHA-1 (the test speaks the XML itself) and chats with
romeo on TCP (slixmpp) both ways, 1,000 messages each way in order, then
terminates; romeo sees her go. Raw cases: a rid outside the window, an
unknown sid, an oversized body, a malformed body, CORS. Acknowledgements
(a lost response reported and re-sent), a repeated rid answered again,
pause (held requests answered, the session kept N seconds, not longer;
above maxpause: policy-violation)."""

import asyncio
import http.client
import importlib.util
import os
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from ws_helpers import Bosh, local, no_verify, web  # noqa: F401 (fixture)

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('c2s_ws_session',
                                               os.path.join(_here, '35-ws-session.py'))
ws_session = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ws_session)

N = 1000
BATCH = 50


def _is_msg(el):
    return local(el) == 'message' and el.find('{jabber:client}body') is not None


@pytest.mark.timeout(240)
def test_bosh_login_chat_order_terminate(web):
    w = web(users=(('juliet@localhost', 'r0meo'), ('romeo@localhost', 'dagger')))
    out = {}

    async def main():
        loop = asyncio.get_running_loop()
        rm = ws_session._tcp_client(w.c2s.port)
        await asyncio.wait_for(rm.wait_until('session_start'), 30)
        rm.send_presence()
        b = Bosh(w.http_port)
        jid = await loop.run_in_executor(None, b.login, 'juliet', 'r0meo')
        out['jid'] = jid

        def subscribe():
            b.post("<iq xmlns='jabber:client' type='get' id='r0'>"
                   "<query xmlns='jabber:iq:roster'/></iq><presence xmlns='jabber:client'/>"
                   "<presence xmlns='jabber:client' to='romeo@localhost' type='subscribe'/>")
            b.next(lambda el: el.get('id') == 'r0')
        await loop.run_in_executor(None, subscribe)
        await ws_session._next(rm, 'subscribe', lambda e: e[1] == 'juliet@localhost')
        rm.send_presence(pto='juliet@localhost', ptype='subscribed')
        rm.send_presence(pto='juliet@localhost', ptype='subscribe')

        def approve():
            b.next(lambda el: local(el) == 'presence' and el.get('type') == 'subscribe')
            b.post("<presence xmlns='jabber:client' to='romeo@localhost' type='subscribed'/>")
        await loop.run_in_executor(None, approve)
        await ws_session._next(rm, 'available', lambda e: e[1] == jid)

        # Both ways, then 1,000 each way in order.
        await loop.run_in_executor(None, b.post, "<message xmlns='jabber:client' "
                                   "to='romeo@localhost' type='chat'><body>hello</body></message>")
        out['to_tcp'] = (await ws_session._next(rm, 'message'))[1:3]
        rm.send_message(mto=jid, mbody='hi <there>', mtype='chat')
        m = await loop.run_in_executor(None, b.next, _is_msg)
        out['to_bosh'] = (m.get('from'), m.find('{jabber:client}body').text)

        def send_many():
            for i in range(0, N, BATCH):
                b.post(''.join("<message xmlns='jabber:client' to='romeo@localhost' "
                               "type='chat'><body>b%d</body></message>" % k
                               for k in range(i, i + BATCH)))
        await loop.run_in_executor(None, send_many)
        got = []
        while len(got) < N:
            got.append((await ws_session._next(rm, 'message', timeout=30))[2])
        out['bosh_to_tcp'] = got
        for i in range(N):
            rm.send_message(mto=jid, mbody='t%d' % i, mtype='chat')

        def receive_many():
            got = []
            while len(got) < N:
                got.append(b.next(_is_msg, polls=50).find('{jabber:client}body').text)
            return got
        out['tcp_to_bosh'] = await loop.run_in_executor(None, receive_many)

        body = await loop.run_in_executor(None, lambda: b.post(type='terminate'))
        out['terminate'] = body.get('type')
        out['gone'] = (await ws_session._next(rm, 'unavailable', lambda e: e[1] == jid))[1]
        # The session is gone: its sid is unknown now.
        body = await loop.run_in_executor(None, b.post)
        out['after'] = (body.get('type'), body.get('condition'))
        rm.disconnect()
        await asyncio.sleep(0.3)

    asyncio.run(main())
    assert out['jid'] == 'juliet@localhost/bosh'
    assert out['to_tcp'] == ('juliet@localhost/bosh', 'hello')
    assert out['to_bosh'] == (ws_session.ROMEO, 'hi <there>')
    assert out['bosh_to_tcp'] == ['b%d' % i for i in range(N)]
    assert out['tcp_to_bosh'] == ['t%d' % i for i in range(N)]
    assert out['terminate'] == 'terminate'
    assert out['gone'] == 'juliet@localhost/bosh'
    assert out['after'] == ('terminate', 'item-not-found')


@pytest.mark.timeout(90)
def test_bosh_errors(web):
    w = web(users=(('juliet@localhost', 'r0meo'),), c2s_opts={'max_stanza_bytes': '8K'})
    # Unknown sid.
    b = Bosh(w.http_port)
    b.sid = 'nosuchsession'
    body = b.post()
    assert (body.get('type'), body.get('condition')) == ('terminate', 'item-not-found')
    # A rid outside the window ends the session.
    b = Bosh(w.http_port)
    b.create()
    body = b.post(rid=b.rid + 5)
    assert (body.get('type'), body.get('condition')) == ('terminate', 'item-not-found')
    body = b.post()
    assert (body.get('type'), body.get('condition')) == ('terminate', 'item-not-found')
    # A request behind a gap waits for the missing one; when it never comes,
    # the session ends once the wait is over.
    b = Bosh(w.http_port, wait=1)
    b.create()
    body = b.post(rid=b.rid + 1)
    assert (body.get('type'), body.get('condition')) == ('terminate', 'item-not-found')
    # A rid from the past, too.
    b = Bosh(w.http_port)
    b.create()
    body = b.post(rid=b.rid - 3)
    assert (body.get('type'), body.get('condition')) == ('terminate', 'item-not-found')
    # Oversized body: 413 as soon as the headers say so (the body is not
    # sent: a server closing on unread data would reset the connection).
    b = Bosh(w.http_port)
    b.conn.putrequest('POST', '/http-bind')
    b.conn.putheader('Content-Length', '40000')
    b.conn.endheaders()
    assert b.conn.getresponse().status == 413
    # Not a BOSH body.
    b = Bosh(w.http_port)
    status, _, data = b.post_raw("<notbody rid='1'/>")
    assert status == 200 and ET.fromstring(data).get('condition') == 'bad-request', data
    # A session for a domain we do not serve.
    b = Bosh(w.http_port)
    body = b.post(to='elsewhere.example', wait='2', hold='1',
                  **{'xmpp:version': '1.0', 'xmlns:xmpp': 'urn:xmpp:xbosh'})
    assert (body.get('type'), body.get('condition')) == ('terminate', 'host-unknown'), \
        ET.tostring(body)
    assert body.find('{http://etherx.jabber.org/streams}error/'
                     '{urn:ietf:params:xml:ns:xmpp-streams}host-unknown') is not None
    # CORS: the own origin may, a foreign one may not.
    own = 'https://127.0.0.1:%d' % w.http_port
    c = http.client.HTTPSConnection('127.0.0.1', w.http_port, context=no_verify(), timeout=10)
    c.request('OPTIONS', '/http-bind', headers={'Origin': own,
                                                 'Access-Control-Request-Method': 'POST'})
    r = c.getresponse()
    r.read()
    assert r.status == 200 and r.getheader('Access-Control-Allow-Origin') == own
    c.request('POST', '/http-bind', body='<body/>', headers={'Origin': 'https://evil.example'})
    r = c.getresponse()
    r.read()
    assert r.status == 403
    # The server still serves a normal login afterwards, and two requests
    # that arrive out of order (on two connections) are processed in rid
    # order: the iq of the earlier rid is answered first.
    b = Bosh(w.http_port, wait=1)
    assert b.login('juliet', 'r0meo') == 'juliet@localhost/bosh'
    b2 = Bosh(w.http_port, wait=1)
    b2.sid, first, second = b.sid, b.rid, b.rid + 1
    b.log = b2.log = []
    roster = "<iq xmlns='jabber:client' type='get' id='%s'><query xmlns='jabber:iq:roster'/></iq>"
    later = threading.Thread(target=lambda: b2.post(roster % 'second', rid=second))
    later.start()
    time.sleep(0.5)  # the later rid is there first, and waits
    b.post(roster % 'first', rid=first)
    later.join(10)
    b.rid = second + 1
    for _ in range(3):
        ids = [el.get('id') for el in b.log if local(el) == 'iq']
        if len(ids) == 2:
            break
        b.post()
    assert ids == ['first', 'second'], ids


ROSTER = "<iq xmlns='jabber:client' type='get' id='%s'><query xmlns='jabber:iq:roster'/></iq>"


@pytest.mark.timeout(90)
def test_bosh_ack_lost_response_resent(web):
    w = web(users=(('juliet@localhost', 'r0meo'),))
    b = Bosh(w.http_port, wait=2, ack='1')
    first = b.rid
    assert b.login('juliet', 'r0meo') == 'juliet@localhost/bosh'
    # Acknowledgements on: the creation response acks the request's rid.
    body = b.created
    assert body.get('ack') == str(first) and body.get('maxpause') == '120', ET.tostring(body)
    # Answered in order: no ack attribute.
    body = b.post(ROSTER % 'r1', ack=str(b.rid - 1))
    assert body.get('ack') is None and body.find('{jabber:client}iq') is not None
    # rid n held on a second connection; n+1 pushes it out: its response
    # acks n+1, the highest rid received.
    n = b.rid
    b2 = Bosh(w.http_port)
    b2.sid = b.sid
    held = {}
    t = threading.Thread(target=lambda: held.update(r=b2.raw(n, ack=str(n - 1))))
    t.start()
    time.sleep(0.5)
    data1, body1 = b.raw(n + 1, ROSTER % 'r2', ack=str(n - 1))
    t.join(10)
    lost, lost_body = held['r']
    assert lost_body.get('ack') == str(n + 1), lost
    assert body1.find('{jabber:client}iq') is not None or body1.get('ack') is None, data1
    # Say the response to n was lost: ack n-1 on n+2. It is answered at
    # once with report=n, then repeating rid n gets that response again.
    t0 = time.monotonic()
    _, body2 = b.raw(n + 2, ack=str(n - 1))
    assert time.monotonic() - t0 < 1.5
    assert body2.get('report') == str(n) and int(body2.get('time')) >= 0, ET.tostring(body2)
    again, _ = b.raw(n, ack=str(n - 1))
    assert again == lost
    # The session goes on.
    b.rid = n + 3
    b.post(ROSTER % 'r3', ack=str(n + 2))
    assert b.next(lambda el: el.get('id') == 'r3').get('type') == 'result'


@pytest.mark.timeout(90)
def test_bosh_repeated_rid_same_response(web):
    w = web(users=(('juliet@localhost', 'r0meo'),))
    b = Bosh(w.http_port, wait=1)
    assert b.login('juliet', 'r0meo') == 'juliet@localhost/bosh'
    rid = b.rid
    data, body = b.raw(rid, ROSTER % 'r1')
    if body.find('{jabber:client}iq') is None:  # the result came on a later one
        rid += 1
        data, body = b.raw(rid)
    assert body.find('{jabber:client}iq') is not None, data
    again, body = b.raw(rid)
    assert again == data and body.get('type') is None
    # Not terminated: the next rid is served.
    b.rid = rid + 1
    b.post(ROSTER % 'r2')
    assert b.next(lambda el: el.get('id') == 'r2').get('type') == 'result'


@pytest.mark.timeout(90)
def test_bosh_pause(web):
    w = web(users=(('juliet@localhost', 'r0meo'),))
    b = Bosh(w.http_port, wait=3)
    assert b.login('juliet', 'r0meo') == 'juliet@localhost/bosh'
    # A held request and the pause request are both answered at once.
    n = b.rid
    b2 = Bosh(w.http_port)
    b2.sid = b.sid
    held = {}
    t0 = time.monotonic()
    t = threading.Thread(target=lambda: held.update(r=b2.raw(n)))
    t.start()
    time.sleep(0.5)
    _, body = b.raw(n + 1, pause='3')
    t.join(10)
    assert time.monotonic() - t0 < 2.0
    assert body.get('type') is None and held['r'][1].get('type') is None
    # Within the pause the session lives...
    time.sleep(2)
    b.rid = n + 2
    b.post(ROSTER % 'p1')
    assert b.next(lambda el: el.get('id') == 'p1').get('type') == 'result'
    # ... but not beyond it.
    _, body = b.raw(b.rid, pause='1')
    b.rid += 1
    time.sleep(3)
    _, body = b.raw(b.rid)
    assert (body.get('type'), body.get('condition')) == ('terminate', 'item-not-found')
    # Above maxpause: policy-violation.
    b = Bosh(w.http_port, wait=1)
    b.create()
    _, body = b.raw(b.rid, pause='121')
    assert (body.get('type'), body.get('condition')) == ('terminate', 'policy-violation')
