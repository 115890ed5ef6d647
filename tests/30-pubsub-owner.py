"""junction-pubsub, the owner's use cases and the entity's discovery, with
real slixmpp clients through c2s and sm (XEP-0060 5, 8.1-8.5): disco#info
and #items of the service and of nodes, node metadata; create (named,
instant, with a configuration form, conflict, not allowed), configure
(get, set, not-acceptable, forbidden for non-owners, notifications),
default configuration, delete (subscribers told, with a redirect) and
purge."""

import asyncio
import importlib.util
import os

import pytest

from conftest import BUILD_DIR

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('pubsub_common', os.path.join(_here, '30-pubsub-common.py'))
P = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(P)

pytestmark = pytest.mark.skipif(not os.access(P.PUBSUB_BIN, os.X_OK), reason='junction-pubsub not built')
NS, NS_OWNER, SERVICE = P.NS, P.NS_OWNER, P.SERVICE
INFO = 'http://jabber.org/protocol/disco#info'
ITEMS = 'http://jabber.org/protocol/disco#items'


@pytest.mark.timeout(120)
def test_disco_create_and_metadata(router):
    d = P.start(router, create_nodes='juliet@localhost, nurse@localhost')
    try:
        async def main():
            j = await P.login(d, 'juliet')
            rm = await P.login(d, 'romeo')
            ps = j['xep_0060']
            # The service: identity pubsub/service, the features it has.
            info = await P.expect(await P.ask(j, 'get', "<query xmlns='%s'/>" % INFO))
            q = info.find('{%s}query' % INFO)
            ids = [(i.get('category'), i.get('type')) for i in q.findall('{%s}identity' % INFO)]
            assert ids == [('pubsub', 'service')], ids
            feats = {f.get('var') for f in q.findall('{%s}feature' % INFO)}
            for f in ('create-nodes', 'instant-nodes', 'publish', 'subscribe', 'config-node',
                      'retrieve-items', 'access-authorize', 'access-whitelist', 'outcast-affiliation',
                      'publish-options', 'rsm', 'delete-nodes', 'purge-nodes', 'access-presence',
                      'access-roster'):
                assert NS + '#' + f in feats, f

            # Named node with a configuration form; instant node.
            el = await P.expect(await P.call(ps.create_node(SERVICE, 'musings', config=P.config_form(
                j, title='Princely Musings', max_items='max', access_model='open'))))
            assert el.find('{%s}pubsub/{%s}create' % (NS, NS)).get('node') == 'musings'
            el = await P.expect(await P.ask(j, 'set', "<pubsub xmlns='%s'><create/></pubsub>" % NS))
            instant = el.find('{%s}pubsub/{%s}create' % (NS, NS)).get('node')
            assert instant and instant != 'musings'
            # Conflict; not allowed to create (romeo is not in create_nodes).
            await P.expect(await P.call(ps.create_node(SERVICE, 'musings')), 'cancel', 'conflict')
            await P.expect(await P.call(rm['xep_0060'].create_node(SERVICE, 'romeos')), 'auth', 'forbidden')
            # Form values we do not take.
            await P.expect(await P.call(ps.create_node(SERVICE, 'bad', config=P.config_form(
                j, max_items='lots'))), 'modify', 'not-acceptable')
            await P.expect(await P.call(ps.create_node(SERVICE, 'bad', config=P.config_form(
                j, access_model='everyone'))), 'modify', 'not-acceptable')

            # disco#items: both nodes, the title as name.
            items = await P.expect(await P.ask(rm, 'get', "<query xmlns='%s'/>" % ITEMS))
            got = {(i.get('node'), i.get('name')) for i in items.find('{%s}query' % ITEMS)}
            assert got == {('musings', 'Princely Musings'), (instant, None)}, got
            # Node metadata: identity pubsub/leaf and a meta-data form.
            info = await P.expect(await P.ask(rm, 'get', "<query xmlns='%s' node='musings'/>" % INFO))
            q = info.find('{%s}query' % INFO)
            assert q.get('node') == 'musings'
            assert [(i.get('category'), i.get('type')) for i in q.findall('{%s}identity' % INFO)] == \
                [('pubsub', 'leaf')]
            meta = P.form_values(q.find('{%s}x' % P.NS_DATA))
            assert meta['FORM_TYPE'] == [NS + '#meta-data']
            assert meta['pubsub#title'] == ['Princely Musings']
            assert meta['pubsub#max_items'] == ['max']
            assert meta['pubsub#owner'] == ['juliet@localhost']
            assert meta['pubsub#creator'] == ['juliet@localhost']
            await P.expect(await P.ask(rm, 'get', "<query xmlns='%s' node='nothing'/>" % INFO),
                           'cancel', 'item-not-found')
            # Something the service does not know.
            await P.expect(await P.ask(rm, 'get', "<query xmlns='jabber:iq:version'/>"),
                           'cancel', 'service-unavailable')
            await P.logout_all(d)
        asyncio.run(main())
    finally:
        d.stop()


@pytest.mark.timeout(120)
def test_configure_default_delete_purge(router):
    d = P.start(router)
    try:
        async def main():
            j = await P.login(d, 'juliet')
            rm = await P.login(d, 'romeo')
            ps, rps = j['xep_0060'], rm['xep_0060']
            await P.expect(await P.call(ps.create_node(SERVICE, 'n1')))
            # Default configuration: a form with our defaults.
            el = await P.expect(await P.ask(j, 'get', "<pubsub xmlns='%s'><default/></pubsub>" % NS_OWNER))
            dflt = P.form_values(el.find('{%s}pubsub/{%s}default/{%s}x' % (NS_OWNER, NS_OWNER, P.NS_DATA)))
            assert dflt['pubsub#access_model'] == ['open'] and dflt['pubsub#max_items'] == ['10']
            # Configure: get the form, set notify_config and a title.
            el = await P.expect(await P.call(ps.get_node_config(SERVICE, 'n1')))
            x = el.find('{%s}pubsub/{%s}configure/{%s}x' % (NS_OWNER, NS_OWNER, P.NS_DATA))
            assert x.get('type') == 'form'
            opts = [o.find('{%s}value' % P.NS_DATA).text for f in x if f.get('var') == 'pubsub#access_model'
                    for o in f.findall('{%s}option' % P.NS_DATA)]
            assert opts == ['open', 'presence', 'roster', 'authorize', 'whitelist'], opts
            await P.expect(await P.call(rps.subscribe(SERVICE, 'n1')))
            await P.expect(await P.call(ps.set_node_config(SERVICE, 'n1', P.config_form(
                j, notify_config='1', title='Renamed'))))
            ev = (await P.events(rm, 1))[0]
            c = ev.find('{%s}configuration' % P.NS_EVENT)
            assert c.get('node') == 'n1'
            assert P.form_values(c.find('{%s}x' % P.NS_DATA))['pubsub#title'] == ['Renamed']
            el = await P.expect(await P.call(ps.get_node_config(SERVICE, 'n1')))
            x = el.find('{%s}pubsub/{%s}configure/{%s}x' % (NS_OWNER, NS_OWNER, P.NS_DATA))
            assert P.form_values(x)['pubsub#title'] == ['Renamed']
            # Errors: non-owner configure/delete/purge, no node id, no such node, bad value.
            await P.expect(await P.call(rps.get_node_config(SERVICE, 'n1')), 'auth', 'forbidden')
            await P.expect(await P.call(rps.set_node_config(SERVICE, 'n1', P.config_form(rm, title='x'))),
                           'auth', 'forbidden')
            await P.expect(await P.call(rps.delete_node(SERVICE, 'n1')), 'auth', 'forbidden')
            await P.expect(await P.call(rps.purge(SERVICE, 'n1')), 'auth', 'forbidden')
            await P.expect(await P.ask(j, 'get', "<pubsub xmlns='%s'><configure/></pubsub>" % NS_OWNER),
                           'modify', 'bad-request', 'nodeid-required')
            await P.expect(await P.call(ps.get_node_config(SERVICE, 'ghost')), 'cancel', 'item-not-found')
            await P.expect(await P.call(ps.set_node_config(SERVICE, 'n1', P.config_form(
                j, publish_model='everyone'))), 'modify', 'not-acceptable')
            # Purge: items gone, subscribers told.
            await P.expect(await P.call(ps.publish(SERVICE, 'n1', id='a', payload=P.payload('1'))))
            await P.events(rm, 1)
            await P.expect(await P.call(ps.purge(SERVICE, 'n1')))
            ev = (await P.events(rm, 1))[0]
            assert ev.find('{%s}purge' % P.NS_EVENT).get('node') == 'n1'
            el = await P.expect(await P.call(rps.get_items(SERVICE, 'n1')))
            assert len(el.find('{%s}pubsub/{%s}items' % (NS, NS))) == 0
            # Delete with a redirect: the subscriber hears it, the node is gone.
            await P.expect(await P.ask(j, 'set', "<pubsub xmlns='%s'><delete node='n1'>"
                                       "<redirect uri='xmpp:pubsub.localhost?;node=n2'/></delete></pubsub>"
                                       % NS_OWNER))
            ev = (await P.events(rm, 1))[0]
            dl = ev.find('{%s}delete' % P.NS_EVENT)
            assert dl.get('node') == 'n1'
            assert dl.find('{%s}redirect' % P.NS_EVENT).get('uri') == 'xmpp:pubsub.localhost?;node=n2'
            await P.expect(await P.call(ps.delete_node(SERVICE, 'n1')), 'cancel', 'item-not-found')
            await P.expect(await P.call(rps.subscribe(SERVICE, 'n1')), 'cancel', 'item-not-found')
            await P.logout_all(d)
        asyncio.run(main())
    finally:
        d.stop()
