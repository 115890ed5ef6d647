"""Duplicate bind: the second stream for a name gets a conflict stream
error; the first keeps working (docs/components.md §1)."""

import pytest

from junction_helpers import (
    HandshakeFailed, connect_component, connect_raw, ping_pong, to_string)


def test_duplicate_component_conflict(router):
    r = router()
    a1 = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    ping_pong(a1, b, 3, tag='before')

    a2 = connect_raw(r)
    a2.open('a.localhost')
    with pytest.raises(HandshakeFailed) as ei:
        a2.handshake(r.components['a.localhost'])
    assert ei.value.condition == 'conflict', to_string(ei.value.element)
    a2.wait_closed()

    # The first stream is untouched, in both directions.
    ping_pong(a1, b, 10, tag='after')


def test_duplicate_trusted_name_conflict(router):
    r = router()
    t1 = connect_component(r, 'sm1.localhost', secret=r.secret)
    t2 = connect_raw(r)
    t2.open('sm1.localhost')
    with pytest.raises(HandshakeFailed) as ei:
        t2.handshake(r.secret)
    assert ei.value.condition == 'conflict'
    a = connect_component(r, 'a.localhost')
    ping_pong(t1, a, 3)


def test_conflict_repeated(router):
    """Many rejected duplicates in a row don't disturb the holder."""
    r = router()
    a1 = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    for i in range(10):
        dup = connect_raw(r)
        dup.open('a.localhost')
        with pytest.raises(HandshakeFailed) as ei:
            dup.handshake(r.components['a.localhost'])
        assert ei.value.condition == 'conflict'
        dup.close(graceful=(i % 2 == 0))
    ping_pong(a1, b, 5)
