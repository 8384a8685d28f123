/*
 * tlsrpt_send - build one RFC 8460 report from the collector's store and
 * deliver it: https POST (§5.4) with libcurl, or mail (§5.3) through
 * sendmail(8), DKIM-signed (io/dkim_sign.c).
 *
 * The report of one UTC day and one policy domain: §4.4 JSON (organization-
 * name, date-range in UTC, contact-info, report-id, a policies entry per
 * policy applied, each with policy-type, policy-string, policy-domain -
 * always, also for no-policy-found - mx-host, summary and failure-details),
 * gzip-compressed, named per §5.1. Failures return a negative MXTLS_E* code
 * with diag; nothing logs.
 */
#ifndef MXTLS_IO_TLSRPT_SEND_H
#define MXTLS_IO_TLSRPT_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxtls/diag.h"
#include "tlsrpt_config.h"
#include "tlsrpt_sessions.h"

struct tlsrpt_built {
    char domain[254];
    char day[11];
    char report_id[600];
    char filename[800]; /* §5.1: submitter!policy-domain!begin!end!unique.json.gz */
    int64_t start, end; /* the UTC day: [start, end] */
    char *json;         /* owned, NUL-terminated */
    unsigned char *gz;  /* owned */
    size_t gz_len;
};

/*
 * tlsrpt_send_build - the report for (day, domain) from s, with cfg's
 * organization_name, contact_info and submitter. Returns 0,
 * MXTLS_ENOTFOUND (no sessions), MXTLS_EINVAL (organization_name or
 * submitter not configured), MXTLS_ENOMEM / MXTLS_EIO. Release with
 * tlsrpt_built_finish.
 */
int tlsrpt_send_build(struct tlsrpt_sessions *s, const struct tlsrpt_config *cfg, const char *day,
                      const char *domain, struct tlsrpt_built *out, struct mxtls_diag *diag);

/* tlsrpt_built_finish - free what out owns. */
void tlsrpt_built_finish(struct tlsrpt_built *out);

/* tlsrpt_send_gzip - gzip (RFC 1952) data with name in the header; *out is heap. */
int tlsrpt_send_gzip(const void *data, size_t len, const char *name, unsigned char **out,
                     size_t *outlen);

/*
 * tlsrpt_send_https - POST the gzip body to uri (https only, TLS 1.2+,
 * certificate and name verified against ca_file or the system store, no
 * redirects, 30 s). addr, when not NULL, is the address our validating
 * resolver found for the host (curl then does not resolve it). 0 on a 2xx
 * answer, else MXTLS_EIO with the reason.
 */
int tlsrpt_send_https(const char *uri, const char *addr, const struct tlsrpt_built *r,
                      const char *ca_file, struct mxtls_diag *diag);

/*
 * tlsrpt_send_mail_build - the §5.3 message to rcpt: multipart/report;
 * report-type="tlsrpt", TLS-Report-Domain, TLS-Report-Submitter, the subject,
 * TLS-Required: No (RFC 8689), a text part and the application/tlsrpt+gzip
 * part (base64); DKIM-signed when cfg names a key. *msg (CRLF lines) is heap.
 */
int tlsrpt_send_mail_build(const struct tlsrpt_config *cfg, const char *rcpt,
                           const struct tlsrpt_built *r, char **msg, size_t *len,
                           struct mxtls_diag *diag);

/* tlsrpt_send_mailto_addr - the address of a mailto: URI (up to '?', %XX decoded). */
int tlsrpt_send_mailto_addr(const char *uri, char *out, size_t size);

/*
 * tlsrpt_send_sendmail - submit msg to rcpt through cfg's sendmail (-C dir
 * when set, -i, -f mail_from). 0 when it exits 0, else MXTLS_EIO.
 */
int tlsrpt_send_sendmail(const struct tlsrpt_config *cfg, const char *rcpt, const char *msg,
                         size_t len, struct mxtls_diag *diag);

#endif
