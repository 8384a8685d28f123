/*
 * cmd_tlsrpt_collect - `mxtls tlsrpt collect`: the TLS-RPT collector (issue 12).
 *
 * Reads Postfix's log (smtp(8) TLS outcomes, lib/postfix_log.c) and mxtlsd's
 * tlsrpt-policy records (core/decision_log.c) from files, or stdin, and counts
 * each session under the policy mxtlsd applied for its next-hop in the store
 * (io/tlsrpt_sessions.c). Files are read from the position remembered in the
 * store (same inode, not shorter, same first line), else from the start; with
 * --follow it keeps reading, notices rotation (a new inode at the path: the
 * old file is read to its end first) and truncation (the file shrank: read
 * from the start). Each batch of lines and the new position are one SQLite
 * transaction, so a crash or restart counts nothing twice and loses nothing
 * written before the last commit. Bad lines are counted, never fatal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "mxtls/postfix_log.h"
#include "tlsrpt_config.h"
#include "tlsrpt_datagram.h"
#include "tlsrpt_sessions.h"

#define CHUNK       (1024 * 1024)      /* read size */
#define BATCH_BYTES (64 * 1024 * 1024) /* read per transaction at most */
#define MAX_SOURCES 8

struct source {
    const char *path; /* "-" for stdin */
    int fd;
    uint64_t ino, off, head;
    char *buf; /* a partial line, at most POSTFIX_LOG_LINE_MAX + CHUNK */
    size_t len;
    bool skipping; /* inside a line longer than POSTFIX_LOG_LINE_MAX */
};

/* ------------------------------------------------------------ in-memory batch */

/*
 * One batch of counts, aggregated before it is written: key = the fields of
 * a counts or failures row joined by NUL octets (log lines with NUL are
 * refused, so no field holds one), value = sessions.
 */
struct agg_entry {
    uint64_t hash; /* 0: empty */
    char *key;
    size_t klen;
    int64_t n;
    int64_t nf; /* agg_flush's per-policy sums: the failed sessions (n: the successful) */
};

struct agg {
    struct agg_entry *e;
    size_t cap, used;
};

#define AGG_FIELDS    10
#define AGG_FLUSH_MAX 65536 /* distinct rows held before a write */

/* fnv - FNV-1a 64 of (p, n), never 0 */
static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h != 0 ? h : 1;
}

/* agg_grow - double the table; -1 when out of memory */
static int agg_grow(struct agg *a)
{
    size_t cap = a->cap != 0 ? a->cap * 2 : 1024;
    struct agg_entry *e = calloc(cap, sizeof(*e));
    if (e == NULL)
        return -1;
    for (size_t i = 0; i < a->cap; i++) {
        if (a->e[i].hash == 0)
            continue;
        size_t j = a->e[i].hash & (cap - 1);
        while (e[j].hash != 0)
            j = (j + 1) & (cap - 1);
        e[j] = a->e[i];
    }
    free(a->e);
    a->e = e;
    a->cap = cap;
    return 0;
}

/* agg_add2 - count n (and nf) under the row named by fields[AGG_FIELDS]; -1 when out of memory */
static int agg_add2(struct agg *a, const char *const *fields, int64_t n, int64_t nf)
{
    char key[POSTFIX_LOG_POLICY_MAX + POSTFIX_LOG_MX_MAX + 2048];
    size_t k = 0;
    for (int i = 0; i < AGG_FIELDS; i++) {
        size_t l = strlen(fields[i] != NULL ? fields[i] : "");
        if (k + l + 1 > sizeof(key))
            l = sizeof(key) - k - 1;
        memcpy(key + k, fields[i] != NULL ? fields[i] : "", l);
        k += l;
        key[k++] = '\0';
    }
    if ((a->used + 1) * 2 > a->cap && agg_grow(a) != 0)
        return -1;
    uint64_t h = fnv(key, k);
    size_t j = h & (a->cap - 1);
    for (; a->e[j].hash != 0; j = (j + 1) & (a->cap - 1)) {
        if (a->e[j].hash == h && a->e[j].klen == k && memcmp(a->e[j].key, key, k) == 0) {
            a->e[j].n += n;
            a->e[j].nf += nf;
            return 0;
        }
    }
    if ((a->e[j].key = malloc(k)) == NULL)
        return -1;
    memcpy(a->e[j].key, key, k);
    a->e[j].hash = h;
    a->e[j].klen = k;
    a->e[j].n = n;
    a->e[j].nf = nf;
    a->used++;
    return 0;
}

/* agg_add - count n under the row named by fields[AGG_FIELDS]; -1 when out of memory */
static int agg_add(struct agg *a, const char *const *fields, int64_t n)
{
    return agg_add2(a, fields, n, 0);
}

/* agg_free - release every row */
static void agg_free(struct agg *a)
{
    for (size_t i = 0; i < a->cap; i++)
        free(a->e[i].key);
    free(a->e);
    memset(a, 0, sizeof(*a));
}

/* policy_type - the enum of a policy-type name as agg keys hold it */
static enum tlsrpt_policy_type policy_type(const char *t)
{
    return t[0] == 's' ? TLSRPT_POLICY_STS : t[0] == 't' ? TLSRPT_POLICY_TLSA : TLSRPT_POLICY_NONE;
}

/*
 * agg_flush - write every row to the store (inside the caller's transaction)
 * and empty it. The failure-details rows are written one by one; the summary
 * rows are summed per policy first (successes and failures of one policy: one
 * write, not one per distinct failure).
 */
static int agg_flush(struct agg *a, struct tlsrpt_sessions *store, struct mxtls_diag *d)
{
    int rc = 0;
    struct agg pol = {0};
    for (size_t i = 0; i < a->cap; i++) {
        struct agg_entry *e = &a->e[i];
        if (e->hash == 0)
            continue;
        const char *f[AGG_FIELDS];
        const char *p = e->key;
        for (int k = 0; k < AGG_FIELDS; k++) {
            f[k] = p;
            p += strlen(p) + 1;
        }
        enum tlsrpt_result r = TLSRPT_SUCCESS;
        if (rc == 0 && (f[5][0] == '\0' || tlsrpt_result_parse(f[5], strlen(f[5]), &r) == 0)) {
            const char *pf[AGG_FIELDS] = {f[0], f[1], f[2], f[3], f[4], "", "", "", "", ""};
            if (agg_add2(&pol, pf, r == TLSRPT_SUCCESS ? e->n : 0,
                         r == TLSRPT_SUCCESS ? 0 : e->n) != 0)
                rc = mxtls_diag_set(d, MXTLS_ENOMEM, 0, "out of memory");
            else if (r != TLSRPT_SUCCESS)
                rc = tlsrpt_sessions_add_detail(store, f[0], f[1], policy_type(f[2]), f[3], f[4], r,
                                                f[6], f[7], f[8], f[9], e->n, d);
        }
        free(e->key);
        memset(e, 0, sizeof(*e));
    }
    a->used = 0;
    for (size_t i = 0; i < pol.cap && rc == 0; i++) {
        struct agg_entry *e = &pol.e[i];
        if (e->hash == 0)
            continue;
        const char *f[5];
        const char *p = e->key;
        for (int k = 0; k < 5; k++) {
            f[k] = p;
            p += strlen(p) + 1;
        }
        rc = tlsrpt_sessions_add_counts(store, f[0], f[1], policy_type(f[2]), f[3], f[4], e->n,
                                        e->nf, d);
    }
    agg_free(&pol);
    return rc;
}

/* ------------------------------------------------------------ policy cache */

/* What mxtlsd applied for one next-hop, as the join needs it (compact copies). */
struct cpolicy {
    enum tlsrpt_policy_type type;
    enum tlsrpt_result failure;
    char *domain, *strings, *mx;
};

struct cpol {
    uint64_t hash; /* of the next-hop; 0 = empty */
    char *nexthop;
    struct cpolicy *p; /* NULL: the store has none (no-policy-found) */
};

/* cpolicy_free - NULL is a no-op */
static void cpolicy_free(struct cpolicy *p)
{
    if (p == NULL)
        return;
    free(p->domain);
    free(p->strings);
    free(p->mx);
    free(p);
}

struct pcache {
    struct cpol *e;
    size_t cap, used;
};

#define PCACHE_MAX 100000 /* next-hops held; more: the cache starts again */

/* pcache_clear - forget every entry */
static void pcache_clear(struct pcache *c)
{
    for (size_t i = 0; i < c->cap; i++) {
        free(c->e[i].nexthop);
        cpolicy_free(c->e[i].p);
    }
    free(c->e);
    memset(c, 0, sizeof(*c));
}

/* pcache_slot - the entry of nexthop (hash 0 when absent, ready to fill); NULL: no memory */
static struct cpol *pcache_slot(struct pcache *c, const char *nexthop)
{
    if (c->used >= PCACHE_MAX)
        pcache_clear(c);
    if ((c->used + 1) * 2 > c->cap) {
        size_t cap = c->cap != 0 ? c->cap * 2 : 1024;
        struct cpol *e = calloc(cap, sizeof(*e));
        if (e == NULL)
            return NULL;
        for (size_t i = 0; i < c->cap; i++) {
            if (c->e[i].hash == 0)
                continue;
            size_t j = c->e[i].hash & (cap - 1);
            while (e[j].hash != 0)
                j = (j + 1) & (cap - 1);
            e[j] = c->e[i];
        }
        free(c->e);
        c->e = e;
        c->cap = cap;
    }
    uint64_t h = fnv(nexthop, strlen(nexthop));
    size_t j = h & (c->cap - 1);
    for (; c->e[j].hash != 0; j = (j + 1) & (c->cap - 1))
        if (c->e[j].hash == h && strcmp(c->e[j].nexthop, nexthop) == 0)
            return &c->e[j];
    return &c->e[j];
}

/* pcache_set - remember p (copied; NULL: none) for nexthop; -1 when out of memory */
static int pcache_set(struct pcache *c, const char *nexthop, const struct postfix_policy *p)
{
    struct cpol *e = pcache_slot(c, nexthop);
    if (e == NULL)
        return -1;
    if (e->hash == 0) {
        if ((e->nexthop = strdup(nexthop)) == NULL)
            return -1;
        e->hash = fnv(nexthop, strlen(nexthop));
        c->used++;
    }
    cpolicy_free(e->p);
    e->p = NULL;
    if (p != NULL) {
        struct cpolicy *q = calloc(1, sizeof(*q));
        if (q == NULL)
            return -1;
        q->type = p->type;
        q->failure = p->failure;
        q->domain = strdup(p->domain);
        q->strings = strdup(p->strings);
        q->mx = strdup(p->mx);
        if (q->domain == NULL || q->strings == NULL || q->mx == NULL) {
            cpolicy_free(q);
            return -1;
        }
        e->p = q;
    }
    return 0;
}

struct collector {
    struct tlsrpt_sessions *store;
    struct agg agg;
    struct pcache pc;
    struct postfix_line line; /* the line being read (large: not on the stack) */
    unsigned char blob[POSTFIX_SESSIONS_BLOB_MAX]; /* the pending sessions, saved */
    bool have_qids; /* the store knows report mails: look each session up */
    int64_t now;    /* clock and UTC year, read once per batch */
    int year;
    struct postfix_sessions *asm_;
    const char *sending_ip;
    uint32_t retention_days;
    unsigned long lines, sessions, failures, policies, malformed, own_reports, too_long;
    /* the libtlsrpt datagram source */
    unsigned long dgrams, dgram_malformed, dgram_oversized, dgram_version;
};

static volatile sig_atomic_t stop;

/* on_signal - finish the batch, save the position, exit */
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* usage - the help text */
static void usage(FILE *fp)
{
    fprintf(fp, "usage: mxtls tlsrpt collect [-c CONFIG] [--db FILE] [--follow] "
                "[--sending-ip IP] [--socket PATH] [FILE...|-]\n"
                "  Count Postfix's TLS sessions under the policy mxtlsd applied (RFC 8460).\n"
                "  FILE: Postfix's log and mxtlsd's log (default: tlsrpt.mxtlsd_log and\n"
                "  tlsrpt.postfix_log of CONFIG); '-' reads stdin. --socket: also receive\n"
                "  libtlsrpt's datagrams (Postfix 3.10+ smtp_tlsrpt_socket_name) there.\n");
}

/* head_hash - FNV-1a of the first line (at most 256 octets) of fd, 0 when empty */
static uint64_t head_hash(int fd)
{
    char b[256];
    ssize_t n = pread(fd, b, sizeof(b), 0);
    uint64_t h = 14695981039346656037ULL;
    if (n <= 0)
        return 0;
    for (ssize_t i = 0; i < n && b[i] != '\n'; i++) {
        h ^= (unsigned char)b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* year_now - the current UTC year, for short syslog timestamps */
static int year_now(time_t now)
{
    struct tm tm;
    gmtime_r(&now, &tm);
    return tm.tm_year + 1900;
}

/* join - the policy mxtlsd applied for the next-hop: the cache, then the store */
static const struct cpolicy *join(struct collector *c, const char *nexthop)
{
    struct cpol *e = pcache_slot(&c->pc, nexthop);
    if (e != NULL && e->hash != 0)
        return e->p;
    struct postfix_policy *p = malloc(sizeof(*p));
    if (p == NULL)
        return NULL;
    int rc = tlsrpt_sessions_policy_get(c->store, nexthop, p, NULL);
    pcache_set(&c->pc, nexthop, rc == 0 ? p : NULL);
    free(p);
    e = pcache_slot(&c->pc, nexthop);
    return e != NULL && e->hash != 0 ? e->p : NULL;
}

/* handle - one complete line */
static int handle(struct collector *c, const char *line, size_t len, struct mxtls_diag *diag)
{
    struct postfix_line *l = &c->line;
    struct postfix_session s;

    c->lines++;
    if (postfix_log_parse(line, len, c->year, l, NULL) != 0) {
        c->malformed++;
        return 0;
    }
    /* a December line read in January belongs to last year */
    if (l->kind != POSTFIX_LINE_OTHER && l->time > c->now + 86400 &&
        postfix_log_parse(line, len, c->year - 1, l, NULL) != 0)
        return 0;
    switch (l->kind) {
    case POSTFIX_LINE_POLICY:
        c->policies++;
        if (pcache_set(&c->pc, l->policy.nexthop, &l->policy) != 0)
            return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
        return tlsrpt_sessions_policy_put(c->store, &l->policy, l->time, diag);
    case POSTFIX_LINE_REPORT_QID:
        c->own_reports++;
        c->have_qids = true;
        return tlsrpt_sessions_report_qid_put(c->store, l->qid, l->time, diag);
    case POSTFIX_LINE_OTHER:
        return 0;
    default:
        break;
    }
    if (postfix_sessions_feed(c->asm_, l, &s) != 1)
        return 0;
    /* RFC 8460 has no loop rule; we never report the sessions of our own reports */
    if (c->have_qids && s.qid[0] != '\0' && tlsrpt_sessions_report_qid_has(c->store, s.qid))
        return 0;
    const struct cpolicy *p = join(c, s.rcpt_domain);
    /* a domain mxtlsd never named: no-policy-found, its policy-domain the
       recipient's domain (RFC 8460 §4.4: policy-domain is always there) */
    enum tlsrpt_policy_type ptype = p != NULL ? p->type : TLSRPT_POLICY_NONE;
    enum tlsrpt_result pfail = p != NULL ? p->failure : TLSRPT_SUCCESS;
    enum tlsrpt_result r = s.result;
    const char *reason = s.reason;
    char why[POSTFIX_LOG_REASON_MAX + 1];
    if (s.policy_problem) {
        if (pfail == TLSRPT_SUCCESS)
            return 0; /* not our policy's failure: mxtlsd down or unreachable */
        r = pfail;
    } else if (r == TLSRPT_SUCCESS && pfail != TLSRPT_SUCCESS) {
        /* mxtlsd could not have the policy (RFC 8460 §4.3.2): the session did not
           have the protection the domain asked for */
        r = pfail;
    }
    if (r != TLSRPT_SUCCESS && r == pfail) {
        snprintf(why, sizeof(why), "mxtlsd: %s", tlsrpt_result_name(pfail));
        reason = why;
    }
    char day[11];
    tlsrpt_day(s.time, day);
    c->sessions++;
    if (r != TLSRPT_SUCCESS)
        c->failures++;
    const char *f[AGG_FIELDS] = {day,
                                 p != NULL ? p->domain : s.rcpt_domain,
                                 tlsrpt_policy_type_name(ptype),
                                 p != NULL ? p->strings : "",
                                 p != NULL ? p->mx : "",
                                 r == TLSRPT_SUCCESS ? "" : tlsrpt_result_name(r),
                                 r == TLSRPT_SUCCESS ? "" : c->sending_ip,
                                 r == TLSRPT_SUCCESS ? "" : s.mx_host,
                                 r == TLSRPT_SUCCESS ? "" : s.ip,
                                 r == TLSRPT_SUCCESS ? "" : reason};
    if (agg_add(&c->agg, f, 1) != 0)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    if (c->agg.used >= AGG_FLUSH_MAX)
        return agg_flush(&c->agg, c->store, diag);
    return 0;
}

/* open_source - open (or reopen) the file, at the remembered position when it is the same */
static int open_source(struct collector *c, struct source *src, bool resume)
{
    struct stat st;
    src->len = 0;
    src->skipping = false;
    if (strcmp(src->path, "-") == 0) {
        src->fd = 0;
        return 0;
    }
    src->fd = open(src->path, O_RDONLY | O_CLOEXEC);
    if (src->fd < 0 || fstat(src->fd, &st) != 0) {
        fprintf(stderr, "mxtls tlsrpt collect: %s: %s\n", src->path, strerror(errno));
        if (src->fd >= 0)
            close(src->fd);
        src->fd = -1;
        return MXTLS_EX_NOINPUT;
    }
    uint64_t ino = 0, off = 0, head = 0;
    src->ino = (uint64_t)st.st_ino;
    src->head = head_hash(src->fd);
    src->off = 0;
    if (resume && tlsrpt_sessions_cursor_get(c->store, src->path, &ino, &off, &head) == 0 &&
        ino == src->ino && off <= (uint64_t)st.st_size && head == src->head)
        src->off = off;
    if (lseek(src->fd, (off_t)src->off, SEEK_SET) < 0)
        src->off = 0;
    return 0;
}

/* save - write the batch, the position and commit: one transaction, so a
   restart neither loses nor repeats a line (the partial line is excluded) */
static int save(struct collector *c, struct source *src, struct mxtls_diag *d)
{
    if (agg_flush(&c->agg, c->store, d) != 0)
        return -1;
    /* the sessions still open travel with the position: after a restart or a
       rotation their remaining lines complete them */
    size_t bl = postfix_sessions_save(c->asm_, c->blob, POSTFIX_SESSIONS_BLOB_MAX);
    if (bl > 0 && tlsrpt_sessions_state_put(c->store, "pending", c->blob, bl, d) != 0)
        return -1;
    if (src->fd != 0 && tlsrpt_sessions_cursor_put(c->store, src->path, src->ino,
                                                   src->off - src->len, src->head, d) != 0)
        return -1;
    return tlsrpt_sessions_commit(c->store, d);
}

/* drain - read what the source has now; returns 0 or an exit status */
static int drain(struct collector *c, struct source *src)
{
    static char *chunk;
    struct mxtls_diag d = {0};
    bool open_tx = false;
    uint64_t since = 0;
    if (chunk == NULL && (chunk = malloc(CHUNK)) == NULL)
        return MXTLS_EX_SOFTWARE;
    for (;;) {
        ssize_t n = read(src->fd, chunk, CHUNK);
        if (n < 0 && errno == EINTR && !stop)
            continue;
        if (n <= 0) {
            if (open_tx && save(c, src, &d) != 0)
                goto fail;
            return 0;
        }
        c->now = (int64_t)time(NULL);
        c->year = year_now((time_t)c->now);
        if (!open_tx) {
            if (tlsrpt_sessions_begin(c->store, &d) != 0)
                goto fail;
            open_tx = true;
        }
        size_t start = 0;
        for (const char *nl; (nl = memchr(chunk + start, '\n', (size_t)n - start)) != NULL;) {
            size_t i = (size_t)(nl - chunk);
            size_t piece = i - start;
            if (src->skipping) {
                src->skipping = false;
                c->too_long++;
            } else if (src->len + piece > POSTFIX_LOG_LINE_MAX) {
                c->too_long++;
            } else if (src->len > 0) {
                memcpy(src->buf + src->len, chunk + start, piece);
                if (handle(c, src->buf, src->len + piece, &d) != 0)
                    goto fail;
            } else if (handle(c, chunk + start, piece, &d) != 0) {
                goto fail;
            }
            src->len = 0;
            start = i + 1;
        }
        size_t rest = (size_t)n - start;
        if (!src->skipping && src->len + rest > POSTFIX_LOG_LINE_MAX) {
            src->skipping = true; /* bounded: the line is dropped, not buffered */
            src->len = 0;
        } else if (!src->skipping && rest > 0) {
            memcpy(src->buf + src->len, chunk + start, rest);
            src->len += rest;
        }
        src->off += (uint64_t)n;
        since += (uint64_t)n;
        /* a transaction per BATCH_BYTES read (or when stopping): fewer, larger writes */
        if (since >= BATCH_BYTES || stop) {
            if (save(c, src, &d) != 0)
                goto fail;
            open_tx = false;
            since = 0;
            if (stop)
                return 0;
        }
    }
fail:
    fprintf(stderr, "mxtls tlsrpt collect: %s\n", d.what);
    return MXTLS_EX_TEMPFAIL;
}

/* dgram_open - bind the datagram socket at path (a stale socket file is replaced) */
static int dgram_open(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "mxtls tlsrpt collect: %s: socket path too long\n", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* ours from an earlier run; anything else is left alone (bind fails) */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "mxtls tlsrpt collect: %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int rcvbuf = 4 * 1024 * 1024; /* bursts of datagrams wait here, not in the sender */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    chmod(path, 0660); /* the MTA's group writes; nobody else */
    return fd;
}

/* dgram_warn - log a refused datagram: the first ten, then every thousandth */
static void dgram_warn(unsigned long n, const char *what)
{
    if (n <= 10 || n % 1000 == 0)
        fprintf(stderr, "mxtls tlsrpt collect: datagram refused (%lu so far): %s\n", n, what);
}

/* dgram_drain - every datagram waiting: decode, count, commit; 0 or an exit status */
static int dgram_drain(struct collector *c, int fd)
{
    static char *buf;
    static struct tlsrpt_dgram *g;
    struct mxtls_diag d = {0};
    bool open_tx = false;
    unsigned batch = 0;
    if ((buf == NULL && (buf = malloc(TLSRPT_DGRAM_MAX + 1)) == NULL) ||
        (g == NULL && (g = malloc(sizeof(*g))) == NULL))
        return MXTLS_EX_SOFTWARE;
    for (;;) {
        ssize_t n = recv(fd, buf, TLSRPT_DGRAM_MAX + 1, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0 && errno == EINTR && !stop)
            continue;
        if (n < 0 || batch >= 1000) {
            if (open_tx && (agg_flush(&c->agg, c->store, &d) != 0 ||
                            tlsrpt_sessions_commit(c->store, &d) != 0))
                goto fail;
            open_tx = false;
            if (n < 0)
                return 0; /* EAGAIN: nothing more now */
            batch = 0;
        }
        c->dgrams++;
        batch++;
        if ((size_t)n > TLSRPT_DGRAM_MAX) { /* MSG_TRUNC: the real length */
            char what[96];
            snprintf(what, sizeof(what), "%zd octets, more than %d", n, TLSRPT_DGRAM_MAX);
            dgram_warn(++c->dgram_oversized, what);
            continue;
        }
        struct mxtls_diag dd = {0};
        int rc = tlsrpt_dgram_decode(buf, (size_t)n, g, &dd);
        if (rc == MXTLS_ENOTFOUND) {
            dgram_warn(++c->dgram_version, dd.what);
            continue;
        }
        if (rc != 0) {
            dgram_warn(++c->dgram_malformed, dd.what);
            continue;
        }
        if (!open_tx) {
            if (tlsrpt_sessions_begin(c->store, &d) != 0)
                goto fail;
            open_tx = true;
        }
        char day[11];
        tlsrpt_day((int64_t)time(NULL), day); /* libtlsrpt sends no time: now */
        for (size_t i = 0; i < g->n; i++) {
            const struct tlsrpt_dgram_policy *p = &g->p[i];
            enum tlsrpt_result r = p->failed ? p->result : TLSRPT_SUCCESS;
            const char *f[AGG_FIELDS] = {day,
                                         p->domain,
                                         tlsrpt_policy_type_name(p->type),
                                         p->strings,
                                         p->mx,
                                         r == TLSRPT_SUCCESS ? "" : tlsrpt_result_name(r),
                                         r == TLSRPT_SUCCESS ? "" : p->sending_ip,
                                         r == TLSRPT_SUCCESS ? "" : p->mx_host,
                                         r == TLSRPT_SUCCESS ? "" : p->ip,
                                         r == TLSRPT_SUCCESS ? "" : p->reason};
            c->sessions++;
            if (r != TLSRPT_SUCCESS)
                c->failures++;
            if (agg_add(&c->agg, f, 1) != 0) {
                mxtls_diag_set(&d, MXTLS_ENOMEM, 0, "out of memory");
                goto fail;
            }
        }
    }
fail:
    fprintf(stderr, "mxtls tlsrpt collect: %s\n", d.what);
    return MXTLS_EX_TEMPFAIL;
}

/* prune - forget the days past the retention */
static void prune(struct collector *c)
{
    char day[11];
    struct mxtls_diag d = {0};
    tlsrpt_day((int64_t)time(NULL) - (int64_t)c->retention_days * 86400, day);
    if (tlsrpt_sessions_prune(c->store, day, &d) < 0)
        fprintf(stderr, "mxtls tlsrpt collect: prune: %s\n", d.what);
}

/* cmd_tlsrpt_collect - see cmd.h */
int cmd_tlsrpt_collect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'd'},
        {"follow", no_argument, NULL, 'f'},
        {"sending-ip", required_argument, NULL, 's'},
        {"socket", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *db = NULL, *sip = NULL, *sock = NULL;
    bool follow = false;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:d:fs:S:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'd':
            db = optarg;
            break;
        case 'f':
            follow = true;
            break;
        case 's':
            sip = optarg;
            break;
        case 'S':
            sock = optarg;
            follow = true; /* a socket is followed until SIGTERM */
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return MXTLS_EX_USAGE;
        }
    }
    struct tlsrpt_config cfg;
    struct mxtls_diag d = {0};
    if (tlsrpt_config_load(config, &cfg, &d) != 0) {
        fprintf(stderr, "mxtls tlsrpt collect: %s\n", d.what);
        tlsrpt_config_finish(&cfg);
        return MXTLS_EX_USAGE;
    }
    struct source src[MAX_SOURCES];
    size_t n = 0;
    memset(src, 0, sizeof(src));
    for (int i = optind; i < argc && n < MAX_SOURCES; i++)
        src[n++].path = argv[i];
    if (n == 0 && cfg.mxtlsd_log != NULL)
        src[n++].path = cfg.mxtlsd_log;
    if ((n == 0 && sock == NULL) || (optind == argc && cfg.postfix_log != NULL))
        src[n++].path = cfg.postfix_log != NULL ? cfg.postfix_log : "-";
    if (optind < argc && argc - optind > MAX_SOURCES) {
        fprintf(stderr, "mxtls tlsrpt collect: at most %d files\n", MAX_SOURCES);
        tlsrpt_config_finish(&cfg);
        return MXTLS_EX_USAGE;
    }
    static struct collector c;
    int sfd = -1; /* the datagram socket */
    c.sending_ip = sip != NULL ? sip : cfg.sending_ip;
    c.retention_days = cfg.retention_days;
    int rc = 0;
    if (tlsrpt_sessions_open(db != NULL ? db : cfg.store, &c.store, &d) != 0) {
        fprintf(stderr, "mxtls tlsrpt collect: %s\n", d.what);
        tlsrpt_config_finish(&cfg);
        return MXTLS_EX_TEMPFAIL;
    }
    if ((c.asm_ = postfix_sessions_new()) == NULL) {
        rc = MXTLS_EX_SOFTWARE;
        goto out;
    }
    prune(&c);
    size_t bl = tlsrpt_sessions_state_get(c.store, "pending", c.blob, sizeof(c.blob));
    if (bl > 0)
        postfix_sessions_load(c.asm_, c.blob, bl); /* another version's: start empty */
    c.have_qids = tlsrpt_sessions_report_qid_any(c.store);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGHUP, on_signal);
    for (size_t i = 0; i < n; i++) {
        if ((src[i].buf = malloc(POSTFIX_LOG_LINE_MAX + 1)) == NULL) {
            rc = MXTLS_EX_SOFTWARE;
            goto out;
        }
        if ((rc = open_source(&c, &src[i], true)) != 0)
            goto out;
    }
    if (sock != NULL && (sfd = dgram_open(sock)) < 0) {
        rc = MXTLS_EX_NOINPUT;
        goto out;
    }
    time_t last_prune = time(NULL);
    do {
        if (sfd >= 0 && (rc = dgram_drain(&c, sfd)) != 0)
            goto out;
        for (size_t i = 0; i < n && !stop; i++) {
            struct stat now, cur;
            bool watch = follow && src[i].fd > 0;
            /* truncation (shorter than what was read, or another first line):
               read it again from the start, before reading on from a stale offset */
            if (watch && fstat(src[i].fd, &cur) == 0 &&
                ((uint64_t)cur.st_size < src[i].off || head_hash(src[i].fd) != src[i].head)) {
                close(src[i].fd);
                if (open_source(&c, &src[i], false) != 0)
                    src[i].fd = -1;
            }
            if (src[i].fd >= 0 && (rc = drain(&c, &src[i])) != 0)
                goto out;
            /* rotation: a new file at the path; the old one was read to its end above */
            if (watch && src[i].fd > 0 && stat(src[i].path, &now) == 0 &&
                (uint64_t)now.st_ino != src[i].ino) {
                if ((rc = drain(&c, &src[i])) != 0)
                    goto out;
                close(src[i].fd);
                if (open_source(&c, &src[i], false) != 0)
                    src[i].fd = -1;
            }
        }
        if (follow && !stop) {
            if (sfd >= 0) {
                struct pollfd pfd = {.fd = sfd, .events = POLLIN};
                poll(&pfd, 1, 1000); /* a datagram, a signal or a second */
            } else {
                sleep(1);
            }
            for (size_t i = 0; i < n; i++)
                if (src[i].fd < 0 && open_source(&c, &src[i], false) != 0)
                    src[i].fd = -1;
            if (time(NULL) - last_prune > 3600) {
                prune(&c);
                last_prune = time(NULL);
            }
        }
    } while (follow && !stop);
    printf("collect: %lu lines, %lu sessions (%lu failed), %lu policy records, %lu malformed, "
           "%lu own report mails, %lu too long\n",
           c.lines, c.sessions, c.failures, c.policies, c.malformed, c.own_reports, c.too_long);
    if (sfd >= 0)
        printf("datagrams: %lu received, %lu malformed, %lu oversized, %lu unknown version\n",
               c.dgrams, c.dgram_malformed, c.dgram_oversized, c.dgram_version);
out:
    if (sfd >= 0) {
        if (dgram_drain(&c, sfd) != 0 && rc == 0) /* what arrived before the signal */
            rc = MXTLS_EX_TEMPFAIL;
        close(sfd);
        unlink(sock);
    }
    for (size_t i = 0; i < n; i++) {
        if (src[i].fd > 0)
            close(src[i].fd);
        free(src[i].buf);
    }
    postfix_sessions_free(c.asm_);
    for (size_t i = 0; i < c.agg.cap; i++)
        free(c.agg.e[i].key);
    free(c.agg.e);
    pcache_clear(&c.pc);
    tlsrpt_sessions_close(c.store);
    tlsrpt_config_finish(&cfg);
    return rc;
}
