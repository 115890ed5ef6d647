/* pubsub-caps-ver.h: XEP-0115 verification strings (section 5.1) and the
 * check of a sha-1 ver (section 5.4), for pubsub-caps.c.
 *
 * Pure functions of a disco#info <query/>: no state, no I/O.
 *
 *   char **features; size_t n;
 *   char *s = pubsub_caps_ver_string(query, &features, &n);
 *   if (!pubsub_caps_ver_check(s, ver)) ... the ver lies
 *   free(s); pubsub_caps_ver_strs_free(features, n);
 */
#ifndef JUNCTION_PUBSUB_CAPS_VER_H
#define JUNCTION_PUBSUB_CAPS_VER_H

#include <stdbool.h>
#include <stddef.h>

struct stanza;

/* S for query: identities, features and extended-information forms, each
 * sorted; the features (sorted) in *features_r, *n_r of them (caller
 * frees both). */
char *pubsub_caps_ver_string(const struct stanza *query, char ***features_r, size_t *n_r);
/* base64(SHA-1(s)) equals ver. */
bool pubsub_caps_ver_check(const char *s, const char *ver);
void pubsub_caps_ver_strs_free(char **v, size_t n);

#endif
