"""junction-pubsub's presence and roster access models (XEP-0060 4.5),
through the real router, sm, c2s and pubsub with slixmpp clients: pubsub
asks the node owner's sm how a JID relates to the owner
(urn:junction:roster:1). Subscribing and retrieving are allowed or refused
per model; notifications reach only the subscribers the model lets in, in
publish order even while sm's answers are outstanding; a roster change
takes effect once [pubsub] roster_cache has expired; an owner without an
account here cannot choose these models."""

import asyncio
import importlib.util
import os
import time
import xml.etree.ElementTree as ET

import pytest

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('pubsub_common', os.path.join(_here, '30-pubsub-common.py'))
P = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(P)

from junction_helpers import connect_component, iq, local  # noqa: E402

pytestmark = pytest.mark.skipif(not os.access(P.PUBSUB_BIN, os.X_OK), reason='junction-pubsub not built')
NS, NS_OWNER, SERVICE = P.NS, P.NS_OWNER, P.SERVICE
ROSTER = 'jabber:iq:roster'
CACHE = 0.3  # [pubsub] roster_cache in these tests, seconds


async def roster(c):
    """{jid: (subscription, [groups])} of c's roster."""
    el = await P.expect(await P.ask(c, 'get', "<query xmlns='%s'/>" % ROSTER, to=None))
    return {i.get('jid'): (i.get('subscription'), [g.text for g in i.findall('{%s}group' % ROSTER)])
            for i in el.find('{%s}query' % ROSTER)}


async def roster_set(c, jid, groups=(), remove=False):
    item = "<item jid='%s'%s>%s</item>" % (jid, " subscription='remove'" if remove else '',
                                           ''.join('<group>%s</group>' % g for g in groups))
    await P.expect(await P.ask(c, 'set', "<query xmlns='%s'>%s</query>" % (ROSTER, item), to=None))


async def share_presence(owner, contact, owner_jid='juliet@localhost'):
    """contact asks for owner's presence; slixmpp's owner approves."""
    contact.send_presence(pto=owner_jid, ptype='subscribe')
    cjid = contact.boundjid.bare
    deadline = time.monotonic() + 10
    while (await roster(owner)).get(cjid, ('none',))[0] not in ('from', 'both'):
        assert time.monotonic() < deadline, await roster(owner)
        await asyncio.sleep(0.1)


async def create(c, node, model, groups=()):
    fields = ("<field var='FORM_TYPE' type='hidden'><value>%s#node_config</value></field>"
              "<field var='pubsub#access_model'><value>%s</value></field>" % (NS, model))
    if groups:
        fields += "<field var='pubsub#roster_groups_allowed'>%s</field>" % ''.join(
            '<value>%s</value>' % g for g in groups)
    return await P.ask(c, 'set', "<pubsub xmlns='%s'><create node='%s'/><configure>"
                       "<x xmlns='jabber:x:data' type='submit'>%s</x></configure></pubsub>"
                       % (NS, node, fields))


def item_ids(ev):
    return [i.get('id') for i in ev.find('{%s}items' % P.NS_EVENT)]


@pytest.mark.timeout(180)
def test_presence_model(router):
    d = P.start(router, roster_cache='%dms' % (CACHE * 1000))
    try:
        async def main():
            j = await P.login(d, 'juliet')
            rm = await P.login(d, 'romeo')
            nu = await P.login(d, 'nurse')
            ty = await P.login(d, 'tybalt')
            ps = j['xep_0060']
            await share_presence(j, rm)
            # nurse is in juliet's roster, but may not see her presence.
            await roster_set(j, 'nurse@localhost', groups=['Family'])
            await P.expect(await create(j, 'diary', 'presence'))
            el = await P.expect(await P.call(ps.get_node_config(SERVICE, 'diary')))
            x = el.find('{%s}pubsub/{%s}configure/{%s}x' % (NS_OWNER, NS_OWNER, P.NS_DATA))
            assert P.form_values(x)['pubsub#access_model'] == ['presence']
            await P.expect(await P.call(ps.publish(SERVICE, 'diary', id='d0', payload=P.payload('zero'))))

            # Subscribe: romeo may, nurse and tybalt may not.
            await P.expect(await P.call(rm['xep_0060'].subscribe(SERVICE, 'diary')))
            for c in (nu, ty):
                await P.expect(await P.call(c['xep_0060'].subscribe(SERVICE, 'diary')),
                               'auth', 'not-authorized', 'presence-subscription-required')
            # Retrieve: romeo may, without a subscription of his own too; the others not.
            el = await P.expect(await P.call(rm['xep_0060'].get_items(SERVICE, 'diary')))
            assert [i.get('id') for i in el.find('{%s}pubsub/{%s}items' % (NS, NS))] == ['d0']
            await P.expect(await P.call(ty['xep_0060'].get_items(SERVICE, 'diary')),
                           'auth', 'not-authorized', 'presence-subscription-required')
            # The owner needs nobody's word.
            await P.expect(await P.call(ps.subscribe(SERVICE, 'diary')))

            # Notifications: romeo and juliet; nurse subscribed before the
            # node changed models and is not told.
            await P.expect(await create(j, 'plans', 'open'))
            await P.expect(await P.call(nu['xep_0060'].subscribe(SERVICE, 'plans')))
            await P.expect(await P.call(rm['xep_0060'].subscribe(SERVICE, 'plans')))
            await P.expect(await P.ask(j, 'set', "<pubsub xmlns='%s'><configure node='plans'>%s</configure>"
                                       "</pubsub>" % (NS_OWNER, P.form_xml(
                                           'submit', NS + '#node_config',
                                           **{'pubsub#access_model': 'presence'}))))
            await P.expect(await P.call(ps.publish(SERVICE, 'plans', id='p1', payload=P.payload('ball'))))
            assert item_ids((await P.events(rm, 1))[0]) == ['p1']
            await P.no_event(nu)

            # Several items while the answer about tybalt is outstanding
            # arrive in publish order: tybalt first gets presence rights.
            await share_presence(j, ty)
            await asyncio.sleep(CACHE + 0.3)  # the cached "none" for tybalt expires
            await P.expect(await P.call(ty['xep_0060'].subscribe(SERVICE, 'diary')))
            await asyncio.sleep(CACHE + 0.3)
            futures = [P.call(ps.publish(SERVICE, 'diary', id='o%d' % i, payload=P.payload(str(i))))
                       for i in range(6)]
            for f in futures:
                await P.expect(await f)
            got = [i for ev in await P.events(ty, 6) for i in item_ids(ev)]
            assert got == ['o%d' % i for i in range(6)], got
            got = [i for ev in await P.events(rm, 6) for i in item_ids(ev)]
            assert got == ['o%d' % i for i in range(6)], got

            # juliet drops romeo: once the cache expires he is refused and
            # no longer notified, though his subscription is still there.
            await roster_set(j, 'romeo@localhost', remove=True)
            await asyncio.sleep(CACHE + 0.3)
            await P.expect(await P.call(ps.publish(SERVICE, 'diary', id='after', payload=P.payload('x'))))
            assert item_ids((await P.events(ty, 1))[0]) == ['after']
            await P.no_event(rm)
            await P.expect(await P.call(rm['xep_0060'].get_items(SERVICE, 'diary')),
                           'auth', 'not-authorized', 'presence-subscription-required')
            el = await P.expect(await P.call(rm['xep_0060'].get_subscriptions(SERVICE, 'diary')))
            assert len(el.find('{%s}pubsub/{%s}subscriptions' % (NS, NS))) == 1
            await P.logout_all(d)
        asyncio.run(main())
    finally:
        d.stop()


@pytest.mark.timeout(180)
def test_roster_model_and_remote_owner(router):
    d = P.start(router, roster_cache='%dms' % (CACHE * 1000), create_nodes='anyone')
    try:
        async def main():
            j = await P.login(d, 'juliet')
            rm = await P.login(d, 'romeo')
            nu = await P.login(d, 'nurse')
            ty = await P.login(d, 'tybalt')
            ps = j['xep_0060']
            await roster_set(j, 'nurse@localhost', groups=['Family', 'Verona'])
            await roster_set(j, 'tybalt@localhost', groups=['Capulets'])
            await share_presence(j, rm)  # presence rights do not count here
            await P.expect(await create(j, 'family', 'roster', groups=['Family', 'Servants']))
            el = await P.expect(await P.call(ps.get_node_config(SERVICE, 'family')))
            x = el.find('{%s}pubsub/{%s}configure/{%s}x' % (NS_OWNER, NS_OWNER, P.NS_DATA))
            vals = P.form_values(x)
            assert vals['pubsub#access_model'] == ['roster']
            assert vals['pubsub#roster_groups_allowed'] == ['Family', 'Servants'], vals
            await P.expect(await P.call(ps.publish(SERVICE, 'family', id='f0', payload=P.payload('f'))))

            await P.expect(await P.call(nu['xep_0060'].subscribe(SERVICE, 'family')))
            for c in (rm, ty):
                await P.expect(await P.call(c['xep_0060'].subscribe(SERVICE, 'family')),
                               'auth', 'not-authorized', 'not-in-roster-group')
                await P.expect(await P.call(c['xep_0060'].get_items(SERVICE, 'family')),
                               'auth', 'not-authorized', 'not-in-roster-group')
            el = await P.expect(await P.call(nu['xep_0060'].get_items(SERVICE, 'family')))
            assert [i.get('id') for i in el.find('{%s}pubsub/{%s}items' % (NS, NS))] == ['f0']

            # tybalt joins the Family group: after the cache expires he may
            # subscribe; nurse leaves it and is no longer notified.
            await roster_set(j, 'tybalt@localhost', groups=['Capulets', 'Family'])
            await roster_set(j, 'nurse@localhost', groups=['Verona'])
            await asyncio.sleep(CACHE + 0.3)
            await P.expect(await P.call(ty['xep_0060'].subscribe(SERVICE, 'family')))
            await P.expect(await P.call(ps.publish(SERVICE, 'family', id='f1', payload=P.payload('g'))))
            assert item_ids((await P.events(ty, 1))[0]) == ['f1']
            await P.no_event(nu)
            await P.expect(await P.call(nu['xep_0060'].get_items(SERVICE, 'family')),
                           'auth', 'not-authorized', 'not-in-roster-group')

            # An owner on a domain not served here: sm cannot be asked.
            gw = connect_component(d.r, 'remote.example')
            try:
                form = P.form_xml('submit', NS + '#node_config', **{'pubsub#access_model': 'presence'})
                gw.send(iq('set', 'rc1', "<pubsub xmlns='%s'><create node='far'/><configure>%s</configure>"
                           "</pubsub>" % (NS, form), to=SERVICE, frm='x@remote.example'))
                reply = gw.wait_for(lambda e: e.get('id') == 'rc1', 10)
                assert reply.get('type') == 'error', ET.tostring(reply)
                err = [c for c in reply if local(c) == 'error'][0]
                assert err.get('type') == 'modify'
                assert err.find('{%s}not-acceptable' % P.NS_STANZAS) is not None
                assert err.find('{%s}unsupported-access-model' % P.NS_ERRORS) is not None
                assert 'account on this server' in err.find('{%s}text' % P.NS_STANZAS).text
                # An open node it may create, but not turn into a presence node.
                gw.send(iq('set', 'rc2', "<pubsub xmlns='%s'><create node='far'/></pubsub>" % NS,
                           to=SERVICE, frm='x@remote.example'))
                assert gw.wait_for(lambda e: e.get('id') == 'rc2', 10).get('type') == 'result'
                gw.send(iq('set', 'rc3', "<pubsub xmlns='%s'><configure node='far'>%s</configure></pubsub>"
                           % (NS_OWNER, form), to=SERVICE, frm='x@remote.example'))
                reply = gw.wait_for(lambda e: e.get('id') == 'rc3', 10)
                assert reply.get('type') == 'error', ET.tostring(reply)
            finally:
                gw.close()
            await P.logout_all(d)
        asyncio.run(main())
    finally:
        d.stop()
