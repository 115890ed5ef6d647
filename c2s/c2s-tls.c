/* c2s-tls.c: the TLS layer between a client's conn and its parser.
 *
 * Without TLS, bytes go straight from the conn to the parser and from
 * c2s_client_send() to conn_send(). With it (after <proceed/>, or from
 * accept on listen_tls) every read is fed to common/tls.c as ciphertext and
 * the plaintext it yields goes to the parser; output is written as plaintext
 * and the ciphertext it produced is queued on the conn at once, so the conn
 * layer's once-per-turn flush sends it. Ciphertext is also drained after
 * every read (handshake replies, alerts) and after a failure.
 */
#include <stdio.h>
#include <string.h>

#include "c2s.h"
#include "conn.h"
#include "log.h"
#include "tls.h"

static void c2s_tls_drain(struct c2s_client *client)
{
	struct buf b = {0};

	if (client->tls == NULL)
		return;
	if (tls_take_ciphertext(client->tls, &b) > 0)
		conn_send(client->conn, b.data, b.len);
	buf_free(&b);
}

int c2s_tls_attach(struct c2s_client *client)
{
	client->tls = tls_new(client->c2s->tls_ctx, true, NULL);
	if (client->tls == NULL) {
		JLOG_WARN(client->id, "cannot create a TLS session");
		return -1;
	}
	return 0;
}

void c2s_tls_output(struct c2s_client *client, const void *data, size_t len)
{
	if (client->tls == NULL) {
		conn_send(client->conn, data, len);
		return;
	}
	if (tls_write_plaintext(client->tls, data, len) != TLS_OK)
		JLOG_DEBUG(client->id, "TLS write failed: %s", tls_error_string(client->tls));
	c2s_tls_drain(client);
}

void c2s_tls_shutdown(struct c2s_client *client)
{
	if (client->tls == NULL)
		return;
	(void)tls_shutdown(client->tls);
	c2s_tls_drain(client);
}

static void c2s_tls_fail(struct c2s_client *client, const char *why)
{
	JLOG_INFO(client->id, "TLS with %s failed: %s", client->conn->peer, why);
	c2s_tls_drain(client); /* the alert, if any */
	if (client->state != C2S_CLIENT_CLOSING) {
		client->state = C2S_CLIENT_CLOSING;
		c2s_sm_session_end(client);
		conn_close(client->conn, true, C2S_LINGER_MS);
	}
}

void c2s_tls_input(struct c2s_client *client, const char *data, size_t len)
{
	char pt[C2S_TLS_READ_CHUNK];

	if (client->state == C2S_CLIENT_CLOSING)
		return;
	if (client->tls == NULL) {
		c2s_client_feed(client, data, len);
		return;
	}
	if (tls_feed_ciphertext(client->tls, data, len) != TLS_OK) {
		c2s_tls_fail(client, tls_error_string(client->tls));
		return;
	}
	for (;;) {
		/* The parser may have closed the client, or restarted the
		 * stream; a restart keeps the TLS layer, so go on reading. */
		if (client->state == C2S_CLIENT_CLOSING || client->tls == NULL)
			break;
		ssize_t n = tls_read_plaintext(client->tls, pt, sizeof(pt));
		if (n > 0) {
			c2s_client_feed(client, pt, (size_t)n);
			continue;
		}
		if (n == TLS_CLOSED) {
			JLOG_DEBUG(client->id, "TLS close_notify from the client");
			if (client->state != C2S_CLIENT_CLOSING) {
				c2s_tls_shutdown(client);
				client->state = C2S_CLIENT_CLOSING;
				c2s_sm_session_end(client);
				conn_close(client->conn, true, C2S_LINGER_MS);
			}
		} else if (n == TLS_ERROR) {
			c2s_tls_fail(client, tls_error_string(client->tls));
		}
		break;
	}
	c2s_tls_drain(client);
}
