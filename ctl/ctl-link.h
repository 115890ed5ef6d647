/* ctl-link.h: junctionctl's short-lived, blocking link to the router.
 *
 * Connects to [router] listen as a trusted component (handshake with
 * [router] secret, name "ctl-RANDOM.junction.invalid" so it can never clash
 * with a real name), sends one iq request at a time and waits for the
 * matching reply. Every wait is bounded (5 s). Blocking I/O is fine here: a
 * command-line tool has nothing else to do meanwhile.
 *
 *   struct ctl_link *link;
 *   if (ctl_link_open(config, &link, err, sizeof err) < 0) ...
 *   struct stanza *reply;
 *   ctl_link_request(link, iq, &reply, err, sizeof err);   // reply: caller unrefs
 *   ctl_link_close(&link);
 */
#ifndef JUNCTION_CTL_LINK_H
#define JUNCTION_CTL_LINK_H

#include <stddef.h>

struct config;
struct ctl_link;
struct stanza;

int ctl_link_open(const struct config *config, struct ctl_link **link_r, char *err,
		  size_t errlen);
/* Send iq (its id is set here) and wait for the reply with the same id. */
int ctl_link_request(struct ctl_link *link, struct stanza *iq, struct stanza **reply_r, char *err,
		     size_t errlen);
/* The component name the link bound (for 'from' on requests to others). */
const char *ctl_link_name(const struct ctl_link *link);
void ctl_link_close(struct ctl_link **link);

#endif
