/*
 * test_tlsrpt_report - the TLS-RPT report parser (io/tlsrpt_report.h).
 * Each row names the rule it exercises (RFC 8460 §4 section, or the
 * real-world shape it tolerates); removing the rule fails the row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "tlsrpt_report.h"

/* The parts of a report; rows vary one of them. */
#define ORG "\"organization-name\":\"Org One\""
#define DR                                                                                         \
    "\"date-range\":{\"start-datetime\":\"2026-01-01T00:00:00Z\",\"end-datetime\":\"2026-01-"      \
    "01T23:59:59Z\"}"
#define CI     "\"contact-info\":\"tls@org.example\""
#define RID    "\"report-id\":\"r-1\""
#define POLICY "\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"example.com\"}"
#define SUM    "\"summary\":{\"total-successful-session-count\":10,\"total-failure-session-count\":2}"
#define FD                                                                                         \
    "\"failure-details\":[{\"result-type\":\"starttls-not-supported\",\"failed-session-count\":2}" \
    "]"
#define POLS(p)                        "\"policies\":[" p "]"
#define ONE                            "{" POLICY "," SUM "," FD "}"
#define REPORT(org, dr, ci, rid, pols) "{" org "," dr "," ci "," rid "," pols "}"
#define GOOD                           REPORT(ORG, DR, CI, RID, POLS(ONE))
/* a report with policies[0] = {policy, summary, details} */
#define WITH_POLICY(pol, sum, fd) REPORT(ORG, DR, CI, RID, POLS("{" pol "," sum fd "}"))

struct parse_case {
    const char *rule;
    const char *in;
    int err;              /* 0 or the expected MXTLS_E* */
    const char *diag_has; /* the reason must contain this (refused rows) */
    unsigned quirks;      /* these bits must be set (accepted rows) */
    const char *report_id;
    const char *domain;
    int64_t succ, fail;
    int mismatch;
    size_t n_strings;
    const char *string0, *string1;
    size_t n_mx;
    const char *mx0;
    int64_t start;
};

#define T0 1767225600 /* 2026-01-01T00:00:00Z */

static const struct parse_case parse_cases[] = {
    {.rule = "RFC 8460 §4.4: a complete report is accepted",
     .in = GOOD,
     .report_id = "r-1",
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .start = T0},
    {.rule = "RFC 8460 §4.4: extension members are ignored",
     .in = "{\"x-ext\":[[[{\"a\":1}]]]," ORG "," DR "," CI "," RID "," POLS(ONE) "}",
     .report_id = "r-1",
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .start = T0},
    {.rule = "RFC 8460 §4.4: policy-domain kept lower case without the trailing dot",
     .in = WITH_POLICY("\"policy\":{\"policy-type\":\"STS\",\"policy-domain\":\"Example.COM.\"}",
                       SUM, ""),
     .report_id = "r-1",
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .start = T0},
    {.rule = "RFC 8460 §4.4: failure-details is optional",
     .in = WITH_POLICY(POLICY, SUM, ""),
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .start = T0},
    {.rule = "RFC 8460 §4.4: policy-string array kept in order",
     .in = WITH_POLICY("\"policy\":{\"policy-type\":\"sts\",\"policy-string\":[\"version: "
                       "STSv1\",\"mode: enforce\"],\"policy-domain\":\"example.com\"}",
                       SUM, ""),
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .n_strings = 2,
     .string0 = "version: STSv1",
     .string1 = "mode: enforce",
     .start = T0},
    {.rule = "Microsoft: TLSA policy-string as one JSON-encoded array in an array",
     .in = WITH_POLICY("\"policy\":{\"policy-type\":\"tlsa\",\"policy-string\":[\"[\\\"3 1 1 "
                       "ab\\\",\\\"2 1 1 cd\\\"]\"],\"policy-domain\":\"example.com\"}",
                       SUM, ""),
     .quirks = TLSRPT_Q_POLICY_STRING_JSON,
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .n_strings = 2,
     .string0 = "3 1 1 ab",
     .string1 = "2 1 1 cd",
     .start = T0},
    {.rule = "Microsoft: TLSA policy-string as one JSON-encoded string, not an array",
     .in = WITH_POLICY("\"policy\":{\"policy-type\":\"tlsa\",\"policy-string\":\"[\\\"3 1 1 "
                       "ab\\\"]\",\"policy-domain\":\"example.com\"}",
                       SUM, ""),
     .quirks = TLSRPT_Q_POLICY_STRING_JSON | TLSRPT_Q_POLICY_STRING_SCALAR,
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .n_strings = 1,
     .string0 = "3 1 1 ab",
     .start = T0},
    {.rule = "policy-string a plain string: kept as one entry",
     .in = WITH_POLICY("\"policy\":{\"policy-type\":\"sts\",\"policy-string\":\"mode: "
                       "testing\",\"policy-domain\":\"example.com\"}",
                       SUM, ""),
     .quirks = TLSRPT_Q_POLICY_STRING_SCALAR,
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .n_strings = 1,
     .string0 = "mode: testing",
     .start = T0},
    {.rule = "RFC 3339 §5.6 date-time without Z (seen in the wild): read as UTC, flagged",
     .in = REPORT(ORG,
                  "\"date-range\":{\"start-datetime\":\"2026-01-01T00:00:00\",\"end-datetime\":"
                  "\"2026-01-01T23:59:59\"}",
                  CI, RID, POLS(ONE)),
     .quirks = TLSRPT_Q_DATE_NO_ZONE,
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .start = T0},
    {.rule = "RFC 3339 §5.6 time-offset and secfrac applied",
     .in = REPORT(ORG,
                  "\"date-range\":{\"start-datetime\":\"2026-01-01T01:30:00.250+01:30\","
                  "\"end-datetime\":\"2026-01-01T23:59:59z\"}",
                  CI, RID, POLS(ONE)),
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .start = T0},
    {.rule = "report-id in <> (RFC 8460 §4.4 example style): brackets removed",
     .in = REPORT(ORG, DR, CI, "\"report-id\":\"<2026-01-01_a@org.example>\"", POLS(ONE)),
     .quirks = TLSRPT_Q_REPORT_ID_BRACKETS,
     .report_id = "2026-01-01_a@org.example",
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .start = T0},
    {.rule = "contact-info null (seen in the wild): accepted, flagged",
     .in = REPORT(ORG, DR, "\"contact-info\":null", RID, POLS(ONE)),
     .quirks = TLSRPT_Q_CONTACT_NULL,
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .start = T0},
    {.rule = "mx-host as a string (RFC 8460 §4.4 example)",
     .in = WITH_POLICY("\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"example.com\","
                       "\"mx-host\":\"MX1.Example.com.\"}",
                       SUM, ""),
     .quirks = TLSRPT_Q_MX_HOST_STRING,
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .n_mx = 1,
     .mx0 = "mx1.example.com",
     .start = T0},
    {.rule = "mx-host as an array with the \"mx: \" prefix (seen in the wild)",
     .in = WITH_POLICY("\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"example.com\","
                       "\"mx-host\":[\"mx: mx1.example.com\",\"mx2.example.com\"]}",
                       SUM, ""),
     .quirks = TLSRPT_Q_MX_HOST_PREFIX,
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .n_mx = 2,
     .mx0 = "mx1.example.com",
     .start = T0},
    {.rule = "sending-mta-ip \"\" (seen in the wild): stored as absent, flagged",
     .in = WITH_POLICY(POLICY, SUM,
                       ",\"failure-details\":[{\"result-type\":\"validation-failure\","
                       "\"sending-mta-ip\":\"\",\"failed-session-count\":2}]"),
     .quirks = TLSRPT_Q_EMPTY_IP,
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .start = T0},
    {.rule = "details summing to another total (Mail.ru): stored as sent, flagged",
     .in = WITH_POLICY(POLICY, SUM,
                       ",\"failure-details\":[{\"result-type\":\"validation-failure\","
                       "\"failed-session-count\":5}]"),
     .quirks = TLSRPT_Q_TOTALS_MISMATCH,
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .mismatch = 1,
     .start = T0},
    {.rule = "RFC 8460 §4.4: counts up to the 10^12 cap are accepted",
     .in = WITH_POLICY(POLICY,
                       "\"summary\":{\"total-successful-session-count\":1000000000000,"
                       "\"total-failure-session-count\":0}",
                       ""),
     .domain = "example.com",
     .succ = 1000000000000LL,
     .fail = 0,
     .start = T0},

    /* refused */
    {.rule = "RFC 8259: not JSON",
     .in = "this is not json",
     .err = MXTLS_EINVAL,
     .diag_has = "not JSON"},
    {.rule = "RFC 8259: truncated JSON",
     .in = "{\"organization-name\":\"a\"",
     .err = MXTLS_EINVAL,
     .diag_has = "not JSON"},
    {.rule = "RFC 8460 §4.4: the report is an object",
     .in = "[1,2]",
     .err = MXTLS_EINVAL,
     .diag_has = "not a JSON object"},
    {.rule = "RFC 8259 §4: duplicate member names are ambiguous",
     .in = "{\"report-id\":\"a\",\"report-id\":\"b\"}",
     .err = MXTLS_EINVAL,
     .diag_has = "duplicate"},
    {.rule = "RFC 8460 §4.4: organization-name required",
     .in = REPORT("\"x\":1", DR, CI, RID, POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "organization-name: missing"},
    {.rule = "RFC 8460 §4.4: organization-name is a string",
     .in = REPORT("\"organization-name\":7", DR, CI, RID, POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "organization-name: not a string"},
    {.rule = "RFC 8460 §4.4: report-id required",
     .in = REPORT(ORG, DR, CI, "\"x\":1", POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "report-id: missing"},
    {.rule = "RFC 8460 §4.4: report-id not empty",
     .in = REPORT(ORG, DR, CI, "\"report-id\":\"<>\"", POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "report-id: empty"},
    {.rule = "RFC 8460 §4.4: contact-info is a string",
     .in = REPORT(ORG, DR, "\"contact-info\":[]", RID, POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "contact-info: not a string"},
    {.rule = "RFC 8460 §4.4: date-range required",
     .in = REPORT(ORG, "\"x\":1", CI, RID, POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "date-range: missing"},
    {.rule = "RFC 8460 §4.4: end-datetime required",
     .in = REPORT(ORG, "\"date-range\":{\"start-datetime\":\"2026-01-01T00:00:00Z\"}", CI, RID,
                  POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "date-range.end-datetime: missing"},
    {.rule = "RFC 3339 §5.6: a date-time, not a date",
     .in = REPORT(ORG,
                  "\"date-range\":{\"start-datetime\":\"2026-01-01\",\"end-datetime\":"
                  "\"2026-01-01T23:59:59Z\"}",
                  CI, RID, POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "start-datetime: not an RFC 3339"},
    {.rule = "RFC 3339 §5.7: month 13 is not a date",
     .in = REPORT(ORG,
                  "\"date-range\":{\"start-datetime\":\"2026-13-01T00:00:00Z\",\"end-datetime\":"
                  "\"2026-01-01T23:59:59Z\"}",
                  CI, RID, POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "start-datetime"},
    {.rule = "RFC 3339 §5.7: 29 February only in leap years",
     .in = REPORT(ORG,
                  "\"date-range\":{\"start-datetime\":\"2025-02-29T00:00:00Z\",\"end-datetime\":"
                  "\"2026-01-01T23:59:59Z\"}",
                  CI, RID, POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "start-datetime"},
    {.rule = "RFC 8460 §4.4: date-range ends after it starts",
     .in = REPORT(ORG,
                  "\"date-range\":{\"start-datetime\":\"2026-01-02T00:00:00Z\",\"end-datetime\":"
                  "\"2026-01-01T23:59:59Z\"}",
                  CI, RID, POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "end-datetime before"},
    {.rule = "RFC 8460 §4.4: policies required",
     .in = "{" ORG "," DR "," CI "," RID "}",
     .err = MXTLS_EINVAL,
     .diag_has = "policies: missing"},
    {.rule = "RFC 8460 §4.4: policies is an array",
     .in = REPORT(ORG, DR, CI, RID, "\"policies\":{}"),
     .err = MXTLS_EINVAL,
     .diag_has = "policies: not an array"},
    {.rule = "RFC 8460 §4.4: at least one policy",
     .in = REPORT(ORG, DR, CI, RID, "\"policies\":[]"),
     .err = MXTLS_EINVAL,
     .diag_has = "policies: empty"},
    {.rule = "RFC 8460 §4.4: policy object required",
     .in = WITH_POLICY("\"x\":1", SUM, ""),
     .err = MXTLS_EINVAL,
     .diag_has = "policies[0].policy: missing"},
    {.rule = "RFC 8460 §4.4: policy-type required",
     .in = WITH_POLICY("\"policy\":{\"policy-domain\":\"example.com\"}", SUM, ""),
     .err = MXTLS_EINVAL,
     .diag_has = "policy.policy-type: missing"},
    {.rule = "RFC 8460 §4.4: policy-domain required",
     .in = WITH_POLICY("\"policy\":{\"policy-type\":\"sts\"}", SUM, ""),
     .err = MXTLS_EINVAL,
     .diag_has = "policy.policy-domain: missing"},
    {.rule = "RFC 8460 §4.4: policy-domain is a domain name",
     .in = WITH_POLICY("\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"exa mple.com\"}",
                       SUM, ""),
     .err = MXTLS_EINVAL,
     .diag_has = "policy-domain: not a domain name"},
    {.rule = "RFC 8460 §4.4: policy-string holds strings",
     .in = WITH_POLICY("\"policy\":{\"policy-type\":\"sts\",\"policy-string\":[1],"
                       "\"policy-domain\":\"example.com\"}",
                       SUM, ""),
     .err = MXTLS_EINVAL,
     .diag_has = "policy-string[0]: not a string"},
    {.rule = "RFC 8460 §4.4: summary required",
     .in = WITH_POLICY(POLICY, "\"x\":1", ""),
     .err = MXTLS_EINVAL,
     .diag_has = "policies[0].summary: missing"},
    {.rule = "RFC 8460 §4.4: total-failure-session-count required",
     .in = WITH_POLICY(POLICY, "\"summary\":{\"total-successful-session-count\":1}", ""),
     .err = MXTLS_EINVAL,
     .diag_has = "total-failure-session-count: missing"},
    {.rule = "RFC 8460 §4.4: counts are not negative",
     .in = WITH_POLICY(POLICY,
                       "\"summary\":{\"total-successful-session-count\":-1,"
                       "\"total-failure-session-count\":0}",
                       ""),
     .err = MXTLS_EINVAL,
     .diag_has = "negative count"},
    {.rule = "RFC 8460 §4.4: counts are integers, not 1.5",
     .in = WITH_POLICY(POLICY,
                       "\"summary\":{\"total-successful-session-count\":1.5,"
                       "\"total-failure-session-count\":0}",
                       ""),
     .err = MXTLS_EINVAL,
     .diag_has = "not a non-negative integer"},
    {.rule = "RFC 8460 §4.4: counts are integers, not 1e3",
     .in = WITH_POLICY(POLICY,
                       "\"summary\":{\"total-successful-session-count\":1e3,"
                       "\"total-failure-session-count\":0}",
                       ""),
     .err = MXTLS_EINVAL,
     .diag_has = "not a non-negative integer"},
    {.rule = "RFC 8460 §4.4: counts are numbers, not strings",
     .in = WITH_POLICY(POLICY,
                       "\"summary\":{\"total-successful-session-count\":\"10\","
                       "\"total-failure-session-count\":0}",
                       ""),
     .err = MXTLS_EINVAL,
     .diag_has = "not a non-negative integer"},
    {.rule = "cap: a count over 10^12 is refused",
     .in = WITH_POLICY(POLICY,
                       "\"summary\":{\"total-successful-session-count\":1000000000001,"
                       "\"total-failure-session-count\":0}",
                       ""),
     .err = MXTLS_ETOOLONG,
     .diag_has = "over"},
    {.rule = "cap: a count beyond int64 is refused",
     .in = WITH_POLICY(POLICY,
                       "\"summary\":{\"total-successful-session-count\":99999999999999999999999,"
                       "\"total-failure-session-count\":0}",
                       ""),
     .err = MXTLS_EINVAL,
     .diag_has = "not JSON"},
    {.rule = "RFC 8460 §4.4: failure-details is an array",
     .in = WITH_POLICY(POLICY, SUM, ",\"failure-details\":{}"),
     .err = MXTLS_EINVAL,
     .diag_has = "failure-details: not an array"},
    {.rule = "RFC 8460 §4.4: result-type required",
     .in = WITH_POLICY(POLICY, SUM, ",\"failure-details\":[{\"failed-session-count\":2}]"),
     .err = MXTLS_EINVAL,
     .diag_has = "failure-details[0].result-type: missing"},
    {.rule = "RFC 8460 §4.4: failed-session-count required",
     .in = WITH_POLICY(POLICY, SUM,
                       ",\"failure-details\":[{\"result-type\":\"validation-failure\"}]"),
     .err = MXTLS_EINVAL,
     .diag_has = "failed-session-count: missing"},
    {.rule = "RFC 8460 §4.4: failed-session-count not negative",
     .in = WITH_POLICY(POLICY, SUM,
                       ",\"failure-details\":[{\"result-type\":\"validation-failure\","
                       "\"failed-session-count\":-2}]"),
     .err = MXTLS_EINVAL,
     .diag_has = "negative count"},
    {.rule = "RFC 8460 §4.4: receiving-mx-hostname is a string",
     .in = WITH_POLICY(POLICY, SUM,
                       ",\"failure-details\":[{\"result-type\":\"validation-failure\","
                       "\"failed-session-count\":2,\"receiving-mx-hostname\":5}]"),
     .err = MXTLS_EINVAL,
     .diag_has = "receiving-mx-hostname: not a string"},
    /* the JSON reader itself (RFC 8259), which replaced jansson */
    {.rule = "RFC 8259 §7: escapes and a surrogate pair decode to UTF-8",
     .in = REPORT(ORG, DR, CI, "\"report-id\":\"a\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\t\"", POLS(ONE)),
     .report_id = "a\xc3\xa9\xf0\x9f\x98\x80\"\\/\t",
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .start = T0},
    {.rule = "RFC 8259 §7: a lone high surrogate is refused",
     .in = REPORT(ORG, DR, CI, "\"report-id\":\"\\ud83d\"", POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "not JSON: lone high surrogate"},
    {.rule = "RFC 8259 §7: a lone low surrogate is refused",
     .in = REPORT(ORG, DR, CI, "\"report-id\":\"\\ude00x\"", POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "not JSON: lone low surrogate"},
    {.rule = "RFC 8259 §7: \\u0000 is refused (it would cut the string)",
     .in = REPORT(ORG, DR, CI, "\"report-id\":\"a\\u0000b\"", POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "\\u0000"},
    {.rule = "RFC 8259 §7: a raw control character in a string is refused",
     .in = REPORT(ORG, DR, CI, "\"report-id\":\"a\tb\"", POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "not JSON: control character"},
    {.rule = "RFC 8259 §7: an unknown escape is refused",
     .in = REPORT(ORG, DR, CI, "\"report-id\":\"a\\qb\"", POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "not JSON: invalid escape"},
    {.rule = "RFC 8259 §2: text after the value is refused",
     .in = GOOD " {}",
     .err = MXTLS_EINVAL,
     .diag_has = "not JSON: end of input expected"},
    {.rule = "RFC 8259 §6: a number needs digits after the point",
     .in = "{\"x\":1.," ORG "," DR "," CI "," RID "," POLS(ONE) "}",
     .err = MXTLS_EINVAL,
     .diag_has = "not JSON: invalid number"},
    {.rule = "RFC 8259 §6: a leading zero ends the number",
     .in = "{\"x\":01," ORG "," DR "," CI "," RID "," POLS(ONE) "}",
     .err = MXTLS_EINVAL,
     .diag_has = "not JSON"},
    {.rule = "RFC 8259 §6: a real out of double's range in an extension is ignored",
     .in = "{\"x\":[1e400,-0.5E-3,true,false,null]," ORG "," DR "," CI "," RID "," POLS(ONE) "}",
     .report_id = "r-1",
     .domain = "example.com",
     .succ = 10,
     .fail = 2,
     .start = T0},
    {.rule = "RFC 8259 §4: a duplicate name among more than 16 members is refused",
     .in = "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,\"j\":1,"
           "\"k\":1,\"l\":1,\"m\":1,\"n\":1,\"o\":1,\"p\":1,\"q\":1,\"h\":2}",
     .err = MXTLS_EINVAL,
     .diag_has = "duplicate object key"},
    {.rule = "RFC 8259 §9: a string left open is refused",
     .in = "{\"organization-name\":\"abc",
     .err = MXTLS_EINVAL,
     .diag_has = "not JSON: unterminated string"},
    {.rule = "RFC 8259 §8.1: strings are UTF-8",
     .in = REPORT("\"organization-name\":\"\xff\xfe\"", DR, CI, RID, POLS(ONE)),
     .err = MXTLS_EINVAL,
     .diag_has = "not JSON"},
};

/* test_parse - one row */
static void test_parse(void **state)
{
    const struct parse_case *c = *state;
    struct tlsrpt_report *r = (struct tlsrpt_report *)1;
    struct mxtls_diag diag = {0};
    int err = tlsrpt_report_parse(c->in, strlen(c->in), &r, &diag);

    if (err != c->err)
        fprintf(stderr, "got %d (%s), want %d\n", err, diag.what, c->err);
    assert_int_equal(err, c->err);
    if (c->err != 0) {
        assert_null(r);
        assert_int_equal(diag.code, c->err);
        if (strstr(diag.what, c->diag_has) == NULL)
            fprintf(stderr, "reason \"%s\" lacks \"%s\"\n", diag.what, c->diag_has);
        assert_non_null(strstr(diag.what, c->diag_has));
        return;
    }
    assert_non_null(r);
    assert_int_equal(r->quirks & c->quirks, c->quirks);
    if (c->report_id != NULL)
        assert_string_equal(r->report_id, c->report_id);
    assert_int_equal(r->start, c->start);
    assert_true(r->end >= r->start);
    assert_int_equal(r->n_policies, 1);
    assert_string_equal(r->policies[0].policy_domain, c->domain);
    assert_int_equal(r->policies[0].total_successful, c->succ);
    assert_int_equal(r->policies[0].total_failure, c->fail);
    assert_int_equal(r->policies[0].totals_mismatch, c->mismatch);
    assert_int_equal(!!(r->quirks & TLSRPT_Q_TOTALS_MISMATCH), c->mismatch);
    if (c->n_strings > 0) {
        assert_int_equal(r->policies[0].n_policy_strings, c->n_strings);
        assert_string_equal(r->policies[0].policy_strings[0], c->string0);
        if (c->string1 != NULL)
            assert_string_equal(r->policies[0].policy_strings[1], c->string1);
    }
    if (c->n_mx > 0) {
        assert_int_equal(r->policies[0].n_mx_hosts, c->n_mx);
        assert_string_equal(r->policies[0].mx_hosts[0], c->mx0);
    }
    tlsrpt_report_free(r);
}

/* test_length - only len octets are read: a report cut short is refused */
static void test_length(void **state)
{
    const char *in = GOOD "trailing";
    struct tlsrpt_report *r = NULL;

    (void)state;
    assert_int_equal(tlsrpt_report_parse(in, strlen(GOOD), &r, NULL), 0);
    tlsrpt_report_free(r);
    assert_int_equal(tlsrpt_report_parse(in, strlen(GOOD) - 1, &r, NULL), MXTLS_EINVAL);
    assert_null(r);
    assert_int_equal(tlsrpt_report_parse(in, strlen(in), &r, NULL), MXTLS_EINVAL);
    tlsrpt_report_free(NULL);
}

/* test_deep - 200,000 nested arrays are refused (jansson's depth cap), not a crash */
static void test_deep(void **state)
{
    size_t depth = 200000, n = 2 * depth + 64;
    char *in = malloc(n), *p = in;
    struct tlsrpt_report *r = NULL;
    struct mxtls_diag diag = {0};

    (void)state;
    assert_non_null(in);
    p += sprintf(p, "{\"x\":");
    memset(p, '[', depth);
    p += depth;
    memset(p, ']', depth);
    p += depth;
    *p++ = '}';
    assert_int_equal(tlsrpt_report_parse(in, (size_t)(p - in), &r, &diag), MXTLS_EINVAL);
    assert_non_null(strstr(diag.what, "not JSON"));
    free(in);
}

/* test_caps - over TLSRPT_REPORT_MAX octets and over TLSRPT_POLICIES_MAX entries */
static void test_caps(void **state)
{
    struct tlsrpt_report *r = NULL;
    struct mxtls_diag diag = {0};
    const char *one = "{" POLICY "," SUM "},";
    size_t n1 = strlen(one), n = 256 + (TLSRPT_POLICIES_MAX + 1) * n1;
    char *in = malloc(n > TLSRPT_REPORT_MAX + 1 ? n : TLSRPT_REPORT_MAX + 1), *p;

    (void)state;
    assert_non_null(in);
    memset(in, ' ', TLSRPT_REPORT_MAX + 1);
    assert_int_equal(tlsrpt_report_parse(in, TLSRPT_REPORT_MAX + 1, &r, &diag), MXTLS_ETOOLONG);

    p = in + sprintf(in, "{" ORG "," DR "," CI "," RID ",\"policies\":[");
    for (size_t i = 0; i < TLSRPT_POLICIES_MAX + 1; i++, p += n1)
        memcpy(p, one, n1);
    p[-1] = ']';
    *p++ = '}';
    assert_int_equal(tlsrpt_report_parse(in, (size_t)(p - in), &r, &diag), MXTLS_ETOOLONG);
    assert_non_null(strstr(diag.what, "policies: more than"));
    /* one fewer: accepted */
    p -= n1 + 1;
    p[-1] = ']';
    *p++ = '}';
    assert_int_equal(tlsrpt_report_parse(in, (size_t)(p - in), &r, &diag), 0);
    assert_int_equal(r->n_policies, TLSRPT_POLICIES_MAX);
    tlsrpt_report_free(r);
    free(in);
}

struct time_case {
    const char *rule;
    const char *in;
    int err;
    int64_t t;
    int no_zone;
};

static const struct time_case time_cases[] = {
    {"RFC 3339 §5.6: Z", "1970-01-01T00:00:00Z", 0, 0, 0},
    {"RFC 3339 §5.6: lower-case t and z", "2000-03-01t12:00:00z", 0, 951912000, 0},
    {"RFC 3339 §5.6 NOTE: space for T", "2000-03-01 12:00:00Z", 0, 951912000, 0},
    {"RFC 3339 §5.6: negative offset", "1970-01-01T00:00:00-01:00", 0, 3600, 0},
    {"RFC 3339 §5.6: leap year 29 February", "2024-02-29T00:00:00Z", 0, 1709164800, 0},
    {"RFC 3339 §5.7: leap second read as :59", "2016-12-31T23:59:60Z", 0, 1483228799, 0},
    {"no zone: UTC, flagged", "2026-01-01T00:00:00", 0, T0, 1},
    {"RFC 3339 §5.6: offset needs a colon", "2026-01-01T00:00:00+0100", MXTLS_EINVAL, 0, 0},
    {"RFC 3339 §5.6: hour 24 refused", "2026-01-01T24:00:00Z", MXTLS_EINVAL, 0, 0},
    {"RFC 3339 §5.6: empty fraction refused", "2026-01-01T00:00:00.Z", MXTLS_EINVAL, 0, 0},
    {"RFC 3339 §5.6: trailing text refused", "2026-01-01T00:00:00Zx", MXTLS_EINVAL, 0, 0},
};

/* test_time - one date-time row */
static void test_time(void **state)
{
    const struct time_case *c = *state;
    int64_t t = -1;
    int no_zone = -1;

    assert_int_equal(tlsrpt_datetime_parse(c->in, strlen(c->in), &t, &no_zone), c->err);
    if (c->err == 0) {
        assert_int_equal(t, c->t);
        assert_int_equal(no_zone, c->no_zone);
    }
}

int main(void)
{
    static struct unit_suite s;

    UNIT_ROWS(&s, test_parse, parse_cases);
    UNIT_ROWS(&s, test_time, time_cases);
    unit_one(&s, "only len octets are read; free(NULL) is a no-op", test_length, NULL);
    unit_one(&s, "200,000-deep nesting refused by the depth cap, no crash", test_deep, NULL);
    unit_one(&s, "caps on report size and policy count, boundary and boundary+1", test_caps, NULL);
    return unit_run(&s, "tlsrpt_report");
}
