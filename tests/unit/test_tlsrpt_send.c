/*
 * test_tlsrpt_send - the TLS-RPT sending side's store, report builder, file
 * name, mail structure and configuration section (io/tlsrpt_sessions.c,
 * io/tlsrpt_send.c, io/tlsrpt_config.c), each row naming its RFC 8460 rule.
 */
#include "unit.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gz.h"
#include "tlsrpt_config.h"
#include "tlsrpt_send.h"
#include "tlsrpt_sessions.h"

static char dir[] = "/tmp/mxtls-test-tlsrpt-send-XXXXXX";

/* store - a fresh store with the sessions of one day */
static struct tlsrpt_sessions *store(const char *name)
{
    char path[256];
    struct tlsrpt_sessions *s;
    struct mxtls_diag d = {0};
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
    assert_int_equal(tlsrpt_sessions_open(path, &s, &d), 0);
    struct postfix_policy sts = {.type = TLSRPT_POLICY_STS};
    strcpy(sts.nexthop, "example.test");
    strcpy(sts.domain, "example.test");
    strcpy(sts.strings, "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n");
    strcpy(sts.mx, "mx.example.test\n");
    struct postfix_policy none = {.type = TLSRPT_POLICY_NONE};
    strcpy(none.nexthop, "plain.test");
    strcpy(none.domain, "plain.test");
    for (int i = 0; i < 3; i++)
        assert_int_equal(tlsrpt_sessions_count(s, "2026-12-02", &sts, TLSRPT_SUCCESS, NULL, NULL,
                                               NULL, NULL, &d),
                         0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(tlsrpt_sessions_count(
                             s, "2026-12-02", &sts, TLSRPT_CERTIFICATE_HOST_MISMATCH, "192.0.2.25",
                             "mx.example.test", "192.0.2.1", "num=62:hostname mismatch", &d),
                         0);
    assert_int_equal(
        tlsrpt_sessions_count(s, "2026-12-02", &none, TLSRPT_SUCCESS, NULL, NULL, NULL, NULL, &d),
        0);
    assert_int_equal(
        tlsrpt_sessions_count(s, "2026-11-01", &none, TLSRPT_SUCCESS, NULL, NULL, NULL, NULL, &d),
        0);
    return s;
}

static void config(struct tlsrpt_config *c)
{
    memset(c, 0, sizeof(*c));
    c->organization_name = "Example Sender";
    c->contact_info = "tlsrpt@sender.test";
    c->submitter = "sender.test";
    c->sendmail = "/usr/sbin/sendmail";
}

/* RFC 8460 §4.4: every member, date-range in UTC, counts, details */
static void test_report_json(void **state)
{
    (void)state;
    struct tlsrpt_sessions *s = store("json.db");
    struct tlsrpt_config c;
    struct tlsrpt_built r;
    struct mxtls_diag d = {0};
    config(&c);
    assert_int_equal(tlsrpt_send_build(s, &c, "2026-12-02", "example.test", &r, &d), 0);
    json_t *j = json_loads(r.json, 0, NULL);
    if (j == NULL)
        abort();
    assert_string_equal(json_string_value(json_object_get(j, "organization-name")),
                        "Example Sender");
    assert_string_equal(json_string_value(json_object_get(j, "contact-info")),
                        "tlsrpt@sender.test");
    json_t *dr = json_object_get(j, "date-range");
    assert_string_equal(json_string_value(json_object_get(dr, "start-datetime")),
                        "2026-12-02T00:00:00Z");
    assert_string_equal(json_string_value(json_object_get(dr, "end-datetime")),
                        "2026-12-02T23:59:59Z");
    assert_string_equal(json_string_value(json_object_get(j, "report-id")),
                        "2026-12-02T00:00:00Z_example.test@sender.test");
    json_t *p = json_array_get(json_object_get(j, "policies"), 0);
    json_t *pol = json_object_get(p, "policy");
    assert_string_equal(json_string_value(json_object_get(pol, "policy-type")), "sts");
    assert_string_equal(json_string_value(json_object_get(pol, "policy-domain")), "example.test");
    assert_int_equal(json_array_size(json_object_get(pol, "policy-string")), 4);
    assert_string_equal(json_string_value(json_array_get(json_object_get(pol, "mx-host"), 0)),
                        "mx.example.test");
    json_t *sum = json_object_get(p, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "total-successful-session-count")), 3);
    assert_int_equal(json_integer_value(json_object_get(sum, "total-failure-session-count")), 2);
    json_t *fd = json_array_get(json_object_get(p, "failure-details"), 0);
    assert_string_equal(json_string_value(json_object_get(fd, "result-type")),
                        "certificate-host-mismatch");
    assert_string_equal(json_string_value(json_object_get(fd, "sending-mta-ip")), "192.0.2.25");
    assert_string_equal(json_string_value(json_object_get(fd, "receiving-mx-hostname")),
                        "mx.example.test");
    assert_string_equal(json_string_value(json_object_get(fd, "receiving-ip")), "192.0.2.1");
    assert_string_equal(json_string_value(json_object_get(fd, "failure-reason-code")),
                        "num=62:hostname mismatch");
    assert_int_equal(json_integer_value(json_object_get(fd, "failed-session-count")), 2);
    json_decref(j);
    /* the gzip body inflates to the JSON */
    char *plain;
    size_t plen;
    assert_int_equal(gz_inflate(r.gz, r.gz_len, 1 << 20, &plain, &plen, &d), 0);
    assert_int_equal(plen, strlen(r.json));
    assert_memory_equal(plain, r.json, plen);
    free(plain);
    tlsrpt_built_finish(&r);
    tlsrpt_sessions_close(s);
}

/* RFC 8460 §4.4: policy-domain also for no-policy-found (sys4 tlsrpt-reporter #51) */
static void test_no_policy_found(void **state)
{
    (void)state;
    struct tlsrpt_sessions *s = store("none.db");
    struct tlsrpt_config c;
    struct tlsrpt_built r;
    config(&c);
    assert_int_equal(tlsrpt_send_build(s, &c, "2026-12-02", "plain.test", &r, NULL), 0);
    json_t *j = json_loads(r.json, 0, NULL);
    if (j == NULL)
        abort();
    json_t *pol = json_object_get(json_array_get(json_object_get(j, "policies"), 0), "policy");
    assert_string_equal(json_string_value(json_object_get(pol, "policy-type")), "no-policy-found");
    assert_string_equal(json_string_value(json_object_get(pol, "policy-domain")), "plain.test");
    assert_null(
        json_object_get(json_array_get(json_object_get(j, "policies"), 0), "failure-details"));
    json_decref(j);
    tlsrpt_built_finish(&r);
    /* a day without sessions has no report; a missing organisation is refused */
    assert_int_equal(tlsrpt_send_build(s, &c, "2026-12-03", "plain.test", &r, NULL),
                     MXTLS_ENOTFOUND);
    c.organization_name = NULL;
    assert_int_equal(tlsrpt_send_build(s, &c, "2026-12-02", "plain.test", &r, NULL), MXTLS_EINVAL);
    /* retention: days before the first kept one are deleted */
    assert_true(tlsrpt_sessions_prune(s, "2026-12-01", NULL) >= 1);
    config(&c);
    assert_int_equal(tlsrpt_send_build(s, &c, "2026-11-01", "plain.test", &r, NULL),
                     MXTLS_ENOTFOUND);
    tlsrpt_sessions_close(s);
}

/* RFC 8460 §5.1: sender!policy-domain!begin-timestamp!end-timestamp.json.gz */
static void test_filename(void **state)
{
    (void)state;
    struct tlsrpt_sessions *s = store("name.db");
    struct tlsrpt_config c;
    struct tlsrpt_built r;
    config(&c);
    assert_int_equal(tlsrpt_send_build(s, &c, "2026-12-02", "example.test", &r, NULL), 0);
    assert_string_equal(r.filename, "sender.test!example.test!1796169600!1796256000.json.gz");
    /* the gzip header carries the name without .gz (RFC 1952 FNAME) */
    assert_true(r.gz_len > 10 && (r.gz[3] & 0x08) != 0);
    assert_string_equal((const char *)r.gz + 10,
                        "sender.test!example.test!1796169600!1796256000.json");
    tlsrpt_built_finish(&r);
    tlsrpt_sessions_close(s);
}

/* RFC 8460 §5.3: the mail's structure; RFC 8689 TLS-Required: No */
static void test_mail(void **state)
{
    (void)state;
    struct tlsrpt_sessions *s = store("mail.db");
    struct tlsrpt_config c;
    struct tlsrpt_built r;
    char *m;
    size_t len;
    config(&c);
    assert_int_equal(tlsrpt_send_build(s, &c, "2026-12-02", "example.test", &r, NULL), 0);
    assert_int_equal(tlsrpt_send_mail_build(&c, "rua@example.test", &r, &m, &len, NULL), 0);
    const char *want[] = {
        "\r\nTo: <rua@example.test>\r\n",
        "\r\nSubject: Report Domain: example.test Submitter: sender.test Report-ID: "
        "<2026-12-02T00:00:00Z_example.test@sender.test>\r\n",
        "\r\nTLS-Report-Domain: example.test\r\n",
        "\r\nTLS-Report-Submitter: sender.test\r\n",
        "\r\nTLS-Required: No\r\n",
        "\r\nMessage-ID: <" POSTFIX_LOG_REPORT_MSGID,
        "\r\nContent-Type: multipart/report; report-type=\"tlsrpt\";",
        "\r\nContent-Type: application/tlsrpt+gzip\r\n",
        "\r\nContent-Transfer-Encoding: base64\r\n",
        "filename=\"sender.test!example.test!1796169600!1796256000.json.gz\"",
    };
    for (size_t i = 0; i < UNIT_LEN(want); i++)
        assert_non_null(strstr(m, want[i]));
    /* no bare LF; no line over 998 octets (RFC 5322 §2.1.1) */
    for (size_t i = 0, col = 0; i < len; i++) {
        if (m[i] == '\n') {
            assert_true(i > 0 && m[i - 1] == '\r');
            col = 0;
        } else {
            assert_true(++col <= 998);
        }
    }
    free(m);
    tlsrpt_built_finish(&r);
    tlsrpt_sessions_close(s);
}

/* RFC 6068 mailto: the address, hfields dropped, %XX decoded, junk refused */
static void test_mailto(void **state)
{
    (void)state;
    char a[64];
    assert_int_equal(tlsrpt_send_mailto_addr("mailto:tlsrpt@example.test", a, sizeof(a)), 0);
    assert_string_equal(a, "tlsrpt@example.test");
    assert_int_equal(tlsrpt_send_mailto_addr("mailto:a%2Bb@example.test?subject=x", a, 64), 0);
    assert_string_equal(a, "a+b@example.test");
    assert_int_equal(tlsrpt_send_mailto_addr("mailto:no-at-sign", a, 64), MXTLS_EINVAL);
    assert_int_equal(tlsrpt_send_mailto_addr("mailto:a%0Ab@x.test", a, 64), MXTLS_EINVAL);
    assert_int_equal(tlsrpt_send_mailto_addr("https://x.test/", a, 64), MXTLS_EINVAL);
}

/* the tlsrpt: section: keys, defaults, refusals */
static void test_config(void **state)
{
    (void)state;
    char path[256];
    struct tlsrpt_config c;
    struct mxtls_diag d = {0};
    snprintf(path, sizeof(path), "%s/c.yml", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        abort();
    fputs("port: 8461\ntlsrpt:\n  organization_name: Org\n  retention_days: 7\n"
          "  dkim_selector: tlsrpt\n",
          f);
    fclose(f);
    assert_int_equal(tlsrpt_config_load(path, &c, &d), 0);
    assert_string_equal(c.organization_name, "Org");
    assert_int_equal(c.retention_days, 7);
    assert_int_equal(c.retry_hours, 24);
    assert_string_equal(c.sendmail, "/usr/sbin/sendmail");
    tlsrpt_config_finish(&c);
    f = fopen(path, "w");
    if (f == NULL)
        abort();
    fputs("tlsrpt:\n  organisation: typo\n", f);
    fclose(f);
    assert_int_equal(tlsrpt_config_load(path, &c, &d), MXTLS_EINVAL);
    assert_non_null(strstr(d.what, "tlsrpt.organisation: unknown key"));
    tlsrpt_config_finish(&c);
    f = fopen(path, "w");
    if (f == NULL)
        abort();
    fputs("tlsrpt:\n  retention_days: 0\n", f);
    fclose(f);
    assert_int_equal(tlsrpt_config_load(path, &c, &d), MXTLS_EINVAL);
    tlsrpt_config_finish(&c);
    f = fopen(path, "w");
    if (f == NULL)
        abort();
    fputs("tlsrpt: true\n", f);
    fclose(f);
    assert_int_equal(tlsrpt_config_load(path, &c, &d), MXTLS_EINVAL);
    tlsrpt_config_finish(&c);
    unlink(path);
}

/* the collector's log position: kept per source */
static void test_cursor(void **state)
{
    (void)state;
    struct tlsrpt_sessions *s = store("cursor.db");
    uint64_t ino, off, head;
    assert_int_equal(tlsrpt_sessions_cursor_get(s, "/var/log/mail.log", &ino, &off, &head),
                     MXTLS_ENOTFOUND);
    assert_int_equal(tlsrpt_sessions_cursor_put(s, "/var/log/mail.log", 7, 1234, 99, NULL), 0);
    assert_int_equal(tlsrpt_sessions_cursor_get(s, "/var/log/mail.log", &ino, &off, &head), 0);
    assert_int_equal(ino, 7);
    assert_int_equal(off, 1234);
    assert_int_equal(head, 99);
    assert_int_equal(tlsrpt_sessions_report_qid_has(s, "ABC123"), 0);
    assert_int_equal(tlsrpt_sessions_report_qid_put(s, "ABC123", 1, NULL), 0);
    assert_int_equal(tlsrpt_sessions_report_qid_has(s, "ABC123"), 1);
    tlsrpt_sessions_close(s);
}

int main(void)
{
    static struct unit_suite s;
    if (mkdtemp(dir) == NULL)
        abort();
    unit_one(&s, "RFC 8460 §4.4 report JSON: members, UTC date-range, summary, details",
             test_report_json, NULL);
    unit_one(&s, "RFC 8460 §4.4 no-policy-found keeps policy-domain; none, refused, pruned",
             test_no_policy_found, NULL);
    unit_one(&s, "RFC 8460 §5.1 file name and gzip FNAME", test_filename, NULL);
    unit_one(&s, "RFC 8460 §5.3 mail structure, RFC 8689 TLS-Required: No", test_mail, NULL);
    unit_one(&s, "RFC 6068 mailto: addresses", test_mailto, NULL);
    unit_one(&s, "tlsrpt: configuration section", test_config, NULL);
    unit_one(&s, "collector cursor and report queue IDs", test_cursor, NULL);
    int rc = unit_run(&s, "tlsrpt_send");
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
