/*
 * check_facts - what `mxtls check` and `mxtls sts verify` gathered about one
 * domain (check_gather.c fills it from the network) and the pure judgement
 * of those facts (check_eval.c: facts in, findings and the facts' JSON out).
 *
 * Keeping the judgement a pure function of plain data means every rule of
 * issue 11 (what is critical, a warning, unknown or info) is tested without
 * a network (tests/unit/test_check.c), the way lib/decide.c is for mxtlsd.
 *
 * Ownership: a struct check_facts owns every string, array, TLSA record,
 * policy and TLS-RPT record it points to; check_facts_finish releases them.
 * Strings are NUL-terminated heap copies; NULL means "none".
 */
#ifndef MXTLS_CHECK_FACTS_H
#define MXTLS_CHECK_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "mxtls/decide.h"
#include "mxtls/sts_policy.h"
#include "mxtls/tlsa.h"
#include "mxtls/tlsrpt_record.h"

#define CHECK_HOSTS_MAX  32 /* distinct MX hosts looked at (more are reported, not probed) */
#define CHECK_ADDRS_MAX  8  /* addresses probed per host */
#define CHECK_CHAIN_MAX  8  /* certificates of a presented chain described */
#define CHECK_REASON_MAX 512

/* What an SMTP probe of one address found (io/smtp_probe.h, flattened). */
struct check_addr {
    char *address;     /* numeric */
    bool probed;       /* a probe ran to completion (or could not start: see stage) */
    int stage;         /* enum smtp_probe_stage */
    char *stage_name;  /* smtp_probe_stage_name(stage) */
    char *reason;      /* why the probe stopped before "done", NULL when done */
    bool timed_out;    /* it stopped at the probe's deadline */
    char *banner;      /* the 220 greeting */
    bool starttls;     /* STARTTLS offered in the EHLO reply */
    char *tls_version; /* when done */
    char *cipher;      /* when done */
    size_t n_chain;    /* certificates described, leaf first */
    char *chain_subject[CHECK_CHAIN_MAX];
    char *chain_issuer[CHECK_CHAIN_MAX];
    int64_t leaf_not_after; /* unix time, 0 unknown */
    bool dane_checked;      /* the probe verified against usable TLSA records */
    bool dane_matched;
    int dane_record; /* index into the host's tlsa[], -1 */
    int dane_depth;
    char *dane_reason;
    bool webpki_chain_ok, webpki_name_ok;
    char *webpki_reason;
};

/* One TLSA record as published. */
struct check_tlsa_rr {
    char *text;  /* "3 1 1 ab..", NULL when the RDATA is malformed */
    bool usable; /* RFC 7672 §3.1 */
    char *why;   /* "usable" or why not */
};

/* One MX host. */
struct check_host {
    char *name;
    unsigned pref;
    enum decide_dns a_dns, aaaa_dns; /* each address lookup */
    char *a_why, *aaaa_why;          /* their failure reasons */
    int64_t a_rrsig, aaaa_rrsig;     /* earliest RRSIG expiration, 0 none */
    char *canon;                     /* CNAME target of the address lookups */
    size_t n_addr;
    struct check_addr addr[CHECK_ADDRS_MAX];
    size_t n_addr_found; /* addresses in the answers (n_addr is capped) */
    bool tlsa_looked;
    char *tlsa_name; /* where the TLSA RRset was (last) looked up */
    enum decide_dns tlsa_dns;
    char *tlsa_why;
    bool tlsa_nxdomain;
    int64_t tlsa_rrsig;
    size_t n_tlsa, n_usable;
    struct check_tlsa_rr *tlsa;
    struct tlsa *tlsa_parsed; /* n_tlsa, usable or not, for the probe; empty when malformed */
    bool dane;                /* DANE applies to this host (RFC 7672 §2.2) */
};

/* The MTA-STS side (RFC 8461). */
struct check_sts {
    bool looked;
    enum decide_dns txt_dns;
    char *txt_why; /* lookup failure */
    int64_t txt_rrsig;
    size_t n_stsv1;     /* TXT records starting "v=STSv1" (any spelling near it counts not) */
    int record_err;     /* sts_record_select_rdata: 0, MXTLS_ENOTFOUND, _EMULTIPLE, _EINVAL.. */
    char *record_why;   /* its diag */
    char *id;           /* the record's id when valid */
    bool fetch_tried;   /* the policy fetch was attempted */
    bool fetch_unknown; /* our resolver failed on the policy host: could not find out */
    bool fetch_ok;      /* 200 text/plain within the cap */
    long http_status;
    char *fetch_why;          /* why not ok */
    char *policy_addr;        /* the address it was fetched from */
    bool policy_ok;           /* parsed */
    char *policy_why;         /* the parser's reason */
    struct sts_policy policy; /* when policy_ok */
};

/* TLS-RPT (RFC 8460). */
struct check_tlsrpt {
    bool looked;
    enum decide_dns dns;
    char *why;     /* lookup failure */
    int err;       /* tlsrpt_record_select_rdata: 0, MXTLS_ENOTFOUND, ... */
    char *err_why; /* its diag */
    struct tlsrpt_record *record;
};

/* What one run of the check looks at. */
enum check_scope {
    CHECK_SCOPE_ALL = 0, /* mxtls check */
    CHECK_SCOPE_STS,     /* mxtls sts verify: MX RRset, MTA-STS, TLS-RPT */
};

struct check_facts {
    char *domain;
    enum check_scope scope;
    enum decide_dns mx_dns;
    char *mx_why;
    enum decide_mx mx; /* HOSTS, NODATA, NXDOMAIN or NULL */
    int64_t mx_rrsig;
    size_t n_mx_targets; /* distinct hosts in the MX RRset (hosts is capped) */
    size_t n_hosts;
    struct check_host *hosts;
    struct check_sts sts;
    struct check_tlsrpt tlsrpt;
};

/* check_facts_finish - release what facts owns; NULL is a no-op. */
void check_facts_finish(struct check_facts *facts);

/*
 * check_eval - judge the facts: append the findings of issue 11's rules to
 * r and set r->facts' members ("mx", "mta_sts", "tlsrpt"). now is the unix
 * time the expirations are measured from, warn_days the --warn-days
 * threshold. Pure: no I/O, no clock.
 */
void check_eval(const struct check_facts *facts, int64_t now, unsigned warn_days,
                struct check_report *r);

#endif
