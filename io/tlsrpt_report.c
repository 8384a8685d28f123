/*
 * tlsrpt_report - RFC 8460 §4 report JSON into struct tlsrpt_report, with
 * jansson (see tlsrpt_report.h for the rules, the repairs and the caps).
 *
 * Failure: every check returns a negative MXTLS_E* code with diag naming the
 * member path ("policies[2].summary") and the reason; the partly built report
 * is freed. jansson's own error text is passed through for input that is not
 * JSON. Nothing logs or exits.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mxtls/domain.h"
#include "tlsrpt_report.h"

#define PATH_MAX_LEN 96

/* dup_str - a NUL-terminated heap copy of (s, n), NULL when out of memory */
static char *dup_str(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* lower_in_place - ASCII lower case */
static void lower_in_place(char *s)
{
    for (; *s != '\0'; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/*
 * get_string - member key of obj as a new string in *out. Absent or null
 * gives *out = NULL and 0 unless required. A string over TLSRPT_STRING_MAX
 * is MXTLS_ETOOLONG; another type is MXTLS_EINVAL.
 */
static int get_string(const json_t *obj, const char *key, bool required, char **out,
                      const char *path, struct mxtls_diag *diag)
{
    const json_t *v = json_object_get(obj, key);
    size_t n;

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: missing (RFC 8460 §4.4)", path,
                                  key);
        return 0;
    }
    if (!json_is_string(v))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: not a string (RFC 8460 §4.4)", path,
                              key);
    n = json_string_length(v);
    if (n > TLSRPT_STRING_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s%s: longer than %u octets", path, key,
                              (unsigned)TLSRPT_STRING_MAX);
    if (required && n == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: empty (RFC 8460 §4.4)", path, key);
    *out = dup_str(json_string_value(v), n);
    return *out == NULL ? mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory") : 0;
}

/*
 * get_count - member key of obj, a session count (RFC 8460 §4.4: an integer
 * count of sessions): a JSON integer 0..TLSRPT_COUNT_MAX. A real such as 1.0
 * or 1e3, a negative number, a string or a missing member is refused.
 */
static int get_count(const json_t *obj, const char *key, int64_t *out, const char *path,
                     struct mxtls_diag *diag)
{
    const json_t *v = json_object_get(obj, key);
    json_int_t n;

    if (v == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: missing (RFC 8460 §4.4)", path, key);
    if (!json_is_integer(v))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%s%s: not a non-negative integer (RFC 8460 §4.4)", path, key);
    n = json_integer_value(v);
    if (n < 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: negative count %lld (RFC 8460 §4.4)",
                              path, key, (long long)n);
    if (n > TLSRPT_COUNT_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s%s: count %lld over %lld", path, key,
                              (long long)n, (long long)TLSRPT_COUNT_MAX);
    *out = (int64_t)n;
    return 0;
}

/* digits - n decimal digits at s into *v; 0 or -1 */
static int digits(const char *s, size_t n, int *v)
{
    int x = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

/* days_from_civil - days since 1970-01-01 of a proleptic Gregorian date */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t yy = y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

/* tlsrpt_datetime_parse - RFC 3339 §5.6 date-time to epoch seconds (see the header) */
int tlsrpt_datetime_parse(const char *s, size_t len, int64_t *t, int *no_zone)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, zh = 0, zm = 0, sign = 0;
    size_t i = 19;

    /* RFC 3339 §5.6: full-date "T" partial-time time-offset */
    if (len < 19 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return MXTLS_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return MXTLS_EINVAL;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return MXTLS_EINVAL;
    if (i < len && s[i] == '.') { /* time-secfrac: dropped */
        size_t j = ++i;

        while (i < len && s[i] >= '0' && s[i] <= '9' && i - j < 12)
            i++;
        if (i == j)
            return MXTLS_EINVAL;
    }
    *no_zone = 0;
    if (i == len) {
        *no_zone = 1; /* seen in the wild; RFC 3339 requires an offset */
    } else if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        /* UTC */
    } else if ((s[i] == '+' || s[i] == '-') && len - i == 6 && !digits(s + i + 1, 2, &zh) &&
               s[i + 3] == ':' && !digits(s + i + 4, 2, &zm) && zh <= 23 && zm <= 59) {
        sign = s[i] == '+' ? 1 : -1;
    } else {
        return MXTLS_EINVAL;
    }
    if (sec == 60)
        sec = 59; /* a leap second counts as the second before it */
    *t =
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * (zh * 3600 + zm * 60);
    return 0;
}

/* get_time - a date-time member (RFC 8460 §4.4, RFC 3339) into *t */
static int get_time(const json_t *obj, const char *key, int64_t *t, unsigned *quirks,
                    const char *path, struct mxtls_diag *diag)
{
    const json_t *v = json_object_get(obj, key);
    int no_zone = 0;

    if (v == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: missing (RFC 8460 §4.4)", path, key);
    if (!json_is_string(v) ||
        tlsrpt_datetime_parse(json_string_value(v), json_string_length(v), t, &no_zone) != 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%s%s: not an RFC 3339 date-time (RFC 8460 §4.4)", path, key);
    if (*t < TLSRPT_TIME_MIN || *t > TLSRPT_TIME_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s%s: before 1970 or after 2999", path, key);
    if (no_zone)
        *quirks |= TLSRPT_Q_DATE_NO_ZONE;
    return 0;
}

/* push_string - append a copy of (s, n) to the array *arr of *n strings */
static int push_string(char ***arr, size_t *count, const char *s, size_t n, const char *what,
                       struct mxtls_diag *diag)
{
    char **grown;

    if (*count >= TLSRPT_STRINGS_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s: more than %d entries", what,
                              TLSRPT_STRINGS_MAX);
    if (n > TLSRPT_STRING_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s: an entry longer than %u octets", what,
                              (unsigned)TLSRPT_STRING_MAX);
    grown = realloc(*arr, (*count + 1) * sizeof(**arr));
    if (grown == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    *arr = grown;
    grown[*count] = dup_str(s, n);
    if (grown[*count] == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    (*count)++;
    return 0;
}

/*
 * inner_strings - when (s, n) is a JSON-encoded array of strings (how
 * Microsoft sends a TLSA policy-string), append its elements and return 1;
 * 0 when it is not one (the caller keeps it as one string); < 0 on error.
 */
static int inner_strings(struct tlsrpt_policy *p, const char *s, size_t n, const char *what,
                         struct mxtls_diag *diag)
{
    json_t *inner;
    size_t i;
    int err = 1;

    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    if (n == 0 || *s != '[')
        return 0;
    inner = json_loadb(s, n, JSON_REJECT_DUPLICATES, NULL);
    if (inner == NULL || !json_is_array(inner)) {
        json_decref(inner);
        return 0;
    }
    for (i = 0; i < json_array_size(inner); i++)
        if (!json_is_string(json_array_get(inner, i))) {
            json_decref(inner);
            return 0;
        }
    for (i = 0; i < json_array_size(inner) && err > 0; i++) {
        const json_t *e = json_array_get(inner, i);
        int r = push_string(&p->policy_strings, &p->n_policy_strings, json_string_value(e),
                            json_string_length(e), what, diag);

        if (r < 0)
            err = r;
    }
    json_decref(inner);
    return err;
}

/* get_policy_strings - policy.policy-string (RFC 8460 §4.4), optional */
static int get_policy_strings(const json_t *pol, struct tlsrpt_policy *p, unsigned *quirks,
                              const char *path, struct mxtls_diag *diag)
{
    const json_t *v = json_object_get(pol, "policy-string");
    char what[PATH_MAX_LEN + 80];
    int r;

    snprintf(what, sizeof(what), "%spolicy-string", path);
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        *quirks |= TLSRPT_Q_POLICY_STRING_SCALAR;
        r = inner_strings(p, json_string_value(v), json_string_length(v), what, diag);
        if (r > 0)
            *quirks |= TLSRPT_Q_POLICY_STRING_JSON;
        if (r != 0)
            return r < 0 ? r : 0;
        return push_string(&p->policy_strings, &p->n_policy_strings, json_string_value(v),
                           json_string_length(v), what, diag);
    }
    if (!json_is_array(v))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: not an array of strings (RFC 8460 §4.4)",
                              what);
    if (json_array_size(v) > TLSRPT_STRINGS_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s: more than %d entries", what,
                              TLSRPT_STRINGS_MAX);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);

        if (!json_is_string(e))
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s[%zu]: not a string (RFC 8460 §4.4)",
                                  what, i);
        if (json_array_size(v) == 1) {
            r = inner_strings(p, json_string_value(e), json_string_length(e), what, diag);
            if (r < 0)
                return r;
            if (r > 0) {
                *quirks |= TLSRPT_Q_POLICY_STRING_JSON;
                continue;
            }
        }
        r = push_string(&p->policy_strings, &p->n_policy_strings, json_string_value(e),
                        json_string_length(e), what, diag);
        if (r < 0)
            return r;
    }
    return 0;
}

/* add_mx_host - one mx-host entry, "mx: " removed, lower case */
static int add_mx_host(struct tlsrpt_policy *p, const char *s, size_t n, unsigned *quirks,
                       const char *what, struct mxtls_diag *diag)
{
    if (n >= 3 && strncasecmp(s, "mx:", 3) == 0) {
        *quirks |= TLSRPT_Q_MX_HOST_PREFIX;
        s += 3, n -= 3;
        while (n > 0 && (*s == ' ' || *s == '\t'))
            s++, n--;
    }
    if (n > 0 && s[n - 1] == '.')
        n--;
    int r = push_string(&p->mx_hosts, &p->n_mx_hosts, s, n, what, diag);

    if (r < 0)
        return r;
    lower_in_place(p->mx_hosts[p->n_mx_hosts - 1]);
    return 0;
}

/* get_mx_hosts - policy.mx-host: a string or an array of strings, optional */
static int get_mx_hosts(const json_t *pol, struct tlsrpt_policy *p, unsigned *quirks,
                        const char *path, struct mxtls_diag *diag)
{
    const json_t *v = json_object_get(pol, "mx-host");
    char what[PATH_MAX_LEN + 80];

    snprintf(what, sizeof(what), "%smx-host", path);
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        *quirks |= TLSRPT_Q_MX_HOST_STRING;
        return add_mx_host(p, json_string_value(v), json_string_length(v), quirks, what, diag);
    }
    if (!json_is_array(v))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: not a string or array (RFC 8460 §4.4)",
                              what);
    if (json_array_size(v) > TLSRPT_STRINGS_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%s: more than %d entries", what,
                              TLSRPT_STRINGS_MAX);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        int r;

        if (!json_is_string(e))
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s[%zu]: not a string", what, i);
        r = add_mx_host(p, json_string_value(e), json_string_length(e), quirks, what, diag);
        if (r < 0)
            return r;
    }
    return 0;
}

/* empty_to_null - "" becomes NULL (an empty sending-mta-ip, seen in the wild) */
static void empty_to_null(char **s, unsigned *quirks)
{
    if (*s != NULL && (*s)[0] == '\0') {
        free(*s);
        *s = NULL;
        *quirks |= TLSRPT_Q_EMPTY_IP;
    }
}

/* parse_failure - one failure-details entry (RFC 8460 §4.4) */
static int parse_failure(const json_t *fd, struct tlsrpt_failure *f, unsigned *quirks,
                         const char *path, struct mxtls_diag *diag)
{
    int r;

    if (!json_is_object(fd))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: not an object (RFC 8460 §4.4)", path);
    if ((r = get_string(fd, "result-type", true, &f->result_type, path, diag)) < 0 ||
        (r = get_count(fd, "failed-session-count", &f->failed_session_count, path, diag)) < 0 ||
        (r = get_string(fd, "sending-mta-ip", false, &f->sending_mta_ip, path, diag)) < 0 ||
        (r = get_string(fd, "receiving-mx-hostname", false, &f->receiving_mx_hostname, path,
                        diag)) < 0 ||
        (r = get_string(fd, "receiving-mx-helo", false, &f->receiving_mx_helo, path, diag)) < 0 ||
        (r = get_string(fd, "receiving-ip", false, &f->receiving_ip, path, diag)) < 0 ||
        (r = get_string(fd, "additional-information", false, &f->additional_information, path,
                        diag)) < 0 ||
        (r = get_string(fd, "failure-reason-code", false, &f->failure_reason_code, path, diag)) < 0)
        return r;
    lower_in_place(f->result_type);
    empty_to_null(&f->sending_mta_ip, quirks);
    empty_to_null(&f->receiving_ip, quirks);
    if (f->receiving_mx_hostname != NULL) {
        size_t n = strlen(f->receiving_mx_hostname);

        if (n > 0 && f->receiving_mx_hostname[n - 1] == '.')
            f->receiving_mx_hostname[n - 1] = '\0';
        lower_in_place(f->receiving_mx_hostname);
    }
    return 0;
}

/* parse_policy - one policies[] entry: policy, summary, failure-details */
static int parse_policy(const json_t *entry, struct tlsrpt_policy *p, unsigned *quirks,
                        const char *path, struct mxtls_diag *diag)
{
    char sub[PATH_MAX_LEN + 48], dom[DOMAIN_BUF_SIZE];
    const json_t *pol, *sum, *fds;
    int r;

    if (!json_is_object(entry))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: not an object (RFC 8460 §4.4)", path);
    pol = json_object_get(entry, "policy");
    snprintf(sub, sizeof(sub), "%spolicy.", path);
    if (!json_is_object(pol))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%spolicy: %s (RFC 8460 §4.4)", path,
                              pol == NULL ? "missing" : "not an object");
    if ((r = get_string(pol, "policy-type", true, &p->policy_type, sub, diag)) < 0 ||
        (r = get_string(pol, "policy-domain", true, &p->policy_domain, sub, diag)) < 0 ||
        (r = get_policy_strings(pol, p, quirks, sub, diag)) < 0 ||
        (r = get_mx_hosts(pol, p, quirks, sub, diag)) < 0)
        return r;
    lower_in_place(p->policy_type);
    if (domain_normalize(p->policy_domain, strlen(p->policy_domain), dom, sizeof(dom), NULL) != 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%spolicy-domain: not a domain name (RFC 8460 §4.4)", sub);
    strcpy(p->policy_domain, dom); /* normalised is never longer */

    sum = json_object_get(entry, "summary");
    snprintf(sub, sizeof(sub), "%ssummary.", path);
    if (!json_is_object(sum))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%ssummary: %s (RFC 8460 §4.4)", path,
                              sum == NULL ? "missing" : "not an object");
    if ((r = get_count(sum, "total-successful-session-count", &p->total_successful, sub, diag)) <
            0 ||
        (r = get_count(sum, "total-failure-session-count", &p->total_failure, sub, diag)) < 0)
        return r;

    fds = json_object_get(entry, "failure-details");
    if (fds == NULL || json_is_null(fds))
        return 0; /* RFC 8460 §4.4: failure-details is optional */
    if (!json_is_array(fds))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "%sfailure-details: not an array (RFC 8460 §4.4)", path);
    if (json_array_size(fds) > TLSRPT_DETAILS_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "%sfailure-details: more than %d entries",
                              path, TLSRPT_DETAILS_MAX);
    if (json_array_size(fds) > 0) {
        p->failures = calloc(json_array_size(fds), sizeof(*p->failures));
        if (p->failures == NULL)
            return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < json_array_size(fds); i++) {
        snprintf(sub, sizeof(sub), "%sfailure-details[%zu].", path, i);
        p->n_failures = i + 1;
        r = parse_failure(json_array_get(fds, i), &p->failures[i], quirks, sub, diag);
        if (r < 0)
            return r;
        p->details_failure += p->failures[i].failed_session_count; /* capped: no overflow */
    }
    if (p->n_failures > 0 && p->details_failure != p->total_failure) {
        p->totals_mismatch = 1; /* stored as sent, flagged (Mail.ru) */
        *quirks |= TLSRPT_Q_TOTALS_MISMATCH;
    }
    return 0;
}

/* parse_root - the report object (RFC 8460 §4.4) */
static int parse_root(const json_t *root, struct tlsrpt_report *r, struct mxtls_diag *diag)
{
    const json_t *dr, *pols, *ci;
    int err;
    size_t n;

    if (!json_is_object(root))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "not a JSON object (RFC 8460 §4.4)");
    if ((err = get_string(root, "organization-name", true, &r->organization_name, "", diag)) < 0 ||
        (err = get_string(root, "report-id", true, &r->report_id, "", diag)) < 0)
        return err;
    n = strlen(r->report_id);
    if (n >= 2 && r->report_id[0] == '<' && r->report_id[n - 1] == '>') {
        memmove(r->report_id, r->report_id + 1, n - 2);
        r->report_id[n - 2] = '\0';
        r->quirks |= TLSRPT_Q_REPORT_ID_BRACKETS;
        if (n == 2)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "report-id: empty (RFC 8460 §4.4)");
    }
    ci = json_object_get(root, "contact-info");
    if (ci != NULL && !json_is_null(ci) && !json_is_string(ci))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "contact-info: not a string (RFC 8460 §4.4)");
    if ((err = get_string(root, "contact-info", false, &r->contact_info, "", diag)) < 0)
        return err;
    if (r->contact_info == NULL)
        r->quirks |= TLSRPT_Q_CONTACT_NULL;

    dr = json_object_get(root, "date-range");
    if (!json_is_object(dr))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "date-range: %s (RFC 8460 §4.4)",
                              dr == NULL ? "missing" : "not an object");
    if ((err = get_time(dr, "start-datetime", &r->start, &r->quirks, "date-range.", diag)) < 0 ||
        (err = get_time(dr, "end-datetime", &r->end, &r->quirks, "date-range.", diag)) < 0)
        return err;
    if (r->end < r->start)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              "date-range: end-datetime before start-datetime");

    pols = json_object_get(root, "policies");
    if (!json_is_array(pols))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "policies: %s (RFC 8460 §4.4)",
                              pols == NULL ? "missing" : "not an array");
    if (json_array_size(pols) == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "policies: empty (RFC 8460 §4.4)");
    if (json_array_size(pols) > TLSRPT_POLICIES_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "policies: more than %d entries",
                              TLSRPT_POLICIES_MAX);
    r->policies = calloc(json_array_size(pols), sizeof(*r->policies));
    if (r->policies == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    for (size_t i = 0; i < json_array_size(pols); i++) {
        char path[PATH_MAX_LEN];

        snprintf(path, sizeof(path), "policies[%zu].", i);
        r->n_policies = i + 1;
        err = parse_policy(json_array_get(pols, i), &r->policies[i], &r->quirks, path, diag);
        if (err < 0)
            return err;
    }
    return 0;
}

/* tlsrpt_report_parse - the report JSON into a new struct tlsrpt_report */
int tlsrpt_report_parse(const char *buf, size_t len, struct tlsrpt_report **out,
                        struct mxtls_diag *diag)
{
    struct tlsrpt_report *r;
    json_error_t jerr;
    json_t *root;
    int err;

    *out = NULL;
    if (len > TLSRPT_REPORT_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "report larger than %u octets",
                              (unsigned)TLSRPT_REPORT_MAX);
    /* RFC 8460 §4.4 / RFC 8259: one JSON text; duplicate names are ambiguous */
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, jerr.position < 0 ? 0 : (size_t)jerr.position,
                              "not JSON: %s at line %d column %d", jerr.text, jerr.line,
                              jerr.column);
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        json_decref(root);
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    }
    err = parse_root(root, r, diag);
    json_decref(root);
    if (err < 0) {
        tlsrpt_report_free(r);
        return err;
    }
    *out = r;
    return 0;
}

/* free_strings - an array of n heap strings */
static void free_strings(char **a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i]);
    free(a);
}

/* tlsrpt_report_free - free a parsed report; NULL is a no-op */
void tlsrpt_report_free(struct tlsrpt_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_policies; i++) {
        struct tlsrpt_policy *p = &r->policies[i];

        free(p->policy_type);
        free(p->policy_domain);
        free_strings(p->policy_strings, p->n_policy_strings);
        free_strings(p->mx_hosts, p->n_mx_hosts);
        for (size_t j = 0; j < p->n_failures; j++) {
            struct tlsrpt_failure *f = &p->failures[j];

            free(f->result_type);
            free(f->sending_mta_ip);
            free(f->receiving_mx_hostname);
            free(f->receiving_mx_helo);
            free(f->receiving_ip);
            free(f->additional_information);
            free(f->failure_reason_code);
        }
        free(p->failures);
    }
    free(r->policies);
    free(r->organization_name);
    free(r->report_id);
    free(r->contact_info);
    free(r);
}
