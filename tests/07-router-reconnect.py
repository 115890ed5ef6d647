"""A component goes away and comes back under the same name
(docs/components.md §2.4, §4): while it is gone, stanzas for it bounce
with service-unavailable (it has a [component] section, so it is served);
once its new handshake succeeds it is routed to again at once."""

import asyncio
import time

import pytest

from junction_helpers import (
    connect_component, iq, message, ping_pong, slix_component,
    stanza_error, to_string)


def _expect_bounces(a, ids, cond='service-unavailable'):
    got = a.collect(len(ids), 10)
    assert [e.get('id') for e in got] == ids, [to_string(e) for e in got]
    for e in got:
        assert stanza_error(e) == ('cancel', cond), to_string(e)


def _probe_gone(a, n=3):
    ids = []
    for i in range(n):
        a.send(message('user%d@b.localhost' % i, 'a.localhost', 'gone-m%d' % i, 'are you there'))
        ids.append('gone-m%d' % i)
    a.send(iq('get', 'gone-iq', "<ping xmlns='urn:xmpp:ping'/>", to='b.localhost', frm='a.localhost'))
    ids.append('gone-iq')
    _expect_bounces(a, ids)


def test_reconnect_after_clean_close(router):
    r = router()
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    ping_pong(a, b, 5, tag='first')
    leftovers = b.end()           # </stream:stream>, router answers and closes
    assert not leftovers, [to_string(e) for e in leftovers]

    _probe_gone(a)

    b2 = connect_component(r, 'b.localhost')
    ping_pong(a, b2, 5, tag='second')
    # Nothing addressed to the old stream leaks into the new one.
    assert b2.poll(0.3) is None


def test_reconnect_after_abrupt_disconnect(router):
    """TCP close without </stream:stream> (a crashed component)."""
    r = router()
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    ping_pong(a, b, 5, tag='first')
    b.close(graceful=False)
    # The router learns about it asynchronously: allow it a moment.
    time.sleep(1.0)
    _probe_gone(a)
    b2 = connect_component(r, 'b.localhost')
    ping_pong(a, b2, 5, tag='second')


def test_reconnect_immediately_many_times(router):
    """Close and reconnect 20 times in a row, checking each incarnation is
    reachable and the previous one's name was released at once (§4)."""
    r = router()
    a = connect_component(r, 'a.localhost')
    for i in range(20):
        b = connect_component(r, 'b.localhost')
        ping_pong(a, b, 2, tag='round%d' % i)
        b.end()


def test_slixmpp_reconnect(router):
    """The same with slixmpp on the reconnecting side."""
    r = router()
    a = connect_component(r, 'a.localhost')

    async def incarnation(tag):
        b = slix_component(r, 'b.localhost')
        b.connect()
        await asyncio.wait_for(b.started.wait(), 15)
        for i in range(5):
            m = b.make_message(mto='a.localhost', mbody='%s-%d' % (tag, i), mfrom='b.localhost')
            m['id'] = '%s-%d' % (tag, i)
            m.send()
        # a answers each; b must receive them.
        deadline = time.monotonic() + 10
        while len(b.received) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        b.disconnect(wait=2)
        await asyncio.wait_for(b.gone.wait(), 10)
        return b

    def echo(n):
        got = a.collect(n, 15)
        for e in got:
            a.send(message(e.get('from'), 'a.localhost', 'echo-' + e.get('id'), 'echo'))
        return got

    import threading
    for tag in ('one', 'two'):
        t = threading.Thread(target=lambda: echo(5), daemon=True)
        t.start()
        b = asyncio.run(incarnation(tag))
        t.join(15)
        assert [x[1] for x in b.received] == ['echo-%s-%d' % (tag, i) for i in range(5)], b.received
        if tag == 'one':
            time.sleep(0.3)
            _probe_gone(a)


@pytest.mark.timeout(60)
def test_reset_while_receiving(router):
    """b is torn down with a TCP RST in the middle of a stream of messages
    to it (and while it has a partial stanza of its own pending). The router
    survives (teardown checks exit status and sanitizer output), a gets
    service-unavailable afterwards, and b can come back."""
    import socket
    import struct
    import threading
    r = router()
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    stop = threading.Event()

    def pump():
        i = 0
        while not stop.is_set() and i < 20000:
            if not a.try_send(''.join(message('b.localhost', 'a.localhost', 'x%d' % (i + k), 'y' * 200)
                                      for k in range(20))):
                return
            i += 20
            time.sleep(0.001)

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    b.collect(200, 15)
    b.send("<message to='a.localhost' from='b.localhost' id='partial'><body>never fini")
    b.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    b.close(graceful=False)
    time.sleep(0.5)
    stop.set()
    t.join(10)
    a.drain(quiet=0.5)       # whatever bounced meanwhile
    _probe_gone(a)
    b2 = connect_component(r, 'b.localhost')
    ping_pong(a, b2, 5, tag='again')
