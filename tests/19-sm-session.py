"""junction-sm over the router, driven by a raw trusted stream that plays
c2s's part of the session protocol (docs/components.md section 6):
credentials come only to trusted peers, sessions start and end, messages
reach the session or offline storage (delivered later with a delay stamp,
also after kill -9 of sm), ping and disco#info of the server answer, and
unknown users get service-unavailable."""

import base64
import hashlib
import hmac
import os
import signal
import subprocess
import time

import pytest

from conftest import BUILD_DIR, SANITIZER_MARKERS
from junction_helpers import (NS_JUNCTION, connect_component, iq, local, message, presence,
                              stanza_error, to_string)

NS_S = 'urn:junction:session:1'


class Sm:
    def __init__(self, r):
        self.r = r
        self.err_path = os.path.join(os.path.dirname(r.config_path), 'sm.log')
        self.start()

    def start(self):
        self.err = open(self.err_path, 'ab')
        self.proc = subprocess.Popen([os.path.join(BUILD_DIR, 'junction-sm'), '-c',
                                      self.r.config_path], stdout=self.err, stderr=self.err,
                                     env=dict(os.environ, ASAN_OPTIONS='detect_leaks=1'))
        deadline = time.monotonic() + 20
        while 'serving' not in open(self.err_path).read():
            assert time.monotonic() < deadline and self.proc.poll() is None, self.log()
            time.sleep(0.05)

    def log(self):
        return open(self.err_path, errors='replace').read()

    def kill9(self):
        self.proc.kill()
        self.proc.wait(10)
        self.err.close()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(15)
        self.err.close()
        text = self.log()
        assert rc == 0, text
        for m in SANITIZER_MARKERS:
            assert m not in text, text


def adduser(r, jid, password):
    res = subprocess.run([os.path.join(BUILD_DIR, 'junctionctl'), '-c', r.config_path, 'adduser',
                          jid, password], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def wait_bound(watcher_or_none, r, name='localhost'):
    """Wait until sm has bound its domain (a message to a user gets an
    answer other than service-unavailable from the router)."""
    time.sleep(0.3)


def c2s(r, name='c2s.localhost'):
    s = connect_component(r, name, secret=r.secret)
    return s


def ask(s, xml, id, timeout=10):
    s.send(xml)
    return s.wait_for(lambda e: e.get('id') == id, timeout)


def start_session(s, full, sid):
    reply = ask(s, iq('set', 'st-' + sid, "<session xmlns='%s' action='start' sid='%s'/>" % (NS_S, sid),
                      to=full, frm='c2s.localhost'), 'st-' + sid)
    assert reply.get('type') == 'result', to_string(reply)


def deliveries(s, n, timeout=10):
    out = []
    for el in s.collect(n, timeout, pred=lambda e: local(e) == 'message' and len(e) and
                        list(e)[0].tag == '{%s}deliver' % NS_S):
        d = list(el)[0]
        out.append((d.get('sid'), list(d)[0]))
    return out


def scram_keys(password, salt, iterations, name):
    h = hashlib.sha256 if name == 'SHA-256' else hashlib.sha1
    salted = hashlib.pbkdf2_hmac(h().name, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b'Client Key', h).digest()
    return h(client_key).digest(), hmac.new(salted, b'Server Key', h).digest()


@pytest.mark.timeout(90)
def test_credentials_sessions_and_delivery(router):
    r = router()
    adduser(r, 'juliet@localhost', 'pencil')
    adduser(r, 'romeo@localhost', 'dagger')
    sm = Sm(r)
    try:
        s = c2s(r)
        time.sleep(0.5)  # sm learns from the router's watch events that s is trusted

        # Credentials: correct SCRAM keys for the stored salt; none for strangers.
        for hname in ('SHA-256', 'SHA-1'):
            reply = ask(s, iq('get', 'cr' + hname, "<credentials xmlns='%s' hash='%s'/>" % (NS_S, hname),
                              to='juliet@localhost', frm='c2s.localhost'), 'cr' + hname)
            assert reply.get('type') == 'result', to_string(reply)
            c = list(reply)[0]
            salt = base64.b64decode(c.get('salt'))
            it = int(c.get('iterations'))
            assert it >= 4096
            stored, server = scram_keys('pencil', salt, it, hname)
            assert base64.b64decode(c.get('stored-key')) == stored
            assert base64.b64decode(c.get('server-key')) == server
        reply = ask(s, iq('get', 'cr-none', "<credentials xmlns='%s' hash='SHA-256'/>" % NS_S,
                          to='nobody@localhost', frm='c2s.localhost'), 'cr-none')
        assert stanza_error(reply) == ('cancel', 'item-not-found'), to_string(reply)
        # A third-party component cannot ask.
        a = connect_component(r, 'a.localhost')
        reply = ask(a, iq('get', 'cr-3p', "<credentials xmlns='%s' hash='SHA-256'/>" % NS_S,
                          to='juliet@localhost', frm='a.localhost'), 'cr-3p')
        assert stanza_error(reply) == ('cancel', 'service-unavailable'), to_string(reply)

        # Sessions; a message to the full JID reaches it, wrapped for c2s.
        start_session(s, 'juliet@localhost/balcony', 'j1')
        s.send(message('juliet@localhost/balcony', 'x@a.localhost', id='m1', body='to full'))
        a.send(message('juliet@localhost/balcony', 'x@a.localhost', id='m2', body='from a'))
        got = deliveries(s, 1)
        assert got[0][0] == 'j1' and got[0][1].get('id') == 'm2', got
        # Not available yet: a message to the bare JID goes offline.
        a.send(message('juliet@localhost', 'x@a.localhost', id='off1', body='stored', type='chat'))
        time.sleep(0.3)
        # Initial presence (sent by the client without 'to', wrapped by c2s)
        # flushes offline storage, with a delay stamp.
        s.send("<message from='c2s.localhost' to='juliet@localhost'><from-client xmlns='%s' "
               "sid='j1'><presence/></from-client></message>" % NS_S)
        got = deliveries(s, 2)
        # First the user's own presence, reflected (RFC 6121 4.2.2), then
        # the stored message.
        assert local(got[0][1]) == 'presence' and got[0][1].get('from') == 'juliet@localhost/balcony'
        m = got[1][1]
        assert m.get('id') == 'off1', to_string(m)
        delay = [c for c in m if c.tag == '{urn:xmpp:delay}delay']
        assert delay and delay[0].get('stamp', '').endswith('Z'), to_string(m)
        # Now available: bare JID messages arrive live.
        a.send(message('juliet@localhost', 'x@a.localhost', id='live1', body='live', type='chat'))
        assert deliveries(s, 1)[0][1].get('id') == 'live1'

        # Unknown user: service-unavailable; ping and disco#info of the server.
        reply = ask(a, message('ghost@localhost', 'x@a.localhost', id='gh', body='?'), 'gh')
        assert stanza_error(reply) == ('cancel', 'service-unavailable'), to_string(reply)
        reply = ask(a, iq('get', 'p1', "<ping xmlns='urn:xmpp:ping'/>", to='localhost',
                          frm='x@a.localhost'), 'p1')
        assert reply.get('type') == 'result', to_string(reply)
        reply = ask(a, iq('get', 'd1', "<query xmlns='http://jabber.org/protocol/disco#info'/>",
                          to='localhost', frm='x@a.localhost'), 'd1')
        q = list(reply)[0]
        ids = [(i.get('category'), i.get('type')) for i in q if local(i) == 'identity']
        assert ('server', 'im') in ids, to_string(reply)
        feats = {f.get('var') for f in q if local(f) == 'feature'}
        assert 'urn:xmpp:ping' in feats

        # A second session with the same full JID replaces the first.
        s2 = c2s(r, 'c2s2.localhost')
        time.sleep(0.3)
        reply = ask(s2, iq('set', 'st2', "<session xmlns='%s' action='start' sid='j2'/>" % NS_S,
                           to='juliet@localhost/balcony', frm='c2s2.localhost'), 'st2')
        assert reply.get('type') == 'result'
        end = s.wait_for(lambda e: local(e) == 'iq' and e.get('type') == 'set')
        e = list(end)[0]
        assert (e.get('action'), e.get('sid'), e.get('reason')) == ('end', 'j1', 'conflict')

        # c2s2 goes away: its session ends, messages to the full JID no
        # longer reach anyone (iq gets service-unavailable).
        s2.close()
        time.sleep(0.3)
        reply = ask(a, iq('get', 'gone', "<ping xmlns='urn:xmpp:ping'/>",
                          to='juliet@localhost/balcony', frm='x@a.localhost'), 'gone')
        assert stanza_error(reply) == ('cancel', 'service-unavailable'), to_string(reply)
    finally:
        sm.stop()


@pytest.mark.timeout(90)
def test_offline_message_survives_kill_9(router):
    r = router()
    adduser(r, 'juliet@localhost', 'pencil')
    sm = Sm(r)
    try:
        a = connect_component(r, 'a.localhost')
        time.sleep(0.3)
        a.send(message('juliet@localhost', 'x@a.localhost', id='keep', body='survive', type='chat'))
        a.send(iq('get', 'after', "<ping xmlns='urn:xmpp:ping'/>", to='localhost',
                  frm='x@a.localhost'))
        a.wait_for(lambda e: e.get('id') == 'after')  # sm handled the message before this
        sm.kill9()
        sm.start()
        s = c2s(r)
        time.sleep(0.5)
        start_session(s, 'juliet@localhost/r', 'k1')
        s.send("<message from='c2s.localhost' to='juliet@localhost'><from-client xmlns='%s' "
               "sid='k1'><presence/></from-client></message>" % NS_S)
        got = deliveries(s, 2)
        assert got[1][1].get('id') == 'keep'
        body = [c for c in got[1][1] if local(c) == 'body']
        assert body and body[0].text == 'survive'
        # Delivered once: deleted after it went out, so another session of
        # the same user, after another sm restart, does not get it again.
        time.sleep(0.3)
        sm.kill9()
        sm.start()
        s.close()
        s = c2s(r)
        time.sleep(0.5)
        start_session(s, 'juliet@localhost/r2', 'k2')
        s.send("<message from='c2s.localhost' to='juliet@localhost'><from-client xmlns='%s' "
               "sid='k2'><presence/></from-client></message>" % NS_S)
        got = deliveries(s, 1)
        assert local(got[0][1]) == 'presence'
        more = s.drain(quiet=1.0)
        assert not [e for e in more if 'keep' in to_string(e)], [to_string(e) for e in more]
    finally:
        sm.stop()


def from_client(s, sid, xml):
    s.send("<message from='c2s.localhost' to='localhost'><from-client xmlns='%s' sid='%s'>"
           "%s</from-client></message>" % (NS_S, sid, xml))


def roster_items(el):
    q = list(el)[0]
    return {i.get('jid'): (i.get('subscription'), i.get('ask')) for i in q}


@pytest.mark.timeout(90)
def test_roster_and_subscription_handshake(router):
    r = router()
    adduser(r, 'juliet@localhost', 'pencil')
    adduser(r, 'romeo@localhost', 'dagger')
    sm = Sm(r)
    try:
        s = c2s(r)
        time.sleep(0.5)
        start_session(s, 'juliet@localhost/j', 'j')
        start_session(s, 'romeo@localhost/r', 'r')
        NSC = 'jabber:component:accept'
        # juliet gets her (empty) roster and becomes available.
        from_client(s, 'j', "<iq xmlns='%s' type='get' id='rg'><query xmlns='jabber:iq:roster'/></iq>" % NSC)
        res = deliveries(s, 1)[0][1]
        assert res.get('type') == 'result' and roster_items(res) == {}, to_string(res)
        from_client(s, 'j', "<presence xmlns='%s'/>" % NSC)
        deliveries(s, 1)  # her own presence, reflected

        # She adds romeo with a name and a group: result and a push.
        from_client(s, 'j', "<iq xmlns='%s' type='set' id='rs'><query xmlns='jabber:iq:roster'>"
                    "<item jid='Romeo@localhost' name='R'><group>Friends</group></item></query></iq>" % NSC)
        got = [d[1] for d in deliveries(s, 2)]
        push = [g for g in got if g.get('type') == 'set'][0]
        item = list(list(push)[0])[0]
        assert (item.get('jid'), item.get('name'), item.get('subscription')) == ('romeo@localhost', 'R', 'none')
        assert [g.text for g in item] == ['Friends']

        # She asks for his presence: push with ask, request waits for romeo.
        from_client(s, 'j', "<presence xmlns='%s' to='romeo@localhost' type='subscribe'/>" % NSC)
        push = deliveries(s, 1)[0][1]
        assert roster_items(push) == {'romeo@localhost': ('none', 'subscribe')}, to_string(push)
        time.sleep(0.3)
        # romeo comes online: the stored request reaches him.
        from_client(s, 'r', "<presence xmlns='%s'/>" % NSC)
        got = [d for d in deliveries(s, 2)]
        req = [g[1] for g in got if g[1].get('type') == 'subscribe']
        assert req and req[0].get('from') == 'juliet@localhost' and got[1][0] == 'r', got
        # He approves: juliet's item becomes 'to', she gets his presence.
        from_client(s, 'r', "<presence xmlns='%s' to='juliet@localhost' type='subscribed'/>" % NSC)
        got = deliveries(s, 3)
        by = {(d[0], local(d[1]), d[1].get('type')): d[1] for d in got}
        assert ('j', 'iq', 'set') in by, got
        assert roster_items(by[('j', 'iq', 'set')]) == {'romeo@localhost': ('to', None)}
        assert ('j', 'presence', 'subscribed') in by
        assert ('j', 'presence', None) in by and by[('j', 'presence', None)].get('from') == 'romeo@localhost/r'

        # romeo changes his status: juliet (subscribed to him) hears it.
        from_client(s, 'r', "<presence xmlns='%s'><show>away</show></presence>" % NSC)
        got = deliveries(s, 2)
        to_j = [d[1] for d in got if d[0] == 'j']
        assert to_j and [c.text for c in to_j[0] if local(c) == 'show'] == ['away'], got

        # junctionctl status counts sm's sessions.
        res = subprocess.run([os.path.join(BUILD_DIR, 'junctionctl'), '-c', r.config_path,
                              'status'], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        assert 'sessions on sm.localhost: 2 (2 available)' in res.stdout, res.stdout

        # Junction's own services ask how an account relates to a JID
        # (urn:junction:roster:1, docs/components.md section 7).
        ps = connect_component(r, 'pubsub.localhost', secret=r.secret)
        time.sleep(0.3)  # sm learns from the watch events that ps is trusted

        def relation(stream, user, jid, id):
            return ask(stream, iq('get', id, "<relation xmlns='urn:junction:roster:1' jid='%s'/>"
                                  % jid, to=user, frm=stream.name), id)
        rel = list(relation(ps, 'romeo@localhost', 'juliet@localhost/x', 'rel1'))[0]
        assert (rel.get('jid'), rel.get('subscription')) == ('juliet@localhost', 'from'), to_string(rel)
        rel = list(relation(ps, 'juliet@localhost', 'romeo@localhost', 'rel2'))[0]
        assert rel.get('subscription') == 'to', to_string(rel)
        rel = list(relation(ps, 'juliet@localhost', 'nurse@localhost', 'rel3'))[0]
        assert rel.get('subscription') == 'none' and len(rel) == 0, to_string(rel)
        assert stanza_error(relation(ps, 'ghost@localhost', 'romeo@localhost', 'rel4')) == \
            ('cancel', 'item-not-found')
        gw = connect_component(r, 'b.localhost')
        assert stanza_error(relation(gw, 'juliet@localhost', 'romeo@localhost', 'rel5')) == \
            ('cancel', 'service-unavailable')

        # Removing the item cancels the subscription both ways.
        from_client(s, 'j', "<iq xmlns='%s' type='set' id='rm'><query xmlns='jabber:iq:roster'>"
                    "<item jid='romeo@localhost' subscription='remove'/></query></iq>" % NSC)
        got = deliveries(s, 2)
        push = [d[1] for d in got if d[1].get('type') == 'set'][0]
        assert roster_items(push) == {'romeo@localhost': ('remove', None)}
        from_client(s, 'j', "<iq xmlns='%s' type='get' id='rg2'><query xmlns='jabber:iq:roster'/></iq>" % NSC)
        res = None
        while res is None:
            d = deliveries(s, 1)[0][1]
            res = d if d.get('id') == 'rg2' else None
        assert roster_items(res) == {}, to_string(res)
        # A roster query for someone else's roster is refused.
        a = connect_component(r, 'a.localhost')
        reply = ask(a, iq('get', 'other', "<query xmlns='jabber:iq:roster'/>", to='juliet@localhost',
                          frm='x@a.localhost'), 'other')
        assert stanza_error(reply) == ('cancel', 'service-unavailable'), to_string(reply)
    finally:
        sm.stop()


@pytest.mark.timeout(180)
def test_burst_while_router_is_slow_loses_nothing(router):
    """sm's output to the router backs up (the router is stopped while sm
    works through a burst): sm stops reading instead of dropping what does
    not fit its 1 MiB link queue, and every message arrives, in order."""
    r = router(router_opts={'queue_limit': '256M'})
    adduser(r, 'juliet@localhost', 'pencil')
    sm = Sm(r)
    try:
        s = c2s(r)
        time.sleep(0.5)
        start_session(s, 'juliet@localhost/s', 's1')
        n = 30000
        pad = 'x' * 200
        sm.proc.send_signal(signal.SIGSTOP)
        try:
            for i in range(0, n, 500):
                s.send(''.join("<message type='chat' from='romeo@localhost/r' "
                               "to='juliet@localhost/s' id='b%d'><body>%s</body></message>"
                               % (j, pad) for j in range(i, i + 500)))
            time.sleep(1.0)  # the router has passed the burst on to sm's socket
            r.proc.send_signal(signal.SIGSTOP)
        finally:
            sm.proc.send_signal(signal.SIGCONT)
        try:
            time.sleep(2.0)  # sm fills the kernel's buffers towards the router, then its queue
        finally:
            r.proc.send_signal(signal.SIGCONT)
        got = deliveries(s, n, timeout=120)
        ids = [m.get('id') for _, m in got]
        assert ids == ['b%d' % i for i in range(n)], (len(ids), sm.log()[-2000:])
        assert 'dropped' not in sm.log(), sm.log()[-2000:]
    finally:
        sm.stop()


@pytest.mark.timeout(60)
def test_sighup_reloads_and_keeps_serving(router):
    """SIGHUP (junctionctl reload, systemd's ExecReload) re-reads the log
    level; sm keeps running and answering."""
    r = router()
    sm = Sm(r)
    try:
        a = connect_component(r, 'a.localhost')
        time.sleep(0.3)
        sm.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while 'reloaded log level' not in sm.log():
            assert time.monotonic() < deadline and sm.proc.poll() is None, sm.log()
            time.sleep(0.05)
        reply = ask(a, iq('get', 'hup', "<ping xmlns='urn:xmpp:ping'/>", to='localhost',
                          frm='x@a.localhost'), 'hup')
        assert reply.get('type') == 'result', to_string(reply)
    finally:
        sm.stop()
