"""kill -9 of each process in turn under steady traffic from real slixmpp
clients (issue 7), each followed by a restart as a supervisor would do it:

* router, sm, pubsub: no client is disconnected; every chat message is
  delivered exactly once, in order per sender, or bounced to its sender
  with an error; every publish is answered and each acknowledged item
  notified once; service is back within 2 s of the restart; the roster,
  offline messages and pubsub items stored before are intact.
* c2s: its clients are disconnected, sm ends their sessions and the
  contact on the other c2s sees them go unavailable; one logs in again
  and chats within 2 s of the restart, and what was sent to them
  meanwhile waits in offline storage.

Scenario and bookkeeping live in 28-faults-common.py."""

import asyncio
import importlib.util
import os
import time

import pytest

from conftest import BUILD_DIR

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('faults', os.path.join(_here, '28-faults-common.py'))
F = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(F)

pytestmark = pytest.mark.skipif(
    not all(os.access(os.path.join(BUILD_DIR, b), os.X_OK)
            for b in ('junction-sm', 'junction-c2s', 'junction-pubsub')),
    reason='sm, c2s or pubsub not built')


def run_fault(router, tmp_path, which, window=None):
    d = F.Deployment(router, tmp_path)
    out = {}
    try:
        async def body():
            await d.login_all()
            await d.seed()
            t = F.Traffic(d).start()
            await t.run(1.0)
            t_restart = await d.kill_and_restart(which)
            await F.wait_for(lambda: t.first_delivery_after(t_restart) is not None, 10,
                             'a message sent after the restart delivered')
            out['back'] = t.first_delivery_after(t_restart)
            await t.run(1.0)
            await t.stop()
            out['report'] = t.report()
            F.still_connected(d, F._pair_users() + [F.OBSERVER])
            out['summary'] = F.assert_exactly_once(
                out['report'], (d.t_kill, window) if window is not None else None)
            t.check_publishes()
            await d.check_stored()
            await d.logout_all()
        asyncio.run(body())
    finally:
        d.stop()
    print('%s: service back %.2fs after the restart; %s' % (which, out.get('back', -1),
                                                          out.get('summary')))
    assert out['back'] < F.BACK_WITHIN, 'service back only after %.2fs' % out['back']
    return out


@pytest.mark.timeout(60)
# window: seconds around the kill in which a loss would be excused (one
# per sender); None for all now that the component link acknowledges
# stanzas both ways (docs/operations.md, "What survives a restart").
@pytest.mark.parametrize('which,window', [('sm', None), ('pubsub', None), ('router', None)],
                         ids=['sm', 'pubsub', 'router'])
def test_kill_9_loses_no_client_and_no_message(router, tmp_path, which, window):
    run_fault(router, tmp_path, which, window)


@pytest.mark.timeout(60)
def test_kill_9_of_c2s_ends_its_sessions(router, tmp_path):
    d = F.Deployment(router, tmp_path)
    try:
        async def body():
            await d.login_all()
            await d.seed()
            w = d.clients[F.OBSERVER]
            t = F.Traffic(d).start()
            await t.run(1.0)
            await asyncio.to_thread(d.kill, 'c2s')
            await F.wait_for(lambda: all(d.clients[u].gone for u in F._pair_users()), 10,
                             'the clients of the killed c2s see their connection end')
            # sm hears c2s's name released and ends every session it hosted:
            # the contact on the other c2s sees each of them go.
            gone = lambda: {f.split('/')[0] for f, typ in w.presences if typ == 'unavailable'}
            await F.wait_for(lambda: gone() >= {'%s@localhost' % u for u in F._pair_users()},
                             10, 'unavailable presence of every session of the killed c2s')
            # Messages sent to them now wait in offline storage.
            for u in F._pair_users():
                w.send_message(mto='%s@localhost' % u, mbody='while-away-%s' % u, mtype='chat')
            t.running = False
            await asyncio.sleep(0.3)
            t_restart = time.monotonic()
            await asyncio.to_thread(d.start_again, 'c2s')
            c = await d.login('u0')
            back = time.monotonic() - t_restart
            c.send_message(mto='%s@localhost' % F.OBSERVER, mbody='back', mtype='chat')
            await F.wait_for(lambda: any(m[2] == 'back' for m in w.messages), 5,
                             'a message from the reconnected client')
            back = min(back, time.monotonic() - t_restart)
            others = await asyncio.gather(*[d.login(u) for u in F._pair_users() if u != 'u0'])
            for cl in [c] + list(others):
                await F.wait_for(lambda cl=cl: any(m[2] == 'while-away-%s' % cl.user
                                                   for m in cl.messages), 10,
                                 'offline message for %s' % cl.user)
                got = [m for m in cl.messages if m[2] == 'while-away-%s' % cl.user]
                assert len(got) == 1 and got[0][3], got
            assert not w.gone
            await d.check_stored()
            await d.logout_all()
            return back
        back = asyncio.run(body())
    finally:
        d.stop()
    print('c2s: a client logged in again and chatted %.2fs after the restart' % back)
    assert back < F.BACK_WITHIN, 'login and first message took %.2fs' % back
