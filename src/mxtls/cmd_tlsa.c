/*
 * cmd_tlsa - `mxtls tlsa gen`: the TLSA records (RFC 6698) to publish for a
 * mail server's certificate or key, as zone-file lines; `mxtls tlsa verify`:
 * the published records against what every MX address presents; `mxtls
 * tlsa rollover`: may a new certificate or key be deployed now (issue 11).
 *
 * verify and rollover (second half of this file) gather MX, A/AAAA, TLSA and
 * one io/smtp_probe.c probe per address concurrently on one event loop, then
 * judge the facts: findings with stable ids, the Nagios exit status (0 OK,
 * 1 WARNING, 2 CRITICAL, 3 UNKNOWN) for verify, 0/2/3 for rollover. Network
 * failures and hostile peers are findings, never errors; only a resolver
 * that cannot be set up (3) or bad options (64) end a run early.
 *
 *   mxtls tlsa gen [--usage U] [--selector S] [--mtype M] [--host H]...
 *                  [--port P] [--force] [--json] (--cert FILE | --key FILE)...
 *
 * Each --cert or --key gives one record; each --host one owner name
 * "_<port>._tcp.<host>." (port 25 by default, RFC 7672 §2.2); the output is
 * one line per host and record, "OWNER IN TLSA U S M HEX" with lower-case
 * hex, or the bare RDATA "U S M HEX" without --host (for scripts and DNS
 * provider forms that ask for the owner separately). The default record is
 * 3 1 1, DANE-EE SPKI SHA2-256 (RFC 7672 §3.1.1), byte for byte what the
 * hardening guide's `openssl x509 -pubkey | openssl pkey -pubin -outform DER
 * | sha256sum` pipeline gives. Which certificate of a chain file a usage
 * takes is defined in include/mxtls/tlsa_make.h (first = leaf for 1 and 3,
 * the leaf's issuer for 0 and 2).
 *
 * Every record is checked with libmxtls's own TLSA code before it is
 * printed, as mxtlsd would read it: formatted, parsed back
 * (tlsa_parse_text), compared, judged with tlsa_usable (RFC 7672 §3.1) and,
 * for a certificate, matched against it. Usages 0 and 1 are valid RFC 6698
 * records that SMTP senders ignore (RFC 7672 §3.1.3): they are refused
 * unless --force, and then printed with a warning on stderr.
 *
 * Exit: 0 printed; 64 usage (options, usage 0/1 without --force, --key with
 * selector 0, --port without --host); 65 data error (a file that holds no
 * usable certificate or key, a TA usage without a CA certificate, a --host
 * that is not a host name); 66 a file cannot be read;
 * 70 a generated record failed its own check (a bug). Nothing is printed on
 * stdout unless every record succeeded.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <stdarg.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/x509v3.h>

#include "cmd.h"
#include "config.h"
#include "dns.h"
#include "mxtls/decide.h"
#include "mxtls/domain.h"
#include "mxtls/mx.h"
#include "mxtls/tlsa.h"
#include "mxtls/tlsa_make.h"
#include "smtp_probe.h"

#define GEN_INPUTS_MAX 16 /* --cert and --key options together */
#define GEN_HOSTS_MAX  64 /* --host options */
#define SUBJECT_MAX    256

enum input_kind { INPUT_CERT, INPUT_KEY };

struct gen_input {
    enum input_kind kind;
    const char *path; /* "-" is standard input */
};

struct gen_options {
    uint8_t usage, selector, mtype;
    unsigned long port;
    bool port_given, force, json;
    size_t n_inputs, n_hosts;
    struct gen_input inputs[GEN_INPUTS_MAX];
    const char *hosts[GEN_HOSTS_MAX];
};

/* One record made from one input. */
struct gen_record {
    struct tlsa rr;
    char *text;       /* "U S M hex", heap */
    const char *path; /* borrowed from the options */
    enum input_kind kind;
    size_t cert_index; /* 1-based position in the file, for a certificate */
    char subject[SUBJECT_MAX];
    bool usable;
    char why[MXTLS_DIAG_WHAT_MAX]; /* when not usable */
};

static void verify_usage(FILE *fp);
static void rollover_usage(FILE *fp);

/* tlsa_gen_usage - the help text of `mxtls tlsa gen` */
static void tlsa_gen_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxtls tlsa gen [-u USAGE] [-s SELECTOR] [-m MTYPE] [--host HOST]...\n"
            "                      [-p PORT] [--force] [--json] (--cert FILE | --key FILE)...\n"
            "\n"
            "The TLSA record(s) (RFC 6698) to publish for a server's certificate or key, as\n"
            "zone-file lines: _25._tcp.HOST. IN TLSA 3 1 1 <sha-256 of the public key>.\n"
            "\n"
            "  -u, --usage U      0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE (default 3)\n"
            "  -s, --selector S   0 Cert (whole certificate), 1 SPKI (public key; default)\n"
            "  -m, --mtype M      0 Full, 1 SHA2-256 (default), 2 SHA2-512\n"
            "                     (numbers or the RFC 7218 names: DANE-EE, SPKI, SHA2-256)\n"
            "      --cert FILE    PEM certificate(s); the first is the server's. Usage 3/1\n"
            "                     takes it; usage 2/0 takes the certificate in the file that\n"
            "                     issued it, or the file's only certificate, which must be a\n"
            "                     CA. FILE - is standard input\n"
            "      --key FILE     PEM private or public key (selector 1 only): publish the\n"
            "                     next key before its certificate exists\n"
            "      --host HOST    print \"_PORT._tcp.HOST. IN TLSA ...\" (repeatable); without\n"
            "                     it, print only the record data \"3 1 1 ...\"\n"
            "  -p, --port PORT    TCP port of the owner name (default 25, SMTP)\n"
            "      --force        print usage 0 or 1 records, which SMTP senders ignore\n"
            "                     (RFC 7672 §3.1.3), with a warning\n"
            "  -j, --json         one JSON object: {\"records\": [...]}\n"
            "  -h, --help         this text\n"
            "\n"
            "--cert and --key may be repeated (current and next key for a rollover); one\n"
            "line is printed per host and distinct record.\n"
            "Exit status: 0 printed, 64 usage, 65 bad certificate or key data, 66 a file\n"
            "cannot be read.\n");
}

/* cmd_tlsa_usage - the help text of `mxtls tlsa` */
void cmd_tlsa_usage(FILE *fp)
{
    fprintf(fp, "usage: mxtls tlsa gen [OPTIONS] (--cert FILE | --key FILE)...\n"
                "       mxtls tlsa verify [-c CONFIG] [--json] DOMAIN|[HOST]:PORT\n"
                "       mxtls tlsa rollover (--cert NEWCERT | --key NEWKEY) [-c CONFIG] [--json] "
                "DOMAIN\n"
                "\n"
                "Subcommands:\n"
                "  gen       the TLSA records to publish for a certificate or key\n"
                "  verify    the published TLSA records against what every MX address presents\n"
                "  rollover  may a new certificate be deployed without bouncing DANE senders?\n"
                "\n");
    tlsa_gen_usage(fp);
    fprintf(fp, "\n");
    verify_usage(fp);
    fprintf(fp, "\n");
    rollover_usage(fp);
}

/* parse_field - a TLSA field as a number 0..max or its RFC 7218 name; -1 if neither */
static int parse_field(const char *s, unsigned max, const char *(*name)(uint8_t), uint8_t *out)
{
    size_t n = strlen(s);

    if (n >= 1 && n <= 3 && strspn(s, "0123456789") == n) {
        unsigned v = 0;

        for (size_t i = 0; i < n; i++)
            v = v * 10 + (unsigned)(s[i] - '0');
        if (v > max)
            return -1;
        *out = (uint8_t)v;
        return 0;
    }
    for (unsigned v = 0; v <= max; v++)
        if (strcasecmp(s, name((uint8_t)v)) == 0) {
            *out = (uint8_t)v;
            return 0;
        }
    return -1;
}

/* parse_port - decimal 1..65535, no sign, no leading zero */
static int parse_port(const char *s, unsigned long *out)
{
    size_t n = strlen(s);
    unsigned long v = 0;

    if (n == 0 || n > 5 || strspn(s, "0123456789") != n || s[0] == '0')
        return -1;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned long)(s[i] - '0');
    if (v > 65535)
        return -1;
    *out = v;
    return 0;
}

/* gen_options_parse - 0, 1 for --help (done), -1 for a usage error (reported) */
static int gen_options_parse(int argc, char **argv, struct gen_options *o)
{
    enum { OPT_CERT = 256, OPT_KEY, OPT_HOST, OPT_FORCE };
    static const struct option longopts[] = {
        {"usage", required_argument, NULL, 'u'},
        {"selector", required_argument, NULL, 's'},
        {"mtype", required_argument, NULL, 'm'},
        {"port", required_argument, NULL, 'p'},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"host", required_argument, NULL, OPT_HOST},
        {"force", no_argument, NULL, OPT_FORCE},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    size_t stdin_inputs = 0;

    /* RFC 7672 §3.1.1: 3 1 1 is the record SMTP servers should publish. */
    *o = (struct gen_options){.usage = TLSA_USAGE_DANE_EE,
                              .selector = TLSA_SELECTOR_SPKI,
                              .mtype = TLSA_MTYPE_SHA2_256,
                              .port = 25};
    optind = 1;
    while ((ch = getopt_long(argc, argv, "u:s:m:p:jh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            if (parse_field(optarg, 3, tlsa_usage_name, &o->usage) < 0) {
                fprintf(stderr,
                        "mxtls tlsa gen: --usage %s: expected 0 (PKIX-TA), 1 (PKIX-EE), "
                        "2 (DANE-TA) or 3 (DANE-EE), RFC 6698 §2.1.1\n",
                        optarg);
                return -1;
            }
            break;
        case 's':
            if (parse_field(optarg, 1, tlsa_selector_name, &o->selector) < 0) {
                fprintf(stderr,
                        "mxtls tlsa gen: --selector %s: expected 0 (Cert) or 1 (SPKI), "
                        "RFC 6698 §2.1.2\n",
                        optarg);
                return -1;
            }
            break;
        case 'm':
            if (parse_field(optarg, 2, tlsa_mtype_name, &o->mtype) < 0) {
                fprintf(stderr,
                        "mxtls tlsa gen: --mtype %s: expected 0 (Full), 1 (SHA2-256) or "
                        "2 (SHA2-512), RFC 6698 §2.1.3\n",
                        optarg);
                return -1;
            }
            break;
        case 'p':
            if (parse_port(optarg, &o->port) < 0) {
                fprintf(stderr, "mxtls tlsa gen: --port %s: expected 1 to 65535\n", optarg);
                return -1;
            }
            o->port_given = true;
            break;
        case OPT_CERT:
        case OPT_KEY:
            if (o->n_inputs == GEN_INPUTS_MAX) {
                fprintf(stderr, "mxtls tlsa gen: at most %d --cert and --key options\n",
                        GEN_INPUTS_MAX);
                return -1;
            }
            if (strcmp(optarg, "-") == 0 && ++stdin_inputs > 1) {
                fprintf(stderr, "mxtls tlsa gen: standard input (-) can be read once only\n");
                return -1;
            }
            o->inputs[o->n_inputs].kind = ch == OPT_CERT ? INPUT_CERT : INPUT_KEY;
            o->inputs[o->n_inputs++].path = optarg;
            break;
        case OPT_HOST:
            if (o->n_hosts == GEN_HOSTS_MAX) {
                fprintf(stderr, "mxtls tlsa gen: at most %d --host options\n", GEN_HOSTS_MAX);
                return -1;
            }
            o->hosts[o->n_hosts++] = optarg;
            break;
        case OPT_FORCE:
            o->force = true;
            break;
        case 'j':
            o->json = true;
            break;
        case 'h':
            tlsa_gen_usage(stdout);
            return 1;
        default:
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "mxtls tlsa gen: unexpected argument '%s' (a host is given with --host)\n",
                argv[optind]);
        return -1;
    }
    if (o->n_inputs == 0) {
        fprintf(stderr, "mxtls tlsa gen: which certificate or key? (--cert FILE or --key FILE)\n");
        return -1;
    }
    if (o->port_given && o->n_hosts == 0) {
        fprintf(stderr, "mxtls tlsa gen: --port names the owner _PORT._tcp.HOST.: it needs "
                        "--host\n");
        return -1;
    }
    for (size_t i = 0; i < o->n_inputs; i++)
        if (o->inputs[i].kind == INPUT_KEY && o->selector != TLSA_SELECTOR_SPKI) {
            fprintf(stderr,
                    "mxtls tlsa gen: --key %s: a key gives selector 1 (SPKI) only; selector 0 "
                    "(Cert) is made from the certificate (--cert), RFC 6698 §2.1.2\n",
                    o->inputs[i].path);
            return -1;
        }
    /* RFC 7672 §3.1.3: SMTP clients do not use PKIX-TA(0) and PKIX-EE(1). */
    if ((o->usage == TLSA_USAGE_PKIX_TA || o->usage == TLSA_USAGE_PKIX_EE) && !o->force) {
        fprintf(stderr,
                "mxtls tlsa gen: usage %u (%s) is not usable for SMTP (RFC 7672 §3.1.3): DANE "
                "senders ignore it and treat the host as having no usable TLSA record; use "
                "usage 3 (DANE-EE) or 2 (DANE-TA), or --force to print it anyway\n",
                o->usage, tlsa_usage_name(o->usage));
        return -1;
    }
    return 0;
}

/* read_input - the whole file (or stdin for "-"), at most TLSA_CERT_MAX octets */
static int read_input(const char *path, char **buf, size_t *len)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t n = 0, cap = TLSA_CERT_MAX + 1;
    char *b;

    *buf = NULL;
    *len = 0;
    if (fp == NULL) {
        fprintf(stderr, "mxtls tlsa gen: %s: %s\n", path, strerror(errno));
        return MXTLS_EX_NOINPUT;
    }
    b = malloc(cap);
    if (b == NULL) {
        if (fp != stdin)
            fclose(fp);
        fprintf(stderr, "mxtls tlsa gen: out of memory\n");
        return MXTLS_EX_SOFTWARE;
    }
    /* Read one octet past the cap to tell "too long" from "exactly the cap". */
    while (n < cap) {
        size_t r = fread(b + n, 1, cap - n, fp);

        if (r == 0)
            break;
        n += r;
    }
    bool failed = ferror(fp) != 0;
    int saved = errno;
    if (fp != stdin)
        fclose(fp);
    if (failed) {
        fprintf(stderr, "mxtls tlsa gen: %s: %s\n", path, strerror(saved));
        free(b);
        return MXTLS_EX_NOINPUT;
    }
    if (n > TLSA_CERT_MAX) {
        fprintf(stderr,
                "mxtls tlsa gen: %s: longer than %d octets: not a certificate or key file\n", path,
                TLSA_CERT_MAX);
        free(b);
        return MXTLS_EX_DATAERR;
    }
    *buf = b;
    *len = n;
    return 0;
}

/* make_record - the record for one input; 0 or an exit status (reported) */
static int make_record(const struct gen_options *o, const struct gen_input *in,
                       struct gen_record *rec)
{
    struct mxtls_diag d = {0};
    struct tlsa_chain chain = {0};
    char *buf;
    size_t len, idx = 0;
    int err, status;

    memset(rec, 0, sizeof(*rec));
    rec->path = in->path;
    rec->kind = in->kind;
    status = read_input(in->path, &buf, &len);
    if (status != 0)
        return status;
    if (in->kind == INPUT_KEY) {
        err = tlsa_from_key_pem(buf, len, o->usage, o->selector, o->mtype, &rec->rr, &d);
    } else {
        err = tlsa_chain_load(buf, len, &chain, &d);
        if (err == 0)
            err = tlsa_chain_pick(&chain, o->usage, &idx, &d);
        if (err == 0)
            err = tlsa_from_x509(chain.cert[idx], o->usage, o->selector, o->mtype, &rec->rr, &d);
        if (err == 0) {
            rec->cert_index = idx + 1;
            X509_NAME_oneline(X509_get_subject_name(chain.cert[idx]), rec->subject,
                              sizeof(rec->subject));
        }
    }
    free(buf);
    if (err < 0) {
        tlsa_chain_finish(&chain);
        fprintf(stderr, "mxtls tlsa gen: %s: %s\n", in->path, d.what);
        return err == MXTLS_ENOMEM ? MXTLS_EX_SOFTWARE : MXTLS_EX_DATAERR;
    }

    /* Read the record back as mxtlsd reads published records: the
     * presentation parser (RFC 6698 §2.2), the same fields and data, the
     * RFC 7672 §3.1 usability rules, and a match against the certificate. */
    struct tlsa back;
    status = 0;
    rec->text = tlsa_format_text(&rec->rr);
    if (rec->text == NULL || tlsa_parse_text(rec->text, strlen(rec->text), &back, &d) < 0) {
        fprintf(stderr, "mxtls tlsa gen: %s: the record does not parse back: %s\n", in->path,
                rec->text == NULL ? "out of memory" : d.what);
        tlsa_chain_finish(&chain);
        return MXTLS_EX_SOFTWARE;
    }
    if (!tlsa_equal(&back, &rec->rr)) {
        fprintf(stderr, "mxtls tlsa gen: %s: the record parses back differently\n", in->path);
        status = MXTLS_EX_SOFTWARE;
    } else if (in->kind == INPUT_CERT && tlsa_match_x509(&back, chain.cert[idx], &d) < 0) {
        fprintf(stderr, "mxtls tlsa gen: %s: the record does not match the certificate: %s\n",
                in->path, d.what);
        status = MXTLS_EX_SOFTWARE;
    } else if (tlsa_usable(&back, &d) < 0) {
        rec->usable = false;
        snprintf(rec->why, sizeof(rec->why), "%s", d.what);
        /* Only usages 0 and 1 (allowed with --force) may be unusable here;
         * anything else is data mxtlsd would not use: refuse it. */
        if (back.usage != TLSA_USAGE_PKIX_TA && back.usage != TLSA_USAGE_PKIX_EE) {
            fprintf(stderr, "mxtls tlsa gen: %s: the record would not be usable: %s\n", in->path,
                    d.what);
            status = MXTLS_EX_DATAERR;
        }
    } else {
        rec->usable = true;
    }
    tlsa_finish(&back);
    tlsa_chain_finish(&chain);
    return status;
}

/* record_json - one output line's facts */
static json_t *record_json(const struct gen_record *r, const char *owner, const char *host,
                           unsigned long port)
{
    json_t *o = json_object();
    char *hex = strrchr(r->text, ' ');
    char *line = NULL;

    if (o == NULL)
        return NULL;
    if (owner != NULL && asprintf(&line, "%s IN TLSA %s", owner, r->text) < 0)
        line = NULL;
    json_object_set_new(o, "owner", owner != NULL ? json_string(owner) : json_null());
    json_object_set_new(o, "host", host != NULL ? json_string(host) : json_null());
    json_object_set_new(o, "port", host != NULL ? json_integer((json_int_t)port) : json_null());
    json_object_set_new(o, "usage", json_integer(r->rr.usage));
    json_object_set_new(o, "selector", json_integer(r->rr.selector));
    json_object_set_new(o, "mtype", json_integer(r->rr.mtype));
    json_object_set_new(o, "usage_name", json_string(tlsa_usage_name(r->rr.usage)));
    json_object_set_new(o, "selector_name", json_string(tlsa_selector_name(r->rr.selector)));
    json_object_set_new(o, "mtype_name", json_string(tlsa_mtype_name(r->rr.mtype)));
    json_object_set_new(o, "data", json_string(hex != NULL ? hex + 1 : ""));
    json_object_set_new(o, "record", json_string(r->text));
    json_object_set_new(o, "line", line != NULL ? json_string(line) : json_string(r->text));
    json_object_set_new(o, "usable", json_boolean(r->usable));
    if (!r->usable)
        json_object_set_new(o, "why", json_string(r->why));
    json_object_set_new(o, "source", json_string(r->path));
    json_object_set_new(o, "kind", json_string(r->kind == INPUT_CERT ? "cert" : "key"));
    if (r->kind == INPUT_CERT) {
        json_object_set_new(o, "certificate", json_integer((json_int_t)r->cert_index));
        json_object_set_new(o, "subject", json_string(r->subject));
    }
    free(line);
    return o;
}

/* print_records - the lines, or the JSON object; 0 or an exit status */
static int print_records(const struct gen_options *o, struct gen_record *recs, size_t n,
                         char (*owners)[TLSA_OWNER_BUF])
{
    size_t n_hosts = o->n_hosts == 0 ? 1 : o->n_hosts;
    json_t *all = o->json ? json_array() : NULL;

    if (o->json && all == NULL)
        return MXTLS_EX_SOFTWARE;
    for (size_t h = 0; h < n_hosts; h++) {
        const char *owner = o->n_hosts == 0 ? NULL : owners[h];

        for (size_t i = 0; i < n; i++) {
            if (o->json) {
                json_t *j = record_json(&recs[i], owner, owner ? o->hosts[h] : NULL, o->port);

                if (j == NULL || json_array_append_new(all, j) < 0) {
                    json_decref(all);
                    return MXTLS_EX_SOFTWARE;
                }
            } else if (owner != NULL) {
                printf("%s IN TLSA %s\n", owner, recs[i].text);
            } else {
                printf("%s\n", recs[i].text);
            }
        }
    }
    if (o->json) {
        json_t *top = json_pack("{s:o}", "records", all);
        char *text = top != NULL ? json_dumps(top, JSON_COMPACT) : NULL;

        json_decref(top);
        if (text == NULL)
            return MXTLS_EX_SOFTWARE;
        printf("%s\n", text);
        free(text);
    }
    return fflush(stdout) == 0 ? 0 : MXTLS_EX_IOERR;
}

/* tlsa_gen - `mxtls tlsa gen` */
static int tlsa_gen(int argc, char **argv)
{
    struct gen_options *o = malloc(sizeof(*o));
    struct gen_record recs[GEN_INPUTS_MAX];
    char(*owners)[TLSA_OWNER_BUF] = NULL;
    size_t n = 0;
    int status, r;

    if (o == NULL)
        return MXTLS_EX_SOFTWARE;
    r = gen_options_parse(argc, argv, o);
    if (r != 0) {
        free(o);
        return r > 0 ? 0 : MXTLS_EX_USAGE;
    }
    status = 0;
    if (o->n_hosts > 0) {
        owners = calloc(o->n_hosts, sizeof(*owners));
        if (owners == NULL)
            status = MXTLS_EX_SOFTWARE;
    }
    for (size_t h = 0; status == 0 && h < o->n_hosts; h++) {
        struct mxtls_diag d = {0};

        if (tlsa_owner_name(o->hosts[h], strlen(o->hosts[h]), o->port, owners[h], TLSA_OWNER_BUF,
                            &d) < 0) {
            fprintf(stderr, "mxtls tlsa gen: --host %s: %s\n", o->hosts[h], d.what);
            status = MXTLS_EX_DATAERR;
        }
    }
    for (size_t i = 0; status == 0 && i < o->n_inputs; i++) {
        status = make_record(o, &o->inputs[i], &recs[n]);
        if (status != 0) {
            tlsa_finish(&recs[n].rr);
            free(recs[n].text);
            break;
        }
        /* One RRset holds a record once (RFC 2181 §5): two inputs with the
         * same key give the same SPKI record. */
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++)
            dup = tlsa_equal(&recs[j].rr, &recs[n].rr);
        if (dup) {
            tlsa_finish(&recs[n].rr);
            free(recs[n].text);
        } else {
            n++;
        }
    }
    if (status == 0) {
        for (size_t i = 0; i < n; i++)
            if (!recs[i].usable)
                fprintf(stderr,
                        "mxtls tlsa gen: warning: %s: %s: DANE SMTP senders ignore this "
                        "record\n",
                        recs[i].path, recs[i].why);
        status = print_records(o, recs, n, owners);
    }
    for (size_t i = 0; i < n; i++) {
        tlsa_finish(&recs[i].rr);
        free(recs[i].text);
    }
    free(owners);
    free(o);
    return status;
}

/* ============================================================ verify, rollover */

/*
 * `mxtls tlsa verify` and `mxtls tlsa rollover` share one gathering on one
 * event loop: the MX RRset (or the one [HOST]:PORT), every host's A and AAAA
 * RRsets, its TLSA RRset (at the CNAME-expanded name first, then at the
 * name, as core/dane.c does: RFC 7672 §2.2.2), and one SMTP STARTTLS probe
 * (io/smtp_probe.c: OpenSSL's DANE API) per address, all concurrent. The
 * verdict is then a pure function of those facts.
 */

#define V_HOSTS_MAX       32  /* MX hosts examined; more are reported, not probed */
#define V_ADDRS_MAX       16  /* addresses probed per host */
#define V_TLSA_MAX        64  /* TLSA records read per RRset */
#define V_FINDINGS_MAX    512 /* findings kept */
#define V_MSG_MAX         512
#define V_PROBE_TIMEOUT_S 30 /* default probe deadline */

enum v_sev { SEV_OK = 0, SEV_INFO, SEV_WARNING, SEV_UNKNOWN, SEV_CRITICAL };

struct v_finding {
    const char *id; /* static */
    enum v_sev sev;
    char host[DOMAIN_BUF_SIZE];
    char address[INET6_ADDRSTRLEN];
    char message[V_MSG_MAX];
};

struct verify;
struct v_host;

/* One address of one host and what its probe found. */
struct v_addr {
    struct v_host *h;
    char text[INET6_ADDRSTRLEN];
    struct smtp_probe *probe; /* in flight, else NULL */
    bool probed;
    enum smtp_probe_stage stage;
    bool timed_out;
    char reason[256], banner[256];
    bool starttls;
    char tls_version[32], cipher[64];
    time_t not_after;
    bool dane_matched;
    int dane_record, dane_depth;
    char dane_reason[256];
    bool webpki_chain_ok, webpki_name_ok;
    char webpki_reason[256];
    int rec_depth[V_TLSA_MAX]; /* per record: the chain depth it matches, -1 none */
    char leaf_rr[80];          /* "3 1 1 hex" of the presented leaf */
    char leaf_subject[256];
    bool presents_new; /* rollover: the presented leaf is the new certificate/key */
    X509 *leaf;        /* rollover: kept for the issuer check */
    STACK_OF(X509) * chain;
};

/* The argument of one DNS lookup. */
struct v_slot {
    struct verify *v;
    struct v_host *h; /* NULL for the MX lookup */
    int kind;         /* DNS_RR_A, DNS_RR_AAAA, DNS_RR_TLSA, DNS_RR_MX */
    struct dns_query *q;
};

struct v_host {
    struct verify *v;
    char name[DOMAIN_BUF_SIZE];
    int pref; /* -1 for a [HOST]:PORT target or the domain itself (no MX) */
    struct v_slot slots[3];
    enum decide_dns a_st, aaaa_st;
    char addr_why[256];
    int addr_left;
    char canon[DOMAIN_BUF_SIZE];
    bool tlsa_at_canon;
    bool tlsa_done;
    char tlsa_name[TLSA_OWNER_BUF];
    enum decide_dns tlsa_st;
    bool tlsa_nxdomain;
    uint32_t tlsa_ttl;
    char tlsa_why[256];
    size_t n_rdata; /* records in the RRset */
    struct tlsa tlsa[V_TLSA_MAX];
    char *tlsa_text[V_TLSA_MAX]; /* presentation form, NULL when it did not parse */
    bool usable[V_TLSA_MAX];
    char tlsa_note[V_TLSA_MAX][128]; /* why unusable / did not parse */
    size_t n_tlsa, n_usable;
    struct v_addr addrs[V_ADDRS_MAX];
    size_t n_addrs;
    bool addrs_cut;
    /* rollover */
    bool new_match[V_TLSA_MAX]; /* record matches the new certificate/key */
};

enum v_mx { V_MX_HOSTS, V_MX_NODATA, V_MX_NULL, V_MX_NXDOMAIN };

struct v_options {
    const char *config;
    bool json;
    unsigned long timeout_s;
    const char *target;
    /* rollover */
    const char *new_cert, *new_key;
};

struct verify {
    struct event_base *base;
    struct dns *dns;
    char *ca_file; /* https.ca_file, owned; NULL: the system store */
    unsigned dns_timeout_ms, probe_timeout_ms;
    bool host_mode;
    char target[DOMAIN_BUF_SIZE];
    unsigned long port;
    struct v_slot mx_slot;
    enum decide_dns mx_st;
    enum v_mx mx;
    char mx_why[256];
    uint32_t mx_ttl;
    size_t mx_total; /* distinct MX hosts, before the cap */
    struct v_host hosts[V_HOSTS_MAX];
    size_t n_hosts;
    unsigned pending;
    bool oom;
    struct v_finding *findings;
    size_t n_findings;
    /* rollover: the new certificate (chain) or key */
    bool rollover;
    struct tlsa_chain newchain;
    char *newkey_pem;
    size_t newkey_len;
    char new_rr[80]; /* "3 1 1 hex" of the new certificate or key */
};

static void v_start_tlsa(struct verify *v, struct v_host *h, const char *base);

/* sev_name - the JSON and human name of a severity */
static const char *sev_name(enum v_sev s)
{
    switch (s) {
    case SEV_OK:
        return "ok";
    case SEV_INFO:
        return "info";
    case SEV_WARNING:
        return "warning";
    case SEV_UNKNOWN:
        return "unknown";
    case SEV_CRITICAL:
        return "critical";
    }
    return "unknown";
}

/* add_finding - record one finding (silently dropped past V_FINDINGS_MAX) */
__attribute__((format(printf, 5, 6))) static void add_finding(struct verify *v, const char *id,
                                                              enum v_sev sev,
                                                              const struct v_addr *a,
                                                              const char *fmt, ...)
{
    if (v->n_findings >= V_FINDINGS_MAX)
        return;
    struct v_finding *f = &v->findings[v->n_findings++];
    va_list ap;
    f->id = id;
    f->sev = sev;
    f->host[0] = f->address[0] = '\0';
    if (a != NULL) {
        snprintf(f->address, sizeof f->address, "%s", a->text);
        snprintf(f->host, sizeof f->host, "%s", a->h->name);
    }
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
}

/* add_host_finding - a finding about a host (no address) */
__attribute__((format(printf, 5, 6))) static void add_host_finding(struct verify *v, const char *id,
                                                                   enum v_sev sev,
                                                                   const struct v_host *h,
                                                                   const char *fmt, ...)
{
    if (v->n_findings >= V_FINDINGS_MAX)
        return;
    struct v_finding *f = &v->findings[v->n_findings++];
    va_list ap;
    f->id = id;
    f->sev = sev;
    f->address[0] = '\0';
    snprintf(f->host, sizeof f->host, "%s", h != NULL ? h->name : "");
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
}

/* pending_done - one lookup or probe finished; stop the loop when none is left */
static void pending_done(struct verify *v)
{
    if (--v->pending == 0)
        event_base_loopbreak(v->base);
}

static void v_on_answer(const struct dns_answer *a, void *arg);

/* v_query - start one lookup; a refused one counts as failed at once */
static void v_query(struct verify *v, struct v_slot *s, const char *name, int rrtype)
{
    v->pending++;
    if (dns_query_start(v->dns, name, rrtype, v->dns_timeout_ms, v_on_answer, s, &s->q) == 0)
        return;
    struct dns_answer a = {.qname = name,
                           .rrtype = rrtype,
                           .status = DECIDE_DNS_FAILED,
                           .rcode = -1,
                           .why = "the resolver refused the lookup"};
    s->q = NULL;
    v_on_answer(&a, s);
}

/* v_start_host - A and AAAA of one host (RFC 7672 §2.2.1) */
static void v_start_host(struct verify *v, struct v_host *h)
{
    h->v = v;
    h->addr_left = 2;
    h->a_st = h->aaaa_st = DECIDE_DNS_SECURE;
    h->tlsa_st = DECIDE_DNS_FAILED;
    h->slots[0] = (struct v_slot){v, h, DNS_RR_A, NULL};
    h->slots[1] = (struct v_slot){v, h, DNS_RR_AAAA, NULL};
    h->slots[2] = (struct v_slot){v, h, DNS_RR_TLSA, NULL};
    v_query(v, &h->slots[0], h->name, DNS_RR_A);
    v_query(v, &h->slots[1], h->name, DNS_RR_AAAA);
}

/* mx_cmp - hosts by preference, then name */
static int mx_cmp(const void *x, const void *y)
{
    const struct v_host *a = x, *b = y;
    if (a->pref != b->pref)
        return a->pref < b->pref ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* v_on_mx - the MX RRset (RFC 5321 §5.1, RFC 7505 null MX) */
static void v_on_mx(struct verify *v, const struct dns_answer *a)
{
    v->mx_st = a->status;
    v->mx_ttl = a->ttl;
    if (a->why != NULL)
        snprintf(v->mx_why, sizeof v->mx_why, "%s", a->why);
    if (a->status == DECIDE_DNS_BOGUS || a->status == DECIDE_DNS_FAILED)
        return;
    if (a->nxdomain) {
        v->mx = V_MX_NXDOMAIN;
        return;
    }
    if (!a->havedata) {
        /* RFC 5321 §5.1: no MX, the domain is its own mail host. */
        v->mx = V_MX_NODATA;
        snprintf(v->hosts[0].name, sizeof v->hosts[0].name, "%s", v->target);
        v->hosts[0].pref = -1;
        v->n_hosts = v->mx_total = 1;
    } else {
        v->mx = V_MX_HOSTS;
        for (size_t i = 0; i < a->n_rdata; i++) {
            char name[DOMAIN_BUF_SIZE];
            uint16_t pref;
            int rc =
                mx_rdata_parse(a->rdata[i].data, a->rdata[i].len, &pref, name, sizeof name, NULL);
            /* RFC 7505 §3: a lone "0 ." is a null MX. */
            if (rc == 1 && a->n_rdata == 1) {
                v->mx = V_MX_NULL;
                return;
            }
            if (rc != 0)
                continue;
            size_t k = 0;
            while (k < v->n_hosts && strcmp(v->hosts[k].name, name) != 0)
                k++;
            if (k < v->n_hosts) {
                if (pref < v->hosts[k].pref)
                    v->hosts[k].pref = pref;
                continue;
            }
            v->mx_total++;
            if (v->n_hosts >= V_HOSTS_MAX)
                continue;
            snprintf(v->hosts[v->n_hosts].name, sizeof v->hosts[0].name, "%s", name);
            v->hosts[v->n_hosts++].pref = pref;
        }
        qsort(v->hosts, v->n_hosts, sizeof v->hosts[0], mx_cmp);
    }
    for (size_t i = 0; i < v->n_hosts; i++)
        v_start_host(v, &v->hosts[i]);
}

/* add_address - one A/AAAA record as a probe target */
static void add_address(struct v_host *h, const struct dns_rdata *rd)
{
    int af = rd->len == 4 ? AF_INET : rd->len == 16 ? AF_INET6 : 0;
    char text[INET6_ADDRSTRLEN];
    if (af == 0 || inet_ntop(af, rd->data, text, sizeof text) == NULL)
        return;
    for (size_t i = 0; i < h->n_addrs; i++)
        if (strcmp(h->addrs[i].text, text) == 0)
            return;
    if (h->n_addrs >= V_ADDRS_MAX) {
        h->addrs_cut = true;
        return;
    }
    struct v_addr *ad = &h->addrs[h->n_addrs++];
    ad->h = h;
    snprintf(ad->text, sizeof ad->text, "%s", text);
    ad->dane_record = ad->dane_depth = -1;
    for (size_t k = 0; k < V_TLSA_MAX; k++)
        ad->rec_depth[k] = -1;
}

/* v_on_addr - one of a host's two address lookups */
static void v_on_addr(struct verify *v, struct v_host *h, const struct dns_answer *a, bool is_a)
{
    if (is_a)
        h->a_st = a->status;
    else
        h->aaaa_st = a->status;
    if ((a->status == DECIDE_DNS_BOGUS || a->status == DECIDE_DNS_FAILED) && h->addr_why[0] == 0)
        snprintf(h->addr_why, sizeof h->addr_why, "%s %s: %s", is_a ? "A" : "AAAA",
                 decide_dns_name(a->status), a->why != NULL ? a->why : "");
    if (a->status == DECIDE_DNS_SECURE || a->status == DECIDE_DNS_INSECURE)
        for (size_t k = 0; k < a->n_rdata; k++)
            add_address(h, &a->rdata[k]);
    if (a->canonname != NULL && h->canon[0] == '\0' && strcmp(a->canonname, h->name) != 0)
        snprintf(h->canon, sizeof h->canon, "%s", a->canonname);
    if (--h->addr_left > 0)
        return;
    /* RFC 7672 §2.2.2: with a CNAME chain, TLSA at the expanded name first.
       Looked up whatever the address status: verify reports what is published. */
    h->tlsa_at_canon = h->canon[0] != '\0';
    v_start_tlsa(v, h, h->tlsa_at_canon ? h->canon : h->name);
}

/* v_start_tlsa - _<port>._tcp.<base> TLSA (RFC 7672 §2.2.3) */
static void v_start_tlsa(struct verify *v, struct v_host *h, const char *base)
{
    if (tlsa_owner_name(base, strlen(base), v->port, h->tlsa_name, sizeof h->tlsa_name, NULL) !=
        0) {
        h->tlsa_st = DECIDE_DNS_FAILED;
        snprintf(h->tlsa_why, sizeof h->tlsa_why, "%s is not a host name", base);
        h->tlsa_done = true;
        return;
    }
    v_query(v, &h->slots[2], h->tlsa_name, DNS_RR_TLSA);
}

/* v_on_tlsa - a host's TLSA RRset: every record parsed and judged (RFC 7672 §3.1) */
static void v_on_tlsa(struct verify *v, struct v_host *h, const struct dns_answer *a)
{
    if (a->status == DECIDE_DNS_SECURE && !a->havedata && h->tlsa_at_canon) {
        h->tlsa_at_canon = false; /* RFC 7672 §2.2.2: then at the original name */
        v_start_tlsa(v, h, h->name);
        return;
    }
    h->tlsa_done = true;
    h->tlsa_st = a->status;
    h->tlsa_ttl = a->ttl;
    h->tlsa_nxdomain = a->nxdomain;
    if (a->why != NULL)
        snprintf(h->tlsa_why, sizeof h->tlsa_why, "%s", a->why);
    if (a->status == DECIDE_DNS_BOGUS || a->status == DECIDE_DNS_FAILED)
        return;
    h->n_rdata = a->n_rdata;
    for (size_t k = 0; k < a->n_rdata && h->n_tlsa < V_TLSA_MAX; k++) {
        size_t i = h->n_tlsa++;
        struct mxtls_diag d = {0};
        /* RFC 7672 §2.2: a malformed record is an unusable record, not an absent one. */
        if (tlsa_parse_wire((const char *)a->rdata[k].data, a->rdata[k].len, &h->tlsa[i], &d) !=
            0) {
            snprintf(h->tlsa_note[i], sizeof h->tlsa_note[i], "%.120s", d.what);
            continue;
        }
        h->tlsa_text[i] = tlsa_format_text(&h->tlsa[i]);
        if (h->tlsa_text[i] == NULL)
            v->oom = true;
        if (tlsa_usable(&h->tlsa[i], &d) == 0) {
            h->usable[i] = true;
            h->n_usable++;
        } else {
            snprintf(h->tlsa_note[i], sizeof h->tlsa_note[i], "%.120s", d.what);
        }
    }
}

static void v_start_probes(struct verify *v, struct v_host *h);

/* v_on_answer - dispatch one DNS answer */
static void v_on_answer(const struct dns_answer *a, void *arg)
{
    struct v_slot *s = arg;
    struct verify *v = s->v;
    s->q = NULL;
    switch (s->kind) {
    case DNS_RR_MX:
        v_on_mx(v, a);
        break;
    case DNS_RR_A:
    case DNS_RR_AAAA:
        v_on_addr(v, s->h, a, s->kind == DNS_RR_A);
        break;
    case DNS_RR_TLSA:
        v_on_tlsa(v, s->h, a);
        if (s->h->tlsa_done)
            v_start_probes(v, s->h);
        break;
    }
    pending_done(v);
}

/* record_depths - which records match which certificate of the presented chain */
static void record_depths(const struct v_host *h, struct v_addr *ad, const STACK_OF(X509) * chain)
{
    int n = chain != NULL ? sk_X509_num(chain) : 0;
    for (size_t i = 0; i < h->n_tlsa; i++) {
        if (h->tlsa[i].len == 0)
            continue;
        for (int d = 0; d < n && ad->rec_depth[i] < 0; d++) {
            /* RFC 6698 §2.1.1: EE usages (1, 3) name the leaf, TA usages (0, 2) an issuer. */
            bool ee =
                h->tlsa[i].usage == TLSA_USAGE_DANE_EE || h->tlsa[i].usage == TLSA_USAGE_PKIX_EE;
            if ((ee && d != 0) || (!ee && d == 0))
                continue;
            if (tlsa_match_x509(&h->tlsa[i], sk_X509_value(chain, d), NULL) == 0)
                ad->rec_depth[i] = d;
        }
    }
}

/* v_on_probe - one address's probe result, copied */
static void v_on_probe(const struct smtp_probe_result *r, void *arg)
{
    struct v_addr *ad = arg;
    struct v_host *h = ad->h;
    ad->probe = NULL;
    ad->probed = true;
    ad->stage = r->stage;
    ad->timed_out = r->timed_out;
    snprintf(ad->reason, sizeof ad->reason, "%s", r->reason);
    snprintf(ad->banner, sizeof ad->banner, "%s", r->banner);
    ad->starttls = r->starttls_offered;
    snprintf(ad->tls_version, sizeof ad->tls_version, "%s", r->tls_version);
    snprintf(ad->cipher, sizeof ad->cipher, "%s", r->cipher);
    ad->not_after = r->leaf_not_after;
    ad->dane_matched = r->dane_matched;
    ad->dane_record = r->dane_record;
    ad->dane_depth = r->dane_depth;
    snprintf(ad->dane_reason, sizeof ad->dane_reason, "%s", r->dane_reason);
    ad->webpki_chain_ok = r->webpki_chain_ok;
    ad->webpki_name_ok = r->webpki_name_ok;
    snprintf(ad->webpki_reason, sizeof ad->webpki_reason, "%s", r->webpki_reason);
    if (r->stage == SMTP_PROBE_DONE && r->chain != NULL && sk_X509_num(r->chain) > 0) {
        X509 *leaf = sk_X509_value(r->chain, 0);
        record_depths(h, ad, r->chain);
        char *rr = tlsa_record_for_cert(leaf, NULL);
        if (rr != NULL)
            snprintf(ad->leaf_rr, sizeof ad->leaf_rr, "%s", rr);
        free(rr);
        X509_NAME_oneline(X509_get_subject_name(leaf), ad->leaf_subject,
                          (int)sizeof ad->leaf_subject);
        if (h->v->rollover) {
            ad->chain = sk_X509_new_null();
            for (int i = 0; ad->chain != NULL && i < sk_X509_num(r->chain); i++) {
                X509 *x = sk_X509_value(r->chain, i);
                if (X509_up_ref(x) == 1 && sk_X509_push(ad->chain, x) <= 0)
                    X509_free(x);
            }
        }
    }
    pending_done(h->v);
}

/* v_start_probes - one SMTP probe per address of h, with its TLSA records */
static void v_start_probes(struct verify *v, struct v_host *h)
{
    for (size_t i = 0; i < h->n_addrs; i++) {
        struct v_addr *ad = &h->addrs[i];
        struct smtp_probe_request req = {
            .host = h->name,
            .address = ad->text,
            .port = (uint16_t)v->port,
            .helo = NULL,
            .tlsa = h->tlsa,
            .n_tlsa = h->n_tlsa,
            .tlsa_base_alt = h->canon[0] != '\0' ? h->canon : NULL,
            .ca_file = v->ca_file,
            .timeout_ms = v->probe_timeout_ms,
        };
        const char *err = NULL;
        v->pending++;
        ad->probe = smtp_probe_start(v->base, &req, v_on_probe, ad, &err);
        if (ad->probe == NULL) {
            ad->probed = true;
            ad->stage = SMTP_PROBE_CONNECT;
            snprintf(ad->reason, sizeof ad->reason, "cannot start the probe: %s",
                     err != NULL ? err : "?");
            v->pending--;
        }
    }
}

/* v_deadline - the whole run took too long: stop the loop */
static void v_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct verify *v = arg;
    event_base_loopbreak(v->base);
}

/* v_free - everything the gathering holds */
static void v_free(struct verify *v)
{
    for (size_t i = 0; i < v->n_hosts; i++) {
        struct v_host *h = &v->hosts[i];
        for (size_t k = 0; k < 3; k++)
            if (h->slots[k].q != NULL)
                dns_cancel(h->slots[k].q);
        for (size_t k = 0; k < h->n_addrs; k++) {
            smtp_probe_cancel(h->addrs[k].probe);
            if (h->addrs[k].chain != NULL)
                sk_X509_pop_free(h->addrs[k].chain, X509_free);
        }
        for (size_t k = 0; k < h->n_tlsa; k++) {
            tlsa_finish(&h->tlsa[k]);
            free(h->tlsa_text[k]);
        }
    }
    if (v->mx_slot.q != NULL)
        dns_cancel(v->mx_slot.q);
    dns_free(v->dns);
    if (v->base != NULL)
        event_base_free(v->base);
    tlsa_chain_finish(&v->newchain);
    free(v->newkey_pem);
    free(v->ca_file);
    free(v->findings);
    free(v);
}

/* parse_target - DOMAIN, or [HOST]:PORT / HOST:PORT */
static int parse_target(struct verify *v, const char *t, char *err, size_t errsize)
{
    const char *host = t, *colon = strrchr(t, ':');
    size_t hlen = strlen(t);
    struct mxtls_diag d = {0};

    v->port = 25;
    if (colon != NULL) {
        if (parse_port(colon + 1, &v->port) < 0) {
            snprintf(err, errsize, "%s: port must be 1-65535", t);
            return -1;
        }
        hlen = (size_t)(colon - t);
        if (hlen >= 2 && t[0] == '[' && t[hlen - 1] == ']') {
            host = t + 1;
            hlen -= 2;
        }
        v->host_mode = true;
    }
    if (domain_normalize(host, hlen, v->target, sizeof v->target, &d) < 0) {
        snprintf(err, errsize, "%.*s: %.200s", (int)(hlen < 255 ? hlen : 255), host, d.what);
        return -1;
    }
    return 0;
}

/*
 * v_gather - resolve and probe everything; 0, or -1 with err filled (the
 * resolver could not be set up).
 */
static int v_gather(struct verify *v, const struct v_options *o, char *err, size_t errsize)
{
    struct mxtls_config cfg;
    struct mxtls_diag d = {0};
    int rc = o->config != NULL ? config_load_file(o->config, &cfg, &d) : config_init_defaults(&cfg);
    if (rc < 0) {
        snprintf(err, errsize, "%s", rc == MXTLS_ENOMEM ? "out of memory" : d.what);
        if (rc != MXTLS_ENOMEM)
            config_finish(&cfg);
        return -1;
    }
    char *ca = cfg.ca_file != NULL ? strdup(cfg.ca_file) : NULL;
    v->dns_timeout_ms = cfg.default_zone.timeout_ms;
    v->probe_timeout_ms = (unsigned)(o->timeout_s * 1000);
    v->base = event_base_new();
    if (v->base != NULL)
        v->dns = dns_new(v->base, cfg.unbound_config, cfg.trust_anchor_file, &cfg.resolver, &d);
    config_finish(&cfg);
    if (v->base == NULL || v->dns == NULL) {
        snprintf(err, errsize, "resolver: %.400s", v->base == NULL ? "no event loop" : d.what);
        free(ca);
        return -1;
    }
    v->ca_file = ca;
    if (v->host_mode) {
        snprintf(v->hosts[0].name, sizeof v->hosts[0].name, "%s", v->target);
        v->hosts[0].pref = -1;
        v->n_hosts = v->mx_total = 1;
        v->mx_st = DECIDE_DNS_SECURE;
        v_start_host(v, &v->hosts[0]);
    } else {
        v->mx_slot = (struct v_slot){v, NULL, DNS_RR_MX, NULL};
        v_query(v, &v->mx_slot, v->target, DNS_RR_MX);
    }
    /* A backstop: every lookup and probe has its own deadline. */
    unsigned long total_s = (v->dns_timeout_ms / 1000 + 1) * 4 + o->timeout_s + 10;
    struct timeval tv = {(time_t)total_s, 0};
    struct event *dl = evtimer_new(v->base, v_deadline, v);
    if (dl != NULL && evtimer_add(dl, &tv) == 0 && v->pending > 0)
        event_base_dispatch(v->base);
    if (dl != NULL)
        event_free(dl);
    return 0;
}

/* fmt_time - notAfter as "YYYY-MM-DDTHH:MM:SSZ" */
static void fmt_time(time_t t, char *buf, size_t size)
{
    struct tm tm;
    if (t == 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, size, "unknown");
        return;
    }
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* host_tlsa_secure - the host's TLSA RRset is secure and not empty */
static bool host_has_dane(const struct v_host *h)
{
    return h->tlsa_done && h->tlsa_st == DECIDE_DNS_SECURE && h->n_rdata > 0;
}

/* addr_secure - both address RRsets validated */
static enum decide_dns addr_status(const struct v_host *h)
{
    enum decide_dns a = h->a_st, b = h->aaaa_st;
    if (a == DECIDE_DNS_BOGUS || b == DECIDE_DNS_BOGUS)
        return DECIDE_DNS_BOGUS;
    if (a == DECIDE_DNS_FAILED || b == DECIDE_DNS_FAILED)
        return DECIDE_DNS_FAILED;
    if (a == DECIDE_DNS_INSECURE || b == DECIDE_DNS_INSECURE)
        return DECIDE_DNS_INSECURE;
    return DECIDE_DNS_SECURE;
}

/* judge_domain - findings about the MX RRset; false when there are no hosts to judge */
static bool judge_domain(struct verify *v)
{
    if (v->host_mode)
        return true;
    switch (v->mx_st) {
    case DECIDE_DNS_BOGUS:
        add_finding(v, "mx-bogus", SEV_CRITICAL, NULL,
                    "MX RRset of %s is bogus (DNSSEC validation failed): %s", v->target, v->mx_why);
        return false;
    case DECIDE_DNS_FAILED:
        add_finding(v, "mx-lookup-failed", SEV_UNKNOWN, NULL, "MX lookup of %s failed: %s",
                    v->target, v->mx_why[0] ? v->mx_why : "no answer");
        return false;
    case DECIDE_DNS_INSECURE:
        /* RFC 7672 §2.2.1: DANE needs a secure MX RRset. */
        add_finding(v, "mx-insecure", SEV_INFO, NULL,
                    "MX RRset of %s is not DNSSEC-signed: DANE senders do not look up TLSA "
                    "records (RFC 7672 §2.2.1)",
                    v->target);
        break;
    case DECIDE_DNS_SECURE:
        break;
    }
    if (v->mx == V_MX_NXDOMAIN) {
        add_finding(v, "mx-nxdomain", SEV_CRITICAL, NULL, "%s does not exist (NXDOMAIN)",
                    v->target);
        return false;
    }
    if (v->mx == V_MX_NULL) {
        add_finding(v, "mx-null", SEV_UNKNOWN, NULL,
                    "%s publishes a null MX (RFC 7505): it receives no mail, nothing to verify",
                    v->target);
        return false;
    }
    if (v->mx == V_MX_NODATA)
        add_finding(v, "mx-implicit", SEV_INFO, NULL,
                    "%s has no MX RRset: the domain itself is the mail host (RFC 5321 §5.1)",
                    v->target);
    if (v->mx_total > v->n_hosts)
        add_finding(v, "mx-hosts-capped", SEV_WARNING, NULL,
                    "%zu MX hosts; only the first %zu are verified", v->mx_total, v->n_hosts);
    if (v->n_hosts == 0) {
        add_finding(v, "mx-no-hosts", SEV_CRITICAL, NULL, "no usable MX host name for %s",
                    v->target);
        return false;
    }
    return true;
}

/* judge_host_dns - findings about a host's A/AAAA and TLSA; false: do not judge its probes */
static bool judge_host_dns(struct verify *v, struct v_host *h, size_t *n_dane, bool others_dane)
{
    enum decide_dns as = addr_status(h);
    if (as == DECIDE_DNS_BOGUS) {
        add_host_finding(v, "addr-bogus", SEV_CRITICAL, h, "address lookup bogus: %s", h->addr_why);
        return false;
    }
    if (as == DECIDE_DNS_FAILED) {
        add_host_finding(v, "addr-lookup-failed", SEV_UNKNOWN, h, "address lookup failed: %s",
                         h->addr_why);
        return false;
    }
    if (h->n_addrs == 0) {
        add_host_finding(v, "addr-none", SEV_CRITICAL, h, "%s has no A or AAAA record", h->name);
        return false;
    }
    if (h->addrs_cut)
        add_host_finding(v, "addr-capped", SEV_WARNING, h,
                         "more than %d addresses; only the first %d are probed", V_ADDRS_MAX,
                         V_ADDRS_MAX);
    if (!h->tlsa_done) {
        add_host_finding(v, "tlsa-lookup-failed", SEV_UNKNOWN, h, "TLSA lookup did not finish");
        return true;
    }
    switch (h->tlsa_st) {
    case DECIDE_DNS_BOGUS:
        add_host_finding(v, "tlsa-bogus", SEV_CRITICAL, h,
                         "TLSA RRset %s is bogus (DNSSEC validation failed): DANE senders defer "
                         "all mail to this host: %s",
                         h->tlsa_name, h->tlsa_why);
        return true;
    case DECIDE_DNS_FAILED:
        add_host_finding(v, "tlsa-lookup-failed", SEV_UNKNOWN, h, "TLSA lookup of %s failed: %s",
                         h->tlsa_name, h->tlsa_why[0] ? h->tlsa_why : "no answer");
        return true;
    case DECIDE_DNS_INSECURE:
        if (h->n_rdata > 0)
            add_host_finding(v, "tlsa-ignored", SEV_CRITICAL, h,
                             "TLSA RRset %s is not DNSSEC-signed: DANE senders ignore it "
                             "(RFC 7672 §2.2)",
                             h->tlsa_name);
        else
            add_host_finding(v, "tlsa-none", SEV_CRITICAL, h, "no TLSA RRset at %s (insecure zone)",
                             h->tlsa_name);
        return true;
    case DECIDE_DNS_SECURE:
        break;
    }
    if (h->n_rdata == 0) {
        /* DANE on other MX hosts: this one is the gap (a WARNING); none at all: CRITICAL. */
        add_host_finding(v, "tlsa-none", others_dane ? SEV_WARNING : SEV_CRITICAL, h,
                         "no TLSA RRset at %s (%s)", h->tlsa_name,
                         h->tlsa_nxdomain ? "NXDOMAIN" : "NODATA");
        return true;
    }
    /* RFC 7672 §2.2.1-2.2.2: TLSA counts only under a secure MX and address RRset. */
    if (v->mx_st != DECIDE_DNS_SECURE || as != DECIDE_DNS_SECURE) {
        if (as != DECIDE_DNS_SECURE)
            add_host_finding(v, "addr-insecure", SEV_INFO, h,
                             "address records of %s are not DNSSEC-signed (RFC 7672 §2.2.2)",
                             h->name);
        add_host_finding(v, "tlsa-ignored", SEV_CRITICAL, h,
                         "TLSA RRset %s is signed, but the %s RRset is not: DANE senders ignore "
                         "it (RFC 7672 §2.2)",
                         h->tlsa_name, v->mx_st != DECIDE_DNS_SECURE ? "MX" : "address");
        return true;
    }
    (*n_dane)++;
    if (h->n_usable == 0)
        add_host_finding(v, "tlsa-unusable-only", SEV_WARNING, h,
                         "%zu TLSA record(s) at %s, none usable for SMTP (RFC 7672 §3.1): "
                         "senders require TLS but authenticate nothing",
                         h->n_rdata, h->tlsa_name);
    else if (h->n_usable < h->n_rdata)
        add_host_finding(v, "tlsa-unusable-record", SEV_INFO, h,
                         "%zu of %zu TLSA records at %s are unusable for SMTP and ignored",
                         h->n_rdata - h->n_usable, h->n_rdata, h->tlsa_name);
    if (h->n_usable == 1)
        add_host_finding(v, "tlsa-single-record", SEV_INFO, h,
                         "one usable TLSA record: the next key is not pre-published "
                         "(RFC 7671 §8.1)");
    return true;
}

/* judge_probe - findings about one address's probe */
static void judge_probe(struct verify *v, struct v_host *h, struct v_addr *ad, bool dane)
{
    if (!ad->probed) {
        add_finding(v, "smtp-timeout", SEV_UNKNOWN, ad, "the SMTP probe did not finish");
        return;
    }
    /* A deadline after the connect proves nothing: senders wait minutes per
       step (RFC 5321 §4.5.3.2). Garbage, refusals and oversized replies do. */
    if (ad->timed_out && ad->stage != SMTP_PROBE_CONNECT && ad->stage != SMTP_PROBE_DONE) {
        add_finding(v, "smtp-timeout", SEV_UNKNOWN, ad, "%s", ad->reason);
        return;
    }
    switch (ad->stage) {
    case SMTP_PROBE_CONNECT:
        add_finding(v, "smtp-connect-failed", SEV_UNKNOWN, ad, "%s", ad->reason);
        return;
    case SMTP_PROBE_BANNER:
        add_finding(v, "smtp-banner-failed", dane ? SEV_CRITICAL : SEV_WARNING, ad, "%s",
                    ad->reason);
        return;
    case SMTP_PROBE_EHLO:
        add_finding(v, "smtp-ehlo-failed", dane ? SEV_CRITICAL : SEV_WARNING, ad, "%s", ad->reason);
        return;
    case SMTP_PROBE_NO_STARTTLS:
        add_finding(v, "starttls-missing", dane ? SEV_CRITICAL : SEV_WARNING, ad,
                    "STARTTLS not offered%s", dane ? ": DANE senders defer all mail" : "");
        return;
    case SMTP_PROBE_STARTTLS:
        add_finding(v, "starttls-refused", dane ? SEV_CRITICAL : SEV_WARNING, ad, "%s", ad->reason);
        return;
    case SMTP_PROBE_HANDSHAKE:
        add_finding(v, "tls-handshake-failed", dane ? SEV_CRITICAL : SEV_WARNING, ad, "%s",
                    ad->reason);
        return;
    case SMTP_PROBE_DONE:
        break;
    }
    if (h->tlsa_done && h->n_tlsa > 0) {
        if (ad->dane_matched) {
            const char *rec = ad->dane_record >= 0 && h->tlsa_text[ad->dane_record] != NULL
                                  ? h->tlsa_text[ad->dane_record]
                                  : "?";
            add_finding(v, "dane-verified", dane ? SEV_OK : SEV_INFO, ad,
                        "TLSA record %d (%.80s...) matches the certificate at depth %d",
                        ad->dane_record + 1, rec, ad->dane_depth);
        } else if (h->n_usable > 0) {
            add_finding(v, "tlsa-no-match", dane ? SEV_CRITICAL : SEV_WARNING, ad,
                        "no TLSA record matches the presented chain (%s); the leaf's 3 1 1 "
                        "record is %s",
                        ad->dane_reason, ad->leaf_rr);
        }
    }
    if (ad->not_after != 0) {
        time_t now = time(NULL);
        double days = difftime(ad->not_after, now) / 86400.0;
        if (days < 0)
            add_finding(v, "cert-expired", SEV_INFO, ad,
                        "the leaf certificate expired %.0f days ago (DANE-EE ignores expiry, "
                        "WebPKI does not)",
                        -days);
        else if (days < 14)
            add_finding(v, "cert-expiring", SEV_WARNING, ad,
                        "the leaf certificate expires in %.1f days", days);
    }
}

/* v_judge - every finding; returns the worst severity that decides the status */
static enum v_sev v_judge(struct verify *v)
{
    size_t n_dane = 0;
    if (judge_domain(v)) {
        bool judge[V_HOSTS_MAX], any_dane = false;
        for (size_t i = 0; i < v->n_hosts; i++)
            any_dane = any_dane || host_has_dane(&v->hosts[i]);
        for (size_t i = 0; i < v->n_hosts; i++)
            judge[i] = judge_host_dns(v, &v->hosts[i], &n_dane, any_dane);
        for (size_t i = 0; i < v->n_hosts; i++) {
            struct v_host *h = &v->hosts[i];
            if (!judge[i])
                continue;
            for (size_t k = 0; k < h->n_addrs; k++)
                judge_probe(v, h, &h->addrs[k],
                            host_has_dane(h) && addr_status(h) == DECIDE_DNS_SECURE &&
                                v->mx_st == DECIDE_DNS_SECURE);
        }
        if (n_dane > 0 && n_dane < v->n_hosts && !v->host_mode)
            add_finding(v, "dane-partial", SEV_WARNING, NULL,
                        "%zu of %zu MX hosts publish TLSA records", n_dane, v->n_hosts);
    }
    enum v_sev worst = SEV_OK;
    for (size_t i = 0; i < v->n_findings; i++)
        if (v->findings[i].sev > worst)
            worst = v->findings[i].sev;
    return worst == SEV_INFO ? SEV_OK : worst;
}

/* exit_of - the Nagios exit code of a severity */
static int exit_of(enum v_sev s)
{
    switch (s) {
    case SEV_OK:
    case SEV_INFO:
        return 0;
    case SEV_WARNING:
        return 1;
    case SEV_CRITICAL:
        return 2;
    case SEV_UNKNOWN:
        return 3;
    }
    return 3;
}

/* jstr - a JSON string, or null for NULL/empty */
static json_t *jstr(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* addr_json - one address's facts */
static json_t *addr_json(const struct verify *v, const struct v_host *h, const struct v_addr *ad)
{
    char na[32];
    json_t *o = json_object(), *recs = json_array();
    fmt_time(ad->not_after, na, sizeof na);
    json_object_set_new(o, "address", json_string(ad->text));
    json_object_set_new(o, "stage",
                        json_string(ad->probed ? smtp_probe_stage_name(ad->stage) : "unfinished"));
    json_object_set_new(o, "reason", jstr(ad->reason));
    json_object_set_new(o, "banner", jstr(ad->banner));
    json_object_set_new(o, "starttls", json_boolean(ad->starttls));
    json_object_set_new(o, "tls_version", jstr(ad->tls_version));
    json_object_set_new(o, "cipher", jstr(ad->cipher));
    json_object_set_new(o, "leaf_subject", jstr(ad->leaf_subject));
    json_object_set_new(o, "leaf_not_after", ad->not_after != 0 ? json_string(na) : json_null());
    json_object_set_new(o, "leaf_tlsa", jstr(ad->leaf_rr));
    json_object_set_new(o, "dane_matched", json_boolean(ad->dane_matched));
    json_object_set_new(o, "dane_record",
                        ad->dane_record >= 0 ? json_integer(ad->dane_record) : json_null());
    json_object_set_new(o, "dane_depth",
                        ad->dane_depth >= 0 ? json_integer(ad->dane_depth) : json_null());
    json_object_set_new(o, "dane_reason", jstr(ad->dane_reason));
    for (size_t i = 0; i < h->n_tlsa; i++)
        json_array_append_new(recs,
                              ad->rec_depth[i] >= 0 ? json_integer(ad->rec_depth[i]) : json_null());
    json_object_set_new(o, "record_depths", recs);
    json_object_set_new(o, "webpki_chain_ok", json_boolean(ad->webpki_chain_ok));
    json_object_set_new(o, "webpki_name_ok", json_boolean(ad->webpki_name_ok));
    json_object_set_new(o, "webpki_reason", jstr(ad->webpki_reason));
    if (v->rollover)
        json_object_set_new(o, "presents_new", json_boolean(ad->presents_new));
    return o;
}

/* host_json - one host's facts */
static json_t *host_json(const struct verify *v, const struct v_host *h)
{
    json_t *o = json_object(), *recs = json_array(), *addrs = json_array();
    json_object_set_new(o, "host", json_string(h->name));
    json_object_set_new(o, "preference", h->pref >= 0 ? json_integer(h->pref) : json_null());
    json_object_set_new(o, "cname", jstr(h->canon));
    json_object_set_new(o, "address_dnssec", json_string(decide_dns_name(addr_status(h))));
    json_object_set_new(o, "tlsa_name", jstr(h->tlsa_name));
    json_object_set_new(o, "tlsa_dnssec",
                        h->tlsa_done ? json_string(decide_dns_name(h->tlsa_st)) : json_null());
    json_object_set_new(o, "tlsa_ttl", json_integer(h->tlsa_ttl));
    for (size_t i = 0; i < h->n_tlsa; i++) {
        json_t *r = json_object();
        json_object_set_new(r, "record", jstr(h->tlsa_text[i]));
        json_object_set_new(r, "usable", json_boolean(h->usable[i]));
        json_object_set_new(r, "why", jstr(h->tlsa_note[i]));
        if (v->rollover)
            json_object_set_new(r, "matches_new", json_boolean(h->new_match[i]));
        json_array_append_new(recs, r);
    }
    json_object_set_new(o, "tlsa", recs);
    for (size_t i = 0; i < h->n_addrs; i++)
        json_array_append_new(addrs, addr_json(v, h, &h->addrs[i]));
    json_object_set_new(o, "addresses", addrs);
    return o;
}

/* findings_json - the findings array */
static json_t *findings_json(const struct verify *v)
{
    json_t *a = json_array();
    for (size_t i = 0; i < v->n_findings; i++) {
        const struct v_finding *f = &v->findings[i];
        json_array_append_new(a, json_pack("{s:s,s:s,s:o,s:o,s:s}", "id", f->id, "severity",
                                           sev_name(f->sev), "host", jstr(f->host), "address",
                                           jstr(f->address), "message", f->message));
    }
    return a;
}

/* base_json - what verify and rollover both print */
static json_t *base_json(const struct verify *v, enum v_sev st)
{
    json_t *o = json_object(), *hosts = json_array();
    json_object_set_new(o, v->host_mode ? "host" : "domain", json_string(v->target));
    json_object_set_new(o, "port", json_integer((json_int_t)v->port));
    json_object_set_new(o, "status", json_string(st == SEV_INFO ? "ok" : sev_name(st)));
    if (!v->host_mode)
        json_object_set_new(o, "mx_dnssec", json_string(decide_dns_name(v->mx_st)));
    for (size_t i = 0; i < v->n_hosts; i++)
        json_array_append_new(hosts, host_json(v, &v->hosts[i]));
    json_object_set_new(o, "hosts", hosts);
    json_object_set_new(o, "findings", findings_json(v));
    return o;
}

/* print_json - one line of JSON; 0 or MXTLS_EX_IOERR */
static int print_json(json_t *o)
{
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL)
        return MXTLS_EX_SOFTWARE;
    printf("%s\n", text);
    free(text);
    return 0;
}

/* print_human - the facts per host and address, then the findings */
static void print_human(const struct verify *v, enum v_sev st, const char *what)
{
    printf("%s %s%s: %s\n", what, v->target, v->host_mode ? "" : " (MX)",
           st == SEV_INFO ? "OK" : sev_name(st));
    if (!v->host_mode)
        printf("  MX RRset: %s\n", decide_dns_name(v->mx_st));
    for (size_t i = 0; i < v->n_hosts; i++) {
        const struct v_host *h = &v->hosts[i];
        printf("  host %s", h->name);
        if (h->pref >= 0)
            printf(" (preference %d)", h->pref);
        if (h->canon[0])
            printf(" CNAME %s", h->canon);
        printf(": addresses %s, TLSA %s %s, TTL %u\n", decide_dns_name(addr_status(h)),
               h->tlsa_name, h->tlsa_done ? decide_dns_name(h->tlsa_st) : "-",
               (unsigned)h->tlsa_ttl);
        for (size_t k = 0; k < h->n_tlsa; k++)
            printf("    record %zu: %s%s%s%s\n", k + 1, h->tlsa_text[k] ? h->tlsa_text[k] : "?",
                   h->usable[k] ? "" : " (unusable: ", h->usable[k] ? "" : h->tlsa_note[k],
                   h->usable[k] ? "" : ")");
        for (size_t k = 0; k < h->n_addrs; k++) {
            const struct v_addr *ad = &h->addrs[k];
            printf("    %s: %s", ad->text,
                   ad->probed ? smtp_probe_stage_name(ad->stage) : "unfinished");
            if (ad->stage == SMTP_PROBE_DONE)
                printf(", %s %s, DANE %s", ad->tls_version, ad->cipher,
                       h->n_tlsa == 0     ? "-"
                       : ad->dane_matched ? "match"
                                          : "no match");
            if (ad->stage == SMTP_PROBE_DONE && ad->dane_matched)
                printf(" (record %d, depth %d)", ad->dane_record + 1, ad->dane_depth);
            if (ad->stage == SMTP_PROBE_DONE)
                printf(", WebPKI %s",
                       ad->webpki_chain_ok && ad->webpki_name_ok ? "valid" : ad->webpki_reason);
            else if (ad->reason[0])
                printf(": %s", ad->reason);
            printf("\n");
        }
    }
    for (size_t i = 0; i < v->n_findings; i++) {
        const struct v_finding *f = &v->findings[i];
        if (f->sev == SEV_OK)
            continue;
        printf("  %s [%s]%s%s%s%s: %s\n", sev_name(f->sev), f->id, f->host[0] ? " " : "", f->host,
               f->address[0] ? " " : "", f->address, f->message);
    }
}

/* verify_usage - the help text of `mxtls tlsa verify` */
static void verify_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxtls tlsa verify [-c CONFIG] [--json] [-t SECONDS] DOMAIN|[HOST]:PORT\n"
            "\n"
            "Every MX host of DOMAIN (or HOST on PORT), every address: its TLSA RRset\n"
            "(DNSSEC required), STARTTLS, and every published record against the presented\n"
            "chain with OpenSSL's DANE API.\n"
            "\n"
            "  -c, --config FILE  mxtlsd's configuration: resolver.*, https.ca_file, timeout\n"
            "  -j, --json         one JSON object\n"
            "  -t, --timeout S    deadline of each SMTP probe (default %d)\n"
            "Exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, 64 usage.\n",
            V_PROBE_TIMEOUT_S);
}

/* rollover_usage - the help text of `mxtls tlsa rollover` */
static void rollover_usage(FILE *fp)
{
    fprintf(fp, "usage: mxtls tlsa rollover (--cert NEWCERT | --key NEWKEY) [-c CONFIG] [--json]\n"
                "                           [-t SECONDS] DOMAIN\n"
                "\n"
                "Before deploying a new certificate: is a secure TLSA record matching it\n"
                "published for every MX host, and one still matching the current certificate?\n"
                "After deploying: which old records are stale.\n"
                "Exit status: 0 deploying now cannot bounce a DANE sender (or, after deploying,\n"
                "every host matches), 2 some host is at fault, 3 could not find out, 64 usage,\n"
                "65 bad certificate or key, 66 unreadable file.\n");
}

/* v_options_parse - 0, 1 for --help, -1 usage error (reported) */
static int v_options_parse(int argc, char **argv, struct v_options *o, bool rollover)
{
    enum { OPT_CERT = 256, OPT_KEY };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *name = rollover ? "rollover" : "verify";
    int ch;

    *o = (struct v_options){.timeout_s = V_PROBE_TIMEOUT_S};
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:jt:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->config = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 't':
            if (parse_port(optarg, &o->timeout_s) < 0 || o->timeout_s > 3600) {
                fprintf(stderr, "mxtls tlsa %s: --timeout %s: expected 1-3600 seconds\n", name,
                        optarg);
                return -1;
            }
            break;
        case OPT_CERT:
        case OPT_KEY:
            if (!rollover) {
                fprintf(stderr, "mxtls tlsa verify: --cert/--key are for rollover\n");
                return -1;
            }
            if (ch == OPT_CERT)
                o->new_cert = optarg;
            else
                o->new_key = optarg;
            break;
        case 'h':
            if (rollover)
                rollover_usage(stdout);
            else
                verify_usage(stdout);
            return 1;
        default:
            if (rollover)
                rollover_usage(stderr);
            else
                verify_usage(stderr);
            return -1;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "mxtls tlsa %s: expected one %s\n", name,
                rollover ? "DOMAIN" : "DOMAIN or [HOST]:PORT");
        return -1;
    }
    if (rollover && (o->new_cert != NULL) == (o->new_key != NULL)) {
        fprintf(stderr,
                "mxtls tlsa rollover: give exactly one of --cert NEWCERT or --key NEWKEY\n");
        return -1;
    }
    o->target = argv[optind];
    return 0;
}

/* v_new - an empty gathering */
static struct verify *v_new(void)
{
    struct verify *v = calloc(1, sizeof *v);
    if (v == NULL)
        return NULL;
    v->findings = calloc(V_FINDINGS_MAX, sizeof *v->findings);
    if (v->findings == NULL) {
        free(v);
        return NULL;
    }
    return v;
}

/* tlsa_verify - `mxtls tlsa verify` */
static int tlsa_verify(int argc, char **argv)
{
    struct v_options o;
    char err[512];
    int r = v_options_parse(argc, argv, &o, false);
    if (r != 0)
        return r > 0 ? 0 : MXTLS_EX_USAGE;
    struct verify *v = v_new();
    if (v == NULL)
        return MXTLS_EX_SOFTWARE;
    if (parse_target(v, o.target, err, sizeof err) < 0) {
        fprintf(stderr, "mxtls tlsa verify: %s\n", err);
        v_free(v);
        return MXTLS_EX_USAGE;
    }
    if (v_gather(v, &o, err, sizeof err) < 0) {
        fprintf(stderr, "mxtls tlsa verify: %s\n", err);
        v_free(v);
        return 3; /* UNKNOWN: could not find out */
    }
    enum v_sev st = v_judge(v);
    int status = exit_of(st);
    if (o.json) {
        json_t *j = base_json(v, st);
        if (j != NULL)
            json_object_set_new(j, "exit", json_integer(status));
        if (print_json(j) != 0)
            status = MXTLS_EX_SOFTWARE;
    } else {
        print_human(v, st, "tlsa verify");
    }
    v_free(v);
    if (fflush(stdout) != 0)
        return MXTLS_EX_IOERR;
    return status;
}

/* load_new - the new certificate chain or key file for rollover; 0 or an exit status */
static int load_new(struct verify *v, const struct v_options *o)
{
    char *buf;
    size_t len;
    struct mxtls_diag d = {0};
    struct tlsa rr;
    const char *path = o->new_cert != NULL ? o->new_cert : o->new_key;
    int status = read_input(path, &buf, &len);
    if (status != 0)
        return status;
    int err;
    if (o->new_cert != NULL) {
        err = tlsa_chain_load(buf, len, &v->newchain, &d);
        if (err == 0)
            err = tlsa_from_x509(v->newchain.cert[0], 3, 1, 1, &rr, &d);
        free(buf);
    } else {
        err = tlsa_from_key_pem(buf, len, 3, 1, 1, &rr, &d);
        v->newkey_pem = buf;
        v->newkey_len = len;
    }
    if (err < 0) {
        fprintf(stderr, "mxtls tlsa rollover: %s: %s\n", path, d.what);
        return err == MXTLS_ENOMEM ? MXTLS_EX_SOFTWARE : MXTLS_EX_DATAERR;
    }
    char *text = tlsa_format_text(&rr);
    snprintf(v->new_rr, sizeof v->new_rr, "%s", text != NULL ? text : "");
    free(text);
    tlsa_finish(&rr);
    return 0;
}

/* matches_new - does record rr match the new certificate (chain) or key? */
static bool matches_new(const struct verify *v, const struct v_host *h, const struct tlsa *rr)
{
    if (rr->len == 0)
        return false;
    if (v->newkey_pem != NULL) {
        /* Only SPKI(1) records can be computed from a key (RFC 7671 §8.1). */
        struct tlsa k;
        if (rr->usage != TLSA_USAGE_DANE_EE || rr->selector != TLSA_SELECTOR_SPKI)
            return false;
        if (tlsa_from_key_pem(v->newkey_pem, v->newkey_len, rr->usage, rr->selector, rr->mtype, &k,
                              NULL) != 0)
            return false;
        bool eq = tlsa_equal(&k, rr);
        tlsa_finish(&k);
        return eq;
    }
    if (v->newchain.n == 0)
        return false;
    X509 *leaf = v->newchain.cert[0];
    if (rr->usage == TLSA_USAGE_DANE_EE)
        return tlsa_match_x509(rr, leaf, NULL) == 0;
    if (rr->usage != TLSA_USAGE_DANE_TA)
        return false;
    /* DANE-TA(2): an issuer in the new chain file, or a certificate of the
       presented chain that issued the new leaf (same CA, RFC 7671 §5.2). */
    for (size_t i = 1; i < v->newchain.n; i++)
        if (tlsa_match_x509(rr, v->newchain.cert[i], NULL) == 0)
            return true;
    for (size_t k = 0; k < h->n_addrs; k++) {
        STACK_OF(X509) *c = h->addrs[k].chain;
        for (int i = 1; c != NULL && i < sk_X509_num(c); i++) {
            X509 *ca = sk_X509_value(c, i);
            if (X509_check_issued(ca, leaf) == X509_V_OK && tlsa_match_x509(rr, ca, NULL) == 0)
                return true;
        }
    }
    return false;
}

/* presents_new - is the presented leaf the new certificate (or carries the new key)? */
static bool presents_new(const struct verify *v, const struct v_addr *ad)
{
    if (ad->chain == NULL || sk_X509_num(ad->chain) == 0)
        return false;
    X509 *leaf = sk_X509_value(ad->chain, 0);
    struct tlsa k;
    bool eq = false;
    if (v->newkey_pem != NULL) {
        if (tlsa_from_key_pem(v->newkey_pem, v->newkey_len, 3, 1, 0, &k, NULL) != 0)
            return false;
        eq = tlsa_match_x509(&k, leaf, NULL) == 0;
        tlsa_finish(&k);
        return eq;
    }
    return v->newchain.n > 0 && X509_cmp(leaf, v->newchain.cert[0]) == 0;
}

/*
 * judge_rollover - per host: before deploying, a secure usable record must
 * match the new certificate/key and one the current chain at every address
 * (RFC 7671 §8.1: publish the next key, wait the TTL, then deploy); after
 * deploying (every address presents the new one), records matching neither
 * the presented chains nor the new certificate are stale. Returns the worst
 * severity; *wait the largest TLSA TTL of a DANE host.
 */
static enum v_sev judge_rollover(struct verify *v, uint32_t *wait, bool *after)
{
    enum v_sev worst = SEV_OK;
    size_t n_addrs = 0, n_new = 0;
    *wait = 0;
    if (!judge_domain(v))
        goto out;
    for (size_t i = 0; i < v->n_hosts; i++)
        for (size_t k = 0; k < v->hosts[i].n_addrs; k++) {
            struct v_addr *ad = &v->hosts[i].addrs[k];
            ad->presents_new = presents_new(v, ad);
            n_addrs++;
            n_new += ad->presents_new;
        }
    *after = n_addrs > 0 && n_new == n_addrs;
    for (size_t i = 0; i < v->n_hosts; i++) {
        struct v_host *h = &v->hosts[i];
        enum decide_dns as = addr_status(h);
        if (as == DECIDE_DNS_BOGUS || as == DECIDE_DNS_FAILED || h->n_addrs == 0) {
            add_host_finding(v, as == DECIDE_DNS_FAILED ? "addr-lookup-failed" : "addr-bogus",
                             as == DECIDE_DNS_FAILED ? SEV_UNKNOWN : SEV_CRITICAL, h,
                             "no usable address: %s",
                             h->addr_why[0] ? h->addr_why : "no A or AAAA record");
            continue;
        }
        if (!h->tlsa_done || h->tlsa_st == DECIDE_DNS_FAILED) {
            add_host_finding(v, "tlsa-lookup-failed", SEV_UNKNOWN, h,
                             "TLSA lookup of %s failed: %s", h->tlsa_name,
                             h->tlsa_why[0] ? h->tlsa_why : "no answer");
            continue;
        }
        if (h->tlsa_st == DECIDE_DNS_BOGUS) {
            add_host_finding(v, "tlsa-bogus", SEV_CRITICAL, h,
                             "TLSA RRset %s is bogus: DANE senders already defer mail: %s",
                             h->tlsa_name, h->tlsa_why);
            continue;
        }
        if (!host_has_dane(h) || as != DECIDE_DNS_SECURE || v->mx_st != DECIDE_DNS_SECURE) {
            add_host_finding(v, "rollover-no-dane", SEV_INFO, h,
                             "no DANE for %s (no secure TLSA RRset): a certificate change "
                             "cannot bounce a DANE sender",
                             h->name);
            continue;
        }
        if (h->tlsa_ttl > *wait)
            *wait = h->tlsa_ttl;
        size_t n_match_new = 0;
        for (size_t k = 0; k < h->n_tlsa; k++) {
            h->new_match[k] = h->usable[k] && matches_new(v, h, &h->tlsa[k]);
            n_match_new += h->new_match[k];
        }
        bool host_after = true;
        for (size_t k = 0; k < h->n_addrs; k++) {
            struct v_addr *ad = &h->addrs[k];
            if (ad->stage != SMTP_PROBE_DONE) {
                add_finding(v, "rollover-probe", SEV_UNKNOWN, ad,
                            "cannot see the current certificate (%s): %s",
                            smtp_probe_stage_name(ad->stage), ad->reason);
                host_after = false;
                continue;
            }
            if (!ad->presents_new)
                host_after = false;
            if (!ad->dane_matched)
                add_finding(v, "rollover-current-no-match", SEV_CRITICAL, ad,
                            "the certificate presented now matches no TLSA record (%s): DANE "
                            "senders already defer mail; publish %s",
                            ad->dane_reason, ad->leaf_rr);
        }
        if (n_match_new == 0) {
            add_host_finding(v, "rollover-new-not-published", SEV_CRITICAL, h,
                             "no secure TLSA record at %s matches the new %s: publish "
                             "\"%s IN TLSA %s\", wait %u s (the TTL), then deploy",
                             h->tlsa_name, v->newkey_pem != NULL ? "key" : "certificate",
                             h->tlsa_name, v->new_rr, (unsigned)h->tlsa_ttl);
            continue;
        }
        if (!host_after) {
            add_host_finding(v, "rollover-ready", SEV_OK, h,
                             "a TLSA record matching the new %s is published at %s; deploy it "
                             "at least %u s (the TTL) after it was published",
                             v->newkey_pem != NULL ? "key" : "certificate", h->tlsa_name,
                             (unsigned)h->tlsa_ttl);
            continue;
        }
        /* After deploying: records matching no presented chain and not the new one. */
        for (size_t k = 0; k < h->n_tlsa; k++) {
            bool used = h->new_match[k];
            for (size_t j = 0; j < h->n_addrs && !used; j++)
                used = h->addrs[j].rec_depth[k] >= 0;
            if (!used)
                add_host_finding(v, "rollover-stale", SEV_INFO, h,
                                 "stale record, safe to remove (after the TTL, %u s): %s IN "
                                 "TLSA %s",
                                 (unsigned)h->tlsa_ttl, h->tlsa_name,
                                 h->tlsa_text[k] != NULL ? h->tlsa_text[k] : "(malformed)");
        }
    }
out:
    for (size_t i = 0; i < v->n_findings; i++)
        if (v->findings[i].sev > worst)
            worst = v->findings[i].sev;
    return worst == SEV_INFO ? SEV_OK : worst;
}

/* tlsa_rollover - `mxtls tlsa rollover` */
static int tlsa_rollover(int argc, char **argv)
{
    struct v_options o;
    char err[512];
    int r = v_options_parse(argc, argv, &o, true);
    if (r != 0)
        return r > 0 ? 0 : MXTLS_EX_USAGE;
    struct verify *v = v_new();
    if (v == NULL)
        return MXTLS_EX_SOFTWARE;
    v->rollover = true;
    if (parse_target(v, o.target, err, sizeof err) < 0) {
        fprintf(stderr, "mxtls tlsa rollover: %s\n", err);
        v_free(v);
        return MXTLS_EX_USAGE;
    }
    int status = load_new(v, &o);
    if (status != 0) {
        v_free(v);
        return status;
    }
    if (v_gather(v, &o, err, sizeof err) < 0) {
        fprintf(stderr, "mxtls tlsa rollover: %s\n", err);
        v_free(v);
        return 3;
    }
    uint32_t wait = 0;
    bool after = false;
    enum v_sev st = judge_rollover(v, &wait, &after);
    /* Exit 0 only when deploying now cannot bounce a DANE sender. */
    status = st == SEV_OK ? 0 : st == SEV_UNKNOWN ? 3 : 2;
    if (st == SEV_WARNING)
        status = 2;
    if (o.json) {
        json_t *j = base_json(v, st);
        if (j != NULL) {
            json_object_set_new(j, "phase", json_string(after ? "after" : "before"));
            json_object_set_new(j, "new_tlsa", json_string(v->new_rr));
            json_object_set_new(j, "wait_seconds", json_integer(wait));
            json_object_set_new(j, "safe", json_boolean(status == 0));
            json_t *faults = json_array(), *stale = json_array();
            for (size_t i = 0; i < v->n_findings; i++) {
                const struct v_finding *f = &v->findings[i];
                if (f->sev >= SEV_WARNING && f->host[0] != '\0') {
                    bool seen = false;
                    for (size_t k = 0; k < json_array_size(faults) && !seen; k++)
                        seen = strcmp(json_string_value(json_array_get(faults, k)), f->host) == 0;
                    if (!seen)
                        json_array_append_new(faults, json_string(f->host));
                }
                if (strcmp(f->id, "rollover-stale") == 0)
                    json_array_append_new(
                        stale, json_pack("{s:s,s:s}", "host", f->host, "message", f->message));
            }
            json_object_set_new(j, "hosts_at_fault", faults);
            json_object_set_new(j, "stale", stale);
            json_object_set_new(j, "exit", json_integer(status));
        }
        if (print_json(j) != 0)
            status = MXTLS_EX_SOFTWARE;
    } else {
        print_human(v, st, "tlsa rollover");
        printf("  new certificate/key: %s\n", v->new_rr);
        if (after)
            printf("  phase: after deploying (every address presents the new one)\n");
        else
            printf("  phase: before deploying; wait at least %u s (the TLSA TTL) after "
                   "publishing the new record\n",
                   (unsigned)wait);
        printf("  %s\n", status == 0 ? "SAFE: deploying now cannot bounce a DANE sender"
                                     : "NOT SAFE: see the hosts above");
    }
    v_free(v);
    if (fflush(stdout) != 0)
        return MXTLS_EX_IOERR;
    return status;
}

/* cmd_tlsa - `mxtls tlsa SUBCOMMAND ...` */
int cmd_tlsa(int argc, char **argv)
{
    if (argc < 2) {
        cmd_tlsa_usage(stderr);
        return MXTLS_EX_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        cmd_tlsa_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "gen") == 0)
        return tlsa_gen(argc - 1, argv + 1);
    if (strcmp(argv[1], "verify") == 0)
        return tlsa_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "rollover") == 0)
        return tlsa_rollover(argc - 1, argv + 1);
    fprintf(stderr, "mxtls tlsa: no subcommand '%s' (gen, verify, rollover)\n", argv[1]);
    return MXTLS_EX_USAGE;
}
