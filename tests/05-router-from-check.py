"""From check (docs/components.md §2.6): a stream may only send from names
it bound. Forged stanzas come back as errors and are never delivered."""

import pytest

from junction_helpers import (
    connect_component, iq, local, message, presence, stanza_error, to_string)


def _setup(router):
    r = router()
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    return r, a, b


def _assert_b_got_only(b, a, sentinel_id):
    """b's next stanza must be a's sentinel: anything forged before it
    would show up first (one ordered queue a -> b)."""
    el = b.next(10)
    assert el.get('id') == sentinel_id, 'b received a forged stanza: %s' % to_string(el)
    assert b.poll(0.3) is None


@pytest.mark.parametrize('frm', [
    'someone@other.localhost',
    'other.localhost',
    'b.localhost',                 # another component's name
    'user@b.localhost/res',
    'localhost',                   # a served domain nobody bound
    'evil.a.localhost',            # a subdomain of our name is not our name
    'a.localhost.evil',
])
def test_forged_from_message(router, frm):
    r, a, b = _setup(router)
    a.send(message('b.localhost', frm, 'f1', 'forged'))
    others = []
    el = a.wait_for(lambda e: e.get('id') == 'f1', 10, others=others)
    assert local(el) == 'message', to_string(el)
    assert stanza_error(el) == ('cancel', 'forbidden'), to_string(el)
    assert not others, [to_string(o) for o in others]
    a.send(message('b.localhost', 'a.localhost', 'ok1', 'legit'))
    _assert_b_got_only(b, a, 'ok1')


def test_forged_from_iq_and_presence(router):
    r, a, b = _setup(router)
    a.send(iq('get', 'fi1', "<ping xmlns='urn:xmpp:ping'/>", to='b.localhost', frm='x@other.localhost'))
    el = a.wait_for(lambda e: e.get('id') == 'fi1')
    assert local(el) == 'iq' and stanza_error(el) == ('cancel', 'forbidden'), to_string(el)
    a.send(presence('b.localhost', 'x@other.localhost', id='fp1'))
    a.send(message('b.localhost', 'a.localhost', 'ok2', 'legit'))
    _assert_b_got_only(b, a, 'ok2')


def test_missing_from_rejected(router):
    """§2.6 lists a missing 'from' with the forbidden case but also says
    jid-malformed "for an invalid from"; either condition is accepted here
    (the docs should pick one), but the stanza must come back and must not
    be delivered."""
    r, a, b = _setup(router)
    a.send("<message to='b.localhost' id='nf1'><body>no from</body></message>")
    el = a.wait_for(lambda e: e.get('id') == 'nf1')
    assert stanza_error(el) in (('cancel', 'forbidden'), ('modify', 'jid-malformed'),
                                ('cancel', 'jid-malformed')), to_string(el)
    a.send(message('b.localhost', 'a.localhost', 'ok3', 'legit'))
    _assert_b_got_only(b, a, 'ok3')


@pytest.mark.parametrize('frm', ['a@b@a.localhost', '@a.localhost', 'user@a.localhost/'])
def test_invalid_from_jid_malformed(router, frm):
    r, a, b = _setup(router)
    a.send(message('b.localhost', frm, 'jm1', 'bad from'))
    el = a.wait_for(lambda e: e.get('id') == 'jm1')
    # §2.6 names the condition but not the type for a bad 'from'.
    assert (stanza_error(el) or (None, None))[1] == 'jid-malformed', to_string(el)
    a.send(message('b.localhost', 'a.localhost', 'ok4', 'legit'))
    _assert_b_got_only(b, a, 'ok4')


def test_legit_from_variants_delivered(router):
    """The positive side: any JID at our own domain passes, and the bytes
    arrive unchanged (payload children and attributes intact)."""
    r, a, b = _setup(router)
    froms = ['a.localhost', 'user@a.localhost', 'user@a.localhost/res', 'User@A.localhost/Res']
    for i, frm in enumerate(froms):
        a.send("<message to='x@b.localhost' from='%s' id='v%d' type='chat' xml:lang='de'>"
               "<body>v%d &amp; &lt;ok&gt;</body><thread>t</thread>"
               "<x xmlns='urn:example:custom' attr='1'><y>z</y></x></message>" % (frm, i, i))
    got = b.collect(len(froms), 10)
    for i, el in enumerate(got):
        assert el.get('id') == 'v%d' % i and el.get('from') == froms[i], to_string(el)
        assert el.get('type') == 'chat'
        assert el.find('{jabber:component:accept}body').text == 'v%d & <ok>' % i
        x = el.find('{urn:example:custom}x')
        assert x is not None and x.get('attr') == '1' and x.find('{urn:example:custom}y').text == 'z'


def test_prefixed_attributes_are_not_addressing(router):
    """Only the unqualified to/from attributes address a stanza: x:to and
    x:from in some other namespace must not steer routing or the from
    check."""
    r, a, b = _setup(router)
    c = connect_component(r, 'c.localhost')
    a.send("<message xmlns:x='urn:example:x' x:to='c.localhost' to='b.localhost' "
           "from='a.localhost' id='px1'><body>x</body></message>")
    el = b.next()
    assert el.get('id') == 'px1', to_string(el)
    assert c.poll(0.3) is None, 'x:to was used for routing'
    a.send("<message xmlns:x='urn:example:x' x:from='a.localhost' to='b.localhost' "
           "from='evil@other.localhost' id='px2'><body>x</body></message>")
    el = a.wait_for(lambda e: e.get('id') == 'px2')
    assert stanza_error(el) == ('cancel', 'forbidden'), to_string(el)
    a.send(message('b.localhost', 'a.localhost', 'px3', 'sentinel'))
    _assert_b_got_only(b, a, 'px3')
