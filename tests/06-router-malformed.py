"""Malformed or forbidden XML on one stream (docs/components.md §1 table):
that stream gets the right stream error and is closed; the bad stanza is
not routed; two bystander components keep exchanging messages during and
after, and the offender's name can be bound again afterwards."""

import time

import pytest

from junction_helpers import (
    NS_STREAM, Chatter, connect_component, connect_raw, message, ping_pong,
    stream_header, to_string)

LIMITS = {'max_stanza_bytes': '4K', 'max_depth': '16', 'max_attrs': '16'}

HDR = "<message to='b.localhost' from='a.localhost' id='bad'>"

LAUGHS = ("<!DOCTYPE lolz [<!ENTITY lol 'lol'>"
          + ''.join("<!ENTITY lol%d '%s'>" % (i, ('&lol%s;' % ('' if i == 1 else i - 1)) * 10)
                    for i in range(1, 10))
          + ']>')

NWF = {'not-well-formed'}
RESTRICTED = {'restricted-xml'}
POLICY = {'policy-violation'}

# (case id, bytes sent after a successful handshake, acceptable conditions)
AFTER_HANDSHAKE = [
    ('unclosed-body', (HDR + '<body></message>').encode(), NWF),
    ('mismatched-stream-close', b'</stream:foo>', NWF),
    ('bad-utf8-toplevel', b'\xff', NWF),
    ('bad-utf8-in-body', HDR.encode() + b'<body>\xff</body></message>', NWF),
    ('overlong-utf8', HDR.encode() + b'<body>\xc0\xaf</body></message>', NWF),
    ('utf8-surrogate', HDR.encode() + b'<body>\xed\xa0\x80</body></message>', NWF),
    ('truncated-utf8-then-ascii', HDR.encode() + b'<body>\xe2\x82</body></message>', NWF),
    ('nul-char-ref', (HDR + '<body>&#0;</body></message>').encode(), NWF),
    ('control-char', HDR.encode() + b'<body>\x01</body></message>', NWF),
    ('undefined-entity', (HDR + '<body>&lol;</body></message>').encode(), NWF),
    ('unbound-prefix', (HDR + '<foo:bar/></message>').encode(), NWF),
    ('duplicate-attr', b"<message to='b.localhost' to='c.localhost' from='a.localhost'/>", NWF),
    ('comment-toplevel', b'<!-- hello -->', RESTRICTED),
    ('comment-in-stanza', (HDR + '<body>x<!-- c --></body></message>').encode(), RESTRICTED),
    ('processing-instruction', b'<?foo bar?>', RESTRICTED),
    ('pi-in-stanza', (HDR + '<?foo bar?><body>x</body></message>').encode(), RESTRICTED),
    # A DOCTYPE inside the stream is both ill-formed and restricted.
    ('doctype-midstream-laughs', (LAUGHS + HDR + '<body>&lol9;</body></message>').encode(),
     RESTRICTED | NWF),
    ('oversized', (HDR + '<body>' + 'x' * 8192 + '</body></message>').encode(), POLICY),
    ('oversized-unterminated', (HDR + '<body>' + 'y' * 65536).encode(), POLICY),
    ('oversized-start-tag', ("<message to='b.localhost' from='a.localhost' x='" + 'z' * 65536).encode(),
     POLICY),
    ('too-deep', (HDR + '<a>' * 40 + '</a>' * 40 + '</message>').encode(), POLICY),
    ('too-many-attrs', ("<message to='b.localhost' from='a.localhost' "
                        + ' '.join("a%d='1'" % i for i in range(40)) + '/>').encode(), POLICY),
    ('unsupported-stanza', b"<foo to='b.localhost' from='a.localhost'/>", {'unsupported-stanza-type'}),
    ('extension-from-untrusted', b"<bind xmlns='urn:junction:component:1' name='x.localhost'/>",
     {'unsupported-stanza-type'}),
]


def _bystanders(r):
    c = connect_component(r, 'c.localhost')
    d = connect_component(r, 'd.localhost')
    ping_pong(c, d, 3, tag='warmup')
    return c, d, Chatter(c, d).start()


def _after(r, chatter, c, d, b, rounds_at_error):
    # Bystanders kept going while the bad stream was dealt with ...
    time.sleep(0.5)
    rounds, worst = chatter.stop()
    assert rounds > rounds_at_error, 'bystander traffic stalled after the stream error'
    assert worst < 3.0, 'bystander round trip took %.2fs' % worst
    # ... and after.
    ping_pong(c, d, 20, tag='after')
    # The offender's name was released: it can come back and talk to b.
    a2 = connect_component(r, 'a.localhost')
    ping_pong(a2, b, 3, tag='back')


@pytest.mark.parametrize('case,payload,conds', AFTER_HANDSHAKE, ids=[c[0] for c in AFTER_HANDSHAKE])
def test_malformed_after_handshake(router, case, payload, conds):
    r = router(router_opts=LIMITS)
    b = connect_component(r, 'b.localhost')
    c, d, chatter = _bystanders(r)
    a = connect_component(r, 'a.localhost')
    # A legitimate large-ish stanza (under the 4K limit) first: it must pass.
    ok = message('b.localhost', 'a.localhost', 'big-ok', 'k' * 3000)
    a.send(ok)
    got = b.next()
    assert got.get('id') == 'big-ok', to_string(got)

    a.send(payload)
    cond = a.expect_stream_error()
    rounds_at_error = chatter.rounds
    assert cond in conds, '%s: got stream error %r, expected %s' % (case, cond, sorted(conds))
    # Nothing of the bad stanza reached b.
    stray = b.poll(0.5)
    assert stray is None, 'b received %s' % to_string(stray)
    _after(r, chatter, c, d, b, rounds_at_error)


def test_billion_laughs_in_prolog(router):
    """DTD with entity declarations before the stream header: restricted-xml,
    sent inside a stream of the router's own (RFC 6120 §4.9.1.1)."""
    r = router(router_opts=LIMITS)
    b = connect_component(r, 'b.localhost')
    c, d, chatter = _bystanders(r)
    s = connect_raw(r)
    s.name = 'laughs'
    t0 = time.monotonic()
    s.send("<?xml version='1.0'?>" + LAUGHS + stream_header('a.localhost').split('?>', 1)[1] + '&lol9;')
    cond = s.expect_stream_error()
    rounds_at_error = chatter.rounds
    assert cond == 'restricted-xml'
    assert s.root is not None and s.root.tag == '{%s}stream' % NS_STREAM
    assert time.monotonic() - t0 < 5
    _after(r, chatter, c, d, b, rounds_at_error)


def test_bad_utf8_in_header(router):
    r = router(router_opts=LIMITS)
    b = connect_component(r, 'b.localhost')
    c, d, chatter = _bystanders(r)
    s = connect_raw(r)
    s.name = 'badheader'
    s.send(b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
           b"xmlns:stream='http://etherx.jabber.org/streams' to='a\xff.localhost'>")
    cond = s.expect_stream_error()
    rounds_at_error = chatter.rounds
    assert cond in {'not-well-formed', 'host-unknown'}, cond
    _after(r, chatter, c, d, b, rounds_at_error)


def test_wrong_stream_namespace(router):
    """Not in the docs table; RFC 6120 §4.9.3.10 says invalid-namespace."""
    r = router()
    s = connect_raw(r)
    s.name = 'badns'
    s.send("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
           "xmlns:stream='urn:example:not-streams' to='a.localhost'>")
    cond = s.expect_stream_error()
    assert cond in {'invalid-namespace', 'not-well-formed'}, cond


def test_garbage_then_close_many(router):
    """Fifty connections sending junk in quick succession: the router
    survives (teardown checks exit status and sanitizers) and still works."""
    r = router(router_opts=LIMITS)
    junk = [b'\x00\x01\x02', b'GET / HTTP/1.1\r\nHost: x\r\n\r\n', b'<', b'<<<>>>',
            b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'",
            b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03']
    for i in range(50):
        s = connect_raw(r)
        s.send(junk[i % len(junk)])
        s.close(graceful=False)
    a = connect_component(r, 'a.localhost')
    b = connect_component(r, 'b.localhost')
    ping_pong(a, b, 5)
