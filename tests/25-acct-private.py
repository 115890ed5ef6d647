"""Private XML storage (XEP-0049), served by sm, through the real c2s and
sm with slixmpp: an account stores one element per namespace and gets it
back (the empty element when nothing is stored), replaces it, cannot use
the stream namespaces (not-acceptable), cannot read or write another
account's (forbidden), is held to [sm] private_max_bytes (not-acceptable),
and finds its data again after kill -9 of sm."""

import asyncio
import os

import pytest

from acct_services import ask, deployment, disconnect, el, login
from conftest import BUILD_DIR

pytestmark = pytest.mark.skipif(not os.access(os.path.join(BUILD_DIR, 'junction-sm'), os.X_OK),
                                reason='junction-sm not built')

NS_PRIVATE = 'jabber:iq:private'
NS_PREFS = 'exodus:prefs'
NS_BOOKMARKS = 'storage:bookmarks'


def query(*children):
    return el('query', NS_PRIVATE, children=children)


def prefs(nick):
    return el('exodus', NS_PREFS, children=[el('defaultnick', NS_PREFS, nick)])


def stored(res, tag, ns):
    assert res[0] == 'result', res
    q = res[1].find('{%s}query' % NS_PRIVATE)
    assert q is not None and len(list(q)) == 1, res
    e = q.find('{%s}%s' % (ns, tag))
    assert e is not None, res
    return e


@pytest.mark.timeout(150)
def test_private_storage(router):
    out = {}
    with deployment(router, {'private_max_bytes': '2K'}) as (r, c2s, sm):
        async def main():
            j = await login('juliet', c2s.port)
            rm = await login('romeo', c2s.port)
            out['nothing'] = await ask(j, 'get', None, query(el('exodus', NS_PREFS)))
            out['set'] = await ask(j, 'set', None, query(prefs('Hamlet')))
            out['bookmarks'] = await ask(j, 'set', 'juliet@localhost', query(
                el('storage', NS_BOOKMARKS, children=[el('conference', NS_BOOKMARKS, attrs={
                    'jid': 'council@conference.localhost', 'name': 'Council'})])))
            out['get'] = await ask(j, 'get', None, query(el('exodus', NS_PREFS)))
            out['replace'] = await ask(j, 'set', None, query(prefs('Juliet')))
            out['replaced'] = await ask(j, 'get', None, query(el('exodus', NS_PREFS)))
            out['get_bm'] = await ask(j, 'get', None, query(el('storage', NS_BOOKMARKS)))
            # errors
            out['client_ns'] = await ask(j, 'set', None, query(el('foo', 'jabber:client')))
            out['server_ns'] = await ask(j, 'set', None, query(el('foo', 'jabber:server')))
            out['private_ns'] = await ask(j, 'get', None, query(el('foo', NS_PRIVATE)))
            out['no_child'] = await ask(j, 'get', None, query())
            out['two'] = await ask(j, 'set', None, query(prefs('a'), el('x', 'urn:x')))
            out['other_get'] = await ask(rm, 'get', 'juliet@localhost', query(el('exodus', NS_PREFS)))
            out['other_set'] = await ask(rm, 'set', 'juliet@localhost', query(prefs('Romeo')))
            out['server'] = await ask(rm, 'get', 'localhost', query(el('exodus', NS_PREFS)))
            out['too_big'] = await ask(j, 'set', None, query(el('big', 'urn:big', 'x' * 2500)))
            out['romeo_own'] = await ask(rm, 'get', None, query(el('exodus', NS_PREFS)))
            await disconnect(j, rm)
            sm.kill9()
            sm.start()
            await asyncio.sleep(1.0)
            j = await login('juliet', c2s.port)
            out['persisted'] = await ask(j, 'get', None, query(el('exodus', NS_PREFS)))
            out['persisted_bm'] = await ask(j, 'get', None, query(el('storage', NS_BOOKMARKS)))
            await disconnect(j)

        asyncio.run(main())
    assert len(list(stored(out['nothing'], 'exodus', NS_PREFS))) == 0
    assert out['set'][0] == 'result' and out['bookmarks'][0] == 'result', out
    assert stored(out['get'], 'exodus', NS_PREFS).find('{%s}defaultnick' % NS_PREFS).text == 'Hamlet'
    assert out['replace'][0] == 'result'
    assert stored(out['replaced'], 'exodus', NS_PREFS).find(
        '{%s}defaultnick' % NS_PREFS).text == 'Juliet'
    conf = stored(out['get_bm'], 'storage', NS_BOOKMARKS).find('{%s}conference' % NS_BOOKMARKS)
    assert conf.get('jid') == 'council@conference.localhost' and conf.get('name') == 'Council'
    for k in ('client_ns', 'server_ns', 'private_ns', 'no_child', 'two'):
        assert out[k] == ('error', 'not-acceptable', 'modify'), (k, out[k])
    for k in ('other_get', 'other_set', 'server'):
        assert out[k] == ('error', 'forbidden', 'cancel'), (k, out[k])
    assert out['too_big'] == ('error', 'not-acceptable', 'modify'), out['too_big']
    assert len(list(stored(out['romeo_own'], 'exodus', NS_PREFS))) == 0  # his, not hers
    assert stored(out['persisted'], 'exodus', NS_PREFS).find(
        '{%s}defaultnick' % NS_PREFS).text == 'Juliet'
    assert stored(out['persisted_bm'], 'storage', NS_BOOKMARKS).find(
        '{%s}conference' % NS_BOOKMARKS) is not None


@pytest.mark.timeout(150)
def test_deleted_account_loses_its_data(router):
    """junctionctl deluser removes the vCard, private XML and last activity
    with the account: a new account of the same name starts empty."""
    import subprocess
    from acct_services import sm_session
    out = {}
    with deployment(router) as (r, c2s, sm):
        async def fill():
            j = await login('juliet', c2s.port)
            j.send_presence()
            out['set'] = await ask(j, 'set', None, query(prefs('Hamlet')))
            out['vcard'] = await ask(j, 'set', None, el('vCard', 'vcard-temp', children=[
                el('FN', 'vcard-temp', 'Juliet')]))
            await disconnect(j)

        async def check():
            j = await login('juliet', c2s.port)
            out['private'] = await ask(j, 'get', None, query(el('exodus', NS_PREFS)))
            out['own_vcard'] = await ask(j, 'get', None, el('vCard', 'vcard-temp'))
            out['last'] = await ask(j, 'get', None, el('query', 'jabber:iq:last'))
            await disconnect(j)

        asyncio.run(fill())
        res = subprocess.run([os.path.join(BUILD_DIR, 'junctionctl'), '-c', r.config_path,
                              'deluser', 'juliet@localhost'], capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 0, res.stderr
        sm_session.adduser(r, 'juliet@localhost', 'pw-juliet')
        asyncio.run(check())
    assert out['set'][0] == 'result' and out['vcard'][0] == 'result'
    assert len(list(stored(out['private'], 'exodus', NS_PREFS))) == 0
    v = out['own_vcard'][1].find('{vcard-temp}vCard')
    assert out['own_vcard'][0] == 'result' and v is not None and len(list(v)) == 0
    assert out['last'][:2] == ('error', 'item-not-found'), out['last']
