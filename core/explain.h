/*
 * explain - a lookup result as JSON, for `mxtls query` and the daemon's
 * explain request: the reply, the rule that gave it, the DANE facts (MX
 * answer, each host's addresses, TLSA RRset and which records are usable and
 * why), the MTA-STS state (policy id, mode, mx patterns, max_age, cache
 * age, failure) and, with a persistent cache, its store's health
 * ("cache_store": writes not on disk yet, the oldest one's age, failed and
 * dropped writes, a file lost while running or found empty at start). Compact, ASCII-only
 * (non-ASCII escaped), one line.
 */
#ifndef CORE_EXPLAIN_H
#define CORE_EXPLAIN_H

#include "lookup.h"

/*
 * The socketmap map name of the explain request: "mxtls-explain ZONE
 * NEXTHOP", answered "OK <JSON>" (explain_json), what `mxtls query` asks.
 */
#define SESSION_EXPLAIN_NAME "mxtls-explain"

/* explain_json - the JSON text (heap, caller frees), or NULL when out of memory. */
char *explain_json(const struct lookup_result *r);

/*
 * explain_not_looked_up_json - the explanation for a key mxtlsd answers
 * NOTFOUND without a lookup (DESIGN.md: parent-domain probes, IP literals,
 * invalid names): the key as received, why, and the reply. Heap, or NULL.
 */
char *explain_not_looked_up_json(const char *key, size_t key_len, const char *why);

#endif
