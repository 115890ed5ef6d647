/* rendezvous.h: the rendezvous (highest-random-weight) score that picks
 * which instance of a shared name serves a user.
 *
 * The router routes a stanza for a shared name to the holder whose
 * instance (handshake) name scores highest with the recipient's
 * normalised bare JID (docs/components.md section 2, rule 2); sm computes
 * the same to know which users it owns when instances come and go
 * (docs/components.md section 6, "Scale-out and scale-in"). Both must
 * agree bit for bit, hence one function.
 *
 *   uint64_t s = rendezvous_score("juliet@example.org", 18, "sm1.example.org");
 */
#ifndef JUNCTION_RENDEZVOUS_H
#define JUNCTION_RENDEZVOUS_H

#include <stddef.h>
#include <stdint.h>

#define RENDEZVOUS_FNV_OFFSET 0xcbf29ce484222325ULL

/* 64-bit FNV-1a of len bytes of s, continuing from h (start with
 * RENDEZVOUS_FNV_OFFSET); also the router's hash of bound names. */
uint64_t rendezvous_fnv(uint64_t h, const char *s, size_t len);
/* The score of (bare, instance); bare needs no NUL (bare_len bytes). */
uint64_t rendezvous_score(const char *bare, size_t bare_len, const char *instance);

#endif
