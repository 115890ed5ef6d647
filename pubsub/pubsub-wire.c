/* pubsub-wire.c: an event notification serialised once for all of its
 * recipients.
 *
 * pubsub_notify() sends the same <event/> to every subscriber of a node.
 * Building a message stanza per subscriber (a deep copy of the event, a
 * fresh random id) and serialising each one again made the service's cost
 * grow with the payload times the subscribers; here the event and the
 * closing tag are serialised once, and each recipient costs only its own
 * start tag. The bytes are what stanza_serialize() would give for the
 * message pubsub_notify_one() builds, except the id: the event's random id
 * followed by "-N" for the N-th recipient. For the pubsub domain only: a
 * PEP service's notifications each go to the account's sm in their own
 * envelope (pubsub_send()), so there the wire falls back to
 * pubsub_notify_one().
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "component.h"
#include "log.h"
#include "pubsub.h"
#include "stanza.h"
#include "stream.h"

void pubsub_wire_init(struct pubsub_wire *w, const struct stanza *event)
{
	*w = (struct pubsub_wire){.event = event};
	pubsub_new_id(w->id);
	stanza_serialize(event, STREAM_NS_COMPONENT, &w->tail);
	buf_append(&w->tail, "</message>", 10);
}

void pubsub_wire_send(struct pubsub *ps, struct pubsub_wire *w, const char *to)
{
	char n[24];

	if (ps->service != NULL) {
		pubsub_notify_one(ps, to, w->event);
		return;
	}
	buf_reset(&w->out);
	buf_append(&w->out, "<message from='", 15);
	buf_append_xml_escaped(&w->out, ps->domain, strlen(ps->domain), true);
	buf_append(&w->out, "' to='", 6);
	buf_append_xml_escaped(&w->out, to, strlen(to), true);
	buf_append(&w->out, "' type='headline' id='", 22);
	buf_append(&w->out, w->id, strlen(w->id));
	buf_append(&w->out, n, (size_t)snprintf(n, sizeof(n), "-%lu'>", ++w->n));
	buf_append(&w->out, w->tail.data, w->tail.len);
	if (component_send_raw(ps->component, w->out.data, w->out.len) < 0)
		JLOG_WARN(0, "router unreachable and queue full: dropped a notification to %s", to);
}

void pubsub_wire_free(struct pubsub_wire *w)
{
	buf_free(&w->tail);
	buf_free(&w->out);
}
