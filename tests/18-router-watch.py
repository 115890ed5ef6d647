"""The watch extension (docs/components.md §3): a trusted stream hears of
every name bound and released, starting with the names bound when it asks;
untrusted streams cannot watch."""

from junction_helpers import (NS_JUNCTION, bind, connect_component, junction_iq, local,
                              stanza_error, to_string)

WATCH = "<watch xmlns='%s'/>" % NS_JUNCTION


def events(stream, n):
    got = stream.collect(n, pred=lambda e: local(e) == 'presence')
    out = []
    for e in got:
        child = list(e)[0]
        out.append((e.get('from'), e.get('type') or 'available', local(child),
                    child.get('instance'), child.get('mode')))
        trusted = child.get('instance') != 'a.localhost'
        assert child.get('trusted') == ('true' if trusted else 'false'), to_string(e)
    return out


def test_watch_bound_and_released(router):
    r = router()
    a = connect_component(r, 'a.localhost')
    watcher = connect_component(r, 'c2s.localhost', secret=r.secret)
    reply = junction_iq(watcher, 'set', 'w1', WATCH)
    assert reply.get('type') == 'result', to_string(reply)
    # First the names bound already (a.localhost, and the watcher's own).
    initial = sorted(events(watcher, 2))
    assert initial == [
        ('a.localhost', 'available', 'bound', 'a.localhost', 'exclusive'),
        ('c2s.localhost', 'available', 'bound', 'c2s.localhost', 'exclusive'),
    ], initial

    sm1 = connect_component(r, 'sm1.localhost', secret=r.secret)
    assert events(watcher, 1) == [('sm1.localhost', 'available', 'bound', 'sm1.localhost',
                                   'exclusive')]
    assert bind(sm1, 'localhost', 'shared').get('type') == 'result'
    assert events(watcher, 1) == [('localhost', 'available', 'bound', 'sm1.localhost', 'shared')]

    # sm1 goes away: both its names are released, each reported.
    sm1.close()
    gone = sorted(events(watcher, 2))
    assert gone == [
        ('localhost', 'unavailable', 'unbound', 'sm1.localhost', 'shared'),
        ('sm1.localhost', 'unavailable', 'unbound', 'sm1.localhost', 'exclusive'),
    ], gone

    # An explicit unbind is reported too; the handshake name cannot be unbound.
    t = connect_component(r, 'sm2.localhost', secret=r.secret)
    events(watcher, 1)
    assert bind(t, 'extra.localhost').get('type') == 'result'
    events(watcher, 1)
    reply = junction_iq(t, 'set', 'u1', "<unbind xmlns='%s' name='extra.localhost'/>" % NS_JUNCTION)
    assert reply.get('type') == 'result'
    assert events(watcher, 1) == [('extra.localhost', 'unavailable', 'unbound', 'sm2.localhost',
                                   'exclusive')]
    reply = junction_iq(t, 'set', 'u2', "<unbind xmlns='%s' name='sm2.localhost'/>" % NS_JUNCTION)
    assert stanza_error(reply) == ('cancel', 'not-allowed'), to_string(reply)
    assert watcher.poll(0.3) is None


def test_untrusted_cannot_watch(router):
    r = router()
    a = connect_component(r, 'a.localhost')
    reply = junction_iq(a, 'set', 'w1', WATCH)
    assert stanza_error(reply) == ('cancel', 'service-unavailable'), to_string(reply)
    connect_component(r, 'b.localhost')
    assert a.poll(0.3) is None
