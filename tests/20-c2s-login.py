"""junction-c2s with a real client library (slixmpp): STARTTLS or direct
TLS, SASL (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN), resource binding and a
message round trip through the router and the fake sm's echo bot
(tests/fake_sm.py, a stand-in for the real sm)."""

import asyncio
import ssl

import pytest

from fake_sm import BOT_JID, deployment  # noqa: F401 (fixture)


def _no_verify():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _no_channel_binding(c):
    """slixmpp 1.8.3 knows only tls-unique, which TLS 1.3 lacks; seeing -PLUS
    offered it then sends the gs2 flag 'y' ("I could bind, the server
    can't"), which c2s rightly refuses as a downgrade (RFC 5802 section 6).
    Tell it that it has no channel binding, so it sends 'n'."""
    fm = c['feature_mechanisms']
    creds = fm.sasl_callback

    def no_cb(required, optional):
        result = creds(required, optional)
        if 'channel_binding' in result:
            result['channel_binding'] = None
        return result
    fm.sasl_callback = no_cb


def run_client(port, password='r0meo', mech=None, use_ssl=False, user='juliet',
               body='hello bot', timeout=20):
    """Log in with slixmpp; on session start send `body` to the echo bot and
    wait for it to come back. Returns a dict of what happened."""
    from slixmpp import ClientXMPP

    out = {'session': False, 'failed_auth': False, 'echo': None, 'jid': None}

    async def main():
        c = ClientXMPP('%s@localhost/slix' % user, password, sasl_mech=mech)
        c.ssl_context = _no_verify()
        _no_channel_binding(c)
        done = asyncio.Event()
        gone = asyncio.Event()

        def on_session(_e):
            out['session'] = True
            out['jid'] = str(c.boundjid)
            c.send_message(mto=BOT_JID, mbody=body, mtype='chat')

        def on_message(m):
            if str(m['from']) == BOT_JID:
                out['echo'] = (m['body'], str(m['to']))
                done.set()

        def on_failed(_e):
            out['failed_auth'] = True
            done.set()

        c.add_event_handler('session_start', on_session)
        c.add_event_handler('message', on_message)
        c.add_event_handler('failed_all_auth', on_failed)
        c.add_event_handler('disconnected', lambda _e: gone.set())
        c.connect(('127.0.0.1', port), use_ssl=use_ssl)
        try:
            await asyncio.wait_for(done.wait(), timeout)
        finally:
            c.disconnect()
            try:
                await asyncio.wait_for(gone.wait(), 5)
            except asyncio.TimeoutError:
                pass
    asyncio.run(main())
    return out


@pytest.mark.timeout(60)
@pytest.mark.parametrize('mech', ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'])
def test_login_bind_and_echo(deployment, mech):
    d = deployment()
    out = run_client(d.c2s.port, mech=mech, body='hi via ' + mech)
    assert out['session'] and not out['failed_auth'], out
    assert out['jid'] == 'juliet@localhost/slix'
    assert out['echo'] == ('hi via ' + mech, 'juliet@localhost/slix'), out
    assert ('juliet', 'SHA-1' if mech == 'SCRAM-SHA-1' else 'SHA-256') in d.sm.cred_requests
    # The client left: sm hears action='end' for the session it started.
    d.sm.wait_for(lambda: any(e[0] == 'end' for e in d.sm.events), what="action='end'")
    starts = [e for e in d.sm.events if e[0] == 'start']
    assert starts and starts[0][1] == 'juliet@localhost/slix'


@pytest.mark.timeout(60)
def test_direct_tls_port(deployment):
    d = deployment()
    out = run_client(d.c2s.tls_port, mech='SCRAM-SHA-256', use_ssl=True, body='direct')
    assert out['session'], out
    assert out['echo'] == ('direct', 'juliet@localhost/slix'), out


@pytest.mark.timeout(60)
@pytest.mark.parametrize('user,password', [('juliet', 'wrong'), ('nobody', 'r0meo')],
                         ids=['wrong-password', 'unknown-user'])
def test_bad_credentials_fail(deployment, user, password):
    d = deployment()
    out = run_client(d.c2s.port, user=user, password=password, mech='SCRAM-SHA-256',
                     timeout=20)
    assert out['failed_auth'] and not out['session'], out
