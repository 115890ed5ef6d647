"""junction-pubsub keeps its nodes, configuration, items, affiliations and
subscriptions across kill -9 and a restart, and stays up through malformed
and hostile requests from a raw component stream (answering each with an
error, never crashing)."""

import asyncio
import importlib.util
import os
import time

import pytest

from junction_helpers import connect_component, iq, local, stanza_error, to_string

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('pubsub_common', os.path.join(_here, '30-pubsub-common.py'))
P = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(P)

pytestmark = pytest.mark.skipif(not os.access(P.PUBSUB_BIN, os.X_OK), reason='junction-pubsub not built')
NS, NS_OWNER, NS_EVENT, SERVICE = P.NS, P.NS_OWNER, P.NS_EVENT, P.SERVICE


@pytest.mark.timeout(150)
def test_kill_9_keeps_nodes_items_and_subscriptions(router):
    d = P.start(router)
    try:
        async def before():
            j = await P.login(d, 'juliet')
            ps = j['xep_0060']
            await P.expect(await P.call(ps.create_node(SERVICE, 'diary', config=P.config_form(
                j, title='Diary', access_model='authorize', max_items='3'))))
            await P.expect(await P.call(ps.modify_affiliations(SERVICE, 'diary', [('nurse@localhost', 'publisher')])))
            await P.expect(await P.call(ps.modify_subscriptions(SERVICE, 'diary', [('romeo@localhost', 'subscribed')])))
            for k in range(4):
                await P.expect(await P.call(ps.publish(SERVICE, 'diary', id='d%d' % k, payload=P.payload(str(k)))))
            await P.logout_all(d)
        asyncio.run(before())
        d.clients = []
        d.pubsub.kill9()
        d.pubsub.start()

        async def after():
            j = await P.login(d, 'juliet')
            rm = await P.login(d, 'romeo')
            n = await P.login(d, 'nurse')
            el = await P.expect(await P.call(j['xep_0060'].get_node_config(SERVICE, 'diary')))
            vals = P.form_values(el.find('{%s}pubsub/{%s}configure/{%s}x' % (NS_OWNER, NS_OWNER, P.NS_DATA)))
            assert vals['pubsub#title'] == ['Diary'] and vals['pubsub#access_model'] == ['authorize']
            assert vals['pubsub#max_items'] == ['3']
            el = await P.expect(await P.call(rm['xep_0060'].get_items(SERVICE, 'diary')))
            items = el.find('{%s}pubsub/{%s}items' % (NS, NS))
            assert [(i.get('id'), i.find('{urn:example:note}note').text) for i in items] == \
                [('d1', '1'), ('d2', '2'), ('d3', '3')]
            # The publisher may still publish; the subscriber still hears it.
            await P.expect(await P.call(n['xep_0060'].publish(SERVICE, 'diary', id='d4', payload=P.payload('4'))))
            m = await P.next_message(rm, lambda m: m.find('{%s}event/{%s}items' % (NS_EVENT, NS_EVENT)) is not None)
            assert m.find('{%s}event/{%s}items/{%s}item' % (NS_EVENT, NS_EVENT, NS_EVENT)).get('id') == 'd4'
            el = await P.expect(await P.call(j['xep_0060'].get_node_subscriptions(SERVICE, 'diary')))
            subs = [(s.get('jid'), s.get('subscription'))
                    for s in el.find('{%s}pubsub/{%s}subscriptions' % (NS_OWNER, NS_OWNER))]
            assert subs == [('romeo@localhost', 'subscribed')]
            await P.logout_all(d)
        asyncio.run(after())
    finally:
        d.stop()


def _ask(s, xml, id):
    s.send(xml)
    return s.wait_for(lambda e: e.get('id') == id, 10)


@pytest.mark.timeout(120)
def test_malformed_requests_get_errors_and_the_service_stays_up(router):
    d = P.start(router)
    try:
        a = connect_component(d.r, 'a.localhost')
        frm = 'x@a.localhost'
        cases = [
            # (iq type, payload, expected (type, condition))
            ('set', '', ('modify', 'bad-request')),
            ('get', '', ('modify', 'bad-request')),
            ('set', "<pubsub xmlns='%s'/>" % NS, ('modify', 'bad-request')),
            ('get', "<pubsub xmlns='%s'><bogus/></pubsub>" % NS, ('modify', 'bad-request')),
            ('get', "<pubsub xmlns='%s'><publish node='n'/></pubsub>" % NS, ('modify', 'bad-request')),
            ('set', "<pubsub xmlns='%s'><publish node=''/></pubsub>" % NS, ('modify', 'bad-request')),
            ('set', "<pubsub xmlns='%s'><create node='x'/></pubsub>" % NS, ('auth', 'forbidden')),
            ('set', "<pubsub xmlns='%s'><create node='x'/><configure><x xmlns='jabber:x:data' type='submit'>"
             "<field><value>1</value></field></x></configure></pubsub>" % NS, ('modify', 'not-acceptable')),
            ('set', "<pubsub xmlns='%s'><subscribe node='n' jid='not a jid@@'/></pubsub>" % NS,
             ('cancel', 'item-not-found')),
            ('get', "<pubsub xmlns='%s'><items node='n' max_items='-1'/></pubsub>" % NS,
             ('cancel', 'item-not-found')),
            ('set', "<pubsub xmlns='%s'><delete/></pubsub>" % NS_OWNER, ('modify', 'bad-request')),
            ('set', "<pubsub xmlns='%s'><affiliations node='n'><affiliation/></affiliations></pubsub>" % NS_OWNER,
             ('cancel', 'item-not-found')),
            ('set', "<a xmlns='x'/><b xmlns='y'/>", ('modify', 'bad-request')),
            ('set', "<query xmlns='http://jabber.org/protocol/disco#info'/>", ('cancel', 'service-unavailable')),
            ('get', "<query xmlns='http://jabber.org/protocol/disco#items' node='%s'/>" % ('n' * 3000),
             ('cancel', 'item-not-found')),
        ]
        for k, (itype, payload, want) in enumerate(cases):
            reply = _ask(a, iq(itype, 'm%d' % k, payload, to=SERVICE, frm=frm), 'm%d' % k)
            assert stanza_error(reply) == want, (k, to_string(reply))
        # An address below the service is nobody; results, errors, presence
        # and stray messages are not answered.
        reply = _ask(a, iq('get', 'sub1', "<query xmlns='http://jabber.org/protocol/disco#info'/>",
                           to='node@' + SERVICE, frm=frm), 'sub1')
        assert stanza_error(reply) == ('cancel', 'service-unavailable'), to_string(reply)
        a.send("<iq type='result' id='r1' to='%s' from='%s'/>" % (SERVICE, frm))
        a.send("<iq type='error' id='r2' to='%s' from='%s'><error type='cancel'/></iq>" % (SERVICE, frm))
        a.send("<presence to='%s' from='%s'/>" % (SERVICE, frm))
        a.send("<message to='%s' from='%s'><x xmlns='jabber:x:data' type='submit'>"
               "<field var='FORM_TYPE'><value>%s#subscribe_authorization</value></field></x></message>"
               % (SERVICE, frm, NS))
        a.send("<message to='%s' from='%s'><body>hello</body></message>" % (SERVICE, frm))
        # Still up, still answering.
        reply = _ask(a, iq('get', 'alive', "<query xmlns='http://jabber.org/protocol/disco#info'/>",
                           to=SERVICE, frm=frm), 'alive')
        assert reply.get('type') == 'result', to_string(reply)
        assert d.pubsub.proc.poll() is None
        time.sleep(0.2)
    finally:
        d.stop()
