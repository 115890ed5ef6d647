/* ctl.h: junctionctl's commands, one file each.
 *
 * junctionctl.c parses the command line, loads the configuration (which is
 * itself the `check` command's work) and calls one of these. Each returns
 * the process exit status: 0 on success, 1 on failure (with a one-line
 * message on stderr). Commands that talk to the router connect as a trusted
 * component (docs/components.md) over a short-lived blocking socket.
 */
#ifndef JUNCTION_CTL_H
#define JUNCTION_CTL_H

struct config;

int ctl_check(const struct config *config);
int ctl_status(const struct config *config);

#endif
