"""Per-stream ordering across a destination with many senders
(docs/components.md §2.5): three components each send 2,000 messages to
one receiver at the same time; each sender's order is preserved."""

import threading
import time

import pytest

from junction_helpers import check_sequence, connect_component, local, send_numbered

PER_SENDER = 2000


@pytest.mark.timeout(90)
def test_three_senders_one_receiver(router):
    r = router()
    d = connect_component(r, 'd.localhost')
    senders = [connect_component(r, n) for n in ('a.localhost', 'b.localhost', 'c.localhost')]
    errors = []

    def run(s):
        try:
            send_numbered(s, 'user@d.localhost', 'x@' + s.name, PER_SENDER, s.name, chunk=25)
        except Exception as e:
            errors.append('%s: %s' % (s.name, e))

    threads = [threading.Thread(target=run, args=(s,)) for s in senders]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    got = d.collect(3 * PER_SENDER, timeout=60)
    elapsed = time.monotonic() - t0
    for t in threads:
        t.join(10)
    assert not errors, errors
    by_sender = {s.name: [] for s in senders}
    for el in got:
        assert local(el) == 'message' and el.get('type') != 'error', el.attrib
        by_sender[(el.get('from') or '').split('@')[-1]].append(el)
    for s in senders:
        check_sequence(by_sender[s.name], s.name, s.name, PER_SENDER)
    # Nobody got anything back (no bounces) and nothing extra arrived.
    for s in senders:
        assert s.poll(0.2) is None
    assert d.poll(0.3) is None
    # The senders really were interleaved (otherwise this tests nothing).
    first_block = [(el.get('from') or '').split('@')[-1] for el in got[:PER_SENDER]]
    print('6000 messages in %.1fs; senders in first third: %s'
          % (elapsed, {n: first_block.count(n) for n in set(first_block)}))


@pytest.mark.timeout(90)
def test_ring_of_many_streams(router):
    """100 trusted streams connect at once; each sends 20 messages to the
    next one in a ring: all arrive, in order, nothing bounces."""
    import concurrent.futures
    r = router()
    n = 100
    names = ['n%d.localhost' % i for i in range(n)]
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        streams = list(ex.map(lambda nm: connect_component(r, nm, secret=r.secret), names))
    for i, s in enumerate(streams):
        send_numbered(s, names[(i + 1) % n], names[i], 20, 'ring-' + names[i])
    for i, s in enumerate(streams):
        prev = names[(i - 1) % n]
        check_sequence(s.collect(20, 20), prev, 'ring-' + prev, 20)
    for s in streams:
        assert s.poll(0) is None
    for s in streams:
        s.close(graceful=False)
