/*
 * test_smtp_reply - SMTP reply parsing (lib/smtp_reply.c): RFC 5321 §4.2
 * reply syntax and multi-line replies, §4.2.1 code consistency, §4.5.3.1.5
 * line length, the whole-reply cap, RFC 3207 STARTTLS keyword detection.
 */
#include <stdio.h>
#include <string.h>

#include "mxtls/smtp_reply.h"
#include "unit.h"

struct row {
    const char *rule;
    const char *in;
    size_t len;
    int want;         /* return code */
    int code;         /* when want == 0 */
    size_t consumed;  /* when want == 0 */
    size_t lines;     /* when want == 0 */
    bool starttls;    /* when want == 0 */
    const char *text; /* when want == 0: first line's text */
};

#define R(s) s, sizeof(s) - 1

static const struct row rows[] = {
    {"RFC 5321 §4.2: single-line greeting", R("220 mx.test ESMTP\r\n"), 0, 220, 19, 1, false,
     "mx.test ESMTP"},
    {"RFC 5321 §4.2: bare reply code without text", R("250\r\n"), 0, 250, 5, 1, false, ""},
    {"RFC 5321 §4.2: code and space, empty text", R("250 \r\n"), 0, 250, 6, 1, false, ""},
    {"RFC 5321 §4.2.1: multi-line EHLO reply with STARTTLS",
     R("250-mx.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"), 0, 250, 57, 4, true,
     "mx.test"},
    {"RFC 3207 §4: STARTTLS as the last line", R("250-mx.test\r\n250 STARTTLS\r\n"), 0, 250, 27, 2,
     true, "mx.test"},
    {"RFC 5321 §2.4: keywords are case-insensitive", R("250-mx.test\r\n250 starttls\r\n"), 0, 250,
     27, 2, true, "mx.test"},
    {"STARTTLS with a (non-standard) parameter is still offered",
     R("250-mx.test\r\n250 STARTTLS REQUIRED\r\n"), 0, 250, 36, 2, true, "mx.test"},
    {"STARTTLS on the first line is the greeting text, not a keyword", R("250 STARTTLS\r\n"), 0,
     250, 14, 1, false, "STARTTLS"},
    {"STARTTLSX is another keyword", R("250-mx.test\r\n250 STARTTLSX\r\n"), 0, 250, 28, 2, false,
     "mx.test"},
    {"X-STARTTLS is another keyword", R("250-mx.test\r\n250 X-STARTTLS\r\n"), 0, 250, 29, 2, false,
     "mx.test"},
    {"stripped EHLO reply: no STARTTLS", R("250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"), 0,
     250, 43, 3, false, "mx.test"},
    {"RFC 5321 §2.3.8 tolerance: bare LF line ends", R("250-mx.test\n250 STARTTLS\n"), 0, 250, 25,
     2, true, "mx.test"},
    {"only the first reply is consumed", R("220 hi\r\n250 next\r\n"), 0, 220, 8, 1, false, "hi"},
    {"RFC 5321 §4.3.1: a 554 greeting is a reply", R("554 5.7.1 go away\r\n"), 0, 554, 19, 1, false,
     "5.7.1 go away"},
    {"4xx greeting is a reply", R("421 4.3.2 busy\r\n"), 0, 421, 16, 1, false, "4.3.2 busy"},
    {"control characters in the text are sanitised", R("220 a\tb\x7f\r\n"), 0, 220, 10, 1, false,
     "a?b?"},
    {"incomplete: nothing yet", "", 0, MXTLS_EAGAIN, 0, 0, 0, false, NULL},
    {"incomplete: half a line", R("220 mx.te"), MXTLS_EAGAIN, 0, 0, 0, false, NULL},
    {"incomplete: CR without LF yet", R("220 mx.test\r"), MXTLS_EAGAIN, 0, 0, 0, false, NULL},
    {"incomplete: continuation lines only", R("250-mx.test\r\n250-PIPELINING\r\n"), MXTLS_EAGAIN, 0,
     0, 0, false, NULL},
    {"incomplete: two digits", R("25"), MXTLS_EAGAIN, 0, 0, 0, false, NULL},
    {"garbage rejected before the line ends", R("HTTP/1.1 400"), MXTLS_EINVAL, 0, 0, 0, false,
     NULL},
    {"RFC 5321 §4.2: first digit 2-5", R("120 x\r\n"), MXTLS_EINVAL, 0, 0, 0, false, NULL},
    {"RFC 5321 §4.2: first digit 6 rejected", R("650 x\r\n"), MXTLS_EINVAL, 0, 0, 0, false, NULL},
    {"RFC 5321 §4.2: second digit 0-5", R("260 x\r\n"), MXTLS_EINVAL, 0, 0, 0, false, NULL},
    {"RFC 5321 §4.2: separator must be SP or '-'", R("250+x\r\n"), MXTLS_EINVAL, 0, 0, 0, false,
     NULL},
    {"a two-digit line is not a reply", R("25\r\n"), MXTLS_EINVAL, 0, 0, 0, false, NULL},
    {"empty line is not a reply", R("\r\n"), MXTLS_EINVAL, 0, 0, 0, false, NULL},
    {"RFC 5321 §4.2.1: codes must agree across lines", R("250-mx.test\r\n251 ok\r\n"), MXTLS_EINVAL,
     0, 0, 0, false, NULL},
    {"NUL inside a line rejected", R("220 a\0b\r\n"), MXTLS_EINVAL, 0, 0, 0, false, NULL},
    {"CR inside a line rejected", R("220 a\rb\r\n"), MXTLS_EINVAL, 0, 0, 0, false, NULL},
    {"TLS record instead of a greeting", R("\x16\x03\x01\x00\x05"), MXTLS_EINVAL, 0, 0, 0, false,
     NULL},
};

/* test_row - parse and compare */
static void test_row(void **state)
{
    const struct row *r = *state;
    struct smtp_reply rep;
    struct mxtls_diag d = {0};
    size_t used = 99;
    int rc = smtp_reply_parse(r->in, r->len, &rep, &used, &d);
    assert_int_equal(rc, r->want);
    if (rc == 0) {
        assert_int_equal(rep.code, r->code);
        assert_int_equal(used, r->consumed);
        assert_int_equal(rep.n_lines, r->lines);
        assert_int_equal(rep.starttls, r->starttls);
        assert_string_equal(rep.text, r->text);
    } else {
        assert_int_equal(used, 0);
        if (rc != MXTLS_EAGAIN) {
            assert_int_equal(d.code, rc);
            assert_true(d.what[0] != '\0');
            assert_true(d.offset <= r->len);
        }
    }
}

/* test_line_cap - RFC 5321 §4.5.3.1.5: an over-long line is refused even unfinished */
static void test_line_cap(void **state)
{
    (void)state;
    char *buf = malloc(SMTP_REPLY_LINE_MAX + 16);
    if (buf == NULL)
        abort();
    struct smtp_reply rep;
    size_t used;
    memcpy(buf, "250 ", 4);
    memset(buf + 4, 'a', SMTP_REPLY_LINE_MAX + 8);
    /* a line of exactly 512 octets with CRLF is fine */
    memcpy(buf + 510, "\r\n", 2);
    assert_int_equal(smtp_reply_parse(buf, 512, &rep, &used, NULL), 0);
    assert_int_equal(used, 512);
    /* over the tolerance, without a line end: ETOOLONG, not EAGAIN */
    memset(buf + 4, 'a', SMTP_REPLY_LINE_MAX + 8);
    assert_int_equal(smtp_reply_parse(buf, SMTP_REPLY_LINE_MAX, &rep, &used, NULL), MXTLS_ETOOLONG);
    assert_int_equal(smtp_reply_parse(buf, SMTP_REPLY_LINE_MAX - 1, &rep, &used, NULL),
                     MXTLS_EAGAIN);
    free(buf);
}

/* test_total_cap - a flood of continuation lines stops at SMTP_REPLY_TOTAL_MAX */
static void test_total_cap(void **state)
{
    (void)state;
    size_t cap = 10u * 1024 * 1024; /* 10 MB, as a hostile peer would send */
    char *buf = malloc(cap);
    if (buf == NULL)
        abort();
    static const char line[] =
        "250-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
        "XXXXXXXXXXXXXXXXXXXX\r\n";
    size_t n = 0;
    while (n + sizeof line - 1 <= cap) {
        memcpy(buf + n, line, sizeof line - 1);
        n += sizeof line - 1;
    }
    struct smtp_reply rep;
    struct mxtls_diag d = {0};
    size_t used;
    int rc = smtp_reply_parse(buf, n, &rep, &used, &d);
    assert_int_equal(rc, MXTLS_ETOOLONG);
    assert_true(d.offset <= SMTP_REPLY_TOTAL_MAX);
    /* A short reply of many short lines hits the line-count cap. */
    n = 0;
    for (int i = 0; i < SMTP_REPLY_LINES_MAX + 5; i++) {
        memcpy(buf + n, "250-\r\n", 6);
        n += 6;
    }
    assert_int_equal(smtp_reply_parse(buf, n, &rep, &used, NULL), MXTLS_ETOOLONG);
    /* The last line within the caps completes the reply. */
    n = 0;
    for (int i = 0; i < SMTP_REPLY_LINES_MAX - 1; i++) {
        memcpy(buf + n, "250-\r\n", 6);
        n += 6;
    }
    memcpy(buf + n, "250 STARTTLS\r\n", 14);
    n += 14;
    assert_int_equal(smtp_reply_parse(buf, n, &rep, &used, NULL), 0);
    assert_int_equal(rep.n_lines, SMTP_REPLY_LINES_MAX);
    assert_true(rep.starttls);
    free(buf);
}

/* test_incremental - every prefix of a valid reply is EAGAIN, the whole is 0 */
static void test_incremental(void **state)
{
    (void)state;
    static const char r[] = "250-mx.test\r\n250-SIZE 1000\r\n250 STARTTLS\r\n";
    struct smtp_reply rep;
    size_t used;
    for (size_t i = 0; i < sizeof r - 1; i++)
        assert_int_equal(smtp_reply_parse(r, i, &rep, &used, NULL), MXTLS_EAGAIN);
    assert_int_equal(smtp_reply_parse(r, sizeof r - 1, &rep, &used, NULL), 0);
    assert_int_equal(used, sizeof r - 1);
}

int main(void)
{
    static struct unit_suite s;
    UNIT_ROWS(&s, test_row, rows);
    unit_one(&s, "RFC 5321 §4.5.3.1.5: line length cap", test_line_cap, NULL);
    unit_one(&s, "10 MB of EHLO lines stop at the reply cap", test_total_cap, NULL);
    unit_one(&s, "incomplete input is EAGAIN until the last line", test_incremental, NULL);
    return unit_run(&s, "smtp_reply");
}
