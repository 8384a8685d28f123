/*
 * cmd_tlsa - `mxtls tlsa gen`: the TLSA records (RFC 6698) to publish for a
 * mail server's certificate or key, as zone-file lines (issue 11).
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

#include "cmd.h"
#include "mxtls/tlsa.h"
#include "mxtls/tlsa_make.h"

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
                "\n"
                "Subcommands:\n"
                "  gen      the TLSA records to publish for a certificate or key\n"
                "\n");
    tlsa_gen_usage(fp);
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
    fprintf(stderr, "mxtls tlsa: no subcommand '%s' (gen)\n", argv[1]);
    return MXTLS_EX_USAGE;
}
