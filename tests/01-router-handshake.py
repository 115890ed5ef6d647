"""XEP-0114 handshake: success, wrong secret, unknown name, stanzas before
the handshake, handshake timeout, missing 'to' (docs/components.md §1)."""

import asyncio
import time

import pytest

from junction_helpers import (
    HandshakeFailed, NS_ACCEPT, RawStream, connect_component, connect_raw,
    message, ping_pong, slix_component, stream_header, to_string)


def test_handshake_ok_fresh_ids(router):
    r = router()
    ids = set()
    for _ in range(3):
        s = connect_raw(r)
        sid = s.open('a.localhost')
        assert sid, 'router header has no id: %r' % s.header
        assert s.header.get('from') == 'a.localhost', s.header
        assert s.root.tag == '{http://etherx.jabber.org/streams}stream', s.root.tag
        el = s.handshake(r.components['a.localhost'])
        assert el.tag == '{%s}handshake' % NS_ACCEPT and len(el) == 0 and not (el.text or '').strip()
        ids.add(sid)
        s.end()  # and wait for the router's close: the name is free again
    assert len(ids) == 3, 'stream ids are not fresh: %r' % ids


def test_wrong_secret_not_authorized(router):
    r = router()
    s = connect_raw(r)
    s.open('a.localhost')
    with pytest.raises(HandshakeFailed) as ei:
        s.handshake(r.components['a.localhost'] + 'x')
    assert ei.value.condition == 'not-authorized', to_string(ei.value.element)
    s.wait_closed()
    s.close()
    # The name was not bound by the failed attempt: the real one works.
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    ping_pong(a, b, 3)


def test_router_secret_does_not_open_configured_component(router):
    """A name with a [component] section needs *its* secret; the router
    secret is for names without one."""
    r = router()
    s = connect_raw(r)
    s.open('a.localhost')
    with pytest.raises(HandshakeFailed) as ei:
        s.handshake(r.secret)
    assert ei.value.condition == 'not-authorized'
    s.wait_closed()


def test_unknown_component_random_secret(router):
    r = router()
    s = connect_raw(r)
    s.open('unknown.localhost')
    with pytest.raises(HandshakeFailed) as ei:
        s.handshake('not-the-secret-0123456789')
    assert ei.value.condition == 'not-authorized', to_string(ei.value.element)
    s.wait_closed()


def test_slixmpp_wrong_secret(router):
    """The same through a third-party library: slixmpp sees the stream
    error and the disconnect, and never a session."""
    r = router()

    async def main():
        c = slix_component(r, 'a.localhost', secret='definitely-wrong')
        c.connect()
        await asyncio.wait_for(c.gone.wait(), 15)
        return c

    c = asyncio.run(main())
    assert c.stream_errors == ['not-authorized'], c.stream_errors
    assert not c.started.is_set()


def test_stanza_before_handshake(router):
    r = router()
    s = connect_raw(r)
    s.open('a.localhost')
    s.send(message('b.localhost', 'a.localhost', 'early', 'too early'))
    assert s.expect_stream_error() == 'not-authorized'
    # ... and nothing was routed: b, connecting now, gets nothing.
    b = connect_component(r, 'b.localhost')
    assert b.poll(0.5) is None


def test_iq_before_handshake(router):
    """An iq before the handshake ends the stream too."""
    r = router()
    s = connect_raw(r)
    s.open('a.localhost')
    s.send("<iq type='get' id='x' to='b.localhost' from='a.localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert s.expect_stream_error() == 'not-authorized'


def test_handshake_timeout(router):
    r = router(router_opts={'handshake_timeout': '1s'})
    t0 = time.monotonic()
    s = connect_raw(r)
    s.open('a.localhost')
    cond = s.expect_stream_error(timeout=10)
    elapsed = time.monotonic() - t0
    assert cond == 'connection-timeout'
    assert 0.8 <= elapsed <= 6, 'closed after %.2fs with handshake_timeout=1s' % elapsed


def test_handshake_timeout_without_header(router):
    """A connection that never even sends a stream header is not kept
    forever either."""
    r = router(router_opts={'handshake_timeout': '1s'})
    s = connect_raw(r)
    assert s.wait_eof(10), 'router kept a silent connection open past handshake_timeout'


def test_missing_to_host_unknown(router):
    r = router()
    s = connect_raw(r)
    s.send(stream_header(None))
    assert s.expect_stream_error() == 'host-unknown'


@pytest.mark.parametrize('to', ['not a domain', 'a@b.localhost', '.localhost', 'x' * 1100])
def test_invalid_to_host_unknown(router, to):
    r = router()
    s = connect_raw(r)
    s.send(stream_header(to))
    assert s.expect_stream_error() == 'host-unknown'


def test_good_handshake_after_bad_streams(router):
    """Failed streams leave no trace: a..d all connect afterwards."""
    r = router()
    for name in ('a.localhost', 'b.localhost'):
        s = connect_raw(r)
        s.open(name)
        with pytest.raises(HandshakeFailed):
            s.handshake('nope')
        s.close(graceful=False)
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    ping_pong(a, b, 5)


def test_unix_socket(router):
    """[router] listen_unix speaks the same protocol as TCP, and streams on
    both are routed to each other."""
    r = router()
    a = connect_component(r, 'a.localhost', unix=True)
    b = connect_component(r, 'b.localhost')
    ping_pong(a, b, 10)
    s = RawStream(None, None, unix_path=r.unix_path)
    s.open('c.localhost')
    with pytest.raises(HandshakeFailed) as ei:
        s.handshake('wrong')
    assert ei.value.condition == 'not-authorized'


@pytest.mark.parametrize('content', ['', 'x' * 2000, '<x/>', '0' * 40])
def test_garbage_handshake_not_authorized(router, content):
    r = router()
    s = connect_raw(r)
    s.open('a.localhost')
    s.send('<handshake>%s</handshake>' % content)
    assert s.expect_stream_error() == 'not-authorized'


def test_stanza_pipelined_after_handshake(router):
    """A client may send stanzas right behind its <handshake> without waiting
    for the router's <handshake/>: they are routed once it succeeds."""
    from junction_helpers import handshake_digest
    r = router()
    b = connect_component(r, 'b.localhost')
    s = connect_raw(r)
    sid = s.open('a.localhost')
    s.send('<handshake>%s</handshake>' % handshake_digest(sid, r.components['a.localhost'])
           + message('b.localhost', 'a.localhost', 'pipe1', 'right behind')
           + message('b.localhost', 'a.localhost', 'pipe2', 'and another'))
    el = s.next()
    assert el.tag == '{%s}handshake' % NS_ACCEPT, to_string(el)
    got = b.collect(2)
    assert [e.get('id') for e in got] == ['pipe1', 'pipe2']
