"""XEP-0077 in-band registration through the real c2s and sm: off by
default (no stream feature, service-unavailable before and after login);
on, account creation before authentication (the form, not-acceptable
without a password, conflict for an existing account, the per-IP limit
giving resource-constraint), the new account logging in, a password change
by a logged-in user, and account removal (the stream closes, the account
cannot log in, contacts get unsubscribe/unsubscribed and unavailable, and
its roster, offline messages and blocklist are gone)."""

import asyncio
import os

import pytest

from acct_helpers import (SM_BIN, Deployment, LoginFailed, ask, befriend, body, el, login,
                          received, sm_session, wait_for)
from fake_sm import RawClient
from junction_helpers import StreamClosed, child, local, stanza_error, to_string

NS_REG = 'jabber:iq:register'
NS_FEATURE = 'http://jabber.org/features/iq-register'
NS_INFO = 'http://jabber.org/protocol/disco#info'

pytestmark = pytest.mark.skipif(not os.access(SM_BIN, os.X_OK), reason='junction-sm not built')

REG_ON = '[sm]\nregistration = true\nregistration_per_ip_per_hour = 2\n'


def _tls_stream(port):
    c = RawClient(port)
    c.open_client()
    c.starttls()
    return c, c.open_client()


def _register(c, id, username=None, password=None, type='set'):
    fields = ''
    if username is not None:
        fields += '<username>%s</username>' % username
    if password is not None:
        fields += '<password>%s</password>' % password
    c.send("<iq type='%s' id='%s'><query xmlns='%s'>%s</query></iq>" % (type, id, NS_REG, fields))
    el = c.next()
    assert local(el) == 'iq' and el.get('id') == id, to_string(el)
    return el


def _cond(el):
    return stanza_error(el)[1] if el.get("type") == "error" else None


async def _server_features(c):
    kind, xml = (await ask(c, 'get', el('{%s}query' % NS_INFO), to='localhost'))[:2]
    assert kind == 'result'
    return {f.get('var') for f in xml.find('{%s}query' % NS_INFO).findall('{%s}feature' % NS_INFO)}


@pytest.mark.timeout(120)
def test_registration_off_by_default(router):
    d = Deployment(router, users=('juliet',))
    try:
        c, features = _tls_stream(d.port)
        assert child(features, 'register', NS_FEATURE) is None, to_string(features)
        reply = _register(c, 'r1', type='get')
        assert _cond(reply) == 'service-unavailable', to_string(reply)
        reply = _register(c, 'r2', 'mallory', 'secret')
        assert _cond(reply) == 'service-unavailable', to_string(reply)
        c.close()
        out = {}

        async def main():
            j = await login('juliet', d.port)
            out['feats'] = await _server_features(j)
            out['get'] = await ask(j, 'get', el('{%s}query' % NS_REG))
            j.disconnect()
            await asyncio.sleep(0.3)

        asyncio.run(main())
        assert NS_REG not in out['feats']
        assert out['get'][:2] == ('error', 'service-unavailable')
    finally:
        d.stop()


@pytest.mark.timeout(150)
def test_create_accounts_limits_and_login(router):
    d = Deployment(router, users=('juliet',), extra=REG_ON)
    try:
        c, features = _tls_stream(d.port)
        assert child(features, 'register', NS_FEATURE) is not None, to_string(features)
        form = _register(c, 'f1', type='get')
        q = form.find('{%s}query' % NS_REG)
        assert form.get('type') == 'result' and q.find('{%s}username' % NS_REG) is not None \
            and q.find('{%s}password' % NS_REG) is not None, to_string(form)
        assert _cond(_register(c, 'n1', 'alice')) == 'not-acceptable'
        assert _cond(_register(c, 'n2', None, 'pw')) == 'not-acceptable'
        assert _cond(_register(c, 'x1', 'juliet', 'other')) == 'conflict'
        ok = _register(c, 'a1', 'alice', 'pw-alice')
        assert ok.get('type') == 'result', to_string(ok)
        assert _register(c, 'b1', 'bob', 'pw-bob').get('type') == 'result'
        # Two accounts from 127.0.0.1 this hour: the third is refused.
        limited = _register(c, 'c1', 'carol', 'pw-carol')
        assert _cond(limited) == 'resource-constraint', to_string(limited)
        c.close()
        # The new account logs in, and carol does not exist.
        raw = RawClient(d.port)
        assert raw.login('alice', 'pw-alice').startswith('alice@localhost/')
        raw.close()
        out = {}

        async def main():
            a = await login('alice', d.port)
            out['feats'] = await _server_features(a)
            a.disconnect()
            try:
                await login('carol', d.port)
                out['carol'] = True
            except LoginFailed:
                out['carol'] = False
            await asyncio.sleep(0.3)

        asyncio.run(main())
        assert NS_REG in out['feats']
        assert out['carol'] is False
    finally:
        d.stop()


@pytest.mark.timeout(180)
def test_password_change_and_account_removal(router):
    d = Deployment(router, users=('juliet', 'romeo', 'nurse'), extra=REG_ON)
    out = {}
    try:
        async def main():
            j = await login('juliet', d.port)
            rm = await login('romeo', d.port)
            j.send_presence()
            rm.send_presence()
            await befriend(j, rm, 'juliet@localhost', 'romeo@localhost')
            out['form'] = await ask(j, 'get', el('{%s}query' % NS_REG))
            out['wrong_user'] = await ask(j, 'set', el('{%s}query' % NS_REG, children=[
                _text('username', 'romeo'), _text('password', 'x')]))
            out['change'] = await ask(j, 'set', el('{%s}query' % NS_REG, children=[
                _text('username', 'juliet'), _text('password', 'new-pw')]))
            await ask(j, 'set', el('{urn:xmpp:blocking}block', children=[
                el('{urn:xmpp:blocking}item', {'jid': 'evil.example'})]))
            j.disconnect()
            await asyncio.sleep(0.5)
            try:
                await login('juliet', d.port)
                out['old_pw'] = True
            except LoginFailed:
                out['old_pw'] = False
            # A message that waits offline, then removal.
            rm.send_message(mto='juliet@localhost', mbody='wait for me', mtype='chat')
            await asyncio.sleep(0.5)
            j = await login('juliet', d.port, password='new-pw')
            rm.got.clear()
            out['remove'] = await ask(j, 'set', el('{%s}query' % NS_REG,
                                                   children=[el('{%s}remove' % NS_REG)]))
            await asyncio.wait_for(j.closed.wait(), 15)
            for t in ('unsubscribe', 'unsubscribed', 'unavailable'):
                await wait_for(rm, 'presence', lambda x, t=t: x.get('type') == t and
                               (x.get('from') or '').startswith('juliet@localhost'))
            await asyncio.sleep(0.5)
            out['romeo_roster'] = await ask(rm, 'get', el('{jabber:iq:roster}query'))
            try:
                await login('juliet', d.port, password='new-pw')
                out['after_remove'] = True
            except LoginFailed:
                out['after_remove'] = False
            rm.disconnect()
            await asyncio.sleep(0.3)

        asyncio.run(main())
        assert out['form'][0] == 'result'
        assert out['form'][1].find('{%s}query/{%s}registered' % (NS_REG, NS_REG)) is not None
        assert out['wrong_user'][:2] == ('error', 'not-acceptable')
        assert out['change'][0] == 'result', out['change']
        assert out['old_pw'] is False
        assert out['remove'][0] == 'result', out['remove']
        assert out['after_remove'] is False
        items = out['romeo_roster'][1].find('{jabber:iq:roster}query')
        subs = {i.get('jid'): i.get('subscription') for i in items}
        assert subs.get('juliet@localhost', 'none') == 'none', subs

        # A new account of the same name starts empty: no roster, no
        # offline message, no blocklist.
        sm_session.adduser(d.r, 'juliet@localhost', 'pw-juliet')

        async def fresh():
            j = await login('juliet', d.port)
            out['roster'] = await ask(j, 'get', el('{jabber:iq:roster}query'))
            out['blocklist'] = await ask(j, 'get', el('{urn:xmpp:blocking}blocklist'))
            j.send_presence()
            await asyncio.sleep(1.0)
            out['offline'] = [x for x in received(j, 'message') if body(x) == 'wait for me']
            j.disconnect()
            await asyncio.sleep(0.3)

        asyncio.run(fresh())
        assert len(out['roster'][1].find('{jabber:iq:roster}query')) == 0
        assert len(out['blocklist'][1].find('{urn:xmpp:blocking}blocklist')) == 0
        assert out['offline'] == []
    finally:
        d.stop()


def _text(name, text):
    e = el('{%s}%s' % (NS_REG, name))
    e.text = text
    return e
