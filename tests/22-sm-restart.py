"""sm restarts (kill -9 and clean) while clients stay connected: c2s sees
sm's domain bound again and re-announces its sessions with their last
presence, so messages to a user's bare JID reach the connected client
again, and presence works, without anyone logging in again."""

import importlib.util
import os
import time

import pytest

from conftest import BUILD_DIR
from fake_sm import C2SProcess, RawClient
from junction_helpers import local, to_string

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('sm_session', os.path.join(_here, '19-sm-session.py'))
sm_session = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sm_session)

pytestmark = pytest.mark.skipif(not os.access(os.path.join(BUILD_DIR, 'junction-sm'), os.X_OK),
                                reason='junction-sm not built')


def logged_in(c2s, user, password, resource):
    cl = RawClient(c2s.port)
    cl.login(user, password, resource)
    cl.send("<presence/>")
    return cl


def wait_id(cl, mid, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        el = cl.next(max(0.1, deadline - time.monotonic()))
        if el.get('id') == mid:
            return el


@pytest.mark.timeout(90)
@pytest.mark.parametrize('hard', [True, False], ids=['kill-9', 'sigterm'])
def test_clients_stay_connected_across_sm_restart(router, hard):
    r = router()
    sm_session.adduser(r, 'juliet@localhost', 'r0meo')
    sm_session.adduser(r, 'romeo@localhost', 'jul1et')
    c2s = C2SProcess(r, r.workdir)
    sm = sm_session.Sm(r)
    try:
        c2s.start()
        time.sleep(0.3)
        j = logged_in(c2s, 'juliet', 'r0meo', 'a')
        rm = logged_in(c2s, 'romeo', 'jul1et', 'b')
        time.sleep(0.3)
        rm.send("<message to='juliet@localhost' id='before' type='chat'><body>1</body></message>")
        assert wait_id(j, 'before').get('from') == 'romeo@localhost/b'

        if hard:
            sm.kill9()
        else:
            sm.stop()
        sm.start()
        time.sleep(1.0)  # sm binds localhost again; c2s re-announces

        # No new login: a message to the bare JID reaches the live client
        # (without the re-announcement sm would store it offline).
        rm.send("<message to='juliet@localhost' id='after' type='chat'><body>2</body></message>")
        el = wait_id(j, 'after')
        assert el.get('from') == 'romeo@localhost/b', to_string(el)
        assert not [c for c in el if local(c) == 'delay'], 'came from offline storage'
        # And juliet's own session works both ways.
        j.send("<iq type='get' id='ping' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert wait_id(j, 'ping').get('type') == 'result'
    finally:
        c2s.stop()
        sm.stop()


@pytest.mark.timeout(60)
def test_requests_while_sm_is_away_wait_for_it(router):
    """With sm gone, a client's roster request (which only sm can answer)
    waits in c2s ([c2s] sm_queue_limit) and is answered once sm is back,
    with no error in between."""
    r = router()
    sm_session.adduser(r, 'juliet@localhost', 'r0meo')
    c2s = C2SProcess(r, r.workdir)
    sm = sm_session.Sm(r)
    try:
        c2s.start()
        time.sleep(0.3)
        j = logged_in(c2s, 'juliet', 'r0meo', 'a')
        sm.stop()
        time.sleep(0.3)
        j.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
        # Nothing comes back for it while sm is away: no error.
        early = [e for e in j.drain(quiet=1.0, limit=2.0) if e.get('id') == 'r1']
        assert not early, to_string(early[0])
        sm.start()
        el = wait_id(j, 'r1')
        assert el.get('type') == 'result', to_string(el)
    finally:
        c2s.stop()
        sm.stop()


@pytest.mark.timeout(60)
def test_requests_get_an_error_when_sm_stays_away(router):
    """Past [c2s] sm_queue_timeout a held request comes back as an error;
    once sm is back, requests are answered again."""
    r = router()
    sm_session.adduser(r, 'juliet@localhost', 'r0meo')
    c2s = C2SProcess(r, r.workdir, {'sm_queue_timeout': '1s'})
    sm = sm_session.Sm(r)
    try:
        c2s.start()
        time.sleep(0.3)
        j = logged_in(c2s, 'juliet', 'r0meo', 'a')
        sm.stop()
        time.sleep(0.3)
        t0 = time.monotonic()
        j.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
        el = wait_id(j, 'r1')
        assert time.monotonic() - t0 >= 0.9, 'answered before the timeout'
        assert el.get('type') == 'error', to_string(el)
        err = [c for c in el if local(c) == 'error'][0]
        assert [local(c) for c in err] == ['service-unavailable'], to_string(el)
        sm.start()
        time.sleep(1.0)
        j.send("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>")
        assert wait_id(j, 'r2').get('type') == 'result'
    finally:
        c2s.stop()
        sm.stop()
