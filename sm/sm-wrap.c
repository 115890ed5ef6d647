/* sm-wrap.c: the <deliver/> envelope that carries a stanza to a session's c2s
 * (docs/components.md section 6).
 *
 * <message from=SM to=C2S><deliver xmlns=SM_NS_SESSION sid=SID><NAME
 * xmlns='jabber:client' ...>...</NAME></deliver></message>, written as text: the
 * inner stanza is in the client namespace, declared right after its name, so
 * c2s can pass its bytes to the client as they are (c2s-sm.c). Every stanza for
 * a client passes here, so the stanza sm is handling is wrapped from the
 * original bytes it arrived in when they say the same thing (sm_wrap_raw());
 * others are serialised. A stanza these rules cannot write that way (one
 * naming the component or server namespace inside, or the stream prefix) keeps
 * its own namespace declaration and c2s moves it into jabber:client from a tree.
 */
#include <string.h>

#include "buf.h"
#include "component.h"
#include "log.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"
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

/* The stanza being handled, from the bytes it came in: true when written. */
static bool sm_wrap_raw(struct sm *sm, const struct stanza *st, struct buf *b)
{
	const char *p = sm->in.raw;
	size_t len = sm->in.len, name_len = strlen(st->name);
	bool empty;

	if (st != sm->in.st || p == NULL || strcmp(st->ns, STREAM_NS_COMPONENT) != 0)
		return false;
	size_t tag = xml_tag_end(p, len, &empty);
	if (tag == 0 || xml_tag_name_len(p, tag) != name_len ||
	    memcmp(p + 1, st->name, name_len) != 0 || xml_tag_contains(p, tag, "xmlns") ||
	    sm_wrap_unsafe(p, len))
		return false;
	sm_wrap_append(b, p, len, name_len);
	return true;
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

void sm_session_deliver(struct sm *sm, const struct sm_session *session, const struct stanza *st)
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
	if (!sm_wrap_raw(sm, st, &b))
		sm_wrap_tree(st, &b);
	buf_append_str(&b, "</deliver></message>");
	if (component_send_raw(sm->component, b.data, b.len) < 0)
		JLOG_WARN(0, "router unreachable and queue full: dropped a %s to %s", st->name,
			  session->c2s);
	if (b.cap > 64 * 1024)
		buf_free(&b);
}
