"""No route (docs/components.md §2.4): message and iq get/set bounce with
type='cancel' errors -- service-unavailable for a served domain,
remote-server-not-found otherwise; presence, error stanzas and iq results
without a route are dropped silently."""

import pytest

from junction_helpers import (
    connect_component, iq, local, message, presence, stanza_error, to_string)

PING = "<ping xmlns='urn:xmpp:ping'/>"


def _bounce(stream, stanza, id, timeout=10):
    stream.send(stanza)
    others = []
    el = stream.wait_for(lambda e: e.get('id') == id, timeout, others=others)
    assert not others, 'unexpected stanzas before the bounce: %s' % [to_string(o) for o in others]
    return el


def _start(router):
    return router(junction_opts={'domains': 'localhost, served.example'},
                  extra_components={'offline.localhost': 'offline-secret'})


@pytest.mark.parametrize('kind,to,cond', [
    ('iq-get', 'nobody.example', 'remote-server-not-found'),
    ('iq-set', 'user@nobody.example/res', 'remote-server-not-found'),
    ('message', 'user@nobody.example', 'remote-server-not-found'),
    ('message-chat', 'nobody.example', 'remote-server-not-found'),
    ('iq-get', 'localhost', 'service-unavailable'),
    ('iq-get', 'user@localhost/phone', 'service-unavailable'),
    ('message', 'user@served.example', 'service-unavailable'),
    ('iq-set', 'offline.localhost', 'service-unavailable'),
    ('message', 'someone@offline.localhost', 'service-unavailable'),
    # RFC 7622 normalisation: the domain part is case-insensitive.
    ('message', 'Someone@OFFLINE.localhost', 'service-unavailable'),
])
def test_no_route_bounce(router, kind, to, cond):
    r = _start(router)
    a = connect_component(r, 'a.localhost')
    frm = 'svc@a.localhost/x'
    if kind.startswith('iq'):
        stanza = iq(kind[3:], 'q1', PING, to=to, frm=frm)
        name = 'iq'
    else:
        stanza = message(to, frm, 'q1', 'hello', type='chat' if kind.endswith('chat') else None)
        name = 'message'
    el = _bounce(a, stanza, 'q1')
    assert local(el) == name, to_string(el)
    assert el.get('type') == 'error', to_string(el)
    assert stanza_error(el) == ('cancel', cond), to_string(el)
    # The error goes back to the sender: to/from swapped.
    assert el.get('to') == frm, to_string(el)
    assert (el.get('from') or '').lower() == to.lower(), to_string(el)


def test_silent_drops(router):
    """Presence, type='error' stanzas and iq results to nowhere get nothing
    back. The sentinel iq sent last must be the first thing that comes back
    (one queue per destination, in order), so anything answered before it
    would be caught."""
    r = _start(router)
    a = connect_component(r, 'a.localhost')
    frm = 'svc@a.localhost'
    silent = [
        presence('user@nobody.example', frm, id='p1'),
        presence('user@nobody.example', frm, type='unavailable', id='p2'),
        presence('localhost', frm, type='probe', id='p3'),
        presence('user@offline.localhost', frm, type='subscribe', id='p4'),
        message('user@nobody.example', frm, 'e1', 'x', type='error'),
        message('user@localhost', frm, 'e2', 'x', type='error'),
        iq('error', 'e3', to='nobody.example', frm=frm),
        iq('result', 'r1', to='nobody.example', frm=frm),
        iq('result', 'r2', to='offline.localhost', frm=frm),
    ]
    a.send(''.join(silent))
    el = _bounce(a, iq('get', 'sentinel', PING, to='nobody.example', frm=frm), 'sentinel')
    assert stanza_error(el) == ('cancel', 'remote-server-not-found'), to_string(el)
    assert a.poll(0.5) is None


def test_bounce_flood_does_not_loop(router):
    """50 messages to nowhere: exactly 50 bounces, in order, and nothing
    else (an error is never answered with an error)."""
    r = _start(router)
    a = connect_component(r, 'a.localhost')
    for i in range(50):
        a.send(message('nobody.example', 'a.localhost', 'm%d' % i, 'x'))
    got = a.collect(50, 15)
    assert [e.get('id') for e in got] == ['m%d' % i for i in range(50)]
    for e in got:
        assert stanza_error(e) == ('cancel', 'remote-server-not-found'), to_string(e)
    assert a.poll(0.5) is None


def test_invalid_to_jid_malformed(router):
    r = _start(router)
    a = connect_component(r, 'a.localhost')
    el = _bounce(a, message('a@b@localhost', 'a.localhost', 'bad1', 'x'), 'bad1')
    assert stanza_error(el) == ('modify', 'jid-malformed'), to_string(el)


def test_untrusted_iq_without_to(router):
    """§2.7: a stanza without 'to' is for the router; untrusted streams get
    service-unavailable for iq get/set."""
    r = _start(router)
    a = connect_component(r, 'a.localhost')
    el = _bounce(a, iq('get', 'nt1', "<query xmlns='http://jabber.org/protocol/disco#info'/>",
                       frm='a.localhost'), 'nt1')
    assert local(el) == 'iq'
    assert stanza_error(el) == ('cancel', 'service-unavailable'), to_string(el)


@pytest.mark.parametrize('to', [
    'B.LOCALHOST',
    'user@B.Localhost/Res',
    'b.localhost.',                       # RFC 7622 §3.2: trailing dot is stripped
    'user@b.localhost/res/with@odd/chars',  # '@' and '/' are fine in a resource
])
def test_routing_normalises_domain(router, to):
    r = _start(router)
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    a.send(message(to, 'a.localhost', 'n1', 'x'))
    el = b.next()
    assert el.get('id') == 'n1' and el.get('to') == to, to_string(el)
    assert a.poll(0.2) is None


@pytest.mark.parametrize('to', [
    'x' * 1024 + '@b.localhost',          # localpart over 1023 bytes
    'u@b.localhost/' + 'r' * 1024,         # resourcepart over 1023 bytes
    'u@@b.localhost',
    'b..localhost',
    '',
])
def test_routing_invalid_to(router, to):
    r = _start(router)
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    a.send(message(to, 'a.localhost', 'j1', 'x'))
    el = a.next()
    assert el.get('id') == 'j1' and stanza_error(el) == ('modify', 'jid-malformed'), to_string(el)
    assert b.poll(0.3) is None


def test_prefixed_and_escaped_stanzas_route(router):
    """XML-level equivalents must route like the plain form: a stanza whose
    element uses a prefix bound to jabber:component:accept is a message, and
    character references in 'to' are decoded before routing."""
    r = _start(router)
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    a.send("<c:message xmlns:c='jabber:component:accept' to='b.localhost' from='a.localhost' "
           "id='pre1'><c:body>x</c:body></c:message>")
    el = a.poll(0) or b.next()
    assert el.get('id') == 'pre1' and el.tag == '{jabber:component:accept}message', to_string(el)
    a.send("<message to='&#98;.localhost' from='a&#x2e;localhost' id='esc1'><body>x</body></message>")
    el = b.next()
    assert el.get('id') == 'esc1', to_string(el)
    assert a.poll(0.3) is None
