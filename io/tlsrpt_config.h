/*
 * tlsrpt_config - the TLS-RPT sending side's settings: the `tlsrpt:` section
 * of mxtlsd's YAML configuration file (io/config.c reads everything else and
 * leaves this section alone).
 *
 *   tlsrpt:
 *     organization_name: Example Mail     # RFC 8460 §4.4 organization-name (required to report)
 *     contact_info: tlsrpt@example.net    # §4.4 contact-info
 *     submitter: mail.example.net         # TLS-Report-Submitter (§5.3), report-id domain
 *     store: /var/lib/mxtls/tlsrpt.db     # the collector's SQLite store
 *     retention_days: 30                  # days of sessions kept
 *     sending_ip: 192.0.2.25              # §4.4 sending-mta-ip (optional)
 *     postfix_log: /var/log/mail.log      # what `collect` follows
 *     mxtlsd_log: /var/log/mxtlsd.log     # mxtlsd's policy records, when not in postfix_log
 *     mail_from: tlsrpt-noreply@example.net
 *     sendmail: /usr/sbin/sendmail        # sendmail(8) for mailto: rua
 *     sendmail_config_dir: /etc/postfix   # passed as -C (optional)
 *     dkim_key: /etc/mxtls/dkim.key       # PEM RSA key; with dkim_selector and dkim_domain
 *     dkim_selector: tlsrpt
 *     dkim_domain: example.net
 *     ca_file: /etc/ssl/certs/ca-certificates.crt  # https rua trust (default: system)
 *     retry_hours: 24                     # give a delivery up after this long
 *
 * Unknown keys, non-scalar values and out-of-range numbers are load errors
 * naming the file, line and key. A file without the section gives the
 * defaults. Ownership: struct tlsrpt_config owns its strings; release with
 * tlsrpt_config_finish. Nothing here logs.
 */
#ifndef MXTLS_IO_TLSRPT_CONFIG_H
#define MXTLS_IO_TLSRPT_CONFIG_H

#include <stdint.h>

#include "mxtls/diag.h"

#ifndef MXTLS_STATEDIR
#define MXTLS_STATEDIR "/var/lib/mxtls"
#endif

struct tlsrpt_config {
    char *organization_name;
    char *contact_info;
    char *submitter;
    char *store;
    uint32_t retention_days; /* default 30, 1..3660 */
    char *sending_ip;
    char *postfix_log;
    char *mxtlsd_log;
    char *mail_from;
    char *sendmail; /* default /usr/sbin/sendmail */
    char *sendmail_config_dir;
    char *dkim_key;
    char *dkim_selector;
    char *dkim_domain;
    char *ca_file;
    uint32_t retry_hours; /* default 24, 1..168 */
};

/*
 * tlsrpt_config_load - read the `tlsrpt:` section of the YAML file at path
 * (NULL: defaults only) into cfg (need not be initialised). Returns 0, or
 * MXTLS_EINVAL / MXTLS_ENOTFOUND / MXTLS_ENOMEM with diag; either way release
 * cfg with tlsrpt_config_finish.
 */
int tlsrpt_config_load(const char *path, struct tlsrpt_config *cfg, struct mxtls_diag *diag);

/* tlsrpt_config_finish - free what cfg owns; NULL is a no-op. */
void tlsrpt_config_finish(struct tlsrpt_config *cfg);

#endif
