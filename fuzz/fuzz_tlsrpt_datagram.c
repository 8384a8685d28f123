/*
 * fuzz_tlsrpt_datagram - tlsrpt_dgram_decode (libtlsrpt's datagrams, which
 * any local process able to write the collector's socket can send).
 *
 * Invariants (abort() on violation): the return is one of the documented
 * codes; on success there are 1..TLSRPT_DGRAM_POLICIES_MAX policies, every
 * string field is NUL-terminated in its buffer, lists end with '\n', no
 * string holds a control character other than the list separators, the
 * result types are in range and a failed policy has a failure type; on
 * failure no policy is reported and diag says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrpt_datagram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* clean - NUL-terminated in its buffer, no control character but '\n' (lists only) */
static void clean(const char *s, size_t size, int list)
{
    const char *e = memchr(s, '\0', size);
    CHECK(e != NULL);
    for (const char *p = s; p < e; p++)
        CHECK((unsigned char)*p >= 0x20 || (list && *p == '\n'));
    CHECK(!list || e == s || e[-1] == '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tlsrpt_dgram *g;
    struct mxtls_diag d = {0};
    if (g == NULL && (g = malloc(sizeof(*g))) == NULL)
        abort();
    int rc = tlsrpt_dgram_decode(data, size, g, &d);
    CHECK(rc == 0 || rc == MXTLS_EINVAL || rc == MXTLS_ETOOLONG || rc == MXTLS_ENOTFOUND ||
          rc == MXTLS_ENOMEM);
    if (rc != 0) {
        CHECK(g->n == 0 && d.what[0] != '\0');
        return 0;
    }
    CHECK(g->n >= 1 && g->n <= TLSRPT_DGRAM_POLICIES_MAX);
    CHECK(g->version == 0 || g->version == 1);
    clean(g->domain, sizeof(g->domain), 0);
    CHECK(g->domain[0] != '\0');
    for (size_t i = 0; i < g->n; i++) {
        const struct tlsrpt_dgram_policy *p = &g->p[i];
        clean(p->domain, sizeof(p->domain), 0);
        clean(p->strings, sizeof(p->strings), 1);
        clean(p->mx, sizeof(p->mx), 1);
        clean(p->sending_ip, sizeof(p->sending_ip), 0);
        clean(p->mx_host, sizeof(p->mx_host), 0);
        clean(p->ip, sizeof(p->ip), 0);
        clean(p->reason, sizeof(p->reason), 0);
        CHECK((unsigned)p->result < TLSRPT_RESULT_COUNT);
        CHECK(!p->failed || p->result != TLSRPT_SUCCESS);
        CHECK(p->type == TLSRPT_POLICY_NONE || p->type == TLSRPT_POLICY_STS ||
              p->type == TLSRPT_POLICY_TLSA);
    }
    return 0;
}
