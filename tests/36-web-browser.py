"""The web client in a real browser: junction-c2s serves converse.js
([c2s] web_client); tests/web/browser-test.mjs drives Debian's chromium
headless (playwright-core) to log juliet and romeo in, see each other
online and exchange a message each way. Screenshots of every step are
kept under the test's tmp dir and copied to tests/artifacts/. Also the
static file rules: Content-Types, 404s, no way out of web_root."""

import asyncio
import http.client
import os
import shutil
import subprocess

import pytest

from ws_helpers import no_verify, web  # noqa: F401 (fixture)

_here = os.path.dirname(os.path.abspath(__file__))
_top = os.path.dirname(_here)
WEB_ROOT = os.path.join(_top, 'web', 'node_modules', 'converse.js', 'dist')
DRIVER = os.path.join(_here, 'web', 'browser-test.mjs')
PLAYWRIGHT = os.path.join(_here, 'web', 'node_modules', 'playwright-core')
CHROMIUM = '/usr/bin/chromium'
USERS = (('juliet@localhost', 'r0meo'), ('romeo@localhost', 'dagger'))

needs_web = pytest.mark.skipif(not os.path.isdir(WEB_ROOT),
                               reason='web/ not installed (npm ci in web/)')


def _start(web):
    return web(users=USERS, c2s_opts={'web_client': 'yes', 'web_root': WEB_ROOT})


def _get(w, path, method='GET'):
    c = http.client.HTTPSConnection('127.0.0.1', w.http_port, timeout=15, context=no_verify())
    c.request(method, path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.getheader('Content-Type'), body


def _befriend(port):
    """juliet and romeo subscribe to each other (slixmpp over TCP), so each
    browser shows the other's presence."""
    from importlib.util import module_from_spec, spec_from_file_location
    spec = spec_from_file_location('c2s_real_sm', os.path.join(_here, '20-c2s-real-sm.py'))
    real_sm = module_from_spec(spec)
    spec.loader.exec_module(real_sm)

    async def main():
        clients = []
        for user, pw in (('juliet', 'r0meo'), ('romeo', 'dagger')):
            c = real_sm._client(user, pw, port)  # one at a time: wait_until
            await asyncio.wait_for(c.wait_until('session_start'), 30)  # misses early events
            c.roster.auto_authorize = None
            c.roster.auto_subscribe = None
            await c.get_roster()
            c.send_presence()
            clients.append(c)
        j, r = clients
        j.send_presence(pto='romeo@localhost', ptype='subscribe')
        await real_sm._next(r, 'subscribe', lambda e: e[1] == 'juliet@localhost')
        r.send_presence(pto='juliet@localhost', ptype='subscribed')
        r.send_presence(pto='juliet@localhost', ptype='subscribe')
        await real_sm._next(j, 'subscribe', lambda e: e[1] == 'romeo@localhost')
        j.send_presence(pto='romeo@localhost', ptype='subscribed')
        await real_sm._next(r, 'available', lambda e: e[1].startswith('juliet@'))
        for c, other in ((j, 'romeo@localhost'), (r, 'juliet@localhost')):
            await c.get_roster()
            assert c.client_roster[other]['subscription'] == 'both', (c.boundjid,
                                                                      c.client_roster)
        for c in (j, r):
            c.disconnect()
            await asyncio.wait_for(c.disconnected, 10)
    asyncio.run(main())


@needs_web
@pytest.mark.timeout(60)
def test_static_files(web):
    w = _start(web)
    st, ctype, body = _get(w, '/')
    assert st == 200 and ctype.startswith('text/html'), (st, ctype)
    assert b"wss://127.0.0.1:%d/xmpp-websocket" % w.http_port in body
    st, ctype, body = _get(w, '/dist/converse.min.js')
    assert st == 200 and ctype.startswith('text/javascript') and len(body) > 100000
    assert _get(w, '/dist/converse.min.css')[1].startswith('text/css')
    assert _get(w, '/dist/webfonts/fa-solid-900.woff2')[1] == 'font/woff2'
    for bad in ('/dist/../package.json', '/dist/%2e%2e/package.json', '/dist/./converse.js',
                '/dist/.hidden.js', '/dist//converse.js', '/dist/converse.min.js.map',
                '/dist/nothere.js', '/dist/', '/etc/passwd', '/dist/images'):
        assert _get(w, bad)[0] == 404, bad
    assert _get(w, '/', 'POST')[0] == 405
    # The other paths are still there.
    assert _get(w, '/.well-known/host-meta')[0] == 200


@pytest.mark.timeout(60)
def test_off_by_default(web):
    w = web(users=USERS)
    assert _get(w, '/')[0] == 404
    assert _get(w, '/dist/converse.min.js')[0] == 404


@needs_web
@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason='no chromium')
@pytest.mark.skipif(not os.path.isdir(PLAYWRIGHT),
                    reason='tests/web not installed (npm ci in tests/web)')
@pytest.mark.timeout(120)
def test_two_users_chat_in_chromium(web, tmp_path):
    w = _start(web)
    _befriend(w.c2s.port)
    shots = tmp_path / 'screenshots'
    shots.mkdir()
    url = 'https://127.0.0.1:%d/' % w.http_port
    (j, jp), (r, rp) = USERS
    res = subprocess.run(['node', DRIVER, url, j, jp, r, rp, str(shots)],
                         capture_output=True, text=True, timeout=90, cwd=os.path.dirname(DRIVER))
    keep = os.path.join(_here, 'artifacts', 'browser')
    shutil.rmtree(keep, ignore_errors=True)
    shutil.copytree(shots, keep)
    print('screenshots: %s (copied to %s)' % (shots, keep))
    print(res.stdout)
    assert res.returncode == 0, res.stdout + res.stderr
    assert 'OK' in res.stdout.splitlines()
    names = sorted(os.listdir(shots))
    assert any('a-received' in n for n in names) and any('b-received' in n for n in names)
