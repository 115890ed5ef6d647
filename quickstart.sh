#!/usr/bin/env bash
# quickstart.sh: install Junction's Debian packages, build it, and start it
# in the foreground under supervisord on localhost (Ctrl-C stops it).
# Everything it makes lives in ./run: the installed binaries, the generated
# configuration (a random [router] secret on first start) and the logs.
set -euo pipefail
cd "$(dirname "$0")"
top=$(pwd)
. scripts/deps.sh
junction_apt_install $JUNCTION_BUILD_DEPS $JUNCTION_RUN_DEPS

[ -x configure ] || autoreconf -fi
mkdir -p build run
if [ ! -f build/Makefile ]; then
	(cd build && ../configure --prefix="$top/run/prefix" -q)
fi
make -C build -j"$(nproc)" -s
make -C build -s install >/dev/null

conf="$top/run/junction.conf"
if [ ! -f "$conf" ]; then
	secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	sed -e "s|^data_dir = .*|data_dir = $top/run/data|" \
	    -e "s|^secret = CHANGE-ME.*|secret = $secret|" \
	    etc/junction.conf.example >"$conf"
	chmod 600 "$conf"
fi
mkdir -p run/data
run/prefix/sbin/junctionctl -c "$conf" check

export JUNCTION_SBIN="$top/run/prefix/sbin" JUNCTION_CONF="$conf" JUNCTION_RUN="$top/run"
echo "starting Junction under supervisord (configuration: $conf)"
exec supervisord -n -c etc/supervisord.conf
