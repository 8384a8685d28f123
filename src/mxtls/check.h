/*
 * check - the findings and verdict of `mxtls check` and `mxtls sts verify`
 * (issue 11): what one domain's audit found, the status it earns and how it
 * is printed.
 *
 * A struct check_report belongs to one domain. Each finding has a stable
 * kebab-case id (an interface: scripts match them; every id is listed in
 * mxtls(1) with its severity), a severity, the MX host and address it
 * concerns ("" when it concerns the domain) and a message for an operator.
 * The report also holds the facts behind the findings as a JSON object
 * (jansson), printed with --json.
 *
 * Verdict (the monitoring plugin convention): a domain is CRITICAL when
 * some finding is critical, else WARNING when some finding is a warning,
 * else UNKNOWN when some check could not be made, else OK; info findings
 * leave it alone. The exit status of a run is the worst over its domains in
 * that same order (critical > warning > unknown > ok), as the monitoring
 * plugins' max_state_alt orders them: a known fault outranks a check that
 * could not be made.
 *
 * Memory: a report owns its findings, strings and facts; out of memory while
 * adding a finding aborts (a command line tool, nothing to save). Nothing
 * here does I/O except the print functions, which write to the FILE given.
 */
#ifndef MXTLS_CHECK_H
#define MXTLS_CHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CHECK_ID_MAX      40  /* a finding id, "sts-policy-fetch-failed" */
#define CHECK_MESSAGE_MAX 600 /* a finding's message, octets; longer ones are cut */

/* Severity of one finding, in increasing weight for the verdict. */
enum check_severity {
    CHECK_SEV_INFO = 0, /* leaves the status alone */
    CHECK_SEV_UNKNOWN,  /* the checker could not find out */
    CHECK_SEV_WARNING,  /* it will break soon or is weaker than it looks */
    CHECK_SEV_CRITICAL, /* a sender honouring what is published defers or bounces now */
};

/* The status of a domain, valued as the exit code of a monitoring plugin. */
enum check_status {
    CHECK_OK = 0,
    CHECK_WARNING = 1,
    CHECK_CRITICAL = 2,
    CHECK_UNKNOWN = 3,
};

struct check_finding {
    char id[CHECK_ID_MAX];
    enum check_severity severity;
    char *host;    /* the MX host, "" for the domain */
    char *address; /* the address, "" when none */
    char *message;
};

struct check_report {
    char *domain;
    size_t n_findings, cap;
    struct check_finding *findings;
    json_t *facts; /* an object; its members are printed beside the findings */
};

/* check_report_new - an empty report for domain (copied); aborts when out of memory. */
struct check_report *check_report_new(const char *domain);

/* check_report_free - release a report; NULL is a no-op. */
void check_report_free(struct check_report *r);

/*
 * check_add - append a finding: id (kebab-case, < CHECK_ID_MAX), severity,
 * host and address (NULL means ""), and a printf-style message (cut at
 * CHECK_MESSAGE_MAX octets; cleaned with check_clean_text).
 */
void check_add(struct check_report *r, const char *id, enum check_severity sev, const char *host,
               const char *address, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/*
 * check_clean_text - make s fit for a terminal and for JSON, in place:
 * control characters and octets that are not valid UTF-8 (text from the
 * network: banners, reasons, certificate names) become '?'.
 */
void check_clean_text(char *s);

/* check_has - 1 when the report has a finding with this id, else 0. */
int check_has(const struct check_report *r, const char *id);

/* check_status - the domain's status from its findings (see above). */
enum check_status check_report_status(const struct check_report *r);

/* check_status_worse - the worse of two statuses, critical > warning > unknown > ok. */
enum check_status check_status_worse(enum check_status a, enum check_status b);

/* check_status_name - "ok", "warning", "critical" or "unknown". */
const char *check_status_name(enum check_status s);

/* check_severity_name - "info", "unknown", "warning" or "critical". */
const char *check_severity_name(enum check_severity s);

/*
 * check_report_json - the report as one JSON object: "domain", "status",
 * "findings" (each with "id", "severity", "host", "address", "message"),
 * then every member of the facts. Returns a new reference or NULL when out
 * of memory.
 */
json_t *check_report_json(const struct check_report *r);

/*
 * check_report_print_json - one line of JSON for the report, then '\n'.
 * Returns 0 or -1 when it could not be written.
 */
int check_report_print_json(const struct check_report *r, FILE *fp);

/*
 * check_report_print_text - the human form: a heading line with the domain
 * and its status, then one line per finding grouped by host (the domain's
 * own findings first, then each host in order of first mention), each
 * "  SEVERITY  [address] id: message". With color, ANSI colours mark the
 * severities (only for a terminal: the caller decides). Returns 0 or -1.
 */
int check_report_print_text(const struct check_report *r, FILE *fp, bool color);

#endif
