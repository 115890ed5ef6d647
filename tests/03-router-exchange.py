"""Two unmodified slixmpp ComponentXMPP components exchange messages through
the router, both directions at once: everything arrives, in order
(docs/components.md §2.1 and §2.5)."""

import asyncio
import time

import pytest

from junction_helpers import (
    check_sequence, connect_component, iq, local, message, slix_component, to_string)

COUNT = 10000


async def _exchange(r, count, timeout):
    a = slix_component(r, 'a.localhost')
    b = slix_component(r, 'b.localhost')
    a.connect()
    b.connect()
    try:
        await asyncio.wait_for(asyncio.gather(a.started.wait(), b.started.wait()), 15)
    except asyncio.TimeoutError:
        raise AssertionError('slixmpp sessions did not start (stream errors a=%r b=%r)'
                             % (a.stream_errors, b.stream_errors))

    def send_all(src, dst, prefix):
        for i in range(count):
            m = src.make_message(mto='user%d@%s' % (i % 7, dst.boundjid.bare),
                                 mbody='%s-%d' % (prefix, i), mfrom='svc@' + src.boundjid.bare)
            m['id'] = '%s-%d' % (prefix, i)
            m.send()

    t0 = time.monotonic()
    # Interleave the two senders so both directions are in flight together.
    send_all(a, b, 'ab')
    send_all(b, a, 'ba')
    deadline = t0 + timeout
    while (len(a.received) < count or len(b.received) < count) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - t0
    # A little extra time: anything beyond `count` would be a duplicate.
    await asyncio.sleep(0.3)
    for c in (a, b):
        c.disconnect(wait=2)
    await asyncio.wait_for(asyncio.gather(a.gone.wait(), b.gone.wait()), 10)
    return a, b, elapsed


def _check(received, prefix, frm_domain, count):
    ids = [r[1] for r in received]
    expected = ['%s-%d' % (prefix, i) for i in range(count)]
    if ids != expected:
        first = next((i for i, (x, y) in enumerate(zip(ids, expected)) if x != y), min(len(ids), count))
        raise AssertionError('%s: received %d of %d; first deviation at %d: got %r expected %r'
                             % (prefix, len(ids), count, first,
                                ids[first] if first < len(ids) else None,
                                expected[first] if first < count else None))
    for frm, mid, body, mtype in received:
        assert body == mid, (frm, mid, body)
        assert frm == 'svc@' + frm_domain, (frm, mid)
        assert mtype != 'error', (frm, mid, body)


@pytest.mark.timeout(90)
def test_slixmpp_10000_messages_both_ways(router):
    r = router()
    a, b, elapsed = asyncio.run(_exchange(r, COUNT, 60))
    assert not a.stream_errors and not b.stream_errors, (a.stream_errors, b.stream_errors)
    _check(b.received, 'ab', 'a.localhost', COUNT)
    _check(a.received, 'ba', 'b.localhost', COUNT)
    print('%d messages each way in %.1fs' % (COUNT, elapsed))


# ---- framing, verbatim forwarding, iq round trips (raw streams) ------------


@pytest.mark.timeout(60)
def test_byte_by_byte_and_split_utf8(router):
    """A stanza dribbled one byte per send (so multi-byte UTF-8 characters
    are split across TCP segments) arrives intact; so do many stanzas
    coalesced into one segment."""
    r = router()
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    body = 'héllo €uro 𝄞 ✓ <&> done'
    raw = ("<message to='b.localhost' from='a.localhost' id='dribble'><body>%s</body></message>"
           % body.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')).encode('utf-8')
    for i in range(len(raw)):
        a.sock.sendall(raw[i:i + 1])
        if i % 7 == 0:
            time.sleep(0.001)
    el = b.next()
    assert el.get('id') == 'dribble' and el.find('{jabber:component:accept}body').text == body, to_string(el)
    # 500 stanzas in a single send.
    a.send(''.join(message('b.localhost', 'a.localhost', 'co-%d' % i, 'co-%d' % i) for i in range(500)))
    check_sequence(b.collect(500), 'a.localhost', 'co', 500)


def test_original_bytes_forwarded(router):
    """§2: the router forwards the stanza's original bytes: quoting style,
    attribute order, prefixes and payload arrive exactly as sent."""
    r = router()
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    raw = ('<message from="a.localhost" type=\'chat\' to="u@b.localhost/r" id="orig1" xml:lang="de">'
           '<body>Grüße &amp; &#x263A; <![CDATA[x]]></body>'
           '<ex:data xmlns:ex="urn:example:x" ex:attr="v"><ex:item n="1"/>  text  </ex:data>'
           '</message>')
    a.send(raw)
    el = b.next()
    assert el.get('id') == 'orig1', to_string(el)
    assert raw.encode('utf-8') in b.tail, 'b did not receive the original bytes; got %r' % b.tail[-800:]


def test_iq_round_trip(router):
    r = router()
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    for i in range(100):
        a.send(iq('get', 'ping%d' % i, "<ping xmlns='urn:xmpp:ping'/>", to='b.localhost', frm='a.localhost'))
    reqs = b.collect(100)
    for q in reqs:
        b.send(iq('result', q.get('id'), to=q.get('from'), frm='b.localhost'))
    res = a.collect(100)
    assert [x.get('id') for x in res] == ['ping%d' % i for i in range(100)]
    assert all(x.get('type') == 'result' and local(x) == 'iq' for x in res)
