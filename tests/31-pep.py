"""PEP (XEP-0163) with entity capabilities (XEP-0115): every account is a
virtual pubsub service on its bare JID, served by junction-pubsub through
sm (docs/components.md section 8). Real router, sm, c2s and pubsub; slixmpp
clients whose caps (xep_0115) say which nodes they want (+notify).

juliet owns the PEP nodes; romeo and nurse share presence with her, romeo
wants tune notifications and nurse does not; tybalt wants them but may not
see juliet's presence."""

import asyncio
import importlib.util
import os
import xml.etree.ElementTree as ET

import pytest

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('pubsub_common', os.path.join(_here, '30-pubsub-common.py'))
P = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(P)
_spec = importlib.util.spec_from_file_location('access_models',
                                               os.path.join(_here, '30-pubsub-access-models.py'))
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)

from junction_helpers import connect_component  # noqa: E402

pytestmark = pytest.mark.skipif(not os.access(P.PUBSUB_BIN, os.X_OK), reason='junction-pubsub not built')
NS, NS_OWNER, NS_EVENT = P.NS, P.NS_OWNER, P.NS_EVENT
NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'
TUNE = 'http://jabber.org/protocol/tune'
JULIET = 'juliet@localhost'


async def login(d, user, resource='home', interests=()):
    """P.login with entity caps announcing NODE+notify for each interest."""
    async def caps(c):
        for ns in interests:
            c['xep_0030'].add_feature('%s+notify' % ns)
        await c['xep_0115'].update_caps(broadcast=False)
    return await P.login(d, user, resource, plugins=('xep_0115', 'xep_0163'), before_presence=caps)


async def mutual(owner, contact):
    """contact and owner see each other's presence (slixmpp approves and
    subscribes back on its own)."""
    await A.share_presence(owner, contact, owner_jid=JULIET)
    await asyncio.sleep(0.5)


def tune(title):
    return ET.fromstring("<tune xmlns='%s'><title>%s</title></tune>" % (TUNE, title))


async def publish(c, node, item_id, payload, options=None):
    return await P.call(c['xep_0060'].publish(None, node, id=item_id, payload=payload, options=options))


def event_items(m, node):
    ev = m.find('{%s}event' % NS_EVENT)
    if ev is None:
        return None
    items = ev.find('{%s}items' % NS_EVENT)
    if items is None or items.get('node') != node:
        return None
    return [i.get('id') for i in items.findall('{%s}item' % NS_EVENT)]


async def pep_event(c, node, timeout=10):
    """The next event of node: (from, item ids)."""
    m = await P.next_message(c, lambda m: event_items(m, node) is not None, timeout)
    return m.get('from'), event_items(m, node)


async def no_pep_event(c, node, wait=1.5):
    await asyncio.sleep(wait)
    while not c.messages.empty():
        m = c.messages.get_nowait()
        assert event_items(m, node) is None, ET.tostring(m)


def publish_options(c, **fields):
    form = c['xep_0004'].make_form(ftype='submit')
    form.add_field(var='FORM_TYPE', ftype='hidden', value=NS + '#publish-options')
    for k, v in fields.items():
        form.add_field(var='pubsub#' + k, value=v)
    return form


@pytest.mark.timeout(240)
def test_pep_caps_notifications_access_and_restart(router):
    d = P.start(router)
    try:
        async def main():
            j = await login(d, 'juliet', interests=(TUNE,))
            rm = await login(d, 'romeo', interests=(TUNE,))
            nu = await login(d, 'nurse')
            ty = await login(d, 'tybalt', interests=(TUNE,))
            await mutual(j, rm)
            await mutual(j, nu)

            # The account's disco#info shows PEP.
            el = await P.expect(await P.ask(j, 'get', "<query xmlns='%s'/>" % NS_INFO, to=JULIET))
            q = el.find('{%s}query' % NS_INFO)
            assert ('pubsub', 'pep') in [(i.get('category'), i.get('type')) for i in q.findall('{%s}identity' % NS_INFO)]
            feats = {f.get('var') for f in q.findall('{%s}feature' % NS_INFO)}
            assert {NS + '#publish', NS + '#auto-create', NS + '#publish-options',
                    NS + '#access-presence'} <= feats, feats

            # Publish without 'to' auto-creates the node with PEP defaults.
            el = await P.expect(await publish(j, TUNE, 't1', tune('one')))
            assert el.find('{%s}pubsub/{%s}publish' % (NS, NS)).get('node') == TUNE
            el = await P.expect(await P.call(j['xep_0060'].get_node_config(JULIET, TUNE)))
            x = el.find('{%s}pubsub/{%s}configure/{%s}x' % (NS_OWNER, NS_OWNER, P.NS_DATA))
            values = P.form_values(x)
            assert values['pubsub#access_model'] == ['presence'], values
            assert values['pubsub#max_items'] == ['1'], values

            # romeo (+notify, may see juliet's presence) is told, from her
            # bare JID; juliet's own resource too; nurse (no +notify) and
            # tybalt (no presence subscription) are not.
            frm, ids = await pep_event(rm, TUNE)
            assert (frm, ids) == (JULIET, ['t1'])
            frm, ids = await pep_event(j, TUNE)
            assert (frm, ids) == (JULIET, ['t1'])
            await no_pep_event(nu, TUNE, wait=0.5)
            await no_pep_event(ty, TUNE, wait=0.5)

            # Retrieval: romeo may, tybalt may not (XEP-0060 6.5.4).
            el = await P.expect(await P.call(rm['xep_0060'].get_items(JULIET, TUNE)))
            assert [i.get('id') for i in el.find('{%s}pubsub/{%s}items' % (NS, NS))] == ['t1']
            await P.expect(await P.call(ty['xep_0060'].get_items(JULIET, TUNE)),
                           'auth', 'not-authorized', 'presence-subscription-required')

            # disco#items of the account: juliet sees her resource and node,
            # romeo the node, tybalt (no subscription) nothing at all.
            el = await P.expect(await P.ask(j, 'get', "<query xmlns='%s'/>" % NS_ITEMS, to=JULIET))
            items = [(i.get('jid'), i.get('node')) for i in el.find('{%s}query' % NS_ITEMS)]
            assert (JULIET, TUNE) in items and ('juliet@localhost/home', None) in items, items
            el = await P.expect(await P.ask(rm, 'get', "<query xmlns='%s'/>" % NS_ITEMS, to=JULIET))
            assert (JULIET, TUNE) in [(i.get('jid'), i.get('node')) for i in el.find('{%s}query' % NS_ITEMS)]
            await P.expect(await P.ask(ty, 'get', "<query xmlns='%s'/>" % NS_ITEMS, to=JULIET),
                           'cancel', 'service-unavailable')

            # Nobody else publishes to juliet's nodes, existing or not.
            await P.expect(await P.call(rm['xep_0060'].publish(JULIET, TUNE, id='x', payload=tune('x'))),
                           'auth', 'forbidden')
            await P.expect(await P.call(rm['xep_0060'].publish(JULIET, 'urn:x:new', id='x',
                                                               payload=tune('x'))),
                           'auth', 'forbidden')

            # juliet's second resource with +notify is told; then a new
            # romeo resource coming online gets the last item at once.
            j2 = await login(d, 'juliet', resource='phone', interests=(TUNE,))
            assert await pep_event(j2, TUNE) == (JULIET, ['t1'])  # the last item, on login
            await P.expect(await publish(j, TUNE, 't2', tune('two')))
            assert await pep_event(j2, TUNE) == (JULIET, ['t2'])
            assert await pep_event(rm, TUNE) == (JULIET, ['t2'])
            rm2 = await login(d, 'romeo', resource='laptop', interests=(TUNE,))
            assert await pep_event(rm2, TUNE) == (JULIET, ['t2'])
            nu2 = await login(d, 'nurse', resource='laptop')
            await no_pep_event(nu2, TUNE, wait=0.5)

            # romeo also subscribes explicitly (his bare JID): still one
            # notification per publish, not one per way of subscribing.
            await P.expect(await P.call(rm['xep_0060'].subscribe(JULIET, TUNE)))
            await P.expect(await publish(j, TUNE, 't2b', tune('two-b')))
            assert await pep_event(rm, TUNE) == (JULIET, ['t2b'])
            await no_pep_event(rm, TUNE, wait=1.0)

            # publish-options as preconditions (XEP-0223 persistent storage).
            opts = publish_options(j, persist_items='true', access_model='whitelist')
            await P.expect(await publish(j, 'storage:bookmarks', 'current',
                                         ET.fromstring("<storage xmlns='storage:bookmarks'/>"), opts))
            await P.expect(await publish(j, 'storage:bookmarks', 'current',
                                         ET.fromstring("<storage xmlns='storage:bookmarks'/>"), opts))
            el = await P.expect(await P.call(j['xep_0060'].get_node_config(JULIET, 'storage:bookmarks')))
            x = el.find('{%s}pubsub/{%s}configure/{%s}x' % (NS_OWNER, NS_OWNER, P.NS_DATA))
            assert P.form_values(x)['pubsub#access_model'] == ['whitelist']
            await P.expect(await publish(j, 'storage:bookmarks', 'current',
                                         ET.fromstring("<storage xmlns='storage:bookmarks'/>"),
                                         publish_options(j, access_model='open')),
                           'cancel', 'conflict', 'precondition-not-met')
            await P.expect(await P.call(rm['xep_0060'].get_items(JULIET, 'storage:bookmarks')),
                           'cancel', 'not-allowed', 'closed-node')
            await P.logout_all(d)
            d.clients.clear()

        asyncio.run(main())

        # kill -9: the PEP nodes and items are still there, and sm tells the
        # new pubsub who is online, so notifications go on.
        d.pubsub.kill9()
        d.pubsub.start()

        async def after():
            j = await login(d, 'juliet', interests=(TUNE,))
            rm = await login(d, 'romeo', interests=(TUNE,))
            assert await pep_event(rm, TUNE) == (JULIET, ['t2b'])
            el = await P.expect(await P.call(j['xep_0060'].get_items(JULIET, TUNE)))
            assert [i.get('id') for i in el.find('{%s}pubsub/{%s}items' % (NS, NS))] == ['t2b']
            el = await P.expect(await P.call(j['xep_0060'].get_items(JULIET, 'storage:bookmarks')))
            assert [i.get('id') for i in el.find('{%s}pubsub/{%s}items' % (NS, NS))] == ['current']
            d.pubsub.kill9()
            d.pubsub.start()
            await asyncio.sleep(1.0)  # sm replays who is online to the new pubsub
            await P.expect(await publish(j, TUNE, 't3', tune('three')))
            assert await pep_event(rm, TUNE) == (JULIET, ['t3'])
            await P.logout_all(d)

        asyncio.run(after())
    finally:
        d.stop()


@pytest.mark.timeout(180)
def test_envelope_is_only_junctions_and_account_deletion_hook(router):
    """Only Junction's own streams speak for an account: a client's forged
    envelope is ignored. The account-removal hook (an envelope with
    <delete/>, what sm_pep_account_deleted() sends) deletes the account's
    PEP nodes. Without pubsub, sm answers as if PEP did not exist."""
    d = P.start(router)
    try:
        async def main():
            j = await login(d, 'juliet', interests=(TUNE,))
            rm = await login(d, 'romeo')
            await P.expect(await publish(j, TUNE, 't1', tune('one')))
            forged = ("<message xmlns='jabber:client' to='%s'><pep xmlns='urn:junction:pep:1' "
                      "service='%s'><delete/></pep></message>" % (P.SERVICE, JULIET))
            rm.send_raw(forged)
            j.send_raw(forged)
            await asyncio.sleep(1.0)
            el = await P.expect(await P.call(j['xep_0060'].get_items(JULIET, TUNE)))
            assert [i.get('id') for i in el.find('{%s}pubsub/{%s}items' % (NS, NS))] == ['t1']

            hook = connect_component(d.r, 'hook.localhost')  # trusted: [router] secret
            hook.send("<message from='localhost' to='%s'><pep xmlns='urn:junction:pep:1' "
                      "service='%s'><delete/></pep></message>" % (P.SERVICE, JULIET))
            await asyncio.sleep(1.0)
            hook.close()
            await P.expect(await P.call(j['xep_0060'].get_items(JULIET, TUNE)),
                           'cancel', 'item-not-found')
            assert 'deleted the PEP nodes of juliet@localhost' in d.pubsub.text()

            d.pubsub.stop()
            await asyncio.sleep(0.5)
            await P.expect(await publish(j, TUNE, 't2', tune('two')), 'cancel', 'service-unavailable')
            el = await P.expect(await P.ask(j, 'get', "<query xmlns='%s'/>" % NS_INFO, to=JULIET))
            q = el.find('{%s}query' % NS_INFO)
            assert 'pep' not in [i.get('type') for i in q.findall('{%s}identity' % NS_INFO)]
            el = await P.expect(await P.ask(j, 'get', "<query xmlns='%s'/>" % NS_ITEMS, to=JULIET))
            assert [i.get('jid') for i in el.find('{%s}query' % NS_ITEMS)] == ['juliet@localhost/home']
            await P.logout_all(d)

        asyncio.run(main())
    finally:
        d.stop()


@pytest.mark.timeout(120)
def test_schema_1_database_is_upgraded(router):
    """A pubsub.db written before PEP (schema 1: node names global) is
    migrated: its nodes, items and publish order stay the pubsub domain's,
    and an account may use the same node name for PEP."""
    import sqlite3
    r = router()
    data_dir = os.path.join(r.workdir, 'data')
    os.makedirs(data_dir, exist_ok=True)
    db = sqlite3.connect(os.path.join(data_dir, 'pubsub.db'))
    db.executescript(SCHEMA_1)
    db.executescript("""
        INSERT INTO schema_version VALUES (1);
        INSERT INTO nodes (name, creator, created) VALUES ('%s', 'juliet@localhost', 0);
        INSERT INTO affiliations VALUES (1, 'juliet@localhost', 'owner');
        INSERT INTO items (node, id, publisher, published, payload)
            VALUES (1, 'old1', 'juliet@localhost', 0, NULL), (1, 'old2', 'juliet@localhost', 0, NULL);
    """ % TUNE)
    db.commit()
    db.close()
    d = P.Deployment(r, {})
    try:
        async def main():
            j = await login(d, 'juliet')
            el = await P.expect(await P.call(j['xep_0060'].get_items(P.SERVICE, TUNE)))
            assert [i.get('id') for i in el.find('{%s}pubsub/{%s}items' % (NS, NS))] == ['old1', 'old2']
            await P.expect(await P.call(j['xep_0060'].publish(P.SERVICE, TUNE, id='new',
                                                              payload=tune('n'))))
            el = await P.expect(await P.call(j['xep_0060'].get_items(P.SERVICE, TUNE)))
            assert [i.get('id') for i in el.find('{%s}pubsub/{%s}items' % (NS, NS))][-1] == 'new'
            await P.expect(await publish(j, TUNE, 'mine', tune('pep')))
            el = await P.expect(await P.call(j['xep_0060'].get_items(JULIET, TUNE)))
            assert [i.get('id') for i in el.find('{%s}pubsub/{%s}items' % (NS, NS))] == ['mine']
            await P.logout_all(d)

        asyncio.run(main())
    finally:
        d.stop()


# pubsub/pubsub-store.c's first schema step, as released (before PEP).
SCHEMA_1 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE nodes (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, creator TEXT NOT NULL,
    created INTEGER NOT NULL);
CREATE TABLE node_config (node INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    var TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (node, var));
CREATE TABLE affiliations (node INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    jid TEXT NOT NULL, affiliation TEXT NOT NULL CHECK (affiliation IN
    ('owner', 'publisher', 'publish-only', 'member', 'outcast')), PRIMARY KEY (node, jid));
CREATE INDEX affiliations_by_jid ON affiliations (jid);
CREATE TABLE subscriptions (seq INTEGER PRIMARY KEY,
    node INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE, jid TEXT NOT NULL,
    bare TEXT NOT NULL, subid TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'unconfigured', 'subscribed')),
    deliver INTEGER NOT NULL CHECK (deliver IN (0, 1)), UNIQUE (node, jid));
CREATE INDEX subscriptions_by_bare ON subscriptions (bare);
CREATE TABLE items (seq INTEGER PRIMARY KEY AUTOINCREMENT,
    node INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE, id TEXT NOT NULL,
    publisher TEXT NOT NULL, published INTEGER NOT NULL, payload TEXT, UNIQUE (node, id));
CREATE INDEX items_by_node ON items (node, seq);
"""
