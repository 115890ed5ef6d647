"""vcard-temp (XEP-0054) and the avatar hash in presence (XEP-0153),
served by sm, through the real c2s and sm with slixmpp: an account gets
(empty at first) and sets its own vCard, anyone gets it, nobody sets
another's (forbidden), an oversized one is not-acceptable, a missing
account and one without a vCard look the same (service-unavailable), a
subscribed contact sees the photo's SHA-1 in presence (replacing what the
client wrote, re-broadcast when the vCard changes), and all of it survives
kill -9 of sm."""

import asyncio
import base64
import hashlib
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from acct_services import ask, deployment, disconnect, el, login, settle, subscribe
from conftest import BUILD_DIR

pytestmark = pytest.mark.skipif(not os.access(os.path.join(BUILD_DIR, 'junction-sm'), os.X_OK),
                                reason='junction-sm not built')

NS_VCARD = 'vcard-temp'
NS_UPDATE = 'vcard-temp:x:update'
PHOTO = bytes(range(256)) * 8


def vcard(fn, photo=None, pad=0):
    children = [el('FN', NS_VCARD, fn)]
    if photo is not None:
        b64 = base64.b64encode(photo).decode()
        # wrapped in lines, as clients write it
        wrapped = '\n'.join(b64[i:i + 76] for i in range(0, len(b64), 76))
        children.append(el('PHOTO', NS_VCARD, children=[el('TYPE', NS_VCARD, 'image/png'),
                                                        el('BINVAL', NS_VCARD, wrapped)]))
    if pad:
        children.append(el('DESC', NS_VCARD, 'x' * pad))
    return el('vCard', NS_VCARD, children=children)


def fn_of(res):
    assert res[0] == 'result', res
    v = res[1].find('{%s}vCard' % NS_VCARD)
    assert v is not None, res
    f = v.find('{%s}FN' % NS_VCARD)
    return f.text if f is not None else None


@pytest.mark.timeout(150)
def test_vcard_get_set_and_errors(router):
    out = {}
    with deployment(router, {'vcard_max_bytes': '4K'}) as (r, c2s, sm):
        async def main():
            j = await login('juliet', c2s.port)
            rm = await login('romeo', c2s.port)
            out['empty'] = await ask(j, 'get', None, el('vCard', NS_VCARD))
            out['set'] = await ask(j, 'set', None, vcard('Juliet Capulet'))
            out['own'] = await ask(j, 'get', 'juliet@localhost', el('vCard', NS_VCARD))
            out['other'] = await ask(rm, 'get', 'juliet@localhost', el('vCard', NS_VCARD))
            out['forbidden'] = await ask(rm, 'set', 'juliet@localhost', vcard('Not Juliet'))
            out['after_forbidden'] = await ask(rm, 'get', 'juliet@localhost', el('vCard', NS_VCARD))
            out['missing'] = await ask(rm, 'get', 'ghost@localhost', el('vCard', NS_VCARD))
            out['none_stored'] = await ask(rm, 'get', 'nurse@localhost', el('vCard', NS_VCARD))
            out['too_big'] = await ask(j, 'set', None, vcard('Juliet', pad=5000))
            out['after_too_big'] = await ask(j, 'get', None, el('vCard', NS_VCARD))
            out['bad_photo'] = await ask(j, 'set', None, el('vCard', NS_VCARD, children=[
                el('PHOTO', NS_VCARD, children=[el('BINVAL', NS_VCARD, '%%% not base64')])]))
            out['server'] = await ask(rm, 'get', 'localhost', el('vCard', NS_VCARD))
            out['server_set'] = await ask(rm, 'set', 'localhost', vcard('Server'))
            out['replace'] = await ask(j, 'set', None, vcard('Juliet, again'))
            out['replaced'] = await ask(rm, 'get', 'juliet@localhost', el('vCard', NS_VCARD))
            await disconnect(j, rm)

        asyncio.run(main())
        # junctionctl reads the same store, sm running
        out['ctl'] = [ctl_vcard_get(r, who) for who in ('Juliet@localhost', 'nurse@localhost',
                                                         'ghost@localhost')]
    assert fn_of(out['empty']) is None
    assert len(list(out['empty'][1].find('{%s}vCard' % NS_VCARD))) == 0
    assert out['set'][0] == 'result', out['set']
    assert fn_of(out['own']) == 'Juliet Capulet'
    assert fn_of(out['other']) == 'Juliet Capulet'
    assert out['forbidden'][:2] == ('error', 'forbidden'), out['forbidden']
    assert fn_of(out['after_forbidden']) == 'Juliet Capulet'
    assert out['missing'] == ('error', 'service-unavailable', 'cancel')
    # an account without a vCard cannot be told from a missing one
    assert out['none_stored'] == out['missing']
    assert out['too_big'] == ('error', 'not-acceptable', 'modify'), out['too_big']
    assert fn_of(out['after_too_big']) == 'Juliet Capulet'
    assert out['bad_photo'][:2] == ('error', 'bad-request'), out['bad_photo']
    assert out['server'][0] == 'result' and fn_of(out['server']) is None
    assert out['server_set'][:2] == ('error', 'forbidden')
    assert fn_of(out['replaced']) == 'Juliet, again'
    (rc, text, err), nurse, ghost = out['ctl']
    assert rc == 0 and text.endswith('\n'), (rc, text, err)
    v = ET.fromstring(text)
    assert v.tag == '{%s}vCard' % NS_VCARD and v.find('{%s}FN' % NS_VCARD).text == 'Juliet, again'
    assert nurse == (1, '', 'junctionctl: nurse@localhost has no vCard\n'), nurse
    assert ghost == (1, '', 'junctionctl: no such account: ghost@localhost\n'), ghost


def ctl_vcard_get(r, jid):
    res = subprocess.run([os.path.join(BUILD_DIR, 'junctionctl'), '-c', r.config_path,
                          'vcard-get', jid], capture_output=True, text=True, timeout=60)
    return res.returncode, res.stdout, res.stderr


def _photo_of(p):
    x = p.xml.find('{%s}x' % NS_UPDATE)
    if x is None:
        return None
    ph = x.find('{%s}photo' % NS_UPDATE)
    return None if ph is None else (ph.text or '')


@pytest.mark.timeout(150)
def test_avatar_hash_in_presence_and_kill9(router):
    """romeo is subscribed to juliet's presence: he sees her avatar hash,
    follows a change, never sees the hash her client made up, and after
    kill -9 of sm the vCard and the hash are still there."""
    want = hashlib.sha1(PHOTO).hexdigest()
    seen = []
    out = {}
    with deployment(router) as (r, c2s, sm):
        async def main():
            j = await login('juliet', c2s.port)
            rm = await login('romeo', c2s.port)
            rm.add_event_handler('presence_available', lambda p: p['from'].bare == 'juliet@localhost'
                                 and seen.append(_photo_of(p)))
            rm.send_presence()
            j.send_presence()
            await subscribe(rm, j)
            j.send_presence(pstatus='no avatar yet')
            out['before'] = await settle(seen)
            out['set'] = await ask(j, 'set', None, vcard('Juliet', photo=PHOTO))
            out['after_set'] = await settle(seen)
            # her client claims another avatar: sm writes the stored one
            p = j.make_presence(pstatus='lying')
            p.append(el('x', NS_UPDATE, children=[el('photo', NS_UPDATE, 'deadbeef' * 5)]))
            p.send()
            out['lying'] = await settle(seen)
            # the same vCard again: the hash does not change, no re-broadcast
            out['same'] = await ask(j, 'set', None, vcard('Juliet (same photo)', photo=PHOTO))
            out['after_same'] = await settle(seen)
            await disconnect(j)
            sm.kill9()
            sm.start()
            await settle(seen, 1.5)
            j = await login('juliet', c2s.port)
            out['persisted'] = await ask(j, 'get', None, el('vCard', NS_VCARD))
            j.send_presence()
            out['after_restart'] = await settle(seen, 1.0)
            out['by_romeo'] = await ask(rm, 'get', 'juliet@localhost', el('vCard', NS_VCARD))
            await disconnect(j, rm)

        asyncio.run(main())
    assert out['before'] and out['before'][-1] == '', out
    assert out['set'][0] == 'result'
    assert out['after_set'] == [want], out
    assert out['lying'] == [want], out
    assert out['same'][0] == 'result' and out['after_same'] == [], out
    assert fn_of(out['persisted']) == 'Juliet (same photo)'
    binval = out['persisted'][1].find('{%s}vCard/{%s}PHOTO/{%s}BINVAL' % ((NS_VCARD,) * 3))
    assert base64.b64decode(''.join(binval.text.split())) == PHOTO
    assert out['after_restart'] and out['after_restart'][-1] == want, out
    assert fn_of(out['by_romeo']) == 'Juliet (same photo)'
