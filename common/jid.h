/* jid.h: XMPP addresses (RFC 7622): parse, validate, normalise, compare.
 *
 * jid_parse() splits "node@domain/resource", applies stringprep (libidn:
 * nodeprep, nameprep, resourceprep) and the RFC 7622 limits (each part 1 to
 * 1023 bytes; a present separator with an empty part is an error), and fills
 * a struct jid with newly allocated normalised parts. Plain-ASCII input takes
 * a fast path that gives the same result without calling libidn, because the
 * router parses a JID on every stanza.
 *
 * A struct jid is a value: jid_clear() frees its parts. Comparisons work on
 * the normalised forms. Normalisation is idempotent: parsing
 * jid_full_string() of a parsed JID gives the same parts again.
 *
 *   struct jid j;
 *   if (jid_parse("Juliet@Example.COM/balcony", -1, &j) == 0) {
 *           // j.node "juliet", j.domain "example.com", j.resource "balcony"
 *           jid_clear(&j);
 *   }
 */
#ifndef JUNCTION_JID_H
#define JUNCTION_JID_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define JID_PART_MAX 1023

struct jid {
	char *node;     /* NULL when absent */
	char *domain;   /* never NULL after a successful parse */
	char *resource; /* NULL when absent */
};

enum jid_result {
	JID_OK = 0,
	JID_ERR_EMPTY = -1,     /* empty string or empty part */
	JID_ERR_TOO_LONG = -2,  /* a part over JID_PART_MAX bytes */
	JID_ERR_NODE = -3,      /* nodeprep rejected the localpart */
	JID_ERR_DOMAIN = -4,    /* nameprep / domain syntax rejected the domainpart */
	JID_ERR_RESOURCE = -5,  /* resourceprep rejected the resourcepart */
	JID_ERR_UTF8 = -6,      /* not valid UTF-8 */
};

/* A JID split in place: pointers into the string that was parsed, valid as
 * long as it is. Lengths exclude separators; absent parts have length 0. */
struct jid_view {
	const char *node, *domain, *resource;
	size_t node_len, domain_len, resource_len;
	size_t bare_len; /* node@domain, from the start of the string */
};

/* Returned by jid_view_parse() for input that may be a valid JID but is
 * not already in normalised form (upper case, non-ASCII, a trailing dot, an
 * IP literal): call jid_parse() for it. */
#define JID_NEEDS_PREP 1

/* The router's hot path: split s without copying or allocating when it is
 * plain ASCII already in normalised form, i.e. when jid_parse() would
 * return exactly these bytes. Returns JID_OK, JID_NEEDS_PREP or the same
 * negative error jid_parse() would return. */
int jid_view_parse(const char *s, size_t len, struct jid_view *view_r);

/* len < 0 means s is NUL-terminated. Returns JID_OK or a negative
 * enum jid_result; on error *jid_r is left zeroed. Checked in this order:
 * UTF-8, empty parts, node, domain, resource. The domain loses one trailing
 * dot; each label is 1-63 bytes and its ASCII is letters, digits and inner
 * hyphens; "[IPv6]" literals are accepted. A part longer than
 * 4 * JID_PART_MAX bytes before preparation is JID_ERR_TOO_LONG without
 * calling libidn (its normalisation is quadratic in some inputs). Code
 * points unassigned in Unicode 3.2 are allowed, as for stringprep queries. */
int jid_parse(const char *s, ssize_t len, struct jid *jid_r);
void jid_clear(struct jid *jid);
/* "node@domain" or "domain", newly allocated. */
char *jid_bare_string(const struct jid *jid);
/* "node@domain/resource" (as much as is present), newly allocated. */
char *jid_full_string(const struct jid *jid);
bool jid_equal_bare(const struct jid *a, const struct jid *b);
bool jid_equal_full(const struct jid *a, const struct jid *b);
const char *jid_result_string(int result);

/* For tests and fuzzing only: jid_parse() without the ASCII fast path, so
 * every part goes through libidn. Must give the same result as jid_parse()
 * for every input; test-jid checks that on a table of ASCII inputs. */
int jid_parse_slow(const char *s, ssize_t len, struct jid *jid_r);

#endif
