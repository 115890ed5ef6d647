/* pubsub-caps.c: contacts' entity capabilities (XEP-0115) for PEP
 * (XEP-0163 section 4.2 and 4.3.3): who is available and asks for which
 * notifications.
 *
 * sm reports each contact (full JID) of an account becoming available,
 * with its caps node, ver and hash, or unavailable (pubsub-pep.c). A ver
 * not seen before is resolved once by disco#info to that contact, sent
 * from the account through sm; a sha-1 ver is checked against the answer
 * (pubsub-caps-ver.c) and one that does not match is kept with no
 * features, so nobody can poison another client's ver. ver -> features
 * stays for the life of the process.
 *
 * A contact whose features have NODE+notify is an implicit subscriber of
 * the account's node NODE (pubsub_caps_subscribers(), used by
 * pubsub_notify()); the access model still decides, as for any
 * subscriber. When a contact becomes available, and its features are
 * known, it gets the newest item of each such node.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jid.h"
#include "log.h"
#include "pubsub-caps-ver.h"
#include "pubsub.h"
#include "stanza.h"
#include "stream.h"

/* An unanswered question is asked again (of the next contact with that
 * ver) after this long. */
#define PUBSUB_CAPS_TIMEOUT_MS 10000

/* One ver: its features once known, or the question out for it. */
struct pubsub_caps_ver {
	struct pubsub_caps_ver *next;
	char *key;  /* ver (a hashed ver) or node#ver (legacy caps) */
	char *hash; /* "sha-1" when the ver is to be checked, else NULL */
	bool resolved;
	char **features;
	size_t n_features;
	char id[2 * PUBSUB_ID_BYTES + 6]; /* of the question */
	char *asked;                      /* the full JID asked */
	char *asked_for;                  /* the service that asked */
	uint64_t deadline;
};

/* One available contact of a PEP service. */
struct pubsub_caps_contact {
	struct pubsub_caps_contact *next;
	char *service, *jid;
	char *key;      /* its ver entry's key, NULL without caps */
	bool send_last; /* last items are due once its features are known */
};

static void pubsub_caps_ver_free(struct pubsub_caps_ver *v)
{
	free(v->key);
	free(v->hash);
	free(v->asked);
	free(v->asked_for);
	pubsub_caps_ver_strs_free(v->features, v->n_features);
	free(v);
}

static void pubsub_caps_contact_free(struct pubsub_caps_contact *c)
{
	free(c->service);
	free(c->jid);
	free(c->key);
	free(c);
}

static struct pubsub_caps_ver *pubsub_caps_ver_find(struct pubsub *ps, const char *key)
{
	for (struct pubsub_caps_ver *v = ps->vers; v != NULL; v = v->next) {
		if (strcmp(v->key, key) == 0)
			return v;
	}
	return NULL;
}

static struct pubsub_caps_contact **pubsub_caps_contact_find(struct pubsub *ps, const char *service,
							     const char *jid)
{
	struct pubsub_caps_contact **p;

	for (p = &ps->contacts; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->service, service) == 0 && strcmp((*p)->jid, jid) == 0)
			break;
	}
	return p;
}

/* Does the contact's ver list NODE+notify? */
static bool pubsub_caps_wants(struct pubsub *ps, const struct pubsub_caps_contact *c,
			      const char *node)
{
	struct pubsub_caps_ver *v = c->key != NULL ? pubsub_caps_ver_find(ps, c->key) : NULL;
	size_t len = strlen(node);

	for (size_t i = 0; v != NULL && v->resolved && i < v->n_features; i++) {
		const char *f = v->features[i];
		if (strncmp(f, node, len) == 0 && strcmp(f + len, "+notify") == 0)
			return true;
	}
	return false;
}

void pubsub_caps_subscribers(struct pubsub *ps, const struct pubsub_node *node,
			     struct pubsub_subscription **subs_r, size_t *n_r)
{
	for (struct pubsub_caps_contact *c = ps->contacts; c != NULL; c = c->next) {
		bool listed = false;
		if (strcmp(c->service, node->service) != 0 || !pubsub_caps_wants(ps, c, node->name))
			continue;
		/* An explicit subscription of its full or bare JID already
		 * reaches this client. */
		size_t bare_len = strcspn(c->jid, "/");
		for (size_t i = 0; i < *n_r && !listed; i++) {
			const char *jid = (*subs_r)[i].jid;
			listed = strcmp(jid, c->jid) == 0 ||
				 (strlen(jid) == bare_len && strncmp(jid, c->jid, bare_len) == 0);
		}
		if (listed)
			continue;
		*subs_r = xrealloc(*subs_r, (*n_r + 1) * sizeof(**subs_r));
		(*subs_r)[*n_r] = (struct pubsub_subscription){
			.node = xstrdup(node->name),
			.jid = xstrdup(c->jid),
			.subid = xstrdup(""),
			.state = PUBSUB_SUB_SUBSCRIBED,
			.deliver = true,
		};
		(*n_r)++;
	}
}

/* The newest item of every node of the contact's service it asks for,
 * each as a notification to it alone (so the access model decides). */
static void pubsub_caps_send_last(struct pubsub *ps, struct pubsub_caps_contact *c)
{
	const char *was = ps->service;
	char **names;
	size_t n;

	c->send_last = false;
	if (pubsub_store_node_names(ps->store, c->service, &names, &n) != PUBSUB_STORE_OK) {
		JLOG_ERROR(0, "PEP nodes of %s: %s", c->service, pubsub_store_error(ps->store));
		return;
	}
	ps->service = c->service;
	for (size_t i = 0; i < n; i++) {
		struct pubsub_node node;
		struct stanza *ev;
		if (!pubsub_caps_wants(ps, c, names[i]) ||
		    pubsub_store_node_get(ps->store, c->service, names[i], &node) != PUBSUB_STORE_OK)
			continue;
		ev = node.config.deliver_notifications ? pubsub_publish_last_event(ps, &node) : NULL;
		if (ev != NULL) {
			struct pubsub_subscription sub = {
				.node = node.name,
				.jid = c->jid,
				.subid = (char *)"",
				.state = PUBSUB_SUB_SUBSCRIBED,
				.deliver = true,
			};
			pubsub_notify_subs(ps, &node, ev, &sub, 1);
			stanza_unref(&ev);
		}
		pubsub_node_clear(&node);
	}
	ps->service = was;
	pubsub_store_names_free(names, n);
}

/* Ask c's client what its ver means (from the account, through sm). */
static void pubsub_caps_ask(struct pubsub *ps, struct pubsub_caps_ver *v,
			    const struct pubsub_caps_contact *c, const char *caps_node,
			    const char *ver)
{
	struct stanza *iq = stanza_new("iq", STREAM_NS_COMPONENT);
	struct stanza *q = stanza_add_child(iq, "query", PUBSUB_NS_DISCO_INFO);
	char rnd[2 * PUBSUB_ID_BYTES + 1];
	struct buf node = {0};

	pubsub_new_id(rnd);
	snprintf(v->id, sizeof(v->id), "caps-%s", rnd);
	free(v->asked);
	free(v->asked_for);
	v->asked = xstrdup(c->jid);
	v->asked_for = xstrdup(c->service);
	v->deadline = uv_now(ps->loop) + PUBSUB_CAPS_TIMEOUT_MS;
	buf_printf(&node, "%s#%s", caps_node, ver);
	stanza_set_attr(iq, "type", "get");
	stanza_set_attr(iq, "id", v->id);
	stanza_set_attr(iq, "to", c->jid);
	stanza_set_attr(q, "node", node.data);
	pubsub_pep_send(ps, c->service, iq);
	buf_free(&node);
	stanza_unref(&iq);
}

static void pubsub_caps_unavailable(struct pubsub *ps, const char *service, const char *jid)
{
	struct pubsub_caps_contact **p = pubsub_caps_contact_find(ps, service, jid);
	struct pubsub_caps_contact *c = *p;

	if (c != NULL) {
		*p = c->next;
		pubsub_caps_contact_free(c);
	}
}

void pubsub_caps_presence(struct pubsub *ps, const char *service, const struct stanza *notice)
{
	const char *type = stanza_get_attr(notice, "type");
	const char *caps_node = stanza_get_attr(notice, "node");
	const char *ver = stanza_get_attr(notice, "ver");
	const char *hash = stanza_get_attr(notice, "hash");
	const char *replay = stanza_get_attr(notice, "replay");
	char *jid = pubsub_full_jid(stanza_get_attr(notice, "jid"));
	struct pubsub_caps_contact *c;
	struct pubsub_caps_ver *v = NULL;
	struct buf key = {0};

	if (jid == NULL)
		return;
	if (type != NULL && strcmp(type, "unavailable") == 0) {
		pubsub_caps_unavailable(ps, service, jid);
		free(jid);
		return;
	}
	if (caps_node != NULL && ver != NULL) {
		if (hash != NULL)
			buf_printf(&key, "%s", ver);
		else
			buf_printf(&key, "%s#%s", caps_node, ver);
	}
	c = *pubsub_caps_contact_find(ps, service, jid);
	if (c != NULL && (c->key == NULL ? key.data == NULL
					 : key.data != NULL && strcmp(c->key, key.data) == 0)) {
		/* A presence update with the same caps: nothing new. */
		buf_free(&key);
		free(jid);
		return;
	}
	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		c->service = xstrdup(service);
		c->jid = jid;
		c->next = ps->contacts;
		ps->contacts = c;
	} else {
		free(jid);
		free(c->key);
	}
	c->key = key.data != NULL ? buf_steal(&key) : NULL;
	c->send_last = replay == NULL || strcmp(replay, "true") != 0;
	if (c->key == NULL) {
		c->send_last = false;
		return;
	}
	v = pubsub_caps_ver_find(ps, c->key);
	if (v == NULL) {
		v = xcalloc(1, sizeof(*v));
		v->key = xstrdup(c->key);
		v->hash = hash != NULL && strcmp(hash, "sha-1") == 0 ? xstrdup(hash) : NULL;
		v->next = ps->vers;
		ps->vers = v;
		pubsub_caps_ask(ps, v, c, caps_node, ver);
	} else if (!v->resolved && uv_now(ps->loop) > v->deadline) {
		pubsub_caps_ask(ps, v, c, caps_node, ver); /* the last one never answered */
	} else if (v->resolved && c->send_last) {
		pubsub_caps_send_last(ps, c);
	}
}

bool pubsub_caps_answer(struct pubsub *ps, const char *service, const struct stanza *iq)
{
	const char *id = stanza_get_attr(iq, "id"), *type = stanza_get_attr(iq, "type");
	const struct stanza *q = stanza_find_child(iq, "query", PUBSUB_NS_DISCO_INFO);
	char *from = pubsub_full_jid(stanza_get_attr(iq, "from"));
	struct pubsub_caps_ver *v;

	for (v = ps->vers; v != NULL && id != NULL; v = v->next) {
		if (!v->resolved && v->asked != NULL && strcmp(v->id, id) == 0)
			break;
	}
	if (v == NULL || id == NULL || from == NULL || strcmp(from, v->asked) != 0 ||
	    strcmp(service, v->asked_for) != 0) {
		free(from);
		return false;
	}
	free(from);
	if (type == NULL || strcmp(type, "result") != 0 || q == NULL) {
		/* Asked again when the next contact with this ver shows up. */
		JLOG_INFO(0, "%s gave no disco#info for caps %s", v->asked, v->key);
		v->deadline = 0;
		return true;
	}
	v->resolved = true;
	{
		char *s = pubsub_caps_ver_string(q, &v->features, &v->n_features);
		if (v->hash != NULL && !pubsub_caps_ver_check(s, v->key)) {
			JLOG_INFO(0, "caps ver %s of %s does not match its disco#info: ignored", v->key,
				  v->asked);
			pubsub_caps_ver_strs_free(v->features, v->n_features);
			v->features = NULL;
			v->n_features = 0;
		}
		free(s);
	}
	for (struct pubsub_caps_contact *c = ps->contacts; c != NULL; c = c->next) {
		if (c->send_last && c->key != NULL && strcmp(c->key, v->key) == 0)
			pubsub_caps_send_last(ps, c);
	}
	return true;
}

void pubsub_caps_forget_service(struct pubsub *ps, const char *service)
{
	for (struct pubsub_caps_contact **p = &ps->contacts; *p != NULL;) {
		struct pubsub_caps_contact *c = *p;
		if (strcmp(c->service, service) == 0) {
			*p = c->next;
			pubsub_caps_contact_free(c);
		} else {
			p = &c->next;
		}
	}
}

void pubsub_caps_free(struct pubsub *ps)
{
	while (ps->contacts != NULL) {
		struct pubsub_caps_contact *c = ps->contacts;
		ps->contacts = c->next;
		pubsub_caps_contact_free(c);
	}
	while (ps->vers != NULL) {
		struct pubsub_caps_ver *v = ps->vers;
		ps->vers = v->next;
		pubsub_caps_ver_free(v);
	}
}
