"""sm's answers that clients rely on, through the real c2s and sm with
slixmpp: service discovery of the server and of accounts (XEP-0030, with
the privacy rule that strangers learn nothing about an account), ping of a
missing account, roster versioning (RFC 6121 2.6) and directed presence
(RFC 6121 4.6: whoever got a user's directed presence hears that it went
offline)."""

import asyncio
import os

import pytest

from conftest import BUILD_DIR
from junction_helpers import load_test_file
from fake_sm import C2SProcess


sm_session = load_test_file('sm_session', '19-sm-session.py')
real_sm = load_test_file('real_sm', '20-c2s-real-sm.py')

NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_ROSTER = 'jabber:iq:roster'

pytestmark = pytest.mark.skipif(not os.access(os.path.join(BUILD_DIR, 'junction-sm'), os.X_OK),
                                reason='junction-sm not built')


@pytest.fixture
def im(router):
    r = router()
    for user in ('juliet', 'romeo', 'nurse'):
        sm_session.adduser(r, '%s@localhost' % user, 'pw-' + user)
    c2s = C2SProcess(r, r.workdir)
    sm = sm_session.Sm(r)
    try:
        c2s.start()
        yield c2s
    finally:
        c2s.stop()
        sm.stop()


async def _login(user, port):
    c = real_sm._client(user, 'pw-' + user, port)
    await asyncio.wait_for(c.wait_until('session_start'), 30)
    return c


async def _ask(c, to, ns, payload=None):
    """Send an iq get with <query xmlns=ns/> (or payload) and return
    ('result', xml) or ('error', condition)."""
    from slixmpp.exceptions import IqError
    iq = c.make_iq_get(queryxmlns=ns, ito=to)
    if payload is not None:
        iq.clear()
        iq['to'], iq['type'] = to, 'get'
        iq.append(payload)
    try:
        res = await iq.send(timeout=15)
        return 'result', res.xml
    except IqError as e:
        return 'error', e.iq['error']['condition']


def _features(xml):
    q = xml.find('{%s}query' % NS_INFO)
    ids = [(i.get('category'), i.get('type')) for i in q.findall('{%s}identity' % NS_INFO)]
    return ids, {f.get('var') for f in q.findall('{%s}feature' % NS_INFO)}


@pytest.mark.timeout(120)
def test_disco_of_server_and_accounts(im):
    result = {}

    async def main():
        j = await _login('juliet', im.port)
        rm = await _login('romeo', im.port)
        j.send_presence()
        rm.send_presence()
        await asyncio.sleep(0.5)
        result['server_info'] = await _ask(j, 'localhost', NS_INFO)
        result['server_items'] = await _ask(j, 'localhost', NS_ITEMS)
        result['own_info'] = await _ask(j, 'juliet@localhost', NS_INFO)
        result['own_items'] = await _ask(j, 'juliet@localhost', NS_ITEMS)
        # romeo has no subscription to juliet: he learns nothing.
        result['stranger_info'] = await _ask(rm, 'juliet@localhost', NS_INFO)
        result['stranger_items'] = await _ask(rm, 'juliet@localhost', NS_ITEMS)
        result['missing_info'] = await _ask(rm, 'ghost@localhost', NS_INFO)
        from slixmpp.xmlstream import ET
        ping = ET.Element('{urn:xmpp:ping}ping')
        result['missing_ping'] = await _ask(rm, 'ghost@localhost', None, ping)
        result['own_ping'] = await _ask(j, 'juliet@localhost', None, ET.Element('{urn:xmpp:ping}ping'))
        result['node'] = await _ask(j, 'localhost', None,
                                    ET.Element('{%s}query' % NS_INFO, {'node': 'nothing-here'}))
        # juliet lets romeo see her presence: now he may.
        j.send_presence(pto='romeo@localhost', ptype='subscribed')
        await asyncio.sleep(1.0)
        result['contact_info'] = await _ask(rm, 'juliet@localhost', NS_INFO)
        for c in (j, rm):
            c.disconnect()
        await asyncio.sleep(0.3)

    asyncio.run(main())
    kind, xml = result['server_info']
    assert kind == 'result'
    ids, feats = _features(xml)
    assert ('server', 'im') in ids
    assert {NS_INFO, NS_ITEMS, 'urn:xmpp:ping', 'msgoffline'} <= feats, feats
    kind, xml = result['server_items']
    assert kind == 'result' and xml.find('{%s}query' % NS_ITEMS) is not None
    kind, xml = result['own_info']
    assert kind == 'result' and ('account', 'registered') in _features(xml)[0]
    kind, xml = result['own_items']
    assert kind == 'result'
    items = [i.get('jid') for i in xml.find('{%s}query' % NS_ITEMS)]
    assert items == ['juliet@localhost/home'], items
    assert result['stranger_info'] == ('error', 'service-unavailable')
    assert result['stranger_items'] == ('error', 'service-unavailable')
    assert result['missing_info'] == ('error', 'service-unavailable')
    assert result['missing_ping'] == ('error', 'service-unavailable')
    assert result['own_ping'][0] == 'result'
    assert result['node'] == ('error', 'item-not-found')
    kind, xml = result['contact_info']
    assert kind == 'result' and ('account', 'registered') in _features(xml)[0], result


@pytest.mark.timeout(120)
def test_roster_versioning(im):
    result = {}

    async def main():
        from slixmpp.xmlstream import ET
        j = await _login('juliet', im.port)
        result['features'] = set(j.features)  # the stream feature was seen
        first = await _ask(j, 'juliet@localhost', NS_ROSTER)
        ver = first[1].find('{%s}query' % NS_ROSTER).get('ver')
        result['ver'] = ver
        same = ET.Element('{%s}query' % NS_ROSTER, {'ver': ver})
        result['same'] = await _ask(j, 'juliet@localhost', None, same)
        # A change moves the version on; the old one then gets the roster.
        await j.update_roster('nurse@localhost', name='Nurse')
        stale = ET.Element('{%s}query' % NS_ROSTER, {'ver': ver})
        result['stale'] = await _ask(j, 'juliet@localhost', None, stale)
        j.disconnect()
        await asyncio.sleep(0.3)

    asyncio.run(main())
    assert 'rosterver' in result['features'], result['features']
    assert result['ver'] is not None
    kind, xml = result['same']
    assert kind == 'result' and len(list(xml)) == 0, xml  # empty: nothing changed
    kind, xml = result['stale']
    q = xml.find('{%s}query' % NS_ROSTER)
    assert kind == 'result' and q is not None and q.get('ver') != result['ver']
    assert [i.get('jid') for i in q] == ['nurse@localhost']


@pytest.mark.timeout(120)
def test_directed_presence_hears_unavailable(im):
    """juliet sends directed presence to romeo (no subscription between
    them); when she goes offline, romeo hears it. The nurse, who got none,
    hears nothing."""
    seen = {'romeo': [], 'nurse': []}

    async def main():
        j = await _login('juliet', im.port)
        rm = await _login('romeo', im.port)
        n = await _login('nurse', im.port)
        for user, c in (('romeo', rm), ('nurse', n)):
            c.add_event_handler('presence_unavailable',
                                lambda p, user=user: seen[user].append(('unavailable', p['from'].full)))
            c.add_event_handler('presence_available',
                                lambda p, user=user: seen[user].append(('available', p['from'].full)))
            c.send_presence()
        j.send_presence()
        await asyncio.sleep(0.3)
        j.send_presence(pto='romeo@localhost/home', pstatus='just for you')
        await asyncio.sleep(0.5)
        j.disconnect()
        await asyncio.sleep(1.0)
        for c in (rm, n):
            c.disconnect()
        await asyncio.sleep(0.3)

    asyncio.run(main())
    assert ('available', 'juliet@localhost/home') in seen['romeo'], seen
    assert ('unavailable', 'juliet@localhost/home') in seen['romeo'], seen
    assert not [e for e in seen['nurse'] if e[1].startswith('juliet@')], seen
