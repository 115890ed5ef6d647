"""junction-pubsub, publishers and item retrieval, with real slixmpp
clients (XEP-0060 6.5, 7.1, 7.2, XEP-0059): generated item ids, several
items in one publish, notifications in publish order with and without
payloads, publish-options as preconditions, auto-create, forbidden
publish, the publish models, retract (with notify), items (all,
max_items, by id, paged), max_items trimming, transient nodes."""

import asyncio
import importlib.util
import os

import pytest

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('pubsub_common', os.path.join(_here, '30-pubsub-common.py'))
P = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(P)

pytestmark = pytest.mark.skipif(not os.access(P.PUBSUB_BIN, os.X_OK), reason='junction-pubsub not built')
NS, NS_OWNER, NS_EVENT, SERVICE = P.NS, P.NS_OWNER, P.NS_EVENT, P.SERVICE
NOTE = '{urn:example:note}note'


def _item_ids(el):
    return [i.get('id') for i in el.find('{%s}pubsub/{%s}items' % (NS, NS))]


def _published(el):
    return [i.get('id') for i in el.find('{%s}pubsub/{%s}publish' % (NS, NS))]


@pytest.mark.timeout(120)
def test_publish_notify_retract_and_retrieve(router):
    d = P.start(router)
    try:
        async def main():
            j = await P.login(d, 'juliet')
            rm = await P.login(d, 'romeo')
            n = await P.login(d, 'nurse')
            ps, rps = j['xep_0060'], rm['xep_0060']
            await P.expect(await P.call(ps.create_node(SERVICE, 'news', config=P.config_form(
                j, max_items='5', notify_retract='0'))))
            await P.expect(await P.call(rps.subscribe(SERVICE, 'news')))
            # An id is generated when none is given.
            el = await P.expect(await P.call(ps.publish(SERVICE, 'news', payload=P.payload('first'))))
            gen = _published(el)
            assert len(gen) == 1 and len(gen[0]) >= 16, gen
            # Several items in one publish, in order; notifications follow publish order.
            el = await P.expect(await P.ask(j, 'set', "<pubsub xmlns='%s'><publish node='news'>"
                                            "<item id='a'><note xmlns='urn:example:note'>A</note></item>"
                                            "<item id='b'><note xmlns='urn:example:note'>B</note></item>"
                                            "<item><note xmlns='urn:example:note'>C</note></item>"
                                            "</publish></pubsub>" % NS))
            ids = _published(el)
            assert ids[:2] == ['a', 'b'] and len(ids) == 3
            evs = await P.events(rm, 2)
            seen = []
            for ev in evs:
                for it in ev.find('{%s}items' % NS_EVENT):
                    seen.append((it.get('id'), it.find(NOTE).text, it.get('publisher')))
            assert seen == [(gen[0], 'first', 'juliet@localhost'), ('a', 'A', 'juliet@localhost'),
                            ('b', 'B', 'juliet@localhost'), (ids[2], 'C', 'juliet@localhost')], seen
            # Publishing an existing id replaces it and makes it the newest.
            await P.expect(await P.call(ps.publish(SERVICE, 'news', id='a', payload=P.payload('A2'))))
            await P.events(rm, 1)
            el = await P.expect(await P.call(rps.get_items(SERVICE, 'news')))
            assert _item_ids(el) == [gen[0], 'b', ids[2], 'a']
            items = el.find('{%s}pubsub/{%s}items' % (NS, NS))
            assert items[-1].find('{urn:example:note}note').text == 'A2'
            # max_items: the newest N; by id; an id that is not there.
            el = await P.expect(await P.call(rps.get_items(SERVICE, 'news', max_items=2)))
            assert _item_ids(el) == [ids[2], 'a']
            el = await P.expect(await P.call(rps.get_items(SERVICE, 'news', item_ids=['b', 'zzz'])))
            assert _item_ids(el) == ['b']
            # Paging (XEP-0059): two at a time, then after the last one.
            el = await P.expect(await P.ask(rm, 'get', "<pubsub xmlns='%s'><items node='news'/>"
                                            "<set xmlns='%s'><max>2</max></set></pubsub>" % (NS, P.NS_RSM)))
            assert _item_ids(el) == [gen[0], 'b']
            rs = el.find('{%s}pubsub/{%s}set' % (NS, P.NS_RSM))
            assert rs.find('{%s}count' % P.NS_RSM).text == '4'
            assert rs.find('{%s}first' % P.NS_RSM).get('index') == '0'
            last = rs.find('{%s}last' % P.NS_RSM).text
            el = await P.expect(await P.ask(rm, 'get', "<pubsub xmlns='%s'><items node='news'/>"
                                            "<set xmlns='%s'><max>2</max><after>%s</after></set></pubsub>"
                                            % (NS, P.NS_RSM, last)))
            assert _item_ids(el) == [ids[2], 'a']
            assert el.find('{%s}pubsub/{%s}set/{%s}first' % (NS, P.NS_RSM, P.NS_RSM)).get('index') == '2'
            el = await P.expect(await P.ask(rm, 'get', "<pubsub xmlns='%s'><items node='news'/>"
                                            "<set xmlns='%s'><max>1</max><before/></set></pubsub>"
                                            % (NS, P.NS_RSM)))
            assert _item_ids(el) == ['a']
            await P.expect(await P.ask(rm, 'get', "<pubsub xmlns='%s'><items node='news'/>"
                                       "<set xmlns='%s'><after>nope</after></set></pubsub>" % (NS, P.NS_RSM)),
                           'cancel', 'item-not-found')
            await P.expect(await P.call(rps.get_items(SERVICE, 'ghost')), 'cancel', 'item-not-found')
            await P.expect(await P.ask(rm, 'get', "<pubsub xmlns='%s'><items node='news' subid='bad'/></pubsub>"
                                       % NS), 'modify', 'not-acceptable', 'invalid-subid')
            # max_items trims the oldest.
            for k in range(3):
                await P.expect(await P.call(ps.publish(SERVICE, 'news', id='x%d' % k, payload=P.payload('x'))))
            await P.events(rm, 3)
            el = await P.expect(await P.call(rps.get_items(SERVICE, 'news')))
            assert _item_ids(el) == [ids[2], 'a', 'x0', 'x1', 'x2'], _item_ids(el)

            # Retract: node configured without retract notifications; notify='true' asks for one.
            await P.expect(await P.call(ps.retract(SERVICE, 'news', 'x0')))
            await P.no_event(rm, 0.7)
            await P.expect(await P.call(ps.retract(SERVICE, 'news', 'x1', notify=True)))
            ev = (await P.events(rm, 1))[0]
            assert [r.get('id') for r in ev.find('{%s}items' % NS_EVENT)] == ['x1']
            assert ev.find('{%s}items/{%s}retract' % (NS_EVENT, NS_EVENT)) is not None
            # Retract errors: missing item, not a publisher, no node id, no item id.
            await P.expect(await P.call(ps.retract(SERVICE, 'news', 'x1')), 'cancel', 'item-not-found')
            await P.expect(await P.call(rps.retract(SERVICE, 'news', 'x2')), 'auth', 'forbidden')
            await P.expect(await P.ask(j, 'set', "<pubsub xmlns='%s'><retract><item id='x2'/></retract></pubsub>"
                                       % NS), 'modify', 'bad-request', 'nodeid-required')
            await P.expect(await P.ask(j, 'set', "<pubsub xmlns='%s'><retract node='news'/></pubsub>" % NS),
                           'modify', 'bad-request', 'item-required')

            # Publish errors: not a publisher; payload rules; no such node (nurse may not create).
            await P.expect(await P.call(rps.publish(SERVICE, 'news', payload=P.payload('no'))), 'auth', 'forbidden')
            await P.expect(await P.ask(j, 'set', "<pubsub xmlns='%s'><publish node='news'/></pubsub>" % NS),
                           'modify', 'bad-request', 'item-required')
            await P.expect(await P.ask(j, 'set', "<pubsub xmlns='%s'><publish node='news'><item id='e'/>"
                                       "</publish></pubsub>" % NS), 'modify', 'bad-request', 'payload-required')
            await P.expect(await P.ask(j, 'set', "<pubsub xmlns='%s'><publish node='news'><item><a xmlns='x'/>"
                                       "<b xmlns='x'/></item></publish></pubsub>" % NS),
                           'modify', 'bad-request', 'invalid-payload')
            # A publisher may publish; the publish model 'open' lets anyone.
            await P.expect(await P.call(ps.modify_affiliations(SERVICE, 'news', [('romeo@localhost', 'publisher')])))
            await P.expect(await P.call(rps.publish(SERVICE, 'news', id='r', payload=P.payload('by romeo'))))
            await P.events(rm, 1)
            await P.expect(await P.call(n['xep_0060'].publish(SERVICE, 'news', payload=P.payload('n'))),
                           'auth', 'forbidden')
            await P.expect(await P.call(ps.set_node_config(SERVICE, 'news', P.config_form(j, publish_model='open'))))
            await P.expect(await P.call(n['xep_0060'].publish(SERVICE, 'news', payload=P.payload('n'))))
            await P.events(rm, 1)
            await P.logout_all(d)
        asyncio.run(main())
    finally:
        d.stop()


@pytest.mark.timeout(120)
def test_publish_options_autocreate_payloads_and_last_item(router):
    d = P.start(router, create_nodes='users')
    try:
        async def main():
            j = await P.login(d, 'juliet')
            rm = await P.login(d, 'romeo')
            ps, rps = j['xep_0060'], rm['xep_0060']
            opts = P.config_form(j, access_model='whitelist')
            opts.field['FORM_TYPE']['value'] = NS + '#publish-options'
            # Auto-create with publish-options: the node gets them.
            await P.expect(await P.call(ps.publish(SERVICE, 'auto', id='1', payload=P.payload('1'),
                                                   options=opts)))
            el = await P.expect(await P.call(ps.get_node_config(SERVICE, 'auto')))
            x = el.find('{%s}pubsub/{%s}configure/{%s}x' % (NS_OWNER, NS_OWNER, P.NS_DATA))
            assert P.form_values(x)['pubsub#access_model'] == ['whitelist']
            # Preconditions met: published; not met: precondition-not-met, nothing stored.
            await P.expect(await P.call(ps.publish(SERVICE, 'auto', id='2', payload=P.payload('2'),
                                                   options=opts)))
            other = P.config_form(j, access_model='open')
            other.field['FORM_TYPE']['value'] = NS + '#publish-options'
            await P.expect(await P.call(ps.publish(SERVICE, 'auto', id='3', payload=P.payload('3'),
                                                   options=other)), 'cancel', 'conflict', 'precondition-not-met')
            el = await P.expect(await P.call(ps.get_items(SERVICE, 'auto')))
            assert _item_ids(el) == ['1', '2']

            # Without payloads; with send_last_published_item on subscribe.
            await P.expect(await P.call(ps.create_node(SERVICE, 'light', config=P.config_form(
                j, deliver_payloads='0', send_last_published_item='on_sub'))))
            await P.expect(await P.call(ps.publish(SERVICE, 'light', id='old', payload=P.payload('old'))))
            await P.expect(await P.call(rps.subscribe(SERVICE, 'light')))
            ev = (await P.events(rm, 1))[0]
            it = ev.find('{%s}items/{%s}item' % (NS_EVENT, NS_EVENT))
            assert it.get('id') == 'old' and len(it) == 0
            await P.expect(await P.call(ps.publish(SERVICE, 'light', id='new', payload=P.payload('new'))))
            ev = (await P.events(rm, 1))[0]
            it = ev.find('{%s}items/{%s}item' % (NS_EVENT, NS_EVENT))
            assert it.get('id') == 'new' and len(it) == 0
            # The payload is stored all the same.
            el = await P.expect(await P.call(rps.get_items(SERVICE, 'light', item_ids=['new'])))
            assert el.find('{%s}pubsub/{%s}items/{%s}item/%s' % (NS, NS, NS, NOTE)).text == 'new'

            # A transient notification-only node: no payloads, no storage.
            await P.expect(await P.call(ps.create_node(SERVICE, 'ping', config=P.config_form(
                j, deliver_payloads='0', persist_items='0'))))
            await P.expect(await P.call(rps.subscribe(SERVICE, 'ping')))
            el = await P.expect(await P.ask(j, 'set', "<pubsub xmlns='%s'><publish node='ping'/></pubsub>" % NS))
            assert len(_published(el)) == 1
            ev = (await P.events(rm, 1))[0]
            assert ev.find('{%s}items/{%s}item' % (NS_EVENT, NS_EVENT)).get('id') == _published(el)[0]
            await P.expect(await P.call(ps.publish(SERVICE, 'ping', payload=P.payload('x'))),
                           'modify', 'bad-request', 'item-forbidden')
            await P.expect(await P.call(rps.get_items(SERVICE, 'ping')),
                           'cancel', 'feature-not-implemented', 'unsupported', 'persistent-items')
            await P.expect(await P.call(ps.purge(SERVICE, 'ping')),
                           'cancel', 'feature-not-implemented', 'unsupported', 'persistent-items')
            # No notifications at all when deliver_notifications is off.
            await P.expect(await P.call(ps.set_node_config(SERVICE, 'light', P.config_form(
                j, deliver_notifications='0'))))
            await P.expect(await P.call(ps.publish(SERVICE, 'light', payload=P.payload('silent'))))
            await P.no_event(rm)
            # Nobody may auto-create who may not create.
            await P.expect(await P.ask(j, 'set', "<pubsub xmlns='%s'><publish/></pubsub>" % NS),
                           'modify', 'bad-request', 'nodeid-required')
            await P.logout_all(d)
        asyncio.run(main())
    finally:
        d.stop()
