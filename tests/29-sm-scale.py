"""sm scale-out and scale-in with session handover (issue 7).

Router, one sm, one c2s and real slixmpp clients subscribed to each other
in a ring, pairs of them exchanging numbered chat messages every 30 ms:

* a second sm joins the domain (scale-out): the users the rendezvous hash
  gives it move there with their sessions; both instances then hold
  sessions, split exactly as the hash says; no client is disconnected, no
  contact sees an unavailable presence, every message is delivered exactly
  once and in order (including those sent while the handover was in
  flight), nothing goes to offline storage, and a moved user's roster,
  ping and presence change still work;
* SIGTERM of the second sm (scale-in): all sessions are back on the first,
  with the same guarantees;
* kill -9 of the second sm: c2s re-announces the sessions of the domain,
  the survivor takes every user back and traffic flows again; what was in
  flight to the dead instance may be lost (docs/operations.md).

Traffic bookkeeping comes from 28-faults-common.py.
"""

import asyncio
import importlib
import os
import re
import sqlite3
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import BUILD_DIR

from fake_sm import C2SProcess

F = importlib.import_module('28-faults-common')  # tests/ is on sys.path (conftest)

BINARIES = ('junction-sm', 'junction-c2s', 'junctionctl')
pytestmark = pytest.mark.skipif(
    any(not os.access(os.path.join(BUILD_DIR, b), os.X_OK) for b in BINARIES),
    reason='sm, c2s or junctionctl not built')

USERS = ['s%02d' % i for i in range(14)]
PAIRS = tuple((USERS[i], USERS[i + 1]) for i in range(0, len(USERS), 2))
SM1, SM2 = 'sm.localhost', 'sm2.localhost'

_M64 = (1 << 64) - 1


def _fnv(h, data):
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & _M64
    return h


def rendezvous_score(bare, instance):
    """common/rendezvous.c, in Python: which instance owns bare."""
    h = _fnv(0xcbf29ce484222325, bare.encode())
    h = ((h ^ 0xff) * 0x100000001b3) & _M64
    x = _fnv(h, instance.encode())
    x ^= x >> 30
    x = (x * 0xbf58476d1ce4e5b9) & _M64
    x ^= x >> 27
    x = (x * 0x94d049bb133111eb) & _M64
    return x ^ (x >> 31)


def owner(user, instances):
    return max(instances, key=lambda i: rendezvous_score('%s@localhost' % user, i))


class Sm2(F.sm_session.Sm):
    """A second junction-sm on the same configuration file and database."""

    def __init__(self, r, name=SM2):
        self.name = name
        super().__init__(r)

    def start(self):
        self.err_path = os.path.join(os.path.dirname(self.r.config_path), 'sm2.log')
        self.err = open(self.err_path, 'ab')
        self.proc = subprocess.Popen([os.path.join(BUILD_DIR, 'junction-sm'), '-c',
                                      self.r.config_path, '-n', self.name],
                                     stdout=self.err, stderr=self.err,
                                     env=dict(os.environ, ASAN_OPTIONS='detect_leaks=1'))
        deadline = time.monotonic() + 20
        while 'serving' not in open(self.err_path).read():
            assert time.monotonic() < deadline and self.proc.poll() is None, self.log()
            time.sleep(0.05)


class Scale:
    """router + sm + c2s, users logged in and subscribed in a ring."""

    login = F.Deployment.login

    def __init__(self, router):
        self.r = router(router_opts={'listen_unix': None})
        for u in USERS:
            F.sm_session.adduser(self.r, '%s@localhost' % u, 'pw-' + u)
        self.c2s = C2SProcess(self.r, self.r.workdir)
        self.sm = F.sm_session.Sm(self.r)
        self.sm2 = None
        self.clients = {}
        self.c2s.start()

    def run(self, body):
        """Everyone logged in and subscribed, then body(), then everyone
        logged out and every process stopped (sanitizer reports fail)."""
        async def main():
            await self.login_all()
            await self.subscribe_ring()
            await body()
            for c in self.clients.values():
                c.disconnect()
            await asyncio.sleep(0.3)
        try:
            asyncio.run(main())
        finally:
            self.stop()

    def stop(self):
        errors = []
        for part in (self.c2s, self.sm2, self.sm):
            try:
                if part is not None and part.proc.poll() is None:
                    part.stop()
            except AssertionError as e:
                errors.append(str(e))
        assert not errors, '\n'.join(errors)

    def sessions(self):
        """{instance: sessions} from junctionctl status."""
        res = subprocess.run([os.path.join(BUILD_DIR, 'junctionctl'), '-c', self.r.config_path,
                              'status'], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stdout + res.stderr
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r'^sessions on (\S+): (\d+) ', res.stdout, re.M)}

    def offline_rows(self):
        db = sqlite3.connect(os.path.join(self.r.workdir, 'data', 'sm.db'), timeout=10)
        try:
            return db.execute('SELECT account FROM offline').fetchall()
        finally:
            db.close()

    async def login_all(self):
        await asyncio.gather(*[self.login(u) for u in USERS])

    async def subscribe_ring(self):
        for i, u in enumerate(USERS):
            self.clients[u].send_presence_subscription(
                pto='%s@localhost' % USERS[(i + 1) % len(USERS)])

        def both(u, v):
            roster = self.clients[u].client_roster
            jid = '%s@localhost' % v
            return jid in roster and roster[jid]['subscription'] == 'both'

        await F.wait_for(lambda: all(both(u, USERS[(i + 1) % len(USERS)])
                                     for i, u in enumerate(USERS)), 20,
                         'ring subscriptions both ways')
        await asyncio.sleep(0.5)  # the presence exchanges that follow
        for c in self.clients.values():
            c.presences.clear()

    async def wait_split(self, instances, what):
        want = {}
        for u in USERS:
            want[owner(u, instances)] = want.get(owner(u, instances), 0) + 1
        got = {}

        def done():
            got.clear()
            got.update(self.sessions())
            return all(got.get(i, 0) == n for i, n in want.items()) and \
                sum(got.values()) == len(USERS)
        deadline = time.monotonic() + 10
        while not await asyncio.to_thread(done):
            assert time.monotonic() < deadline, '%s: sessions %s, expected %s' % (what, got, want)
            await asyncio.sleep(0.2)
        return got

    def unavailable_seen(self):
        return [(c.user, f) for c in self.clients.values() for f, typ in c.presences
                if typ == 'unavailable']

    async def check_moved_user(self, user, tag):
        """Roster, ping and a presence change of user still work."""
        from slixmpp.exceptions import IqError
        c = self.clients[user]
        roster = await c.make_iq_get(queryxmlns='jabber:iq:roster').send(timeout=10)
        items = {i.get('jid'): i.get('subscription')
                 for i in roster.xml.iter('{jabber:iq:roster}item')}
        i = USERS.index(user)
        for v in (USERS[i - 1], USERS[(i + 1) % len(USERS)]):
            assert items.get('%s@localhost' % v) == 'both', items
        ping = c.make_iq_get(ito='localhost')
        ping.append(ET.Element('{urn:xmpp:ping}ping'))
        try:
            await ping.send(timeout=10)
        except IqError as e:
            raise AssertionError('ping from %s: %s' % (user, e.iq))
        contact = self.clients[USERS[(i + 1) % len(USERS)]]
        seen = []
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath
        contact.register_handler(Callback(
            'status ' + tag, MatchXPath('{jabber:client}presence'),
            lambda p: seen.append(p.xml.findtext('{jabber:client}status'))))
        c.send_presence(pstatus=tag)
        await F.wait_for(lambda: tag in seen, 5, 'presence change of %s seen by a contact' % user)
        contact.remove_handler('status ' + tag)


def block(c, jid):
    """XEP-0191: c blocks jid."""
    q = c.make_iq_set()
    b = ET.SubElement(q.xml, '{urn:xmpp:blocking}block')
    ET.SubElement(b, '{urn:xmpp:blocking}item', jid=jid)
    return q.send(timeout=10)


async def assert_blocked(d, user, blocker, tag):
    """A message from user to blocker bounces and never arrives."""
    c, x = d.clients[user], d.clients[blocker]
    m = c.make_message(mto='%s@localhost' % blocker, mbody=tag, mtype='chat')
    m['id'] = tag
    m.send()
    await F.wait_for(lambda: tag in c.errors, 5, 'error for a message to %s, who blocks %s'
                     % (blocker, user))
    await asyncio.sleep(0.2)
    assert not [msg for msg in x.messages if msg[1] == tag], 'a blocked message arrived'


def _check_traffic(d, t, what):
    rep = t.report()
    F.still_connected(d, USERS)
    summary = F.assert_exactly_once(rep)
    unavailable = d.unavailable_seen()
    assert not unavailable, '%s: contacts saw unavailable presence: %s' % (what, unavailable)
    # Nobody changed presence: a contact hearing any (c2s's re-announced
    # presence taken as a new broadcast) would be a duplicate.
    heard = [(c.user, f, typ) for c in d.clients.values() for f, typ in c.presences]
    assert not heard, '%s: presence broadcast again: %s' % (what, heard[:10])
    rows = d.offline_rows()
    assert not rows, '%s: messages for online users stored offline: %s' % (what, rows[:10])
    return summary


@pytest.mark.timeout(120)
def test_scale_out_and_in_hands_sessions_over(router):
    d = Scale(router)
    out = {}

    async def body():
        assert d.sessions() == {SM1: len(USERS)}
        moving = [u for u in USERS if owner(u, [SM1, SM2]) == SM2]
        assert moving and len(moving) < len(USERS), 'the hash moves some users, not all'

        # Scale-out under traffic.
        t = F.Traffic(d, pairs=PAIRS).start()
        await t.run(1.0)
        d.sm2 = await asyncio.to_thread(Sm2, d.r)
        out['split'] = await d.wait_split([SM1, SM2], 'after scale-out')
        await t.run(1.5)
        await t.stop()
        out['out'] = _check_traffic(d, t, 'scale-out')
        assert 'handed %d session(s)' % len(moving) in d.sm.log(), d.sm.log()
        await d.check_moved_user(moving[0], 'moved-out')
        # The moved user blocks someone (not a contact: no presence
        # effect) while on sm2; the block must hold on sm1 after
        # scale-in too (sm1 read the blocking accounts long before).
        i = USERS.index(moving[0])
        blocked = USERS[(i + 4) % len(USERS)]
        await block(d.clients[moving[0]], '%s@localhost' % blocked)
        await assert_blocked(d, blocked, moving[0], 'blocked-on-sm2')

        # Scale-in under traffic: SIGTERM of sm2 (fresh bookkeeping).
        for c in d.clients.values():
            c.presences.clear()
            c.messages.clear()
            c.errors.clear()
        t = F.Traffic(d, pairs=PAIRS).start()
        await t.run(1.0)
        await asyncio.to_thread(d.sm2.stop)
        await d.wait_split([SM1], 'after scale-in')
        await t.run(1.5)
        await t.stop()
        out['in'] = _check_traffic(d, t, 'scale-in')
        assert 'handed %d session(s)' % len(moving) in d.sm2.log(), d.sm2.log()
        await d.check_moved_user(moving[0], 'moved-back')
        await assert_blocked(d, blocked, moving[0], 'blocked-on-sm1')
    d.run(body)
    print('split after scale-out %s; scale-out: %s; scale-in: %s'
          % (out.get('split'), out.get('out'), out.get('in')))


@pytest.mark.timeout(120)
def test_kill_9_of_one_of_two_sm_instances(router):
    """The survivor takes the dead instance's users: c2s re-announces the
    domain's sessions when a holder lets it go, so they are routed and
    available again without reconnecting; the survivor keeps stanzas
    meanwhile, and the router routes again what the dead instance had not
    acknowledged, so every message arrives once, in order, and none
    through offline storage."""
    d = Scale(router)
    out = {}

    async def body():
        d.sm2 = await asyncio.to_thread(Sm2, d.r)
        await d.wait_split([SM1, SM2], 'after scale-out')
        moving = [u for u in USERS if owner(u, [SM1, SM2]) == SM2]
        t = F.Traffic(d, pairs=PAIRS).start()
        await t.run(1.0)
        t_kill = time.monotonic()
        await asyncio.to_thread(d.sm2.kill9)
        await d.wait_split([SM1], 'after kill -9')
        out['back'] = time.monotonic() - t_kill
        t_back = time.monotonic()
        await t.run(1.0)
        await t.stop()
        rep = t.report()
        F.still_connected(d, USERS)
        assert not rep['duplicates'] and not rep['disorder'], rep
        # Everything sent once the sessions were back is delivered.
        late = [mid for (a, b), sent in t.sent.items() for mid, ts in sent
                if ts >= t_back + 0.5 and mid not in t.received(a, b)]
        assert not late, late[:10]
        out['lost'] = len(rep['lost'])
        out['bounced'] = rep['bounced']
        # The survivor keeps stanzas while c2s re-announces the sessions:
        # nothing waits in offline storage (it would come with a delay
        # stamp once the restored presence arrived).
        out['via_offline'] = sum(1 for c in d.clients.values() for m in c.messages if m[3])
        assert out['via_offline'] == 0, 'delivered through offline storage: %d' % out['via_offline']
        assert not rep['lost'] and not rep['bounced'], rep
        unavailable = d.unavailable_seen()
        assert not unavailable, 'contacts saw unavailable presence: %s' % unavailable
        await d.check_moved_user(moving[0], 'after-kill')
    d.run(body)
    print('kill -9 of sm2: sessions back on sm1 after %.2fs; lost %s, bounced %s, '
          'delivered through offline storage %s'
          % (out.get('back', -1), out.get('lost'), out.get('bounced'), out.get('via_offline')))


@pytest.mark.timeout(120)
def test_pep_contacts_move_with_the_account(router):
    """What sm told pubsub about an account's contacts moves with the
    account: after the scale-out, a contact leaving is reported to pubsub
    by the new instance, so when it comes back pubsub sends it the last
    item again (pubsub sends it only to a contact it did not know as
    available with those caps)."""
    pep = importlib.import_module('31-pep')
    P = pep.P
    if not os.access(P.PUBSUB_BIN, os.X_OK):
        pytest.skip('junction-pubsub not built')
    service = next(u for u in P.USERS if owner(u, [SM1, SM2]) == SM2)
    contact = next(u for u in P.USERS if owner(u, [SM1, SM2]) == SM1)
    service_jid = '%s@localhost' % service
    d = P.start(router)
    parts = {}
    try:
        async def main():
            s = await pep.login(d, service, interests=(pep.TUNE,))
            c = await pep.login(d, contact, interests=(pep.TUNE,))
            await pep.A.share_presence(s, c, owner_jid=service_jid)
            await asyncio.sleep(0.5)
            await P.expect(await pep.publish(s, pep.TUNE, 't1', pep.tune('one')))
            assert await pep.pep_event(c, pep.TUNE) == (service_jid, ['t1'])

            parts['sm2'] = await asyncio.to_thread(Sm2, d.r)
            await F.wait_for(lambda: 'over to %s' % SM2 in d.sm.log(), 10, 'the handover')
            line = [x for x in d.sm.log().splitlines() if 'over to %s' % SM2 in x][-1]
            assert 'handed 1 session(s) and 2 PEP contact(s)' in line, line

            # The contact leaves (sm2 must tell pubsub) and comes back.
            c.disconnect()
            await asyncio.sleep(1.0)
            c2 = await pep.login(d, contact, interests=(pep.TUNE,))
            assert await pep.pep_event(c2, pep.TUNE) == (service_jid, ['t1'])
            await P.expect(await pep.publish(s, pep.TUNE, 't2', pep.tune('two')))
            assert await pep.pep_event(c2, pep.TUNE) == (service_jid, ['t2'])
        asyncio.run(main())
    finally:
        if 'sm2' in parts and parts['sm2'].proc.poll() is None:
            parts['sm2'].stop()
        d.stop()
