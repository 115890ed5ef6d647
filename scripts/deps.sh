# deps.sh: the Debian packages Junction needs; sourced by quickstart.sh and
# tests/run-all. Each is explained in README.md ("Dependencies").
JUNCTION_BUILD_DEPS="autoconf automake pkg-config make gcc libexpat1-dev libssl-dev libuv1-dev
 libsqlite3-dev libzmq3-dev libinih-dev libidn-dev libc-ares-dev libhttp-parser-dev
 libwslay-dev"
JUNCTION_RUN_DEPS="supervisor openssl libhttp-parser2.9 libwslay1"
JUNCTION_TEST_DEPS="python3 python3-pytest python3-pytest-timeout python3-slixmpp clang libclang-rt-14-dev systemd
 prosody dnsmasq-base python3-websockets chromium"
# Node.js and npm install the web client (web/) and the browser test's
# driver (tests/web/) from npm; Debian's packages only where no node is.
JUNCTION_NODE_DEPS=""
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || JUNCTION_NODE_DEPS="nodejs npm"

# junction_npm_ci DIR...: npm ci in each DIR whose node_modules is missing
# (the versions come from DIR/package-lock.json).
junction_npm_ci() {
	local d
	for d in "$@"; do
		[ -d "$d/node_modules" ] && continue
		echo "npm ci in $d"
		(cd "$d" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null) || return 1
	done
}

# junction_apt_install PACKAGES...: install what is missing (as root, or via sudo).
junction_apt_install() {
	local missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
			|| missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	echo "installing:$missing"
	$sudo apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing >/dev/null
}
