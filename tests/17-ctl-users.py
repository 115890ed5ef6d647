"""junctionctl adduser / passwd / deluser / users: accounts in sm's store
(DATA_DIR/sm.db), with or without a running server, stored only as SCRAM
credentials."""

import hashlib
import hmac
import os
import pty
import select
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import BUILD_DIR

CTL = os.path.join(BUILD_DIR, 'junctionctl')

CONFIG = """[junction]
domains = localhost, Example.ORG
data_dir = %s
[router]
listen = 127.0.0.1:5999
secret = s
"""


@pytest.fixture
def conf(tmp_path):
    data = tmp_path / 'data'
    p = tmp_path / 'junction.conf'
    p.write_text(CONFIG % data)
    return str(p)


def db_path(conf):
    return os.path.join(os.path.dirname(conf), 'data', 'sm.db')


def ctl(conf, *args, stdin=None):
    env = dict(os.environ, ASAN_OPTIONS='detect_leaks=1')
    return subprocess.run([CTL, '-c', conf] + list(args), input=stdin, capture_output=True,
                          text=True, timeout=30, env=env)


def ok(r):
    assert r.returncode == 0, r.stderr
    assert r.stderr == ''
    return r


def fails(r, *words):
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    msg = r.stderr.strip()
    assert len(msg.splitlines()) == 1, msg
    for w in words:
        assert w in msg, msg
    return msg


def users(conf, *args):
    return ok(ctl(conf, 'users', *args)).stdout.splitlines()


def credentials(conf, jid, hash_name):
    with sqlite3.connect(db_path(conf)) as c:
        return c.execute('SELECT iterations, salt, stored_key, server_key FROM credentials '
                         'WHERE account = ? AND hash = ?', (jid, hash_name)).fetchone()


def password_matches(conf, jid, password):
    """Check both stored credentials against a password with RFC 5802's
    formulas, computed independently here."""
    for name, algo in (('SHA-1', 'sha1'), ('SHA-256', 'sha256')):
        row = credentials(conf, jid, name)
        assert row is not None, (jid, name)
        iterations, salt, stored_key, server_key = row
        assert iterations >= 8192
        salted = hashlib.pbkdf2_hmac(algo, password.encode(), salt, iterations)
        client_key = hmac.new(salted, b'Client Key', algo).digest()
        if hashlib.new(algo, client_key).digest() != stored_key:
            return False
        assert hmac.new(salted, b'Server Key', algo).digest() == server_key
    return True


def test_adduser_with_argv_and_stdin(conf):
    ok(ctl(conf, 'adduser', 'Juliet@Example.ORG', 'pencil'))
    ok(ctl(conf, 'adduser', 'romeo@localhost', stdin='s3cret word\n'))
    ok(ctl(conf, 'adduser', 'nurse@example.org', stdin='no-newline'))
    assert users(conf) == ['juliet@example.org', 'nurse@example.org', 'romeo@localhost']
    assert password_matches(conf, 'juliet@example.org', 'pencil')
    assert password_matches(conf, 'romeo@localhost', 's3cret word')  # newline stripped
    assert password_matches(conf, 'nurse@example.org', 'no-newline')
    st = os.stat(db_path(conf))
    assert st.st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(db_path(conf))).st_mode & 0o777 == 0o700


def test_adduser_duplicate_and_empty_password(conf):
    ok(ctl(conf, 'adduser', 'juliet@example.org', 'pencil'))
    fails(ctl(conf, 'adduser', 'JULIET@example.org', 'other'), 'juliet@example.org',
          'already exists')
    assert password_matches(conf, 'juliet@example.org', 'pencil')
    fails(ctl(conf, 'adduser', 'a@example.org', stdin='\n'), 'empty password')
    fails(ctl(conf, 'adduser', 'a@example.org', ''), 'empty password')
    fails(ctl(conf, 'adduser', 'a@example.org', stdin=''), 'no password')
    fails(ctl(conf, 'adduser', 'a@example.org', 'bell\x07'), 'SASLprep')
    assert users(conf) == ['juliet@example.org']


@pytest.mark.parametrize('jid, words', [
    ('example.org', ['no user part']),
    ('a@example.net', ['example.net', 'not a domain', 'localhost, example.org']),
    ('a@example.org/phone', ['resource']),
    ('@example.org', ['not a valid JID']),
    ('a b@example.org', ['not a valid JID']),
    ('a@', ['not a valid JID']),
])
def test_adduser_rejects_bad_jids(conf, jid, words):
    fails(ctl(conf, 'adduser', jid, 'pw'), *words)
    fails(ctl(conf, 'passwd', jid, 'pw'), *words)
    fails(ctl(conf, 'deluser', jid), *words)


def test_users_listing(conf):
    for jid in ('zed@localhost', 'bob@example.org', 'al@localhost', 'al@example.org'):
        ok(ctl(conf, 'adduser', jid, 'pw'))
    assert users(conf) == ['al@example.org', 'bob@example.org', 'al@localhost', 'zed@localhost']
    assert users(conf, 'localhost') == ['al@localhost', 'zed@localhost']
    assert users(conf, 'EXAMPLE.org') == ['al@example.org', 'bob@example.org']
    fails(ctl(conf, 'users', 'example.net'), 'not a domain')
    fails(ctl(conf, 'users', 'a@localhost'), 'not a domain name')


def test_users_on_a_fresh_install_is_empty(conf):
    assert users(conf) == []


def test_passwd_changes_credentials(conf):
    ok(ctl(conf, 'adduser', 'juliet@example.org', 'old'))
    before = credentials(conf, 'juliet@example.org', 'SHA-256')
    ok(ctl(conf, 'passwd', 'juliet@example.org', 'new'))
    assert credentials(conf, 'juliet@example.org', 'SHA-256') != before
    assert password_matches(conf, 'juliet@example.org', 'new')
    assert not password_matches(conf, 'juliet@example.org', 'old')
    ok(ctl(conf, 'passwd', 'juliet@example.org', stdin='newer\r\n'))
    assert password_matches(conf, 'juliet@example.org', 'newer')
    ok(ctl(conf, 'passwd', 'juliet@example.org', '-starts-with-a-dash'))
    assert password_matches(conf, 'juliet@example.org', '-starts-with-a-dash')
    fails(ctl(conf, 'passwd', 'ghost@example.org', 'x'), 'no such account', 'ghost@example.org')
    assert users(conf) == ['juliet@example.org']


def test_deluser_removes_everything(conf):
    ok(ctl(conf, 'adduser', 'juliet@example.org', 'pw'))
    ok(ctl(conf, 'adduser', 'romeo@example.org', 'pw'))
    with sqlite3.connect(db_path(conf)) as c:  # what sm would have stored
        c.execute('PRAGMA foreign_keys = ON')
        c.execute("INSERT INTO roster (account, contact, subscription, ask, approved) "
                  "VALUES ('juliet@example.org', 'romeo@example.org', 'both', 0, 0)")
        c.execute("INSERT INTO offline (account, stored, stanza) "
                  "VALUES ('juliet@example.org', 0, '<message/>')")
    ok(ctl(conf, 'deluser', 'Juliet@example.org'))
    assert users(conf) == ['romeo@example.org']
    with sqlite3.connect(db_path(conf)) as c:
        for table in ('credentials', 'roster', 'offline'):
            n = c.execute('SELECT count(*) FROM %s WHERE account = ?' % table,
                          ('juliet@example.org',)).fetchone()[0]
            assert n == 0, table
    fails(ctl(conf, 'deluser', 'juliet@example.org'), 'no such account')


def test_password_never_stored_in_plaintext(conf):
    """Keep a second connection open (as a running sm would) so the -wal
    file stays, then look for the passwords' bytes in both files."""
    pws = ['PlainTextPassw0rd-one', 'PlainTextPassw0rd-two', 'PlainTextPassw0rd-3']
    ok(ctl(conf, 'adduser', 'first@localhost', pws[0]))
    holder = sqlite3.connect(db_path(conf))
    holder.execute('SELECT count(*) FROM accounts').fetchone()
    try:
        ok(ctl(conf, 'adduser', 'second@localhost', stdin=pws[1] + '\n'))
        ok(ctl(conf, 'passwd', 'first@localhost', pws[2]))
        assert os.path.exists(db_path(conf) + '-wal')
        for suffix in ('', '-wal'):
            data = open(db_path(conf) + suffix, 'rb').read()
            for pw in pws:
                assert pw.encode() not in data, (suffix, pw)
                assert pw.encode('utf-16-le') not in data
        assert password_matches(conf, 'first@localhost', pws[2])
    finally:
        holder.close()


def test_works_beside_a_connection_holding_the_write_lock(conf):
    """A running sm may be in the middle of a write: junctionctl waits for
    the lock (busy timeout) instead of failing."""
    ok(ctl(conf, 'adduser', 'first@localhost', 'pw'))
    holder = sqlite3.connect(db_path(conf), isolation_level=None)
    holder.execute('BEGIN IMMEDIATE')
    holder.execute("UPDATE accounts SET roster_version = 7 WHERE jid = 'first@localhost'")
    result = {}
    t = threading.Thread(target=lambda: result.update(r=ctl(conf, 'adduser', 'second@localhost',
                                                            'pw')))
    t.start()
    time.sleep(0.7)
    assert 'r' not in result  # still waiting for the lock
    holder.execute('COMMIT')
    holder.close()
    t.join(30)
    ok(result['r'])
    assert users(conf, 'localhost') == ['first@localhost', 'second@localhost']


def test_password_prompt_on_a_terminal_without_echo(conf):
    master, slave = pty.openpty()
    env = dict(os.environ, ASAN_OPTIONS='detect_leaks=1')
    p = subprocess.Popen([CTL, '-c', conf, 'adduser', 'tty@localhost'], stdin=slave,
                         stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    seen = b''

    def read_until(text):
        nonlocal seen
        deadline = time.monotonic() + 20
        while text not in seen and time.monotonic() < deadline:
            if not select.select([master], [], [], 0.2)[0]:
                continue
            try:
                seen += os.read(master, 1024)
            except OSError:
                break
        assert text in seen, seen

    read_until(b'Password for tty@localhost: ')
    os.write(master, b'typed-secret\n')
    read_until(b'Again: ')
    os.write(master, b'typed-secret\n')
    assert p.wait(30) == 0
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunk = os.read(master, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert b'typed-secret' not in seen  # not echoed
    assert password_matches(conf, 'tty@localhost', 'typed-secret')


def test_usage_errors(conf):
    for args in (['adduser'], ['deluser'], ['users', 'a', 'b'], ['adduser', 'a', 'b', 'c']):
        r = ctl(conf, *args)
        assert r.returncode == 2 and 'usage' in r.stderr, args


def test_data_dir_with_missing_parent_is_an_error(tmp_path):
    p = tmp_path / 'junction.conf'
    p.write_text(CONFIG % (tmp_path / 'no' / 'data'))
    msg = fails(ctl(str(p), 'adduser', 'a@localhost', 'pw'), 'data_dir')
    assert str(tmp_path / 'no' / 'data') in msg
