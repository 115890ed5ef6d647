"""Two unmodified slixmpp ComponentXMPP components exchange messages through
the router, both directions at once: everything arrives, in order
(docs/components.md §2.1 and §2.5)."""

import asyncio
import time

import pytest

from junction_helpers import slix_component

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
