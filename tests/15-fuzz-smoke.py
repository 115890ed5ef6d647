"""The libFuzzer targets (docs/fuzzing.md) build with clang and run clean
for a short while, so they cannot rot between real fuzzing sessions."""

import os
import shutil
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = {
    'fuzz-xml-parser': [
        b"\x80\x00<stream:stream xmlns='jabber:component:accept' "
        b"xmlns:stream='http://etherx.jabber.org/streams' to='a.example'>"
        b"<message to='u@b.example' from='a.example' id='1'><body>hi &amp; x</body></message>",
        b"\x10\x05<!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>",
    ],
    'fuzz-jid': [b'Juliet@Example.COM/balcony', b'\xc3\x84@example.com', b'[::1]'],
    'fuzz-http': [
        b"\x17POST /http-bind?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        b"GET / HTTP/1.0\r\n\r\n",
        b"\x30GET /xmpp-websocket HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"\r\n\x81\x05hello",
        b"\x05POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ],
}


@pytest.mark.timeout(600)
def test_fuzz_targets_build_and_run(tmp_path):
    if shutil.which('clang') is None:
        pytest.fail('clang is not installed (tests/run-all installs it)')
    build = tmp_path / 'build-fuzz'
    build.mkdir()
    r = subprocess.run([os.path.join(TOP, 'configure'), '-q', '--enable-fuzz', 'CC=clang'],
                       cwd=build, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(['make', '-s', '-j2', 'fuzz/fuzz-xml-parser', 'fuzz/fuzz-jid',
                        'fuzz/fuzz-http'],
                       cwd=build, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    for target, seeds in SEEDS.items():
        corpus = tmp_path / ('corpus-' + target)
        corpus.mkdir()
        for i, seed in enumerate(seeds):
            (corpus / ('seed%d' % i)).write_bytes(seed)
        r = subprocess.run([str(build / 'fuzz' / target), '-max_total_time=15',
                            '-max_len=4096', str(corpus)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-4000:]
        assert 'Done' in r.stderr and 'runs in' in r.stderr, r.stderr[-2000:]
