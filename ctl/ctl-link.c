/* ctl-link.c: the blocking component-protocol client junctionctl uses
 * (see ctl-link.h). */
#include "ctl-link.h"

#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "digest.h"
#include "stanza.h"
#include "stream.h"
#include "xml-parser.h"

#define CTL_LINK_TIMEOUT_S 5

struct ctl_link {
	int fd;
	struct xml_parser *parser;
	char *stream_id;
	bool closed;
	struct stanza *received; /* the last top-level element, until taken */
	bool event;              /* a callback ran during the last feed */
	unsigned next_id;
	char name[64];           /* the name this link bound */
};

static int ctl_link_on_open(void *ctx, const struct xml_parser_stream_open *open)
{
	struct ctl_link *link = ctx;
	link->stream_id = xstrdup(open->id != NULL ? open->id : "");
	link->event = true;
	return 0;
}

static int ctl_link_on_stanza(void *ctx, const struct xml_parser_stanza *st)
{
	struct ctl_link *link = ctx;
	stanza_unref(&link->received);
	link->received = stanza_ref(st->tree);
	link->event = true;
	return 0;
}

static int ctl_link_on_close(void *ctx)
{
	struct ctl_link *link = ctx;
	link->closed = true;
	link->event = true;
	return 0;
}

static const struct xml_parser_callbacks ctl_link_callbacks = {
	.stream_open = ctl_link_on_open,
	.stanza = ctl_link_on_stanza,
	.stream_close = ctl_link_on_close,
};

static int ctl_link_send(struct ctl_link *link, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(link->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read byte by byte until the parser reports an event: simple, and the
 * amounts here are tiny, so no event is ever left unseen in a buffer. */
static int ctl_link_wait_event(struct ctl_link *link, char *err, size_t errlen)
{
	char c;
	link->event = false;
	while (!link->event) {
		ssize_t n = recv(link->fd, &c, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "router closed the connection%s%s",
				 n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			return -1;
		}
		int r = xml_parser_feed(link->parser, &c, 1);
		if (r < 0) {
			snprintf(err, errlen, "bad XML from router: %s",
				 xml_parser_error_text(link->parser));
			return -1;
		}
	}
	return 0;
}

static int ctl_link_connect(const struct config *config, char *err, size_t errlen)
{
	const char *listen = config_get(config, "router", "listen");
	char host[256], port_s[8];
	unsigned port;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int fd = -1;

	if (config_parse_hostport(listen, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "bad [router] listen %s", listen);
		return -1;
	}
	snprintf(port_s, sizeof(port_s), "%u", port);
	hints.ai_flags = AI_NUMERICSERV;
	int r = getaddrinfo(host, port_s, &hints, &ai);
	if (r != 0) {
		snprintf(err, errlen, "%s: %s", listen, gai_strerror(r));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	struct timeval tv = {.tv_sec = CTL_LINK_TIMEOUT_S};
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		snprintf(err, errlen, "cannot connect to the router at %s: %s", listen,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

int ctl_link_open(const struct config *config, struct ctl_link **link_r, char *err, size_t errlen)
{
	struct ctl_link *link = xcalloc(1, sizeof(*link));
	char rnd[17], digest[DIGEST_SHA1_HEX_LEN + 1];
	char *name = link->name;
	struct buf b = {0};

	link->fd = ctl_link_connect(config, err, errlen);
	if (link->fd < 0)
		goto fail;
	link->parser = xml_parser_new(NULL, XML_PARSER_MODE_TREE, &ctl_link_callbacks, link);
	digest_random_hex(rnd, 8);
	snprintf(name, sizeof(link->name), "ctl-%s.junction.invalid", rnd);
	stream_header(&b, STREAM_NS_COMPONENT, NULL, name, NULL);
	if (ctl_link_send(link, b.data, b.len) < 0 || ctl_link_wait_event(link, err, errlen) < 0)
		goto fail;
	if (link->stream_id == NULL) {
		snprintf(err, errlen, "router sent no stream header");
		goto fail;
	}
	digest_sha1_hex2(link->stream_id, config_get(config, "router", "secret"), digest);
	buf_reset(&b);
	buf_printf(&b, "<handshake>%s</handshake>", digest);
	if (ctl_link_send(link, b.data, b.len) < 0 || ctl_link_wait_event(link, err, errlen) < 0)
		goto fail;
	if (link->received == NULL || strcmp(link->received->name, "handshake") != 0) {
		struct stanza *cond = link->received ? stanza_child_element(link->received, 0) : NULL;
		snprintf(err, errlen, "router refused the handshake%s%s",
			 cond ? ": " : " (is [router] secret right?)", cond ? cond->name : "");
		goto fail;
	}
	stanza_unref(&link->received);
	buf_free(&b);
	*link_r = link;
	return 0;
fail:
	buf_free(&b);
	ctl_link_close(&link);
	return -1;
}

int ctl_link_request(struct ctl_link *link, struct stanza *iq, struct stanza **reply_r, char *err,
		     size_t errlen)
{
	char id[16];
	struct buf b = {0};

	snprintf(id, sizeof(id), "ctl%u", ++link->next_id);
	stanza_set_attr(iq, "id", id);
	stanza_serialize(iq, STREAM_NS_COMPONENT, &b);
	int r = ctl_link_send(link, b.data, b.len);
	buf_free(&b);
	if (r < 0) {
		snprintf(err, errlen, "cannot send to the router: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		if (ctl_link_wait_event(link, err, errlen) < 0)
			return -1;
		if (link->closed) {
			snprintf(err, errlen, "router closed the stream");
			return -1;
		}
		struct stanza *st = link->received;
		const char *rid = st != NULL ? stanza_get_attr(st, "id") : NULL;
		if (st != NULL && strcmp(st->name, "iq") == 0 && rid != NULL &&
		    strcmp(rid, id) == 0) {
			*reply_r = st;
			link->received = NULL;
			return 0;
		}
		if (st != NULL && strcmp(st->name, "error") == 0) {
			struct stanza *cond = stanza_child_element(st, 0);
			snprintf(err, errlen, "stream error from router: %s",
				 cond ? cond->name : "?");
			return -1;
		}
	}
}

const char *ctl_link_name(const struct ctl_link *link)
{
	return link->name;
}

void ctl_link_close(struct ctl_link **link_p)
{
	struct ctl_link *link = *link_p;
	if (link == NULL)
		return;
	if (link->fd >= 0) {
		static const char bye[] = "</stream:stream>";
		(void)ctl_link_send(link, bye, sizeof(bye) - 1);
		close(link->fd);
	}
	xml_parser_free(&link->parser);
	stanza_unref(&link->received);
	free(link->stream_id);
	free(link);
	*link_p = NULL;
}
