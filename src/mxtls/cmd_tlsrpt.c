/*
 * cmd_tlsrpt - `mxtls tlsrpt`: the receiving side of SMTP TLS reporting
 * (RFC 8460, issue 13). A domain that publishes "_smtp._tls" receives one
 * report a day from each sender; this stores them and shows what failed.
 *
 *   mxtls tlsrpt ingest [--db FILE] [--config FILE] [--no-dkim] [--maildir DIR]... [FILE...|-]
 *   mxtls tlsrpt summary [--db FILE] [--json] [--since DAYS] [--domain D]
 *   mxtls tlsrpt html [--db FILE] [--since DAYS] [--domain D] [--top N] > report.html
 *   mxtls tlsrpt serve [--db FILE] [--listen ADDR:PORT] [--max-body N]
 *
 * ingest: each input is a report (JSON, or gzip of it, by content: RFC 8460
 * §5.3) or a whole email (RFC 5322, the report in an application/tlsrpt+gzip
 * or +json part or a .json/.json.gz attachment: io/mime.c). "-" is standard
 * input, which is how Postfix's pipe(8) hands a message over. Each input is
 * stored in one transaction, or refused with one stderr line
 * "mxtls tlsrpt ingest: NAME: refused: REASON" and nothing stored. A report
 * whose organization-name and report-id are stored already is a duplicate:
 * stored once, not an error. Sizes: an input over INPUT_MAX octets, a report
 * decompressing to over TLSRPT_REPORT_MAX octets, nesting deeper than
 * 2048 levels or counts over the caps of io/tlsrpt_report.h are
 * refused; memory stays bounded by those caps.
 *
 * summary: per (policy domain, policy type): the sums of the reporters'
 * summaries, failure types, organisations, MX hosts and days. --json prints
 * one object whose member policy_domains is the contract of mxtls(1).
 *
 * html: the same figures as one self-contained HTML page: inline CSS and
 * SVG, no script, no external resource. Every policy domain has a row in the
 * overview; the --top N (default 50) with the most failed sessions get a
 * detailed section each, so a year of a thousand domains stays a page a
 * browser opens at once.
 *
 * serve: RFC 8460 §3 "https" rua reports: POSTs of application/tlsrpt+json
 * or application/tlsrpt+gzip over plain HTTP, for a TLS proxy in front
 * (contrib/nginx-tlsrpt.conf). Each POST is one input as for ingest.
 *
 * Exit: ingest 0 every input stored or a duplicate, 65 an input refused, 66
 * an input unreadable, 75 the store cannot be opened or written (EX_TEMPFAIL:
 * Postfix keeps the message and retries); summary, html and serve 74 the
 * store cannot be opened or read or the output written; every command 64
 * usage, 70 internal error.
 *
 * DKIM (RFC 8460 §5.3: an emailed report SHOULD be signed): each email's
 * signature is verified (io/dkim_verify.c, libopendkim) with the key looked
 * up through mxtls's own validating resolver (io/dns.c; the resolver
 * settings of --config FILE, else the defaults), and the verdict is stored
 * with the report; summary --json shows it ("dkim" per policy domain,
 * "dkim_reports" per emailed report). A failing signature never refuses a
 * report. --no-dkim stores "none" without looking anything up. Each key is
 * looked up once per run (KEY_CACHE_MAX keys).
 *
 * Speed: inputs are stored in batches of INGEST_BATCH reports in one
 * transaction, each report in its own savepoint (report_store.h), so a
 * refused or failed input still changes nothing and the rest of the batch
 * stays.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "dkim_verify.h"
#include "dns.h"
#include "gz.h"
#include "mime.h"
#include "mxtls/domain.h"
#include "report_store.h"
#include "tlsrpt_report.h"

#define DEFAULT_DB       "tlsrpt.db"
#define INPUT_MAX        (32u << 20) /* octets of one input (a file, an email, a POST) */
#define SINCE_DAYS_MAX   36500
#define DEFAULT_LISTEN   "127.0.0.1:8460"
#define DEFAULT_MAXBODY  (4u << 20)
#define HTML_TOP_DEFAULT 50 /* policy domains shown in detail on the page */

/* Outcome of one input. */
enum outcome { IN_STORED, IN_DUPLICATE, IN_REFUSED, IN_UNREADABLE, IN_STORE_FAILED };

/* tlsrpt_usage_text - the synopsis of every subcommand */
static void tlsrpt_usage_text(FILE *fp)
{
    fprintf(
        fp,
        "usage: mxtls tlsrpt ingest [--db FILE] [--config FILE] [--no-dkim] [--maildir DIR]...\n"
        "                           [FILE...|-]\n"
        "       mxtls tlsrpt summary [--db FILE] [--json] [--since DAYS] [--domain D]\n"
        "       mxtls tlsrpt html [--db FILE] [--since DAYS] [--domain D] [--top N] > report.html\n"
        "       mxtls tlsrpt serve [--db FILE] [--listen ADDR:PORT] [--max-body OCTETS]\n"
        "       mxtls tlsrpt collect [-c CONFIG] [--db FILE] [--follow] [--sending-ip IP]\n"
        "                            [--socket PATH] [FILE...|-]\n"
        "       mxtls tlsrpt report [-c CONFIG] [--db FILE] [--day YYYY-MM-DD] [--dry-run DIR]\n"
        "\n"
        "The receiving side of SMTP TLS reporting (RFC 8460). ingest stores reports\n"
        "(.json, .json.gz, or whole emails; '-' is standard input, for a Postfix pipe\n"
        "transport); summary and html show per policy domain what succeeded and what\n"
        "failed; serve accepts the reports POSTed to an https rua behind a TLS proxy.\n"
        "The sending side: collect counts Postfix's TLS sessions under the policy\n"
        "mxtlsd applied; report delivers them to each domain's rua once a day.\n"
        "--db defaults to ./" DEFAULT_DB ". See mxtls(1).\n");
}

/* cmd_tlsrpt_usage - the help text (cmd.h) */
void cmd_tlsrpt_usage(FILE *fp)
{
    tlsrpt_usage_text(fp);
}

/*
 * read_fd - all of fd into a heap buffer, at most max octets; -1 errno, -2
 * too big. A regular file's buffer is sized from fstat (one allocation of the
 * file's size); a pipe's grows by doubling.
 */
static int read_fd(int fd, size_t max, char **out, size_t *outlen)
{
    struct stat sb;
    size_t cap = 65536, used = 0;
    char *buf, *p;
    ssize_t n;

    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= 0)
        cap = (size_t)sb.st_size > max ? max + 1 : (size_t)sb.st_size + 1;
    buf = malloc(cap + 1);

    if (buf == NULL)
        return -1;
    for (;;) {
        if (used == cap) {
            if (cap > max) {
                free(buf);
                return -2;
            }
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            p = realloc(buf, cap + 1);
            if (p == NULL) {
                free(buf);
                return -1;
            }
            buf = p;
        }
        n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;

            free(buf);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > max) {
            free(buf);
            return -2;
        }
    }
    buf[used] = '\0';
    *out = buf;
    *outlen = used;
    return 0;
}

/*
 * decode_report - the report in input (buf, len): gzip, JSON or an email,
 * judged by content (a file name says little: reporters name them freely).
 * *email is set when the input was an email with a report part.
 */
static int decode_report(const char *buf, size_t len, struct tlsrpt_report **rep, int *email,
                         struct mxtls_diag *diag)
{
    char *json = NULL, *part = NULL;
    size_t jlen = 0, plen = 0, i = 0;
    int gz = 0, err;

    *rep = NULL;
    *email = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    if (gz_is_gzip(buf, len)) {
        err = gz_inflate(buf, len, TLSRPT_REPORT_MAX, &json, &jlen, diag);
        if (err < 0)
            return err;
        err = tlsrpt_report_parse(json, jlen, rep, diag);
        free(json);
        return err;
    }
    if (i < len && buf[i] == '{')
        return tlsrpt_report_parse(buf, len, rep, diag);
    if (len == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "empty input");
    /* anything else: an email (RFC 5322) carrying the report (RFC 8460 §5.3) */
    err = mime_report_part(buf, len, INPUT_MAX, &part, &plen, &gz, diag);
    if (err == MXTLS_EINVAL && part == NULL && diag != NULL && strstr(diag->what, "RFC 5322"))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "neither a JSON report, gzip, nor an email message (RFC 5322)");
    if (err < 0)
        return err;
    *email = 1;
    if (gz) {
        err = gz_inflate(part, plen, TLSRPT_REPORT_MAX, &json, &jlen, diag);
        free(part);
        if (err < 0)
            return err;
        err = tlsrpt_report_parse(json, jlen, rep, diag);
        free(json);
        return err;
    }
    err = tlsrpt_report_parse(part, plen, rep, diag);
    free(part);
    return err;
}

/*
 * The DKIM key resolver of ingest: mxtls's own validating resolver (io/dns.h,
 * the --config file's resolver settings), made on the first signed email and
 * driven synchronously on a private event_base: ingest is a command, and a
 * message waits for its key anyway.
 */
#define KEY_CACHE_MAX 64 /* key lookups remembered per ingest run */

/* One key lookup's answer, kept for the rest of the run: a reporter signs all with one key. */
struct key_cached {
    char *qname, *record, *why;
    enum dkim_key_status status;
};

struct key_resolver {
    struct key_cached cache[KEY_CACHE_MAX];
    size_t n_cache;
    const char *config; /* --config FILE, or NULL: the defaults */
    int dkim;           /* 0: --no-dkim */
    int broken;         /* the resolver or libopendkim could not be made: why in broken_why */
    char broken_why[MXTLS_DIAG_WHAT_MAX + 32];
    struct event_base *base;
    struct dns *dns;
    struct dkim_verifier *verifier;
};

/* One TXT lookup in flight. */
struct key_answer {
    int done;
    enum dkim_key_status status;
    char *buf, *why;
    size_t bufsize, whysize;
};

/* on_key_txt - the TXT answer: the first record's strings joined (RFC 6376 §3.6.2.2) */
static void on_key_txt(const struct dns_answer *a, void *arg)
{
    struct key_answer *ka = arg;
    size_t used = 0;

    ka->done = 1;
    if (a->status == DECIDE_DNS_BOGUS || a->status == DECIDE_DNS_FAILED) {
        ka->status = DKIM_KEY_TEMPFAIL;
        snprintf(ka->why, ka->whysize, "%s%s",
                 a->status == DECIDE_DNS_BOGUS ? "DNSSEC validation failed: " : "",
                 a->why != NULL ? a->why : "lookup failed");
        return;
    }
    if (a->nxdomain || !a->havedata) {
        ka->status = DKIM_KEY_NOTFOUND;
        snprintf(ka->why, ka->whysize, "%s", a->nxdomain ? "NXDOMAIN" : "no TXT record");
        return;
    }
    /* RFC 6376 §3.6.2.2: the character-strings of the TXT record are concatenated */
    for (size_t k = 0; k < a->rdata[0].len;) {
        size_t n = a->rdata[0].data[k];

        if (k + 1 + n > a->rdata[0].len || used + n + 1 > ka->bufsize) {
            ka->status = DKIM_KEY_NOTFOUND;
            snprintf(ka->why, ka->whysize, "TXT record malformed or over %zu octets",
                     ka->bufsize - 1);
            return;
        }
        memcpy(ka->buf + used, a->rdata[0].data + k + 1, n);
        used += n;
        k += 1 + n;
    }
    ka->buf[used] = '\0';
    ka->status = DKIM_KEY_FOUND;
    snprintf(ka->why, ka->whysize, "%s",
             a->status == DECIDE_DNS_SECURE ? "key record DNSSEC-validated"
                                            : "key record in an unsigned zone");
}

/* key_lookup - dkim_key_fn: one TXT lookup through the private event_base */
static enum dkim_key_status key_lookup(void *arg, const char *qname, char *buf, size_t bufsize,
                                       char *why, size_t whysize)
{
    struct key_resolver *kr = arg;
    struct dns_query *q = NULL;
    struct key_answer ka = {.status = DKIM_KEY_TEMPFAIL,
                            .buf = buf,
                            .bufsize = bufsize,
                            .why = why,
                            .whysize = whysize};

    for (size_t i = 0; i < kr->n_cache; i++) { /* asked already in this run */
        const struct key_cached *c = &kr->cache[i];

        if (strcmp(c->qname, qname) == 0) {
            snprintf(buf, bufsize, "%s", c->record);
            snprintf(why, whysize, "%s", c->why);
            return c->status;
        }
    }
    if (dns_query_start(kr->dns, qname, DNS_RR_TXT, 0, on_key_txt, &ka, &q) != 0) {
        snprintf(why, whysize, "the resolver refused the query");
        return DKIM_KEY_TEMPFAIL;
    }
    while (!ka.done)
        if (event_base_loop(kr->base, EVLOOP_ONCE) != 0) { /* -1 failure, 1 nothing pending */
            dns_cancel(q);                                 /* ka is about to go */
            snprintf(why, whysize, "event loop failure");
            return DKIM_KEY_TEMPFAIL; /* not reached: io/dns.c keeps its fd and deadline */
        }
    if (ka.status != DKIM_KEY_FOUND)
        buf[0] = '\0';
    if (kr->n_cache < KEY_CACHE_MAX) {
        struct key_cached *c = &kr->cache[kr->n_cache];

        c->qname = strdup(qname);
        c->record = strdup(buf);
        c->why = strdup(why);
        c->status = ka.status;
        if (c->qname != NULL && c->record != NULL && c->why != NULL)
            kr->n_cache++;
        else {
            free(c->qname);
            free(c->record);
            free(c->why);
        }
    }
    return ka.status;
}

/* key_resolver_ready - make the resolver and the verifier once; 0, or -1 (kr->broken_why) */
static int key_resolver_ready(struct key_resolver *kr)
{
    struct mxtls_config cfg;
    struct mxtls_diag d = {0};
    int err;

    if (kr->verifier != NULL)
        return 0;
    if (kr->broken)
        return -1;
    kr->broken = 1;
    err = kr->config != NULL ? config_load_file(kr->config, &cfg, &d) : config_init_defaults(&cfg);
    if (err < 0) {
        snprintf(kr->broken_why, sizeof(kr->broken_why), "%s",
                 kr->config != NULL ? d.what : "out of memory");
        if (err != MXTLS_ENOMEM)
            config_finish(&cfg);
        return -1;
    }
    kr->base = event_base_new();
    if (kr->base == NULL)
        snprintf(kr->broken_why, sizeof(kr->broken_why), "cannot start libevent");
    else
        kr->dns = dns_new(kr->base, cfg.unbound_config, cfg.trust_anchor_file, &cfg.resolver, &d);
    config_finish(&cfg);
    if (kr->base != NULL && kr->dns == NULL)
        snprintf(kr->broken_why, sizeof(kr->broken_why), "resolver: %s", d.what);
    if (kr->dns == NULL)
        return -1;
    kr->verifier = dkim_verifier_new(key_lookup, kr, &d);
    if (kr->verifier == NULL) {
        snprintf(kr->broken_why, sizeof(kr->broken_why), "%s", d.what);
        return -1;
    }
    kr->broken = 0;
    return 0;
}

/* key_resolver_finish - free what key_resolver_ready made */
static void key_resolver_finish(struct key_resolver *kr)
{
    for (size_t i = 0; i < kr->n_cache; i++) {
        free(kr->cache[i].qname);
        free(kr->cache[i].record);
        free(kr->cache[i].why);
    }
    dkim_verifier_free(kr->verifier);
    dns_free(kr->dns);
    if (kr->base != NULL)
        event_base_free(kr->base);
    memset(kr, 0, sizeof(*kr));
}

/*
 * check_dkim - the DKIM verdict of an emailed input (RFC 8460 §5.3: SHOULD
 * be signed) into *out: the verdict is stored, never a reason to refuse. A
 * resolver that cannot be made gives "temperror" with the reason.
 */
static void check_dkim(struct key_resolver *kr, const char *buf, size_t len,
                       struct dkim_outcome *out)
{
    struct mxtls_diag d = {0};

    memset(out, 0, sizeof(*out));
    if (!dkim_has_signature(buf, len)) {
        out->result = DKIM_V_NONE;
        snprintf(out->reason, sizeof(out->reason), "no DKIM-Signature header");
        return;
    }
    if (!kr->dkim) {
        out->result = DKIM_V_NONE;
        snprintf(out->reason, sizeof(out->reason), "not verified (--no-dkim)");
        return;
    }
    if (key_resolver_ready(kr) != 0) {
        out->result = DKIM_V_TEMPERROR;
        snprintf(out->reason, sizeof(out->reason), "cannot verify: %s", kr->broken_why);
        return;
    }
    dkim_verify_message(kr->verifier, buf, len, out, &d);
}

/*
 * ingest_buffer - decode, parse and store one input; what happened in *why
 * when it was not stored. Shared by ingest and serve (kr NULL: no DKIM, a
 * POST is no email).
 */
static enum outcome ingest_buffer(struct report_store *store, struct key_resolver *kr,
                                  const char *name, const char *buf, size_t len,
                                  struct mxtls_diag *why)
{
    struct tlsrpt_report *rep = NULL;
    struct dkim_outcome dk;
    int dup = 0, email = 0;

    memset(why, 0, sizeof(*why));
    if (decode_report(buf, len, &rep, &email, why) < 0)
        return why->code == MXTLS_ENOMEM ? IN_STORE_FAILED : IN_REFUSED;
    if (email && kr != NULL)
        check_dkim(kr, buf, len, &dk);
    if (report_store_add(store, rep, name, (int64_t)time(NULL), email && kr != NULL ? &dk : NULL,
                         &dup, why) < 0) {
        tlsrpt_report_free(rep);
        return IN_STORE_FAILED;
    }
    tlsrpt_report_free(rep);
    return dup ? IN_DUPLICATE : IN_STORED;
}

/*
 * Ingest state. Inputs are stored in batches of INGEST_BATCH in one
 * transaction (report_store.h: each report its own savepoint); the names of
 * the batch's stored inputs are kept until the commit, so that a commit that
 * fails can name every input it did not store.
 */
#define INGEST_BATCH 1000

struct ingest_state {
    struct report_store *store;
    struct key_resolver kr;
    int refused, unreadable, failed;
    unsigned long stored, duplicates;
    char *pending[INGEST_BATCH]; /* names stored in the open batch */
    size_t n_pending;
};

/* batch_lost - the open batch was not committed: its inputs were not stored after all */
static void batch_lost(struct ingest_state *st, const char *why)
{
    for (size_t i = 0; i < st->n_pending; i++) {
        fprintf(stderr, "mxtls tlsrpt ingest: %s: not stored: %s\n", st->pending[i], why);
        free(st->pending[i]);
    }
    st->stored -= st->n_pending;
    st->failed += (int)st->n_pending;
    st->n_pending = 0;
}

/* batch_commit - commit the open batch (if any) */
static void batch_commit(struct ingest_state *st)
{
    struct mxtls_diag d = {0};

    if (report_store_batch_commit(st->store, &d) < 0) {
        batch_lost(st, d.what);
        return;
    }
    for (size_t i = 0; i < st->n_pending; i++)
        free(st->pending[i]);
    st->n_pending = 0;
}

/* ingest_one - one input's buffer into the batch, counted and reported */
static void ingest_one(struct ingest_state *st, const char *name, const char *buf, size_t len)
{
    struct mxtls_diag why;
    enum outcome o;

    if (!report_store_batch_open(st->store) && report_store_batch_begin(st->store, &why) < 0) {
        fprintf(stderr, "mxtls tlsrpt ingest: %s: not stored: %s\n", name, why.what);
        st->failed++;
        return;
    }
    o = ingest_buffer(st->store, &st->kr, name, buf, len, &why);
    if (o == IN_STORE_FAILED && !report_store_batch_open(st->store))
        batch_lost(st, "the transaction was rolled back by a later failure");
    switch (o) {
    case IN_STORED:
        st->stored++;
        st->pending[st->n_pending] = strdup(name);
        if (st->pending[st->n_pending] == NULL) { /* cannot name it later: commit now */
            batch_commit(st);
            break;
        }
        if (++st->n_pending == INGEST_BATCH)
            batch_commit(st);
        break;
    case IN_DUPLICATE:
        st->duplicates++;
        break;
    case IN_REFUSED:
        fprintf(stderr, "mxtls tlsrpt ingest: %s: refused: %s\n", name, why.what);
        st->refused++;
        break;
    default:
        fprintf(stderr, "mxtls tlsrpt ingest: %s: not stored: %s\n", name, why.what);
        st->failed++;
        break;
    }
}

/* ingest_path - read one input (a path, or "-" for standard input) and ingest it */
static void ingest_path(struct ingest_state *st, const char *path)
{
    const char *name = strcmp(path, "-") == 0 ? "-" : path;
    char *buf = NULL;
    size_t len = 0;
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    int r;

    if (fd < 0) {
        fprintf(stderr, "mxtls tlsrpt ingest: %s: unreadable: %s\n", name, strerror(errno));
        st->unreadable++;
        return;
    }
    r = read_fd(fd, INPUT_MAX, &buf, &len);
    if (fd != 0)
        close(fd);
    if (r == -2) {
        fprintf(stderr, "mxtls tlsrpt ingest: %s: refused: input larger than %u octets\n", name,
                INPUT_MAX);
        st->refused++;
        return;
    }
    if (r < 0) {
        fprintf(stderr, "mxtls tlsrpt ingest: %s: unreadable: %s\n", name, strerror(errno));
        st->unreadable++;
        return;
    }
    ingest_one(st, name, buf, len);
    free(buf);
}

/* ingest_maildir - every message in DIR/new and DIR/cur, in name order (read only) */
static void ingest_maildir(struct ingest_state *st, const char *dir)
{
    static const char *const subs[] = {"new", "cur"};
    int found = 0;

    for (size_t s = 0; s < 2; s++) {
        struct dirent **list = NULL;
        char sub[PATH_MAX];
        int n;

        snprintf(sub, sizeof(sub), "%s/%s", dir, subs[s]);
        n = scandir(sub, &list, NULL, alphasort);
        if (n < 0)
            continue;
        found = 1;
        for (int i = 0; i < n; i++) {
            char path[PATH_MAX];
            struct stat sb;

            if (list[i]->d_name[0] != '.' &&
                snprintf(path, sizeof(path), "%s/%s", sub, list[i]->d_name) < (int)sizeof(path) &&
                stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
                ingest_path(st, path);
            free(list[i]);
        }
        free(list);
    }
    if (!found) {
        fprintf(stderr, "mxtls tlsrpt ingest: %s: unreadable: not a Maildir (no new/ or cur/)\n",
                dir);
        st->unreadable++;
    }
}

/* open_store - the --db file, or a message and NULL */
static struct report_store *open_store(const char *cmd, const char *db)
{
    struct report_store *store = NULL;
    struct mxtls_diag diag = {0};

    if (report_store_open(db, &store, &diag) < 0) {
        fprintf(stderr, "mxtls tlsrpt %s: %s\n", cmd, diag.what);
        return NULL;
    }
    return store;
}

/* cmd_ingest - `mxtls tlsrpt ingest` */
static int cmd_ingest(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},     {"maildir", required_argument, NULL, 'm'},
        {"config", required_argument, NULL, 'c'}, {"no-dkim", no_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *db = DEFAULT_DB;
    const char *maildirs[64];
    size_t n_maildirs = 0;
    struct ingest_state *st;
    int ch, rc;

    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        fprintf(stderr, "mxtls tlsrpt ingest: out of memory\n");
        return MXTLS_EX_TEMPFAIL;
    }
    st->kr.dkim = 1;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "d:m:c:Nh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            db = optarg;
            break;
        case 'c':
            st->kr.config = optarg;
            break;
        case 'N':
            st->kr.dkim = 0;
            break;
        case 'm':
            if (n_maildirs == sizeof(maildirs) / sizeof(maildirs[0])) {
                fprintf(stderr, "mxtls tlsrpt ingest: too many --maildir\n");
                free(st);
                return MXTLS_EX_USAGE;
            }
            maildirs[n_maildirs++] = optarg;
            break;
        case 'h':
            tlsrpt_usage_text(stdout);
            free(st);
            return 0;
        default:
            tlsrpt_usage_text(stderr);
            free(st);
            return MXTLS_EX_USAGE;
        }
    }
    if (optind == argc && n_maildirs == 0) {
        fprintf(stderr, "mxtls tlsrpt ingest: no input (FILE, '-' or --maildir DIR)\n");
        free(st);
        return MXTLS_EX_USAGE;
    }
    st->store = open_store("ingest", db);
    if (st->store == NULL) { /* a mail system keeps the message queued and retries */
        free(st);
        return MXTLS_EX_TEMPFAIL;
    }
    for (size_t i = 0; i < n_maildirs; i++)
        ingest_maildir(st, maildirs[i]);
    for (int i = optind; i < argc; i++)
        ingest_path(st, argv[i]);
    batch_commit(st);
    report_store_close(st->store);
    key_resolver_finish(&st->kr);
    if (st->failed > 0)
        rc = MXTLS_EX_TEMPFAIL;
    else if (st->unreadable > 0)
        rc = MXTLS_EX_NOINPUT;
    else
        rc = st->refused > 0 ? MXTLS_EX_DATAERR : 0;
    free(st);
    return rc;
}

/* Summary building: one JSON object per (domain, type), found by "domain\ntype". */
struct sum_build {
    json_t *list;  /* the policy_domains array */
    json_t *index; /* "domain\ntype" -> its object (borrowed) */
    enum report_query q;
};

/* entry_for - the object of (domain, type), NULL if TOTALS did not list it */
static json_t *entry_for(struct sum_build *b, const char *domain, const char *type)
{
    char key[DOMAIN_BUF_SIZE + TLSRPT_STRING_MAX + 2];

    snprintf(key, sizeof(key), "%s\n%s", domain, type);
    return json_object_get(b->index, key);
}

/* add_row - one store row into the summary */
static int add_row(void *arg, const struct report_row *row)
{
    struct sum_build *b = arg;
    json_t *e, *o;

    if (row->domain == NULL || row->type == NULL)
        return 0;
    if (b->q == RQ_TOTALS) {
        char key[DOMAIN_BUF_SIZE + TLSRPT_STRING_MAX + 2];

        e = json_pack("{s:s, s:s, s:I, s:I, s:{}, s:I, s:I, s:[], s:[], s:[], s:{}}",
                      "policy_domain", row->domain, "policy_type", row->type,
                      "total_successful_session_count", (json_int_t)row->v[0],
                      "total_failure_session_count", (json_int_t)row->v[1], "failure_types",
                      "reports", (json_int_t)row->v[2], "policies_with_totals_mismatch",
                      (json_int_t)row->v[3], "organizations", "mx_hosts", "days", "dkim");
        if (e == NULL || json_array_append_new(b->list, e) != 0)
            return -1;
        snprintf(key, sizeof(key), "%s\n%s", row->domain, row->type);
        return json_object_set(b->index, key, e) != 0 ? -1 : 0;
    }
    e = entry_for(b, row->domain, row->type);
    if (e == NULL)
        return 0;
    switch (b->q) {
    case RQ_FAILURES:
        return json_object_set_new(json_object_get(e, "failure_types"),
                                   row->key != NULL ? row->key : "",
                                   json_integer((json_int_t)row->v[0])) != 0
                   ? -1
                   : 0;
    case RQ_ORGS:
        o = json_pack("{s:s, s:I, s:I}", "organization_name", row->key ? row->key : "",
                      "successful", (json_int_t)row->v[0], "failed", (json_int_t)row->v[1]);
        return o == NULL || json_array_append_new(json_object_get(e, "organizations"), o) ? -1 : 0;
    case RQ_MX:
        o = json_pack("{s:s, s:I}", "receiving_mx_hostname", row->key ? row->key : "",
                      "failed_session_count", (json_int_t)row->v[0]);
        return o == NULL || json_array_append_new(json_object_get(e, "mx_hosts"), o) ? -1 : 0;
    case RQ_DKIM:
        return json_object_set_new(json_object_get(e, "dkim"), row->key != NULL ? row->key : "",
                                   json_integer((json_int_t)row->v[0])) != 0
                   ? -1
                   : 0;
    case RQ_DAYS:
        o = json_pack("{s:s, s:I, s:I}", "date", row->key ? row->key : "", "successful",
                      (json_int_t)row->v[0], "failed", (json_int_t)row->v[1]);
        return o == NULL || json_array_append_new(json_object_get(e, "days"), o) ? -1 : 0;
    default:
        return 0;
    }
}

/* opt_string - a JSON string, or null for NULL */
static json_t *opt_string(const char *v)
{
    return v != NULL ? json_string(v) : json_null();
}

/* add_dkim_row - one emailed report's DKIM verdict into the dkim_reports array */
static int add_dkim_row(void *arg, const struct report_dkim_row *row)
{
    json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "organization_name",
                          opt_string(row->org), "report_id", opt_string(row->report_id), "source",
                          opt_string(row->source), "result", opt_string(row->result), "domain",
                          opt_string(row->domain), "selector", opt_string(row->selector),
                          "from_domain", opt_string(row->from_domain), "aligned", row->aligned,
                          "reason", opt_string(row->reason));

    return o == NULL || json_array_append_new(arg, o) != 0 ? -1 : 0;
}

/* build_summary - the summary object for filter f, or NULL with a message */
static json_t *build_summary(const char *cmd, struct report_store *store,
                             const struct report_filter *f, long since_days)
{
    static const enum report_query order[] = {RQ_TOTALS, RQ_FAILURES, RQ_ORGS,
                                              RQ_MX,     RQ_DAYS,     RQ_DKIM};
    struct sum_build b = {.list = json_array(), .index = json_object()};
    struct mxtls_diag diag = {0};
    json_t *out, *dkim;
    int r;

    if (b.list == NULL || b.index == NULL)
        goto oom;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        b.q = order[i];
        r = report_store_query(store, b.q, f, add_row, &b, &diag);
        if (r == -1)
            goto oom;
        if (r < 0) {
            fprintf(stderr, "mxtls tlsrpt %s: %s\n", cmd, diag.what);
            json_decref(b.list);
            json_decref(b.index);
            return NULL;
        }
    }
    json_decref(b.index);
    b.index = NULL;
    dkim = json_array();
    if (dkim == NULL)
        goto oom;
    if ((r = report_store_dkim_list(store, f, add_dkim_row, dkim, &diag)) != 0) {
        json_decref(dkim);
        if (r == -1)
            goto oom;
        fprintf(stderr, "mxtls tlsrpt %s: %s\n", cmd, diag.what);
        json_decref(b.list);
        return NULL;
    }
    out = json_pack("{s:o, s:o, s:o, s:o}", "since_days",
                    since_days >= 0 ? json_integer(since_days) : json_null(), "domain",
                    f->domain != NULL ? json_string(f->domain) : json_null(), "policy_domains",
                    b.list, "dkim_reports", dkim);
    if (out == NULL)
        fprintf(stderr, "mxtls tlsrpt %s: out of memory\n", cmd);
    return out;
oom:
    fprintf(stderr, "mxtls tlsrpt %s: out of memory\n", cmd);
    json_decref(b.list);
    json_decref(b.index);
    return NULL;
}

/* Options shared by summary and html. */
struct view_options {
    const char *db;
    bool json;
    long since_days; /* -1: all */
    char domain[DOMAIN_BUF_SIZE];
    bool has_domain;
    long top; /* html: sections shown in detail, 0: all */
};

/* parse_days - a decimal number of days 0..SINCE_DAYS_MAX; -1 when not one */
static long parse_days(const char *s)
{
    long v = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > SINCE_DAYS_MAX)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v > SINCE_DAYS_MAX ? -1 : v;
}

/* view_options_parse - the options of summary/html; an exit status or -1 to go on */
static int view_options_parse(const char *cmd, int argc, char **argv, struct view_options *o,
                              bool html)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"since", required_argument, NULL, 's'},
        {"domain", required_argument, NULL, 'D'},
        {"top", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    o->db = DEFAULT_DB;
    o->since_days = -1;
    o->top = HTML_TOP_DEFAULT;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "d:js:D:t:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            o->db = optarg;
            break;
        case 'j':
            if (html)
                goto usage;
            o->json = true;
            break;
        case 't':
            if (!html)
                goto usage;
            o->top = parse_days(optarg); /* the same digits rule, 0..SINCE_DAYS_MAX */
            if (o->top < 0) {
                fprintf(stderr, "mxtls tlsrpt html: --top: not a number: %s\n", optarg);
                return MXTLS_EX_USAGE;
            }
            break;
        case 's':
            o->since_days = parse_days(optarg);
            if (o->since_days < 0) {
                fprintf(stderr, "mxtls tlsrpt %s: --since: not a number of days 0..%d: %s\n", cmd,
                        SINCE_DAYS_MAX, optarg);
                return MXTLS_EX_USAGE;
            }
            break;
        case 'D':
            if (domain_normalize(optarg, strlen(optarg), o->domain, sizeof(o->domain), NULL) != 0) {
                fprintf(stderr, "mxtls tlsrpt %s: --domain: not a domain name: %s\n", cmd, optarg);
                return MXTLS_EX_USAGE;
            }
            o->has_domain = true;
            break;
        case 'h':
            tlsrpt_usage_text(stdout);
            return 0;
        default:
            goto usage;
        }
    }
    if (optind != argc)
        goto usage;
    return -1;
usage:
    tlsrpt_usage_text(stderr);
    return MXTLS_EX_USAGE;
}

/*
 * view_prepare - what summary and html both start with: the options, then
 * the store opened and the summary built into *sum. Returns an exit status
 * (usage, --help, the store unreadable) or -1 to go on with *sum.
 */
static int view_prepare(const char *cmd, int argc, char **argv, bool html, struct view_options *o,
                        json_t **sum)
{
    struct report_filter f = {.since = INT64_MIN};
    struct report_store *store;
    int r = view_options_parse(cmd, argc, argv, o, html);

    *sum = NULL;
    if (r >= 0)
        return r;
    f.domain = o->has_domain ? o->domain : NULL;
    if (o->since_days >= 0)
        f.since = (int64_t)time(NULL) - (int64_t)o->since_days * 86400;
    store = open_store(cmd, o->db);
    if (store == NULL)
        return MXTLS_EX_IOERR;
    *sum = build_summary(cmd, store, &f, o->since_days);
    report_store_close(store);
    return *sum == NULL ? MXTLS_EX_IOERR : -1;
}

/* print_text - the summary for a terminal */
static void print_text(FILE *fp, const json_t *sum)
{
    const json_t *list = json_object_get(sum, "policy_domains"), *e;
    size_t i;

    if (json_array_size(list) == 0)
        fprintf(fp, "no reports stored%s\n",
                json_is_null(json_object_get(sum, "since_days")) ? "" : " in that period");
    json_array_foreach(list, i, e)
    {
        const char *k;
        const json_t *v, *x;
        size_t j;
        json_int_t ok = json_integer_value(json_object_get(e, "total_successful_session_count"));
        json_int_t bad = json_integer_value(json_object_get(e, "total_failure_session_count"));

        fprintf(fp, "%s (%s): %lld successful, %lld failed sessions (%.2f%% failed), %lld reports",
                json_string_value(json_object_get(e, "policy_domain")),
                json_string_value(json_object_get(e, "policy_type")), (long long)ok, (long long)bad,
                ok + bad > 0 ? 100.0 * (double)bad / (double)(ok + bad) : 0.0,
                (long long)json_integer_value(json_object_get(e, "reports")));
        if (json_integer_value(json_object_get(e, "policies_with_totals_mismatch")) > 0)
            fprintf(
                fp, ", %lld with details disagreeing with the total",
                (long long)json_integer_value(json_object_get(e, "policies_with_totals_mismatch")));
        fputc('\n', fp);
        json_object_foreach((json_t *)json_object_get(e, "failure_types"), k, v)
            fprintf(fp, "  failure %-32s %lld\n", k, (long long)json_integer_value(v));
        json_array_foreach(json_object_get(e, "organizations"), j, x)
            fprintf(fp, "  from    %-32s %lld successful, %lld failed\n",
                    json_string_value(json_object_get(x, "organization_name")),
                    (long long)json_integer_value(json_object_get(x, "successful")),
                    (long long)json_integer_value(json_object_get(x, "failed")));
        json_array_foreach(json_object_get(e, "mx_hosts"), j, x)
            fprintf(fp, "  mx      %-32s %lld failed\n",
                    json_string_length(json_object_get(x, "receiving_mx_hostname")) > 0
                        ? json_string_value(json_object_get(x, "receiving_mx_hostname"))
                        : "(not named)",
                    (long long)json_integer_value(json_object_get(x, "failed_session_count")));
        json_array_foreach(json_object_get(e, "days"), j, x)
            fprintf(fp, "  day     %-32s %lld successful, %lld failed\n",
                    json_string_value(json_object_get(x, "date")),
                    (long long)json_integer_value(json_object_get(x, "successful")),
                    (long long)json_integer_value(json_object_get(x, "failed")));
        json_object_foreach((json_t *)json_object_get(e, "dkim"), k, v)
            fprintf(fp, "  dkim    %-32s %lld reports\n", k, (long long)json_integer_value(v));
    }
}

/* finish_output - flush stdout; 0 or MXTLS_EX_IOERR with a message */
static int finish_output(const char *cmd)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "mxtls tlsrpt %s: cannot write the output: %s\n", cmd, strerror(errno));
        return MXTLS_EX_IOERR;
    }
    return 0;
}

/* cmd_summary - `mxtls tlsrpt summary` */
static int cmd_summary(int argc, char **argv)
{
    struct view_options o = {0};
    json_t *sum;
    int r = view_prepare("summary", argc, argv, false, &o, &sum);

    if (r >= 0)
        return r;
    if (o.json) {
        if (json_dumpf(sum, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
            json_decref(sum);
            fprintf(stderr, "mxtls tlsrpt summary: cannot write the output\n");
            return MXTLS_EX_IOERR;
        }
        fputc('\n', stdout);
    } else {
        print_text(stdout, sum);
    }
    json_decref(sum);
    return finish_output("summary");
}

/* html_text - s with & < > " ' escaped (HTML 5 §13.1.2.3 attribute and text safe) */
static void html_text(FILE *fp, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", fp);
            break;
        case '<':
            fputs("&lt;", fp);
            break;
        case '>':
            fputs("&gt;", fp);
            break;
        case '"':
            fputs("&quot;", fp);
            break;
        case '\'':
            fputs("&#39;", fp);
            break;
        default:
            fputc(*s, fp);
        }
    }
}

static const char html_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:60em}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin:1.5em 0 .3em;border-top:1px solid #ccc;"
    "padding-top:.8em}h2 small{color:#666;font-weight:normal}"
    "table{border-collapse:collapse;margin:.4em 0}td,th{padding:.15em .6em;text-align:left}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    "tr:nth-child(even){background:#f4f4f4}.ok{color:#1a7f37}.bad{color:#c62828}"
    "dl.t{display:flex;gap:2em;margin:.3em 0}dl.t dt{color:#666}dl.t dd{margin:0;font-size:1.4em}"
    "svg{display:block}.legend span{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 "
    "1em}"
    ".empty{color:#666;font-style:italic}";

/* day_number - days since 1970-01-01 of "YYYY-MM-DD" (from SQLite's date()), 0 if not one */
static int64_t day_number(const char *d)
{
    int64_t t = 0;
    int no_zone;
    char buf[32];

    if (d == NULL || strlen(d) != 10)
        return 0;
    snprintf(buf, sizeof(buf), "%sT00:00:00Z", d);
    return tlsrpt_datetime_parse(buf, strlen(buf), &t, &no_zone) == 0 ? t / 86400 : 0;
}

#define TITLES_MAX 92 /* days with a hover title each */

/*
 * html_chart - one bar chart of the days, on a continuous time axis (a day
 * without reports is a gap): the successful and failed sessions stacked, or
 * with failed_only the failed sessions on their own scale. Each series is one
 * <path> (a year of 1,000 domains stays a page a browser loads quickly); the
 * stacked chart carries the figures in data-days ("date,successful,failed;"
 * per day), and up to TITLES_MAX days get a hover title each.
 */
static void html_chart(FILE *fp, const json_t *days, bool failed_only)
{
    const int w = 720, h = failed_only ? 90 : 140, top = 12, bottom = 18;
    size_t n = json_array_size(days), i;
    int64_t first = day_number(json_string_value(json_object_get(json_array_get(days, 0), "date")));
    int64_t last =
        day_number(json_string_value(json_object_get(json_array_get(days, n - 1), "date")));
    json_int_t max = 0;
    const json_t *d;
    double bw = (double)w / (double)(last - first + 1);
    double bar = bw > 3 ? bw - 1 : bw, y0 = (double)(h - bottom), scale;

    json_array_foreach(days, i, d)
    {
        json_int_t t = json_integer_value(json_object_get(d, "failed"));

        if (!failed_only)
            t += json_integer_value(json_object_get(d, "successful"));
        if (t > max)
            max = t;
    }
    scale = max > 0 ? (double)(h - top - bottom) / (double)max : 0;
    fprintf(fp,
            "<svg class=\"%s\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
            "aria-label=\"%s per day\"",
            failed_only ? "days-failed" : "days", w, h, w, h,
            failed_only ? "failed sessions" : "sessions");
    if (!failed_only) {
        fprintf(fp, " data-days=\"");
        json_array_foreach(days, i, d)
        {
            html_text(fp, json_string_value(json_object_get(d, "date")));
            fprintf(fp, ",%lld,%lld;",
                    (long long)json_integer_value(json_object_get(d, "successful")),
                    (long long)json_integer_value(json_object_get(d, "failed")));
        }
        fprintf(fp, "\"");
    }
    fprintf(fp, "><rect width=\"%d\" height=\"%d\" fill=\"#fafafa\"/>", w, h - bottom);
    for (int series = failed_only ? 1 : 0; series < 2; series++) {
        fprintf(fp, "<path fill=\"%s\" d=\"", series == 0 ? "#4caf50" : "#e53935");
        json_array_foreach(days, i, d)
        {
            json_int_t ok = failed_only ? 0 : json_integer_value(json_object_get(d, "successful"));
            json_int_t bad = json_integer_value(json_object_get(d, "failed"));
            double hs = scale * (double)ok, hf = scale * (double)bad;
            double x =
                (double)(day_number(json_string_value(json_object_get(d, "date"))) - first) * bw;

            if (bad > 0 && hf < 1)
                hf = 1; /* a failure is never invisible */
            if (series == 0 && ok > 0)
                fprintf(fp, "M%.1f %.1fv%.1fh%.1fv%.1fz", x, y0, -hs, bar, hs);
            if (series == 1 && bad > 0)
                fprintf(fp, "M%.1f %.1fv%.1fh%.1fv%.1fz", x, y0 - hs, -hf, bar, hf);
        }
        fprintf(fp, "\"/>");
    }
    if (n <= TITLES_MAX) {
        json_array_foreach(days, i, d)
        {
            double x =
                (double)(day_number(json_string_value(json_object_get(d, "date"))) - first) * bw;

            fprintf(fp,
                    "<rect x=\"%.1f\" y=\"0\" width=\"%.1f\" height=\"%.0f\" "
                    "fill=\"transparent\"><title>",
                    x, bw, y0);
            html_text(fp, json_string_value(json_object_get(d, "date")));
            fprintf(fp, ": %lld successful, %lld failed</title></rect>",
                    (long long)json_integer_value(json_object_get(d, "successful")),
                    (long long)json_integer_value(json_object_get(d, "failed")));
        }
    }
    fprintf(fp, "<text x=\"0\" y=\"%d\" font-size=\"11\">", h - 4);
    html_text(fp, json_string_value(json_object_get(json_array_get(days, 0), "date")));
    fprintf(fp, "</text><text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">", w, h - 4);
    html_text(fp, json_string_value(json_object_get(json_array_get(days, n - 1), "date")));
    fprintf(fp,
            "</text><text x=\"%d\" y=\"10\" font-size=\"11\" text-anchor=\"end\">max %lld "
            "%s/day</text></svg>\n",
            w, (long long)max, failed_only ? "failed" : "sessions");
}

/* html_days - the daily charts of one policy domain as inline SVG */
static void html_days(FILE *fp, const json_t *days, json_int_t failed)
{
    if (json_array_size(days) == 0)
        return;
    fprintf(fp, "<h3>Sessions per day</h3>\n");
    html_chart(fp, days, false);
    fprintf(fp, "<p class=\"legend\"><span style=\"background:#4caf50\"></span>successful"
                "<span style=\"background:#e53935\"></span>failed</p>\n");
    if (failed > 0) {
        fprintf(fp, "<h3>Failed sessions per day</h3>\n");
        html_chart(fp, days, true);
    }
}

/* html_bar - a horizontal bar of value out of max */
static void html_bar(FILE *fp, json_int_t value, json_int_t max)
{
    double wd = max > 0 ? 200.0 * (double)value / (double)max : 0;

    fprintf(fp,
            "<td><svg width=\"200\" height=\"12\"><rect width=\"%.1f\" height=\"12\" "
            "fill=\"#e53935\"/></svg></td>",
            wd);
}

/* html_dkim - one line: the domain's reports by DKIM verdict (RFC 8460 §5.3) */
static void html_dkim(FILE *fp, const json_t *dkim)
{
    const char *k;
    const json_t *v;
    const char *sep = "";

    if (json_object_size(dkim) == 0)
        return;
    fprintf(fp, "<p class=\"dkim\">Reports by DKIM verdict: ");
    json_object_foreach((json_t *)dkim, k, v)
    {
        fprintf(fp, "%s<span data-dkim=\"", sep);
        html_text(fp, k);
        fprintf(fp, "\">");
        html_text(fp, k);
        fprintf(fp, " %lld</span>", (long long)json_integer_value(v));
        sep = ", ";
    }
    fprintf(fp, "</p>\n");
}

/* html_domain - one policy domain's section */
static void html_domain(FILE *fp, const json_t *e)
{
    json_int_t ok = json_integer_value(json_object_get(e, "total_successful_session_count"));
    json_int_t bad = json_integer_value(json_object_get(e, "total_failure_session_count"));
    const json_t *ft = json_object_get(e, "failure_types"), *v, *x;
    json_int_t max = 0;
    const char *k;
    size_t j;

    fprintf(fp, "<section class=\"domain\" data-policy-domain=\"");
    html_text(fp, json_string_value(json_object_get(e, "policy_domain")));
    fprintf(fp, "\" data-policy-type=\"");
    html_text(fp, json_string_value(json_object_get(e, "policy_type")));
    fprintf(fp, "\">\n<h2>");
    html_text(fp, json_string_value(json_object_get(e, "policy_domain")));
    fprintf(fp, " <small>policy ");
    html_text(fp, json_string_value(json_object_get(e, "policy_type")));
    fprintf(fp,
            "</small></h2>\n<dl class=\"t\"><div><dt>successful sessions</dt>"
            "<dd class=\"ok\" data-k=\"total_successful_session_count\">%lld</dd></div>"
            "<div><dt>failed sessions</dt><dd class=\"bad\" "
            "data-k=\"total_failure_session_count\">%lld</dd></div>"
            "<div><dt>failed</dt><dd>%.2f%%</dd></div><div><dt>reports</dt>"
            "<dd data-k=\"reports\">%lld</dd></div></dl>\n",
            (long long)ok, (long long)bad,
            ok + bad > 0 ? 100.0 * (double)bad / (double)(ok + bad) : 0.0,
            (long long)json_integer_value(json_object_get(e, "reports")));
    if (json_integer_value(json_object_get(e, "policies_with_totals_mismatch")) > 0)
        fprintf(fp,
                "<p class=\"bad\">%lld report(s) list failure details that do not add up to "
                "their failure total; the totals above are the reporters' own.</p>\n",
                (long long)json_integer_value(json_object_get(e, "policies_with_totals_mismatch")));
    html_dkim(fp, json_object_get(e, "dkim"));
    html_days(fp, json_object_get(e, "days"), bad);

    fprintf(fp, "<h3>Failure types</h3>\n");
    if (json_object_size(ft) == 0)
        fprintf(fp, "<p class=\"empty\">no failure details reported</p>\n");
    else {
        json_object_foreach((json_t *)ft, k, v) if (json_integer_value(v) > max) max =
            json_integer_value(v);
        fprintf(fp, "<table class=\"failure-types\"><tr><th>result type</th><th "
                    "class=\"n\">failed sessions</th><th></th></tr>\n");
        json_object_foreach((json_t *)ft, k, v)
        {
            fprintf(fp, "<tr data-result-type=\"");
            html_text(fp, k);
            fprintf(fp, "\"><td>");
            html_text(fp, k);
            fprintf(fp, "</td><td class=\"n\">%lld</td>", (long long)json_integer_value(v));
            html_bar(fp, json_integer_value(v), max);
            fprintf(fp, "</tr>\n");
        }
        fprintf(fp, "</table>\n");
    }

    fprintf(fp, "<h3>Reporting organisations</h3>\n<table class=\"organizations\"><tr><th>"
                "organisation</th><th class=\"n\">successful</th><th class=\"n\">failed</th>"
                "</tr>\n");
    json_array_foreach(json_object_get(e, "organizations"), j, x)
    {
        fprintf(fp, "<tr data-org=\"");
        html_text(fp, json_string_value(json_object_get(x, "organization_name")));
        fprintf(fp, "\"><td>");
        html_text(fp, json_string_value(json_object_get(x, "organization_name")));
        fprintf(fp, "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td></tr>\n",
                (long long)json_integer_value(json_object_get(x, "successful")),
                (long long)json_integer_value(json_object_get(x, "failed")));
    }
    fprintf(fp, "</table>\n");

    if (json_array_size(json_object_get(e, "mx_hosts")) > 0) {
        fprintf(fp, "<h3>Your MX hosts in failure details</h3>\n<table class=\"mx-hosts\"><tr>"
                    "<th>receiving MX</th><th class=\"n\">failed sessions</th></tr>\n");
        json_array_foreach(json_object_get(e, "mx_hosts"), j, x)
        {
            const char *mx = json_string_value(json_object_get(x, "receiving_mx_hostname"));

            fprintf(fp, "<tr data-mx=\"");
            html_text(fp, mx);
            fprintf(fp, "\"><td>");
            html_text(fp, mx != NULL && *mx != '\0' ? mx : "(not named)");
            fprintf(fp, "</td><td class=\"n\">%lld</td></tr>\n",
                    (long long)json_integer_value(json_object_get(x, "failed_session_count")));
        }
        fprintf(fp, "</table>\n");
    }
    fprintf(fp, "</section>\n");
}

/* Sections in order of failed sessions, most first; ties keep the summary's order. */
struct ranked {
    const json_t *e;
    size_t pos;
};

/* by_failed - qsort order of struct ranked */
static int by_failed(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    json_int_t fx = json_integer_value(json_object_get(x->e, "total_failure_session_count"));
    json_int_t fy = json_integer_value(json_object_get(y->e, "total_failure_session_count"));

    if (fx != fy)
        return fx > fy ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * html_page - the whole page: an overview row for every (policy domain,
 * type), then a detailed section for the top ones by failed sessions (all
 * when top is 0). Returns 0, or -1 when out of memory.
 */
static int html_page(FILE *fp, const json_t *sum, size_t top)
{
    const json_t *list = json_object_get(sum, "policy_domains"), *e;
    size_t i, n = json_array_size(list), shown;
    struct ranked *order = NULL;

    if (n > 0 && (order = malloc(n * sizeof(*order))) == NULL)
        return -1;
    json_array_foreach(list, i, e)
    {
        order[i].e = e;
        order[i].pos = i;
    }
    if (n > 0)
        qsort(order, n, sizeof(*order), by_failed);
    shown = top == 0 || top > n ? n : top;
    fprintf(fp, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width\">"
                "<title>SMTP TLS reports</title><style>");
    fputs(html_css, fp);
    fprintf(fp, "</style></head><body>\n<h1>SMTP TLS reports (RFC 8460)</h1>\n<p>");
    if (json_is_null(json_object_get(sum, "since_days")))
        fprintf(fp, "Every stored report");
    else
        fprintf(fp, "Reports ending in the last %lld days",
                (long long)json_integer_value(json_object_get(sum, "since_days")));
    fprintf(fp, ", %zu policy domain(s).", n);
    if (shown < n)
        fprintf(fp,
                " Details follow for the %zu with the most failed sessions; "
                "<code>mxtls tlsrpt html --domain D</code> shows one, "
                "<code>--top 0</code> all.",
                shown);
    fprintf(fp, "</p>\n");
    if (n == 0)
        fprintf(fp, "<p class=\"empty\">No reports stored.</p>\n");
    else {
        fprintf(fp, "<table class=\"overview\"><tr><th>policy domain</th><th>type</th>"
                    "<th class=\"n\">successful</th><th class=\"n\">failed</th>"
                    "<th class=\"n\">failed %%</th></tr>\n");
        json_array_foreach(list, i, e)
        {
            json_int_t ok =
                json_integer_value(json_object_get(e, "total_successful_session_count"));
            json_int_t bad = json_integer_value(json_object_get(e, "total_failure_session_count"));

            fprintf(fp, "<tr data-policy-domain=\"");
            html_text(fp, json_string_value(json_object_get(e, "policy_domain")));
            fprintf(fp, "\" data-policy-type=\"");
            html_text(fp, json_string_value(json_object_get(e, "policy_type")));
            fprintf(fp, "\"><td>");
            html_text(fp, json_string_value(json_object_get(e, "policy_domain")));
            fprintf(fp, "</td><td>");
            html_text(fp, json_string_value(json_object_get(e, "policy_type")));
            fprintf(fp,
                    "</td><td class=\"n ok\">%lld</td><td class=\"n bad\">%lld</td>"
                    "<td class=\"n\">%.2f</td></tr>\n",
                    (long long)ok, (long long)bad,
                    ok + bad > 0 ? 100.0 * (double)bad / (double)(ok + bad) : 0.0);
        }
        fprintf(fp, "</table>\n");
    }
    for (i = 0; i < shown; i++)
        html_domain(fp, order[i].e);
    fprintf(fp, "</body></html>\n");
    free(order);
    return 0;
}

/* cmd_html - `mxtls tlsrpt html` */
static int cmd_html(int argc, char **argv)
{
    struct view_options o = {0};
    json_t *sum;
    int r = view_prepare("html", argc, argv, true, &o, &sum);

    if (r >= 0)
        return r;
    if (html_page(stdout, sum, (size_t)o.top) != 0) {
        json_decref(sum);
        fprintf(stderr, "mxtls tlsrpt html: out of memory\n");
        return MXTLS_EX_SOFTWARE;
    }
    json_decref(sum);
    return finish_output("html");
}

/* Server state for `serve`. */
struct serve_state {
    struct report_store *store;
    struct event_base *base;
    unsigned long stored, duplicates, refused;
};

/* reply - a short text answer */
static void reply(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *b = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    if (b != NULL)
        evbuffer_add_printf(b, "%s\n", text);
    evhttp_send_reply(req, code, reason, b);
    if (b != NULL)
        evbuffer_free(b);
}

/* on_request - one POST of a report (RFC 8460 §3: "https" rua) */
static void on_request(struct evhttp_request *req, void *arg)
{
    struct serve_state *st = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    struct mxtls_diag why;
    size_t len = evbuffer_get_length(in), n;
    char *buf, msg[MXTLS_DIAG_WHAT_MAX + 32];

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        reply(req, 405, "Method Not Allowed", "POST a TLS report (RFC 8460 §3)");
        return;
    }
    /* RFC 8460 §3: application/tlsrpt+json or application/tlsrpt+gzip */
    n = ct != NULL ? strcspn(ct, " ;") : 0;
    if (ct == NULL || n != 23 ||
        (strncasecmp(ct, "application/tlsrpt+json", 23) != 0 &&
         strncasecmp(ct, "application/tlsrpt+gzip", 23) != 0)) {
        st->refused++;
        reply(req, 415, "Unsupported Media Type",
              "Content-Type must be application/tlsrpt+json or application/tlsrpt+gzip");
        return;
    }
    buf = malloc(len + 1);
    if (buf == NULL) {
        reply(req, 503, "Service Unavailable", "out of memory");
        return;
    }
    evbuffer_remove(in, buf, len);
    buf[len] = '\0';
    if (strncasecmp(ct, "application/tlsrpt+gzip", 23) == 0 && !gz_is_gzip(buf, len)) {
        free(buf);
        st->refused++;
        reply(req, 400, "Bad Request", "refused: application/tlsrpt+gzip body is not gzip");
        return;
    }
    switch (ingest_buffer(st->store, NULL, "POST", buf, len, &why)) {
    case IN_STORED:
        st->stored++;
        reply(req, 201, "Created", "stored");
        break;
    case IN_DUPLICATE:
        st->duplicates++;
        reply(req, 200, "OK", "duplicate: already stored");
        break;
    case IN_REFUSED:
        st->refused++;
        snprintf(msg, sizeof(msg), "refused: %s", why.what);
        reply(req, 400, "Bad Request", msg);
        fprintf(stderr, "mxtls tlsrpt serve: POST %s: refused: %s\n", evhttp_request_get_uri(req),
                why.what);
        break;
    default:
        snprintf(msg, sizeof(msg), "not stored: %s", why.what);
        reply(req, 503, "Service Unavailable", msg);
        fprintf(stderr, "mxtls tlsrpt serve: %s\n", msg);
        break;
    }
    free(buf);
}

/* on_signal - SIGTERM/SIGINT: stop the loop */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopexit(arg, NULL);
}

/* cmd_serve - `mxtls tlsrpt serve` */
static int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"max-body", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = DEFAULT_DB, *listen_at = DEFAULT_LISTEN, *colon;
    unsigned long max_body = DEFAULT_MAXBODY;
    struct serve_state st = {0};
    struct evhttp *http = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    char host[256];
    unsigned long port = 0;
    int ch, rc = 0;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "d:l:b:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            db = optarg;
            break;
        case 'l':
            listen_at = optarg;
            break;
        case 'b': {
            char *end;

            errno = 0;
            max_body = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || max_body == 0 || max_body > INPUT_MAX) {
                fprintf(stderr, "mxtls tlsrpt serve: --max-body: 1..%u octets\n", INPUT_MAX);
                return MXTLS_EX_USAGE;
            }
            break;
        }
        case 'h':
            tlsrpt_usage_text(stdout);
            return 0;
        default:
            tlsrpt_usage_text(stderr);
            return MXTLS_EX_USAGE;
        }
    }
    colon = strrchr(listen_at, ':');
    if (optind != argc || colon == NULL || (size_t)(colon - listen_at) >= sizeof(host) ||
        colon == listen_at) {
        fprintf(stderr, "mxtls tlsrpt serve: --listen ADDR:PORT\n");
        return MXTLS_EX_USAGE;
    }
    for (const char *p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || port > 65535) {
            port = 70000;
            break;
        }
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port == 0 || port > 65535) {
        fprintf(stderr, "mxtls tlsrpt serve: --listen: bad port in %s\n", listen_at);
        return MXTLS_EX_USAGE;
    }
    memcpy(host, listen_at, (size_t)(colon - listen_at));
    host[colon - listen_at] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1]:8460 */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    st.store = open_store("serve", db);
    if (st.store == NULL)
        return MXTLS_EX_IOERR;
    signal(SIGPIPE, SIG_IGN);
    st.base = event_base_new();
    http = st.base != NULL ? evhttp_new(st.base) : NULL;
    if (http == NULL) {
        fprintf(stderr, "mxtls tlsrpt serve: cannot start libevent\n");
        rc = MXTLS_EX_SOFTWARE;
        goto out;
    }
    evhttp_set_max_body_size(http, (ev_ssize_t)max_body);
    evhttp_set_max_headers_size(http, 16384);
    evhttp_set_timeout(http, 30);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_POST | EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(http, on_request, &st);
    if (evhttp_bind_socket(http, host, (ev_uint16_t)port) != 0) {
        fprintf(stderr, "mxtls tlsrpt serve: cannot listen on %s: %s\n", listen_at,
                strerror(errno));
        rc = MXTLS_EX_IOERR;
        goto out;
    }
    sigterm = evsignal_new(st.base, SIGTERM, on_signal, st.base);
    sigint = evsignal_new(st.base, SIGINT, on_signal, st.base);
    if (sigterm == NULL || sigint == NULL || event_add(sigterm, NULL) != 0 ||
        event_add(sigint, NULL) != 0) {
        rc = MXTLS_EX_SOFTWARE;
        goto out;
    }
    fprintf(stderr, "mxtls tlsrpt serve: listening on %s\n", listen_at);
    event_base_dispatch(st.base);
    fprintf(stderr, "mxtls tlsrpt serve: stopped: %lu stored, %lu duplicates, %lu refused\n",
            st.stored, st.duplicates, st.refused);
out:
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    if (http != NULL)
        evhttp_free(http);
    if (st.base != NULL)
        event_base_free(st.base);
    report_store_close(st.store);
    return rc;
}

/* cmd_tlsrpt - dispatch to ingest, summary, html or serve */
int cmd_tlsrpt(int argc, char **argv)
{
    if (argc < 2) {
        tlsrpt_usage_text(stderr);
        return MXTLS_EX_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        tlsrpt_usage_text(stdout);
        return 0;
    }
    if (strcmp(argv[1], "ingest") == 0)
        return cmd_ingest(argc - 1, argv + 1);
    if (strcmp(argv[1], "summary") == 0)
        return cmd_summary(argc - 1, argv + 1);
    if (strcmp(argv[1], "html") == 0)
        return cmd_html(argc - 1, argv + 1);
    if (strcmp(argv[1], "collect") == 0) /* issue 12: cmd_tlsrpt_collect.c */
        return cmd_tlsrpt_collect(argc - 1, argv + 1);
    if (strcmp(argv[1], "report") == 0) /* issue 12: cmd_tlsrpt_report.c */
        return cmd_tlsrpt_report(argc - 1, argv + 1);
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    fprintf(stderr, "mxtls tlsrpt: no subcommand '%s'\n", argv[1]);
    tlsrpt_usage_text(stderr);
    return MXTLS_EX_USAGE;
}
