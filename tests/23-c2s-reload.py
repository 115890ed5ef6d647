"""SIGHUP to junction-c2s: it re-reads the log level and the TLS
certificate and key, so new connections (STARTTLS and direct TLS) get the
new certificate while existing sessions go on; a certificate that does not
load is one error line and the old one stays in use."""

import hashlib
import os
import signal
import socket
import ssl
import time

import pytest

from fake_sm import BOT_JID, RawClient, deployment, make_cert  # noqa: F401
from junction_helpers import wait_until


def _no_verify():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def served_fingerprint(port):
    """SHA-256 of the certificate c2s presents on its direct TLS port."""
    with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
        with _no_verify().wrap_socket(s, server_hostname='localhost') as t:
            return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


def starttls_fingerprint(port):
    c = RawClient(port)
    c.open_client()
    c.starttls()
    fp = hashlib.sha256(c.sock.getpeercert(binary_form=True)).hexdigest()
    c.close()
    return fp


def file_fingerprint(cert_path):
    der = ssl.PEM_cert_to_DER_cert(open(cert_path).read())
    return hashlib.sha256(der).hexdigest()


def cert_paths(d):
    return (os.path.join(d.router.workdir, 'c2s-cert.pem'),
            os.path.join(d.router.workdir, 'c2s-key.pem'))


def hup(d, marker):
    """SIGHUP c2s and wait until its log has one more line with marker."""
    before = d.c2s.log_text().count(marker)
    d.c2s.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: d.c2s.log_text().count(marker) > before, 10, what=marker)


def new_pair(tmp_path, name):
    directory = tmp_path / name
    directory.mkdir()
    return make_cert(str(directory))


@pytest.mark.timeout(90)
def test_sighup_reloads_the_certificate(deployment, tmp_path):
    d = deployment(junction_opts={'log_level': 'info'})
    cert, key = cert_paths(d)
    old = file_fingerprint(cert)
    assert served_fingerprint(d.c2s.tls_port) == old
    c = RawClient(d.c2s.port)
    c.login(resource='before')

    new_cert, new_key = new_pair(tmp_path, 'renewed')
    os.replace(new_cert, cert)
    os.replace(new_key, key)
    hup(d, 'reloaded')
    new = file_fingerprint(cert)
    assert new != old
    assert served_fingerprint(d.c2s.tls_port) == new
    assert starttls_fingerprint(d.c2s.port) == new
    # The session opened before the reload goes on with its own TLS.
    c.send("<message to='%s' id='m1'><body>still</body></message>" % BOT_JID)
    assert c.next().get('id') == 'm1'
    c.close()


@pytest.mark.timeout(90)
@pytest.mark.parametrize('breakage', ['garbage-cert', 'mismatched-key', 'missing-key'])
def test_sighup_with_a_bad_certificate_keeps_the_old_one(deployment, tmp_path, breakage):
    d = deployment(junction_opts={'log_level': 'info'})
    cert, key = cert_paths(d)
    old = file_fingerprint(cert)
    if breakage == 'garbage-cert':
        with open(cert, 'w') as f:
            f.write('-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n')
    elif breakage == 'mismatched-key':
        _other_cert, other_key = new_pair(tmp_path, 'other')
        os.replace(other_key, key)
    else:
        os.unlink(key)
    errors_before = d.c2s.log_text().count(' ERROR ')
    hup(d, 'keeping the current certificate')
    errors = [line for line in d.c2s.log_text().splitlines() if ' ERROR ' in line]
    assert len(errors) == errors_before + 1, errors
    assert served_fingerprint(d.c2s.tls_port) == old
    # c2s still serves new clients end to end.
    c = RawClient(d.c2s.port)
    c.login(resource='after')
    c.send("<message to='%s' id='m2'><body>ok</body></message>" % BOT_JID)
    assert c.next().get('id') == 'm2'
    c.close()
    assert d.c2s.proc.poll() is None


@pytest.mark.timeout(60)
def test_sighup_rereads_the_log_level(deployment):
    d = deployment(junction_opts={'log_level': 'info'})
    RawClient(d.c2s.tls_port, tls=True).close()
    time.sleep(0.3)
    assert ' DEBUG ' not in d.c2s.log_text()
    with open(d.router.config_path, 'a') as f:
        f.write('log_level = debug\n')  # the file ends in [c2s]
    hup(d, 'reloaded')
    RawClient(d.c2s.tls_port, tls=True).close()
    wait_until(lambda: 'accepted' in d.c2s.log_text(), 10, what='a debug line')
    assert ' DEBUG ' in d.c2s.log_text()
