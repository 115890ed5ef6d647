"""The small queries sm answers, through the real c2s and sm with
slixmpp: software version of the server (XEP-0092; off with [sm]
version_query = no: service-unavailable and gone from disco#info), entity
time of the server (XEP-0202), last activity (XEP-0012) of the server
(uptime) and of an account: forbidden without a subscription (and for a
missing account alike), 0 while the account is online, the seconds since
its last logout with the status it left with, kept across kill -9 of sm.
disco#info of the server lists each of these services."""

import asyncio
import calendar
import os
import time

import pytest

from acct_services import ask, deployment, disconnect, el, login, subscribe
from conftest import BUILD_DIR

pytestmark = pytest.mark.skipif(not os.access(os.path.join(BUILD_DIR, 'junction-sm'), os.X_OK),
                                reason='junction-sm not built')

NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_VERSION = 'jabber:iq:version'
NS_TIME = 'urn:xmpp:time'
NS_LAST = 'jabber:iq:last'


def features(res):
    assert res[0] == 'result', res
    return {f.get('var') for f in res[1].find('{%s}query' % NS_INFO).findall('{%s}feature' % NS_INFO)}


def last(res):
    assert res[0] == 'result', res
    q = res[1].find('{%s}query' % NS_LAST)
    return int(q.get('seconds')), q.text


@pytest.mark.timeout(120)
def test_version_time_and_disco(router):
    out = {}
    with deployment(router) as (r, c2s, sm):
        async def main():
            j = await login('juliet', c2s.port)
            out['disco'] = await ask(j, 'get', 'localhost', el('query', NS_INFO))
            out['version'] = await ask(j, 'get', 'localhost', el('query', NS_VERSION))
            out['time'] = await ask(j, 'get', 'localhost', el('time', NS_TIME))
            out['now'] = time.time()
            out['uptime'] = await ask(j, 'get', 'localhost', el('query', NS_LAST))
            # an account's version and time are its clients' to answer
            out['account_version'] = await ask(j, 'get', 'juliet@localhost', el('query', NS_VERSION))
            out['account_time'] = await ask(j, 'get', 'juliet@localhost', el('time', NS_TIME))
            await disconnect(j)

        asyncio.run(main())
    assert {'vcard-temp', 'jabber:iq:private', NS_VERSION, NS_TIME, NS_LAST} <= features(out['disco'])
    kind, xml = out['version']
    q = xml.find('{%s}query' % NS_VERSION)
    assert kind == 'result' and q.find('{%s}name' % NS_VERSION).text == 'Junction'
    assert q.find('{%s}version' % NS_VERSION).text == '0.1.0'
    assert q.find('{%s}os' % NS_VERSION) is None
    kind, xml = out['time']
    t = xml.find('{%s}time' % NS_TIME)
    assert kind == 'result' and t.find('{%s}tzo' % NS_TIME).text == '+00:00'
    utc = calendar.timegm(time.strptime(t.find('{%s}utc' % NS_TIME).text, '%Y-%m-%dT%H:%M:%SZ'))
    assert abs(utc - out['now']) < 30
    seconds, _ = last(out['uptime'])
    assert 0 <= seconds < 120
    assert out['account_version'] == ('error', 'service-unavailable', 'cancel')
    assert out['account_time'] == ('error', 'service-unavailable', 'cancel')


@pytest.mark.timeout(120)
def test_version_query_off(router):
    out = {}
    with deployment(router, {'version_query': 'no'}) as (r, c2s, sm):
        async def main():
            j = await login('juliet', c2s.port)
            out['disco'] = await ask(j, 'get', 'localhost', el('query', NS_INFO))
            out['version'] = await ask(j, 'get', 'localhost', el('query', NS_VERSION))
            await disconnect(j)

        asyncio.run(main())
    feats = features(out['disco'])
    assert NS_VERSION not in feats and NS_TIME in feats
    assert out['version'] == ('error', 'service-unavailable', 'cancel')


@pytest.mark.timeout(150)
def test_last_activity_of_accounts(router):
    out = {}
    with deployment(router) as (r, c2s, sm):
        async def main():
            j = await login('juliet', c2s.port)
            rm = await login('romeo', c2s.port)
            n = await login('nurse', c2s.port)
            for c in (j, rm):  # the nurse never goes online
                c.send_presence()
            # romeo may see juliet's presence; the nurse may not
            await subscribe(rm, j)
            out['online'] = await ask(rm, 'get', 'juliet@localhost', el('query', NS_LAST))
            out['own_online'] = await ask(j, 'get', None, el('query', NS_LAST))
            out['stranger'] = await ask(n, 'get', 'juliet@localhost', el('query', NS_LAST))
            out['missing'] = await ask(n, 'get', 'ghost@localhost', el('query', NS_LAST))
            out['never'] = await ask(n, 'get', None, el('query', NS_LAST))
            j.send_presence(ptype='unavailable', pstatus='gone to Friar Laurence')
            await asyncio.sleep(0.3)
            await disconnect(j)
            await asyncio.sleep(2.0)
            out['offline'] = await ask(rm, 'get', 'juliet@localhost', el('query', NS_LAST))
            out['stranger_offline'] = await ask(n, 'get', 'juliet@localhost', el('query', NS_LAST))
            sm.kill9()
            sm.start()
            await asyncio.sleep(1.5)
            # c2s announced romeo's session to the new sm: he is still in
            out['after_restart'] = await ask(rm, 'get', 'juliet@localhost', el('query', NS_LAST))
            await disconnect(rm, n)

        asyncio.run(main())
    assert last(out['online']) == (0, None)
    assert last(out['own_online']) == (0, None)
    assert out['stranger'] == ('error', 'forbidden', 'auth'), out['stranger']
    assert out['missing'] == out['stranger']  # a missing account looks the same
    assert out['never'][:2] == ('error', 'item-not-found'), out['never']
    seconds, status = last(out['offline'])
    assert 2 <= seconds < 30 and status == 'gone to Friar Laurence', out['offline']
    assert out['stranger_offline'] == ('error', 'forbidden', 'auth')
    seconds2, status2 = last(out['after_restart'])
    assert seconds2 >= seconds and status2 == status, out['after_restart']
