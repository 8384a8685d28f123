/*
 * test_postfix_log - Postfix 3.7 smtp(8) log lines to RFC 8460 result types,
 * and mxtlsd's tlsrpt-policy records (lib/postfix_log.c).
 *
 * Every Postfix line here was copied from the maillog of the e2e suite
 * (tests/e2e/e2e.sh, Postfix 3.7.11 on Debian 12, smtp_tls_loglevel = 1,
 * certmatch): these rows are the mapping table of doc/internals.md.
 */
#include "unit.h"

#include <stdio.h>
#include <string.h>

#include "mxtls/postfix_log.h"

#define Y 2026

/* ------------------------------------------------------------ single lines */

struct line_row {
    const char *rule;
    const char *line;
    enum postfix_line_kind kind;
    int result; /* expected result, -1: not checked */
    const char *host, *ip;
    int trust; /* -1: not checked */
};

static const struct line_row line_rows[] = {
    {"Verified TLS connection established (DANE match): success",
     "Dec 02 07:14:27 sender postfix/smtp[16424]: Verified TLS connection established to "
     "mx.a311.dane.test[127.89.0.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) "
     "key-exchange X25519 server-signature ECDSA (prime256v1) server-digest SHA256",
     POSTFIX_LINE_ESTABLISHED, -1, "mx.a311.dane.test", "127.89.0.1", POSTFIX_TRUST_VERIFIED},
    {"Untrusted TLS connection established: opportunistic TLS",
     "Dec 02 07:14:27 sender postfix/smtp[16424]: Untrusted TLS connection established to "
     "mx.forge.ctl.test[127.89.0.14]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) "
     "key-exchange X25519 server-signature ECDSA (prime256v1) server-digest SHA256",
     POSTFIX_LINE_ESTABLISHED, -1, "mx.forge.ctl.test", "127.89.0.14", POSTFIX_TRUST_UNTRUSTED},
    {"Trusted TLS connection established (synthetic: CA chain only)",
     "Dec  2 07:14:27 sender postfix/smtp[1]: Trusted TLS connection established to "
     "MX.Example.TEST[192.0.2.1]:25: TLSv1.2 with cipher X",
     POSTFIX_LINE_ESTABLISHED, -1, "mx.example.test", "192.0.2.1", POSTFIX_TRUST_TRUSTED},
    {"RFC 8460 §4.3.2.2 tlsa-invalid: num=65:no matching DANE TLSA records",
     "Dec 02 07:14:27 sender postfix/smtp[16449]: server certificate verification failed for "
     "mx.forge.dane.test[127.89.0.4]:25: num=65:no matching DANE TLSA records",
     POSTFIX_LINE_VERIFY_FAIL, TLSRPT_TLSA_INVALID, "mx.forge.dane.test", "127.89.0.4", -1},
    {"RFC 8460 §4.3.1 certificate-host-mismatch: num=62:hostname mismatch",
     "Dec 02 07:14:27 sender postfix/smtp[16424]: server certificate verification failed for "
     "mx.wrongname.sts.test[127.89.0.9]:25: num=62:hostname mismatch",
     POSTFIX_LINE_VERIFY_FAIL, TLSRPT_CERTIFICATE_HOST_MISMATCH, "mx.wrongname.sts.test",
     "127.89.0.9", -1},
    {"RFC 8460 §4.3.1 certificate-not-trusted: untrusted issuer",
     "Dec 02 07:14:27 sender postfix/smtp[16449]: certificate verification failed for "
     "mx.forge.sts.test[127.89.0.8]:25: untrusted issuer /CN=mxtls testbed attacker-ca",
     POSTFIX_LINE_VERIFY_FAIL, TLSRPT_CERTIFICATE_NOT_TRUSTED, "mx.forge.sts.test", "127.89.0.8",
     -1},
    {"transport smtp-strict (postfix/smtp-strict/smtp) is the smtp client too",
     "Dec 02 07:14:27 sender postfix/smtp-strict/smtp[16527]: certificate verification failed "
     "for mx.testing.sts.test[127.89.0.12]:25: untrusted issuer /CN=mxtls testbed attacker-ca",
     POSTFIX_LINE_VERIFY_FAIL, TLSRPT_CERTIFICATE_NOT_TRUSTED, "mx.testing.sts.test", "127.89.0.12",
     -1},
    {"RFC 8460 §4.3.1 certificate-expired (tls_verify.c wording)",
     "Dec 02 07:14:27 sender postfix/smtp[7]: server certificate verification failed for "
     "mx.old.test[192.0.2.7]:25: certificate has expired",
     POSTFIX_LINE_VERIFY_FAIL, TLSRPT_CERTIFICATE_EXPIRED, "mx.old.test", "192.0.2.7", -1},
    {"RFC 8460 §4.3.1 validation-failure: any other verification error",
     "Dec 02 07:14:27 sender postfix/smtp[7]: server certificate verification failed for "
     "mx.old.test[192.0.2.7]:25: certificate not yet valid",
     POSTFIX_LINE_VERIFY_FAIL, TLSRPT_VALIDATION_FAILURE, "mx.old.test", "192.0.2.7", -1},
    {"RFC 8460 §4.3.1 starttls-not-supported: TLS is required, but was not offered",
     "Dec 02 07:14:27 sender postfix/smtp[16441]: 46496A760FD: to=<user@strip.dane.test>, "
     "relay=mx.strip.dane.test[127.89.0.3]:25, delay=0.07, delays=0/0.02/0.05/0, dsn=4.7.4, "
     "status=deferred (TLS is required, but was not offered by host "
     "mx.strip.dane.test[127.89.0.3])",
     POSTFIX_LINE_DELIVERY, TLSRPT_STARTTLS_NOT_SUPPORTED, "mx.strip.dane.test", "127.89.0.3", -1},
    {"status=sent: a delivery line, no failure in its text",
     "Dec 02 07:14:27 sender postfix/smtp[16424]: 0C02DA760F8: to=<user@a311.dane.test>, "
     "relay=mx.a311.dane.test[127.89.0.1]:25, delay=0.18, delays=0.02/0.02/0.1/0.05, dsn=2.0.0, "
     "status=sent (250 2.0.0 ok: queued as 000001-mx.a311.dane.test.eml)",
     POSTFIX_LINE_DELIVERY, TLSRPT_SUCCESS, "mx.a311.dane.test", "127.89.0.1", -1},
    {"Server certificate not verified: a verification failure (validation-failure)",
     "Dec 02 07:14:27 sender postfix/smtp[16449]: 4A889A760FE: to=<user@forge.dane.test>, "
     "relay=mx.forge.dane.test[127.89.0.4]:25, delay=0.08, delays=0/0.02/0.06/0, dsn=4.7.5, "
     "status=deferred (Server certificate not verified)",
     POSTFIX_LINE_DELIVERY, TLSRPT_VALIDATION_FAILURE, "mx.forge.dane.test", "127.89.0.4", -1},
    {"relay=none, client TLS configuration problem: the policy lookup failed",
     "Dec 02 07:14:30 sender postfix/smtp[16455]: CD76FA760C1: to=<user11@good.sts.test>, "
     "relay=none, delay=0.01, delays=0/0/0.01/0, dsn=4.7.5, status=deferred (client TLS "
     "configuration problem)",
     POSTFIX_LINE_DELIVERY, TLSRPT_SUCCESS, "", "", -1},
    {"certificate details line: not an outcome",
     "Dec 02 07:14:27 sender postfix/smtp[16424]: mx.a311.dane.test[127.89.0.1]:25: "
     "Matched DANE EE certificate at depth 0: 3 1 1 6C9AD2D11B76F3FECB68F0B17DCECF404A1C27948",
     POSTFIX_LINE_OTHER, -1, NULL, NULL, -1},
    {"smtpd, not smtp: not the client",
     "Dec 02 07:14:27 sender postfix/smtpd[1]: Verified TLS connection established to "
     "x.test[192.0.2.1]:25: TLSv1.3",
     POSTFIX_LINE_OTHER, -1, NULL, NULL, -1},
    {"qmgr line: other", "Dec 02 07:14:27 sender postfix/qmgr[16400]: 0C02DA760F8: removed",
     POSTFIX_LINE_OTHER, -1, NULL, NULL, -1},
    {"no timestamp: other", "postfix/smtp[1]: Verified TLS connection established to a[1]:25:",
     POSTFIX_LINE_OTHER, -1, NULL, NULL, -1},
    {"bad month: other",
     "Foo 02 07:14:27 h postfix/smtp[1]: Verified TLS connection established to a[1]:25: x",
     POSTFIX_LINE_OTHER, -1, NULL, NULL, -1},
    {"host without [address]: other",
     "Dec 02 07:14:27 h postfix/smtp[1]: Verified TLS connection established to a.test:25: x",
     POSTFIX_LINE_OTHER, -1, NULL, NULL, -1},
    {"recipient without @: other",
     "Dec 02 07:14:27 h postfix/smtp[1]: 0C02: to=<postmaster>, relay=a[1.2.3.4]:25, "
     "status=sent (ok)",
     POSTFIX_LINE_OTHER, -1, NULL, NULL, -1},
    {"empty line: other", "", POSTFIX_LINE_OTHER, -1, NULL, NULL, -1},
};

static void test_line(void **state)
{
    const struct line_row *r = *state;
    struct postfix_line *l = malloc(sizeof(*l));
    if (l == NULL)
        abort();
    assert_int_equal(postfix_log_parse(r->line, strlen(r->line), Y, l, NULL), 0);
    assert_int_equal(l->kind, r->kind);
    if (r->result >= 0)
        assert_int_equal(l->result, r->result);
    if (r->host != NULL)
        assert_string_equal(l->host, r->host);
    if (r->ip != NULL)
        assert_string_equal(l->ip, r->ip);
    if (r->trust >= 0)
        assert_int_equal(l->trust, r->trust);
    free(l);
}

/* ------------------------------------------------------------ timestamps */

struct time_row {
    const char *rule;
    const char *line;
    int64_t t; /* -1: not a timestamp */
};

static const struct time_row time_rows[] = {
    {"maillog_file form, zero-padded day", "Dec 02 07:14:27 h postfix/qmgr[1]: x", 1796195667},
    {"syslog form, space-padded day", "Dec  2 07:14:27 h postfix/qmgr[1]: x", 1796195667},
    {"RFC 3339 Z", "2026-12-02T07:14:27Z h postfix/qmgr[1]: x", 1796195667},
    {"RFC 3339 with fraction and offset", "2026-12-02T08:14:27.123456+01:00 h postfix/qmgr[1]: x",
     1796195667},
    {"mxtlsd's own log form", "2026-12-02T07:14:27.192Z mxtlsd[1]: info: x", 1796195667},
    {"month 13 is not a date", "2026-13-02T07:14:27Z h p[1]: x", -1},
    {"hour 24 is not a time", "Dec 02 24:14:27 h p[1]: x", -1},
};

static void test_time(void **state)
{
    const struct time_row *r = *state;
    struct postfix_line *l = malloc(sizeof(*l));
    if (l == NULL)
        abort();
    assert_int_equal(postfix_log_parse(r->line, strlen(r->line), Y, l, NULL), 0);
    if (r->t >= 0)
        assert_int_equal(l->time, r->t);
    else
        assert_int_equal(l->time, 0);
    free(l);
}

/* ------------------------------------------------------------ sessions */

struct session_row {
    const char *rule;
    const char *lines[6];
    int n_sessions;
    int result;       /* of the first session */
    const char *rcpt; /* its domain */
    bool tls;
};

#define P16 "Dec 02 07:14:27 sender postfix/smtp[16449]: "
static const struct session_row session_rows[] = {
    {"DANE forged: verification failure, Untrusted TLS, deferred -> tlsa-invalid",
     {P16 "server certificate verification failed for mx.forge.dane.test[127.89.0.4]:25: "
          "num=65:no matching DANE TLSA records",
      P16 "mx.forge.dane.test[127.89.0.4]:25: subject_CN=mx.forge.dane.test, issuer_CN=mxtls "
          "testbed attacker-ca, fingerprint=C7:BB",
      P16 "Untrusted TLS connection established to mx.forge.dane.test[127.89.0.4]:25: TLSv1.3 "
          "with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
      P16 "4A889A760FE: to=<user@forge.dane.test>, relay=mx.forge.dane.test[127.89.0.4]:25, "
          "delay=0.08, delays=0/0.02/0.06/0, dsn=4.7.5, status=deferred (Server certificate not "
          "verified)"},
     1,
     TLSRPT_TLSA_INVALID,
     "forge.dane.test",
     true},
    {"MTA-STS forged name: certificate-host-mismatch",
     {P16 "server certificate verification failed for mx.wrongname.sts.test[127.89.0.9]:25: "
          "num=62:hostname mismatch",
      P16 "Untrusted TLS connection established to mx.wrongname.sts.test[127.89.0.9]:25: TLSv1.3",
      P16 "6D96FA7610E: to=<user@wrongname.sts.test>, relay=mx.wrongname.sts.test[127.89.0.9]:25, "
          "delay=0.06, delays=0/0/0.05/0, dsn=4.7.5, status=deferred (Server certificate not "
          "verified)"},
     1,
     TLSRPT_CERTIFICATE_HOST_MISMATCH,
     "wrongname.sts.test",
     true},
    {"Verified, sent -> success",
     {P16 "Verified TLS connection established to mx.good.sts.test[127.89.0.6]:25: TLSv1.3",
      P16 "573D6A76100: to=<user@good.sts.test>, relay=mx.good.sts.test[127.89.0.6]:25, "
          "delay=0.16, dsn=2.0.0, status=sent (250 2.0.0 ok)"},
     1,
     TLSRPT_SUCCESS,
     "good.sts.test",
     true},
    {"two recipients of one message over one session: one session",
     {P16 "Verified TLS connection established to mx.good.sts.test[127.89.0.6]:25: TLSv1.3",
      P16 "573D6A76100: to=<a@good.sts.test>, relay=mx.good.sts.test[127.89.0.6]:25, "
          "dsn=2.0.0, status=sent (250 ok)",
      P16 "573D6A76100: to=<b@good.sts.test>, relay=mx.good.sts.test[127.89.0.6]:25, "
          "dsn=2.0.0, status=sent (250 ok)"},
     1,
     TLSRPT_SUCCESS,
     "good.sts.test",
     true},
    {"a cached connection (conn_use=2) is not a new session",
     {P16 "Verified TLS connection established to mx.good.sts.test[127.89.0.6]:25: TLSv1.3",
      P16 "573D6A76100: to=<a@good.sts.test>, relay=mx.good.sts.test[127.89.0.6]:25, "
          "dsn=2.0.0, status=sent (250 ok)",
      P16 "573D6A76101: to=<b@good.sts.test>, relay=mx.good.sts.test[127.89.0.6]:25, "
          "conn_use=2, delay=1, dsn=2.0.0, status=sent (250 ok)"},
     1,
     TLSRPT_SUCCESS,
     "good.sts.test",
     true},
    {"STARTTLS stripped, deferred: starttls-not-supported with no TLS line",
     {P16 "5EF84A7610A: to=<user@strip.sts.test>, relay=mx.strip.sts.test[127.89.0.7]:25, "
          "delay=0.06, delays=0/0/0.05/0, dsn=4.7.4, status=deferred (TLS is required, but was "
          "not offered by host mx.strip.sts.test[127.89.0.7])"},
     1,
     TLSRPT_STARTTLS_NOT_SUPPORTED,
     "strip.sts.test",
     false},
    {"plaintext delivery (no policy, stripped): starttls-not-supported, tls false",
     {P16 "8B2DBA76126: to=<user@strip.ctl.test>, relay=mx.strip.ctl.test[127.89.0.13]:25, "
          "delay=0.1, dsn=2.0.0, status=sent (250 2.0.0 ok)"},
     1,
     TLSRPT_STARTTLS_NOT_SUPPORTED,
     "strip.ctl.test",
     false},
    {"opportunistic Untrusted TLS, sent: success",
     {P16 "Untrusted TLS connection established to mx.nopol.sts.test[127.89.0.10]:25: TLSv1.3",
      P16 "73359A7611B: to=<user@nopol.sts.test>, relay=mx.nopol.sts.test[127.89.0.10]:25, "
          "delay=0.15, dsn=2.0.0, status=sent (250 2.0.0 ok)"},
     1,
     TLSRPT_SUCCESS,
     "nopol.sts.test",
     true},
    {"connection refused (no TLS, deferred): not a TLS session",
     {P16 "ABC: to=<u@down.test>, relay=mx.down.test[192.0.2.9]:25, delay=1, dsn=4.4.1, "
          "status=deferred (connect to mx.down.test[192.0.2.9]:25: Connection refused)"},
     0,
     0,
     NULL,
     false},
    {"another process's session in between does not evict a pending one",
     {P16 "mx.a211.dane.test[127.89.0.2]:25: matched peername: mx.a211.dane.test",
      P16 "Verified TLS connection established to mx.a211.dane.test[127.89.0.2]:25: TLSv1.3",
      "Dec 02 07:18:29 sender postfix/smtp[28577]: 57626A84500: to=<user@strip.dane.test>, "
      "relay=mx.strip.dane.test[127.89.0.3]:25, delay=0.07, dsn=4.7.4, status=deferred (TLS is "
      "required, but was not offered by host mx.strip.dane.test[127.89.0.3])",
      P16 "53366A844FF: to=<user@a211.dane.test>, relay=mx.a211.dane.test[127.89.0.2]:25, "
          "delay=0.15, dsn=2.0.0, status=sent (250 2.0.0 ok)"},
     2,
     TLSRPT_STARTTLS_NOT_SUPPORTED,
     "strip.dane.test",
     false},
    {"a second delivery by the same process is a new session",
     {P16 "Verified TLS connection established to mx.rot.test[127.89.0.5]:25: TLSv1.3",
      P16 "51204A760FF: to=<user@rot.test>, relay=mx.rot.test[127.89.0.5]:25, dsn=2.0.0, "
          "status=sent (250 ok)",
      P16 "server certificate verification failed for mx.rot.test[127.89.0.5]:25: "
          "num=65:no matching DANE TLSA records",
      P16 "Untrusted TLS connection established to mx.rot.test[127.89.0.5]:25: TLSv1.3",
      P16 "C4D5EA76132: to=<rotated@rot.test>, relay=mx.rot.test[127.89.0.5]:25, dsn=4.7.5, "
          "status=deferred (Server certificate not verified)"},
     2,
     TLSRPT_SUCCESS,
     "rot.test",
     true},
};

static void test_session(void **state)
{
    const struct session_row *r = *state;
    struct postfix_sessions *s = postfix_sessions_new();
    struct postfix_line *l = malloc(sizeof(*l));
    struct postfix_session out[4], tmp;
    int n = 0;
    if (s == NULL || l == NULL)
        abort();
    for (size_t i = 0; i < 6 && r->lines[i] != NULL; i++) {
        assert_int_equal(postfix_log_parse(r->lines[i], strlen(r->lines[i]), Y, l, NULL), 0);
        if (postfix_sessions_feed(s, l, &tmp) == 1 && n < 4)
            out[n++] = tmp;
    }
    assert_int_equal(n, r->n_sessions);
    if (n > 0) {
        assert_int_equal(out[0].result, r->result);
        assert_string_equal(out[0].rcpt_domain, r->rcpt);
        assert_int_equal(out[0].tls, r->tls);
    }
    if (n == 2 && strcmp(r->rcpt, "rot.test") == 0) /* the rotation: the TLSA failed */
        assert_int_equal(out[1].result, TLSRPT_TLSA_INVALID);
    if (n == 2 && strcmp(r->rcpt, "strip.dane.test") == 0) { /* interleaved: still verified */
        assert_int_equal(out[1].result, TLSRPT_SUCCESS);
        assert_true(out[1].tls);
    }
    free(l);
    postfix_sessions_free(s);
}

/* eviction: more processes than the table holds never crash or leak */
static void test_many_pids(void **state)
{
    (void)state;
    struct postfix_sessions *s = postfix_sessions_new();
    struct postfix_line *l = malloc(sizeof(*l));
    struct postfix_session o;
    char buf[256];
    if (s == NULL || l == NULL)
        abort();
    for (int i = 1; i <= 3 * POSTFIX_SESSIONS_PIDS; i++) {
        int n = snprintf(buf, sizeof(buf),
                         "Dec 02 07:14:27 h postfix/smtp[%d]: Verified TLS connection "
                         "established to mx.a.test[192.0.2.1]:25: x",
                         i);
        assert_int_equal(postfix_log_parse(buf, (size_t)n, Y, l, NULL), 0);
        assert_int_equal(postfix_sessions_feed(s, l, &o), 0);
    }
    /* the latest process is still known */
    int n = snprintf(buf, sizeof(buf),
                     "Dec 02 07:14:27 h postfix/smtp[%d]: Q1: to=<u@a.test>, "
                     "relay=mx.a.test[192.0.2.1]:25, dsn=2.0.0, status=sent (ok)",
                     3 * POSTFIX_SESSIONS_PIDS);
    assert_int_equal(postfix_log_parse(buf, (size_t)n, Y, l, NULL), 0);
    assert_int_equal(postfix_sessions_feed(s, l, &o), 1);
    assert_int_equal(o.result, TLSRPT_SUCCESS);
    assert_true(o.tls);
    free(l);
    postfix_sessions_free(s);
}

/* the pending state survives a restart: saved, loaded, the session completes */
static void test_save_load(void **state)
{
    (void)state;
    static const char *const lines[] = {
        P16 "server certificate verification failed for mx.forge.dane.test[127.89.0.4]:25: "
            "num=65:no matching DANE TLSA records",
        P16 "Untrusted TLS connection established to mx.forge.dane.test[127.89.0.4]:25: TLSv1.3",
        P16 "4A889A760FE: to=<user@forge.dane.test>, relay=mx.forge.dane.test[127.89.0.4]:25, "
            "dsn=4.7.5, status=deferred (Server certificate not verified)"};
    struct postfix_sessions *a = postfix_sessions_new(), *b = postfix_sessions_new();
    struct postfix_line *l = malloc(sizeof(*l));
    unsigned char *blob = malloc(POSTFIX_SESSIONS_BLOB_MAX);
    struct postfix_session o;
    if (a == NULL || b == NULL || l == NULL || blob == NULL)
        abort();
    for (int i = 0; i < 2; i++) {
        assert_int_equal(postfix_log_parse(lines[i], strlen(lines[i]), Y, l, NULL), 0);
        assert_int_equal(postfix_sessions_feed(a, l, &o), 0);
    }
    size_t n = postfix_sessions_save(a, blob, POSTFIX_SESSIONS_BLOB_MAX);
    assert_true(n > 12);
    assert_int_equal(postfix_sessions_save(a, blob, 11), 0);
    assert_int_equal(postfix_sessions_load(b, blob, n), 0);
    assert_int_equal(postfix_log_parse(lines[2], strlen(lines[2]), Y, l, NULL), 0);
    assert_int_equal(postfix_sessions_feed(b, l, &o), 1);
    assert_int_equal(o.result, TLSRPT_TLSA_INVALID);
    /* another layout or a damaged blob is refused, the state left alone */
    assert_int_equal(postfix_sessions_load(b, blob, n - 1), MXTLS_EINVAL);
    blob[0] = 'X';
    assert_int_equal(postfix_sessions_load(b, blob, n), MXTLS_EINVAL);
    /* a blob whose flags and strings are garbage is made safe */
    n = postfix_sessions_save(a, blob, POSTFIX_SESSIONS_BLOB_MAX);
    memset(blob + 12, 0x7f, n - 12);
    assert_int_equal(postfix_sessions_load(b, blob, n), 0);
    assert_int_equal(postfix_sessions_feed(b, l, &o) >= 0, 1);
    free(blob);
    free(l);
    postfix_sessions_free(a);
    postfix_sessions_free(b);
}

/* ------------------------------------------------------------ policy records */

struct policy_row {
    const char *rule;
    const char *line;
    int rc;
    int type;
    int failure;
    const char *domain, *mx, *strings;
};

static const struct policy_row policy_rows[] = {
    {"RFC 8460 §4.4 sts: policy lines and mx patterns, percent-decoded",
     "2026-12-02T07:14:26.9Z mxtlsd[1]: info: tlsrpt-policy v1 nexthop=good.sts.test type=sts "
     "domain=good.sts.test failure=- mx=mx.good.sts.test,*.good.sts.test "
     "string=version:%20STSv1,mode:%20enforce,mx:%20mx.good.sts.test,max_age:%2086400",
     0, TLSRPT_POLICY_STS, TLSRPT_SUCCESS, "good.sts.test", "mx.good.sts.test\n*.good.sts.test\n",
     "version: STSv1\nmode: enforce\nmx: mx.good.sts.test\nmax_age: 86400\n"},
    {"RFC 8460 §4.3.2.1 sts-policy-fetch-error, no policy string",
     "2026-12-02T07:14:26.9Z mxtlsd[1]: info: tlsrpt-policy v1 nexthop=nopol.sts.test type=sts "
     "domain=nopol.sts.test failure=sts-policy-fetch-error mx=- string=-",
     0, TLSRPT_POLICY_STS, TLSRPT_STS_POLICY_FETCH_ERROR, "nopol.sts.test", "", ""},
    {"RFC 8460 §4.4 tlsa: TLSA records as policy strings",
     "Dec  2 07:14:27 host mxtlsd[9]: tlsrpt-policy v1 nexthop=a311.dane.test type=tlsa "
     "domain=a311.dane.test failure=- mx=mx.a311.dane.test string=3%201%201%206C9A",
     0, TLSRPT_POLICY_TLSA, TLSRPT_SUCCESS, "a311.dane.test", "mx.a311.dane.test\n",
     "3 1 1 6C9A\n"},
    {"no-policy-found still names its policy-domain (sys4 issue #51)",
     "Dec  2 07:14:27 host mxtlsd[9]: info: tlsrpt-policy v1 nexthop=Ctl.TEST type=no-policy-found "
     "domain=ctl.test failure=- mx=- string=-",
     0, TLSRPT_POLICY_NONE, TLSRPT_SUCCESS, "ctl.test", "", ""},
    {"unknown type: refused",
     "Dec  2 07:14:27 host mxtlsd[9]: tlsrpt-policy v1 nexthop=a type=x domain=a failure=- mx=- "
     "string=-",
     MXTLS_EINVAL, 0, 0, NULL, NULL, NULL},
    {"unknown failure: refused",
     "Dec  2 07:14:27 host mxtlsd[9]: tlsrpt-policy v1 nexthop=a type=sts domain=a failure=oops "
     "mx=- string=-",
     MXTLS_EINVAL, 0, 0, NULL, NULL, NULL},
    {"bad percent escape: refused",
     "Dec  2 07:14:27 host mxtlsd[9]: tlsrpt-policy v1 nexthop=a type=sts domain=a failure=- "
     "mx=%zz string=-",
     MXTLS_EINVAL, 0, 0, NULL, NULL, NULL},
    {"an encoded newline would forge a list entry: refused",
     "Dec  2 07:14:27 host mxtlsd[9]: tlsrpt-policy v1 nexthop=a type=sts domain=a failure=- "
     "mx=a%0Ab string=-",
     MXTLS_EINVAL, 0, 0, NULL, NULL, NULL},
    {"missing field: refused",
     "Dec  2 07:14:27 host mxtlsd[9]: tlsrpt-policy v1 nexthop=a type=sts domain=a", MXTLS_EINVAL,
     0, 0, NULL, NULL, NULL},
};

static void test_policy(void **state)
{
    const struct policy_row *r = *state;
    struct postfix_line *l = malloc(sizeof(*l));
    struct mxtls_diag d = {0};
    if (l == NULL)
        abort();
    assert_int_equal(postfix_log_parse(r->line, strlen(r->line), Y, l, &d), r->rc);
    if (r->rc == 0) {
        assert_int_equal(l->kind, POSTFIX_LINE_POLICY);
        assert_int_equal(l->policy.type, r->type);
        assert_int_equal(l->policy.failure, r->failure);
        assert_string_equal(l->policy.domain, r->domain);
        assert_string_equal(l->policy.mx, r->mx);
        assert_string_equal(l->policy.strings, r->strings);
    } else {
        assert_int_equal(l->kind, POSTFIX_LINE_OTHER);
        assert_true(strstr(d.what, "tlsrpt-policy") != NULL);
    }
    free(l);
}

/* the encoder's output reads back to its input, and it never overflows */
static void test_encode(void **state)
{
    (void)state;
    char enc[64];
    const char *s = "mx: a b,c=d%e";
    int n = postfix_log_encode(s, strlen(s), enc, sizeof(enc));
    assert_true(n > 0);
    assert_string_equal(enc, "mx:%20a%20b%2Cc%3Dd%25e");
    assert_int_equal(postfix_log_encode(s, strlen(s), enc, 10), MXTLS_ENOSPACE);
    enum tlsrpt_result r;
    assert_int_equal(tlsrpt_result_parse("dnssec-invalid", 14, &r), 0);
    assert_int_equal(r, TLSRPT_DNSSEC_INVALID);
    assert_string_equal(tlsrpt_result_name(TLSRPT_STS_WEBPKI_INVALID), "sts-webpki-invalid");
}

int main(void)
{
    static struct unit_suite s;
    UNIT_ROWS(&s, test_line, line_rows);
    UNIT_ROWS(&s, test_time, time_rows);
    UNIT_ROWS(&s, test_session, session_rows);
    unit_one(&s, "more smtp processes than the table holds", test_many_pids, NULL);
    unit_one(&s, "pending sessions saved and loaded across a restart", test_save_load, NULL);
    UNIT_ROWS(&s, test_policy, policy_rows);
    unit_one(&s, "percent-encoding of record values", test_encode, NULL);
    return unit_run(&s, "postfix_log");
}
