"""What the 25-acct-{vcard,private,queries} tests share: a deployment of
router + real sm + c2s with three accounts, slixmpp logins, and an iq
helper that returns ('result', xml) or ('error', condition, type)."""

import asyncio
import contextlib
import os
import runpy
import types

from fake_sm import C2SProcess

_here = os.path.dirname(os.path.abspath(__file__))
sm_session = types.SimpleNamespace(**runpy.run_path(os.path.join(_here, '19-sm-session.py')))
real_sm = types.SimpleNamespace(**runpy.run_path(os.path.join(_here, '20-c2s-real-sm.py')))

USERS = ('juliet', 'romeo', 'nurse')


@contextlib.contextmanager
def deployment(router, sm_opts=None):
    """Yield (router, c2s, sm) with USERS created; [sm] keys from sm_opts."""
    extra = None
    if sm_opts:
        extra = '[sm]\n' + ''.join('%s = %s\n' % kv for kv in sm_opts.items())
    r = router(extra=extra)
    for user in USERS:
        sm_session.adduser(r, '%s@localhost' % user, 'pw-' + user)
    c2s = C2SProcess(r, r.workdir)
    sm = sm_session.Sm(r)
    try:
        c2s.start()
        yield r, c2s, sm
    finally:
        c2s.stop()
        if sm.proc.poll() is None:
            sm.stop()


async def login(user, port, resource='home'):
    c = real_sm._client(user, 'pw-' + user, port)
    if resource != 'home':
        c.boundjid.resource = resource
    await asyncio.wait_for(c.wait_until('session_start'), 30)
    return c


async def ask(c, type, to, payload):
    """Send an iq of type with payload (an ET element) to `to` (None: no
    'to'); return ('result', xml) or ('error', condition, error type)."""
    from slixmpp.exceptions import IqError
    iq = c.make_iq(itype=type)
    if to is not None:
        iq['to'] = to
    iq.append(payload)
    try:
        res = await iq.send(timeout=15)
        return ('result', res.xml)
    except IqError as e:
        return ('error', e.iq['error']['condition'], e.iq['error']['type'])


def el(tag, ns, text=None, attrs=None, children=()):
    from slixmpp.xmlstream import ET
    e = ET.Element('{%s}%s' % (ns, tag), attrs or {})
    if text is not None:
        e.text = text
    for ch in children:
        e.append(ch)
    return e


async def disconnect(*clients):
    for c in clients:
        c.disconnect()
    await asyncio.sleep(0.3)


async def settle(seen, wait=0.8):
    """Wait for stanzas to arrive; return what `seen` collected and empty it."""
    await asyncio.sleep(wait)
    got = list(seen)
    seen.clear()
    return got


async def subscribe(watcher, target):
    """watcher subscribes to target's presence and target approves: the
    target's roster then has watcher with subscription 'from'."""
    watcher.send_presence(pto='%s' % target.boundjid.bare, ptype='subscribe')
    await asyncio.sleep(0.5)
    target.send_presence(pto=watcher.boundjid.bare, ptype='subscribed')
    await asyncio.sleep(0.8)
