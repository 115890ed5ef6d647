"""[router] listen_unix: components may connect over a UNIX socket and are
routed to and from TCP components like any other."""

import hashlib
import re
import socket

from junction_helpers import connect_component, message


def recv_until(sock, pattern, limit=65536):
    data = b''
    while not re.search(pattern, data) and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_component_over_unix_socket(router):
    r = router()
    path = None
    for line in open(r.config_path):
        if line.startswith('listen_unix'):
            path = line.split('=', 1)[1].strip()
    assert path
    b = connect_component(r, 'b.localhost')
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.settimeout(10)
    u.connect(path)
    u.sendall(b"<stream:stream xmlns='jabber:component:accept' "
              b"xmlns:stream='http://etherx.jabber.org/streams' to='a.localhost'>")
    head = recv_until(u, rb"id='[^']+'")
    sid = re.search(rb"id='([^']+)'", head).group(1).decode()
    digest = hashlib.sha1((sid + r.components['a.localhost']).encode()).hexdigest()
    u.sendall(('<handshake>%s</handshake>' % digest).encode())
    assert b'<handshake/>' in recv_until(u, rb'<handshake/>')

    u.sendall(message('x@b.localhost', 'y@a.localhost', id='viaunix', body='hello').encode())
    got = b.collect(1)[0]
    assert got.get('id') == 'viaunix' and got.get('from') == 'y@a.localhost'

    b.send(message('y@a.localhost', 'x@b.localhost', id='back', body='hi'))
    back = recv_until(u, rb'</message>')
    assert b"id='back'" in back or b'id="back"' in back
    u.sendall(b'</stream:stream>')
    assert recv_until(u, rb'</stream:stream>').endswith(b'</stream:stream>')
    u.close()
