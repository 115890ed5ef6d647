"""A stand-in for junction-sm, and the helpers the c2s tests share.

FakeSM is NOT the session manager: it is a small Python component written
only so that junction-c2s can be tested before the real sm exists, and it
is to be replaced by the real sm (started like c2s) once that lands. It
speaks the c2s side of docs/components.md section 6 just enough:

* connects to the router as trusted "sm1.localhost" (the [router] secret)
  and binds "localhost" in shared mode;
* answers <credentials/> iqs from the accounts it was given, computing the
  SCRAM-SHA-1 / SCRAM-SHA-256 salt, StoredKey and ServerKey itself
  (hashlib.pbkdf2_hmac + hmac); unknown users get item-not-found;
* answers session start/end, remembering full JID -> (c2s name, sid); a
  second start for the same full JID first ends the old session with
  reason='conflict', as the real sm will;
* for every <from-client/> envelope records the inner stanza (tests read
  .received) and, when it is addressed to the echo bot (BOT_JID), sends it
  back to the client in a <deliver/> envelope with to/from swapped.

The rest of this file starts junction-c2s next to the router (C2SProcess),
makes a throwaway self-signed certificate, and offers RawClient, a raw
client stream (with STARTTLS) for the protocol-edge tests.
"""

import base64
import copy
import hashlib
import hmac
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

import pytest

from conftest import BUILD_DIR, SANITIZER_MARKERS, free_port
from junction_helpers import (NS_STREAM, REPLY_TIMEOUT, RawStream, bind, child,
                              connect_component, local, ns)

NS_SESSION = 'urn:junction:session:1'
NS_CLIENT = 'jabber:client'
NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls'
NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
BOT_JID = 'echo@localhost'
C2S_BIN = os.path.join(BUILD_DIR, 'junction-c2s')


# --------------------------------------------------------------------------
# SCRAM credentials (RFC 5802 section 3)

def scram_credentials(password, hash_name, salt=None, iterations=4096):
    h = {'SHA-1': 'sha1', 'SHA-256': 'sha256'}[hash_name]
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac(h, password.encode('utf-8'), salt, iterations)
    client_key = hmac.new(salted, b'Client Key', h).digest()
    stored_key = hashlib.new(h, client_key).digest()
    server_key = hmac.new(salted, b'Server Key', h).digest()
    return {'salt': salt, 'iterations': iterations, 'stored-key': stored_key,
            'server-key': server_key}


def _b64(b):
    return base64.b64encode(b).decode('ascii')


def _attrs(**kw):
    return ''.join(' %s=%s' % (k.replace('_', '-').rstrip('-'), quoteattr(str(v)))
                   for k, v in kw.items() if v is not None)


def _serialize_inner(el):
    """Serialize a stanza received inside an envelope, with its namespace as
    the default one (ElementTree would invent ns0: prefixes)."""
    def walk(e, parent_ns):
        tag_ns, name = ns(e), local(e)
        out = '<' + name
        if tag_ns != parent_ns:
            out += ' xmlns=%s' % quoteattr(tag_ns)
        for k, v in e.attrib.items():
            if k.startswith('{'):
                if k == '{http://www.w3.org/XML/1998/namespace}lang':
                    out += ' xml:lang=%s' % quoteattr(v)
                continue
            out += ' %s=%s' % (k, quoteattr(v))
        out += '>'
        if e.text:
            out += escape(e.text)
        for c in e:
            out += walk(c, tag_ns)
            if c.tail:
                out += escape(c.tail)
        return out + '</%s>' % name
    return walk(el, None)


class FakeSM:
    """See the module docstring. accounts: {username: password}."""

    def __init__(self, router, accounts, name='sm1.localhost', domain='localhost'):
        self.router = router
        self.accounts = dict(accounts)
        self.name = name
        self.domain = domain
        self.sessions = {}       # full JID -> (c2s name, sid)
        self.received = []       # inner stanzas of <from-client/> envelopes
        self.events = []         # ('start'|'end', full JID, sid)
        self.cred_requests = []  # (username, hash)
        self.lock = threading.Condition()
        self._stop = False
        self._creds = {}
        self.stream = connect_component(router, name, secret=router.secret)
        reply = bind(self.stream, domain, mode='shared', id='sm-bind')
        assert reply.get('type') == 'result', ET.tostring(reply)
        self._thread = threading.Thread(target=self._run, daemon=True, name='fake-sm')
        self._thread.start()

    def close(self):
        self._stop = True
        self._thread.join(5)
        self.stream.close()

    def wait_for(self, pred, timeout=REPLY_TIMEOUT, what='fake sm event'):
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                v = pred()
                if v:
                    return v
                left = deadline - time.monotonic()
                assert left > 0, '%s not seen within %.1fs' % (what, timeout)
                self.lock.wait(min(left, 0.2))

    # ---- protocol ----------------------------------------------------------
    def _send(self, xml):
        self.stream.try_send(xml)

    def _run(self):
        while not self._stop:
            el = self.stream.poll(0.2)
            if el is None:
                if self.stream.eof or self.stream.stream_ended:
                    return
                continue
            try:
                self._handle(el)
            except Exception as e:  # keep serving; the test sees the effect
                print('fake sm: %s handling %s' % (e, ET.tostring(el)))

    def _handle(self, el):
        name, typ = local(el), el.get('type')
        if name == 'iq' and typ in ('get', 'set'):
            cred = child(el, 'credentials', NS_SESSION)
            sess = child(el, 'session', NS_SESSION)
            if cred is not None:
                self._credentials(el, cred)
            elif sess is not None:
                self._session(el, sess)
            else:
                self._record(el)
                self._iq_error(el, 'cancel', 'service-unavailable')
        elif name == 'message':
            env = child(el, 'from-client', NS_SESSION)
            if env is not None and len(env) == 1:
                self._from_client(el, env.get('sid'), env[0])
            else:
                # c2s sends messages with a 'to' straight through the
                # router (components.md section 6).
                self._record(el)
                session = self.sessions.get(el.get('from'))
                if session is not None and el.get('to') == BOT_JID:
                    self._echo(el, session[0], session[1])

    def _iq_error(self, el, etype, cond):
        self._send("<iq type='error'%s><error type='%s'><%s xmlns='%s'/></error></iq>" % (
            _attrs(id=el.get('id'), to=el.get('from'), from_=el.get('to')), etype, cond,
            'urn:ietf:params:xml:ns:xmpp-stanzas'))

    def _credentials(self, el, cred):
        user = el.get('to', '').split('@', 1)[0]
        hash_name = cred.get('hash')
        with self.lock:
            self.cred_requests.append((user, hash_name))
            self.lock.notify_all()
        if user not in self.accounts or hash_name not in ('SHA-1', 'SHA-256'):
            self._iq_error(el, 'cancel', 'item-not-found')
            return
        key = (user, hash_name)
        if key not in self._creds:
            self._creds[key] = scram_credentials(self.accounts[user], hash_name)
        c = self._creds[key]
        self._send("<iq type='result'%s><credentials xmlns='%s'%s/></iq>" % (
            _attrs(id=el.get('id'), to=el.get('from'), from_=el.get('to')), NS_SESSION,
            _attrs(hash=hash_name, iterations=c['iterations'], salt=_b64(c['salt']),
                   stored_key=_b64(c['stored-key']), server_key=_b64(c['server-key']))))

    def _session(self, el, sess):
        full, c2s, sid = el.get('to'), el.get('from'), sess.get('sid')
        action = sess.get('action')
        if action == 'start':
            old = self.sessions.get(full)
            if old is not None and old[1] != sid:
                self._send("<iq type='set' id='end-%s'%s><session xmlns='%s'%s/></iq>" % (
                    old[1], _attrs(to=old[0], from_=self.domain), NS_SESSION,
                    _attrs(action='end', sid=old[1], reason='conflict')))
            self.sessions[full] = (c2s, sid)
        elif action == 'end':
            if self.sessions.get(full, (None, None))[1] == sid:
                del self.sessions[full]
        with self.lock:
            self.events.append((action, full, sid))
            self.lock.notify_all()
        self._send("<iq type='result'%s/>" % _attrs(id=el.get('id'), to=c2s, from_=full))

    def _record(self, el):
        with self.lock:
            self.received.append(copy.deepcopy(el))
            self.lock.notify_all()

    def _echo(self, msg, c2s, sid):
        msg.set('to', msg.get('from'))
        msg.set('from', BOT_JID)
        self._send("<message%s><deliver xmlns='%s' sid=%s>%s</deliver></message>" % (
            _attrs(from_=self.domain, to=c2s), NS_SESSION, quoteattr(sid),
            _serialize_inner(msg)))

    def _from_client(self, envelope, sid, inner):
        self._record(inner)
        if inner.get('to') == BOT_JID and local(inner) == 'message':
            self._echo(inner, envelope.get('from'), sid)


# --------------------------------------------------------------------------
# junction-c2s as a child process

def make_cert(directory):
    """A throwaway self-signed certificate for localhost; (cert, key) paths."""
    cert = os.path.join(directory, 'c2s-cert.pem')
    key = os.path.join(directory, 'c2s-key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
                    '-days', '2', '-subj', '/CN=localhost',
                    '-addext', 'subjectAltName=DNS:localhost'],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class C2SProcess:
    def __init__(self, router, workdir, opts=None):
        self.router = router
        self.port = free_port()
        self.tls_port = free_port()
        cert, key = make_cert(workdir)
        c2s = {'listen': '127.0.0.1:%d' % self.port,
               'listen_tls': '127.0.0.1:%d' % self.tls_port,
               'tls_cert': cert, 'tls_key': key}
        c2s.update(opts or {})
        self.name = c2s.get('name', 'c2s.localhost')
        with open(router.config_path, 'a') as f:
            f.write('\n[c2s]\n' + ''.join('%s = %s\n' % kv for kv in c2s.items()
                                          if kv[1] is not None))
        self.log_path = os.path.join(workdir, 'c2s.log')
        self.proc = None
        self.stopped = False
        # Appended to ASAN_OPTIONS, e.g. ':quarantine_size_mb=16' so that RSS
        # measures live memory rather than ASan's quarantine of freed blocks.
        self.asan_extra = ''

    def start(self, wait_linked=True):
        env = dict(os.environ, ASAN_OPTIONS='detect_leaks=1:abort_on_error=0' + self.asan_extra,
                   UBSAN_OPTIONS='print_stacktrace=1')
        log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen([C2S_BIN, '-c', self.router.config_path],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        log.close()
        deadline = time.monotonic() + 20
        while True:
            assert self.proc.poll() is None, 'c2s exited (%s):\n%s' % (self.proc.returncode,
                                                                     self.log_text())
            if self._accepts() and (not wait_linked or 'linked to the router' in self.log_text()):
                return self
            assert time.monotonic() < deadline, 'c2s did not start:\n' + self.log_text()
            time.sleep(0.05)

    def _accepts(self):
        try:
            socket.create_connection(('127.0.0.1', self.port), timeout=0.5).close()
            socket.create_connection(('127.0.0.1', self.tls_port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def log_text(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def stop(self):
        """SIGTERM; the exit must be 0 with no sanitizer report."""
        if self.stopped or self.proc is None:
            return
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError('c2s ignored SIGTERM:\n' + self.log_text()[-5000:])
        rc = self.proc.returncode
        text = self.log_text()
        assert rc == 0, 'c2s exited with %s:\n%s' % (rc, text[-5000:])
        for m in SANITIZER_MARKERS:
            assert m not in text, 'c2s log has %r:\n%s' % (m, text[-8000:])


class Deployment:
    def __init__(self, router, sm, c2s):
        self.router, self.sm, self.c2s = router, sm, c2s


@pytest.fixture
def deployment(router, tmp_path):
    """Factory: router + fake sm + junction-c2s. Stops them all at the end
    and fails the test if c2s did not exit cleanly."""
    made = []

    def start(accounts=None, c2s_opts=None, router_opts=None, junction_opts=None):
        r = router(router_opts=router_opts, junction_opts=junction_opts)
        sm = FakeSM(r, accounts if accounts is not None else {'juliet': 'r0meo'})
        c = C2SProcess(r, r.workdir, c2s_opts)
        made.append((sm, c))
        c.start()
        return Deployment(r, sm, c)

    yield start
    for sm, c in made:
        try:
            c.stop()
        finally:
            sm.close()


# --------------------------------------------------------------------------
# a raw client stream

def client_header(to='localhost', version='1.0', namespace=NS_CLIENT):
    return ("<?xml version='1.0'?><stream:stream xmlns=%s xmlns:stream='%s'%s%s>"
            % (quoteattr(namespace), NS_STREAM, _attrs(to=to),
               _attrs(version=version) if version else ''))


class RawClient(RawStream):
    """A client stream for protocol-edge tests: plain TCP, STARTTLS, or
    direct TLS (tls=True). Reads on demand (no reader thread)."""

    def __init__(self, port, tls=False):
        super().__init__('127.0.0.1', port)
        self.name = 'client'
        if tls:
            self._wrap()

    def _wrap(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname='localhost')

    def _pump(self, timeout):
        # Bytes already decrypted inside the SSL object are invisible to select().
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            timeout = 0
            data = self.sock.recv(262144)
            if data:
                self._feed(data)
                return True
        return super()._pump(timeout)

    def restart_parser(self):
        self._parser = ET.XMLPullParser(events=('start', 'end'))
        self._depth = 0
        self.header = None
        self.stream_id = None
        self.stream_ended = False

    def open_client(self, to='localhost', version='1.0', namespace=NS_CLIENT):
        """Send a header; return the <stream:features/> element (or raise
        StreamClosed / return a stream error element)."""
        self.restart_parser()
        self.send(client_header(to, version, namespace))
        return self.next()

    def starttls(self):
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = self.next()
        assert local(el) == 'proceed', ET.tostring(el)
        self._wrap()

    def auth_plain(self, user, password, mech='PLAIN'):
        data = _b64(('\0%s\0%s' % (user, password)).encode('utf-8'))
        self.send("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (NS_SASL, mech, data))
        return self.next()

    def login(self, user='juliet', password='r0meo', resource='raw'):
        """STARTTLS, PLAIN, bind; returns the bound full JID."""
        self.open_client()
        self.starttls()
        self.open_client()
        el = self.auth_plain(user, password)
        assert local(el) == 'success', ET.tostring(el)
        self.open_client()
        self.send("<iq type='set' id='b1'><bind xmlns='%s'><resource>%s</resource></bind></iq>"
                  % (NS_BIND, escape(resource)))
        el = self.next()
        assert el.get('type') == 'result', ET.tostring(el)
        return el.find('{%s}bind/{%s}jid' % (NS_BIND, NS_BIND)).text


def mechanisms(features):
    m = features.find('{%s}mechanisms' % NS_SASL)
    return [] if m is None else [x.text for x in m]
