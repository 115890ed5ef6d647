/* router-kept.c: stanzas the router wrote to a stream that acknowledges
 * what it reads (docs/components.md, "Acknowledgements"), kept until it
 * does.
 *
 * A stanza written into a component's socket is lost if the component is
 * killed before reading it. For a stream that asked for acknowledgements
 * (all of Junction's own processes do), the router numbers every stanza
 * it writes to it and keeps a copy of those it forwarded, with who sent
 * them, until the component's <a h=''/> covers them. When the stream
 * goes, what it never acknowledged is routed again: into the hold of a
 * users' domain whose sm just went (router-hold.c), so the next sm gets
 * it; to another instance of a shared name; or back to its sender as an
 * error. At most [router] queue_limit bytes are kept per stream: past
 * that the oldest are forgotten (taken as delivered), so a component that
 * asks but never acknowledges cannot grow the router without bound.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "router.h"
#include "stanza.h"
#include "stream.h"

/* One allocation per stanza: the bytes, then domain and bare JID, each
 * NUL-terminated, in data. */
struct router_kept {
	struct router_kept *next;
	uint64_t seq;
	unsigned long sender_id;
	size_t len;
	const char *domain, *bare; /* into data */
	char data[];
};

static void router_kept_drop_head(struct router_stream *stream)
{
	struct router_kept *k = stream->kept_head;

	stream->kept_head = k->next;
	if (stream->kept_head == NULL)
		stream->kept_tail = NULL;
	stream->kept_bytes -= k->len;
	free(k);
}

void router_kept_add(struct router_stream *dest, const struct router_stream *sender,
		     const struct xml_parser_stanza *st, const char *domain, size_t domain_len,
		     const char *bare, size_t bare_len)
{
	struct buf b = {0};
	const char *bytes = st->raw;
	size_t len = st->raw_len;

	if (sender->extra_prefixes) {
		stanza_serialize(st->tree, STREAM_NS_COMPONENT, &b);
		bytes = b.data;
		len = b.len;
	}
	struct router_kept *k = xmalloc(sizeof(*k) + len + domain_len + bare_len + 3);
	char *p = k->data;
	memcpy(p, bytes, len);
	p[len] = '\0';
	p += len + 1;
	memcpy(p, domain, domain_len);
	p[domain_len] = '\0';
	k->domain = p;
	p += domain_len + 1;
	memcpy(p, bare, bare_len);
	p[bare_len] = '\0';
	k->bare = p;
	buf_free(&b);
	k->next = NULL;
	k->len = len;
	k->seq = dest->acks_out;
	k->sender_id = sender->id;
	*(dest->kept_tail != NULL ? &dest->kept_tail->next : &dest->kept_head) = k;
	dest->kept_tail = k;
	dest->kept_bytes += k->len;
	while (dest->kept_bytes > dest->router->queue_limit && dest->kept_head != k)
		router_kept_drop_head(dest);
}

void router_kept_acked(struct router_stream *stream, const char *raw, size_t len)
{
	uint64_t h = 0;

	/* The element is tiny and the router parses only heads: read h=''
	 * from its bytes (<a xmlns='...' h='N'/>). */
	for (size_t i = 0; i + 3 < len; i++) {
		if (raw[i] == ' ' && raw[i + 1] == 'h' && raw[i + 2] == '=' &&
		    (raw[i + 3] == '\'' || raw[i + 3] == '"')) {
			for (i += 4; i < len && raw[i] >= '0' && raw[i] <= '9'; i++)
				h = h * 10 + (uint64_t)(raw[i] - '0');
			break;
		}
	}
	while (stream->kept_head != NULL && stream->kept_head->seq <= h)
		router_kept_drop_head(stream);
}

void router_kept_requeue(struct router_stream *stream)
{
	struct router *router = stream->router;
	unsigned held = 0, routed = 0, bounced = 0;

	if (router->stopping) {
		router_kept_free(stream);
		return;
	}
	while (stream->kept_head != NULL) {
		struct router_kept *k = stream->kept_head;
		bool served;
		char *bytes = xstrndup(k->data, k->len), *bare = xstrdup(k->bare);
		if (router_hold_put(router, k->domain, bytes, k->len, bare, k->sender_id)) {
			held++; /* the hold owns the copies now */
		} else {
			free(bytes);
			free(bare);
			struct router_stream *dest =
				router_find_route(router, k->domain, strlen(k->domain), k->bare,
						  strlen(k->bare), &served);
			if (dest != NULL && dest != stream &&
			    router_stream_deliver(dest, k->data, k->len, false)) {
				routed++;
			} else {
				router_hold_bounce_bytes(router, k->sender_id, k->data, k->len,
							 "cancel", "service-unavailable");
				bounced++;
			}
		}
		router_kept_drop_head(stream);
	}
	stream->kept_bytes = 0;
	if (held + routed + bounced > 0)
		JLOG_INFO(stream->id, "%s left %u unacknowledged stanza(s): %u held, %u routed, "
				      "%u bounced",
			  stream->name, held + routed + bounced, held, routed, bounced);
}

void router_kept_free(struct router_stream *stream)
{
	while (stream->kept_head != NULL)
		router_kept_drop_head(stream);
}
