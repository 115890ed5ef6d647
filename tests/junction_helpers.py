"""Shared helpers for the junction-router integration tests.

A deliberately small, library-free XEP-0114 client (`RawStream`) for the
protocol-edge tests, plus stanza builders and parsers for what comes back.
Everything talks to 127.0.0.1 only.

    s = connect_component(router, 'a.localhost')      # handshake done
    s.send(message('b.localhost', 'a.localhost', 'm1', 'hi'))
    el = s.next(timeout=5)                            # an ElementTree element
    assert stanza_error(el) == ('cancel', 'service-unavailable')
"""

import collections
import hashlib
import importlib.util
import os
import select
import socket
import threading
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

NS_ACCEPT = 'jabber:component:accept'
NS_STREAM = 'http://etherx.jabber.org/streams'
NS_STREAM_ERRORS = 'urn:ietf:params:xml:ns:xmpp-streams'
NS_STANZA_ERRORS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
NS_JUNCTION = 'urn:junction:component:1'

# How long a single expected reply may take. The router runs under
# ASan/UBSan, so be generous; tests that expect *nothing* use short waits.
REPLY_TIMEOUT = float(os.environ.get('JUNCTION_TEST_REPLY_TIMEOUT', '10'))


class StreamClosed(Exception):
    """The peer closed the XML stream or the TCP connection."""


class HandshakeFailed(Exception):
    def __init__(self, condition, element=None):
        super().__init__('handshake failed: %s' % condition)
        self.condition = condition
        self.element = element


# --------------------------------------------------------------------------
# element inspection

def local(el):
    """Local name of an element ('{ns}message' -> 'message')."""
    tag = el.tag
    return tag.rsplit('}', 1)[1] if tag.startswith('{') else tag


def ns(el):
    tag = el.tag
    return tag[1:].split('}', 1)[0] if tag.startswith('{') else ''


def to_string(el):
    if el is None:
        return 'None'
    return ET.tostring(el, encoding='unicode')


def is_stream_error(el):
    return el is not None and el.tag == '{%s}error' % NS_STREAM


def stream_error(el):
    """The defined condition of a <stream:error/>, or None if el is not one."""
    if not is_stream_error(el):
        return None
    for child in el:
        if ns(child) == NS_STREAM_ERRORS and local(child) != 'text':
            return local(child)
    return '(no condition)'


def stanza_error(el):
    """(type, condition) of an error stanza, or None if el is not type='error'."""
    if el is None or el.get('type') != 'error':
        return None
    err = None
    for child in el:
        if local(child) == 'error':
            err = child
    if err is None:
        return (None, '(no <error/> child)')
    cond = None
    for child in err:
        if ns(child) == NS_STANZA_ERRORS and local(child) != 'text':
            cond = local(child)
            break
    return (err.get('type'), cond)


def child(el, name, namespace=None):
    for c in el:
        if local(c) == name and (namespace is None or ns(c) == namespace):
            return c
    return None


def body_text(el):
    b = child(el, 'body')
    return b.text if b is not None else None


def bare_domain(jid):
    jid = jid or ''
    jid = jid.split('/', 1)[0]
    return jid.split('@', 1)[-1]


# --------------------------------------------------------------------------
# stanza builders (return str)

def _attrs(**attrs):
    out = []
    for k, v in attrs.items():
        if v is None:
            continue
        out.append(' %s=%s' % (k.rstrip('_'), quoteattr(str(v))))
    return ''.join(out)


def message(to, frm, id=None, body=None, type=None):
    inner = '<body>%s</body>' % escape(body) if body is not None else ''
    return '<message%s>%s</message>' % (_attrs(to=to, from_=frm, id=id, type=type), inner)


def iq(type, id, payload='', to=None, frm=None):
    return '<iq%s>%s</iq>' % (_attrs(type=type, id=id, to=to, from_=frm), payload)


def presence(to=None, frm=None, type=None, id=None):
    return '<presence%s/>' % _attrs(to=to, from_=frm, type=type, id=id)


def handshake_digest(stream_id, secret):
    return hashlib.sha1((stream_id + secret).encode('utf-8')).hexdigest()


def stream_header(to, namespace=NS_ACCEPT):
    attrs = ''
    if to is not None:
        attrs = ' to=%s' % quoteattr(to)
    return ("<?xml version='1.0'?><stream:stream xmlns=%s xmlns:stream='%s'%s>"
            % (quoteattr(namespace), NS_STREAM, attrs))


# --------------------------------------------------------------------------
# raw stream client

class RawStream:
    """One TCP connection to the router carrying a component stream.

    Incoming data is parsed incrementally; each complete top-level element
    (stanza, <handshake/>, <stream:error/>) is queued. Reading is either
    done on demand by next()/collect() (the default until start_reader()),
    or by a background thread after start_reader(); a stream that must not
    read at all (slow-consumer tests) simply never calls either.
    """

    def __init__(self, host, port, rcvbuf=None, sndbuf=None, connect_timeout=5.0, unix_path=None):
        family = socket.AF_UNIX if unix_path else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Must happen before connect() for the TCP window to follow it.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.sock.settimeout(connect_timeout)
        if unix_path:
            self.sock.connect(unix_path)
        else:
            self.sock.connect((host, port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(30.0)  # bounds a blocked sendall()
        self.name = None
        self.stream_id = None
        self.header = None          # attributes of the peer's stream header
        self.root = None
        self._parser = ET.XMLPullParser(events=('start', 'end'))
        self._depth = 0
        self._items = collections.deque()
        self._cond = threading.Condition()
        self.eof = False            # TCP connection ended (or reset)
        self.stream_ended = False   # peer sent </stream:stream>
        self.reset = False
        self.parse_error = None     # what the peer sent was not XML we could parse
        self.last_stream_error = None
        self.bytes_in = 0
        self.tail = b''             # last bytes received, for diagnostics
        self._reader = None
        self._stop = False
        self._send_lock = threading.Lock()

    # ---- low level -----------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        with self._send_lock:
            self.sock.sendall(data)

    def try_send(self, data):
        """send() that reports a reset connection as False instead of raising."""
        try:
            self.send(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            return False

    def _feed(self, data):
        self.bytes_in += len(data)
        self.tail = (self.tail + data)[-2048:]
        if self.stream_ended or self.parse_error is not None:
            return  # anything after the close (or after garbage) is ignored
        parse_error = None
        try:
            self._parser.feed(data)
        except ET.ParseError as e:
            parse_error = '%s (last bytes: %r)' % (e, self.tail[-300:])
        events = []
        try:
            for ev in self._parser.read_events():
                events.append(ev)
        except ET.ParseError as e:
            parse_error = parse_error or '%s (last bytes: %r)' % (e, self.tail[-300:])
        new = []
        ended = False
        for ev, el in events:
            if ev == 'start':
                self._depth += 1
                if self._depth == 1:
                    self.root = el
                    self.header = dict(el.attrib)
                    self.stream_id = el.get('id')
            else:
                self._depth -= 1
                if self._depth == 1:
                    new.append(el)
                    self.root.remove(el)
                    if is_stream_error(el):
                        self.last_stream_error = stream_error(el)
                elif self._depth == 0:
                    ended = True
        # Flags and elements change together, so a waiter never sees "ended"
        # before the elements that preceded the end.
        with self._cond:
            self._items.extend(new)
            if ended:
                self.stream_ended = True
            if parse_error is not None:
                self.parse_error = parse_error
            self._cond.notify_all()

    def _pump(self, timeout):
        """Read once (waiting at most timeout). False when nothing more will come."""
        if self.eof:
            return False
        try:
            r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        except (OSError, ValueError):
            r = None
            self.eof = True
        if r:
            try:
                data = self.sock.recv(262144)
            except (ConnectionResetError, OSError):
                data = b''
                self.reset = True
            if data:
                self._feed(data)
            else:
                self.eof = True
        if self.eof:
            with self._cond:
                self._cond.notify_all()
            return False
        return True

    def _reader_main(self):
        while not self._stop and self._pump(0.2):
            pass
        with self._cond:
            self._cond.notify_all()

    def start_reader(self):
        if self._reader is None:
            self._reader = threading.Thread(target=self._reader_main, daemon=True,
                                            name='raw-%s' % self.name)
            self._reader.start()
        return self

    def end(self, timeout=REPLY_TIMEOUT):
        """Close our stream, require the router's </stream:stream> (or EOF)
        in answer (docs §4), then close the socket. Returns what arrived
        meanwhile."""
        others = []
        self.send('</stream:stream>')
        self.wait_closed(timeout, others=others)
        self.close(graceful=False)
        return others

    def close(self, graceful=True):
        if graceful and not self.eof:
            self.try_send('</stream:stream>')
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._reader is not None:
            self._reader.join(5)
        self.sock.close()

    # ---- reading elements ----------------------------------------------
    def _wait_item(self, deadline):
        """Pop the next element, or None at the deadline; raise StreamClosed
        when the stream has ended and nothing is left."""
        while True:
            with self._cond:
                if self._items:
                    return self._items.popleft()
                if self.eof or self.stream_ended or self.parse_error:
                    raise StreamClosed(self.describe_end())
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                if self._reader is not None:
                    self._cond.wait(min(remaining, 0.5))
                    continue
            self._pump(min(remaining, 0.5))

    def describe_end(self):
        err = ''
        if self.last_stream_error:
            err = ' after stream error <%s/>' % self.last_stream_error
        if self.parse_error:
            return 'router sent unparsable XML: %s' % self.parse_error
        if self.stream_ended:
            return 'router closed the stream (</stream:stream>)' + err
        if self.reset:
            return 'connection reset' + err
        return 'connection closed (EOF)' + err

    def next(self, timeout=REPLY_TIMEOUT):
        """The next top-level element; AssertionError on timeout."""
        el = self._wait_item(time.monotonic() + timeout)
        if el is None:
            raise AssertionError('%s: nothing received within %.1fs' % (self.name, timeout))
        return el

    def poll(self, timeout=0.0):
        """The next element or None if none arrives within timeout; None also
        when the stream is closed."""
        try:
            return self._wait_item(time.monotonic() + timeout)
        except StreamClosed:
            return None

    def drain(self, quiet=0.5, limit=30.0):
        """Everything that arrives until `quiet` seconds pass without anything
        (or `limit` in total, or the stream ends)."""
        out = []
        end = time.monotonic() + limit
        while time.monotonic() < end:
            el = self.poll(quiet)
            if el is None:
                break
            out.append(el)
        return out

    def collect(self, n, timeout=REPLY_TIMEOUT * 3, pred=None, others=None):
        """Wait for n elements matching pred (all elements if pred is None).
        Non-matching ones are appended to `others` if given. Returns the list;
        AssertionError if fewer arrive in time."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            try:
                el = self._wait_item(deadline)
            except StreamClosed as e:
                raise AssertionError('%s: stream ended after %d of %d expected elements: %s'
                                     % (self.name, len(got), n, e))
            if el is None:
                raise AssertionError('%s: only %d of %d expected elements within %.1fs'
                                     % (self.name, len(got), n, timeout))
            if pred is None or pred(el):
                got.append(el)
            elif others is not None:
                others.append(el)
        return got

    def wait_for(self, pred, timeout=REPLY_TIMEOUT, others=None):
        return self.collect(1, timeout, pred, others)[0]

    def expect_stream_error(self, timeout=REPLY_TIMEOUT, others=None):
        """Read until a <stream:error/> arrives; return its condition. Then
        require that the stream is closed (</stream:stream> or EOF) too."""
        deadline = time.monotonic() + timeout
        cond = None
        while cond is None:
            try:
                el = self._wait_item(deadline)
            except StreamClosed as e:
                raise AssertionError('%s: stream ended without a stream error: %s (last bytes %r)'
                                     % (self.name, e, self.tail[-300:]))
            if el is None:
                raise AssertionError('%s: no stream error within %.1fs (last bytes %r)'
                                     % (self.name, timeout, self.tail[-300:]))
            if is_stream_error(el):
                cond = stream_error(el)
            elif others is not None:
                others.append(el)
        self.wait_closed(max(deadline - time.monotonic(), 3.0))
        return cond

    def wait_closed(self, timeout=REPLY_TIMEOUT, others=None):
        """Wait for the router to end the stream (close tag or EOF)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                el = self._wait_item(deadline)
            except StreamClosed:
                return
            if el is None:
                raise AssertionError('%s: router did not close the stream within %.1fs'
                                     % (self.name, timeout))
            if others is not None:
                others.append(el)

    def wait_eof(self, timeout=REPLY_TIMEOUT):
        """Wait for the TCP connection itself to end (read and discard)."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            if self._reader is not None:
                time.sleep(0.05)
            else:
                self._pump(0.2)
        return self.eof

    # ---- stream setup --------------------------------------------------
    def open(self, to, namespace=NS_ACCEPT, timeout=REPLY_TIMEOUT):
        """Send our stream header and wait for the router's; returns its id."""
        self.name = to
        self.send(stream_header(to, namespace))
        deadline = time.monotonic() + timeout
        while self.header is None:
            if self.eof or self.parse_error:
                raise StreamClosed('no stream header from router: ' + self.describe_end())
            if time.monotonic() > deadline:
                raise AssertionError('no stream header from router within %.1fs' % timeout)
            if self._reader is not None:
                time.sleep(0.02)
            else:
                self._pump(0.2)
        return self.stream_id

    def handshake(self, secret, timeout=REPLY_TIMEOUT):
        """Authenticate; HandshakeFailed(condition) on a stream error."""
        assert self.stream_id, 'router stream header had no id: %r' % self.header
        self.send('<handshake>%s</handshake>' % handshake_digest(self.stream_id, secret))
        try:
            el = self.next(timeout)
        except StreamClosed as e:
            raise HandshakeFailed('closed without stream error (%s)' % e)
        if is_stream_error(el):
            raise HandshakeFailed(stream_error(el), el)
        if el.tag != '{%s}handshake' % NS_ACCEPT:
            raise AssertionError('expected <handshake/>, got %s' % to_string(el))
        return el


def connect_raw(router, rcvbuf=None, sndbuf=None):
    return RawStream(router.host, router.port, rcvbuf=rcvbuf, sndbuf=sndbuf)


def connect_component(router, name, secret=None, reader=True, rcvbuf=None, sndbuf=None,
                      unix=False):
    """Open a stream as `name` and complete the handshake.

    The secret defaults to the [component NAME] secret if the router config
    has one, else the [router] secret (a trusted stream). unix=True uses
    the router's listen_unix socket instead of TCP."""
    if secret is None:
        secret = router.components.get(name, router.secret)
    s = RawStream(router.host, router.port, rcvbuf=rcvbuf, sndbuf=sndbuf,
                  unix_path=router.unix_path if unix else None)
    s.open(name)
    s.handshake(secret)
    if reader:
        s.start_reader()
    return s


def junction_iq(stream, type, id, payload, timeout=REPLY_TIMEOUT, others=None):
    """Send an extension iq (no 'to') and return the router's reply."""
    stream.send(iq(type, id, payload))
    return stream.wait_for(lambda e: local(e) == 'iq' and e.get('id') == id,
                           timeout, others=others)


def bind(stream, name, mode='exclusive', id='bind1'):
    reply = junction_iq(stream, 'set', id,
                        "<bind xmlns='%s' name=%s mode=%s/>" % (NS_JUNCTION, quoteattr(name), quoteattr(mode)))
    return reply


# --------------------------------------------------------------------------
# exchange helpers

def send_numbered(stream, to, frm, count, prefix, chunk=200):
    """Send `count` messages with id prefix-N and body prefix-N, batched."""
    batch = []
    for i in range(count):
        batch.append(message(to, frm, '%s-%d' % (prefix, i), '%s-%d' % (prefix, i)))
        if len(batch) >= chunk:
            stream.send(''.join(batch))
            batch = []
    if batch:
        stream.send(''.join(batch))


def check_sequence(els, frm_domain, prefix, count):
    """Assert els are exactly the messages prefix-0..count-1 in order and all
    came from frm_domain. Returns nothing; raises AssertionError with the
    first deviation."""
    ids = [e.get('id') for e in els]
    expected = ['%s-%d' % (prefix, i) for i in range(count)]
    if ids != expected:
        for i, (a, b) in enumerate(zip(ids, expected)):
            if a != b:
                raise AssertionError('order broken at position %d: got %r, expected %r '
                                     '(got %d messages, expected %d)' % (i, a, b, len(ids), count))
        raise AssertionError('got %d messages, expected %d' % (len(ids), count))
    for e in els:
        assert bare_domain(e.get('from')) == frm_domain, to_string(e)
        assert body_text(e) == e.get('id'), to_string(e)


def ping_pong(a, b, n=5, tag='pp', timeout=REPLY_TIMEOUT):
    """a sends n messages to b and b sends n to a; both must arrive in full
    and in order. Both streams must have reader threads."""
    send_numbered(a, b.name, a.name, n, '%s-%s' % (tag, a.name))
    send_numbered(b, a.name, b.name, n, '%s-%s' % (tag, b.name))
    pa = '%s-%s' % (tag, b.name)
    pb = '%s-%s' % (tag, a.name)
    got_b = b.collect(n, timeout, lambda e: local(e) == 'message' and (e.get('id') or '').startswith(pb + '-'))
    got_a = a.collect(n, timeout, lambda e: local(e) == 'message' and (e.get('id') or '').startswith(pa + '-'))
    check_sequence(got_b, a.name, pb, n)
    check_sequence(got_a, b.name, pa, n)


class Chatter:
    """Two streams that keep exchanging messages in a background thread
    while a test does something nasty elsewhere; stop() reports how many
    round trips worked and the worst latency."""

    def __init__(self, a, b, interval=0.02):
        self.a, self.b = a, b
        self.interval = interval
        self.rounds = 0
        self.max_latency = 0.0
        self.failure = None
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True, name='chatter')

    def start(self):
        self._t.start()
        return self

    def _run(self):
        i = 0
        try:
            while not self._stop.is_set():
                for src, dst in ((self.a, self.b), (self.b, self.a)):
                    mid = 'chat-%s-%d' % (src.name, i)
                    t0 = time.monotonic()
                    src.send(message(dst.name, src.name, mid, mid))
                    el = dst.wait_for(lambda e: e.get('id') == mid, REPLY_TIMEOUT)
                    if local(el) != 'message' or el.get('type') == 'error':
                        raise AssertionError('chatter got %s' % to_string(el))
                    self.max_latency = max(self.max_latency, time.monotonic() - t0)
                self.rounds += 1
                i += 1
                self._stop.wait(self.interval)
        except Exception as e:  # reported by stop()
            self.failure = '%s: %s' % (type(e).__name__, e)

    def stop(self):
        self._stop.set()
        self._t.join(REPLY_TIMEOUT + 5)
        assert self.failure is None, 'bystander traffic failed: %s' % self.failure
        assert self.rounds > 0, 'bystander traffic made no progress'
        return self.rounds, self.max_latency


def wait_until(pred, timeout, interval=0.05, what='condition'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError('%s not reached within %.1fs' % (what, timeout))


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------
# slixmpp (a third-party XEP-0114 library) helpers; call inside a coroutine.

def slix_component(router, name, secret=None):
    """A slixmpp ComponentXMPP for `name` with recording handlers:
    .received (list of (from, id, body, type)), .stream_errors (conditions),
    .started / .gone (asyncio.Event for session_start / disconnected)."""
    import asyncio
    from slixmpp.componentxmpp import ComponentXMPP

    if secret is None:
        secret = router.components.get(name, router.secret)
    c = ComponentXMPP(name, secret, router.host, router.port)
    c.received = []
    c.stream_errors = []
    c.started = asyncio.Event()
    c.gone = asyncio.Event()
    c.add_event_handler('message', lambda m: c.received.append(
        (str(m['from']), m['id'], m['body'], m['type'])))
    c.add_event_handler('stream_error', lambda e: c.stream_errors.append(e['condition']))
    c.add_event_handler('session_start', lambda _e: c.started.set())
    c.add_event_handler('disconnected', lambda _e: c.gone.set())
    # Never wait for DNS: we connect to a literal loopback address.
    c.use_aiodns = False
    return c


def load_test_file(name, file):
    """Load tests/FILE, a test file whose name (NN-name.py) is no Python
    identifier, as a module called name, for its fixtures and helpers."""
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(os.path.dirname(os.path.abspath(__file__)), file))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
