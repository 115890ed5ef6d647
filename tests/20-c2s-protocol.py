"""junction-c2s at the protocol edges, spoken raw (tests/fake_sm.py's
RawClient, with the ssl module for TLS): what is offered before and after
TLS, what is refused before authentication and binding, stream errors,
stamping of 'from', iq validation, conflicts, timeouts, throttling and
shutdown."""

import time
import xml.etree.ElementTree as ET

import pytest

from fake_sm import (BOT_JID, NS_BIND, NS_SASL, NS_TLS, RawClient, deployment,  # noqa: F401
                     mechanisms)
from junction_helpers import child, is_stream_error, local, stanza_error, stream_error


def features_of(el):
    assert local(el) == 'features', ET.tostring(el)
    return el


@pytest.mark.timeout(60)
def test_starttls_required_before_sasl(deployment):
    """Before TLS only <starttls><required/></starttls> is offered; an
    <auth/> anyway gets <failure><encryption-required/></failure> and the
    stream stays open, so STARTTLS still works and then SASL is offered."""
    d = deployment()
    c = RawClient(d.c2s.port)
    f = features_of(c.open_client())
    st = child(f, 'starttls', NS_TLS)
    assert st is not None and child(st, 'required') is not None
    assert mechanisms(f) == []
    c.send("<auth xmlns='%s' mechanism='PLAIN'>AGp1bGlldAByMG1lbw==</auth>" % NS_SASL)
    el = c.next()
    assert local(el) == 'failure' and child(el, 'encryption-required') is not None, ET.tostring(el)
    c.starttls()
    f = features_of(c.open_client())
    mechs = mechanisms(f)
    assert 'SCRAM-SHA-256' in mechs and 'SCRAM-SHA-1' in mechs and 'PLAIN' in mechs, mechs
    assert any(m.endswith('-PLUS') for m in mechs), mechs
    assert child(f, 'starttls', NS_TLS) is None
    c.close()


@pytest.mark.timeout(60)
def test_direct_tls_offers_no_starttls(deployment):
    d = deployment()
    c = RawClient(d.c2s.tls_port, tls=True)
    f = features_of(c.open_client())
    assert child(f, 'starttls', NS_TLS) is None
    assert 'SCRAM-SHA-256' in mechanisms(f)
    c.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize('stanza', ["<message to='romeo@localhost'><body>x</body></message>",
                                    "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
                                    "<presence/>"])
def test_stanza_before_auth_is_not_authorized(deployment, stanza):
    d = deployment()
    c = RawClient(d.c2s.port)
    c.open_client()
    c.starttls()
    c.open_client()
    c.send(stanza)
    assert c.expect_stream_error() == 'not-authorized'
    assert not d.sm.received
    c.close()


@pytest.mark.timeout(60)
def test_stanza_before_bind_is_not_authorized(deployment):
    d = deployment()
    c = RawClient(d.c2s.port)
    c.open_client()
    c.starttls()
    c.open_client()
    assert local(c.auth_plain('juliet', 'r0meo')) == 'success'
    f = features_of(c.open_client())
    assert child(f, 'bind', NS_BIND) is not None
    c.send("<message to='%s'><body>x</body></message>" % BOT_JID)
    assert c.expect_stream_error() == 'not-authorized'
    c.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize('user,password', [('juliet', 'wrong'), ('nobody', 'r0meo'),
                                           ('bad@user', 'x')],
                         ids=['wrong-password', 'unknown-user', 'invalid-username'])
def test_failed_login_is_not_authorized(deployment, user, password):
    d = deployment()
    c = RawClient(d.c2s.port)
    c.open_client()
    c.starttls()
    c.open_client()
    el = c.auth_plain(user, password)
    assert local(el) == 'failure' and child(el, 'not-authorized') is not None, ET.tostring(el)
    # The stream stays usable: the right password works afterwards.
    el = c.auth_plain('juliet', 'r0meo')
    assert local(el) == 'success', ET.tostring(el)
    c.close()


@pytest.mark.timeout(60)
def test_unserved_domain_is_host_unknown(deployment):
    d = deployment()
    c = RawClient(d.c2s.port)
    el = c.open_client(to='elsewhere.example')
    assert stream_error(el) == 'host-unknown', ET.tostring(el)
    c.close()


@pytest.mark.timeout(60)
def test_stream_to_may_not_change_across_restart(deployment):
    d = deployment(junction_opts={'domains': 'localhost, other.localhost'})
    c = RawClient(d.c2s.port)
    c.open_client(to='localhost')
    c.starttls()
    el = c.open_client(to='other.localhost')
    assert stream_error(el) == 'host-unknown', ET.tostring(el)
    c.close()
    # other.localhost itself is served.
    c = RawClient(d.c2s.port)
    f = features_of(c.open_client(to='other.localhost'))
    assert child(f, 'starttls', NS_TLS) is not None
    c.close()


@pytest.mark.timeout(60)
def test_malformed_xml_is_not_well_formed(deployment):
    d = deployment()
    c = RawClient(d.c2s.port)
    c.open_client()
    c.send('<message><body>x</bod></message>')
    assert c.expect_stream_error() == 'not-well-formed'
    c.close()


@pytest.mark.timeout(60)
def test_auth_timeout(deployment):
    d = deployment(c2s_opts={'auth_timeout': '1s'})
    c = RawClient(d.c2s.port)
    c.open_client()
    c.send(' ')  # whitespace keepalives do not extend the deadline
    t0 = time.monotonic()
    assert c.expect_stream_error(timeout=10) == 'connection-timeout'
    assert 0.5 < time.monotonic() - t0 < 5
    c.close()


@pytest.mark.timeout(60)
def test_forged_from_is_replaced(deployment):
    d = deployment()
    c = RawClient(d.c2s.port)
    jid = c.login(resource='balcony')
    assert jid == 'juliet@localhost/balcony'
    c.send("<message to='%s' from='mallory@evil.example/x' id='m1'><body>hi</body></message>"
           % BOT_JID)
    el = c.next()
    assert local(el) == 'message' and el.get('from') == BOT_JID, ET.tostring(el)
    assert el.get('to') == jid and child(el, 'body').text == 'hi'
    # Whatever the client wrote, sm saw the session's full JID.
    got = d.sm.wait_for(lambda: [s for s in d.sm.received if s.get('id') == 'm1'])
    assert got[0].get('from') == jid
    # Without 'from' too, and without 'to' (for the server on the user's behalf).
    c.send("<presence/>")
    got = d.sm.wait_for(lambda: [s for s in d.sm.received if local(s) == 'presence'])
    assert got[0].get('from') == jid and got[0].get('to') is None
    c.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize('iq', ["<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>",
                                "<iq type='get' id='q1'/>",
                                "<iq type='set' id='q2'><a xmlns='x'/><b xmlns='y'/></iq>",
                                "<iq type='fetch' id='q3'><ping xmlns='urn:xmpp:ping'/></iq>",
                                "<iq id='q4'><ping xmlns='urn:xmpp:ping'/></iq>"],
                         ids=['no-id', 'no-child', 'two-children', 'bad-type', 'no-type'])
def test_bad_iq_is_bad_request(deployment, iq):
    d = deployment()
    c = RawClient(d.c2s.port)
    c.login()
    c.send(iq)
    el = c.next()
    assert local(el) == 'iq' and stanza_error(el) == ('modify', 'bad-request'), ET.tostring(el)
    assert not d.sm.received
    # The session goes on.
    c.send("<message to='%s' id='after'><body>still here</body></message>" % BOT_JID)
    assert c.next().get('id') == 'after'
    c.close()


@pytest.mark.timeout(60)
def test_legacy_session_and_second_bind(deployment):
    d = deployment()
    c = RawClient(d.c2s.port)
    c.login()
    c.send("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
    el = c.next()
    assert el.get('type') == 'result' and el.get('id') == 's1', ET.tostring(el)
    c.send("<iq type='set' id='b2'><bind xmlns='%s'/></iq>" % NS_BIND)
    el = c.next()
    assert stanza_error(el) == ('cancel', 'not-allowed'), ET.tostring(el)
    c.close()


@pytest.mark.timeout(60)
def test_generated_resource_and_bad_resource(deployment):
    d = deployment()
    c = RawClient(d.c2s.port)
    c.open_client()
    c.starttls()
    c.open_client()
    assert local(c.auth_plain('juliet', 'r0meo')) == 'success'
    c.open_client()
    c.send("<iq type='set' id='b1'><bind xmlns='%s'><resource>a\ue000b</resource></bind></iq>"
           % NS_BIND)
    el = c.next()
    assert stanza_error(el) == ('modify', 'bad-request'), ET.tostring(el)
    c.send("<iq type='set' id='b2'><bind xmlns='%s'/></iq>" % NS_BIND)
    el = c.next()
    jid = el.find('{%s}bind/{%s}jid' % (NS_BIND, NS_BIND)).text
    assert jid.startswith('juliet@localhost/') and len(jid) > len('juliet@localhost/')
    c.close()


@pytest.mark.timeout(60)
def test_same_full_jid_replaces_old_session(deployment):
    """sm ends the older session with reason='conflict'; c2s closes that
    client with a conflict stream error."""
    d = deployment()
    a = RawClient(d.c2s.port)
    a.login(resource='phone')
    b = RawClient(d.c2s.port)
    b.login(resource='phone')
    assert a.expect_stream_error() == 'conflict'
    b.send("<message to='%s' id='b-ok'><body>x</body></message>" % BOT_JID)
    assert b.next().get('id') == 'b-ok'
    a.close()
    b.close()


@pytest.mark.timeout(60)
def test_failed_logins_are_throttled(deployment):
    """After 5 failures from one address, answers are held back, on any
    stream from it (one stream allows only [c2s] auth_max_failures, 3)."""
    d = deployment()
    for tries in (3, 2):
        c = RawClient(d.c2s.port)
        c.open_client()
        c.starttls()
        c.open_client()
        for _ in range(tries):
            t0 = time.monotonic()
            assert child(c.auth_plain('juliet', 'nope'), 'not-authorized') is not None
            assert time.monotonic() - t0 < 0.9
        if tries == 3:
            assert c.expect_stream_error() == 'policy-violation'
            c.close()
    t0 = time.monotonic()
    el = c.auth_plain('juliet', 'r0meo')  # even a success waits now
    assert local(el) == 'success', ET.tostring(el)
    assert time.monotonic() - t0 >= 0.9
    c.close()


@pytest.mark.timeout(60)
def test_sigterm_closes_clients_with_system_shutdown(deployment):
    d = deployment()
    c = RawClient(d.c2s.port)
    c.login()
    d.c2s.stop()  # exit 0, no sanitizer report
    assert c.expect_stream_error() == 'system-shutdown'
    c.close()


@pytest.mark.timeout(60)
def test_missing_certificate_is_a_one_line_error(router, tmp_path):
    import subprocess
    from fake_sm import C2S_BIN
    from conftest import free_port
    r = router()
    with open(r.config_path, 'a') as f:
        f.write('\n[c2s]\nlisten = 127.0.0.1:%d\n' % free_port())
    p = subprocess.run([C2S_BIN, '-c', r.config_path], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and 'tls_cert' in lines[0], p.stderr
