/*
 * check - findings, verdict and output of one domain's audit (see check.h).
 * Fails only by aborting when memory runs out, or by returning -1 from a
 * print function when the output cannot be written.
 */
#include "check.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* xstrdup - strdup or abort */
static char *xstrdup(const char *s)
{
    char *p = strdup(s != NULL ? s : "");
    if (p == NULL)
        abort();
    return p;
}

/* check_report_new - see check.h */
struct check_report *check_report_new(const char *domain)
{
    struct check_report *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    r->domain = xstrdup(domain);
    check_clean_text(r->domain); /* a -f line may be anything */
    r->facts = json_object();
    if (r->facts == NULL)
        abort();
    return r;
}

/* check_report_free - see check.h */
void check_report_free(struct check_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_findings; i++) {
        free(r->findings[i].host);
        free(r->findings[i].address);
        free(r->findings[i].message);
    }
    free(r->findings);
    free(r->domain);
    json_decref(r->facts);
    free(r);
}

/* utf8_len - length of the valid UTF-8 sequence at s (RFC 3629 §4), 0 if invalid */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (s[0] < 0x80 || n == 0)
        return s[0] < 0x80 ? 1 : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    /* overlongs, surrogates and values past U+10FFFF (RFC 3629 §4) */
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) ||
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))
        return 0;
    return n;
}

/* check_clean_text - see check.h */
void check_clean_text(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p != '\0') {
        size_t n = utf8_len(p);
        if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

/* check_add - see check.h */
void check_add(struct check_report *r, const char *id, enum check_severity sev, const char *host,
               const char *address, const char *fmt, ...)
{
    if (r->n_findings == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        struct check_finding *f = realloc(r->findings, cap * sizeof(*f));
        if (f == NULL)
            abort();
        r->findings = f;
        r->cap = cap;
    }
    struct check_finding *f = &r->findings[r->n_findings++];
    memset(f, 0, sizeof(*f));
    snprintf(f->id, sizeof(f->id), "%s", id);
    f->severity = sev;
    f->host = xstrdup(host);
    f->address = xstrdup(address);
    char msg[CHECK_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    check_clean_text(msg);
    f->message = xstrdup(msg);
}

/* check_has - see check.h */
int check_has(const struct check_report *r, const char *id)
{
    for (size_t i = 0; i < r->n_findings; i++)
        if (strcmp(r->findings[i].id, id) == 0)
            return 1;
    return 0;
}

/* rank - the weight of a status: critical > warning > unknown > ok */
static int rank(enum check_status s)
{
    switch (s) {
    case CHECK_CRITICAL:
        return 3;
    case CHECK_WARNING:
        return 2;
    case CHECK_UNKNOWN:
        return 1;
    case CHECK_OK:
        break;
    }
    return 0;
}

/* check_status_worse - see check.h */
enum check_status check_status_worse(enum check_status a, enum check_status b)
{
    return rank(a) >= rank(b) ? a : b;
}

/* check_report_status - see check.h */
enum check_status check_report_status(const struct check_report *r)
{
    enum check_status s = CHECK_OK;
    for (size_t i = 0; i < r->n_findings; i++) {
        switch (r->findings[i].severity) {
        case CHECK_SEV_CRITICAL:
            s = check_status_worse(s, CHECK_CRITICAL);
            break;
        case CHECK_SEV_WARNING:
            s = check_status_worse(s, CHECK_WARNING);
            break;
        case CHECK_SEV_UNKNOWN:
            s = check_status_worse(s, CHECK_UNKNOWN);
            break;
        case CHECK_SEV_INFO:
            break;
        }
    }
    return s;
}

/* check_status_name - see check.h */
const char *check_status_name(enum check_status s)
{
    switch (s) {
    case CHECK_OK:
        return "ok";
    case CHECK_WARNING:
        return "warning";
    case CHECK_CRITICAL:
        return "critical";
    case CHECK_UNKNOWN:
        return "unknown";
    }
    return "unknown";
}

/* check_severity_name - see check.h */
const char *check_severity_name(enum check_severity s)
{
    switch (s) {
    case CHECK_SEV_INFO:
        return "info";
    case CHECK_SEV_UNKNOWN:
        return "unknown";
    case CHECK_SEV_WARNING:
        return "warning";
    case CHECK_SEV_CRITICAL:
        return "critical";
    }
    return "unknown";
}

/* check_report_json - see check.h */
json_t *check_report_json(const struct check_report *r)
{
    json_t *o = json_object();
    json_t *list = json_array();
    if (o == NULL || list == NULL) {
        json_decref(o);
        json_decref(list);
        return NULL;
    }
    json_object_set_new(o, "domain", json_string(r->domain));
    json_object_set_new(o, "status", json_string(check_status_name(check_report_status(r))));
    for (size_t i = 0; i < r->n_findings; i++) {
        const struct check_finding *f = &r->findings[i];
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", f->id, "severity",
                                              check_severity_name(f->severity), "host", f->host,
                                              "address", f->address, "message", f->message));
    }
    json_object_set_new(o, "findings", list);
    const char *key;
    json_t *value;
    json_object_foreach(r->facts, key, value)
    {
        if (json_object_get(o, key) == NULL)
            json_object_set(o, key, value);
    }
    return o;
}

/* check_report_print_json - see check.h */
int check_report_print_json(const struct check_report *r, FILE *fp)
{
    json_t *o = check_report_json(r);
    if (o == NULL)
        return -1;
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text == NULL)
        return -1;
    int rc = fprintf(fp, "%s\n", text) < 0 ? -1 : 0;
    free(text);
    return rc;
}

/* colour - the ANSI colour of a severity */
static const char *colour(enum check_severity s)
{
    switch (s) {
    case CHECK_SEV_CRITICAL:
        return "\033[1;31m";
    case CHECK_SEV_WARNING:
        return "\033[33m";
    case CHECK_SEV_UNKNOWN:
        return "\033[35m";
    case CHECK_SEV_INFO:
        break;
    }
    return "\033[2m";
}

/* status_colour - the ANSI colour of a status */
static const char *status_colour(enum check_status s)
{
    switch (s) {
    case CHECK_CRITICAL:
        return "\033[1;31m";
    case CHECK_WARNING:
        return "\033[33m";
    case CHECK_UNKNOWN:
        return "\033[35m";
    case CHECK_OK:
        break;
    }
    return "\033[32m";
}

/* print_finding - one line */
static void print_finding(const struct check_finding *f, FILE *fp, bool color)
{
    const char *sev = check_severity_name(f->severity);
    if (color)
        fprintf(fp, "    %s%-8s\033[0m ", colour(f->severity), sev);
    else
        fprintf(fp, "    %-8s ", sev);
    if (f->address[0] != '\0')
        fprintf(fp, "[%s] ", f->address);
    fprintf(fp, "%s: %s\n", f->id, f->message);
}

/* check_report_print_text - see check.h */
int check_report_print_text(const struct check_report *r, FILE *fp, bool color)
{
    enum check_status s = check_report_status(r);
    if (color)
        fprintf(fp, "%s: %s%s\033[0m\n", r->domain, status_colour(s), check_status_name(s));
    else
        fprintf(fp, "%s: %s\n", r->domain, check_status_name(s));
    /* The domain's own findings, then each host's in order of first mention. */
    bool heading = false;
    for (size_t i = 0; i < r->n_findings; i++) {
        if (r->findings[i].host[0] != '\0')
            continue;
        if (!heading)
            fprintf(fp, "  %s\n", r->domain);
        heading = true;
        print_finding(&r->findings[i], fp, color);
    }
    bool *printed = calloc(r->n_findings + 1, sizeof(*printed));
    if (printed == NULL)
        abort();
    for (size_t i = 0; i < r->n_findings; i++) {
        const char *host = r->findings[i].host;
        if (host[0] == '\0' || printed[i])
            continue;
        fprintf(fp, "  %s\n", host);
        for (size_t k = i; k < r->n_findings; k++) {
            if (!printed[k] && strcmp(r->findings[k].host, host) == 0) {
                print_finding(&r->findings[k], fp, color);
                printed[k] = true;
            }
        }
    }
    free(printed);
    return ferror(fp) ? -1 : 0;
}
