/* bench-expat.c: how fast expat alone parses the benchmark's stanzas.
 *
 * The ceiling any expat-based router can reach on this machine: 200-byte
 * <message/> stanzas like bench-load's, parsed from memory in 64 KiB
 * chunks with empty handlers, with and without namespace processing and a
 * character-data handler. Prints stanzas/s for each variant.
 *
 *   bench/bench-expat [ROUNDS]      (default 500 chunks of 64 KiB)
 */
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Debian's expat 2.5 carries 2.6's reparse deferral, which would batch up
 * callbacks; Junction's parser turns it off, so this does too. */
XML_Bool XML_SetReparseDeferralEnabled(XML_Parser parser, XML_Bool enabled)
	__attribute__((weak));

static int bench_depth;
static long bench_stanzas;

static void XMLCALL bench_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	(void)ud;
	(void)name;
	(void)atts;
	bench_depth++;
}

static void XMLCALL bench_end(void *ud, const XML_Char *name)
{
	(void)ud;
	(void)name;
	if (--bench_depth == 1)
		bench_stanzas++;
}

static void XMLCALL bench_text(void *ud, const XML_Char *s, int len)
{
	(void)ud;
	(void)s;
	(void)len;
}

static double bench_run(const char *chunk, size_t len, int rounds, int ns, int text)
{
	static const char header[] =
		"<stream:stream xmlns='jabber:component:accept' "
		"xmlns:stream='http://etherx.jabber.org/streams' to='bench.localhost'>";
	XML_Parser p = ns ? XML_ParserCreateNS("UTF-8", ' ') : XML_ParserCreate("UTF-8");
	struct timespec a, b;

	if (XML_SetReparseDeferralEnabled != NULL)
		XML_SetReparseDeferralEnabled(p, XML_FALSE);
	XML_SetElementHandler(p, bench_start, bench_end);
	if (text)
		XML_SetCharacterDataHandler(p, bench_text);
	bench_depth = 0;
	bench_stanzas = 0;
	XML_Parse(p, header, (int)strlen(header), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < rounds; i++) {
		if (XML_Parse(p, chunk, (int)len, 0) != XML_STATUS_OK) {
			fprintf(stderr, "parse error: %s\n", XML_ErrorString(XML_GetErrorCode(p)));
			exit(1);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	XML_ParserFree(p);
	return (double)bench_stanzas /
	       ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
}

int main(int argc, char **argv)
{
	static char chunk[65536];
	char body[120];
	size_t len = 0;
	int rounds = argc > 1 ? atoi(argv[1]) : 500;

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	for (int k = 0; len + 300 < sizeof(chunk); k++)
		len += (size_t)snprintf(chunk + len, sizeof(chunk) - len,
					"<message from='u@c0.bench.localhost' "
					"to='u@c1.bench.localhost' id='%d'><body>%.*s</body></message>",
					k, 90, body);
	printf("expat %s, stanzas of about 200 bytes, %d x %zu bytes\n", XML_ExpatVersion(),
	       rounds, len);
	printf("namespaces+text: %.0f/s\n", bench_run(chunk, len, rounds, 1, 1));
	printf("namespaces:      %.0f/s\n", bench_run(chunk, len, rounds, 1, 0));
	printf("plain+text:      %.0f/s\n", bench_run(chunk, len, rounds, 0, 1));
	printf("plain:           %.0f/s\n", bench_run(chunk, len, rounds, 0, 0));
	return 0;
}
