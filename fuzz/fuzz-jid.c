/* fuzz-jid.c: libFuzzer target for jid_parse().
 *
 * Beyond "does not crash", it checks the properties the router relies on
 * when it compares and forwards addresses: a parsed JID's parts fit the
 * RFC 7622 limits, normalisation is idempotent (the printed form parses
 * back to the same parts), and the ASCII fast path agrees with libidn.
 *
 *   ./configure --enable-fuzz CC=clang && make fuzz/fuzz-jid
 *   ./fuzz/fuzz-jid -max_total_time=60
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int ok, const char *what, const char *detail)
{
	if (!ok) {
		fprintf(stderr, "fuzz-jid: %s: \"%s\"\n", what, detail);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jid j, again, slow;
	char *full;
	int r, r_slow;

	r = jid_parse((const char *)data, (ssize_t)size, &j);
	r_slow = jid_parse_slow((const char *)data, (ssize_t)size, &slow);
	fuzz_check(r == r_slow, "fast and slow paths disagree on the result", "");
	if (r != JID_OK)
		return 0;
	fuzz_check(jid_equal_full(&j, &slow), "fast and slow paths disagree on the parts",
		   j.domain);
	jid_clear(&slow);

	fuzz_check(j.domain != NULL && strlen(j.domain) >= 1 && strlen(j.domain) <= JID_PART_MAX,
		   "domain length", j.domain);
	fuzz_check(j.node == NULL || (strlen(j.node) >= 1 && strlen(j.node) <= JID_PART_MAX),
		   "node length", j.domain);
	fuzz_check(j.resource == NULL ||
			   (strlen(j.resource) >= 1 && strlen(j.resource) <= JID_PART_MAX),
		   "resource length", j.domain);

	full = jid_full_string(&j);
	r = jid_parse(full, -1, &again);
	fuzz_check(r == JID_OK, "normalised form does not parse", full);
	fuzz_check(jid_equal_full(&j, &again), "normalisation is not idempotent", full);
	free(full);
	jid_clear(&again);
	jid_clear(&j);
	return 0;
}
