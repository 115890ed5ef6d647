/* sm-wrap.c: the <deliver/> envelope that carries a stanza to a session's c2s
 * (docs/components.md section 6).
 *
 * <message from=SM to=C2S><deliver xmlns=SM_NS_SESSION sid=SID><NAME
 * xmlns='jabber:client' ...>...</NAME></deliver></message>, written as text: the
 * inner stanza is in the client namespace, declared right after its name, so c2s
 * can pass its bytes to the client as they are (c2s-sm.c). Every stanza for a
 * client passes here, so the stanza sm is handling is wrapped from the original
 * bytes it arrived in when they say the same thing (sm_wrap_raw_ok()); others
 * are serialised. A message to a session's full JID does not even get a tree:
 * the router link's raw callback wraps it from its bytes (sm_wrap_deliver_raw()).
 * A stanza that cannot be written that way (one naming the component or server
 * namespace inside, or the stream prefix) keeps its own namespace declaration,
 * and c2s moves it into jabber:client from a tree.
 */
#include <string.h>

#include "buf.h"
#include "component.h"
#include "log.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"
#include "xml-parser.h"
#include "xml-tag.h"

#define SM_WRAP_CLIENT_NS " xmlns='" STREAM_NS_CLIENT "'"

/* Would the bytes of a stanza mean something else once its top element is
 * declared in jabber:client and its children inherit that? Yes if they name
 * the namespaces c2s moves into jabber:client (a child declaring one keeps it
 * otherwise), use the stream prefix (bound on the router link, maybe not on the
 * client's stream) or a character reference (which could spell either). */
static bool sm_wrap_unsafe(const char *p, size_t len)
{
	return xml_tag_contains(p, len, STREAM_NS_COMPONENT) ||
	       xml_tag_contains(p, len, STREAM_NS_SERVER) || xml_tag_contains(p, len, "stream:") ||
	       xml_tag_contains(p, len, "&#");
}

/* b += "<NAME xmlns='jabber:client'" + the rest of the stanza (p, len), which
 * starts with "<NAME" and whose top element declares no namespace. */
static void sm_wrap_append(struct buf *b, const char *p, size_t len, size_t name_len)
{
	buf_append(b, p, 1 + name_len);
	buf_append_str(b, SM_WRAP_CLIENT_NS);
	buf_append(b, p + 1 + name_len, len - 1 - name_len);
}

/* Can the stanza (name, ns) whose bytes are p go out as sm_wrap_append()
 * writes them? Only when its top element declares nothing and nothing in it
 * is unsafe. */
static bool sm_wrap_raw_ok(const char *name, const char *ns, const char *p, size_t len)
{
	size_t name_len = strlen(name);
	bool empty;

	if (p == NULL || strcmp(ns, STREAM_NS_COMPONENT) != 0)
		return false;
	size_t tag = xml_tag_end(p, len, &empty);
	return tag != 0 && xml_tag_name_len(p, tag) == name_len &&
	       memcmp(p + 1, name, name_len) == 0 && !xml_tag_contains(p, tag, "xmlns") &&
	       !sm_wrap_unsafe(p, len);
}

static void sm_wrap_tree(const struct stanza *st, struct buf *b)
{
	static struct buf s; /* kept at its high-water mark */

	if (strcmp(st->ns, STREAM_NS_COMPONENT) == 0) {
		buf_reset(&s);
		stanza_serialize(st, STREAM_NS_COMPONENT, &s);
		if (!sm_wrap_unsafe(s.data, s.len)) {
			sm_wrap_append(b, s.data, s.len, strlen(st->name));
			return;
		}
	}
	stanza_serialize(st, SM_NS_SESSION, b);
}

void sm_wrap_forget(struct sm *sm, const struct stanza *st)
{
	if (st == sm->in.st)
		sm->in.st = NULL;
}

/* Send the envelope around a stanza named name: its bytes raw (raw_len of
 * them) or, when raw is NULL, its tree st. */
static void sm_wrap_send(struct sm *sm, const struct sm_session *session, const char *name,
			 const char *raw, size_t raw_len, const struct stanza *st)
{
	static struct buf b; /* kept at its high-water mark */

	buf_reset(&b);
	buf_append_str(&b, "<message from='");
	buf_append_xml_escaped(&b, sm->name, strlen(sm->name), true);
	buf_append_str(&b, "' to='");
	buf_append_xml_escaped(&b, session->c2s, strlen(session->c2s), true);
	buf_append_str(&b, "'><deliver xmlns='" SM_NS_SESSION "' sid='");
	buf_append_xml_escaped(&b, session->sid, strlen(session->sid), true);
	buf_append_str(&b, "'>");
	if (raw != NULL)
		sm_wrap_append(&b, raw, raw_len, strlen(name));
	else
		sm_wrap_tree(st, &b);
	buf_append_str(&b, "</deliver></message>");
	if (component_send_raw(sm->component, b.data, b.len) < 0)
		JLOG_WARN(0, "router unreachable and queue full: dropped a %s to %s", name,
			  session->c2s);
	if (b.cap > 64 * 1024)
		buf_free(&b);
}

void sm_session_deliver(struct sm *sm, const struct sm_session *session, const struct stanza *st)
{
	/* The stanza being handled goes from the bytes it came in, if it can. */
	bool raw = st == sm->in.st && sm_wrap_raw_ok(st->name, st->ns, sm->in.raw, sm->in.len);

	sm_wrap_send(sm, session, st->name, raw ? sm->in.raw : NULL, sm->in.len, st);
}

bool sm_wrap_deliver_raw(struct sm *sm, const struct xml_parser_stanza *ev)
{
	/* Only what sm_on_stanza() would pass to sm_deliver() and that would
	 * reach sm_session_deliver() there: a message (not one of the
	 * envelopes sm handles itself) to a session's exact full JID. */
	if (strcmp(ev->name, "message") != 0 || ev->to == NULL || strchr(ev->to, '/') == NULL ||
	    !sm_wrap_raw_ok(ev->name, ev->ns, ev->raw, ev->raw_len) ||
	    xml_tag_contains(ev->raw, ev->raw_len, SM_NS_SESSION) ||
	    xml_tag_contains(ev->raw, ev->raw_len, SM_NS_PEP))
		return false;
	if (sm_scale_waiting(sm))
		return false; /* through sm_on_stanza(), to be kept in order */
	struct sm_session *s = sm_session_find(sm, ev->to);
	if (s == NULL || !sm_blocking_passes(sm, ev->name, ev->type, ev->from, ev->to, s->bare))
		return false;
	sm_wrap_send(sm, s, ev->name, ev->raw, ev->raw_len, NULL);
	return true;
}
