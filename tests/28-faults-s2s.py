"""kill -9 of junction-s2s under steady federated traffic (issue 7): two
Junction deployments on loopback (a.example, b.example, as in
40-s2s-federation.py); juliet@a.example and romeo@b.example send each other
numbered chat messages every 30 ms while a.example's s2s, then b.example's,
is killed and started again 0.5 s later as a supervisor would.

Asserted: no client is disconnected; every message is delivered exactly
once, in order per sender, or bounced to its sender as an error carrying
the original id; a message sent after each restart crosses within 2 s.
(In practice none bounce: the router holds what is sent to remote domains
while s2s is away, and the surviving s2s retries the refused connection
to the restarting one; docs/operations.md.)
The one loss excused is the documented one (docs/operations.md, "What
survives a restart"): a stanza the surviving s2s wrote to its stream to the
killed one (its debug log shows "out: ...id=X" on that stream) that the
killed one never read (its log has no "in: ...id=X"). s2s has no XEP-0198,
so nobody can know such a stanza was lost."""

import asyncio
import os
import re
import signal
import time

import pytest

from junction_helpers import load_test_file


FED = load_test_file('federation', '40-s2s-federation.py')
F = load_test_file('faults', '28-faults-common.py')
pytestmark = FED.pytestmark
federation = FED.federation  # the fixture

INTERVAL = 0.03
GAP = 0.5


async def login(user, site):
    """A slixmpp client recording chat messages (from, id, time) and the
    ids of errors bounced to it."""
    c = FED.client(user, site.domain, site.c2s.port)
    c.got, c.errors, c.gone = [], [], []

    def on_message(m):
        x = m.xml
        if x.get('type') == 'error':
            c.errors.append(x.get('id'))
        elif x.find('{jabber:client}body') is not None:
            c.got.append((x.get('from').split('/')[0], x.get('id'), time.monotonic()))
    c.add_event_handler('message', on_message)
    c.add_event_handler('disconnected', lambda _e: c.gone.append(time.monotonic()))
    await asyncio.wait_for(c.wait_until('session_start'), 30)
    await c.get_roster()
    c.send_presence()
    return c


class Chat:
    """Numbered messages from one client to one JID until stop."""

    def __init__(self, c, to, prefix):
        self.c, self.to, self.prefix = c, to, prefix
        self.sent = []  # (id, monotonic time)
        self.running = True
        self.task = asyncio.ensure_future(self._run())

    async def _run(self):
        n = 0
        while self.running:
            mid = '%s-%d' % (self.prefix, n)
            m = self.c.make_message(mto=self.to, mbody=mid, mtype='chat')
            m['id'] = mid
            m.send()
            self.sent.append((mid, time.monotonic()))
            n += 1
            await asyncio.sleep(INTERVAL)


def kill_and_restart(site, n):
    """SIGKILL the site's s2s; after GAP start it again with a fresh log
    (the killed one's is kept as s2s.log.killed-n). Returns (t_kill,
    t_restart, path of the killed process's log)."""
    s = site.s2s
    t_kill = time.monotonic()
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait(10)
    killed_log = s.log_path + '.killed-%d' % n
    os.rename(s.log_path, killed_log)
    time.sleep(GAP)
    t_restart = time.monotonic()
    s.start()
    return t_kill, t_restart


def read(path):
    with open(path, 'rb') as f:
        return f.read().decode('utf-8', 'replace')


def logged(text, direction, mid):
    return re.search(r"%s: <message[^>]*\bid=['\"]%s['\"]" % (direction, re.escape(mid)),
                     text) is not None


def first_after(chat, receiver, t):
    """Seconds from t until a message of chat sent at or after t arrived."""
    after = {mid for mid, ts in chat.sent if ts >= t}
    times = [ts for _f, mid, ts in receiver.got if mid in after]
    return min(times) - t if times else None


@pytest.mark.timeout(90)
def test_kill_9_of_s2s_on_each_side(federation):
    f = federation(a_opts={'log_level': 'debug'}, b_opts={'log_level': 'debug'})
    out = {'back': [], 'kills': []}

    async def main():
        j = await login('juliet', f.a)
        r = await login('romeo', f.b)
        # Streams up both ways before the traffic starts.
        j.send_message(mto='romeo@b.example', mbody='hello', mtype='chat')
        r.send_message(mto='juliet@a.example', mbody='hello', mtype='chat')
        await F.wait_for(lambda: j.got and r.got, 20, 'first messages across')
        j.got.clear()
        r.got.clear()
        chats = {'a': Chat(j, 'romeo@b.example', 'juliet-romeo'),
                 'b': Chat(r, 'juliet@a.example', 'romeo-juliet')}
        await asyncio.sleep(1.0)
        for n, (name, site) in enumerate((('a', f.a), ('b', f.b))):
            peer = f.b if name == 'a' else f.a
            peer_log_from = len(peer.s2s.log_text())
            t_kill, t_restart = await asyncio.to_thread(kill_and_restart, site, n)
            await F.wait_for(lambda: (first_after(chats['a'], r, t_restart) is not None
                                      and first_after(chats['b'], j, t_restart) is not None),
                             10, 'messages sent after the restart of %s delivered' % name)
            back = max(first_after(chats['a'], r, t_restart),
                       first_after(chats['b'], j, t_restart))
            out['back'].append((name, back))
            await asyncio.sleep(1.0)
            # What the surviving s2s wrote around the kill; what the killed
            # one read.
            out['kills'].append((name, t_kill, read(site.s2s.log_path + '.killed-%d' % n),
                                 peer.s2s.log_text()[peer_log_from:]))
        for c in chats.values():
            c.running = False
        await asyncio.gather(*[c.task for c in chats.values()])
        # Settle: until all is accounted for or 3 s pass.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and unaccounted(chats, j, r):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # duplicates would come now
        out['report'] = report(chats, j, r)
        out['gone'] = [c.boundjid.bare for c in (j, r) if c.gone]
        out['excused'] = excuse(out['report'], out['kills'])
        j.disconnect()
        r.disconnect()
        await asyncio.sleep(0.5)

    asyncio.run(main())
    rep = out['report']
    backs = ', '.join('%s %.2fs' % b for b in out['back'])
    print('s2s: service back after the restart: %s; lost in a killed stream: %s'
          % (backs, out['excused']))
    assert not out['gone'], 'clients disconnected: %s' % out['gone']
    F.assert_exactly_once(rep)
    # Held by the router, retried by the surviving s2s: none come back.
    assert rep['bounced'] == 0, 'bounced %d' % rep['bounced']
    for name, back in out['back']:
        assert back < F.BACK_WITHIN, 'service back only %.2fs after restarting %s' % (back, name)


def unaccounted(chats, j, r):
    rep = report(chats, j, r)
    return rep['lost']


def report(chats, j, r):
    """28-faults-common.py's bookkeeping for the two directions."""
    rep = F.new_report()
    for chat, receiver in ((chats['a'], r), (chats['b'], j)):
        got = [mid for _f, mid, _t in receiver.got if mid and mid.startswith(chat.prefix + '-')]
        F.tally(rep, chat.sent, got, set(chat.c.errors))
    return rep


def excuse(rep, kills):
    """Take out of rep['lost'] each message the surviving s2s logged as
    written towards the killed one and the killed one never logged as
    read: lost in the killed process's socket (documented). Returns them."""
    excused = []
    for mid in list(rep['lost']):
        for _name, _t, killed_log, peer_log in kills:
            if logged(peer_log, 'out', mid) and not logged(killed_log, 'in', mid):
                excused.append(mid)
                rep['lost'].remove(mid)
                break
    return excused
