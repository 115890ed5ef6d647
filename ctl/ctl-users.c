/* ctl-users.c: `junctionctl adduser | passwd | deluser | users`.
 *
 * These work on sm's store directly (store_open_config(): DATA_DIR/sm.db),
 * not through the router: accounts are sm's data and junctionctl is its
 * administration tool, which must work on a fresh install and while sm is
 * down. SQLite's locks and WAL make it safe with sm running too: each
 * command is one short transaction, sm sees the change at its next query,
 * and the slow part (deriving SCRAM credentials) happens before any lock is
 * taken. The password itself is never stored or printed: it is wiped from
 * memory once both SCRAM credentials (SHA-1, SHA-256) are derived.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "ctl.h"
#include "jid.h"
#include "scram.h"
#include "store.h"

/* The terminal's settings while echo is off, restored by the signal
 * handler so ^C at the prompt does not leave a silent terminal. */
static struct termios ctl_users_saved_tty;
static volatile sig_atomic_t ctl_users_echo_off;

static void ctl_users_on_signal(int sig)
{
	if (ctl_users_echo_off)
		tcsetattr(STDIN_FILENO, TCSANOW, &ctl_users_saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void ctl_users_wipe_free(char **s)
{
	if (*s == NULL)
		return;
	explicit_bzero(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

/* One line from stdin without its line end; NULL at end of input. */
static char *ctl_users_read_line(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);

	if (n < 0) {
		if (line != NULL)
			explicit_bzero(line, cap);
		free(line);
		return NULL;
	}
	if (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	return line;
}

/* Prompt on the terminal with echo off. Echo goes off before the prompt
 * is shown, so nothing typed in answer to it is echoed or, by the flush
 * that switching modes does, discarded. */
static char *ctl_users_prompt(const char *prompt)
{
	struct termios quiet;
	char *line;

	if (tcgetattr(STDIN_FILENO, &ctl_users_saved_tty) == 0) {
		quiet = ctl_users_saved_tty;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		signal(SIGINT, ctl_users_on_signal);
		signal(SIGTERM, ctl_users_on_signal);
		signal(SIGHUP, ctl_users_on_signal);
		ctl_users_echo_off = 1;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	line = ctl_users_read_line();
	if (ctl_users_echo_off) {
		/* TCSANOW: keep what was typed ahead (the confirmation line). */
		tcsetattr(STDIN_FILENO, TCSANOW, &ctl_users_saved_tty);
		ctl_users_echo_off = 0;
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
	}
	return line;
}

/* The new password: argv's when given, else one line of stdin (asked
 * twice, without echo, when stdin is a terminal). NULL after printing why. */
static char *ctl_users_password(const char *given, const char *jid)
{
	char *pw;

	if (given != NULL) {
		pw = xstrdup(given);
	} else if (isatty(STDIN_FILENO)) {
		char prompt[JID_PART_MAX * 2 + 64];
		snprintf(prompt, sizeof(prompt), "Password for %s: ", jid);
		pw = ctl_users_prompt(prompt);
		if (pw != NULL && pw[0] != '\0') {
			char *again = ctl_users_prompt("Again: ");
			bool same = again != NULL && strcmp(again, pw) == 0;
			ctl_users_wipe_free(&again);
			if (!same) {
				fprintf(stderr, "junctionctl: the passwords do not match\n");
				ctl_users_wipe_free(&pw);
				return NULL;
			}
		}
	} else {
		pw = ctl_users_read_line();
	}
	if (pw == NULL) {
		fprintf(stderr, "junctionctl: no password given (none on the command line, "
				"nothing on standard input)\n");
		return NULL;
	}
	if (pw[0] == '\0') {
		fprintf(stderr, "junctionctl: an empty password is not allowed\n");
		ctl_users_wipe_free(&pw);
		return NULL;
	}
	return pw;
}

/* Both credentials for a password, or -1 after printing why. */
static int ctl_users_credentials(const char *password, struct scram_credentials *sha1_r,
				 struct scram_credentials *sha256_r)
{
	if (scram_credentials_new(SCRAM_SHA1, password, STORE_SCRAM_ITERATIONS, sha1_r) < 0 ||
	    scram_credentials_new(SCRAM_SHA256, password, STORE_SCRAM_ITERATIONS, sha256_r) < 0) {
		fprintf(stderr, "junctionctl: the password is not valid UTF-8 or holds characters "
				"SASLprep forbids (control characters, for example)\n");
		return -1;
	}
	return 0;
}

static void ctl_users_not_served(const struct config *config, const char *domain)
{
	size_t n;
	const char *const *domains = config_get_list(config, "junction", "domains", &n);
	struct buf b = {0};

	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", domains[i]);
	fprintf(stderr, "junctionctl: %s is not a domain of this deployment ([junction] domains = %s)\n",
		domain, b.data != NULL ? b.data : "");
	buf_free(&b);
}

/* An account's JID as typed: node@domain, no resource, a served domain.
 * Returns the normalised bare JID (free() it), or NULL after printing why. */
char *ctl_users_account(const struct config *config, const char *text)
{
	struct jid j;
	char *bare = NULL;
	int r = jid_parse(text, -1, &j);

	if (r != JID_OK) {
		fprintf(stderr, "junctionctl: '%s' is not a valid JID: %s\n", text,
			jid_result_string(r));
		return NULL;
	}
	if (j.node == NULL)
		fprintf(stderr, "junctionctl: '%s' has no user part (expected user@domain)\n", text);
	else if (j.resource != NULL)
		fprintf(stderr, "junctionctl: '%s' has a resource; give the bare JID user@domain\n",
			text);
	else if (!config_is_user_domain(config, j.domain, strlen(j.domain)))
		ctl_users_not_served(config, j.domain);
	else
		bare = jid_bare_string(&j);
	jid_clear(&j);
	return bare;
}

struct store *ctl_users_open(const struct config *config)
{
	struct store *store;
	char err[512];

	if (store_open_config(config, &store, err, sizeof(err)) < 0) {
		fprintf(stderr, "junctionctl: %s\n", err);
		return NULL;
	}
	return store;
}

/* A failed store call: the message that goes with its result. */
void ctl_users_fail(struct store *store, int r, const char *jid)
{
	if (r == STORE_ERR_EXISTS)
		fprintf(stderr, "junctionctl: %s already exists\n", jid);
	else if (r == STORE_ERR_NOT_FOUND)
		fprintf(stderr, "junctionctl: no such account: %s\n", jid);
	else
		fprintf(stderr, "junctionctl: %s\n", store_error(store));
}

/* adduser and passwd: the same steps, differing in the existence check and
 * the final call. Existence is checked before asking for a password, so an
 * operator is not asked to type one for nothing; the write re-checks it. */
static int ctl_users_set_password(const struct config *config, const char *text,
				  const char *password, bool create)
{
	struct scram_credentials sha1, sha256;
	struct store *store = NULL;
	char *jid, *pw = NULL;
	int ret = 1, r;

	if ((jid = ctl_users_account(config, text)) == NULL)
		return 1;
	if ((store = ctl_users_open(config)) == NULL)
		goto out;
	r = store_account_exists(store, jid);
	if (create && r == STORE_OK)
		r = STORE_ERR_EXISTS;
	else if (create && r == STORE_ERR_NOT_FOUND)
		r = STORE_OK;
	if (r < 0) {
		ctl_users_fail(store, r, jid);
		goto out;
	}
	if ((pw = ctl_users_password(password, jid)) == NULL)
		goto out;
	r = ctl_users_credentials(pw, &sha1, &sha256);
	ctl_users_wipe_free(&pw);
	if (r < 0)
		goto out;
	if (create)
		r = store_account_create(store, jid, &sha1, &sha256);
	else
		r = store_account_set_credentials(store, jid, &sha1, &sha256);
	explicit_bzero(&sha1, sizeof(sha1));
	explicit_bzero(&sha256, sizeof(sha256));
	if (r < 0) {
		ctl_users_fail(store, r, jid);
		goto out;
	}
	ret = 0;
out:
	store_close(&store);
	free(jid);
	return ret;
}

int ctl_adduser(const struct config *config, const char *jid, const char *password)
{
	return ctl_users_set_password(config, jid, password, true);
}

int ctl_passwd(const struct config *config, const char *jid, const char *password)
{
	return ctl_users_set_password(config, jid, password, false);
}

int ctl_deluser(const struct config *config, const char *text)
{
	struct store *store = NULL;
	char *jid;
	int ret = 1, r;

	if ((jid = ctl_users_account(config, text)) == NULL)
		return 1;
	if ((store = ctl_users_open(config)) == NULL)
		goto out;
	if ((r = store_account_delete(store, jid)) < 0) {
		ctl_users_fail(store, r, jid);
		goto out;
	}
	ret = 0;
out:
	store_close(&store);
	free(jid);
	return ret;
}

int ctl_users(const struct config *config, const char *text)
{
	struct store *store = NULL;
	struct jid j = {0};
	char **jids = NULL;
	size_t n = 0;
	int ret = 1, r;

	if (text != NULL) {
		r = jid_parse(text, -1, &j);
		if (r != JID_OK || j.node != NULL || j.resource != NULL) {
			fprintf(stderr, "junctionctl: '%s' is not a domain name%s%s\n", text,
				r != JID_OK ? ": " : "", r != JID_OK ? jid_result_string(r) : "");
			goto out;
		}
		if (!config_is_user_domain(config, j.domain, strlen(j.domain))) {
			ctl_users_not_served(config, j.domain);
			goto out;
		}
	}
	if ((store = ctl_users_open(config)) == NULL)
		goto out;
	if ((r = store_account_list(store, j.domain, &jids, &n)) < 0) {
		ctl_users_fail(store, r, "");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s\n", jids[i]);
	ret = fflush(stdout) == 0 ? 0 : 1;
out:
	store_strings_free(&jids, n);
	store_close(&store);
	jid_clear(&j);
	return ret;
}
