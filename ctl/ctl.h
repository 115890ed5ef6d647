/* ctl.h: junctionctl's commands, one file each.
 *
 * junctionctl.c parses the command line, loads the configuration (which is
 * itself the `check` command's work) and calls one of these. Each returns
 * the process exit status: 0 on success, 1 on failure (with a one-line
 * message on stderr). Commands that talk to the router connect as a trusted
 * component (docs/components.md) over a short-lived blocking socket; the
 * account commands (ctl-users.c) open sm's store file directly instead.
 */
#ifndef JUNCTION_CTL_H
#define JUNCTION_CTL_H

#include <stdbool.h>

struct config;

int ctl_check(const struct config *config);
int ctl_status(const struct config *config);

/* Process control (ctl-process.c). action is "start", "stop" or
 * "restart"; name is a process (router, sm, c2s, pubsub, s2s) or NULL for
 * all of them. reload sends SIGHUP to name's processes, or all. */
int ctl_process(const struct config *config, const char *action, const char *name);
int ctl_reload(const struct config *config, const char *name);
bool ctl_process_known(const char *name);
/* Print the pid files' table: process, pid, running or not. */
void ctl_status_processes(const struct config *config);

/* Account administration on sm's store (docs/accounts.md). jid is as the
 * operator typed it; password NULL means read it from stdin. domain NULL
 * lists every account. */
int ctl_adduser(const struct config *config, const char *jid, const char *password);
int ctl_passwd(const struct config *config, const char *jid, const char *password);
int ctl_deluser(const struct config *config, const char *jid);
int ctl_users(const struct config *config, const char *domain);
/* Print the account's stored vCard (ctl-vcard.c). */
int ctl_vcard_get(const struct config *config, const char *jid);

/* ctl-users.c's helpers for other commands on sm's store: the normalised
 * bare JID of an account as typed (NULL after printing why); the store
 * (NULL after printing why); the message for a failed store call. */
struct store;
char *ctl_users_account(const struct config *config, const char *text);
struct store *ctl_users_open(const struct config *config);
void ctl_users_fail(struct store *store, int r, const char *jid);

#endif
