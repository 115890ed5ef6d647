"""Slow consumers (docs/components.md §2 "Slow components and
backpressure"): a component that stops reading gets its queue capped at
queue_limit; senders get resource-constraint (wait) errors instead of silent
drops; other traffic is unaffected; after stall_timeout the slow stream is
closed and its queued stanzas bounced; router memory stays bounded."""

import time

import pytest

from junction_helpers import (
    NS_JUNCTION, Chatter, child, connect_component, iq, junction_iq, local, message, ping_pong,
    rss_kb, stanza_error, stream_error, to_string)

QUEUE = {'queue_limit': '64K', 'stall_timeout': '2s', 'max_stanza_bytes': '256K'}
RSS_LIMIT_KB = 200 * 1024
# ASan keeps freed memory in a quarantine of up to 256 MB, so under ASan RSS
# grows with allocation churn, not with what the router holds. A small
# quarantine keeps RSS a measure of live memory (use-after-free detection
# still works for recent frees).
ASAN_RSS = 'quarantine_size_mb=16'
BODY = 'p' * 1000


def _flood(r, a, n_after_first=4000, cap=30000, chunk=50):
    """a sends ~1 KB messages to b until the first resource-constraint
    bounce arrives, then n_after_first more. Returns (sent ids, bounces seen
    while flooding, max RSS)."""
    sent = []
    bounces = []
    max_rss = 0
    first_at = None
    i = 0
    while i < cap:
        batch = []
        for _ in range(chunk):
            mid = 'f%d' % i
            batch.append(message('b.localhost', 'a.localhost', mid, BODY))
            sent.append(mid)
            i += 1
        a.send(''.join(batch))
        while True:
            el = a.poll(0)
            if el is None:
                break
            bounces.append(el)
        max_rss = max(max_rss, rss_kb(r.pid))
        if first_at is None and bounces:
            first_at = i
        if first_at is not None and i - first_at >= n_after_first:
            break
    return sent, bounces, max_rss, first_at


BOUNCE_OK = (('wait', 'resource-constraint'), ('cancel', 'service-unavailable'))


@pytest.mark.timeout(120)
def test_slow_consumer(router):
    r = router(router_opts=QUEUE, asan_options=ASAN_RSS)
    a = connect_component(r, 'a.localhost')
    # b: tiny receive buffer, set before connect, and never reads.
    b = connect_component(r, 'b.localhost', reader=False, rcvbuf=4096)
    c = connect_component(r, 'c.localhost')
    d = connect_component(r, 'd.localhost')
    ping_pong(c, d, 3, tag='warmup')
    chatter = Chatter(c, d, interval=0.01).start()
    rss0 = rss_kb(r.pid)

    # 1. Flood until the router pushes back.
    t0 = time.monotonic()
    sent, bounces, max_rss, first_at = _flood(r, a, n_after_first=0)
    flood_time = time.monotonic() - t0
    assert first_at is not None, (
        'no bounce at all after %d x 1KB messages to a non-reading b (queue_limit 64K)' % len(sent))
    first = bounces[0]
    assert local(first) == 'message', to_string(first)
    assert stanza_error(first) == ('wait', 'resource-constraint'), to_string(first)
    assert first.get('id', '').startswith('f'), to_string(first)
    assert max_rss < RSS_LIMIT_KB, 'router RSS %d kB while flooding (was %d kB)' % (max_rss, rss0)
    rounds_during = chatter.rounds

    # 2. Keep the pressure on (b still never reads) until the router gives
    #    up on b. The kernel socket buffers towards b absorb a few MB before
    #    the router's own queue stays over queue_limit for good, so keep
    #    sending at ~2 MB/s. Once b is closed, messages to it bounce with
    #    service-unavailable (b is gone, but served: it has a [component]
    #    section) -- that is how a sees it.
    t1 = time.monotonic()
    closed_at = None
    while time.monotonic() - t1 < 25 and closed_at is None:
        batch = []
        for _ in range(20):
            mid = 'f%d' % len(sent)
            batch.append(message('b.localhost', 'a.localhost', mid, BODY))
            sent.append(mid)
        a.send(''.join(batch))
        end = time.monotonic() + 0.01
        while True:
            el = a.poll(max(0, end - time.monotonic()))
            if el is None:
                break
            bounces.append(el)
            if closed_at is None and stanza_error(el) == ('cancel', 'service-unavailable'):
                closed_at = time.monotonic()
        max_rss = max(max_rss, rss_kb(r.pid))
    if closed_at is None:
        pressure = set(sent[first_at:])
        rc = sum(1 for e in bounces if e.get('id') in pressure
                 and stanza_error(e) == ('wait', 'resource-constraint'))
        raise AssertionError(
            'b never read anything, a kept sending to it for %.1fs after the first '
            'resource-constraint bounce (%d of %d of those messages bounced as '
            'resource-constraint), and messages to b still did not bounce with '
            'service-unavailable (stall_timeout is 2s)'
            % (time.monotonic() - t1, rc, len(pressure)))
    assert max_rss < RSS_LIMIT_KB, 'router RSS %d kB while flooding (was %d kB)' % (max_rss, rss0)
    # The queue cannot have been over the limit before the first bounce.
    assert closed_at - t1 >= 1.5, (
        'b was dropped %.2fs after its queue first overflowed; stall_timeout is 2s' % (closed_at - t1))
    print('b considered gone %.1fs after its queue first overflowed; %d sent; RSS %d -> max %d kB'
          % (closed_at - t1, len(sent), rss0, max_rss))

    rounds, worst = chatter.stop()
    assert worst < 2.0, 'bystander round trip took %.2fs while b was stalled' % worst
    assert rounds > rounds_during, 'bystander traffic stopped while b was stalled'
    ping_pong(c, d, 50, tag='after')

    # 3. Later messages and iqs to b bounce with service-unavailable.
    a.send(message('b.localhost', 'a.localhost', 'late1', 'x'))
    a.send(iq('get', 'late2', "<ping xmlns='urn:xmpp:ping'/>", to='b.localhost', frm='a.localhost'))
    others = []
    try:
        l1 = a.wait_for(lambda e: e.get('id') == 'late1', 15, others=others)
        l2 = a.wait_for(lambda e: e.get('id') == 'late2', 15, others=others)
    except AssertionError as e:
        raise AssertionError('%s; a received meanwhile %d other stanzas (last: %s)'
                             % (e, len(others), to_string(others[-1])[:300] if others else None))
    bounces.extend(others)
    assert stanza_error(l1) == ('cancel', 'service-unavailable'), to_string(l1)
    assert stanza_error(l2) == ('cancel', 'service-unavailable'), to_string(l2)

    # 4. b now drains its socket: whatever was written before the close,
    #    then (if it got through) a policy-violation stream error, then EOF.
    b.start_reader()
    delivered = []
    stream_errors = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            el = b._wait_item(time.monotonic() + 1)
        except Exception:
            break
        if el is None:
            continue
        if local(el) == 'error':
            stream_errors.append(el)
        elif local(el) == 'message':
            delivered.append(el.get('id'))
    assert b.eof or b.stream_ended, 'router did not close the stalled stream b'
    for se in stream_errors:
        assert stream_error(se) == 'policy-violation', to_string(se)

    # 5. Never a silent drop, never both: every message a sent either
    #    reached b or came back to a as an error -- exactly one of the two.
    bounces.extend(a.drain(quiet=1.0))
    bounced_ids = []
    for e in bounces:
        if (e.get('id') or '').startswith('f'):
            assert stanza_error(e) in BOUNCE_OK, to_string(e)
            bounced_ids.append(e.get('id'))
    dup_b = len(bounced_ids) - len(set(bounced_ids))
    dup_d = len(delivered) - len(set(delivered))
    both = sorted(set(bounced_ids) & set(delivered), key=lambda x: int(x[1:]))
    lost = [m for m in sent if m not in set(bounced_ids) and m not in set(delivered)]
    problems = []
    if dup_b:
        problems.append('%d stanzas bounced twice' % dup_b)
    if dup_d:
        problems.append('%d stanzas delivered twice' % dup_d)
    if both:
        problems.append('%d stanzas were both delivered to b and bounced to a (%s .. %s)'
                        % (len(both), both[0], both[-1]))
    if lost:
        problems.append('%d stanzas neither delivered nor bounced (%s .. %s)'
                        % (len(lost), lost[0], lost[-1]))
    if problems:
        # Show the neighbourhood of the first anomaly, for the report.
        anomalies = [int(x[1:]) for x in (both + lost)]
        dset = set(delivered)
        for k in range(min(anomalies) - 5, max(anomalies) + 5):
            mid = 'f%d' % k
            print(mid, 'delivered' if mid in dset else '-',
                  [stanza_error(e) for e in bounces if e.get('id') == mid])
    assert not problems, '%s; sent %d, b received %d (last %s), a got %d bounces' % (
        '; '.join(problems), len(sent), len(delivered), delivered[-1] if delivered else None,
        len(bounced_ids))
    # What b got, it got in order.
    order = [int(x[1:]) for x in delivered]
    assert order == sorted(order), 'b received flood messages out of order'
    print('flood: %d sent in %.1fs, first bounce after %d, %d delivered, %d bounced, RSS %d->%d kB'
          % (len(sent), flood_time, first_at, len(delivered), len(bounced_ids), rss0, max_rss))


@pytest.mark.timeout(90)
def test_slow_consumer_recovers_before_stall_timeout(router):
    """A reader that is briefly slow (shorter than stall_timeout) is not
    disconnected: once it reads again, fresh messages reach it."""
    r = router(router_opts={'queue_limit': '64K', 'stall_timeout': '10s'})
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost', reader=False, rcvbuf=4096)
    sent, bounces, _rss, first_at = _flood(r, a, n_after_first=200, cap=20000)
    assert first_at is not None, 'no resource-constraint bounce'
    b.start_reader()
    # b catches up (everything queued for it arrives, in order) ...
    caught_up = b.drain(quiet=1.0, limit=30)
    assert all(local(e) == 'message' for e in caught_up), [to_string(e)[:200] for e in caught_up
                                                          if local(e) != 'message']
    order = [int(e.get('id')[1:]) for e in caught_up]
    assert order == sorted(order)
    # ... and is not disconnected: fresh messages reach it.
    bounces.extend(a.drain(quiet=0.5))
    for i in range(5):
        a.send(message('b.localhost', 'a.localhost', 'fresh%d' % i, 'x'))
    got = b.collect(5, 15)
    assert [e.get('id') for e in got] == ['fresh%d' % i for i in range(5)], [to_string(e) for e in got]
    late = [e for e in a.drain(quiet=0.5) if (e.get('id') or '').startswith('fresh')]
    assert not late, 'fresh messages bounced: %s' % [to_string(e) for e in late]

    # Every message either reached b or bounced, and the status counter for
    # a's stream agrees with the bounces a saw (§2: "counts them as bounced").
    got_ids = set(e.get('id') for e in caught_up)
    bounced_ids = set(e.get('id') for e in bounces
                      if stanza_error(e) == ('wait', 'resource-constraint'))
    lost = [m for m in sent if m not in got_ids and m not in bounced_ids]
    assert not lost, '%d messages neither delivered nor bounced (%s ..)' % (len(lost), lost[:3])
    assert not (got_ids & bounced_ids), 'delivered and bounced: %s' % sorted(got_ids & bounced_ids)[:5]
    ctl = connect_component(r, 'ctl.localhost', secret=r.secret)
    reply = junction_iq(ctl, 'get', 'st', "<status xmlns='%s'/>" % NS_JUNCTION)
    st = [s for s in child(reply, 'status', NS_JUNCTION) if s.get('name') == 'a.localhost']
    assert len(st) == 1, to_string(reply)
    assert int(st[0].get('bounced')) == len(bounced_ids), (
        'status says a.localhost bounced=%s, a received %d resource-constraint bounces'
        % (st[0].get('bounced'), len(bounced_ids)))


@pytest.mark.timeout(90)
def test_sender_that_does_not_read_its_bounces(router):
    """a floods a non-reading b and does not read its own bounces either:
    the router stops reading a (its own queue is full) instead of growing;
    c and d are not affected and RSS stays bounded."""
    r = router(router_opts={'queue_limit': '64K', 'stall_timeout': '30s'}, asan_options=ASAN_RSS)
    a = connect_component(r, 'a.localhost', reader=False, rcvbuf=4096)
    b = connect_component(r, 'b.localhost', reader=False, rcvbuf=4096)
    c = connect_component(r, 'c.localhost')
    d = connect_component(r, 'd.localhost')
    chatter = Chatter(c, d).start()
    a.sock.settimeout(0.5)
    payload = ''.join(message('b.localhost', 'a.localhost', 'g%d' % i, BODY) for i in range(50))
    sent_bytes = 0
    max_rss = 0
    t_end = time.monotonic() + 8
    while time.monotonic() < t_end:
        try:
            a.sock.send(payload.encode())
            sent_bytes += len(payload)
        except (BlockingIOError, TimeoutError, OSError):
            pass
        max_rss = max(max_rss, rss_kb(r.pid))
        if sent_bytes > 64 * 1024 * 1024:
            break
    rounds, worst = chatter.stop()
    assert max_rss < RSS_LIMIT_KB, 'router RSS %d kB' % max_rss
    assert sent_bytes < 64 * 1024 * 1024, 'router kept reading a 64 MB flood from a stalled sender'
    assert worst < 2.0, 'bystander round trip %.2fs' % worst
    ping_pong(c, d, 20)
    # b (stall_timeout 30s) was not dropped: once it reads, it gets a's
    # messages, starting with the very first one.
    b.start_reader()
    got = b.drain(quiet=1.0, limit=20)
    assert got and all(local(e) == 'message' and e.get('from') == 'a.localhost' for e in got), \
        [to_string(e)[:200] for e in got[:3]]
    assert [e.get('id') for e in got[:50]] == ['g%d' % i for i in range(min(50, len(got)))]
