"""XEP-0191 blocking command through the real c2s and sm: the blocklist
(get, block, unblock, unblock-all, pushes to the resources that asked for
it), its effects on delivery (a blocked contact's messages and iqs are
refused and its presence is dropped; the user's presence is not leaked to
it, and it hears unavailable at the block; the user's own messages and iqs
to it are refused with not-acceptable + <blocked/>, on this server or
another), XEP-0016 matching by
domain, and the list surviving kill -9 of sm."""

import asyncio
import os

import pytest

from acct_helpers import (SM_BIN, Deployment, ask, befriend, body, el, error_of, login,
                          received, wait_for)

NS = 'urn:xmpp:blocking'
NS_ERR = 'urn:xmpp:blocking:errors'

pytestmark = pytest.mark.skipif(not os.access(SM_BIN, os.X_OK), reason='junction-sm not built')


@pytest.fixture
def dep(router):
    d = Deployment(router, users=('juliet', 'romeo', 'nurse'))
    try:
        yield d
    finally:
        d.stop()


def _items(xml):
    bl = xml.find('{%s}blocklist' % NS)
    return sorted(i.get('jid') for i in bl.findall('{%s}item' % NS))


def _block(jids, name='block'):
    return el('{%s}%s' % (NS, name), children=[el('{%s}item' % NS, {'jid': j}) for j in jids])


def _pushes(c, name):
    return received(c, 'iq', lambda x: x.get('type') == 'set' and
                    x.find('{%s}%s' % (NS, name)) is not None)


@pytest.mark.timeout(150)
def test_block_unblock_and_delivery_effects(dep):
    out = {}

    async def main():
        j = await login('juliet', dep.port)
        j2 = await login('juliet', dep.port, resource='phone')
        rm = await login('romeo', dep.port)
        nurse = await login('nurse', dep.port)
        for c in (j, j2, rm, nurse):
            c.send_presence()
        await befriend(j, rm, 'juliet@localhost', 'romeo@localhost')
        await wait_for(rm, 'presence', lambda x: x.get('from') == 'juliet@localhost/home'
                       and x.get('type') is None)

        out['empty'] = await ask(j, 'get', el('{%s}blocklist' % NS))
        # Only j2 asks for the list too: pushes go to resources that asked.
        out['j2_list'] = await ask(j2, 'get', el('{%s}blocklist' % NS))
        out['no_items'] = await ask(j, 'set', el('{%s}block' % NS))
        out['block'] = await ask(j, 'set', _block(['romeo@localhost', 'Evil.Example']))
        await wait_for(j2, 'iq', lambda x: x.find('{%s}block' % NS) is not None)
        out['list'] = await ask(j, 'get', el('{%s}blocklist' % NS))
        # romeo hears juliet leave, from each of her online resources.
        await wait_for(rm, 'presence', lambda x: x.get('from') == 'juliet@localhost/home'
                       and x.get('type') == 'unavailable')
        await wait_for(rm, 'presence', lambda x: x.get('from') == 'juliet@localhost/phone'
                       and x.get('type') == 'unavailable')

        rm.got.clear()
        j.got.clear()
        j2.got.clear()
        # romeo -> juliet: refused, never delivered.
        rm.send_message(mto='juliet@localhost', mbody='blocked hello', mtype='chat')
        rm.send_message(mto='juliet@localhost/home', mbody='blocked hello 2', mtype='chat')
        out['rm_msg_err'] = await wait_for(rm, 'message', lambda x: x.get('type') == 'error')
        out['rm_ping'] = await ask(rm, 'get', el('{urn:xmpp:ping}ping'),
                                   to='juliet@localhost/home')
        out['rm_disco'] = await ask(rm, 'get',
                                    el('{http://jabber.org/protocol/disco#info}query'),
                                    to='juliet@localhost')
        rm.send_presence(pstatus='romeo changed status')
        # juliet -> romeo: not-acceptable + <blocked/>.
        j.send_message(mto='romeo@localhost', mbody='to the blocked', mtype='chat')
        out['j_msg_err'] = await wait_for(j, 'message', lambda x: x.get('type') == 'error')
        out['j_ping'] = await ask(j, 'get', el('{urn:xmpp:ping}ping'), to='romeo@localhost/home')
        # To other servers too (c2s routes them through sm while juliet
        # blocks anyone): the blocked domain is refused, another is not.
        j.send_message(mto='mallory@evil.example', mbody='to a blocked domain', mtype='chat')
        out['remote_blocked'] = await wait_for(j, 'message', lambda x: x.get('type') == 'error'
                                               and x.get('from') == 'mallory@evil.example')
        out['remote_iq_blocked'] = await ask(j, 'get', el('{urn:xmpp:ping}ping'),
                                             to='evil.example')
        j.send_message(mto='friend@other.example', mbody='to another server', mtype='chat')
        out['remote_other'] = await wait_for(j, 'message', lambda x: x.get('type') == 'error'
                                             and x.get('from') == 'friend@other.example')
        # juliet's new presence reaches nurse-less roster only: romeo gets none.
        j.send_presence(pstatus='juliet changed status')
        # A control: nurse (not blocked) still reaches juliet.
        nurse.send_message(mto='juliet@localhost/home', mbody='nurse hello', mtype='chat')
        await wait_for(j, 'message', lambda x: body(x) == 'nurse hello')
        await asyncio.sleep(1.0)
        # (the errors answering juliet's own stanzas aside)
        out['j_got_from_romeo'] = [x for x in j.got + j2.got
                                   if (x.get('from') or '').startswith('romeo@localhost')
                                   and x.get('type') != 'error']
        out['rm_got_from_juliet'] = [x for x in rm.got
                                     if (x.get('from') or '').startswith('juliet@localhost')
                                     and x.tag == '{jabber:client}presence']

        # Unblock romeo: a push, his presence path reopens.
        rm.got.clear()
        out['unblock'] = await ask(j, 'set', _block(['romeo@localhost'], 'unblock'))
        await wait_for(j2, 'iq', lambda x: x.find('{%s}unblock' % NS) is not None)
        await wait_for(rm, 'presence', lambda x: x.get('from') == 'juliet@localhost/home'
                       and x.get('type') is None)
        rm.send_message(mto='juliet@localhost/home', mbody='hello again', mtype='chat')
        await wait_for(j, 'message', lambda x: body(x) == 'hello again')
        # Domain match (XEP-0016): blocking "localhost" blocks nurse.
        out['block_domain'] = await ask(j, 'set', _block(['localhost']))
        j.got.clear()
        nurse.send_message(mto='juliet@localhost/home', mbody='domain blocked', mtype='chat')
        await wait_for(nurse, 'message', lambda x: x.get('type') == 'error')
        out['unblock_all'] = await ask(j, 'set', el('{%s}unblock' % NS))
        await wait_for(j2, 'iq', lambda x: x.find('{%s}unblock' % NS) is not None and
                       len(x.find('{%s}unblock' % NS)) == 0)
        out['after_all'] = await ask(j, 'get', el('{%s}blocklist' % NS))
        # No longer blocked. (Sent straight to the router again, whose
        # bounce c2s does not pass on yet: no answer at all is fine here.)
        from slixmpp.exceptions import IqTimeout
        try:
            out['remote_after_all'] = await ask(j, 'get', el('{urn:xmpp:ping}ping'),
                                                to='evil.example', timeout=3)
        except IqTimeout:
            out['remote_after_all'] = ('timeout', None, None)
        nurse.send_message(mto='juliet@localhost/home', mbody='after unblock-all', mtype='chat')
        await wait_for(j, 'message', lambda x: body(x) == 'after unblock-all')
        out['j_domain_blocked'] = [x for x in j.got if body(x) == 'domain blocked']
        out['j_pushes'] = len(_pushes(j, 'block')) + len(_pushes(j, 'unblock'))
        for c in (j, j2, rm, nurse):
            c.disconnect()
        await asyncio.sleep(0.3)

    asyncio.run(main())
    assert out['empty'][0] == 'result' and _items(out['empty'][1]) == []
    assert out['no_items'][:2] == ('error', 'bad-request')
    assert out['block'][0] == 'result', out['block']
    assert _items(out['list'][1]) == ['evil.example', 'romeo@localhost']
    assert error_of(out['rm_msg_err']) == 'service-unavailable'
    assert out['rm_ping'][:2] == ('error', 'service-unavailable')
    assert out['rm_disco'][:2] == ('error', 'service-unavailable')
    assert error_of(out['j_msg_err']) == 'not-acceptable'
    assert out['j_msg_err'].find('.//{%s}blocked' % NS_ERR) is not None
    assert out['j_ping'][:2] == ('error', 'not-acceptable')
    assert out['j_ping'][2].find('.//{%s}blocked' % NS_ERR) is not None
    assert error_of(out['remote_blocked']) == 'not-acceptable'
    assert out['remote_blocked'].find('.//{%s}blocked' % NS_ERR) is not None
    assert out['remote_iq_blocked'][:2] == ('error', 'not-acceptable')
    assert error_of(out['remote_other']) not in (None, 'not-acceptable')
    assert out['remote_other'].find('.//{%s}blocked' % NS_ERR) is None
    assert out['j_got_from_romeo'] == [], out['j_got_from_romeo']
    assert out['rm_got_from_juliet'] == [], out['rm_got_from_juliet']
    assert out['unblock'][0] == 'result'
    assert out['block_domain'][0] == 'result'
    assert out['j_domain_blocked'] == []
    assert out['unblock_all'][0] == 'result'
    assert _items(out['after_all'][1]) == []
    assert out['remote_after_all'][0] != 'result'
    assert out['remote_after_all'][1] != 'not-acceptable'

    # juliet/home asked for the list too (the first get): she gets pushes.
    assert out['j_pushes'] >= 1


@pytest.mark.timeout(150)
def test_blocklist_survives_kill9_of_sm(dep):
    out = {}

    async def main():
        j = await login('juliet', dep.port)
        out['block'] = await ask(j, 'set', _block(['romeo@localhost']))
        j.disconnect()
        await asyncio.sleep(0.3)

    asyncio.run(main())
    assert out['block'][0] == 'result'
    dep.sm.kill9()
    dep.sm.start()

    async def after():
        j = await login('juliet', dep.port)
        rm = await login('romeo', dep.port)
        j.send_presence()
        rm.send_presence()
        out['list'] = await ask(j, 'get', el('{%s}blocklist' % NS))
        rm.send_message(mto='juliet@localhost/home', mbody='after restart', mtype='chat')
        out['err'] = await wait_for(rm, 'message', lambda x: x.get('type') == 'error')
        await asyncio.sleep(0.5)
        out['delivered'] = [x for x in j.got if body(x) == 'after restart']
        for c in (j, rm):
            c.disconnect()
        await asyncio.sleep(0.3)

    asyncio.run(after())
    assert _items(out['list'][1]) == ['romeo@localhost']
    assert error_of(out['err']) == 'service-unavailable'
    assert out['delivered'] == []
