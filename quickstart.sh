#!/usr/bin/env bash
# quickstart.sh: install Junction's Debian packages, build it, and start it
# in the foreground under supervisord on localhost (Ctrl-C stops it).
# Everything it makes lives in ./run: the installed binaries, the generated
# configuration (a random [router] secret on first start), a self-signed
# certificate for localhost, the database and the logs. Add accounts with
#   run/prefix/sbin/junctionctl -c run/junction.conf adduser juliet@localhost
# and chat in a browser at https://localhost:5281/ (the web client).
set -euo pipefail
cd "$(dirname "$0")"
top=$(pwd)
. scripts/deps.sh
junction_apt_install $JUNCTION_BUILD_DEPS $JUNCTION_RUN_DEPS $JUNCTION_NODE_DEPS
# The web client (converse.js), installed by make install into web_root.
junction_npm_ci web

[ -x configure ] || autoreconf -fi
mkdir -p build run
if [ ! -f build/Makefile ]; then
	(cd build && ../configure --prefix="$top/run/prefix" -q)
fi
make -C build -j"$(nproc)" -s
make -C build -s install >/dev/null

# A self-signed certificate for localhost, made once (clients will ask the
# user to accept it; put a real one in [c2s] tls_cert/tls_key for a real
# domain).
mkdir -p run/tls
if [ ! -f run/tls/cert.pem ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost \
		-keyout run/tls/key.pem -out run/tls/cert.pem 2>/dev/null
	chmod 600 run/tls/key.pem
fi

conf="$top/run/junction.conf"
if [ ! -f "$conf" ]; then
	secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	sed -e "s|^data_dir = .*|data_dir = $top/run/data|" \
	    -e "s|^secret = CHANGE-ME.*|secret = $secret|" \
	    -e "s|^listen = 0.0.0.0:5222|listen = 127.0.0.1:5222|" \
	    -e "s|^listen_tls = 0.0.0.0:5223|listen_tls = 127.0.0.1:5223|" \
	    -e "s|^listen = 0.0.0.0:5269|listen = 127.0.0.1:5269|" \
	    -e "s|^tls_cert = .*|tls_cert = $top/run/tls/cert.pem|" \
	    -e "s|^tls_key = .*|tls_key = $top/run/tls/key.pem|" \
	    -e "s|^; http_listen = 0.0.0.0:5281 .*|http_listen = 127.0.0.1:5281|" \
	    -e "s|^; web_client = yes .*|web_client = yes|" \
	    etc/junction.conf.example >"$conf"
	chmod 600 "$conf"
fi
mkdir -p run/data
run/prefix/sbin/junctionctl -c "$conf" check

export JUNCTION_SBIN="$top/run/prefix/sbin" JUNCTION_CONF="$conf" JUNCTION_RUN="$top/run"
echo "starting Junction under supervisord (configuration: $conf)"
exec supervisord -n -c etc/supervisord.conf
