"""Shared by tests/28-faults-*.py (no tests here): a whole deployment (router,
sm, c2s, pubsub, and a second c2s for the observers) under steady traffic
from real slixmpp clients, where any process can be killed with SIGKILL and
started again the way a supervisor would, and the bookkeeping that says
afterwards what happened to every stanza.

Traffic: PAIRS of users, each sending numbered chat messages to the other's
bare JID every INTERVAL seconds; a publisher publishing numbered items to a
pubsub node a subscriber follows. Every message ends up in exactly one of
three places: received by its addressee (in order, once), bounced to its
sender as an error, or nowhere (lost: what these tests exist to catch).

    d = Deployment(router, tmp_path)          # everything running, data seeded
    async def body():
        await d.login_all(); t = d.traffic(); await t.run(1.0)
        await d.kill_and_restart('sm')        # returns the restart time
        await t.run(2.0); await t.stop()
        t.check(...)                          # exactly-once / bounced / order
    asyncio.run(body()); d.stop()
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET

from conftest import BUILD_DIR
from junction_helpers import load_test_file


P = load_test_file('pubsub_common', '30-pubsub-common.py')
sm_session = P.sm_session
c2s_login = P.c2s_login
from fake_sm import C2SProcess  # noqa: E402

NS, NS_EVENT = P.NS, P.NS_EVENT
SERVICE = P.SERVICE
PAIRS = (('u0', 'u1'), ('u2', 'u3'), ('u4', 'u5'))
OBSERVER = 'watcher'   # on the second c2s; subscribed to every pair user
OFFLINE = 'sleeper'    # never online during traffic: offline storage
PUBLISHER, SUBSCRIBER = 'u0', 'u3'
NODE = 'ticker'
INTERVAL = 0.03
# The bound for "service back after the restart".
BACK_WITHIN = 2.0


class RouterLike:
    """What C2SProcess needs of a router, for a second configuration file."""

    def __init__(self, config_path):
        self.config_path = config_path


class Deployment:
    def __init__(self, router, tmp_path, c2s_opts=None):
        self.r = router(router_opts={'listen_unix': None})
        users = [u for pair in PAIRS for u in pair] + [OBSERVER, OFFLINE]
        for u in users:
            sm_session.adduser(self.r, '%s@localhost' % u, 'pw-' + u)
        with open(self.r.config_path, 'a') as f:
            f.write('\n[pubsub]\n')
        # The observers' c2s: its own config file (same router, same
        # secret), its own [c2s] section.
        d2 = tmp_path / 'c2s2'
        d2.mkdir()
        conf2 = str(d2 / 'junction.conf')
        shutil.copy(self.r.config_path, conf2)
        self.c2s = C2SProcess(self.r, self.r.workdir, c2s_opts)
        self.c2s2 = C2SProcess(RouterLike(conf2), str(d2), {'name': 'c2s2.localhost'})
        self.sm = sm_session.Sm(self.r)
        self.pubsub = P.PubsubProcess(self.r)
        self.clients = {}
        self.c2s.start()
        self.c2s2.start()
        self.pubsub.start()

    # ---- processes -----------------------------------------------------
    def _restart_router(self):
        r = self.r
        log = open(r.log_path, 'ab')
        env = dict(os.environ, ASAN_OPTIONS='detect_leaks=1:abort_on_error=0')
        r.proc = subprocess.Popen([os.path.join(BUILD_DIR, 'junction-router'), '-c',
                                   r.config_path], stdout=log, stderr=log, env=env)
        log.close()
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((r.host, r.port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, 'router did not come back'
                time.sleep(0.02)

    def _restart_c2s(self):
        self.c2s.stopped = False
        self.c2s.start(wait_linked=False)

    def kill(self, which):
        proc = {'router': lambda: self.r.proc, 'sm': lambda: self.sm.proc,
                'c2s': lambda: self.c2s.proc, 'pubsub': lambda: self.pubsub.proc}[which]()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if which == 'sm':
            self.sm.err.close()
        elif which == 'pubsub':
            self.pubsub.log.close()

    def start_again(self, which):
        {'router': self._restart_router, 'sm': self.sm.start, 'c2s': self._restart_c2s,
         'pubsub': self.pubsub.start}[which]()

    async def kill_and_restart(self, which, gap=0.5):
        """kill -9, wait `gap` (traffic keeps flowing into the hole), start
        it again. Returns the monotonic time of the restart (the new
        process was spawned just after it)."""
        self.t_kill = time.monotonic()
        await asyncio.to_thread(self.kill, which)
        await asyncio.sleep(gap)
        t = time.monotonic()
        await asyncio.to_thread(self.start_again, which)
        return t

    def stop(self):
        errors = []
        for part in (self.pubsub, self.c2s, self.c2s2, self.sm):
            try:
                part.stop()
            except AssertionError as e:
                errors.append(str(e))
        assert not errors, '\n'.join(errors)

    # ---- clients -------------------------------------------------------
    async def login(self, user, c2s=None, resource='r'):
        from slixmpp import ClientXMPP
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath
        c2s = c2s or self.c2s
        c = ClientXMPP('%s@localhost/%s' % (user, resource), 'pw-' + user,
                       sasl_mech='SCRAM-SHA-256')
        c.ssl_context = c2s_login._no_verify()
        c2s_login._no_channel_binding(c)
        for p in ('xep_0004', 'xep_0030', 'xep_0060'):
            c.register_plugin(p)
        c.user = user
        c.messages = []        # (from, id, body, is_delayed) of chat messages
        c.errors = []          # ids of messages bounced back to us
        c.events = []          # pubsub item ids notified to us
        c.presences = []       # (from full JID, type)
        c.gone = []            # monotonic times of disconnection
        c.message_seen = asyncio.Event()

        def on_message(m):
            x = m.xml
            if x.get('type') == 'error':
                c.errors.append(x.get('id'))
            elif x.find('{%s}event' % NS_EVENT) is not None:
                for item in x.iter('{%s}item' % NS_EVENT):
                    c.events.append(item.get('id'))
            else:
                body = x.find('{jabber:client}body')
                if body is not None:
                    delayed = x.find('{urn:xmpp:delay}delay') is not None
                    c.messages.append((x.get('from'), x.get('id'), body.text, delayed,
                                       time.monotonic()))
            c.message_seen.set()

        c.register_handler(Callback('every message', MatchXPath('{jabber:client}message'),
                                    on_message))
        c.register_handler(Callback('every presence', MatchXPath('{jabber:client}presence'),
                                    lambda p: c.presences.append((p.xml.get('from'),
                                                                  p.xml.get('type')))))
        c.add_event_handler('disconnected', lambda _e: c.gone.append(time.monotonic()))
        c.connect(('127.0.0.1', c2s.port))
        await asyncio.wait_for(c.wait_until('session_start'), 30)
        c.send_presence()
        await c.get_roster()
        self.clients[user] = c
        return c

    async def login_all(self):
        await asyncio.gather(*[self.login(u) for pair in PAIRS for u in pair])
        await self.login(OBSERVER, c2s=self.c2s2)

    async def seed(self):
        """Stored data to check after the fault: the observer's roster
        (subscribed both ways with every pair user), offline messages for
        OFFLINE, and a pubsub node with items the subscriber follows."""
        w = self.clients[OBSERVER]
        for pair in PAIRS:
            for u in pair:
                w.send_presence_subscription(pto='%s@localhost' % u)
        # slixmpp answers subscribe with subscribed and subscribes back.
        await wait_for(lambda: sum(1 for u in _pair_users() if ('%s@localhost' % u) in w.client_roster
                                   and w.client_roster['%s@localhost' % u]['subscription'] == 'both')
                       == len(_pair_users()), 15, 'subscriptions both ways')
        for k in range(3):
            w.send_message(mto='%s@localhost' % OFFLINE, mbody='stored-%d' % k, mtype='chat')
        ps = self.clients[PUBLISHER]['xep_0060']
        await P.expect(await P.call(ps.create_node(SERVICE, NODE, config=P.config_form(
            self.clients[PUBLISHER], max_items='1000'))))
        sub = self.clients[SUBSCRIBER]['xep_0060']
        await P.expect(await P.call(sub.subscribe(SERVICE, NODE)))
        await P.expect(await P.call(ps.publish(SERVICE, NODE, id='seed', payload=P.payload('seed'))))
        await asyncio.sleep(0.3)

    async def check_stored(self):
        """What seed() stored is all still there (a fresh login each)."""
        w = self.clients[OBSERVER]
        # Without 'ver': the whole roster as stored, not a versioned delta.
        roster = await w.make_iq_get(queryxmlns='jabber:iq:roster').send(timeout=10)
        items = {i.get('jid'): i.get('subscription')
                 for i in roster.xml.iter('{jabber:iq:roster}item')}
        for u in _pair_users():
            assert items.get('%s@localhost' % u) == 'both', items
        s = await self.login(OFFLINE)
        await wait_for(lambda: len(s.messages) >= 3, 10, 'offline messages')
        await asyncio.sleep(0.3)
        assert [m[2] for m in s.messages] == ['stored-0', 'stored-1', 'stored-2'], s.messages
        assert all(m[3] for m in s.messages), 'offline messages without a delay stamp'
        el = await P.expect(await P.call(s['xep_0060'].get_items(SERVICE, NODE, item_ids=['seed'])))
        ids = [i.get('id') for i in el.iter('{%s}item' % NS)]
        assert ids == ['seed'], ids
        s.disconnect()

    async def logout_all(self):
        for c in self.clients.values():
            c.disconnect()
        await asyncio.sleep(0.3)


def _pair_users():
    return [u for pair in PAIRS for u in pair]


async def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, '%s not reached within %.1fs' % (what, timeout)
        await asyncio.sleep(0.05)


class Traffic:
    """Numbered messages both ways in every pair, and numbered publishes,
    until stop(); then check() says what happened to each."""

    def __init__(self, d, pairs=PAIRS):
        self.d = d
        self.pairs = pairs
        self.sent = {}       # (sender, receiver) -> [(id, monotonic time)]
        self.published = {}  # item id -> 'result' | 'error' | 'timeout'
        self.published_at = {}
        self.running = True
        self.tasks = []

    def start(self):
        for a, b in self.pairs:
            self.tasks.append(asyncio.ensure_future(self._chat(a, b)))
            self.tasks.append(asyncio.ensure_future(self._chat(b, a)))
        self.tasks.append(asyncio.ensure_future(self._publish()))
        return self

    async def _chat(self, a, b):
        n = 0
        log = self.sent.setdefault((a, b), [])
        while self.running:
            c = self.d.clients.get(a)
            if c is not None and not c.gone:
                mid = '%s-%s-%d' % (a, b, n)
                m = c.make_message(mto='%s@localhost' % b, mbody=mid, mtype='chat')
                m['id'] = mid
                m.send()
                log.append((mid, time.monotonic()))
                n += 1
            await asyncio.sleep(INTERVAL)

    async def _publish(self):
        from slixmpp.exceptions import IqError, IqTimeout
        n = 0
        pending = []

        async def one(iid, c):
            try:
                await c['xep_0060'].publish(SERVICE, NODE, id=iid, payload=P.payload(iid),
                                            timeout=15)
                self.published[iid] = 'result'
            except IqError:
                self.published[iid] = 'error'
            except IqTimeout:
                self.published[iid] = 'timeout'

        while self.running:
            c = self.d.clients.get(PUBLISHER)
            if c is not None and not c.gone:
                iid = 'p%d' % n
                self.published[iid] = 'pending'
                self.published_at[iid] = time.monotonic()
                pending.append(asyncio.ensure_future(one(iid, c)))
                n += 1
            await asyncio.sleep(INTERVAL * 4)
        self.pending = pending

    async def run(self, seconds):
        await asyncio.sleep(seconds)

    async def stop(self, settle=2.0):
        """Stop sending, then wait until every message is accounted for (or
        `settle` more seconds pass with nothing new)."""
        self.running = False
        await asyncio.gather(*self.tasks)
        await asyncio.gather(*getattr(self, 'pending', []))
        # Until everything is accounted for, or nothing more arrives for
        # `settle` seconds.
        last, quiet_since = None, time.monotonic()
        while time.monotonic() - quiet_since < settle:
            left = len(self.unaccounted())
            if left == 0:
                break
            if left != last:
                last, quiet_since = left, time.monotonic()
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # duplicates would come now

    def received(self, a, b):
        c = self.d.clients[b]
        return [m[1] for m in c.messages if m[0] and m[0].split('/')[0] == '%s@localhost' % a]

    def unaccounted(self):
        out = []
        for (a, b), sent in self.sent.items():
            got = set(self.received(a, b)) | set(self.d.clients[a].errors)
            out += [mid for mid, _t in sent if mid not in got]
        return out

    def report(self):
        """{'sent', 'delivered', 'bounced', 'lost', 'duplicates', 'disorder'}
        over every pair direction, with examples."""
        rep = new_report()
        for (a, b), sent in self.sent.items():
            tally(rep, sent, self.received(a, b), set(self.d.clients[a].errors))
        return rep

    def first_delivery_after(self, t):
        """Seconds from t until a message sent at or after t was received."""
        best = None
        for (a, b), sent in self.sent.items():
            after = {mid for mid, ts in sent if ts >= t}
            for m in self.d.clients[b].messages:
                if m[1] in after and (best is None or m[4] < best):
                    best = m[4]
        return None if best is None else best - t

    def check_publishes(self):
        """Every publish answered; each acknowledged one notified exactly once."""
        events = self.d.clients[SUBSCRIBER].events
        lost = [i for i, s in self.published.items() if s in ('timeout', 'pending')]
        assert not lost, 'publishes without an answer: %s' % [
            (i, self.published[i], round(self.published_at[i] - getattr(self.d, 't_kill', 0), 3))
            for i in lost]
        for iid, s in self.published.items():
            n = events.count(iid)
            if s == 'result':
                assert n == 1, 'item %s published (result) but notified %d times' % (iid, n)
            else:
                assert n <= 1, 'item %s notified %d times' % (iid, n)


def assert_exactly_once(rep, window=None):
    """No duplicate, no reordering, nothing both delivered and bounced, and
    nothing lost, except, when window = (t_kill, seconds), at most one
    message per sender sent in the `seconds` before t_kill: the documented
    residual window (docs/operations.md, "What survives a restart")."""
    excused = []
    if window is not None:
        t_kill, seconds = window
        senders = set()
        for mid in list(rep['lost']):
            sender = mid.rsplit('-', 1)[0]
            if abs(rep['lost_at'][mid] - t_kill) <= seconds and sender not in senders:
                senders.add(sender)
                excused.append(mid)
                rep['lost'].remove(mid)
    summary = ('sent %d, delivered %d, bounced %d, lost %d (%s), duplicates %s, '
               'out of order %s, delivered and bounced %s; in flight at the kill and lost: %s'
               % (rep['sent'], rep['delivered'], rep['bounced'], len(rep['lost']),
                  rep['lost'][:10], rep['duplicates'][:10], rep['disorder'][:10],
                  rep['both'][:10], excused))
    print(summary)
    assert rep['sent'] > 50, summary
    assert not rep['duplicates'], summary
    assert not rep['disorder'], summary
    assert not rep['both'], summary
    assert not rep['lost'], summary
    return summary


def still_connected(d, users):
    gone = [u for u in users if d.clients[u].gone]
    assert not gone, 'clients disconnected: %s' % gone


def parse(xml):
    return ET.fromstring(xml)


def new_report():
    return {'sent': 0, 'delivered': 0, 'bounced': 0, 'lost': [], 'duplicates': [],
            'disorder': [], 'both': [], 'lost_at': {}}


def tally(rep, sent, got, errors):
    """Add one direction to rep: sent is [(id, time sent)] in sending order,
    got the ids received in order, errors the ids bounced to the sender.
    Ids end in '-N' with N counting up."""
    rep['sent'] += len(sent)
    seen, last = set(), -1
    for mid in got:
        if mid in seen:
            rep['duplicates'].append(mid)
        seen.add(mid)
        n = int(mid.rsplit('-', 1)[1])
        if n < last:
            rep['disorder'].append(mid)
        last = max(last, n)
    for mid, t in sent:
        if mid in seen and mid in errors:
            rep['both'].append(mid)
        elif mid in seen:
            rep['delivered'] += 1
        elif mid in errors:
            rep['bounced'] += 1
        else:
            rep['lost'].append(mid)
            rep['lost_at'][mid] = t
