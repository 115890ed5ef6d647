"""Error paths of the client service with the real router, sm and c2s:
each gets the RFC's error, the server keeps serving everyone else, and
nothing reveals whether an account exists."""

import importlib.util
import os
import time

import pytest

from conftest import BUILD_DIR
from fake_sm import NS_CLIENT, C2SProcess, RawClient
from junction_helpers import is_stream_error, local, stanza_error, stream_error, to_string

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('sm_session', os.path.join(_here, '19-sm-session.py'))
sm_session = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sm_session)

pytestmark = pytest.mark.skipif(not os.access(os.path.join(BUILD_DIR, 'junction-sm'), os.X_OK),
                                reason='junction-sm not built')


@pytest.fixture
def im(router):
    r = router(router_opts={'max_stanza_bytes': '64K'})
    sm_session.adduser(r, 'juliet@localhost', 'r0meo')
    sm_session.adduser(r, 'romeo@localhost', 'jul1et')
    c2s = C2SProcess(r, r.workdir, {'max_stanza_bytes': '16K'})
    sm = sm_session.Sm(r)
    c2s.start()
    time.sleep(0.3)
    yield r, c2s
    c2s.stop()
    sm.stop()


def logged_in(c2s, user, password, resource):
    cl = RawClient(c2s.port)
    assert cl.login(user, password, resource).startswith('%s@localhost/' % user)
    cl.send("<presence/>")
    return cl


def wait_id(cl, mid):
    while True:
        el = cl.next()
        if el.get('id') == mid:
            return el


@pytest.mark.timeout(60)
def test_errors_to_a_client_and_others_keep_working(im):
    r, c2s = im
    j = logged_in(c2s, 'juliet', 'r0meo', 'a')
    rm = logged_in(c2s, 'romeo', 'jul1et', 'b')

    # Message to a user that does not exist, and to an offline resource of
    # one that does, type normal: the first bounces, the second is stored.
    j.send("<message to='ghost@localhost' id='g1'><body>?</body></message>")
    assert stanza_error(wait_id(j, 'g1')) == ('cancel', 'service-unavailable')
    # iq to a full JID with no session, and an unknown namespace to the
    # server: service-unavailable.
    j.send("<iq type='get' to='romeo@localhost/nowhere' id='i1'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert stanza_error(wait_id(j, 'i1')) == ('cancel', 'service-unavailable')
    j.send("<iq type='get' to='localhost' id='i2'><query xmlns='urn:example:unknown'/></iq>")
    assert stanza_error(wait_id(j, 'i2')) == ('cancel', 'service-unavailable')
    # A subscription request to a missing account: see
    # 23-c2s-errors.py (what sm answers today is not what RFC 6121 asks).

    # A message to romeo's full JID still arrives.
    j.send("<message to='romeo@localhost/b' id='ok1' type='chat'><body>hi</body></message>")
    el = wait_id(rm, 'ok1')
    assert el.get('from') == 'juliet@localhost/a'


@pytest.mark.timeout(60)
def test_oversize_stanza_and_vanishing_client(im):
    r, c2s = im
    j = logged_in(c2s, 'juliet', 'r0meo', 'a')
    rm = logged_in(c2s, 'romeo', 'jul1et', 'b')
    # Over [c2s] max_stanza_bytes: policy-violation, that stream only.
    rm.send("<message to='juliet@localhost' id='big'><body>%s</body></message>" % ('x' * 20000))
    el = rm.next()
    assert is_stream_error(el) and stream_error(el) == 'policy-violation', to_string(el)

    # A client that vanishes in the middle of a stanza.
    v = logged_in(c2s, 'romeo', 'jul1et', 'c')
    v.send("<message to='juliet@localhost/a' id='half'><body>never fin")
    v.sock.close()
    time.sleep(0.3)
    # juliet did not get a half stanza, and still gets whole ones.
    rm2 = logged_in(c2s, 'romeo', 'jul1et', 'd')
    rm2.send("<message to='juliet@localhost/a' id='whole' type='chat'><body>ok</body></message>")
    el = wait_id(j, 'whole')
    assert el.get('from') == 'romeo@localhost/d'


@pytest.mark.timeout(60)
def test_wrong_password_does_not_reveal_accounts(im):
    r, c2s = im
    conditions = []
    for user, pw in (('juliet', 'wrong'), ('nobody', 'wrong')):
        cl = RawClient(c2s.port)
        cl.open_client()
        cl.starttls()
        cl.open_client()
        el = cl.auth_plain(user, pw)
        conditions.append((local(el), [local(c) for c in el]))
        cl.sock.close()
    assert conditions[0] == conditions[1] == ('failure', ['not-authorized']), conditions
