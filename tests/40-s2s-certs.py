"""SASL EXTERNAL between servers (XEP-0178) with certificates from a test
CA made here with openssl, and dialback when a certificate is not valid.

The leaf certificates carry only the serverAuth extended key usage (as
Let's Encrypt issues them since 2026), and are accepted in both
directions: as the server's certificate and as the client certificate of
an outgoing stream."""

import asyncio
import importlib.util
import os
import socket
import ssl
import subprocess

import pytest

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('s2s_fed', os.path.join(_here, '40-s2s-federation.py'))
fed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fed)
federation = fed.federation
pytestmark = fed.pytestmark


def _openssl(*args):
    subprocess.run(['openssl'] + list(args), check=True, capture_output=True, timeout=60)


def make_ca(d):
    ca, key = os.path.join(d, 'ca.pem'), os.path.join(d, 'ca-key.pem')
    _openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
             '-nodes', '-keyout', key, '-out', ca, '-days', '2', '-subj', '/CN=Junction test CA',
             '-addext', 'basicConstraints=critical,CA:TRUE',
             '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    return ca, key


def make_leaf(d, ca, ca_key, domain):
    key, csr, cert = (os.path.join(d, '%s.%s' % (domain, x)) for x in ('key', 'csr', 'pem'))
    ext = os.path.join(d, '%s.ext' % domain)
    with open(ext, 'w') as f:
        f.write('basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n'
                'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s\n' % domain)
    _openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
             '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=%s' % domain)
    _openssl('x509', '-req', '-in', csr, '-CA', ca, '-CAkey', ca_key, '-CAcreateserial',
             '-days', '2', '-extfile', ext, '-out', cert)
    return cert, key


def a_tls_dir_and_b_leaf(tmp_path):
    """A test CA, a tls_dir holding a.example's own pair from it, and a
    leaf for b.example."""
    ca, ca_key = make_ca(str(tmp_path))
    tls_dir = tmp_path / 'tls'
    tls_dir.mkdir()
    cert, key = make_leaf(str(tmp_path), ca, ca_key, 'a.example')
    os.rename(cert, str(tls_dir / 'a.example.crt'))
    os.rename(key, str(tls_dir / 'a.example.key'))
    b_cert, b_key = make_leaf(str(tmp_path), ca, ca_key, 'b.example')
    return ca, tls_dir, b_cert, b_key


def chat(f):
    out = {}

    async def main():
        j = await fed.login('juliet', f.a)
        r = await fed.login('romeo', f.b)
        j.send_message(mto='romeo@b.example', mbody='to b', mtype='chat')
        out['at_b'] = await fed.next_event(r, 'message')
        r.send_message(mto='juliet@a.example', mbody='to a', mtype='chat')
        out['at_a'] = await fed.next_event(j, 'message')
        j.disconnect()
        r.disconnect()
        await asyncio.sleep(0.5)
    asyncio.run(main())
    return out


@pytest.mark.timeout(120)
def test_sasl_external_both_ways(federation, tmp_path):
    ca, ca_key = make_ca(str(tmp_path))
    a_cert, a_key = make_leaf(str(tmp_path), ca, ca_key, 'a.example')
    b_cert, b_key = make_leaf(str(tmp_path), ca, ca_key, 'b.example')
    f = federation(a_opts={'tls_cert': a_cert, 'tls_key': a_key, 'tls_ca': ca},
                   b_opts={'tls_cert': b_cert, 'tls_key': b_key, 'tls_ca': ca})
    out = chat(f)
    assert out['at_b'][1:3] == ('juliet@a.example/home', 'to b'), out
    assert out['at_a'][1:3] == ('romeo@b.example/home', 'to a'), out
    for site in (f.a, f.b):
        log = site.s2s.log_text()
        assert 'a.example -> b.example authenticated (SASL EXTERNAL), TLS' in log, log
        assert 'b.example -> a.example authenticated (SASL EXTERNAL), TLS' in log, log
        assert 'authenticated (dialback)' not in log, log


@pytest.mark.timeout(120)
def test_dialback_when_the_certificate_is_not_valid(federation, tmp_path):
    """b.example presents a self-signed certificate (the c2s one): a.example
    does not offer it EXTERNAL and dialback authenticates it instead;
    a.example's own certificate is good at b.example, which takes EXTERNAL."""
    ca, ca_key = make_ca(str(tmp_path))
    a_cert, a_key = make_leaf(str(tmp_path), ca, ca_key, 'a.example')
    f = federation(a_opts={'tls_cert': a_cert, 'tls_key': a_key, 'tls_ca': ca},
                   b_opts={'tls_ca': ca})
    out = chat(f)
    assert out['at_b'][1:3] == ('juliet@a.example/home', 'to b'), out
    assert out['at_a'][1:3] == ('romeo@b.example/home', 'to a'), out
    log = f.a.s2s.log_text()
    assert 'b.example -> a.example authenticated (dialback), TLS' in log, log
    assert 'a.example -> b.example authenticated (SASL EXTERNAL), TLS' in log, log


@pytest.mark.timeout(120)
def test_require_valid_cert_refuses_dialback(federation, tmp_path):
    """With require_valid_cert, a.example refuses b.example's self-signed
    certificate and offers no dialback: romeo's message bounces."""
    ca, ca_key = make_ca(str(tmp_path))
    a_cert, a_key = make_leaf(str(tmp_path), ca, ca_key, 'a.example')
    f = federation(a_opts={'tls_cert': a_cert, 'tls_key': a_key, 'tls_ca': ca,
                           'require_valid_cert': 'yes'},
                   b_opts={'tls_ca': ca})
    out = {}

    async def main():
        r = await fed.login('romeo', f.b)
        r.send_message(mto='juliet@a.example', mbody='let me in', mtype='chat')
        out['bounce'] = await fed.next_event(r, 'message', lambda e: e[3] == 'error')
        r.disconnect()
        await asyncio.sleep(0.5)
    asyncio.run(main())
    assert out['bounce'][4] == 'remote-server-not-found', out
    log = f.a.s2s.log_text()
    assert 'not-authorized: a valid certificate is required' in log, log
    assert 'b.example -> a.example authenticated' not in log, log


@pytest.mark.timeout(120)
def test_per_domain_certificate_from_tls_dir(federation, tmp_path):
    """a.example's default certificate is the self-signed c2s one, but
    [s2s] tls_dir holds a.example.crt/.key from the CA: that pair is what
    b.example sees, as a server certificate and as a client certificate,
    and b.example (require_valid_cert = yes) accepts it both ways."""
    ca, tls_dir, b_cert, b_key = a_tls_dir_and_b_leaf(tmp_path)
    f = federation(a_opts={'tls_dir': str(tls_dir), 'tls_ca': ca},
                   b_opts={'tls_cert': b_cert, 'tls_key': b_key, 'tls_ca': ca,
                           'require_valid_cert': 'yes'})
    out = chat(f)
    assert out['at_b'][1:3] == ('juliet@a.example/home', 'to b'), out
    assert out['at_a'][1:3] == ('romeo@b.example/home', 'to a'), out
    log = f.b.s2s.log_text()
    assert 'a.example -> b.example authenticated (SASL EXTERNAL), TLS' in log, log
    assert 'b.example -> a.example authenticated (SASL EXTERNAL), TLS' in log, log
    assert 'a.example presents %s/a.example.crt' % tls_dir in f.a.s2s.log_text()


def presented_subject(ip, port, sni):
    """The subject of the certificate a direct-TLS listener presents to a
    client sending SNI name sni."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((ip, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as t:
            der = t.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    r = subprocess.run(['openssl', 'x509', '-noout', '-subject', '-issuer'], input=pem,
                       capture_output=True, text=True, check=True, timeout=30)
    return r.stdout


@pytest.mark.timeout(120)
def test_direct_tls_picks_the_certificate_by_sni(federation, tmp_path):
    """On direct TLS the stream header comes after the handshake, so the
    client's SNI picks a.example's own pair from tls_dir. b.example reaches
    a.example over direct TLS, requires a valid certificate and gets one;
    a client naming a domain a.example does not serve gets the default."""
    ca, tls_dir, b_cert, b_key = a_tls_dir_and_b_leaf(tmp_path)
    f = federation(a_opts={'tls_dir': str(tls_dir), 'tls_ca': ca},
                   b_opts={'tls_cert': b_cert, 'tls_key': b_key, 'tls_ca': ca,
                           'require_valid_cert': 'yes'},
                   a_direct_tls=True)
    mine = presented_subject('127.0.0.2', f.a_tls_port, 'A.example')
    assert 'Junction test CA' in mine and 'a.example' in mine, mine
    other = presented_subject('127.0.0.2', f.a_tls_port, 'nosuch.example')
    assert 'Junction test CA' not in other, other
    out = chat(f)
    assert out['at_b'][1:3] == ('juliet@a.example/home', 'to b'), out
    assert out['at_a'][1:3] == ('romeo@b.example/home', 'to a'), out
    log = f.b.s2s.log_text()
    assert 'a.example -> b.example authenticated (SASL EXTERNAL), TLS' in log, log
