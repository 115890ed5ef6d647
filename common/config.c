/* config.c: loading and validating junction.conf (see config.h).
 *
 * libinih splits "key = value" lines; everything line-shaped happens in
 * our reader callback, which hands inih one line at a time. That is where
 * lines are counted (the Debian build has no INI_HANDLER_LINENO), leading
 * whitespace is dropped (so an indented line is never taken as an inih
 * continuation line), inline comments are cut, and section headers are
 * checked: inih truncates section names to 49 bytes and never reports a
 * section that has no keys, and "[component NAME]" needs both.
 * The first error stops the load; the reader then returns end of file.
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <ini.h>

#include "buf.h"
#include "jid.h"
#include "log.h"

/* Longest line accepted, newline excluded. */
#define CONFIG_LINE_MAX 4096
#define CONFIG_COMPONENT "component"

struct config_value {
	char *raw;       /* trimmed text from the file or the default; NULL: unset */
	unsigned line;   /* 0: from the default */
	uint64_t number; /* UINT, SIZE, DURATION (ms), BOOL */
	char **items;    /* LIST, DOMAINS (normalised domains) */
	size_t n_items;
};

struct config_section {
	char *name;      /* schema section: "router", "component" */
	char *component; /* [component NAME]: NAME normalised; NULL otherwise */
	char *display;   /* as in messages: "router", "component Example.ORG" */
	unsigned line;   /* header line; 0 when the file has no such section */
	struct config_value *values; /* indexed like config_schema */
};

struct config {
	char *path;
	struct config_section *sections; /* fixed sections in schema order, then components */
	size_t n_sections;
	size_t n_fixed;
};

struct config_parse {
	struct config *config;
	FILE *file;
	char *line;
	size_t line_cap;
	unsigned lineno;
	struct config_section *current; /* NULL before the first header */
	char *err;
	size_t errlen;
	bool failed;
};

static size_t config_schema_count(void)
{
	size_t n = 0;
	while (config_schema[n].section != NULL)
		n++;
	return n;
}

/* Index of section/key in config_schema, or the index of its terminating
 * entry when there is no such key. section is a schema section name. */
static size_t config_key_index(const char *section, const char *key)
{
	size_t i;

	for (i = 0; config_schema[i].section != NULL; i++) {
		if (strcmp(config_schema[i].section, section) == 0 &&
		    strcmp(config_schema[i].key, key) == 0)
			break;
	}
	return i;
}

/* Record the first error; later ones are consequences of it. */
static void config_error(struct config_parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void config_error(struct config_parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	if (p->err == NULL || p->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
}

/* ---- value syntax, one function per type ------------------------------- */

/* Decimal digits at *s into *n; advances *s. Fails on no digits or
 * overflow. */
static int config_parse_digits(const char **s, uint64_t *n_r)
{
	const char *p = *s;
	uint64_t n = 0;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*s = p;
	*n_r = n;
	return 0;
}

static int config_mul(uint64_t n, uint64_t factor, uint64_t *r)
{
	if (factor != 0 && n > UINT64_MAX / factor)
		return -1;
	*r = n * factor;
	return 0;
}

static int config_parse_uint(const char *s, uint64_t *n_r)
{
	return config_parse_digits(&s, n_r) < 0 || *s != '\0' ? -1 : 0;
}

static int config_parse_size(const char *s, uint64_t *n_r)
{
	uint64_t n, factor = 1;

	if (config_parse_digits(&s, &n) < 0)
		return -1;
	if (*s != '\0') {
		switch (toupper((unsigned char)*s)) {
		case 'K': factor = 1024; break;
		case 'M': factor = 1024 * 1024; break;
		case 'G': factor = 1024 * 1024 * 1024; break;
		default: return -1;
		}
		if (s[1] != '\0')
			return -1;
	}
	return config_mul(n, factor, n_r);
}

static int config_parse_duration(const char *s, uint64_t *ms_r)
{
	uint64_t n, factor;

	if (config_parse_digits(&s, &n) < 0)
		return -1;
	if (*s == '\0' || strcasecmp(s, "s") == 0)
		factor = 1000;
	else if (strcasecmp(s, "ms") == 0)
		factor = 1;
	else if (strcasecmp(s, "m") == 0)
		factor = 60 * 1000;
	else if (strcasecmp(s, "h") == 0)
		factor = 60 * 60 * 1000;
	else
		return -1;
	return config_mul(n, factor, ms_r);
}

static int config_parse_bool(const char *s, bool *b_r)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*b_r = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*b_r = false;
			return 0;
		}
	}
	return -1;
}

/* A DNS host name: dot-separated labels of letters, digits and inner
 * hyphens, at most 63 bytes each and 253 in all. */
static bool config_hostname_ok(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? s[i] : '.';
		if (c == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
				return false;
			label = 0;
		} else if (isalnum((unsigned char)c) || c == '-') {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

/* Split HOST:PORT or [IPv6]:PORT. On failure *why_r says what is wrong. */
static int config_hostport_split(const char *s, const char **host_r, size_t *host_len_r,
				 unsigned *port_r, const char **why_r)
{
	const char *host = s, *colon;
	size_t host_len;
	uint64_t port;
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char bin[16];

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL) {
			*why_r = "missing ']' after IPv6 address";
			return -1;
		}
		host = s + 1;
		host_len = (size_t)(close - host);
		if (host_len == 0 || host_len >= sizeof(addr)) {
			*why_r = "bad IPv6 address";
			return -1;
		}
		memcpy(addr, host, host_len);
		addr[host_len] = '\0';
		if (inet_pton(AF_INET6, addr, bin) != 1) {
			*why_r = "bad IPv6 address";
			return -1;
		}
		if (close[1] != ':') {
			*why_r = "missing \":PORT\"";
			return -1;
		}
		colon = close + 1;
	} else {
		colon = strchr(s, ':');
		if (colon == NULL) {
			*why_r = "missing \":PORT\"";
			return -1;
		}
		if (strchr(colon + 1, ':') != NULL) {
			*why_r = "an IPv6 address needs brackets: [ADDRESS]:PORT";
			return -1;
		}
		host_len = (size_t)(colon - s);
		if (host_len == 0) {
			*why_r = "missing host";
			return -1;
		}
		if (strspn(s, "0123456789.") == host_len) {
			if (host_len < sizeof(addr)) {
				memcpy(addr, s, host_len);
				addr[host_len] = '\0';
			}
			if (host_len >= sizeof(addr) || inet_pton(AF_INET, addr, bin) != 1) {
				*why_r = "bad IPv4 address";
				return -1;
			}
		} else if (!config_hostname_ok(s, host_len)) {
			*why_r = "bad host name";
			return -1;
		}
	}
	if (config_parse_uint(colon + 1, &port) < 0 || port == 0 || port > 65535) {
		*why_r = "port must be a number from 1 to 65535";
		return -1;
	}
	*host_r = host;
	*host_len_r = host_len;
	*port_r = (unsigned)port;
	return 0;
}

int config_parse_hostport(const char *s, char *host_r, size_t host_len, unsigned *port_r)
{
	const char *host, *why;
	size_t len;

	if (config_hostport_split(s, &host, &len, port_r, &why) < 0 || len >= host_len)
		return -1;
	memcpy(host_r, host, len);
	host_r[len] = '\0';
	return 0;
}

static void config_value_clear(struct config_value *v)
{
	free(v->raw);
	for (size_t i = 0; i < v->n_items; i++)
		free(v->items[i]);
	free(v->items);
	memset(v, 0, sizeof(*v));
}

static char *config_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	return s;
}

/* Comma-separated items, each trimmed and non-empty. */
static int config_parse_list(const char *s, struct config_value *v, char *why, size_t whylen)
{
	char *copy = xstrdup(s), *p = copy;

	for (;;) {
		char *comma = strchr(p, ',');
		char *item;
		if (comma != NULL)
			*comma = '\0';
		item = config_trim(p);
		if (*item == '\0') {
			snprintf(why, whylen, "empty item in list \"%s\"", s);
			free(copy);
			return -1;
		}
		v->items = xrealloc(v->items, (v->n_items + 1) * sizeof(v->items[0]));
		v->items[v->n_items++] = xstrdup(item);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	free(copy);
	return 0;
}

/* A domain name as a JID domainpart: no node, no resource. Returns the
 * normalised form, or NULL with *why_r set. */
static char *config_domain_normalise(const char *s, const char **why_r)
{
	struct jid j;
	char *domain;
	int r = jid_parse(s, -1, &j);

	if (r < 0) {
		*why_r = jid_result_string(r);
		return NULL;
	}
	if (j.node != NULL || j.resource != NULL) {
		*why_r = j.node != NULL ? "a domain cannot contain '@'"
					: "a domain cannot contain '/'";
		jid_clear(&j);
		return NULL;
	}
	domain = j.domain;
	j.domain = NULL;
	jid_clear(&j);
	return domain;
}

static int config_parse_domains(const char *s, struct config_value *v, char *why, size_t whylen)
{
	if (config_parse_list(s, v, why, whylen) < 0)
		return -1;
	for (size_t i = 0; i < v->n_items; i++) {
		const char *reason;
		char *domain = config_domain_normalise(v->items[i], &reason);
		if (domain == NULL) {
			snprintf(why, whylen, "bad domain \"%s\": %s", v->items[i], reason);
			return -1;
		}
		for (size_t k = 0; k < i; k++) {
			if (strcmp(v->items[k], domain) == 0) {
				snprintf(why, whylen, "domain \"%s\" listed twice", v->items[i]);
				free(domain);
				return -1;
			}
		}
		free(v->items[i]);
		v->items[i] = domain;
	}
	return 0;
}

/* Validate value for key and fill v. On failure why says what is wrong,
 * quoting the value, and v may be partly filled (clear it). */
static int config_parse_value(const struct config_key *key, const char *value,
			      struct config_value *v, char *why, size_t whylen)
{
	const char *reason;
	enum log_level level;
	bool b;

	if (*value == '\0') {
		snprintf(why, whylen, "empty value");
		return -1;
	}
	switch (key->type) {
	case CONFIG_STRING:
		break;
	case CONFIG_UINT:
		if (config_parse_uint(value, &v->number) < 0) {
			snprintf(why, whylen, "bad unsigned integer \"%s\"", value);
			return -1;
		}
		break;
	case CONFIG_SIZE:
		if (config_parse_size(value, &v->number) < 0) {
			snprintf(why, whylen,
				 "bad size \"%s\": expected a number of bytes with an optional "
				 "suffix K, M or G",
				 value);
			return -1;
		}
		break;
	case CONFIG_DURATION:
		if (config_parse_duration(value, &v->number) < 0) {
			snprintf(why, whylen,
				 "bad duration \"%s\": expected a number of seconds or a number "
				 "with suffix ms, s, m or h",
				 value);
			return -1;
		}
		break;
	case CONFIG_BOOL:
		if (config_parse_bool(value, &b) < 0) {
			snprintf(why, whylen,
				 "bad boolean \"%s\": expected yes/no, true/false, on/off or 1/0",
				 value);
			return -1;
		}
		v->number = b;
		break;
	case CONFIG_HOSTPORT: {
		const char *host;
		size_t host_len;
		unsigned port;
		if (config_hostport_split(value, &host, &host_len, &port, &reason) < 0) {
			snprintf(why, whylen, "bad host:port \"%s\": %s", value, reason);
			return -1;
		}
		break;
	}
	case CONFIG_LIST:
		if (config_parse_list(value, v, why, whylen) < 0)
			return -1;
		break;
	case CONFIG_LOGLEVEL:
		if (log_level_parse(value, &level) < 0) {
			snprintf(why, whylen,
				 "bad log level \"%s\": expected error, warn, info or debug",
				 value);
			return -1;
		}
		break;
	case CONFIG_PATH:
		if (value[0] != '/') {
			snprintf(why, whylen, "path \"%s\" is not absolute", value);
			return -1;
		}
		break;
	case CONFIG_DOMAINS:
		if (config_parse_domains(value, v, why, whylen) < 0)
			return -1;
		break;
	}
	v->raw = xstrdup(value);
	return 0;
}

/* ---- sections -------------------------------------------------------- */

static struct config_section *config_add_section(struct config *c, const char *name,
						 const char *display)
{
	size_t n = config_schema_count();
	struct config_section *s;

	c->sections = xrealloc(c->sections, (c->n_sections + 1) * sizeof(c->sections[0]));
	s = &c->sections[c->n_sections++];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	s->display = xstrdup(display);
	s->values = xcalloc(n, sizeof(s->values[0]));
	for (size_t i = 0; i < n; i++) {
		const struct config_key *key = &config_schema[i];
		char why[256];
		int r;
		if (strcmp(key->section, name) != 0 || key->default_value == NULL)
			continue;
		r = config_parse_value(key, key->default_value, &s->values[i], why, sizeof(why));
		/* A default the schema's own type rejects is a bug in config-schema.c. */
		assert(r == 0);
		(void)r;
	}
	return s;
}

/* For "component NAME" (or a bare "component"), what follows the word;
 * NULL for any other section name. */
static char *config_component_header(char *inner)
{
	size_t len = strlen(CONFIG_COMPONENT);

	if (strncmp(inner, CONFIG_COMPONENT, len) != 0)
		return NULL;
	if (inner[len] != '\0' && inner[len] != ' ' && inner[len] != '\t')
		return NULL; /* "[componentx]" is just an unknown section */
	return inner + len;
}

/* The section whose header is "[inner]", created on first sight. */
static void config_section_header(struct config_parse *p, char *inner)
{
	struct config *c = p->config;
	const char *why;
	char *name, *domain, *display;

	inner = config_trim(inner);
	name = config_component_header(inner);
	if (name == NULL) {
		for (size_t i = 0; i < c->n_fixed; i++) {
			struct config_section *s = &c->sections[i];
			if (strcmp(s->name, inner) != 0)
				continue;
			if (s->line != 0) {
				config_error(p, "%s:%u: [%s]: duplicate section, first on line %u",
					     c->path, p->lineno, inner, s->line);
				return;
			}
			s->line = p->lineno;
			p->current = s;
			return;
		}
		config_error(p, "%s:%u: [%s]: unknown section", c->path, p->lineno, inner);
		return;
	}

	name = config_trim(name);
	if (*name == '\0') {
		config_error(p, "%s:%u: [%s]: missing component name, expected [component NAME]",
			     c->path, p->lineno, CONFIG_COMPONENT);
		return;
	}
	domain = config_domain_normalise(name, &why);
	if (domain == NULL) {
		config_error(p, "%s:%u: [component %s]: bad component name: %s", c->path,
			     p->lineno, name, why);
		return;
	}
	for (size_t i = c->n_fixed; i < c->n_sections; i++) {
		if (strcmp(c->sections[i].component, domain) == 0) {
			config_error(p,
				     "%s:%u: [component %s]: duplicate section, first on line %u",
				     c->path, p->lineno, name, c->sections[i].line);
			free(domain);
			return;
		}
	}
	display = xmalloc(strlen(CONFIG_COMPONENT) + 1 + strlen(name) + 1);
	sprintf(display, "%s %s", CONFIG_COMPONENT, name);
	p->current = config_add_section(c, CONFIG_COMPONENT, display);
	p->current->component = domain;
	p->current->line = p->lineno;
	free(display);
}

/* ---- the inih callbacks ------------------------------------------------ */

/* Cut an inline comment: ';' or '#' after a space or tab. A value cannot
 * contain " ;" or " #", which is the price of allowing comments after
 * values. */
static void config_cut_comment(char *s)
{
	for (char *p = s + 1; *p != '\0'; p++) {
		if ((*p == ';' || *p == '#') && (p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	}
}

/* inih's line source: one normalised line per call, NULL at the end of the
 * file or after the first error. */
static char *config_reader(char *str, int num, void *stream)
{
	struct config_parse *p = stream;
	const char *path = p->config->path;
	ssize_t n;
	char *s, *end;

	if (p->failed)
		return NULL;
	n = getline(&p->line, &p->line_cap, p->file);
	if (n < 0) {
		if (ferror(p->file))
			config_error(p, "%s: cannot read: %s", path, strerror(errno));
		return NULL;
	}
	p->lineno++;
	if (strlen(p->line) != (size_t)n) {
		config_error(p, "%s:%u: NUL byte in line", path, p->lineno);
		return NULL;
	}
	s = p->line;
	if (p->lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3; /* UTF-8 byte order mark */
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == ';' || *s == '#' || *s == '\r' || *s == '\n' || *s == '\0') {
		strcpy(str, "\n"); /* comment or blank: still a line for inih's count */
		return str;
	}
	config_cut_comment(s);
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	if ((size_t)(end - s) + 2 > (size_t)num || end - s > CONFIG_LINE_MAX) {
		config_error(p, "%s:%u: line longer than %d bytes", path, p->lineno,
			     (num - 2 < CONFIG_LINE_MAX ? num - 2 : CONFIG_LINE_MAX));
		return NULL;
	}

	if (*s == '[') {
		if (end[-1] != ']' || end - s < 2) {
			config_error(p, "%s:%u: section header must be [NAME]", path, p->lineno);
			return NULL;
		}
		end[-1] = '\0';
		if (strpbrk(s + 1, "[]") != NULL) {
			config_error(p, "%s:%u: section header must be [NAME]", path, p->lineno);
			return NULL;
		}
		config_section_header(p, s + 1);
		if (p->failed)
			return NULL;
		strcpy(str, "[]\n"); /* which section is our parse state's business */
		return str;
	}

	/* "key = value": inih would also split "key: value", so reject ':'
	 * before '=' here; no key contains either. */
	size_t key_len = strcspn(s, "=:");
	if (s[key_len] != '=') {
		config_error(p, "%s:%u: expected \"key = value\"", path, p->lineno);
		return NULL;
	}
	if (strspn(s, " \t") == key_len) {
		config_error(p, "%s:%u: missing key before '='", path, p->lineno);
		return NULL;
	}
	sprintf(str, "%s\n", s);
	return str;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_parse *p = user;
	struct config_section *s = p->current;
	const char *path = p->config->path;
	struct config_value *v;
	char why[512];
	size_t i;

	if (p->failed)
		return 0;
	if (s == NULL) {
		config_error(p, "%s:%u: %s: key before any [section] header", path, p->lineno,
			     name);
		return 0;
	}
	i = config_key_index(s->name, name);
	if (config_schema[i].section == NULL) {
		config_error(p, "%s:%u: [%s] %s: unknown key", path, p->lineno, s->display, name);
		return 0;
	}
	v = &s->values[i];
	if (v->line != 0) {
		config_error(p, "%s:%u: [%s] %s: duplicate key, first set on line %u", path,
			     p->lineno, s->display, name, v->line);
		return 0;
	}
	config_value_clear(v); /* the default */
	if (config_parse_value(&config_schema[i], value, v, why, sizeof(why)) < 0) {
		config_value_clear(v);
		config_error(p, "%s:%u: [%s] %s: %s", path, p->lineno, s->display, name, why);
		return 0;
	}
	v->line = p->lineno;
	return 1;
}

bool config_hostport_is_loopback(const char *s)
{
	char host[256];
	unsigned port;
	unsigned char a[16];

	if (config_parse_hostport(s, host, sizeof(host), &port) < 0)
		return false;
	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	return inet_pton(AF_INET6, host, a) == 1 && memcmp(a, &in6addr_loopback, 16) == 0;
}

/* ---- load, free -------------------------------------------------------- */

/* Rules across keys. Plain HTTP for c2s only behind a local reverse proxy. */
static void config_check_rules(struct config_parse *p)
{
	const struct config *c = p->config;
	const char *http = config_get(c, "c2s", "http_listen");

	if (http != NULL && !config_get_bool(c, "c2s", "http_tls") &&
	    !config_hostport_is_loopback(http))
		config_error(p, "%s:%u: [c2s] http_tls: plain HTTP needs a loopback http_listen, not %s",
			     c->path, config_line(c, "c2s", "http_tls"), http);
}

static void config_check_required(struct config_parse *p)
{
	struct config *c = p->config;

	for (size_t si = 0; si < c->n_sections && !p->failed; si++) {
		struct config_section *s = &c->sections[si];
		for (size_t i = 0; config_schema[i].section != NULL; i++) {
			const struct config_key *key = &config_schema[i];
			if (!key->required || strcmp(key->section, s->name) != 0 ||
			    s->values[i].raw != NULL)
				continue;
			config_error(p, "%s: [%s] %s: required key missing", c->path, s->display,
				     key->key);
			return;
		}
	}
}

static struct config *config_new(const char *path)
{
	struct config *c = xcalloc(1, sizeof(*c));

	c->path = xstrdup(path);
	for (size_t i = 0; config_schema[i].section != NULL; i++) {
		const char *name = config_schema[i].section;
		bool seen = strcmp(name, CONFIG_COMPONENT) == 0;
		/* A required key with a default could never be missing. */
		assert(!config_schema[i].required || config_schema[i].default_value == NULL);
		for (size_t k = 0; k < c->n_sections && !seen; k++)
			seen = strcmp(c->sections[k].name, name) == 0;
		if (!seen)
			config_add_section(c, name, name);
	}
	c->n_fixed = c->n_sections;
	return c;
}

int config_load(const char *path, struct config **config_r, char *err, size_t errlen)
{
	struct config_parse p = {.err = err, .errlen = errlen};
	/* Debian's libinih exposes its build options as variables. A heap
	 * line buffer of our size lets lines be longer than the 200 bytes of
	 * the default stack buffer; the reader enforces whatever size inih
	 * offers, so without these knobs only the limit would change. */
	bool saved_use_stack = ini_use_stack;
	int saved_max_line = ini_max_line, saved_initial_alloc = ini_initial_alloc;
	struct stat st;
	int r;

	*config_r = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	p.config = config_new(path);
	p.file = fopen(path, "r");
	if (p.file == NULL || (fstat(fileno(p.file), &st) == 0 && S_ISDIR(st.st_mode))) {
		config_error(&p, "%s: cannot open: %s", path,
			     strerror(p.file == NULL ? errno : EISDIR));
		goto out;
	}

	ini_use_stack = false;
	ini_max_line = ini_initial_alloc = CONFIG_LINE_MAX + 2;
	r = ini_parse_stream(config_reader, &p, config_handler, &p);
	ini_use_stack = saved_use_stack;
	ini_max_line = saved_max_line;
	ini_initial_alloc = saved_initial_alloc;
	if (r == -2)
		abort(); /* out of memory is fatal everywhere in Junction */
	if (r != 0 && !p.failed)
		config_error(&p, "%s:%d: syntax error", path, r);
	if (!p.failed)
		config_check_required(&p);
	if (!p.failed)
		config_check_rules(&p);
out:
	if (p.file != NULL)
		fclose(p.file);
	free(p.line);
	if (p.failed) {
		config_free(&p.config);
		return -1;
	}
	*config_r = p.config;
	return 0;
}

void config_free(struct config **config)
{
	struct config *c = *config;

	if (c == NULL)
		return;
	*config = NULL;
	for (size_t si = 0; si < c->n_sections; si++) {
		struct config_section *s = &c->sections[si];
		for (size_t i = 0; config_schema[i].section != NULL; i++)
			config_value_clear(&s->values[i]);
		free(s->values);
		free(s->name);
		free(s->component);
		free(s->display);
	}
	free(c->sections);
	free(c->path);
	free(c);
}

const char *config_path(const struct config *config)
{
	return config->path;
}

/* ---- getters ----------------------------------------------------------- */

/* The schema entry for section/key, and its value in this config (NULL for
 * a [component NAME] that is not configured). section is a fixed section
 * name or "component NAME". */
static const struct config_value *config_lookup(const struct config *c, const char *section,
						const char *key, const struct config_key **key_r)
{
	size_t len = strlen(CONFIG_COMPONENT);
	bool is_component = strncmp(section, CONFIG_COMPONENT, len) == 0 && section[len] == ' ';
	const char *schema_section = is_component ? CONFIG_COMPONENT : section;
	size_t i = config_key_index(schema_section, key);
	const struct config_section *s = NULL;

	/* Not in config-schema.c: add it there, or fix the caller. Bare
	 * "component" names no section: use "component NAME". */
	assert(config_schema[i].section != NULL);
	assert(strcmp(section, CONFIG_COMPONENT) != 0);
	*key_r = &config_schema[i];

	if (!is_component) {
		for (size_t k = 0; k < c->n_fixed; k++) {
			if (strcmp(c->sections[k].name, section) == 0)
				s = &c->sections[k];
		}
	} else {
		const char *why;
		char *domain = config_domain_normalise(section + len + 1, &why);
		for (size_t k = c->n_fixed; domain != NULL && k < c->n_sections; k++) {
			if (strcmp(c->sections[k].component, domain) == 0)
				s = &c->sections[k];
		}
		free(domain);
	}
	return s != NULL ? &s->values[i] : NULL;
}

const char *config_get(const struct config *config, const char *section, const char *key)
{
	const struct config_key *k;
	const struct config_value *v = config_lookup(config, section, key, &k);

	return v != NULL ? v->raw : NULL;
}

static uint64_t config_get_number(const struct config *config, const char *section,
				  const char *key, enum config_type type)
{
	const struct config_key *k;
	const struct config_value *v = config_lookup(config, section, key, &k);

	assert(k->type == type); /* wrong getter for this key's type */
	return v != NULL ? v->number : 0;
}

uint64_t config_get_uint(const struct config *config, const char *section, const char *key)
{
	return config_get_number(config, section, key, CONFIG_UINT);
}

uint64_t config_get_size(const struct config *config, const char *section, const char *key)
{
	return config_get_number(config, section, key, CONFIG_SIZE);
}

uint64_t config_get_duration_ms(const struct config *config, const char *section, const char *key)
{
	return config_get_number(config, section, key, CONFIG_DURATION);
}

bool config_get_bool(const struct config *config, const char *section, const char *key)
{
	return config_get_number(config, section, key, CONFIG_BOOL) != 0;
}

const char *const *config_get_list(const struct config *config, const char *section,
				   const char *key, size_t *n_r)
{
	const struct config_key *k;
	const struct config_value *v = config_lookup(config, section, key, &k);

	assert(k->type == CONFIG_LIST || k->type == CONFIG_DOMAINS);
	*n_r = v != NULL ? v->n_items : 0;
	return v != NULL ? (const char *const *)v->items : NULL;
}

unsigned config_line(const struct config *config, const char *section, const char *key)
{
	const struct config_key *k;
	const struct config_value *v = config_lookup(config, section, key, &k);

	return v != NULL ? v->line : 0;
}

const char *config_component_name(const struct config *config, size_t i)
{
	if (i >= config->n_sections - config->n_fixed)
		return NULL;
	return config->sections[config->n_fixed + i].component;
}

const char *config_component_secret(const struct config *config, const char *name)
{
	size_t i = config_key_index(CONFIG_COMPONENT, "secret");
	const char *why, *secret = NULL;
	char *domain;

	/* The router asks with names from parsed JIDs, already normalised, so
	 * try the name as given before paying for jid_parse(). */
	for (size_t k = config->n_fixed; k < config->n_sections; k++) {
		if (strcmp(config->sections[k].component, name) == 0)
			return config->sections[k].values[i].raw;
	}
	domain = config_domain_normalise(name, &why);
	for (size_t k = config->n_fixed; domain != NULL && k < config->n_sections; k++) {
		if (strcmp(config->sections[k].component, domain) == 0)
			secret = config->sections[k].values[i].raw;
	}
	free(domain);
	return secret;
}

bool config_is_user_domain(const struct config *config, const char *domain, size_t len)
{
	size_t n;
	const char *const *domains = config_get_list(config, "junction", "domains", &n);

	for (size_t i = 0; i < n; i++) {
		if (strlen(domains[i]) == len && memcmp(domains[i], domain, len) == 0)
			return true;
	}
	return false;
}
