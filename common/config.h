/* config.h: the one deployment-wide configuration file (INI, via libinih).
 *
 * config_load() reads the whole file once and checks every key against the
 * schema in config-schema.c (known section and key, value of the right type)
 * so that any process and `junctionctl check` reject the same mistakes. On
 * error it returns -1 with a one-line message "FILE:LINE: [section] key:
 * problem" in err. Sections are "[junction]", one per process ("[router]",
 * "[c2s]", ...) and "[component NAME]" for each third-party component.
 *
 * Getters return the value from the file or the schema default; values were
 * validated at load, so typed getters cannot fail. Asking for a key that is
 * not in the schema is a programming error (assert). Returned strings live
 * as long as the struct config.
 *
 *   struct config *cfg;
 *   char err[512];
 *   if (config_load(path, &cfg, err, sizeof(err)) < 0) { fprintf(stderr, "%s\n", err); exit(1); }
 *   const char *listen = config_get(cfg, "router", "listen");
 *   config_free(&cfg);
 */
#ifndef JUNCTION_CONFIG_H
#define JUNCTION_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum config_type {
	CONFIG_STRING,   /* any non-empty text */
	CONFIG_UINT,     /* decimal unsigned integer */
	CONFIG_SIZE,     /* bytes, optional suffix K, M or G (powers of 1024) */
	CONFIG_DURATION, /* seconds, optional suffix ms, s, m or h; stored in ms */
	CONFIG_BOOL,     /* yes/no, true/false, on/off, 1/0 */
	CONFIG_HOSTPORT, /* HOST:PORT or [IPv6]:PORT */
	CONFIG_LIST,     /* comma separated, each item trimmed and non-empty */
	CONFIG_LOGLEVEL, /* error, warn, info, debug */
	CONFIG_PATH,     /* a file or directory path */
	CONFIG_DOMAINS,  /* comma separated list of valid domain names (JID domainparts) */
};

struct config_key {
	const char *section; /* "component" stands for every [component NAME] */
	const char *key;
	enum config_type type;
	const char *default_value; /* NULL: no default (absent unless set) */
	bool required;
	const char *readers;     /* which processes read it, for docs */
	const char *description; /* one line, for docs */
};

/* The schema: every key of every section, ending with a zeroed entry. */
extern const struct config_key config_schema[];

struct config;

int config_load(const char *path, struct config **config_r, char *err, size_t errlen);
void config_free(struct config **config);
const char *config_path(const struct config *config);

/* section is a fixed section name ("router") or "component NAME" (NAME in
 * any case; NULL / 0 when there is no such component). Typed getters
 * assert that the key has their type and return 0 / false when the key is
 * unset and has no default. */

/* String value (as written, trimmed) or default; NULL when unset and no
 * default. */
const char *config_get(const struct config *config, const char *section, const char *key);
uint64_t config_get_uint(const struct config *config, const char *section, const char *key);
uint64_t config_get_size(const struct config *config, const char *section, const char *key);
uint64_t config_get_duration_ms(const struct config *config, const char *section, const char *key);
bool config_get_bool(const struct config *config, const char *section, const char *key);
/* List items (for CONFIG_LIST and CONFIG_DOMAINS); *n_r gets the count. The
 * array and strings live as long as config. CONFIG_DOMAINS items are
 * normalised like a JID domainpart ("Example.COM." gives "example.com"). */
const char *const *config_get_list(const struct config *config, const char *section, const char *key,
				   size_t *n_r);
/* The line a key was set on, 0 when it came from the default. */
unsigned config_line(const struct config *config, const char *section, const char *key);

/* Is domain (len bytes, normalised) one of [junction] domains, the
 * users' domains this deployment serves? */
bool config_is_user_domain(const struct config *config, const char *domain, size_t len);

/* [component NAME] sections in file order: the i-th NAME, normalised as a
 * domain, NULL past the end. */
const char *config_component_name(const struct config *config, size_t i);
/* The secret of [component NAME], or NULL if there is no such section.
 * name is normalised before the lookup, so any case matches. */
const char *config_component_secret(const struct config *config, const char *name);

/* Split "host:port" / "[v6]:port" into host (without brackets) and port,
 * validated as for CONFIG_HOSTPORT; -1 when invalid or host_len is too small. */
int config_parse_hostport(const char *s, char *host_r, size_t host_len, unsigned *port_r);
/* True when the host of "host:port" is localhost or a loopback address. */
bool config_hostport_is_loopback(const char *s);

#endif
