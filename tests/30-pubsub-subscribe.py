"""junction-pubsub, subscribers and the owner's management of them, with
real slixmpp clients (XEP-0060 5.6, 5.7, 6.1-6.4, 8.6-8.9): subscribe with a
subid, unsubscribe, subscription options, own subscriptions and
affiliations; the errors for a missing node, someone else's JID, no
subscription, a wrong subid; the authorize access model (pending, the
owner's approval form, the decision taking effect), whitelist, outcasts."""

import asyncio
import importlib.util
import os
import xml.etree.ElementTree as ET

import pytest

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('pubsub_common', os.path.join(_here, '30-pubsub-common.py'))
P = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(P)

pytestmark = pytest.mark.skipif(not os.access(P.PUBSUB_BIN, os.X_OK), reason='junction-pubsub not built')
NS, NS_OWNER, SERVICE = P.NS, P.NS_OWNER, P.SERVICE


def _sub(el):
    return el.find('{%s}pubsub/{%s}subscription' % (NS, NS))


@pytest.mark.timeout(120)
def test_subscribe_unsubscribe_options(router):
    d = P.start(router)
    try:
        async def main():
            j = await P.login(d, 'juliet')
            rm = await P.login(d, 'romeo')
            ps, rps = j['xep_0060'], rm['xep_0060']
            await P.expect(await P.call(ps.create_node(SERVICE, 'n')))
            await P.expect(await P.call(ps.create_node(SERVICE, 'other')))
            # Subscribe: subscribed, with a subid; again: the same one.
            s1 = _sub(await P.expect(await P.call(rps.subscribe(SERVICE, 'n'))))
            assert (s1.get('node'), s1.get('jid'), s1.get('subscription')) == \
                ('n', 'romeo@localhost', 'subscribed')
            assert s1.get('subid')
            s2 = _sub(await P.expect(await P.call(rps.subscribe(SERVICE, 'n'))))
            assert s2.get('subid') == s1.get('subid')
            # A full JID is a subscription of its own.
            s3 = _sub(await P.expect(await P.call(rps.subscribe(SERVICE, 'other', bare=False))))
            assert s3.get('jid') == 'romeo@localhost/home'
            # Errors: no such node; someone else's JID; no node id.
            await P.expect(await P.call(rps.subscribe(SERVICE, 'ghost')), 'cancel', 'item-not-found')
            await P.expect(await P.call(rps.subscribe(SERVICE, 'n', subscribee='juliet@localhost')),
                           'modify', 'bad-request', 'invalid-jid')
            await P.expect(await P.ask(rm, 'set', "<pubsub xmlns='%s'><subscribe jid='romeo@localhost'/>"
                                       "</pubsub>" % NS), 'modify', 'bad-request', 'nodeid-required')
            # Own subscriptions and affiliations.
            el = await P.expect(await P.call(rps.get_subscriptions(SERVICE)))
            got = {(s.get('node'), s.get('jid'), s.get('subscription'))
                   for s in el.find('{%s}pubsub/{%s}subscriptions' % (NS, NS))}
            assert got == {('n', 'romeo@localhost', 'subscribed'),
                           ('other', 'romeo@localhost/home', 'subscribed')}, got
            el = await P.expect(await P.call(ps.get_affiliations(SERVICE)))
            got = {(a.get('node'), a.get('affiliation'))
                   for a in el.find('{%s}pubsub/{%s}affiliations' % (NS, NS))}
            assert got == {('n', 'owner'), ('other', 'owner')}, got
            el = await P.expect(await P.call(rps.get_affiliations(SERVICE, 'n')))
            assert len(el.find('{%s}pubsub/{%s}affiliations' % (NS, NS))) == 0
            # Options: a form with pubsub#deliver; set it off, then on.
            el = await P.expect(await P.call(rps.get_subscription_options(SERVICE, 'n', 'romeo@localhost')))
            x = el.find('{%s}pubsub/{%s}options/{%s}x' % (NS, NS, P.NS_DATA))
            assert P.form_values(x)['pubsub#deliver'] == ['1']
            await P.expect(await P.ask(rm, 'set', "<pubsub xmlns='%s'><options node='n' jid='romeo@localhost'>"
                                       "%s</options></pubsub>" % (NS, P.form_xml(
                                           'submit', NS + '#subscribe_options', **{'pubsub#deliver': '0'}))))
            await P.expect(await P.call(ps.publish(SERVICE, 'n', payload=P.payload('quiet'))))
            await P.no_event(rm)
            await P.expect(await P.ask(rm, 'set', "<pubsub xmlns='%s'><options node='n' jid='romeo@localhost'>"
                                       "%s</options></pubsub>" % (NS, P.form_xml(
                                           'submit', NS + '#subscribe_options', **{'pubsub#deliver': 'true'}))))
            await P.expect(await P.call(ps.publish(SERVICE, 'n', payload=P.payload('loud'))))
            await P.events(rm, 1)
            # Options errors: bad field, other's JID, not subscribed, wrong subid, no jid.
            await P.expect(await P.ask(rm, 'set', "<pubsub xmlns='%s'><options node='n' jid='romeo@localhost'>"
                                       "%s</options></pubsub>" % (NS, P.form_xml(
                                           'submit', None, **{'pubsub#colour': 'red'}))),
                           'modify', 'bad-request', 'invalid-options')
            await P.expect(await P.ask(rm, 'get', "<pubsub xmlns='%s'><options node='n' jid='juliet@localhost'/>"
                                       "</pubsub>" % NS), 'auth', 'forbidden')
            await P.expect(await P.ask(j, 'get', "<pubsub xmlns='%s'><options node='n' jid='juliet@localhost'/>"
                                       "</pubsub>" % NS), 'modify', 'unexpected-request', 'not-subscribed')
            await P.expect(await P.ask(rm, 'get', "<pubsub xmlns='%s'><options node='n' jid='romeo@localhost' "
                                       "subid='nope'/></pubsub>" % NS), 'modify', 'not-acceptable', 'invalid-subid')
            await P.expect(await P.ask(rm, 'get', "<pubsub xmlns='%s'><options node='n'/></pubsub>" % NS),
                           'modify', 'bad-request', 'jid-required')
            # Default subscription options.
            el = await P.expect(await P.ask(rm, 'get', "<pubsub xmlns='%s'><default/></pubsub>" % NS))
            assert P.form_values(el.find('{%s}pubsub/{%s}default/{%s}x' % (NS, NS, P.NS_DATA)))['pubsub#deliver'] == ['1']
            # Unsubscribe: wrong subid, then right; then not subscribed; other's JID.
            await P.expect(await P.call(rps.unsubscribe(SERVICE, 'n', subid='nope')),
                           'modify', 'not-acceptable', 'invalid-subid')
            await P.expect(await P.call(rps.unsubscribe(SERVICE, 'n', subid=s1.get('subid'))))
            await P.expect(await P.call(rps.unsubscribe(SERVICE, 'n')),
                           'cancel', 'unexpected-request', 'not-subscribed')
            await P.expect(await P.call(rps.unsubscribe(SERVICE, 'n', subscribee='juliet@localhost')),
                           'auth', 'forbidden')
            await P.expect(await P.call(rps.unsubscribe(SERVICE, 'ghost')), 'cancel', 'item-not-found')
            await P.expect(await P.call(ps.publish(SERVICE, 'n', payload=P.payload('gone'))))
            await P.no_event(rm)
            await P.logout_all(d)
        asyncio.run(main())
    finally:
        d.stop()


@pytest.mark.timeout(120)
def test_authorize_whitelist_outcast_and_management(router):
    d = P.start(router)
    try:
        async def main():
            j = await P.login(d, 'juliet')
            rm = await P.login(d, 'romeo')
            n = await P.login(d, 'nurse')
            t = await P.login(d, 'tybalt')
            ps = j['xep_0060']
            await P.expect(await P.call(ps.create_node(SERVICE, 'auth', config=P.config_form(
                j, access_model='authorize'))))
            await P.expect(await P.call(ps.publish(SERVICE, 'auth', id='secret', payload=P.payload('s'))))
            # Pending; items not for the pending; asking again: pending-subscription.
            s = _sub(await P.expect(await P.call(rm['xep_0060'].subscribe(SERVICE, 'auth'))))
            assert s.get('subscription') == 'pending'
            await P.expect(await P.call(rm['xep_0060'].get_items(SERVICE, 'auth')),
                           'auth', 'not-authorized', 'not-subscribed')
            await P.expect(await P.call(rm['xep_0060'].subscribe(SERVICE, 'auth')),
                           'auth', 'not-authorized', 'pending-subscription')
            # The owner gets the approval form and approves.
            form = await P.next_message(j, lambda m: m.find('{%s}x' % P.NS_DATA) is not None)
            x = form.find('{%s}x' % P.NS_DATA)
            vals = P.form_values(x)
            assert vals['FORM_TYPE'] == [NS + '#subscribe_authorization']
            assert vals['pubsub#node'] == ['auth'] and vals['pubsub#subscriber_jid'] == ['romeo@localhost']
            assert vals['pubsub#subid'] == [s.get('subid')]
            answer = P.form_xml('submit', NS + '#subscribe_authorization', **{
                'pubsub#subid': s.get('subid'), 'pubsub#node': 'auth',
                'pubsub#subscriber_jid': 'romeo@localhost', 'pubsub#allow': 'true'})
            # Someone who is not an owner cannot approve: nothing happens.
            m = n.make_message(mto=SERVICE)
            m.append(ET.fromstring(answer))
            m.send()
            await asyncio.sleep(0.5)
            el = await P.expect(await P.call(ps.get_node_subscriptions(SERVICE, 'auth')))
            subs = el.find('{%s}pubsub/{%s}subscriptions' % (NS_OWNER, NS_OWNER))
            assert [(x.get('jid'), x.get('subscription')) for x in subs] == [('romeo@localhost', 'pending')]
            m = j.make_message(mto=SERVICE)
            m['id'] = form.get('id')
            m.append(ET.fromstring(answer))
            m.send()
            ev = (await P.events(rm, 1))[0]
            sub_ev = ev.find('{%s}subscription' % P.NS_EVENT)
            assert (sub_ev.get('node'), sub_ev.get('subscription')) == ('auth', 'subscribed')
            el = await P.expect(await P.call(rm['xep_0060'].get_items(SERVICE, 'auth')))
            assert [i.get('id') for i in el.find('{%s}pubsub/{%s}items' % (NS, NS))] == ['secret']
            # Nurse asks; the owner denies: her subscription is gone.
            s = _sub(await P.expect(await P.call(n['xep_0060'].subscribe(SERVICE, 'auth'))))
            form = await P.next_message(j, lambda m: m.find('{%s}x' % P.NS_DATA) is not None)
            m = j.make_message(mto=SERVICE)
            m['id'] = form.get('id')
            m.append(ET.fromstring(P.form_xml('submit', NS + '#subscribe_authorization', **{
                'pubsub#subid': s.get('subid'), 'pubsub#node': 'auth',
                'pubsub#subscriber_jid': 'nurse@localhost', 'pubsub#allow': 'false'})))
            m.send()
            ev = (await P.events(n, 1))[0]
            assert ev.find('{%s}subscription' % P.NS_EVENT).get('subscription') == 'none'
            el = await P.expect(await P.call(n['xep_0060'].get_subscriptions(SERVICE)))
            assert len(el.find('{%s}pubsub/{%s}subscriptions' % (NS, NS))) == 0

            # Whitelist: strangers are turned away until made members.
            await P.expect(await P.call(ps.create_node(SERVICE, 'club', config=P.config_form(
                j, access_model='whitelist'))))
            await P.expect(await P.call(t['xep_0060'].subscribe(SERVICE, 'club')),
                           'cancel', 'not-allowed', 'closed-node')
            await P.expect(await P.call(t['xep_0060'].get_items(SERVICE, 'club')),
                           'cancel', 'not-allowed', 'closed-node')
            await P.expect(await P.call(ps.modify_affiliations(SERVICE, 'club', [
                ('tybalt@localhost', 'member'), ('nurse@localhost', 'publisher')])))
            await P.expect(await P.call(t['xep_0060'].subscribe(SERVICE, 'club')))
            el = await P.expect(await P.call(ps.get_node_affiliations(SERVICE, 'club')))
            affs = {(a.get('jid'), a.get('affiliation'))
                    for a in el.find('{%s}pubsub/{%s}affiliations' % (NS_OWNER, NS_OWNER))}
            assert affs == {('juliet@localhost', 'owner'), ('tybalt@localhost', 'member'),
                            ('nurse@localhost', 'publisher')}, affs
            # Affiliation management errors: not the owner, bad value, no owner left.
            await P.expect(await P.call(t['xep_0060'].get_node_affiliations(SERVICE, 'club')), 'auth', 'forbidden')
            await P.expect(await P.call(ps.modify_affiliations(SERVICE, 'club', [
                ('tybalt@localhost', 'king')])), 'modify', 'not-acceptable')
            await P.expect(await P.call(ps.modify_affiliations(SERVICE, 'club', [
                ('juliet@localhost', 'none')])), 'modify', 'not-acceptable')
            # Outcast: loses the subscription, may not subscribe, retrieve or publish.
            await P.expect(await P.call(ps.modify_affiliations(SERVICE, 'club', [
                ('tybalt@localhost', 'outcast')])))
            ev = (await P.events(t, 1))[0]
            assert ev.find('{%s}subscription' % P.NS_EVENT).get('subscription') == 'none'
            await P.expect(await P.call(t['xep_0060'].subscribe(SERVICE, 'club')), 'auth', 'forbidden')
            await P.expect(await P.call(t['xep_0060'].get_items(SERVICE, 'club')), 'auth', 'forbidden')
            await P.expect(await P.call(t['xep_0060'].publish(SERVICE, 'club', payload=P.payload('x'))),
                           'auth', 'forbidden')
            # Subscription management by the owner: add, list, remove.
            await P.expect(await P.call(ps.modify_subscriptions(SERVICE, 'club', [
                ('nurse@localhost', 'subscribed')])))
            ev = (await P.events(n, 1))[0]
            assert ev.find('{%s}subscription' % P.NS_EVENT).get('subscription') == 'subscribed'
            el = await P.expect(await P.call(ps.get_node_subscriptions(SERVICE, 'club')))
            subs = [(x.get('jid'), x.get('subscription'))
                    for x in el.find('{%s}pubsub/{%s}subscriptions' % (NS_OWNER, NS_OWNER))]
            assert subs == [('nurse@localhost', 'subscribed')], subs
            await P.expect(await P.call(ps.modify_subscriptions(SERVICE, 'club', [
                ('nurse@localhost', 'banana')])), 'modify', 'not-acceptable')
            await P.expect(await P.call(n['xep_0060'].get_node_subscriptions(SERVICE, 'club')),
                           'auth', 'forbidden')
            await P.expect(await P.call(ps.modify_subscriptions(SERVICE, 'club', [
                ('nurse@localhost', 'none')])))
            el = await P.expect(await P.call(ps.get_node_subscriptions(SERVICE, 'club')))
            assert len(el.find('{%s}pubsub/{%s}subscriptions' % (NS_OWNER, NS_OWNER))) == 0
            await P.expect(await P.call(ps.get_node_subscriptions(SERVICE, 'ghost')), 'cancel', 'item-not-found')
            await P.logout_all(d)
        asyncio.run(main())
    finally:
        d.stop()
