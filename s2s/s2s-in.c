/* s2s-in.c: incoming server-to-server streams.
 *
 * A peer opens a jabber:server stream to one of our domains (any domain the
 * deployment serves). We answer with a fresh stream id and features:
 * STARTTLS (required when [s2s] require_tls), SASL EXTERNAL (XEP-0178) when
 * the peer's certificate is valid for the domain in its header, and
 * dialback (unless [s2s] require_valid_cert). The peer then
 * authenticates with EXTERNAL, or one or more (its domain, our domain)
 * pairs with db:result;
 * each is checked by asking the peer's domain's authoritative server, over
 * our own outgoing stream for the pair, with db:verify (XEP-0220). We also
 * answer db:verify questions about keys we generated ourselves.
 *
 * Every stanza must come from a domain authenticated on this stream to the
 * domain it is addressed to, and that domain must be ours; otherwise the
 * stream ends with the RFC 6120 4.9.3 error (invalid-from, host-unknown,
 * improper-addressing, not-authorized). The header's to/from may not change
 * when the stream restarts after STARTTLS. Typed dialback elements are
 * answers, and we never ask questions on an incoming stream, so one
 * arriving here is refused (the "dialback without dialback" attack).
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "digest.h"
#include "jid.h"
#include "log.h"
#include "s2s.h"
#include "stanza.h"
#include "stream.h"
#include "tls.h"

/* A (remote, local) pair: authenticated, or waiting for its verify. */
struct s2s_pair {
	char *remote, *local;
	bool valid;
	struct s2s_pair *next;
};

struct s2s_in {
	struct s2s *s2s;
	struct s2s_link link;
	bool direct_tls;
	bool header_seen;
	bool asked; /* the peer asked us a db:verify: a verify stream, never authenticated */
	bool sasl_done; /* authenticated with SASL EXTERNAL: no more mechanisms */
	char *to, *from; /* the first header's, normalised (from may be NULL) */
	char stream_id[33];
	struct s2s_pair *pairs;
	uint64_t opened_ms;
	struct s2s_in *prev, *next;
};

static struct s2s_in *s2s_in_find(struct s2s *s2s, unsigned long id)
{
	for (struct s2s_in *in = s2s->ins; in != NULL; in = in->next) {
		if (in->link.id == id && !in->link.closing)
			return in;
	}
	return NULL;
}

static struct s2s_pair *s2s_in_pair(struct s2s_in *in, const char *remote, const char *local)
{
	for (struct s2s_pair *p = in->pairs; p != NULL; p = p->next) {
		if (strcmp(p->remote, remote) == 0 && strcmp(p->local, local) == 0)
			return p;
	}
	return NULL;
}

static void s2s_in_features(struct s2s_in *in)
{
	struct s2s *s2s = in->s2s;
	struct buf b = {0};
	bool tls_on = in->link.tls != NULL;

	buf_append_str(&b, "<stream:features>");
	if (!tls_on && s2s_certs_ctx(s2s, in->to, true) != NULL)
		buf_printf(&b, "<starttls xmlns='%s'>%s</starttls>", S2S_NS_TLS,
			   s2s->require_tls ? "<required/>" : "");
	/* XEP-0178: EXTERNAL only when the certificate is good for the
	 * domain in the header's 'from'. */
	if (tls_on && !in->sasl_done && in->from != NULL &&
	    tls_peer_check_name(in->link.tls, in->from))
		buf_printf(&b, "<mechanisms xmlns='%s'><mechanism>EXTERNAL</mechanism></mechanisms>",
			   S2S_NS_SASL);
	if ((tls_on || !s2s->require_tls) && !s2s->require_valid_cert)
		buf_printf(&b, "<dialback xmlns='%s'><errors/></dialback>",
			   S2S_NS_DIALBACK_FEATURE);
	buf_append_str(&b, "</stream:features>");
	s2s_link_send(&in->link, b.data, b.len);
	buf_free(&b);
}

static void s2s_in_header(struct s2s_in *in, const char *to, const char *from)
{
	struct buf b = {0};

	digest_random_hex(in->stream_id, (sizeof(in->stream_id) - 1) / 2);
	buf_printf(&b, "<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:db='%s' "
		   "xmlns:stream='%s' id='%s' version='1.0'", STREAM_NS_SERVER, S2S_NS_DIALBACK,
		   XML_NS_STREAM, in->stream_id);
	if (to != NULL) {
		buf_append_str(&b, " from='");
		buf_append_xml_escaped(&b, to, strlen(to), true);
		buf_append_str(&b, "'");
	}
	if (from != NULL) {
		buf_append_str(&b, " to='");
		buf_append_xml_escaped(&b, from, strlen(from), true);
		buf_append_str(&b, "'");
	}
	buf_append_str(&b, ">");
	s2s_link_send(&in->link, b.data, b.len);
	buf_free(&b);
}

static bool s2s_same(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static int s2s_in_on_open(struct s2s_link *link, const struct xml_parser_stream_open *open)
{
	struct s2s_in *in = link->owner;
	char *to = s2s_jid_domain(open->to);
	char *from = s2s_jid_domain(open->from);
	int ret = 1;

	/* RFC 6120 4.9.1.3: the error goes in a header of our own first. */
	s2s_in_header(in, to != NULL && s2s_serves(in->s2s, to) ? to : NULL, from);
	if (strcmp(open->name, "stream") != 0 || strcmp(open->ns, XML_NS_STREAM) != 0 ||
	    open->default_ns == NULL || strcmp(open->default_ns, STREAM_NS_SERVER) != 0) {
		s2s_link_close(link, "invalid-namespace", "expected a jabber:server stream");
	} else if (to == NULL || !s2s_serves(in->s2s, to)) {
		s2s_link_close(link, "host-unknown", "this server does not serve that domain");
	} else if (open->from != NULL && from == NULL) {
		s2s_link_close(link, "invalid-from", NULL);
	} else if (in->header_seen && !s2s_same(in->to, to)) {
		s2s_link_close(link, "host-unknown", "the stream's 'to' may not change");
	} else if (in->header_seen && !s2s_same(in->from, from)) {
		s2s_link_close(link, "invalid-from", "the stream's 'from' may not change");
	} else if (open->version == NULL || strncmp(open->version, "1.", 2) != 0) {
		s2s_link_close(link, "unsupported-version", "version 1.0 required");
	} else {
		if (!in->header_seen) {
			in->header_seen = true;
			in->to = to;
			in->from = from;
			to = from = NULL;
		}
		s2s_in_features(in);
		ret = 0;
	}
	free(to);
	free(from);
	return ret;
}

static void s2s_in_db_answer(struct s2s_in *in, const char *name, const char *from,
			     const char *to, const char *id, bool valid)
{
	struct buf b = {0};

	buf_printf(&b, "<db:%s from='", name);
	buf_append_xml_escaped(&b, from, strlen(from), true);
	buf_append_str(&b, "' to='");
	buf_append_xml_escaped(&b, to, strlen(to), true);
	if (id != NULL) {
		buf_append_str(&b, "' id='");
		buf_append_xml_escaped(&b, id, strlen(id), true);
	}
	buf_printf(&b, "' type='%s'/>", valid ? "valid" : "invalid");
	s2s_link_send(&in->link, b.data, b.len);
	buf_free(&b);
}

/* db:result or db:verify, checked for addressing. Returns 0 to go on. */
static int s2s_in_dialback(struct s2s_in *in, struct stanza *st)
{
	struct s2s_link *link = &in->link;
	const char *type = stanza_get_attr(st, "type");
	char *from = s2s_jid_domain(stanza_get_attr(st, "from"));
	char *to = s2s_jid_domain(stanza_get_attr(st, "to"));
	char *key = stanza_text(st);
	bool is_result = strcmp(st->name, "result") == 0;

	if (type != NULL) {
		s2s_link_close(link, "not-authorized", "a dialback answer nobody asked for");
	} else if (from == NULL || s2s_serves(in->s2s, from)) {
		/* A peer never speaks for one of our own domains. */
		s2s_link_close(link, "invalid-from", NULL);
	} else if (to == NULL || !s2s_serves(in->s2s, to)) {
		s2s_link_close(link, "host-unknown", NULL);
	} else if (key == NULL || key[0] == '\0') {
		s2s_link_close(link, "bad-format", "no dialback key");
	} else if (!is_result) {
		/* A question to us as the authority for `to`: did we generate
		 * this key for a stream to `from` with that id? */
		const char *id = stanza_get_attr(st, "id");
		bool valid = s2s_dialback_check(in->s2s, from, to, id, key);
		in->asked = true;
		JLOG_INFO(link->id, "dialback verify for %s -> %s: %s", to, from,
			  valid ? "valid" : "invalid");
		s2s_in_db_answer(in, "verify", to, from, id != NULL ? id : "", valid);
	} else if (in->s2s->require_valid_cert) {
		s2s_link_close(link, "not-authorized", "a valid certificate is required");
	} else if (s2s_in_pair(in, from, to) != NULL) {
		JLOG_DEBUG(link->id, "dialback for %s -> %s asked again", from, to);
	} else {
		struct s2s_pair *p = xcalloc(1, sizeof(*p));
		p->remote = from;
		p->local = to;
		from = to = NULL;
		p->next = in->pairs;
		in->pairs = p;
		s2s_out_verify(s2s_out_get(in->s2s, p->local, p->remote), link->id, in->stream_id,
			       key);
	}
	free(from);
	free(to);
	free(key);
	return link->closing;
}

static int s2s_in_stanza(struct s2s_in *in, struct stanza *st)
{
	struct s2s_link *link = &in->link;
	const char *from_attr = stanza_get_attr(st, "from");
	const char *to_attr = stanza_get_attr(st, "to");
	char *from = NULL, *to = NULL;
	bool any = false;

	for (const struct s2s_pair *p = in->pairs; p != NULL; p = p->next)
		any = any || p->valid;
	if (!any) {
		s2s_link_close(link, "not-authorized", "authenticate first");
		return 1;
	}
	if (from_attr == NULL || to_attr == NULL) {
		/* RFC 6120 8.1.1.1, 8.1.2.1: both are required between servers. */
		s2s_link_close(link, "improper-addressing", "stanza without 'from' or 'to'");
		return 1;
	}
	from = s2s_jid_domain(from_attr);
	to = s2s_jid_domain(to_attr);
	if (from == NULL) {
		s2s_link_close(link, "invalid-from", "'from' is not a valid JID");
	} else if (to == NULL || !s2s_serves(in->s2s, to)) {
		s2s_link_close(link, "host-unknown", "'to' is not a domain served here");
	} else {
		struct s2s_pair *p = s2s_in_pair(in, from, to);
		if (p == NULL || !p->valid) {
			s2s_link_close(link, "invalid-from",
				       "'from' is not authenticated on this stream");
		} else {
			stanza_rename_ns(st, STREAM_NS_SERVER, STREAM_NS_COMPONENT);
			s2s_router_send(in->s2s, st);
		}
	}
	free(from);
	free(to);
	return link->closing;
}

/* SASL EXTERNAL (XEP-0178): the peer's certificate vouches for its domain. */
static int s2s_in_sasl(struct s2s_in *in, struct stanza *st)
{
	struct s2s_link *link = &in->link;
	const char *mech = stanza_get_attr(st, "mechanism");
	char *text = stanza_text(st);
	char *authzid = NULL;
	unsigned char dec[1100];

	if (strcmp(st->name, "auth") != 0 || in->sasl_done || link->tls == NULL) {
		free(text);
		s2s_link_close(link, "policy-violation", "unexpected SASL element");
		return 1;
	}
	size_t n = text != NULL ? strlen(text) : 0;
	if (n > 0 && strcmp(text, "=") != 0 && n < 1400 && n % 4 == 0) {
		int len = EVP_DecodeBlock(dec, (const unsigned char *)text, (int)n);
		while (len > 0 && n >= 2 && text[n - 1] == '=' && dec[len - 1] == '\0') {
			len--;
			n--;
		}
		if (len > 0) {
			dec[len] = '\0';
			authzid = s2s_jid_domain((const char *)dec);
		}
	}
	const char *who = authzid != NULL ? authzid : in->from;
	bool ok = mech != NULL && strcmp(mech, "EXTERNAL") == 0 && who != NULL &&
		  in->from != NULL && strcmp(who, in->from) == 0 &&
		  tls_peer_check_name(link->tls, who);
	if (!ok) {
		JLOG_INFO(link->id, "SASL EXTERNAL for %s refused", who != NULL ? who : "?");
		const char *fail = "<failure xmlns='" S2S_NS_SASL "'><not-authorized/></failure>";
		s2s_link_send(link, fail, strlen(fail));
	} else {
		struct s2s_pair *p = xcalloc(1, sizeof(*p));
		p->remote = xstrdup(who);
		p->local = xstrdup(in->to);
		p->valid = true;
		p->next = in->pairs;
		in->pairs = p;
		in->sasl_done = true;
		JLOG_INFO(link->id, "%s -> %s authenticated (SASL EXTERNAL), TLS", p->remote, p->local);
		const char *success = "<success xmlns='" S2S_NS_SASL "'/>";
		s2s_link_send(link, success, strlen(success));
		s2s_link_restart(link);
	}
	free(text);
	free(authzid);
	return 1;
}

static int s2s_in_on_element(struct s2s_link *link, struct stanza *st)
{
	struct s2s_in *in = link->owner;
	bool tls_on = link->tls != NULL;

	if (strcmp(st->ns, XML_NS_STREAM) == 0 && strcmp(st->name, "error") == 0) {
		struct stanza *c = stanza_child_element(st, 0);
		JLOG_INFO(link->id, "stream error from %s: %s", link->conn->peer,
			  c != NULL ? c->name : "?");
		s2s_link_close(link, NULL, NULL);
		return 1;
	}
	if (strcmp(st->ns, S2S_NS_TLS) == 0 && strcmp(st->name, "starttls") == 0) {
		if (tls_on || s2s_certs_ctx(in->s2s, in->to, true) == NULL) {
			s2s_link_close(link, "policy-violation", "STARTTLS not offered");
			return 1;
		}
		s2s_link_send(link, "<proceed xmlns='" S2S_NS_TLS "'/>",
			      strlen("<proceed xmlns='" S2S_NS_TLS "'/>"));
		if (s2s_link_tls(link, true, in->to, NULL) < 0) {
			s2s_link_abort(link);
			return 1;
		}
		s2s_link_restart(link);
		return 1;
	}
	if (!tls_on && in->s2s->require_tls) {
		/* RFC 6120 5.3.1: TLS is mandatory-to-negotiate here. */
		s2s_link_close(link, "policy-violation", "TLS is required");
		return 1;
	}
	if (strcmp(st->ns, S2S_NS_SASL) == 0)
		return s2s_in_sasl(in, st);
	if (strcmp(st->ns, S2S_NS_DIALBACK) == 0 &&
	    (strcmp(st->name, "result") == 0 || strcmp(st->name, "verify") == 0))
		return s2s_in_dialback(in, st);
	if (strcmp(st->ns, STREAM_NS_SERVER) == 0 &&
	    (strcmp(st->name, "message") == 0 || strcmp(st->name, "presence") == 0 ||
	     strcmp(st->name, "iq") == 0))
		return s2s_in_stanza(in, st);
	s2s_link_close(link, "unsupported-stanza-type", NULL);
	return 1;
}

static void s2s_in_on_close(struct s2s_link *link)
{
	(void)link;
}

static void s2s_in_on_freed(struct s2s_link *link)
{
	struct s2s_in *in = link->owner;
	struct s2s *s2s = in->s2s;

	if (in->prev != NULL)
		in->prev->next = in->next;
	else
		s2s->ins = in->next;
	if (in->next != NULL)
		in->next->prev = in->prev;
	while (in->pairs != NULL) {
		struct s2s_pair *p = in->pairs;
		in->pairs = p->next;
		free(p->remote);
		free(p->local);
		free(p);
	}
	free(in->to);
	free(in->from);
	free(in);
	s2s_maybe_finish(s2s);
}

static const struct s2s_link_ops s2s_in_ops = {
	.open = s2s_in_on_open,
	.element = s2s_in_on_element,
	.close = s2s_in_on_close,
	.freed = s2s_in_on_freed,
};

static void s2s_in_start(struct conn *conn, struct s2s *s2s, bool direct_tls)
{
	struct s2s_in *in = xcalloc(1, sizeof(*in));

	in->s2s = s2s;
	in->direct_tls = direct_tls;
	in->opened_ms = uv_now(s2s->loop);
	in->next = s2s->ins;
	if (s2s->ins != NULL)
		s2s->ins->prev = in;
	s2s->ins = in;
	s2s_link_start(&in->link, s2s, conn, &s2s_in_ops, in);
	JLOG_DEBUG(conn->id, "accepted %s%s", conn->peer, direct_tls ? " (direct TLS)" : "");
	if (direct_tls && s2s_link_tls(&in->link, true, NULL, NULL) < 0)
		s2s_link_abort(&in->link);
}

void s2s_in_accept(struct conn *conn, void *ctx)
{
	s2s_in_start(conn, ctx, false);
}

void s2s_in_accept_tls(struct conn *conn, void *ctx)
{
	s2s_in_start(conn, ctx, true);
}

void s2s_in_verified(struct s2s *s2s, unsigned long in_id, const char *local, const char *remote,
		     bool valid)
{
	struct s2s_in *in = s2s_in_find(s2s, in_id);
	struct s2s_pair *p = in != NULL ? s2s_in_pair(in, remote, local) : NULL;

	if (p == NULL || p->valid)
		return;
	JLOG_INFO(in->link.id, "%s -> %s %s (dialback)%s", remote, local,
		  valid ? "authenticated" : "refused", in->link.tls ? ", TLS" : "");
	s2s_in_db_answer(in, "result", local, remote, NULL, valid);
	if (valid) {
		p->valid = true;
		return;
	}
	for (struct s2s_pair **pp = &in->pairs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	free(p->remote);
	free(p->local);
	free(p);
}

void s2s_in_tick(struct s2s *s2s, uint64_t now)
{
	for (struct s2s_in *in = s2s->ins; in != NULL; in = in->next) {
		if (in->link.closing)
			continue;
		bool any = false;
		for (const struct s2s_pair *p = in->pairs; p != NULL; p = p->next)
			any = any || p->valid;
		if (!any && !in->asked && now - in->opened_ms >= s2s->connect_timeout_ms)
			s2s_link_close(&in->link, "connection-timeout", "no authentication in time");
		else if (now - in->link.last_ms >= s2s->idle_timeout_ms) {
			JLOG_INFO(in->link.id, "closing the idle stream from %s",
				  in->from != NULL ? in->from : in->link.conn->peer);
			s2s_link_close(&in->link, NULL, NULL);
		}
	}
}

void s2s_in_stop_all(struct s2s *s2s)
{
	for (struct s2s_in *in = s2s->ins; in != NULL; in = in->next) {
		if (!in->link.closing)
			s2s_link_close(&in->link, "system-shutdown", NULL);
	}
}
