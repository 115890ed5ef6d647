"""Shared names (docs/components.md §2.2, §3): two trusted sm instances
bind 'localhost' in shared mode; each user's traffic always meets the same
instance, both get a share, an instance leaving moves its users to the
other, and coming back returns exactly the same users (rendezvous hashing
over the instances' primary names)."""

import pytest

from junction_helpers import (
    NS_JUNCTION, bind, connect_component, junction_iq, local, message, stanza_error, to_string)

USERS = 200


def _sm(r, name):
    s = connect_component(r, name, secret=r.secret)
    reply = bind(s, 'localhost', 'shared', id='bind-' + name)
    assert local(reply) == 'iq' and reply.get('type') == 'result', to_string(reply)
    return s


def _send_round(sender, tag, per_user):
    batch = []
    for i in range(USERS):
        for k in range(per_user):
            batch.append(message('user%d@localhost/r%d' % (i, k), 'a.localhost',
                                 '%s-u%d-%d' % (tag, i, k), 'x'))
    for j in range(0, len(batch), 100):
        sender.send(''.join(batch[j:j + 100]))
    return len(batch)


def _gather(total, instances, tag):
    """Collect `total` messages of round `tag` across the instances; return
    {user: set(instance names)} and per-instance, per-user id lists."""
    import time
    got = {s.name: [] for s in instances}
    deadline = time.monotonic() + 30
    n = 0
    while n < total and time.monotonic() < deadline:
        progressed = False
        for s in instances:
            el = s.poll(0.05)
            if el is None:
                continue
            progressed = True
            assert local(el) == 'message' and el.get('type') != 'error', '%s got %s' % (s.name, to_string(el))
            if not (el.get('id') or '').startswith(tag + '-'):
                continue
            got[s.name].append(el)
            n += 1
        if not progressed:
            continue
    assert n == total, 'round %s: %d of %d messages arrived (%s)' % (
        tag, n, total, {k: len(v) for k, v in got.items()})
    for s in instances:
        extra = s.poll(0.3)
        assert extra is None, '%s got an extra stanza %s' % (s.name, to_string(extra))
    owner = {}
    for name, els in got.items():
        per_user = {}
        for el in els:
            user = el.get('to').split('/')[0]
            owner.setdefault(user, set()).add(name)
            per_user.setdefault(user, []).append(el.get('id'))
        for user, ids in per_user.items():
            assert ids == sorted(ids, key=lambda x: int(x.rsplit('-', 1)[1])), (user, ids)
    return owner


@pytest.mark.timeout(120)
def test_shared_bind_rendezvous(router):
    r = router()
    a = connect_component(r, 'a.localhost')
    sm1 = _sm(r, 'sm1.localhost')
    sm2 = _sm(r, 'sm2.localhost')

    total = _send_round(a, 'r1', 3)
    owner = _gather(total, [sm1, sm2], 'r1')
    split = {u: s for u, s in owner.items() if len(s) != 1}
    assert not split, 'users split across instances: %s' % dict(list(split.items())[:5])
    assign1 = {u: next(iter(s)) for u, s in owner.items()}
    assert len(assign1) == USERS
    n2 = sum(1 for v in assign1.values() if v == 'sm2.localhost')
    n1 = USERS - n2
    assert n1 >= USERS * 0.2 and n2 >= USERS * 0.2, 'unbalanced: sm1=%d sm2=%d' % (n1, n2)

    # Deterministic: a second round lands exactly the same way.
    total = _send_round(a, 'r2', 1)
    owner = _gather(total, [sm1, sm2], 'r2')
    assert {u: next(iter(s)) for u, s in owner.items()} == assign1

    # sm2 leaves: everything goes to sm1, nothing bounces.
    sm2.end()
    total = _send_round(a, 'r3', 1)
    owner = _gather(total, [sm1], 'r3')
    assert len(owner) == USERS
    assert a.poll(0.3) is None, 'a got %s' % to_string(a.poll(0))

    # sm2 comes back: exactly its old users return to it.
    sm2b = _sm(r, 'sm2.localhost')
    total = _send_round(a, 'r4', 2)
    owner = _gather(total, [sm1, sm2b], 'r4')
    assign4 = {u: next(iter(s)) for u, s in owner.items()}
    moved = sorted(u for u in assign1 if assign4.get(u) != assign1[u])
    assert not moved, '%d users changed instance after sm2 returned: %s' % (len(moved), moved[:10])


def test_shared_bind_case_and_resource_insensitive(router):
    """The hash is over the normalised bare JID: resource and case don't
    move a user."""
    r = router()
    a = connect_component(r, 'a.localhost')
    sm1 = _sm(r, 'sm1.localhost')
    sm2 = _sm(r, 'sm2.localhost')
    variants = ['alice@localhost', 'alice@localhost/phone', 'Alice@LocalHost/laptop', 'ALICE@localhost']
    holders = set()
    for i, to in enumerate(variants):
        a.send(message(to, 'a.localhost', 'v%d' % i, 'x'))
    got = 0
    import time
    deadline = time.monotonic() + 10
    while got < len(variants) and time.monotonic() < deadline:
        for s in (sm1, sm2):
            el = s.poll(0.05)
            if el is not None:
                holders.add(s.name)
                got += 1
    assert got == len(variants)
    assert len(holders) == 1, 'one user reached both instances'


def test_shared_requires_shared_mode(router):
    """Once held in shared mode, an exclusive bind of the same name is a
    conflict; an untrusted stream may not bind at all: it sees no extension
    (service-unavailable, docs/components.md §3)."""
    r = router()
    sm1 = _sm(r, 'sm1.localhost')  # holds 'localhost' in shared mode
    t = connect_component(r, 'sm3.localhost', secret=r.secret)
    assert sm1.poll(0) is None
    reply = bind(t, 'localhost', 'exclusive', id='bx')
    assert reply.get('type') == 'error' and stanza_error(reply) == ('cancel', 'conflict'), to_string(reply)

    # §3: to an untrusted stream the extension does not exist.
    a = connect_component(r, 'a.localhost')
    reply = junction_iq(a, 'set', 'bu', "<bind xmlns='%s' name='x.localhost'/>" % NS_JUNCTION)
    assert stanza_error(reply) == ('cancel', 'service-unavailable'), to_string(reply)
    # ... and the name was not bound: a stanza to it is not routed to a.
    a.send(message('u@x.localhost', 'a.localhost', 'nb1', 'x'))
    el = a.wait_for(lambda e: e.get('id') == 'nb1')
    assert stanza_error(el)[1] == 'remote-server-not-found', to_string(el)

    reply = bind(t, 'not a domain', 'exclusive', id='bm')
    assert stanza_error(reply) == ('modify', 'jid-malformed'), to_string(reply)


def test_bind_exclusive_and_unbind(router):
    """A trusted stream binds an extra exclusive name, receives for it, may
    send from it, unbinds it; afterwards it bounces (served? no:
    remote-server-not-found)."""
    r = router()
    t = connect_component(r, 'sm1.localhost', secret=r.secret)
    reply = bind(t, 'extra.example', id='be')
    assert reply.get('type') == 'result', to_string(reply)
    a = connect_component(r, 'a.localhost')
    a.send(message('u@extra.example', 'a.localhost', 'e1', 'x'))
    el = t.next()
    assert el.get('id') == 'e1', to_string(el)
    t.send(message('a.localhost', 'u@extra.example', 'e2', 'from extra'))
    el = a.next()
    assert el.get('id') == 'e2' and el.get('type') != 'error', to_string(el)
    reply = junction_iq(t, 'set', 'ub', "<unbind xmlns='%s' name='extra.example'/>" % NS_JUNCTION)
    assert reply.get('type') == 'result', to_string(reply)
    a.send(message('u@extra.example', 'a.localhost', 'e3', 'x'))
    el = a.next()
    assert el.get('id') == 'e3' and stanza_error(el) == ('cancel', 'remote-server-not-found'), to_string(el)


def test_default_route(router):
    """§2.3: a domain nobody bound goes to the stream holding the default
    route (s2s), which may send from any domain; only one default at a time;
    after unbinding it, unknown domains bounce again."""
    r = router()
    s2s = connect_component(r, 's2s.localhost', secret=r.secret)
    reply = junction_iq(s2s, 'set', 'd1', "<bind xmlns='%s' default='true'/>" % NS_JUNCTION)
    assert reply.get('type') == 'result', to_string(reply)
    other = connect_component(r, 's2s2.localhost', secret=r.secret)
    reply = junction_iq(other, 'set', 'd2', "<bind xmlns='%s' default='true'/>" % NS_JUNCTION)
    assert stanza_error(reply) == ('cancel', 'conflict'), to_string(reply)

    a = connect_component(r, 'a.localhost')
    a.send(message('juliet@capulet.example', 'a.localhost', 'r1', 'to the world'))
    el = s2s.next()
    assert el.get('id') == 'r1' and el.get('to') == 'juliet@capulet.example', to_string(el)
    # A served domain nobody bound (u@localhost, or a configured component
    # that is offline) never goes to s2s: it bounces service-unavailable.
    for i, to in enumerate(('u@localhost', 'x@d.localhost')):
        a.send(message(to, 'a.localhost', 'sv%d' % i, 'x'))
        el = a.wait_for(lambda e, i=i: e.get('id') == 'sv%d' % i)
        assert stanza_error(el) == ('cancel', 'service-unavailable'), to_string(el)
    assert s2s.poll(0.3) is None, 'a served domain went to the default route'
    # s2s may send from any domain.
    s2s.send(message('a.localhost', 'romeo@montague.example/x', 'r3', 'reply'))
    el = a.next()
    assert el.get('id') == 'r3' and el.get('type') != 'error', to_string(el)

    reply = junction_iq(s2s, 'set', 'd3', "<unbind xmlns='%s' default='true'/>" % NS_JUNCTION)
    assert reply.get('type') == 'result', to_string(reply)
    a.send(message('juliet@capulet.example', 'a.localhost', 'r4', 'x'))
    el = a.next()
    assert el.get('id') == 'r4' and stanza_error(el) == ('cancel', 'remote-server-not-found'), to_string(el)
    # ... and s2s may no longer send from foreign domains.
    s2s.send(message('a.localhost', 'romeo@montague.example/x', 'r5', 'x'))
    el = s2s.wait_for(lambda e: e.get('id') == 'r5')
    assert stanza_error(el) == ('cancel', 'forbidden'), to_string(el)
    # The default route is released when its stream closes.
    reply = junction_iq(other, 'set', 'd4', "<bind xmlns='%s' default='true'/>" % NS_JUNCTION)
    assert reply.get('type') == 'result', to_string(reply)
