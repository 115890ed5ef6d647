/* stream.c: stream headers, stream errors and stream close (see stream.h). */
#include "stream.h"

#include <string.h>

#include "buf.h"
#include "stanza.h"
#include "xml-parser.h"

static void stream_attr(struct buf *out, const char *name, const char *value)
{
	if (value == NULL)
		return;
	buf_printf(out, " %s='", name);
	buf_append_xml_escaped(out, value, strlen(value), true);
	buf_append_char(out, '\'');
}

void stream_header(struct buf *out, const char *ns, const char *from, const char *to,
		   const char *id)
{
	buf_append_str(out, "<?xml version='1.0'?><stream:stream");
	stream_attr(out, "xmlns", ns);
	stream_attr(out, "xmlns:stream", XML_NS_STREAM);
	stream_attr(out, "from", from);
	stream_attr(out, "to", to);
	stream_attr(out, "id", id);
	buf_append_str(out, " version='1.0'>");
}

void stream_error(struct buf *out, const char *condition, const char *text)
{
	buf_printf(out, "<stream:error><%s xmlns='" STANZA_NS_STREAMS "'/>", condition);
	if (text != NULL) {
		buf_append_str(out, "<text xmlns='" STANZA_NS_STREAMS "'>");
		buf_append_xml_escaped(out, text, strlen(text), false);
		buf_append_str(out, "</text>");
	}
	buf_append_str(out, "</stream:error>");
	stream_close(out);
}

void stream_close(struct buf *out)
{
	buf_append_str(out, "</stream:stream>");
}
