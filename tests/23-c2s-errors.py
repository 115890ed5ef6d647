"""Error paths of the client service that earlier files leave out, each
asserted against the RFC text: stanza types c2s must refuse (RFC 6120
8.3.3.1, RFC 6121 4.7.1 and 5.2.2), SASL failures and the retry cap (RFC
6120 6.4.5, 6.5), oversize stanzas (RFC 6120 4.9.3.14), and, with the real
sm, unknown namespaces, missing accounts and a client that vanishes in the
middle of a stanza (RFC 6120 8.4, RFC 6121 3.1.2 and 8.5)."""

import base64
import importlib.util
import os
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import BUILD_DIR
from fake_sm import (BOT_JID, C2S_BIN, NS_SASL, C2SProcess, RawClient,  # noqa: F401
                     deployment)
from junction_helpers import child, local, stanza_error, to_string

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('sm_session', os.path.join(_here, '19-sm-session.py'))
sm_session = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sm_session)

HAVE_SM = os.access(os.path.join(BUILD_DIR, 'junction-sm'), os.X_OK)


def tls_stream(port):
    c = RawClient(port)
    c.open_client()
    c.starttls()
    c.open_client()
    return c


def wait_id(cl, mid, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        el = cl.next(max(0.1, deadline - time.monotonic()))
        if el.get('id') == mid:
            return el


def nothing_with(cl, pred, quiet=1.0):
    """Everything that arrives until `quiet` seconds of silence; asserts none
    of it matches pred."""
    got = cl.drain(quiet=quiet, limit=10)
    bad = [to_string(e) for e in got if pred(e)]
    assert not bad, bad
    return got


# ---- stanza types (fake sm: it records everything c2s hands on) -------------

BAD_TYPES = [
    "<message to='romeo@localhost' id='x1' type='invalid'><body>a</body></message>",
    "<message to='romeo@localhost' id='x1' type=''><body>a</body></message>",
    "<message to='romeo@localhost' id='x1' type='Chat'><body>a</body></message>",
    "<message id='x1' type='get'><body>a</body></message>",
    "<presence id='x1' type='available'/>",
    "<presence id='x1' type='invisible'/>",
    "<presence to='romeo@localhost' id='x1' type='subscribe-me'/>",
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize('stanza', BAD_TYPES,
                         ids=['msg-invalid', 'msg-empty', 'msg-case', 'msg-iq-type',
                              'pres-available', 'pres-invisible', 'pres-directed'])
def test_undefined_type_is_bad_request_and_not_routed(deployment, stanza):
    d = deployment()
    c = RawClient(d.c2s.port)
    c.login()
    c.send(stanza)
    el = wait_id(c, 'x1')
    assert local(el) == local(ET.fromstring(stanza)), to_string(el)
    assert stanza_error(el) == ('modify', 'bad-request'), to_string(el)
    # The session goes on, and nothing of the bad stanza reached sm.
    c.send("<message to='%s' id='after'><body>still here</body></message>" % BOT_JID)
    assert wait_id(c, 'after').get('type') != 'error'
    assert not [s for s in d.sm.received if s.get('id') == 'x1'], d.sm.received
    c.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize('stanza', [
    "<presence to='romeo@localhost' id='ok' type='probe'/>",
    "<presence to='romeo@localhost' id='ok' type='error'><error type='cancel'>"
    "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>",
    "<message to='romeo@localhost' id='ok' type='headline'><body>h</body></message>",
    "<message to='romeo@localhost' id='ok' type='groupchat'><body>g</body></message>",
], ids=['probe', 'presence-error', 'headline', 'groupchat'])
def test_defined_types_pass(deployment, stanza):
    """RFC 6121 4.3 only discourages client probes (SHOULD NOT), and a
    presence error answers a directed presence: neither is refused."""
    d = deployment()
    c = RawClient(d.c2s.port)
    c.login()
    c.send(stanza)
    d.sm.wait_for(lambda: [s for s in d.sm.received if s.get('id') == 'ok'], what='the stanza')
    nothing_with(c, lambda e: e.get('id') == 'ok', quiet=0.5)
    c.close()


# ---- SASL ------------------------------------------------------------------------

def auth(c, mech, initial=None):
    text = '' if initial is None else base64.b64encode(initial).decode()
    attr = '' if mech is None else " mechanism='%s'" % mech
    c.send("<auth xmlns='%s'%s>%s</auth>" % (NS_SASL, attr, text))
    return c.next()


def failure(el):
    assert local(el) == 'failure' and el.tag.startswith('{%s}' % NS_SASL), to_string(el)
    return [local(x) for x in el]


@pytest.mark.timeout(60)
def test_mechanism_not_offered_is_invalid_mechanism(deployment):
    d = deployment()
    c = tls_stream(d.c2s.port)
    assert failure(auth(c, 'DIGEST-MD5')) == ['invalid-mechanism']
    assert failure(auth(c, 'X-JUNCTION-NONE', b'x')) == ['invalid-mechanism']
    c.close()
    # Without a mechanism attribute, on a fresh stream (the cap is 3).
    c = tls_stream(d.c2s.port)
    assert failure(auth(c, None, b'\0juliet\0r0meo')) == ['invalid-mechanism']
    assert local(c.auth_plain('juliet', 'r0meo')) == 'success'
    c.close()


@pytest.mark.timeout(60)
def test_plain_before_tls_is_encryption_required(deployment):
    """With require_tls off PLAIN is still not offered before TLS; asking for
    it gets the condition RFC 6120 6.5.3 defines for exactly that case."""
    d = deployment(c2s_opts={'require_tls': 'no'})
    c = RawClient(d.c2s.port)
    f = c.open_client()
    offered = [m.text for m in f.find('{%s}mechanisms' % NS_SASL)]
    assert 'PLAIN' not in offered, offered
    assert failure(c.auth_plain('juliet', 'r0meo')) == ['encryption-required']
    c.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize('mech', ['PLAIN', 'SCRAM-SHA-256'])
def test_authzid_of_another_account_is_invalid_authzid(deployment, mech):
    d = deployment(accounts={'juliet': 'r0meo', 'romeo': 'jul1et'})
    c = tls_stream(d.c2s.port)
    if mech == 'PLAIN':
        el = auth(c, mech, b'romeo@localhost\0juliet\0r0meo')
    else:
        el = auth(c, mech, b'n,a=romeo@localhost,n=juliet,r=0123456789abcdef')
    assert failure(el) == ['invalid-authzid']
    # Naming oneself is fine.
    el = auth(c, 'PLAIN', b'juliet@localhost\0juliet\0r0meo')
    assert local(el) == 'success', to_string(el)
    c.close()


@pytest.mark.timeout(60)
def test_sasl_retries_are_capped_with_policy_violation(deployment):
    """RFC 6120 6.4.5: after [c2s] auth_max_failures failed attempts (3 by
    default) the stream ends with policy-violation, right after the last
    <failure/>."""
    d = deployment()
    c = tls_stream(d.c2s.port)
    for _ in range(2):
        assert failure(c.auth_plain('juliet', 'wrong')) == ['not-authorized']
    assert failure(c.auth_plain('juliet', 'wrong')) == ['not-authorized']
    assert c.expect_stream_error() == 'policy-violation'
    c.close()
    # Any failure counts, not only wrong passwords; and the cap is per stream.
    c = tls_stream(d.c2s.port)
    assert failure(auth(c, 'DIGEST-MD5')) == ['invalid-mechanism']
    assert failure(c.auth_plain('juliet', 'wrong')) == ['not-authorized']
    assert local(c.auth_plain('juliet', 'r0meo')) == 'success'
    c.close()


@pytest.mark.timeout(60)
def test_sasl_retry_cap_is_configurable(deployment):
    d = deployment(c2s_opts={'auth_max_failures': '2'})
    c = tls_stream(d.c2s.port)
    assert failure(c.auth_plain('nobody', 'x')) == ['not-authorized']
    assert failure(c.auth_plain('nobody', 'x')) == ['not-authorized']
    assert c.expect_stream_error() == 'policy-violation'
    c.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize('value', ['1', '6'])
def test_sasl_retry_cap_outside_the_rfc_range_is_refused(router, value):
    r = router()
    C2SProcess(r, r.workdir, {'auth_max_failures': value})  # writes [c2s]
    p = subprocess.run([C2S_BIN, '-c', r.config_path], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and 'auth_max_failures' in lines[0], p.stderr


# ---- oversize ---------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_oversize_stanza_is_policy_violation_and_not_routed(deployment):
    """RFC 6120 4.9.3.14 names policy-violation for a stanza over a
    configured size limit; not a byte of it is passed on."""
    d = deployment(c2s_opts={'max_stanza_bytes': '4K'})
    c = RawClient(d.c2s.port)
    c.login()
    c.send("<message to='romeo@localhost' id='big'><body>%s</body></message>" % ('x' * 8000))
    assert c.expect_stream_error() == 'policy-violation'
    time.sleep(0.3)
    assert not [s for s in d.sm.received if s.get('id') == 'big']
    c.close()
    # Others are unaffected.
    c = RawClient(d.c2s.port)
    c.login(resource='other')
    c.send("<message to='%s' id='small'><body>ok</body></message>" % BOT_JID)
    assert wait_id(c, 'small').get('type') != 'error'
    c.close()


# ---- with the real sm ------------------------------------------------------------

@pytest.fixture
def im(router):
    if not HAVE_SM:
        pytest.skip('junction-sm not built')
    r = router()
    sm_session.adduser(r, 'juliet@localhost', 'r0meo')
    sm_session.adduser(r, 'romeo@localhost', 'jul1et')
    c2s = C2SProcess(r, r.workdir)
    sm = sm_session.Sm(r)
    c2s.start()
    time.sleep(0.3)
    yield c2s
    c2s.stop()
    sm.stop()


def logged_in(c2s, user, password, resource):
    cl = RawClient(c2s.port)
    assert cl.login(user, password, resource).startswith('%s@localhost/' % user)
    cl.send("<presence/>")
    return cl


@pytest.mark.timeout(60)
@pytest.mark.parametrize('to', ['localhost', 'romeo@localhost'], ids=['server', 'bare-jid'])
@pytest.mark.parametrize('type', ['get', 'set'])
def test_unknown_namespace_iq_is_service_unavailable(im, to, type):
    """RFC 6120 8.4 and RFC 6121 8.5.2.1.3 (the server answers an iq to a
    bare JID on the user's behalf): an unknown payload namespace is
    service-unavailable, type cancel."""
    j = logged_in(im, 'juliet', 'r0meo', 'a')
    logged_in(im, 'romeo', 'jul1et', 'b')
    j.send("<iq type='%s' to='%s' id='u1'><query xmlns='urn:example:unknown'/></iq>" % (type, to))
    el = wait_id(j, 'u1')
    assert el.get('from') == to, to_string(el)
    assert stanza_error(el) == ('cancel', 'service-unavailable'), to_string(el)


@pytest.mark.timeout(60)
@pytest.mark.parametrize('type', ['chat', 'normal'])
def test_message_to_missing_account_is_service_unavailable(im, type):
    """RFC 6121 8.5.1: a message for an account that does not exist is
    ignored or answered with service-unavailable; Junction answers."""
    j = logged_in(im, 'juliet', 'r0meo', 'a')
    j.send("<message to='ghost@localhost' id='g1' type='%s'><body>?</body></message>" % type)
    assert stanza_error(wait_id(j, 'g1')) == ('cancel', 'service-unavailable')
    j.send("<message to='ghost@localhost/x' id='g2' type='%s'><body>?</body></message>" % type)
    assert stanza_error(wait_id(j, 'g2')) == ('cancel', 'service-unavailable')


@pytest.mark.timeout(60)
def test_subscription_request_to_missing_account(im):
    """RFC 6121 8.5.1: a subscription request to a local account that does
    not exist is silently ignored: no presence of type 'unsubscribed' (or
    anything else but an error) from an account that does not exist."""
    j = logged_in(im, 'juliet', 'r0meo', 'a')
    j.send("<presence to='ghost@localhost' type='subscribe' id='s1'/>")
    j.send("<iq type='get' id='ping' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    seen = []
    while True:
        el = j.next()
        seen.append(el)
        if el.get('id') == 'ping':
            break
    seen += j.drain(quiet=1.0, limit=5)
    from_ghost = [e for e in seen if local(e) == 'presence' and
                  (e.get('from') or '').startswith('ghost@localhost')]
    assert all(e.get('type') == 'error' for e in from_ghost), [to_string(e) for e in from_ghost]


@pytest.mark.timeout(90)
def test_client_vanishing_mid_stanza(im):
    """A client whose TCP connection ends half way through a stanza: nothing
    of that stanza is routed, its session ends (its contact sees it go
    unavailable, an iq to it bounces) and everyone else keeps working."""
    j = logged_in(im, 'juliet', 'r0meo', 'a')
    rm = logged_in(im, 'romeo', 'jul1et', 'b')
    # juliet subscribes to romeo's presence.
    j.send("<presence to='romeo@localhost' type='subscribe'/>")
    rm.wait_for(lambda e: local(e) == 'presence' and e.get('type') == 'subscribe')
    rm.send("<presence to='juliet@localhost' type='subscribed'/>")
    j.wait_for(lambda e: local(e) == 'presence' and e.get('from') == 'romeo@localhost/b'
               and e.get('type') is None)

    v = logged_in(im, 'romeo', 'jul1et', 'c')
    j.wait_for(lambda e: local(e) == 'presence' and e.get('from') == 'romeo@localhost/c'
               and e.get('type') is None)
    v.send("<message to='juliet@localhost/a' id='half' type='chat'><body>never fin")
    time.sleep(0.2)
    v.sock.close()

    gone = j.wait_for(lambda e: local(e) == 'presence' and e.get('from') == 'romeo@localhost/c')
    assert gone.get('type') == 'unavailable', to_string(gone)
    j.send("<iq type='get' to='romeo@localhost/c' id='dead'><ping xmlns='urn:xmpp:ping'/></iq>")
    el = wait_id(j, 'dead')
    assert stanza_error(el) == ('cancel', 'service-unavailable'), to_string(el)
    # romeo's other resource and juliet still talk, and the half stanza
    # never arrived.
    rm.send("<message to='juliet@localhost/a' id='whole' type='chat'><body>ok</body></message>")
    seen = []
    el = j.wait_for(lambda e: e.get('id') == 'whole', others=seen)
    assert el.get('from') == 'romeo@localhost/b'
    j.send("<message to='romeo@localhost/b' id='back' type='chat'><body>ok</body></message>")
    assert wait_id(rm, 'back').get('from') == 'juliet@localhost/a'
    seen += j.drain(quiet=0.5, limit=5)
    assert not [e for e in seen if e.get('id') == 'half'], [to_string(e) for e in seen]
