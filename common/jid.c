/* jid.c: XMPP address parsing and normalisation (see jid.h).
 *
 * The one place that calls libidn. Every part is checked in the same order
 * on both paths (characters, then length), so the ASCII fast path and the
 * libidn path return the same result code, not only the same output.
 * The domainpart is prepared label by label, as IDNA does, because the
 * stringprep bidi rule is about one label: "مثال.example" is fine even
 * though the whole string mixes right-to-left and left-to-right.
 */
#include "jid.h"

#include <arpa/inet.h>
#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stringprep.h>

#include "buf.h"

/* Input bytes allowed in one part before preparation. Preparation may
 * shrink a part (characters mapped to nothing, NFKC composition), so the
 * limit on input is looser than JID_PART_MAX; it exists because libidn's
 * canonical reordering is quadratic in a run of combining marks, and a
 * stanza may carry a 256 KiB attribute. */
#define JID_INPUT_MAX (4 * JID_PART_MAX)
#define JID_LABEL_MAX 63

enum jid_part {
	JID_PART_NODE,
	JID_PART_DOMAIN,
	JID_PART_RESOURCE,
};

static const int jid_part_error[] = {
	[JID_PART_NODE] = JID_ERR_NODE,
	[JID_PART_DOMAIN] = JID_ERR_DOMAIN,
	[JID_PART_RESOURCE] = JID_ERR_RESOURCE,
};

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
 * U+10FFFF. libidn would otherwise decode some of these into code points
 * that were never in the input. */
static bool jid_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static bool jid_is_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return false;
	}
	return true;
}

/* What nodeprep prohibits among ASCII characters: controls, DEL, space
 * (RFC 3454 C.1.1, C.2.1) and the XMPP-specific table of RFC 3920
 * appendix A.5. */
static bool jid_node_ascii_ok(unsigned char c)
{
	if (c <= 0x20 || c == 0x7f)
		return false;
	return strchr("\"&'/:<>@", c) == NULL;
}

/* Resourceprep prohibits only controls and DEL among ASCII characters;
 * space, '@' and '/' are all allowed and case is kept. */
static bool jid_resource_ascii_ok(unsigned char c)
{
	return c > 0x1f && c != 0x7f;
}

/* Run a libidn stringprep profile over len bytes of s, allocating the
 * result in *out_r. Returns JID_OK, the part's error code or
 * JID_ERR_TOO_LONG; an empty result is JID_ERR_EMPTY. */
static int jid_stringprep(const char *s, size_t len, const Stringprep_profile *profile,
			  int part_error, char **out_r)
{
	/* Big enough for any result we would accept: a longer one makes
	 * libidn fail with TOO_SMALL_BUFFER, which is our TOO_LONG. */
	size_t size = (len > JID_PART_MAX ? len : JID_PART_MAX) + 1;
	char *buf = xmalloc(size);
	int rc;

	memcpy(buf, s, len);
	buf[len] = '\0';
	rc = stringprep(buf, size, 0, profile);
	if (rc == STRINGPREP_MALLOC_ERROR)
		abort(); /* out of memory is fatal everywhere in Junction */
	if (rc != STRINGPREP_OK) {
		free(buf);
		return rc == STRINGPREP_TOO_SMALL_BUFFER ? JID_ERR_TOO_LONG : part_error;
	}
	if (buf[0] == '\0') {
		free(buf);
		return JID_ERR_EMPTY;
	}
	*out_r = buf;
	return JID_OK;
}

/* Prepare a node or resource part. Characters are judged before length on
 * both paths, because that is the order libidn reports them in. */
static int jid_prep_simple(const char *s, size_t len, enum jid_part part, bool force_slow,
			   char **out_r)
{
	int part_error = jid_part_error[part];
	char *out;
	int r;

	if (memchr(s, '\0', len) != NULL)
		return part_error; /* a control character; libidn would see a shorter string */
	if (force_slow || !jid_is_ascii(s, len)) {
		r = jid_stringprep(s, len,
				   part == JID_PART_NODE ? stringprep_xmpp_nodeprep
							 : stringprep_xmpp_resourceprep,
				   part_error, &out);
		if (r < 0)
			return r;
		if (strlen(out) > JID_PART_MAX) {
			free(out);
			return JID_ERR_TOO_LONG;
		}
		*out_r = out;
		return JID_OK;
	}

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (part == JID_PART_NODE ? !jid_node_ascii_ok(c) : !jid_resource_ascii_ok(c))
			return part_error;
	}
	if (len > JID_PART_MAX)
		return JID_ERR_TOO_LONG;
	out = xstrndup(s, len);
	if (part == JID_PART_NODE) {
		for (size_t i = 0; i < len; i++) {
			if (out[i] >= 'A' && out[i] <= 'Z')
				out[i] = (char)(out[i] - 'A' + 'a');
		}
	}
	*out_r = out;
	return JID_OK;
}

/* Length of the label separator at s (RFC 3490 3.1: full stop, ideographic,
 * fullwidth and halfwidth ideographic full stops), 0 if there is none. */
static size_t jid_separator_len(const char *s, size_t left)
{
	const unsigned char *u = (const unsigned char *)s;

	if (left >= 1 && u[0] == '.')
		return 1;
	if (left >= 3 && u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x82)
		return 3; /* U+3002 */
	if (left >= 3 && u[0] == 0xef && u[1] == 0xbc && u[2] == 0x8e)
		return 3; /* U+FF0E */
	if (left >= 3 && u[0] == 0xef && u[1] == 0xbd && u[2] == 0xa1)
		return 3; /* U+FF61 */
	return 0;
}

/* "[IPv6]": ASCII only, lower-cased like any domain, checked by inet_pton.
 * Not canonicalised further: a peer that wrote "[0::1]" gets "[0::1]"
 * back. */
static int jid_prep_ip_literal(const char *s, size_t len, char **out_r)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char bin[16];
	char *out;

	if (len < 3 || s[len - 1] != ']' || len - 2 >= sizeof(addr))
		return JID_ERR_DOMAIN;
	memcpy(addr, s + 1, len - 2);
	addr[len - 2] = '\0';
	if (inet_pton(AF_INET6, addr, bin) != 1)
		return JID_ERR_DOMAIN;
	out = xstrndup(s, len);
	for (size_t i = 0; i < len; i++) {
		if (out[i] >= 'A' && out[i] <= 'F')
			out[i] = (char)(out[i] - 'A' + 'a');
	}
	*out_r = out;
	return JID_OK;
}

/* Check one prepared label: 1..63 bytes, and its ASCII characters are
 * letters, digits and inner hyphens (the STD3 rules; other ASCII, a '.'
 * made by NFKC from something like U+2488 included, is rejected).
 * Non-ASCII characters are whatever nameprep let through. */
static bool jid_label_ok(const char *label, size_t len)
{
	if (len == 0 || len > JID_LABEL_MAX)
		return false;
	if (label[0] == '-' || label[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)label[i];
		if (c >= 0x80)
			continue;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/* Prepare the domainpart: strip one trailing separator, then nameprep and
 * check each label, then join the labels with '.'. Dotted IPv4 addresses
 * pass as ordinary all-digit labels. */
static int jid_prep_domain(const char *s, size_t len, bool force_slow, char **out_r)
{
	struct buf out = {0};
	size_t pos = 0;
	int r = JID_OK;

	if (memchr(s, '\0', len) != NULL)
		return JID_ERR_DOMAIN;
	if (s[0] == '[')
		return jid_prep_ip_literal(s, len, out_r);

	/* Find the last separator without scanning backwards through UTF-8:
	 * strip it if it ends the string. */
	for (size_t i = 0; i < len;) {
		size_t sep = jid_separator_len(s + i, len - i);
		if (sep > 0 && i + sep == len) {
			len = i;
			break;
		}
		i += sep > 0 ? sep : 1;
	}
	if (len == 0)
		return JID_ERR_DOMAIN;

	/* ASCII labels are lower-cased straight into the result, so the
	 * common case costs one allocation. */
	buf_reserve(&out, len + 1);
	for (;;) {
		size_t end = pos, sep = 0, start = out.len;

		while (end < len && (sep = jid_separator_len(s + end, len - end)) == 0)
			end++;
		if (end == pos) {
			r = JID_ERR_DOMAIN; /* empty label: "a..b", ".a" */
			goto out;
		}
		if (!force_slow && jid_is_ascii(s + pos, end - pos)) {
			buf_append(&out, s + pos, end - pos);
			for (size_t i = start; i < out.len; i++) {
				if (out.data[i] >= 'A' && out.data[i] <= 'Z')
					out.data[i] = (char)(out.data[i] - 'A' + 'a');
			}
		} else {
			char *label;
			r = jid_stringprep(s + pos, end - pos, stringprep_nameprep, JID_ERR_DOMAIN,
					   &label);
			if (r == JID_ERR_EMPTY || r == JID_ERR_TOO_LONG)
				r = JID_ERR_DOMAIN; /* a label, not a part, was empty or long */
			if (r < 0)
				goto out;
			buf_append_str(&out, label);
			free(label);
		}
		if (!jid_label_ok(out.data + start, out.len - start)) {
			r = JID_ERR_DOMAIN;
			goto out;
		}
		if (end == len)
			break;
		buf_append_char(&out, '.');
		pos = end + sep;
	}
	if (out.len > JID_PART_MAX) {
		r = JID_ERR_TOO_LONG;
		goto out;
	}
	*out_r = buf_steal(&out);
out:
	buf_free(&out);
	return r;
}

static int jid_parse_with(const char *s, ssize_t slen, bool force_slow, struct jid *jid_r)
{
	size_t len = slen < 0 ? strlen(s) : (size_t)slen;
	const char *slash, *at, *domain;
	size_t bare_len, domain_len;
	struct jid j = {0};
	int r;

	memset(jid_r, 0, sizeof(*jid_r));
	if (len == 0)
		return JID_ERR_EMPTY;
	if (!jid_utf8_valid((const unsigned char *)s, len))
		return JID_ERR_UTF8;

	/* RFC 7622 3.2: the resource is everything after the first '/', the
	 * node everything before the first '@' that comes before it. */
	slash = memchr(s, '/', len);
	bare_len = slash != NULL ? (size_t)(slash - s) : len;
	at = memchr(s, '@', bare_len);
	domain = at != NULL ? at + 1 : s;
	domain_len = bare_len - (size_t)(domain - s);

	if (at == s || domain_len == 0 || (slash != NULL && slash + 1 == s + len))
		return JID_ERR_EMPTY;
	if ((at != NULL && (size_t)(at - s) > JID_INPUT_MAX) || domain_len > JID_INPUT_MAX ||
	    (slash != NULL && len - bare_len - 1 > JID_INPUT_MAX))
		return JID_ERR_TOO_LONG;

	if (at != NULL) {
		r = jid_prep_simple(s, (size_t)(at - s), JID_PART_NODE, force_slow, &j.node);
		if (r < 0)
			goto fail;
	}
	r = jid_prep_domain(domain, domain_len, force_slow, &j.domain);
	if (r < 0)
		goto fail;
	if (slash != NULL) {
		r = jid_prep_simple(slash + 1, len - bare_len - 1, JID_PART_RESOURCE, force_slow,
				    &j.resource);
		if (r < 0)
			goto fail;
	}
	*jid_r = j;
	return JID_OK;
fail:
	jid_clear(&j);
	return r;
}

/* Character classes for jid_view_parse(), one table lookup per byte: the
 * same rules as jid_node_ascii_ok(), jid_resource_ascii_ok() and
 * jid_label_ok(), restricted to characters that normalisation leaves as
 * they are (no upper case). */
enum {
	JID_CLASS_NODE = 1,     /* kept as is by nodeprep */
	JID_CLASS_RESOURCE = 2, /* kept as is by resourceprep */
	JID_CLASS_LDH = 4,      /* lower-case letter, digit or '-' */
};

static unsigned char jid_class[256];

static void jid_class_init(void)
{
	for (int c = 0; c < 128; c++) {
		unsigned char k = 0;
		if (jid_node_ascii_ok((unsigned char)c) && !(c >= 'A' && c <= 'Z'))
			k |= JID_CLASS_NODE;
		if (jid_resource_ascii_ok((unsigned char)c))
			k |= JID_CLASS_RESOURCE;
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
			k |= JID_CLASS_LDH;
		jid_class[c] = k;
	}
}

/* Is the ASCII domain s already exactly what jid_prep_domain() returns:
 * lower-case LDH labels of 1..63 bytes, no hyphen at either end of a label,
 * no empty label, no trailing dot? */
static bool jid_domain_normalised(const char *s, size_t len)
{
	size_t label = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (i == label || s[i - 1] == '-' || i - label > JID_LABEL_MAX)
				return false;
			label = i + 1;
		} else if (!(jid_class[c] & JID_CLASS_LDH) || (c == '-' && i == label)) {
			return false;
		}
	}
	return len > label && s[len - 1] != '-' && len - label <= JID_LABEL_MAX;
}

int jid_view_parse(const char *s, size_t len, struct jid_view *v)
{
	const char *slash, *at;

	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, jid_class_init);
	memset(v, 0, sizeof(*v));
	if (len == 0)
		return JID_ERR_EMPTY;
	slash = memchr(s, '/', len);
	v->bare_len = slash != NULL ? (size_t)(slash - s) : len;
	at = memchr(s, '@', v->bare_len);
	v->domain = at != NULL ? at + 1 : s;
	v->domain_len = v->bare_len - (size_t)(v->domain - s);
	if (at != NULL) {
		v->node = s;
		v->node_len = (size_t)(at - s);
	}
	if (slash != NULL) {
		v->resource = slash + 1;
		v->resource_len = len - v->bare_len - 1;
	}
	/* jid_parse() reports bad UTF-8 before anything else. */
	if (!jid_is_ascii(s, len))
		return JID_NEEDS_PREP;
	if (at == s || v->domain_len == 0 || (slash != NULL && v->resource_len == 0))
		return JID_ERR_EMPTY;
	if (v->node_len > JID_PART_MAX || v->domain_len > JID_PART_MAX ||
	    v->resource_len > JID_PART_MAX)
		return JID_NEEDS_PREP; /* let jid_parse() decide which error */
	for (size_t i = 0; i < v->node_len; i++) {
		if (!(jid_class[(unsigned char)s[i]] & JID_CLASS_NODE))
			return JID_NEEDS_PREP;
	}
	for (size_t i = 0; i < v->resource_len; i++) {
		if (!(jid_class[(unsigned char)v->resource[i]] & JID_CLASS_RESOURCE))
			return JID_NEEDS_PREP;
	}
	if (!jid_domain_normalised(v->domain, v->domain_len))
		return JID_NEEDS_PREP;
	return JID_OK;
}

int jid_parse(const char *s, ssize_t len, struct jid *jid_r)
{
	return jid_parse_with(s, len, false, jid_r);
}

int jid_parse_slow(const char *s, ssize_t len, struct jid *jid_r)
{
	return jid_parse_with(s, len, true, jid_r);
}

void jid_clear(struct jid *jid)
{
	free(jid->node);
	free(jid->domain);
	free(jid->resource);
	memset(jid, 0, sizeof(*jid));
}

static char *jid_to_string(const struct jid *jid, bool full)
{
	struct buf b = {0};

	assert(jid->domain != NULL);
	if (jid->node != NULL) {
		buf_append_str(&b, jid->node);
		buf_append_char(&b, '@');
	}
	buf_append_str(&b, jid->domain);
	if (full && jid->resource != NULL) {
		buf_append_char(&b, '/');
		buf_append_str(&b, jid->resource);
	}
	return buf_steal(&b);
}

char *jid_bare_string(const struct jid *jid)
{
	return jid_to_string(jid, false);
}

char *jid_full_string(const struct jid *jid)
{
	return jid_to_string(jid, true);
}

static bool jid_str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

bool jid_equal_bare(const struct jid *a, const struct jid *b)
{
	return jid_str_equal(a->node, b->node) && jid_str_equal(a->domain, b->domain);
}

bool jid_equal_full(const struct jid *a, const struct jid *b)
{
	return jid_equal_bare(a, b) && jid_str_equal(a->resource, b->resource);
}

const char *jid_result_string(int result)
{
	switch (result) {
	case JID_OK:
		return "ok";
	case JID_ERR_EMPTY:
		return "empty address or address part";
	case JID_ERR_TOO_LONG:
		return "address part longer than 1023 bytes";
	case JID_ERR_NODE:
		return "invalid localpart";
	case JID_ERR_DOMAIN:
		return "invalid domainpart";
	case JID_ERR_RESOURCE:
		return "invalid resourcepart";
	case JID_ERR_UTF8:
		return "not valid UTF-8";
	}
	return "unknown JID error";
}
