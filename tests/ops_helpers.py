"""Helpers for the operations tests (27-ops-*): a whole deployment run by
`junctionctl start` with `[junction] supervisor = none`, and slixmpp
clients that log in and chat through it.

    d = Deployment(tmp_path)
    d.adduser('juliet@localhost', 'pw')
    d.ctl('start')
    asyncio.run(d.session(['juliet', 'romeo'], during=lambda: d.ctl('status')))
    d.shutdown()          # junctionctl stop; no sanitizer report anywhere
"""

import asyncio
import glob
import os
import signal
import subprocess
import time

from conftest import BUILD_DIR, SANITIZER_MARKERS, free_port
from fake_sm import make_cert

CTL = os.path.join(BUILD_DIR, 'junctionctl')
PASSWORD = 'pw-0f-ops'


class Deployment:
    def __init__(self, tmp_path, sections=None):
        self.dir = str(tmp_path)
        self.data = os.path.join(self.dir, 'data')
        self.config_path = os.path.join(self.dir, 'junction.conf')
        cert, key = make_cert(self.dir)
        self.c2s_port = free_port()
        self.router_port = free_port()
        self.sections = {
            'junction': {'domains': 'localhost', 'data_dir': self.data,
                         'supervisor': 'none', 'log_level': 'info',
                         'log_file': os.path.join(self.dir, '%n.log')},
            'router': {'listen': '127.0.0.1:%d' % self.router_port,
                       'secret': 'ops-secret'},
            'c2s': {'listen': '127.0.0.1:%d' % self.c2s_port,
                    'listen_tls': '127.0.0.1:%d' % free_port(),
                    'tls_cert': cert, 'tls_key': key},
            'component a.localhost': {'secret': 'a-secret'},
        }
        for name, kv in (sections or {}).items():
            self.sections.setdefault(name, {}).update(kv)
        self.write_config()

    def write_config(self):
        lines = []
        for name, kv in self.sections.items():
            lines.append('[%s]' % name)
            lines += ['%s = %s' % item for item in kv.items() if item[1] is not None]
            lines.append('')
        with open(self.config_path, 'w') as f:
            f.write('\n'.join(lines))

    def ctl(self, *args, check=True, timeout=90):
        env = dict(os.environ, ASAN_OPTIONS='detect_leaks=1:abort_on_error=0')
        r = subprocess.run([CTL, '-c', self.config_path] + list(args), capture_output=True,
                           text=True, timeout=timeout, env=env)
        if check:
            assert r.returncode == 0, 'junctionctl %s: %s%s\n%s' % (
                ' '.join(args), r.stdout, r.stderr, self.logs())
        return r

    def adduser(self, jid, password=PASSWORD):
        self.ctl('adduser', jid, password)

    def log_path(self, name):
        return os.path.join(self.dir, name + '.log')

    def log(self, name):
        try:
            with open(self.log_path(name), errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def logs(self):
        out = []
        for path in sorted(glob.glob(os.path.join(self.dir, '*.log*')) +
                           glob.glob(os.path.join(self.data, '*.out'))):
            with open(path, errors='replace') as f:
                out.append('==== %s\n%s' % (path, f.read()[-6000:]))
        return '\n'.join(out)

    def pid(self, name):
        """The pid in name's pid file, or None."""
        try:
            with open(os.path.join(self.data, 'junction-%s.pid' % name)) as f:
                return int(f.read())
        except OSError:
            return None

    def wait_log(self, name, text, timeout=20):
        deadline = time.monotonic() + timeout
        while text not in self.log(name):
            assert time.monotonic() < deadline, '%r not in %s.log:\n%s' % (
                text, name, self.logs())
            time.sleep(0.05)

    def wait_linked(self):
        """sm and c2s have a stream at the router (status lists both)."""
        deadline = time.monotonic() + 20
        while True:
            out = self.ctl('status', check=False).stdout
            if 'sm.localhost' in out and 'c2s.localhost' in out:
                return out
            assert time.monotonic() < deadline, out + self.logs()
            time.sleep(0.1)

    def shutdown(self):
        """Stop everything; every process must exit cleanly, without a
        sanitizer report in its log or output file."""
        r = self.ctl('stop', check=False)
        text = self.logs()
        # Whatever junctionctl could not stop (a test that failed with a
        # broken configuration in place) must not outlive the test.
        for name in ('router', 'sm', 'c2s', 'pubsub', 's2s'):
            pid = self.pid(name)
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as f:
                    if self.config_path.encode() in f.read():
                        os.kill(pid, signal.SIGKILL)
            except (OSError, TypeError):
                pass
        assert r.returncode == 0, r.stdout + r.stderr + text
        for m in SANITIZER_MARKERS:
            assert m not in text, text

    async def session(self, users, during=None, messages=3):
        """Log users in (all with PASSWORD), have the first send `messages`
        chat messages to each other one, wait for them, then run during()
        (in a thread) while everyone is still online; returns its result."""
        from slixmpp import ClientXMPP
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            'c2s_login', os.path.join(os.path.dirname(__file__), '20-c2s-login.py'))
        login = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(login)

        clients, started, got = [], set(), asyncio.Queue()
        ready = asyncio.Event()
        for user in users:
            c = ClientXMPP('%s@localhost/ops' % user, PASSWORD, sasl_mech='SCRAM-SHA-256')
            c.ssl_context = login._no_verify()
            login._no_channel_binding(c)

            def on_session(_e, user=user, c=c):
                c.send_presence()
                started.add(user)
                if len(started) == len(users):
                    ready.set()
            c.add_event_handler('session_start', on_session)
            c.add_event_handler('message', lambda m: m['body'] and got.put_nowait(m['body']))
            c.connect(('127.0.0.1', self.c2s_port))
            clients.append(c)
        try:
            await asyncio.wait_for(ready.wait(), 30)
            for to in users[1:]:
                for i in range(messages):
                    clients[0].send_message(mto='%s@localhost' % to, mbody='m%d' % i,
                                            mtype='chat')
            for _ in range(messages * (len(users) - 1)):
                await asyncio.wait_for(got.get(), 20)
            return await asyncio.to_thread(during) if during else None
        finally:
            for c in clients:
                c.disconnect()
            await asyncio.sleep(0.5)
