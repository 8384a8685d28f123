/*
 * fake_net - a scripted network for the pipeline's unit tests (core/net.h):
 * DNS answers and HTTPS policy fetches come from a script the test writes,
 * are delivered only when the test runs the fake loop (fake_run), never
 * from inside the call that started them, and every query, cancel and
 * fetch is counted. The clock is the test's (fake_time). Unbound's
 * testcode/fake_event.c swaps its network the same way.
 *
 * A question without a script line is answered FAILED ("not scripted"), so
 * a test that forgot one fails visibly. One process-wide fake: a test
 * calls fake_reset() first.
 */
#ifndef MXTLS_TEST_FAKE_NET_H
#define MXTLS_TEST_FAKE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

#define FAKE_RDATA_MAX 300 /* records in one scripted answer */

/* One scripted DNS answer for (name, rrtype). */
struct fake_dns {
    char name[256];
    int rrtype;
    enum decide_dns status;
    bool nxdomain;
    bool refuse; /* dns_query itself fails (MXTLS_EAGAIN) */
    bool hold;   /* not answered until fake_release */
    uint32_t ttl;
    char canon[256]; /* "" = no CNAME followed */
    const char *why;
    size_t n;
    unsigned char *data[FAKE_RDATA_MAX];
    size_t len[FAKE_RDATA_MAX];
};

extern int64_t fake_time;         /* the clock net->now() reads */
extern unsigned fake_n_cancelled; /* dns_cancel calls */
extern unsigned fake_n_fetches;   /* fetch_policy calls */
extern char fake_last_fetch_addr[64];

/* fake_reset - forget the script, pending work and counters; fill *net. */
void fake_reset(struct pipeline_net *net);

/* fake_answer - add a scripted answer (latest wins for the same question). */
struct fake_dns *fake_answer(const char *name, int rrtype, enum decide_dns status, uint32_t ttl);

/* Record builders (wire RDATA). */
void fake_mx(struct fake_dns *a, uint16_t pref, const char *host); /* host "." for null MX */
void fake_a(struct fake_dns *a, const char *v4);
void fake_aaaa(struct fake_dns *a, const char *v6);
void fake_txt(struct fake_dns *a, const char *text);
void fake_tlsa(struct fake_dns *a, unsigned usage, unsigned selector, unsigned mtype);

/* fake_fetch_ok / fake_fetch_fail - the policy served for domain, or the failure. */
void fake_fetch_ok(const char *domain, const char *body);
void fake_fetch_fail(const char *domain, enum decide_sts_failure failure, const char *reason);

/* fake_run - deliver every pending answer and fetch (and those they start); how many. */
unsigned fake_run(void);

/* fake_release - answer held questions for (name, rrtype) at the next fake_run. */
void fake_release(const char *name, int rrtype);

/* fake_pending - questions and fetches not answered yet (held ones included). */
unsigned fake_pending(void);

/* fake_asked - how many times (name, rrtype) was asked (rrtype 0: any type). */
unsigned fake_asked(const char *name, int rrtype);

#endif
