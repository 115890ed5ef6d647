"""XEP-0133 service administration over XEP-0050 ad-hoc commands, through
the real c2s and sm: the command list and every command for an account in
[junction] admins (two-stage forms with a sessionid for add-user,
change-user-password and delete-user; one stage for the counts), forbidden
and an empty list for anyone else, a new account logging in, a deleted one
thrown out and unable to log in again."""

import asyncio
import os

import pytest

from acct_helpers import SM_BIN, Deployment, LoginFailed, ask, el, login

NS_CMD = 'http://jabber.org/protocol/commands'
NS_ADMIN = 'http://jabber.org/protocol/admin'
NS_DATA = 'jabber:x:data'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_INFO = 'http://jabber.org/protocol/disco#info'

pytestmark = pytest.mark.skipif(not os.access(SM_BIN, os.X_OK), reason='junction-sm not built')


@pytest.fixture
def dep(router):
    d = Deployment(router, users=('admin', 'juliet', 'romeo'),
                   junction_opts={'admins': 'admin@localhost, boss@elsewhere.example'})
    try:
        yield d
    finally:
        d.stop()


def _cmd(name, action=None, sid=None, fields=None):
    attrs = {'node': '%s#%s' % (NS_ADMIN, name)}
    if action:
        attrs['action'] = action
    if sid:
        attrs['sessionid'] = sid
    children = []
    if fields is not None:
        x = el('{%s}x' % NS_DATA, {'type': 'submit'})
        for var, values in [('FORM_TYPE', [NS_ADMIN])] + list(fields.items()):
            f = el('{%s}field' % NS_DATA, {'var': var})
            for v in (values if isinstance(values, list) else [values]):
                ve = el('{%s}value' % NS_DATA)
                ve.text = v
                f.append(ve)
            x.append(f)
        children.append(x)
    return el('{%s}command' % NS_CMD, attrs, children)


async def _run(c, name, fields):
    """Both stages; returns (first answer, second answer)."""
    first = await ask(c, 'set', _cmd(name), to='localhost')
    assert first[0] == 'result', first
    cmd = first[1].find('{%s}command' % NS_CMD)
    second = await ask(c, 'set', _cmd(name, 'complete', cmd.get('sessionid'), fields),
                       to='localhost')
    return first, second


def _form_value(xml, var):
    for f in xml.iter('{%s}field' % NS_DATA):
        if f.get('var') == var:
            return f.find('{%s}value' % NS_DATA).text
    return None


@pytest.mark.timeout(180)
def test_admin_commands(dep):
    out = {}

    async def main():
        a = await login('admin', dep.port)
        j = await login('juliet', dep.port)
        rm = await login('romeo', dep.port)
        kind, info = (await ask(a, 'get', el('{%s}query' % NS_INFO), to='localhost'))[:2]
        out['features'] = {f.get('var') for f in info.iter('{%s}feature' % NS_INFO)}
        out['items'] = await ask(a, 'get', el('{%s}query' % NS_ITEMS, {'node': NS_CMD}),
                                 to='localhost')
        out['j_items'] = await ask(j, 'get', el('{%s}query' % NS_ITEMS, {'node': NS_CMD}),
                                   to='localhost')
        out['j_add'] = await ask(j, 'set', _cmd('add-user'), to='localhost')
        out['j_num'] = await ask(j, 'set', _cmd('get-registered-users-num'), to='localhost')
        out['add'] = await _run(a, 'add-user', {'accountjid': 'newbie@localhost',
                                                'password': 'pw-newbie',
                                                'password-verify': 'pw-newbie'})
        out['add_again'] = (await _run(a, 'add-user', {'accountjid': 'newbie@localhost',
                                                       'password': 'x',
                                                       'password-verify': 'x'}))[1]
        out['mismatch'] = (await _run(a, 'add-user', {'accountjid': 'other@localhost',
                                                      'password': 'x',
                                                      'password-verify': 'y'}))[1]
        out['bad_sid'] = await ask(a, 'set', _cmd('add-user', 'complete', 'nope', {}),
                                   to='localhost')
        n = await login('newbie', dep.port, password='pw-newbie')
        n.disconnect()
        out['registered'] = await ask(a, 'set', _cmd('get-registered-users-num'), to='localhost')
        out['online'] = await ask(a, 'set', _cmd('get-online-users-num'), to='localhost')
        out['passwd'] = await _run(a, 'change-user-password', {'accountjid': 'newbie@localhost',
                                                               'password': 'changed'})
        try:
            await login('newbie', dep.port, password='pw-newbie')
            out['old_pw'] = True
        except LoginFailed:
            out['old_pw'] = False
        n = await login('newbie', dep.port, password='changed')
        n.disconnect()
        out['delete'] = await _run(a, 'delete-user', {'accountjids': ['romeo@localhost']})
        await asyncio.wait_for(rm.closed.wait(), 15)
        try:
            await login('romeo', dep.port)
            out['romeo_login'] = True
        except LoginFailed:
            out['romeo_login'] = False
        out['registered_after'] = await ask(a, 'set', _cmd('get-registered-users-num'),
                                            to='localhost')
        for c in (a, j):
            c.disconnect()
        await asyncio.sleep(0.3)

    asyncio.run(main())
    assert NS_CMD in out['features']
    nodes = {i.get('node') for i in out['items'][1].iter('{%s}item' % NS_ITEMS)}
    assert nodes == {'%s#%s' % (NS_ADMIN, c) for c in (
        'add-user', 'delete-user', 'change-user-password', 'get-online-users-num',
        'get-registered-users-num')}, nodes
    assert out['j_items'][0] == 'result'
    assert list(out['j_items'][1].iter('{%s}item' % NS_ITEMS)) == []
    assert out['j_add'][:2] == ('error', 'forbidden')
    assert out['j_num'][:2] == ('error', 'forbidden')
    first, second = out['add']
    cmd = first[1].find('{%s}command' % NS_CMD)
    assert cmd.get('status') == 'executing' and cmd.get('sessionid')
    vars_ = {f.get('var') for f in cmd.iter('{%s}field' % NS_DATA)}
    assert {'accountjid', 'password', 'password-verify'} <= vars_, vars_
    assert second[0] == 'result', second
    assert second[1].find('{%s}command' % NS_CMD).get('status') == 'completed'
    assert out['add_again'][:2] == ('error', 'conflict')
    assert out['mismatch'][:2] == ('error', 'not-acceptable')
    assert out['bad_sid'][:2] == ('error', 'bad-request')
    assert out['bad_sid'][2].find('.//{%s}bad-sessionid' % NS_CMD) is not None
    assert _form_value(out['registered'][1], 'registeredusersnum') == '4'
    assert _form_value(out['online'][1], 'onlineusersnum') == '3'
    assert out['passwd'][1][0] == 'result', out['passwd']
    assert out['old_pw'] is False
    assert out['delete'][1][0] == 'result', out['delete']
    assert out['romeo_login'] is False
    assert _form_value(out['registered_after'][1], 'registeredusersnum') == '3'
