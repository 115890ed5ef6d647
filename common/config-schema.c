/* config-schema.c: every key of junction.conf, with its type and default.
 *
 * The single source of truth for what a configuration file may contain:
 * config_load() validates against this table, `junctionctl check` uses the
 * same loader, and docs/configuration.md documents each entry (a test checks
 * that every key listed here appears there). Add a key here first, then
 * read it with config_get*() in the process that uses it.
 */
#include "config.h"

const struct config_key config_schema[] = {
	/* [junction]: settings every process reads. */
	{"junction", "domains", CONFIG_DOMAINS, "localhost", false, "all",
	 "the XMPP domains this deployment serves, comma separated"},
	{"junction", "data_dir", CONFIG_PATH, "/var/lib/junction", false, "all",
	 "directory for databases and other state"},
	{"junction", "storage_fsync", CONFIG_BOOL, "no", false, "all",
	 "fsync the database at every commit: stored data then survives a power cut too, at "
	 "about 0.5 ms per change on sm's event loop; without it, a crash or kill -9 of any "
	 "process loses nothing"},
	{"junction", "admins", CONFIG_LIST, NULL, false, "sm",
	 "bare JIDs allowed to run the XEP-0133 service administration commands"},
	{"junction", "log_level", CONFIG_LOGLEVEL, "info", false, "all",
	 "least severe level that is logged, unless a process section overrides it"},
	{"junction", "syslog", CONFIG_BOOL, "no", false, "all",
	 "also send log lines to syslog (facility daemon), besides stderr"},
	{"junction", "log_file", CONFIG_PATH, NULL, false, "all",
	 "append log lines (and all else written to stderr) to this file instead of stderr; %n "
	 "is replaced by the process name; reopened on SIGHUP (junctionctl reload)"},
	{"junction", "run_dir", CONFIG_PATH, NULL, false, "all",
	 "directory for pid files (junction-NAME.pid); default data_dir"},
	{"junction", "supervisor", CONFIG_STRING, "auto", false, "junctionctl",
	 "what junctionctl start/stop/restart drive: systemd, supervisord, none (junctionctl "
	 "runs the daemons itself) or auto (detect)"},
	{"junction", "supervisord_conf", CONFIG_PATH, NULL, false, "junctionctl",
	 "supervisord configuration file passed to supervisorctl -c (supervisor = supervisord)"},
	{"junction", "metrics", CONFIG_HOSTPORT, NULL, false, "all",
	 "HOST:PORT of the Prometheus metrics of the router; each other process listens at a "
	 "fixed offset from PORT (docs/operations.md); off when unset"},

	/* [router]: the process every other process and component connects to. */
	{"router", "listen", CONFIG_HOSTPORT, "127.0.0.1:5347", false, "all",
	 "TCP address the router accepts components on; the other processes connect here"},
	{"router", "listen_unix", CONFIG_PATH, NULL, false, "all",
	 "UNIX socket path the router also accepts components on; off when unset"},
	{"router", "secret", CONFIG_STRING, NULL, true, "all",
	 "shared secret Junction's own processes authenticate to the router with"},
	{"router", "max_stanza_bytes", CONFIG_SIZE, "256K", false, "router",
	 "largest stanza, in bytes of XML, the router accepts from a connection"},
	{"router", "max_depth", CONFIG_UINT, "64", false, "router",
	 "deepest XML element nesting accepted in a stanza"},
	{"router", "max_attrs", CONFIG_UINT, "64", false, "router",
	 "most attributes accepted on one XML element"},
	{"router", "queue_limit", CONFIG_SIZE, "1M", false, "router",
	 "output queue bytes per component before stanzas for it bounce with "
	 "resource-constraint"},
	{"router", "stall_timeout", CONFIG_DURATION, "10s", false, "router",
	 "a component over queue_limit for this long is disconnected"},
	{"router", "handshake_timeout", CONFIG_DURATION, "10s", false, "router",
	 "time a new connection has to complete the component handshake"},
	{"router", "hold_limit", CONFIG_SIZE, "1M", false, "router",
	 "bytes of stanzas held for a users' domain while its sm restarts (or s2s)"},
	{"router", "hold_timeout", CONFIG_DURATION, "30s", false, "router",
	 "how long stanzas are held for a users' domain whose sm went away"},
	{"router", "log_level", CONFIG_LOGLEVEL, NULL, false, "router",
	 "overrides [junction] log_level for the router"},

	/* [c2s]: the client service (RFC 6120 client-to-server streams). */
	{"c2s", "listen", CONFIG_HOSTPORT, "0.0.0.0:5222", false, "c2s",
	 "TCP address for client streams (STARTTLS)"},
	{"c2s", "listen_tls", CONFIG_HOSTPORT, "0.0.0.0:5223", false, "c2s",
	 "TCP address for client streams over direct TLS (XEP-0368)"},
	{"c2s", "tls_cert", CONFIG_PATH, NULL, false, "c2s",
	 "PEM certificate chain c2s presents; c2s does not start without it"},
	{"c2s", "tls_key", CONFIG_PATH, NULL, false, "c2s",
	 "PEM private key for tls_cert; c2s does not start without it"},
	{"c2s", "name", CONFIG_STRING, NULL, false, "c2s",
	 "component name c2s binds at the router; default c2s.FIRST-DOMAIN"},
	{"c2s", "require_tls", CONFIG_BOOL, "yes", false, "c2s",
	 "refuse SASL authentication before TLS is established"},
	{"c2s", "auth_timeout", CONFIG_DURATION, "60s", false, "c2s",
	 "time a client has from connecting to completing authentication"},
	{"c2s", "auth_max_failures", CONFIG_UINT, "3", false, "c2s",
	 "failed SASL attempts one stream may make before it is closed (2 to 5)"},
	{"c2s", "max_stanza_bytes", CONFIG_SIZE, "256K", false, "c2s",
	 "largest stanza, in bytes of XML, c2s accepts from a client"},
	{"c2s", "max_clients", CONFIG_UINT, "10000", false, "c2s",
	 "client sessions c2s serves at once, TCP, WebSocket and BOSH together; beyond it new "
	 "streams end with resource-constraint (0: no limit)"},
	{"c2s", "sm_queue_limit", CONFIG_SIZE, "1M", false, "c2s",
	 "bytes of clients' stanzas held while no sm serves their domain"},
	{"c2s", "sm_queue_timeout", CONFIG_DURATION, "30s", false, "c2s",
	 "how long a stanza is held for sm before its client gets an error"},
	{"c2s", "log_level", CONFIG_LOGLEVEL, NULL, false, "c2s",
	 "overrides [junction] log_level for c2s"},
	{"c2s", "http_listen", CONFIG_HOSTPORT, NULL, false, "c2s",
	 "HTTP(S) address for web clients: WebSocket at /xmpp-websocket, BOSH at /http-bind, "
	 "XEP-0156 host-meta; "
	 "off when unset"},
	{"c2s", "http_tls", CONFIG_BOOL, "yes", false, "c2s",
	 "HTTPS with tls_cert on http_listen; no (plain HTTP) only on a loopback address, "
	 "behind a reverse proxy"},
	{"c2s", "http_origins", CONFIG_LIST, NULL, false, "c2s",
	 "origins (scheme://host[:port], or *) whose web pages may open sessions; default the "
	 "listener's own origin; requests without Origin are always allowed"},
	{"c2s", "http_connections_per_ip", CONFIG_UINT, "200", false, "c2s",
	 "open HTTP(S) connections one address may hold on http_listen; more are closed at "
	 "accept (0: no limit)"},
	{"c2s", "bosh_inactivity", CONFIG_DURATION, "60s", false, "c2s",
	 "a BOSH session with no request held for this long ends (XEP-0124 'inactivity')"},
	{"c2s", "web_client", CONFIG_BOOL, "no", false, "c2s",
	 "serve the converse.js web client at / of http_listen (docs/web.md)"},
	{"c2s", "web_root", CONFIG_PATH, DATADIR "/junction/web", false, "c2s",
	 "directory of converse.js's dist files for web_client"},

	/* [sm]: the session manager's account services (docs/accounts.md). */
	{"sm", "registration", CONFIG_BOOL, "no", false, "sm, c2s",
	 "allow XEP-0077 in-band registration: account creation before login, password change "
	 "and account removal by the account's owner"},
	{"sm", "registration_per_ip_per_hour", CONFIG_UINT, "5", false, "sm",
	 "accounts one IP address may create by in-band registration in an hour (0: no limit)"},
	{"sm", "vcard_max_bytes", CONFIG_SIZE, "64K", false, "sm",
	 "largest vCard (XEP-0054), in bytes of XML, an account may store; larger is "
	 "not-acceptable"},
	{"sm", "private_max_bytes", CONFIG_SIZE, "256K", false, "sm",
	 "bytes of private XML (XEP-0049) one account may store in all; more is not-acceptable "
	 "(0: no cap)"},
	{"sm", "version_query", CONFIG_BOOL, "yes", false, "sm",
	 "answer XEP-0092 software version queries to the server (name and version, no OS)"},

	/* [pubsub]: the publish-subscribe service (XEP-0060). */
	{"pubsub", "domain", CONFIG_DOMAINS, NULL, false, "pubsub, sm",
	 "the service's domain, bound at the router; default pubsub.FIRST-DOMAIN"},
	{"pubsub", "create_nodes", CONFIG_LIST, "users", false, "pubsub",
	 "who may create nodes: users (accounts of [junction] domains), anyone, bare JIDs or "
	 "domains, comma separated"},
	{"pubsub", "roster_cache", CONFIG_DURATION, "30s", false, "pubsub",
	 "how long an owner's sm's answer about a contact is kept (presence and roster access "
	 "models)"},
	{"pubsub", "log_level", CONFIG_LOGLEVEL, NULL, false, "pubsub",
	 "overrides [junction] log_level for pubsub"},
	/* [s2s]: federation (RFC 6120 server-to-server streams), docs/s2s.md. */
	{"s2s", "listen", CONFIG_HOSTPORT, "0.0.0.0:5269", false, "s2s",
	 "TCP address for server streams (STARTTLS)"},
	{"s2s", "listen_tls", CONFIG_HOSTPORT, NULL, false, "s2s",
	 "TCP address for server streams over direct TLS (XEP-0368); off when unset"},
	{"s2s", "tls_cert", CONFIG_PATH, NULL, false, "s2s",
	 "PEM certificate chain s2s presents; default [c2s] tls_cert"},
	{"s2s", "tls_key", CONFIG_PATH, NULL, false, "s2s",
	 "PEM private key for tls_cert; default [c2s] tls_key"},
	{"s2s", "tls_dir", CONFIG_PATH, NULL, false, "s2s",
	 "directory of per-domain pairs DOMAIN.crt and DOMAIN.key, used instead of tls_cert"},
	{"s2s", "tls_ca", CONFIG_PATH, NULL, false, "s2s",
	 "PEM CAs that peers' certificates are checked against; default the system store"},
	{"s2s", "name", CONFIG_STRING, NULL, false, "s2s",
	 "component name s2s binds at the router; default s2s.FIRST-DOMAIN"},
	{"s2s", "hosts", CONFIG_LIST, NULL, false, "s2s",
	 "static addresses: DOMAIN=HOST:PORT (STARTTLS) or DOMAIN=HOST:PORT/tls (direct TLS)"},
	{"s2s", "resolver", CONFIG_STRING, "dns", false, "s2s",
	 "dns (hosts first, then SRV and A/AAAA via c-ares) or static (hosts only)"},
	{"s2s", "dns_servers", CONFIG_LIST, NULL, false, "s2s",
	 "DNS servers (IP or IP:PORT) for resolver = dns; default those of /etc/resolv.conf"},
	{"s2s", "require_tls", CONFIG_BOOL, "yes", false, "s2s",
	 "refuse server streams, in and out, that are not encrypted"},
	{"s2s", "require_valid_cert", CONFIG_BOOL, "no", false, "s2s",
	 "refuse peers whose certificate is not valid for their domain (no dialback)"},
	{"s2s", "idle_timeout", CONFIG_DURATION, "10m", false, "s2s",
	 "a server stream without traffic for this long is closed"},
	{"s2s", "connect_timeout", CONFIG_DURATION, "30s", false, "s2s",
	 "time an outgoing stream has to resolve, connect and authenticate"},
	{"s2s", "queue_limit", CONFIG_SIZE, "1M", false, "s2s",
	 "bytes of stanzas queued per remote domain while its stream is set up"},
	{"s2s", "dialback_secret", CONFIG_STRING, NULL, false, "s2s",
	 "secret for dialback keys; default derived from [router] secret"},
	{"s2s", "max_stanza_bytes", CONFIG_SIZE, "256K", false, "s2s",
	 "largest stanza, in bytes of XML, s2s accepts from a peer server"},
	{"s2s", "log_level", CONFIG_LOGLEVEL, NULL, false, "s2s",
	 "overrides [junction] log_level for s2s"},

	/* [component NAME]: one section per third-party component. */
	{"component", "secret", CONFIG_STRING, NULL, true, "router",
	 "shared secret the component NAME authenticates to the router with"},

	{NULL, NULL, 0, NULL, false, NULL, NULL},
};
