/*
 * tlsrpt_send - RFC 8460 report building and delivery (see tlsrpt_send.h).
 */
#include "tlsrpt_send.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "dkim_sign.h"
#include "mxtls/postfix_log.h"

#define REPORT_MAX (16 * 1024 * 1024) /* a day's JSON for one domain, at most */

/* list - a '\n'-terminated list as a JSON array of strings */
static json_t *list(const char *text)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    for (const char *p = text; *p != '\0';) {
        const char *e = strchr(p, '\n');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        if (n > 0)
            json_array_append_new(a, json_stringn(p, n));
        p += n + (e != NULL);
    }
    return a;
}

/* day_start - unix time of YYYY-MM-DD 00:00:00 UTC, -1 when malformed */
static int64_t day_start(const char *day)
{
    struct tm tm = {0};
    if (strlen(day) != 10 || day[4] != '-' || day[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (day[i] < '0' || day[i] > '9'))
            return -1;
    tm.tm_year =
        (day[0] - '0') * 1000 + (day[1] - '0') * 100 + (day[2] - '0') * 10 + (day[3] - '0') - 1900;
    tm.tm_mon = (day[5] - '0') * 10 + (day[6] - '0') - 1;
    tm.tm_mday = (day[8] - '0') * 10 + (day[9] - '0');
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31)
        return -1;
    return (int64_t)timegm(&tm);
}

/* tlsrpt_send_gzip - deflate with a gzip header naming the file */
int tlsrpt_send_gzip(const void *data, size_t len, const char *name, unsigned char **out,
                     size_t *outlen)
{
    z_stream z = {0};
    gz_header h = {0};
    *out = NULL;
    if (deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return MXTLS_ENOMEM;
    h.name = (Bytef *)(uintptr_t)name;
    h.os = 3; /* Unix */
    deflateSetHeader(&z, &h);
    size_t cap = deflateBound(&z, (uLong)len) + 1024 + (name != NULL ? strlen(name) : 0);
    unsigned char *b = malloc(cap);
    if (b == NULL) {
        deflateEnd(&z);
        return MXTLS_ENOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    z.next_out = b;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(b);
        return MXTLS_ENOMEM;
    }
    *out = b;
    *outlen = cap - z.avail_out;
    return 0;
}

/* tlsrpt_send_build - one domain's day as §4.4 JSON */
int tlsrpt_send_build(struct tlsrpt_sessions *s, const struct tlsrpt_config *cfg, const char *day,
                      const char *domain, struct tlsrpt_built *out, struct mxtls_diag *diag)
{
    sqlite3 *db = (sqlite3 *)tlsrpt_sessions_db(s);
    memset(out, 0, sizeof(*out));
    if (cfg->organization_name == NULL || cfg->submitter == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "tlsrpt.organization_name and tlsrpt.submitter must be configured");
    int64_t start = day_start(day);
    if (start < 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: not a day (YYYY-MM-DD)", day);
    snprintf(out->domain, sizeof(out->domain), "%s", domain);
    snprintf(out->day, sizeof(out->day), "%s", day);
    out->start = start;
    out->end = start + 86399;
    /* RFC 8460 §4.4 report-id: unique per report; the day, the domain and us */
    snprintf(out->report_id, sizeof(out->report_id), "%sT00:00:00Z_%s@%s", day, domain,
             cfg->submitter);
    /* §5.1: sender "!" policy-domain "!" begin-timestamp "!" end-timestamp "." extension */
    snprintf(out->filename, sizeof(out->filename), "%s!%s!%lld!%lld.json.gz", cfg->submitter,
             domain, (long long)out->start, (long long)out->end + 1);

    json_t *root = json_object(), *pols = json_array();
    char sd[32], ed[32];
    snprintf(sd, sizeof(sd), "%sT00:00:00Z", day);
    snprintf(ed, sizeof(ed), "%sT23:59:59Z", day);
    json_object_set_new(root, "organization-name", json_string(cfg->organization_name));
    json_object_set_new(root, "date-range",
                        json_pack("{s:s, s:s}", "start-datetime", sd, "end-datetime", ed));
    json_object_set_new(root, "contact-info",
                        json_string(cfg->contact_info != NULL ? cfg->contact_info : ""));
    json_object_set_new(root, "report-id", json_string(out->report_id));
    static const char pol_sql[] = "SELECT type, strings, mx, success, failure FROM counts WHERE "
                                  "day=? AND domain=? ORDER BY type, strings, mx";
    static const char det_sql[] = "SELECT result, sending_ip, mx_host, ip, reason, n FROM "
                                  "failures WHERE day=? AND domain=? AND type=? AND strings=? "
                                  "AND mx=? ORDER BY result, mx_host, ip, reason";
    sqlite3_stmt *st = tlsrpt_sessions_stmt(s, pol_sql), *fs = tlsrpt_sessions_stmt(s, det_sql);
    if (st == NULL || fs == NULL) {
        json_decref(root);
        json_decref(pols);
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "tlsrpt store: %s", sqlite3_errmsg(db));
    }
    sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC);
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 0);
        const char *strings = (const char *)sqlite3_column_text(st, 1);
        const char *mx = (const char *)sqlite3_column_text(st, 2);
        json_t *policy = json_object();
        json_object_set_new(policy, "policy-type", json_string(type));
        if (strings != NULL && *strings != '\0')
            json_object_set_new(policy, "policy-string", list(strings));
        json_object_set_new(policy, "policy-domain", json_string(domain)); /* always */
        if (mx != NULL && *mx != '\0')
            json_object_set_new(policy, "mx-host", list(mx));
        json_t *entry = json_object();
        json_object_set_new(entry, "policy", policy);
        json_object_set_new(entry, "summary",
                            json_pack("{s:I, s:I}", "total-successful-session-count",
                                      (json_int_t)sqlite3_column_int64(st, 3),
                                      "total-failure-session-count",
                                      (json_int_t)sqlite3_column_int64(st, 4)));
        json_t *fd = json_array();
        sqlite3_reset(fs);
        sqlite3_clear_bindings(fs);
        sqlite3_bind_text(fs, 1, day, -1, SQLITE_STATIC);
        sqlite3_bind_text(fs, 2, domain, -1, SQLITE_STATIC);
        sqlite3_bind_text(fs, 3, type, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(fs, 4, strings != NULL ? strings : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(fs, 5, mx != NULL ? mx : "", -1, SQLITE_TRANSIENT);
        while (sqlite3_step(fs) == SQLITE_ROW) {
            json_t *d = json_object();
            static const char *const names[] = {"result-type", "sending-mta-ip",
                                                "receiving-mx-hostname", "receiving-ip",
                                                "failure-reason-code"};
            for (int c = 0; c < 5; c++) {
                const char *v = (const char *)sqlite3_column_text(fs, c);
                if (v != NULL && *v != '\0') /* optional members only when known */
                    json_object_set_new(d, names[c], json_string(v));
            }
            json_object_set_new(d, "failed-session-count",
                                json_integer((json_int_t)sqlite3_column_int64(fs, 5)));
            json_array_append_new(fd, d);
        }
        if (json_array_size(fd) > 0)
            json_object_set_new(entry, "failure-details", fd);
        else
            json_decref(fd);
        json_array_append_new(pols, entry);
        n++;
    }
    tlsrpt_sessions_stmt_done(s, st);
    tlsrpt_sessions_stmt_done(s, fs);
    json_object_set_new(root, "policies", pols);
    if (n == 0) {
        json_decref(root);
        return MXTLS_ENOTFOUND;
    }
    out->json = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (out->json == NULL || strlen(out->json) > REPORT_MAX) {
        tlsrpt_built_finish(out);
        return MXTLS_ENOMEM;
    }
    /* the name in the gzip header is the file name without .gz */
    char inner[800];
    snprintf(inner, sizeof(inner), "%.*s", (int)(strlen(out->filename) - 3), out->filename);
    if (tlsrpt_send_gzip(out->json, strlen(out->json), inner, &out->gz, &out->gz_len) != 0) {
        tlsrpt_built_finish(out);
        return MXTLS_ENOMEM;
    }
    return 0;
}

/* tlsrpt_built_finish - free */
void tlsrpt_built_finish(struct tlsrpt_built *out)
{
    free(out->json);
    free(out->gz);
    out->json = NULL;
    out->gz = NULL;
}

/* discard - curl's write callback: the answer body is not needed */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* tlsrpt_send_https - §5.4 */
int tlsrpt_send_https(const char *uri, const char *addr, const struct tlsrpt_built *r,
                      const char *ca_file, struct mxtls_diag *diag)
{
    char err[CURL_ERROR_SIZE] = "";
    if (strncmp(uri, "https://", 8) != 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: not an https URI", uri);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return MXTLS_ENOMEM;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/tlsrpt+gzip");
    struct curl_slist *res = NULL;
    if (addr != NULL && *addr != '\0') {
        const char *h = uri + 8, *e = h;
        while (*e != '\0' && *e != '/' && *e != ':' && *e != '?')
            e++;
        char port[8] = "443";
        if (*e == ':') {
            size_t k = 0;
            for (const char *p = e + 1; *p >= '0' && *p <= '9' && k < 5; p++)
                port[k++] = *p;
            port[k] = '\0';
        }
        char entry[600];
        snprintf(entry, sizeof(entry), "%.*s:%s:%s", (int)(e - h), h, port, addr);
        res = curl_slist_append(NULL, entry);
        curl_easy_setopt(c, CURLOPT_RESOLVE, res);
    }
    curl_easy_setopt(c, CURLOPT_URL, uri);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)r->gz);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->gz_len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    /* the same strict rules as policy fetches (io/fetch.c): https only, TLS 1.2+,
       WebPKI verification with the name, no redirects, bounded time */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mxtls-tlsrpt");
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
    curl_slist_free_all(res);
    if (cc != CURLE_OK)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "%s: %s", uri,
                              *err != '\0' ? err : curl_easy_strerror(cc));
    if (status < 200 || status > 299) /* §5.4: any 2xx is a success */
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "%s: HTTP status %ld", uri, status);
    return 0;
}

/* tlsrpt_send_mailto_addr - mailto:addr[?hfields], %XX decoded (RFC 6068) */
int tlsrpt_send_mailto_addr(const char *uri, char *out, size_t size)
{
    size_t o = 0;
    if (strncmp(uri, "mailto:", 7) != 0)
        return MXTLS_EINVAL;
    for (const char *p = uri + 7; *p != '\0' && *p != '?'; p++) {
        char c = *p;
        if (c == '%' && p[1] != '\0' && p[2] != '\0') {
            char hx[3] = {p[1], p[2], '\0'};
            char *end;
            long v = strtol(hx, &end, 16);
            if (*end != '\0' || v <= 0x20 || v == 0x7f)
                return MXTLS_EINVAL;
            c = (char)v;
            p += 2;
        }
        if ((unsigned char)c <= 0x20 || c == '<' || c == '>' || o + 1 >= size)
            return MXTLS_EINVAL;
        out[o++] = c;
    }
    out[o] = '\0';
    return o > 0 && strchr(out, '@') != NULL ? 0 : MXTLS_EINVAL;
}

struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

/* add - append formatted text */
__attribute__((format(printf, 2, 3))) static void add(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, b->p != NULL ? b->cap - b->len : 0,
                          fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->p != NULL && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *q = realloc(b->p, cap);
        if (q == NULL) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

/* base64 - 76-column base64 lines with CRLF (RFC 2045 §6.8) */
static void base64(struct buf *b, const unsigned char *d, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char line[80];
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        line[k++] = t[v >> 18 & 63];
        line[k++] = t[v >> 12 & 63];
        line[k++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        line[k++] = i + 2 < n ? t[v & 63] : '=';
        if (k == 76) {
            add(b, "%.*s\r\n", (int)k, line);
            k = 0;
        }
    }
    if (k > 0)
        add(b, "%.*s\r\n", (int)k, line);
}

/* tlsrpt_send_mail_build - §5.3 */
int tlsrpt_send_mail_build(const struct tlsrpt_config *cfg, const char *rcpt,
                           const struct tlsrpt_built *r, char **msg, size_t *len,
                           struct mxtls_diag *diag)
{
    struct buf b = {0};
    char date[64], from[600], boundary[96];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    if (cfg->mail_from != NULL)
        snprintf(from, sizeof(from), "%s", cfg->mail_from);
    else
        snprintf(from, sizeof(from), "tlsrpt-noreply@%s", cfg->submitter);
    snprintf(boundary, sizeof(boundary), "mxtls-tlsrpt-%lld-%ld", (long long)now, (long)getpid());
    *msg = NULL;
    add(&b, "From: %s\r\n", from);
    add(&b, "To: <%s>\r\n", rcpt);
    add(&b, "Date: %s\r\n", date);
    /* §5.3: "Report Domain: ... Submitter: ... Report-ID: <...>" */
    add(&b, "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n", r->domain,
        cfg->submitter, r->report_id);
    add(&b, "Message-ID: <%s%s.%lld.%ld@%s>\r\n", POSTFIX_LOG_REPORT_MSGID, r->day, (long long)now,
        (long)getpid(), cfg->submitter);
    add(&b, "TLS-Report-Domain: %s\r\n", r->domain);
    add(&b, "TLS-Report-Submitter: %s\r\n", cfg->submitter);
    /* RFC 8689 §5: deliver the report even where TLS fails: it may say why */
    add(&b, "TLS-Required: No\r\n");
    add(&b, "MIME-Version: 1.0\r\n");
    add(&b, "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n\tboundary=\"%s\"\r\n",
        boundary);
    add(&b, "\r\n");
    add(&b, "This is a multipart message in MIME format.\r\n\r\n");
    add(&b, "--%s\r\n", boundary);
    add(&b, "Content-Type: text/plain; charset=\"us-ascii\"\r\n\r\n");
    add(&b, "This is an aggregate TLS report (RFC 8460) from %s\r\nfor %s, %s (UTC).\r\n\r\n",
        cfg->organization_name, r->domain, r->day);
    add(&b, "--%s\r\n", boundary);
    add(&b, "Content-Type: application/tlsrpt+gzip\r\n");
    add(&b, "Content-Transfer-Encoding: base64\r\n");
    add(&b, "Content-Disposition: attachment;\r\n\tfilename=\"%s\"\r\n\r\n", r->filename);
    base64(&b, r->gz, r->gz_len);
    add(&b, "\r\n--%s--\r\n", boundary);
    if (b.oom) {
        free(b.p);
        return MXTLS_ENOMEM;
    }
    if (cfg->dkim_key != NULL) {
        char *sig = NULL;
        const char *dom = cfg->dkim_domain != NULL ? cfg->dkim_domain : cfg->submitter;
        const char *sel = cfg->dkim_selector != NULL ? cfg->dkim_selector : "tlsrpt";
        int rc = dkim_sign_message(cfg->dkim_key, sel, dom, b.p, b.len, &sig, diag);
        if (rc != 0) {
            free(b.p);
            return rc;
        }
        size_t sl = strlen(sig);
        char *m = malloc(sl + 2 + b.len + 1);
        if (m == NULL) {
            free(sig);
            free(b.p);
            return MXTLS_ENOMEM;
        }
        memcpy(m, sig, sl);
        memcpy(m + sl, "\r\n", 2);
        memcpy(m + sl + 2, b.p, b.len + 1);
        free(sig);
        free(b.p);
        b.p = m;
        b.len += sl + 2;
    }
    *msg = b.p;
    *len = b.len;
    return 0;
}

/* tlsrpt_send_sendmail - fork, exec sendmail, write the message, wait */
int tlsrpt_send_sendmail(const struct tlsrpt_config *cfg, const char *rcpt, const char *msg,
                         size_t len, struct mxtls_diag *diag)
{
    int fds[2];
    char from[600];
    if (cfg->mail_from != NULL)
        snprintf(from, sizeof(from), "%s", cfg->mail_from);
    else
        snprintf(from, sizeof(from), "tlsrpt-noreply@%s", cfg->submitter);
    if (pipe(fds) != 0)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        const char *argv[12];
        int a = 0;
        argv[a++] = cfg->sendmail;
        if (cfg->sendmail_config_dir != NULL) {
            argv[a++] = "-C";
            argv[a++] = cfg->sendmail_config_dir;
        }
        argv[a++] = "-i";
        argv[a++] = "-f";
        argv[a++] = from;
        argv[a++] = "--";
        argv[a++] = rcpt;
        argv[a] = NULL;
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        execv(cfg->sendmail, (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(fds[0]);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    /* sendmail reads LF lines: write the message with bare LF */
    int werr = 0;
    for (size_t i = 0; i < len && werr == 0;) {
        size_t j = i;
        while (j < len && msg[j] != '\r')
            j++;
        if (j > i && write(fds[1], msg + i, j - i) != (ssize_t)(j - i))
            werr = errno != 0 ? errno : EIO;
        i = j;
        if (i < len && msg[i] == '\r')
            i++; /* the LF follows */
    }
    close(fds[1]);
    signal(SIGPIPE, old);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (werr != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "%s -> %s: %s", cfg->sendmail, rcpt,
                              werr != 0 ? strerror(werr) : "sendmail failed");
    return 0;
}
