/* router-bounce.c: error stanzas the router sends on a sender's behalf.
 *
 * This is the cold path: the stanza is parsed into a tree only here, the
 * error reply built per RFC 6120 8.3 and serialised. An error is never
 * answered with an error, and neither is an iq result.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conn.h"
#include "jid.h"
#include "log.h"
#include "router.h"
#include "stanza.h"
#include "stream.h"

static bool router_bounce_allowed(const struct stanza *st)
{
	const char *type = stanza_get_attr(st, "type");

	if (type == NULL)
		return true;
	if (strcmp(type, "error") == 0)
		return false;
	return !(strcmp(st->name, "iq") == 0 && strcmp(type, "result") == 0);
}

void router_bounce(struct router_stream *sender, const struct xml_parser_stanza *st,
		   const char *type, const char *condition, const char *text)
{
	struct stanza *tree = st->tree != NULL ? stanza_ref(st->tree) : NULL;

	if (st->type != NULL && strcmp(st->type, "error") == 0)
		return;
	if (tree == NULL && stanza_parse(st->raw, st->raw_len, STREAM_NS_COMPONENT, &tree) != 0)
		return;
	if (router_bounce_allowed(tree)) {
		struct stanza *reply = stanza_error_reply(tree, type, condition, text);
		router_stream_reply(sender, reply);
		sender->count.bounced++;
		stanza_unref(&reply);
	}
	stanza_unref(&tree);
}

void router_route_error(struct router *router, const struct stanza *error)
{
	const char *to = stanza_get_attr(error, "to");
	struct jid jid;
	struct buf b = {0};

	if (to == NULL || jid_parse(to, -1, &jid) != JID_OK)
		return;
	char *bare = jid_bare_string(&jid);
	bool served;
	struct router_stream *dest = router_find_route(router, jid.domain, strlen(jid.domain), bare,
						       strlen(bare), &served);
	if (dest != NULL) {
		stanza_serialize(error, STREAM_NS_COMPONENT, &b);
		/* Past the limit too: these answer stanzas the sender sent, and
		 * there are at most a closed stream's queue-full of them. */
		if (!router_stream_deliver(dest, b.data, b.len, true))
			JLOG_INFO(dest->id, "dropped error to %s: stream closing", to);
		buf_free(&b);
	}
	free(bare);
	jid_clear(&jid);
}

struct router_unsent {
	struct router *router;
	const char *type, *condition;
	const char *bytes; /* the queued bytes being re-parsed */
	size_t len, written;
	unsigned bounced;
};

static int router_unsent_on_stanza(void *ctx, const struct xml_parser_stanza *st)
{
	struct router_unsent *u = ctx;

	if (strcmp(st->ns, STREAM_NS_COMPONENT) != 0 ||
	    (strcmp(st->name, "message") != 0 && strcmp(st->name, "iq") != 0 &&
	     strcmp(st->name, "presence") != 0))
		return 0;
	if (st->tree == NULL || !router_bounce_allowed(st->tree))
		return 0;
	/* A stanza wholly inside the part already written reached the peer's
	 * kernel: not bounced, or it would arrive and bounce both. The queue is
	 * fed as one chunk, so raw points into it. */
	if (st->raw >= u->bytes && st->raw + st->raw_len <= u->bytes + u->len &&
	    (size_t)(st->raw + st->raw_len - u->bytes) <= u->written)
		return 0;
	struct stanza *reply = stanza_error_reply(st->tree, u->type, u->condition,
						  "recipient went away before receiving it");
	router_route_error(u->router, reply);
	stanza_unref(&reply);
	u->bounced++;
	return 0;
}

static int router_unsent_on_close(void *ctx)
{
	(void)ctx;
	return 1;
}

void router_bounce_unsent(struct router *router, const char *bytes, size_t len, size_t written,
			  const char *type, const char *condition)
{
	static const struct xml_parser_callbacks callbacks = {
		.stanza = router_unsent_on_stanza,
		.stream_close = router_unsent_on_close,
	};
	struct router_unsent u = {.router = router, .type = type, .condition = condition,
				  .bytes = bytes, .len = len, .written = written};
	/* Queued bytes are whole stanzas (plus perhaps our own stream header
	 * and handshake reply at the start, which are skipped). Allow any size:
	 * these bytes were each checked when they came in. */
	struct xml_parser_limits limits = {.max_stanza_bytes = len + 4096};
	struct xml_parser *parser = xml_parser_new(&limits, XML_PARSER_MODE_TREE, &callbacks, &u);
	struct buf header = {0};

	bool has_header = (len >= 5 && memcmp(bytes, "<?xml", 5) == 0) ||
			  (len >= 8 && memcmp(bytes, "<stream:", 8) == 0);
	if (!has_header) {
		stream_header(&header, STREAM_NS_COMPONENT, NULL, NULL, NULL);
		xml_parser_feed(parser, header.data, header.len);
	}
	xml_parser_feed(parser, bytes, len);
	xml_parser_free(&parser);
	buf_free(&header);
	if (u.bounced > 0)
		JLOG_INFO(0, "bounced %u undelivered stanzas", u.bounced);
}
