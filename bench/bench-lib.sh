# bench/bench-lib.sh: shell functions shared by bench/run-c2s-bench and bench/run-pubsub-bench
# (sourced, not run): starting Junction and Prosody from generated configs in a temp dir with the
# same accounts, free ports, waiting for listeners and for the generator's "#pause" lines, and
# sampling the servers' CPU time and RSS from /proc.
#
# The sourcing script sets BUILD, TMP_ROOT (with cert.pem/key.pem from bench_make_cert), PREFIX,
# PASSWORD, NACCOUNTS, and keeps SERVER_PIDS=() and GEN_PID=; start_junction and start_prosody
# set C2S_PORT and SERVER_NAMES. JUNCTION_PROCS (default "sm c2s") says which Junction processes
# besides the router to start; PROSODY_GLOBAL and PROSODY_TAIL are extra lines for the Prosody
# config, before and after its VirtualHost.

# shellcheck shell=bash
# shellcheck disable=SC2034 # C2S_PORT and SERVER_NAMES are read by the sourcing script

say() { echo "${0##*/}: $*" >&2; }

stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	# prosody needs a moment to shut down; do not wait forever for anyone.
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

stop_servers() {
	local i
	stop_pid "$GEN_PID"
	GEN_PID=
	# Last started first: c2s and sm before the router they are linked to.
	for (( i = ${#SERVER_PIDS[@]} - 1; i >= 0; i-- )); do
		stop_pid "${SERVER_PIDS[$i]}"
	done
	SERVER_PIDS=()
}

# A free TCP port on 127.0.0.1, below the ephemeral range and in no socket's use right now.
free_port() {
	local port lo=32768
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
	[ "$lo" -gt 12000 ] || lo=32768
	for _ in $(seq 1 100); do
		port=$(( 10000 + RANDOM % (lo - 10000) ))
		if ! ss -Htan "sport = :$port" 2>/dev/null | grep -q .; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# Waits until something accepts TCP connections on 127.0.0.1:$1; fails if pid $2 died first.
wait_port() {
	local port=$1 pid=$2 log=$3
	for _ in $(seq 1 200); do
		if ! kill -0 "$pid" 2>/dev/null; then
			say "server exited during startup; its log ends with:"
			tail -n 20 "$log" >&2
			return 1
		fi
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.1
	done
	say "nothing listens on 127.0.0.1:$port after 20 s; the log ends with:"
	tail -n 20 "$log" >&2
	return 1
}

# utime + stime of every server process, in clock ticks (/proc/PID/stat fields 14 and 15).
cpu_ticks() {
	local pid sum=0 f
	for pid in "${SERVER_PIDS[@]}"; do
		read -ra f <<<"$(sed 's/^.*) //' /proc/"$pid"/stat)"
		sum=$(( sum + f[11] + f[12] ))
	done
	echo "$sum"
}

cpu_ticks_each() {
	local pid f out=
	for pid in "${SERVER_PIDS[@]}"; do
		read -ra f <<<"$(sed 's/^.*) //' /proc/"$pid"/stat)"
		out="$out $(( f[11] + f[12] ))"
	done
	echo "$out"
}

# VmRSS of every server process, in kB, summed; and one by one.
rss_kb() {
	local pid sum=0 v
	for pid in "${SERVER_PIDS[@]}"; do
		v=$(awk '$1 == "VmRSS:" { print $2 }' /proc/"$pid"/status)
		sum=$(( sum + v ))
	done
	echo "$sum"
}

rss_kb_each() {
	local pid out=
	for pid in "${SERVER_PIDS[@]}"; do
		out="$out $(awk '$1 == "VmRSS:" { print $2 }' /proc/"$pid"/status)"
	done
	echo "$out"
}

# Waits (at most 20 s) until the servers have used no CPU for half a second: the work of the
# previous step (presence broadcasts, session ends) is done.
settle() {
	local a b
	a=$(cpu_ticks)
	for _ in $(seq 1 40); do
		sleep 0.5
		b=$(cpu_ticks)
		[ "$a" = "$b" ] && return 0
		a=$b
	done
	say "servers still busy after 20 s; measuring anyway"
}

# Waits until file $1 has a line matching $2, while the generator lives; fails on timeout/exit.
wait_line() {
	local file=$1 pattern=$2 limit=$3
	for _ in $(seq 1 $(( limit * 10 ))); do
		grep -q -- "$pattern" "$file" 2>/dev/null && return 0
		if ! kill -0 "$GEN_PID" 2>/dev/null; then
			grep -q -- "$pattern" "$file" 2>/dev/null && return 0
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# ---- Junction --------------------------------------------------------------------------------
start_junction() {
	local dir=$1 port router_port
	local procs=${JUNCTION_PROCS:-sm c2s} p pid names
	# shellcheck disable=SC2046,SC2086 # one word per process
	if ! make -C "$BUILD" -s junction-router $(printf 'junction-%s ' $procs) junctionctl \
		>"$dir/make.log" 2>&1; then
		say "Junction does not build; skipping it"
		tail -n 10 "$dir/make.log" >&2
		return 1
	fi
	port=$(free_port) && router_port=$(free_port) || return 1
	mkdir -p "$dir/data"
	cat >"$dir/junction.conf" <<EOF
[junction]
domains = localhost
data_dir = $dir/data
log_level = warn

[router]
listen = 127.0.0.1:$router_port
listen_unix = $dir/router.sock
secret = bench-$RANDOM$RANDOM
queue_limit = 8M

[c2s]
listen = 127.0.0.1:$port
listen_tls = 127.0.0.1:$(free_port)
tls_cert = $TMP_ROOT/cert.pem
tls_key = $TMP_ROOT/key.pem
EOF
	# junctionctl adduser derives SCRAM-SHA-1 and -256 credentials (PBKDF2, random salt) per
	# account; a few in parallel.
	say "junction: creating $NACCOUNTS accounts with junctionctl adduser"
	if ! seq 0 $(( NACCOUNTS - 1 )) | xargs -P "$(nproc)" -I{} "$CTL" -c "$dir/junction.conf" \
		adduser "$PREFIX{}@localhost" "$PASSWORD" 2>"$dir/adduser.log"; then
		say "junctionctl adduser failed:"
		tail -n 5 "$dir/adduser.log" >&2
		return 1
	fi
	"$BUILD/junction-router" -c "$dir/junction.conf" >"$dir/router.log" 2>&1 &
	SERVER_PIDS+=($!)
	wait_port "$router_port" "$!" "$dir/router.log" || return 1
	names=router
	for p in $procs; do
		"$BUILD/junction-$p" -c "$dir/junction.conf" >"$dir/$p.log" 2>&1 &
		pid=$!
		SERVER_PIDS+=("$pid")
		names="$names $p"
		if [ "$p" = c2s ]; then
			wait_port "$port" "$pid" "$dir/c2s.log" || return 1
		fi
	done
	# Ready when the router lists c2s, sm's shared binding of the domain and pubsub.
	for _ in $(seq 1 100); do
		"$CTL" -c "$dir/junction.conf" status >"$dir/status.txt" 2>&1
		if grep -q 'c2s\.localhost' "$dir/status.txt" &&
			grep -q 'localhost(shared)' "$dir/status.txt" &&
			{ [[ " $procs " != *" pubsub "* ]] || grep -q 'pubsub\.localhost' "$dir/status.txt"; }; then
			C2S_PORT=$port
			SERVER_NAMES=$names
			return 0
		fi
		sleep 0.1
	done
	say "junction: $procs did not link to the router:"
	cat "$dir/status.txt" "$dir"/*.log >&2
	return 1
}

# ---- Prosody ---------------------------------------------------------------------------------
start_prosody() {
	local dir=$1 port
	if ! command -v prosody >/dev/null; then
		say "prosody is not installed (apt-get install prosody); skipping it"
		return 1
	fi
	port=$(free_port) || return 1
	mkdir -p "$dir/data/localhost/accounts" "$dir/certs"
	# The Debian package's defaults, minus what would make it do more than Junction does for the
	# same clients: roster, presence, offline messages, disco, ping; internal_hashed accounts
	# (SCRAM-SHA-1 keys only, like Junction). c2s only, on loopback; see docs/benchmarks.md.
	cat >"$dir/prosody.cfg.lua" <<EOF
run_as_root = true
data_path = "$dir/data"
pidfile = "$dir/prosody.pid"
certificates = "$dir/certs"
log = { { levels = { min = "warn" }, to = "file", filename = "$dir/prosody.log" } }
modules_enabled = { "roster", "saslauth", "tls", "disco", "offline", "ping", "posix" }
modules_disabled = { "s2s" }
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $port }
c2s_direct_tls_ports = { }
s2s_ports = { }
c2s_require_encryption = true
allow_registration = false
authentication = "internal_hashed"
storage = "internal"
ssl = { certificate = "$TMP_ROOT/cert.pem", key = "$TMP_ROOT/key.pem" }
${PROSODY_GLOBAL:-}
VirtualHost "localhost"
${PROSODY_TAIL:-}
EOF
	# prosodyctl register would take a second or so per account; write the same records that
	# mod_auth_internal_hashed's create_user writes (uuid salt, 10000 iterations, hex keys).
	say "prosody: writing $NACCOUNTS internal_hashed account files"
	/usr/bin/python3 - "$dir/data/localhost/accounts" "$PREFIX" "$NACCOUNTS" "$PASSWORD" <<'EOF'
import hashlib, hmac, os, sys, uuid
d, prefix, n, pw = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
for i in range(n):
    salt = str(uuid.uuid4())
    salted = hashlib.pbkdf2_hmac('sha1', pw, salt.encode(), 10000)
    ck = hmac.new(salted, b'Client Key', hashlib.sha1).digest()
    sk = hmac.new(salted, b'Server Key', hashlib.sha1).digest()
    with open(os.path.join(d, '%s%d.dat' % (prefix, i)), 'w') as f:
        f.write('return {\n\t["iteration_count"] = 10000;\n\t["salt"] = "%s";\n'
                '\t["stored_key"] = "%s";\n\t["server_key"] = "%s";\n};\n'
                % (salt, hashlib.sha1(ck).hexdigest(), sk.hex()))
EOF
	[ $? -eq 0 ] || return 1
	# prosody is a Lua script run through env, so exec keeps $! the server's own pid.
	(cd "$dir" && exec prosody --config "$dir/prosody.cfg.lua" -F) >"$dir/server.log" 2>&1 &
	SERVER_PIDS+=($!)
	wait_port "$port" "$!" "$dir/server.log" || return 1
	C2S_PORT=$port
	SERVER_NAMES="prosody"
}

gen_stop() {
	stop_pid "$GEN_PID"
	GEN_PID=
}

field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2" | head -n 1; }

# One certificate for both servers: P-256 ECDSA, as quickstart.sh makes.
bench_make_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout "$TMP_ROOT/key.pem" \
		-out "$TMP_ROOT/cert.pem" 2>/dev/null || { say "openssl req failed"; return 1; }
}
