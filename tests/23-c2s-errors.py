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
