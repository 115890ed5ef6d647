"""Stanzas that sm and c2s pass to a client as the bytes they came in
(sm/sm-wrap.c, c2s-sm.c's raw callback, common/xml-frame.c) must reach it
meaning exactly what the sender wrote, and those that cannot go as bytes (a
child declared in the component namespace, a sender JID with '&', a
character reference, an addressee written in another case) must still arrive,
moved into jabber:client from a tree. A third-party component sends them to
juliet's full JID; her slixmpp client checks each one as XML."""

import asyncio
import os

import pytest

from conftest import BUILD_DIR
from fake_sm import C2SProcess
from junction_helpers import connect_component, load_test_file

sm_session = load_test_file('sm_session', '19-sm-session.py')
c2s_login = load_test_file('c2s_login', '20-c2s-login.py')

NSC = '{jabber:client}'
TO = 'juliet@localhost/home'
FROM = 'x@a.localhost/r'

# (id, stanza as the component writes it, what it must look like to juliet)
CASES = [
    # As bytes all the way: escapes, quotes, foreign and prefixed namespaces.
    ('plain', "<message from='%s' to='%s' id='plain' type='chat'><body>a &amp; b &lt;c&gt; "
              "\"q\" 'a'</body><x xmlns='urn:example:x' k=\"v'1\"><y/></x><p:z "
              "xmlns:p='urn:example:p' p:attr='1'/></message>" % (FROM, TO)),
    # A child in the component namespace: it must become jabber:client.
    ('compns', "<message from='%s' to='%s' id='compns'><x xmlns='urn:example:x'><body "
               "xmlns='jabber:component:accept'>inner</body></x></message>" % (FROM, TO)),
    # The same for jabber:server.
    ('srvns', "<message from='%s' to='%s' id='srvns'><x xmlns='urn:example:x'><body "
              "xmlns='jabber:server'>inner</body></x></message>" % (FROM, TO)),
    # A sender JID c2s would have to unescape.
    ('amp', "<message from='x@a.localhost/a&amp;b' to='%s' id='amp'><body>amp</body></message>"
            % TO),
    # A character reference.
    ('charref', "<message from='%s' to='%s' id='charref'><body>&#x263A; smile</body></message>"
                % (FROM, TO)),
    # An addressee that only matches once prepared: sm's tree path.
    ('upper', "<message from='%s' to='Juliet@localhost/home' id='upper'><body>up</body></message>"
              % FROM),
    # Double quotes and an empty message.
    ('empty', '<message from="%s" to="%s" id="empty"/>' % (FROM, TO)),
]


def check(el):
    """The stanza with this id, as juliet must see it."""
    i = el.get('id')
    assert el.tag == NSC + 'message', el.tag
    if i == 'plain':
        assert el.get('from') == FROM and el.get('type') == 'chat'
        assert el.find(NSC + 'body').text == "a & b <c> \"q\" 'a'"
        x = el.find('{urn:example:x}x')
        assert x is not None and x.get('k') == "v'1" and x.find('{urn:example:x}y') is not None
        z = el.find('{urn:example:p}z')
        assert z is not None and z.get('{urn:example:p}attr') == '1'
    elif i in ('compns', 'srvns'):
        body = el.find('{urn:example:x}x/' + NSC + 'body')
        assert body is not None and body.text == 'inner', [c.tag for c in el.iter()]
    elif i == 'amp':
        assert el.get('from') == 'x@a.localhost/a&b' and el.find(NSC + 'body').text == 'amp'
    elif i == 'charref':
        assert el.find(NSC + 'body').text == '\u263a smile'
    elif i == 'upper':
        assert el.find(NSC + 'body').text == 'up'
    elif i == 'empty':
        assert el.get('from') == FROM and len(el) == 0
    else:
        raise AssertionError('unexpected message %s' % i)


@pytest.mark.timeout(90)
@pytest.mark.skipif(not os.access(os.path.join(BUILD_DIR, 'junction-sm'), os.X_OK),
                    reason='junction-sm not built')
def test_delivered_bytes_mean_what_was_sent(router):
    from slixmpp import ClientXMPP
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath

    r = router()
    sm_session.adduser(r, 'juliet@localhost', 'pencil')
    c2s = C2SProcess(r, r.workdir)
    sm = sm_session.Sm(r)
    a = None
    got = []
    try:
        c2s.start()
        a = connect_component(r, 'a.localhost')

        async def main():
            c = ClientXMPP(TO, 'pencil', sasl_mech='SCRAM-SHA-256')
            c.ssl_context = c2s_login._no_verify()
            c2s_login._no_channel_binding(c)
            messages = asyncio.Queue()
            c.register_handler(Callback('every message', MatchXPath(NSC + 'message'),
                                        lambda m: messages.put_nowait(m.xml)))
            c.connect(('127.0.0.1', c2s.port))
            await asyncio.wait_for(c.wait_until('session_start'), 30)
            c.send_presence()
            await c.get_roster()
            for _, xml in CASES:
                a.send(xml)
            for _ in CASES:
                got.append(await asyncio.wait_for(messages.get(), 15))
            c.disconnect()
            await asyncio.sleep(0.3)
        asyncio.run(main())
        assert sorted(el.get('id') for el in got) == sorted(i for i, _ in CASES)
        for el in got:
            check(el)
    finally:
        if a is not None:
            a.close()
        c2s.stop()
        sm.stop()
