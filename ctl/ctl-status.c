/* ctl-status.c: `junctionctl status`: the running processes (from their
 * pid files), then the router's streams and bound names
 * (urn:junction:component:1 status) as a table, with each stream's queue
 * and each sm's sessions. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl-link.h"
#include "ctl.h"
#include "stanza.h"
#include "stream.h"

#define CTL_NS_EXT "urn:junction:component:1"
#define CTL_NS_SESSION "urn:junction:session:1"

static const char *ctl_attr(const struct stanza *st, const char *name)
{
	const char *v = stanza_get_attr(st, name);
	return v != NULL ? v : "-";
}

/* Does stream s hold one of the users' domains in shared mode (an sm)? */
static bool ctl_status_is_sm(const struct config *config, const struct stanza *s)
{
	for (size_t j = 0; j < stanza_count_child_elements(s); j++) {
		struct stanza *b = stanza_child_element(s, j);
		const char *name = ctl_attr(b, "name");
		if (strcmp(ctl_attr(b, "mode"), "shared") == 0 &&
		    config_is_user_domain(config, name, strlen(name)))
			return true;
	}
	return false;
}

/* Ask every sm instance how many sessions it holds. */
static void ctl_status_sessions(struct ctl_link *link, const struct config *config,
				const struct stanza *status)
{
	char err[512];

	for (size_t i = 0; i < stanza_count_child_elements(status); i++) {
		struct stanza *s = stanza_child_element(status, i), *reply = NULL;
		if (strcmp(s->name, "stream") != 0 || !ctl_status_is_sm(config, s))
			continue;
		struct stanza *iq = stanza_new("iq", STREAM_NS_COMPONENT);
		stanza_set_attr(iq, "type", "get");
		stanza_set_attr(iq, "from", ctl_link_name(link));
		stanza_set_attr(iq, "to", ctl_attr(s, "name"));
		stanza_add_child(iq, "status", CTL_NS_SESSION);
		int r = ctl_link_request(link, iq, &reply, err, sizeof(err));
		stanza_unref(&iq);
		struct stanza *st = r == 0 ? stanza_find_child(reply, "status", CTL_NS_SESSION) : NULL;
		if (st != NULL)
			printf("sessions on %s: %s (%s available)\n", ctl_attr(s, "name"),
			       ctl_attr(st, "sessions"), ctl_attr(st, "available"));
		else
			printf("sessions on %s: unknown (%s)\n", ctl_attr(s, "name"),
			       r == 0 ? "no answer" : err);
		stanza_unref(&reply);
	}
}

int ctl_status(const struct config *config)
{
	struct ctl_link *link = NULL;
	struct stanza *reply = NULL;
	char err[512];
	int ret = 1;

	if (ctl_link_open(config, &link, err, sizeof(err)) < 0)
		goto out;
	struct stanza *iq = stanza_new("iq", STREAM_NS_COMPONENT);
	stanza_set_attr(iq, "type", "get");
	stanza_add_child(iq, "status", CTL_NS_EXT);
	int r = ctl_link_request(link, iq, &reply, err, sizeof(err));
	stanza_unref(&iq);
	if (r < 0)
		goto out;
	struct stanza *status = stanza_find_child(reply, "status", CTL_NS_EXT);
	if (status == NULL) {
		struct stanza *e = stanza_find_child(reply, "error", NULL);
		struct stanza *cond = e ? stanza_child_element(e, 0) : NULL;
		snprintf(err, sizeof(err), "router answered %s", cond ? cond->name : "nothing useful");
		goto out;
	}
	printf("router up %ss, protocol version %s\n", ctl_attr(status, "uptime"),
	       ctl_attr(status, "version"));
	printf("%-5s %-32s %-21s %-20s %10s %10s %8s %8s %9s  %s\n", "ID", "NAME", "PEER",
	       "SINCE", "IN", "OUT", "BOUNCED", "REJECTED", "QUEUED", "BINDS");
	for (size_t i = 0; i < stanza_count_child_elements(status); i++) {
		struct stanza *s = stanza_child_element(status, i);
		if (strcmp(s->name, "stream") != 0)
			continue;
		/* Our own link shows up too; leave it out. */
		if (strncmp(ctl_attr(s, "name"), "ctl-", 4) == 0 &&
		    strstr(ctl_attr(s, "name"), ".junction.invalid") != NULL)
			continue;
		printf("%-5s %-32s %-21s %-20s %10s %10s %8s %8s %9s ", ctl_attr(s, "id"),
		       ctl_attr(s, "name"), ctl_attr(s, "peer"), ctl_attr(s, "since"),
		       ctl_attr(s, "in"), ctl_attr(s, "out"), ctl_attr(s, "bounced"),
		       ctl_attr(s, "rejected"), ctl_attr(s, "queued"));
		if (strcmp(ctl_attr(s, "default"), "true") == 0)
			printf(" *default*");
		for (size_t j = 0; j < stanza_count_child_elements(s); j++) {
			struct stanza *b = stanza_child_element(s, j);
			printf(" %s%s", ctl_attr(b, "name"),
			       strcmp(ctl_attr(b, "mode"), "shared") == 0 ? "(shared)" : "");
		}
		printf("\n");
	}
	ctl_status_sessions(link, config, status);
	ret = 0;
out:
	if (ret != 0)
		fprintf(stderr, "junctionctl: %s\n", err);
	/* Also when the router is down: which processes run is the first
	 * thing to know then. */
	printf("\n");
	ctl_status_processes(config);
	stanza_unref(&reply);
	ctl_link_close(&link);
	return ret;
}
