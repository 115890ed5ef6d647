"""The status extension (docs/components.md §3): a trusted stream asks the
router itself, and gets one <stream/> per authenticated stream with its
binds and counters."""

import re

from junction_helpers import (
    NS_JUNCTION, bind, child, connect_component, junction_iq, local, message, stanza_error,
    to_string)

STATUS = "<status xmlns='%s'/>" % NS_JUNCTION
ISO = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$')


def _status(s, id='s1'):
    reply = junction_iq(s, 'get', id, STATUS)
    assert local(reply) == 'iq' and reply.get('type') == 'result', to_string(reply)
    st = child(reply, 'status', NS_JUNCTION)
    assert st is not None, to_string(reply)
    return st


def _streams(st):
    out = {}
    for s in st:
        assert local(s) == 'stream', to_string(s)
        out.setdefault(s.get('name'), []).append(s)
    return out


def test_status_lists_streams_with_counters(router):
    r = router(extra_components={'offline.localhost': 'x'})
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    sm = connect_component(r, 'sm1.localhost', secret=r.secret)
    reply = bind(sm, 'localhost', 'shared', id='bs')
    assert reply.get('type') == 'result', to_string(reply)

    # a -> b: 5 messages, all read by b.
    for i in range(5):
        a.send(message('b.localhost', 'a.localhost', 'm%d' % i, 'x'))
    assert [e.get('id') for e in b.collect(5)] == ['m%d' % i for i in range(5)]
    # b -> a: 2 messages.
    for i in range(2):
        b.send(message('a.localhost', 'b.localhost', 'n%d' % i, 'x'))
    a.collect(2)
    # a forges a from once: rejected=1 for a.
    a.send(message('b.localhost', 'x@other.localhost', 'forged', 'x'))
    el = a.wait_for(lambda e: e.get('id') == 'forged')
    assert stanza_error(el) == ('cancel', 'forbidden'), to_string(el)

    ctl = connect_component(r, 'ctl.localhost', secret=r.secret)
    st = _status(ctl)
    assert st.get('version') == '1', to_string(st)
    assert (st.get('uptime') or '').isdigit(), to_string(st)
    streams = _streams(st)
    for name in ('a.localhost', 'b.localhost', 'sm1.localhost', 'ctl.localhost'):
        assert len(streams.get(name, [])) == 1, 'stream %s listed %d times: %s' % (
            name, len(streams.get(name, [])), to_string(st))
    assert 'offline.localhost' not in streams, 'a stream that is not connected is listed'

    sa, sb, ssm, sctl = (streams[n][0] for n in ('a.localhost', 'b.localhost', 'sm1.localhost', 'ctl.localhost'))
    ids = [s.get('id') for s in (sa, sb, ssm, sctl)]
    assert all(ids) and len(set(ids)) == 4, ids
    for s in (sa, sb, ssm, sctl):
        for attr in ('in', 'out', 'bounced', 'rejected', 'queued'):
            assert (s.get(attr) or '').isdigit(), '%s missing %s: %s' % (s.get('name'), attr, to_string(s))
        assert ISO.match(s.get('since') or ''), to_string(s)
    assert sa.get('trusted') == 'false' and sb.get('trusted') == 'false'
    assert ssm.get('trusted') == 'true' and sctl.get('trusted') == 'true'

    # Counters: a sent 5 messages to b plus 1 forged one; b sent 2 to a.
    assert int(sb.get('out')) == 5, to_string(sb)
    assert int(sb.get('in')) == 2, to_string(sb)
    assert int(sa.get('in')) in (5, 6), to_string(sa)   # the rejected one may or may not count as in
    assert int(sa.get('out')) in (2, 3), to_string(sa)  # 2 messages (+ the forbidden error)
    assert int(sa.get('rejected')) == 1, to_string(sa)
    assert int(sb.get('rejected')) == 0 and int(sb.get('bounced')) == 0, to_string(sb)
    assert int(sa.get('queued')) == 0 and int(sb.get('queued')) == 0

    # Binds.
    def binds(s):
        return sorted((x.get('name'), x.get('mode')) for x in s if local(x) == 'bind')
    assert binds(sa) == [('a.localhost', 'exclusive')], to_string(sa)
    assert binds(ssm) == [('localhost', 'shared'), ('sm1.localhost', 'exclusive')], to_string(ssm)


def test_status_follows_disconnects(router):
    r = router()
    ctl = connect_component(r, 'ctl.localhost', secret=r.secret)
    a = connect_component(r, 'a.localhost')
    assert 'a.localhost' in _streams(_status(ctl, 'q1'))
    a.end()
    assert 'a.localhost' not in _streams(_status(ctl, 'q2'))


def test_status_untrusted_refused(router):
    """§2.7: untrusted streams get service-unavailable for iq without 'to'."""
    r = router()
    a = connect_component(r, 'a.localhost')
    reply = junction_iq(a, 'get', 's1', STATUS)
    assert reply.get('type') == 'error', to_string(reply)
    assert stanza_error(reply) == ('cancel', 'service-unavailable'), to_string(reply)


def test_unknown_extension_version(router):
    """A namespace for a version the router does not speak:
    service-unavailable."""
    r = router()
    ctl = connect_component(r, 'ctl.localhost', secret=r.secret)
    reply = junction_iq(ctl, 'get', 'v2', "<status xmlns='urn:junction:component:2'/>")
    assert stanza_error(reply) == ('cancel', 'service-unavailable'), to_string(reply)


def test_sighup_reloads_the_log_level(router):
    """SIGHUP re-reads the configuration's log level; the router keeps its
    streams and goes on routing."""
    import signal
    import time
    r = router()
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    r.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while b'reloaded log level' not in open(r.log_path, 'rb').read():
        assert time.monotonic() < deadline and r.proc.poll() is None
        time.sleep(0.05)
    a.send(message('x@b.localhost', 'y@a.localhost', id='after-hup', body='still here'))
    got = b.wait_for(lambda e: e.get('id') == 'after-hup')
    assert local(got) == 'message'
