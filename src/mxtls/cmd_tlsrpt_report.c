/*
 * cmd_tlsrpt_report - `mxtls tlsrpt report`: the RFC 8460 reports of one UTC
 * day, built from the collector's store and delivered to every rua of each
 * policy domain's `_smtp._tls` record (issue 12).
 *
 * Two phases, both crash-safe: (1) for each policy domain with sessions that
 * day and no report yet, look up `_smtp._tls.<domain>` with our validating
 * resolver (a bogus or failed answer: try again on the next run; no valid
 * record: nothing is sent, RFC 8460 §3), build the report and store it with
 * one pending delivery per rua, in one transaction; (2) attempt every pending
 * delivery that is due (any day): success marks it done, so each report
 * reaches each rua once; a failure is retried with doubling back-off (5 min
 * to 6 h) until retry_hours after the first attempt, then given up. With
 * --dry-run DIR nothing is looked up, stored or sent: each report is written
 * to DIR as its §5.1 file name (gzip) and as .json.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "dns.h"
#include "mxtls/tlsrpt_record.h"
#include "mxtls/txt.h"
#include "tlsrpt_config.h"
#include "tlsrpt_send.h"
#include "tlsrpt_sessions.h"

#define BACKOFF_MIN_S 300
#define BACKOFF_MAX_S 21600

struct lookup {
    bool done;
    enum decide_dns status;
    struct tlsrpt_record *rec; /* TXT: the record */
    char addr[64];             /* A: the first address */
    char why[600];
};

/* on_answer - keep what the caller needs from the answer */
static void on_answer(const struct dns_answer *a, void *arg)
{
    struct lookup *l = arg;
    l->done = true;
    l->status = a->status;
    if (a->status == DECIDE_DNS_BOGUS || a->status == DECIDE_DNS_FAILED) {
        snprintf(l->why, sizeof(l->why), "%s", a->why != NULL ? a->why : "lookup failed");
        return;
    }
    if (a->rrtype == DNS_RR_A) {
        if (a->n_rdata > 0 && a->rdata[0].len == 4)
            snprintf(l->addr, sizeof(l->addr), "%u.%u.%u.%u", a->rdata[0].data[0],
                     a->rdata[0].data[1], a->rdata[0].data[2], a->rdata[0].data[3]);
        return;
    }
    struct txt_rdata rd[64] = {{0}};
    size_t n = a->n_rdata < 64 ? a->n_rdata : 64;
    for (size_t i = 0; i < n; i++) {
        rd[i].data = a->rdata[i].data;
        rd[i].len = a->rdata[i].len;
    }
    struct mxtls_diag d = {0};
    if (tlsrpt_record_select_rdata(rd, n, &l->rec, &d) != 0)
        snprintf(l->why, sizeof(l->why), "%s", n == 0 ? "no record" : d.what);
}

/* resolve - one lookup, run to its end */
static void resolve(struct event_base *base, struct dns *dns, const char *name, int type,
                    struct lookup *l)
{
    memset(l, 0, sizeof(*l));
    l->status = DECIDE_DNS_FAILED;
    if (dns_query_start(dns, name, type, 0, on_answer, l, NULL) != 0) {
        snprintf(l->why, sizeof(l->why), "cannot look %s up", name);
        return;
    }
    while (!l->done)
        event_base_loop(base, EVLOOP_ONCE);
}

/* write_file - data to dir/name, 0600 */
static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, data, len);
    int rc = close(fd);
    return w == (ssize_t)len && rc == 0 ? 0 : -1;
}

/* usage - help */
static void usage(FILE *fp)
{
    fprintf(fp, "usage: mxtls tlsrpt report [-c CONFIG] [--db FILE] [--day YYYY-MM-DD] "
                "[--dry-run DIR]\n"
                "  Build the RFC 8460 reports of a UTC day (default: yesterday) and deliver\n"
                "  them to each domain's _smtp._tls rua (mailto: and https:).\n");
}

/* stage - phase 1 for one domain; returns 0, 1 when nothing is due, <0 on store failure */
static int stage(sqlite3 *db, struct tlsrpt_sessions *s, const struct tlsrpt_config *cfg,
                 struct event_base *base, struct dns *dns, const char *day, const char *domain)
{
    sqlite3_stmt *st;
    int have = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM report WHERE day=? AND domain=?", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC);
    have = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (have)
        return 1;
    char name[300];
    struct lookup l;
    snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
    resolve(base, dns, name, DNS_RR_TXT, &l);
    if (l.status == DECIDE_DNS_BOGUS || l.status == DECIDE_DNS_FAILED) {
        printf("%s: _smtp._tls lookup failed (%s): trying again next run\n", domain, l.why);
        return 1;
    }
    if (l.rec == NULL) {
        printf("%s: no valid TLSRPT record (%s): nothing sent (RFC 8460 §3)\n", domain, l.why);
        return 1;
    }
    struct tlsrpt_built r;
    struct mxtls_diag d = {0};
    int rc = tlsrpt_send_build(s, cfg, day, domain, &r, &d);
    if (rc != 0) {
        fprintf(stderr, "mxtls tlsrpt report: %s: %s\n", domain, d.what);
        tlsrpt_record_free(l.rec);
        return rc == MXTLS_ENOTFOUND ? 1 : -1;
    }
    int64_t now = (int64_t)time(NULL);
    rc = tlsrpt_sessions_begin(s, &d);
    if (rc == 0 && sqlite3_prepare_v2(db,
                                      "INSERT INTO report(report_id, day, domain, filename, gz) "
                                      "VALUES (?, ?, ?, ?, ?)",
                                      -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, r.report_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, day, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, domain, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r.filename, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 5, r.gz, (int)r.gz_len, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        sqlite3_finalize(st);
        for (size_t i = 0; rc == 0 && i < l.rec->n_rua; i++) {
            if (sqlite3_prepare_v2(db,
                                   "INSERT OR IGNORE INTO delivery(report_id, rua, state, "
                                   "first_try, next_try) VALUES (?, ?, 'pending', ?, ?)",
                                   -1, &st, NULL) != SQLITE_OK) {
                rc = -1;
                break;
            }
            sqlite3_bind_text(st, 1, r.report_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, l.rec->rua[i].uri, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, now);
            sqlite3_bind_int64(st, 4, now);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
            sqlite3_finalize(st);
        }
        if (rc == 0)
            rc = tlsrpt_sessions_commit(s, &d);
        else
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    } else if (rc == 0) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        rc = -1;
    }
    if (rc == 0)
        printf("%s: report %s staged for %zu rua\n", domain, r.filename, l.rec->n_rua);
    tlsrpt_built_finish(&r);
    tlsrpt_record_free(l.rec);
    return rc;
}

/* deliver_one - one attempt; 0 on success, else diag */
static int deliver_one(const struct tlsrpt_config *cfg, struct event_base *base, struct dns *dns,
                       const char *rua, const struct tlsrpt_built *r, struct mxtls_diag *d)
{
    if (strncmp(rua, "https://", 8) == 0) {
        char host[300];
        const char *h = rua + 8, *e = h;
        while (*e != '\0' && *e != '/' && *e != ':' && *e != '?')
            e++;
        snprintf(host, sizeof(host), "%.*s", (int)(e - h), h);
        struct lookup l;
        resolve(base, dns, host, DNS_RR_A, &l);
        if (l.addr[0] == '\0')
            return mxtls_diag_set(d, MXTLS_EIO, 0, "%s: no address (%s)", host,
                                  l.why[0] != '\0' ? l.why : "no A record");
        return tlsrpt_send_https(rua, l.addr, r, cfg->ca_file, d);
    }
    char addr[1100];
    if (tlsrpt_send_mailto_addr(rua, addr, sizeof(addr)) != 0)
        return mxtls_diag_set(d, MXTLS_EINVAL, 0, "%s: not a mailto: address", rua);
    char *msg;
    size_t len;
    int rc = tlsrpt_send_mail_build(cfg, addr, r, &msg, &len, d);
    if (rc != 0)
        return rc;
    rc = tlsrpt_send_sendmail(cfg, addr, msg, len, d);
    free(msg);
    return rc;
}

/* deliver - phase 2: every due pending delivery; returns how many failed */
static int deliver(sqlite3 *db, const struct tlsrpt_config *cfg, struct event_base *base,
                   struct dns *dns)
{
    sqlite3_stmt *st;
    int64_t now = (int64_t)time(NULL);
    int failed = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT d.report_id, d.rua, d.attempts, d.first_try, r.domain, r.day,"
                           " r.filename, r.gz FROM delivery d JOIN report r USING (report_id)"
                           " WHERE d.state='pending' AND d.next_try <= ? ORDER BY d.report_id",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, now);
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct tlsrpt_built r = {0};
        char id[600], rua[1100];
        snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(rua, sizeof(rua), "%s", (const char *)sqlite3_column_text(st, 1));
        int attempts = sqlite3_column_int(st, 2);
        int64_t first = sqlite3_column_int64(st, 3);
        snprintf(r.report_id, sizeof(r.report_id), "%s", id);
        snprintf(r.domain, sizeof(r.domain), "%s", (const char *)sqlite3_column_text(st, 4));
        snprintf(r.day, sizeof(r.day), "%s", (const char *)sqlite3_column_text(st, 5));
        snprintf(r.filename, sizeof(r.filename), "%s", (const char *)sqlite3_column_text(st, 6));
        r.gz = (unsigned char *)(uintptr_t)sqlite3_column_blob(st, 7);
        r.gz_len = (size_t)sqlite3_column_bytes(st, 7);
        struct mxtls_diag d = {0};
        int rc = deliver_one(cfg, base, dns, rua, &r, &d);
        sqlite3_stmt *up;
        const char *state = "done";
        int64_t next = 0, backoff = BACKOFF_MIN_S;
        if (rc != 0) {
            for (int i = 0; i < attempts && backoff < BACKOFF_MAX_S; i++)
                backoff *= 2;
            if (backoff > BACKOFF_MAX_S)
                backoff = BACKOFF_MAX_S;
            next = now + backoff;
            state = now - first >= (int64_t)cfg->retry_hours * 3600 ? "failed" : "pending";
            failed++;
            printf("%s: %s: not delivered: %s (%s)\n", r.domain, rua, d.what,
                   strcmp(state, "failed") == 0 ? "given up" : "will retry");
        } else {
            printf("%s: %s: delivered %s\n", r.domain, rua, r.filename);
        }
        if (sqlite3_prepare_v2(db,
                               "UPDATE delivery SET state=?, attempts=attempts+1, next_try=?,"
                               " last_error=? WHERE report_id=? AND rua=?",
                               -1, &up, NULL) == SQLITE_OK) {
            sqlite3_bind_text(up, 1, state, -1, SQLITE_STATIC);
            sqlite3_bind_int64(up, 2, next);
            sqlite3_bind_text(up, 3, rc != 0 ? d.what : "", -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(up, 4, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(up, 5, rua, -1, SQLITE_TRANSIENT);
            sqlite3_step(up);
            sqlite3_finalize(up);
        }
    }
    sqlite3_finalize(st);
    return failed;
}

/* cmd_tlsrpt_report - see cmd.h */
int cmd_tlsrpt_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"db", required_argument, NULL, 'd'},
        {"day", required_argument, NULL, 'D'},    {"dry-run", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *db_path = NULL, *dry = NULL;
    char day[11];
    int ch;
    tlsrpt_day((int64_t)time(NULL) - 86400, day); /* yesterday, UTC */
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:d:D:n:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'd':
            db_path = optarg;
            break;
        case 'D':
            if (strlen(optarg) != 10) {
                fprintf(stderr, "mxtls tlsrpt report: --day wants YYYY-MM-DD\n");
                return MXTLS_EX_USAGE;
            }
            memcpy(day, optarg, 11);
            break;
        case 'n':
            dry = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return MXTLS_EX_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return MXTLS_EX_USAGE;
    }
    struct tlsrpt_config cfg;
    struct mxtls_config mcfg;
    struct mxtls_diag d = {0};
    int rc = 0;
    bool mcfg_ok = false;
    struct tlsrpt_sessions *s = NULL;
    struct event_base *base = NULL;
    struct dns *dns = NULL;
    if (tlsrpt_config_load(config, &cfg, &d) != 0) {
        fprintf(stderr, "mxtls tlsrpt report: %s\n", d.what);
        rc = MXTLS_EX_USAGE;
        goto out;
    }
    int mrc = config != NULL ? config_load_file(config, &mcfg, &d) : config_init_defaults(&mcfg);
    mcfg_ok = mrc != MXTLS_ENOMEM;
    if (mrc != 0) {
        fprintf(stderr, "mxtls tlsrpt report: %s\n", d.what);
        rc = MXTLS_EX_USAGE;
        goto out;
    }
    if (tlsrpt_sessions_open(db_path != NULL ? db_path : cfg.store, &s, &d) != 0) {
        fprintf(stderr, "mxtls tlsrpt report: %s\n", d.what);
        rc = MXTLS_EX_TEMPFAIL;
        goto out;
    }
    sqlite3 *db = (sqlite3 *)tlsrpt_sessions_db(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT DISTINCT domain FROM counts WHERE day=? ORDER BY domain", -1,
                           &st, NULL) != SQLITE_OK) {
        rc = MXTLS_EX_TEMPFAIL;
        goto out;
    }
    sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
    if (dry == NULL) {
        base = event_base_new();
        if (base == NULL || (dns = dns_new(base, mcfg.unbound_config, mcfg.trust_anchor_file,
                                           &mcfg.resolver, &d)) == NULL) {
            fprintf(stderr, "mxtls tlsrpt report: resolver: %s\n", d.what);
            sqlite3_finalize(st);
            rc = MXTLS_EX_USAGE;
            goto out;
        }
    }
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char domain[254];
        snprintf(domain, sizeof(domain), "%s", (const char *)sqlite3_column_text(st, 0));
        n++;
        if (dry != NULL) {
            struct tlsrpt_built r;
            if (tlsrpt_send_build(s, &cfg, day, domain, &r, &d) != 0) {
                fprintf(stderr, "mxtls tlsrpt report: %s: %s\n", domain, d.what);
                rc = MXTLS_EX_DATAERR;
                continue;
            }
            char json_name[820];
            snprintf(json_name, sizeof(json_name), "%.*s", (int)(strlen(r.filename) - 3),
                     r.filename);
            if (write_file(dry, r.filename, r.gz, r.gz_len) != 0 ||
                write_file(dry, json_name, r.json, strlen(r.json)) != 0) {
                fprintf(stderr, "mxtls tlsrpt report: %s/%s: %s\n", dry, r.filename,
                        strerror(errno));
                rc = MXTLS_EX_IOERR;
            } else {
                printf("%s: %s/%s\n", domain, dry, r.filename);
            }
            /* the §5.3 mail as it would go to tlsrpt@<domain>, signed when a key is set */
            char rcpt[300], eml[840], *msg = NULL;
            size_t mlen = 0;
            snprintf(rcpt, sizeof(rcpt), "tlsrpt@%s", domain);
            snprintf(eml, sizeof(eml), "%s.eml", json_name);
            if (tlsrpt_send_mail_build(&cfg, rcpt, &r, &msg, &mlen, &d) != 0 ||
                write_file(dry, eml, msg, mlen) != 0) {
                fprintf(stderr, "mxtls tlsrpt report: %s: mail: %s\n", domain, d.what);
                rc = MXTLS_EX_DATAERR;
            }
            free(msg);
            tlsrpt_built_finish(&r);
            continue;
        }
        if (stage(db, s, &cfg, base, dns, day, domain) < 0) {
            fprintf(stderr, "mxtls tlsrpt report: %s: store: %s\n", domain, sqlite3_errmsg(db));
            rc = MXTLS_EX_TEMPFAIL;
        }
    }
    sqlite3_finalize(st);
    if (dry == NULL && rc == 0) {
        int failed = deliver(db, &cfg, base, dns);
        if (failed != 0)
            rc = failed < 0 ? MXTLS_EX_TEMPFAIL : 1;
    }
    if (n == 0)
        printf("no sessions on %s\n", day);
out:
    dns_free(dns);
    if (base != NULL)
        event_base_free(base);
    tlsrpt_sessions_close(s);
    if (mcfg_ok)
        config_finish(&mcfg);
    tlsrpt_config_finish(&cfg);
    return rc;
}
