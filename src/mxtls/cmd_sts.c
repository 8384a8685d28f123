/*
 * cmd_sts - `mxtls sts gen`: what a receiving domain publishes for MTA-STS
 * (RFC 8461) and TLS reporting (RFC 8460), ready to paste (issue 11); and
 * `mxtls sts verify [-c CONFIG] [--json] DOMAIN`: what it publishes, checked
 * by `mxtls check`'s engine (check_run.h) with the MTA-STS scope.
 *
 *   mxtls sts gen --mode M --max-age S [--mx PATTERN]... [--rua URI]...
 *                 [--id ID] [--domain D] [--crlf]
 *                 [--policy-only | --dns-only | --json]
 *
 * It prints the policy file (RFC 8461 §3.2), the "_mta-sts" TXT record with
 * a fresh id (§3.1) and, with --rua, the "_smtp._tls" TXT record (RFC 8460
 * §3). Everything is read back with libmxtls's own parsers before it is
 * printed -- sts_policy_parse, sts_record_parse, tlsrpt_record_parse, the
 * code mxtlsd applies to what it fetches -- and must come back as given: a
 * value mxtlsd would reject, or one that would smuggle in another field
 * (an id "1; x=y", a URI with ";"), is refused with the parser's reason.
 *
 * Layout (default): "# ..." then the policy file's lines; a blank line;
 * "; ..." then the DNS records as zone-file lines (';' is the zone-file
 * comment, so that part pastes into a zone as it is). --policy-only prints
 * exactly the policy file's bytes (redirect it to mta-sts.txt), --dns-only
 * exactly the zone-file lines, --json one object with members policy,
 * mta_sts_txt and tlsrpt_txt (and the names to publish them at). Owner names
 * are absolute with --domain ("_mta-sts.example.com."), otherwise relative
 * to the zone's origin ("_mta-sts"). Policy lines end in LF, or CRLF with
 * --crlf; §3.2 allows both. TXT values over 255 octets are split into
 * several strings, which §3.1 and RFC 8460 §3 read concatenated.
 *
 * Exit: 0 printed; 64 the command line cannot be understood (unknown or
 * missing option, conflicting options, a --mode other than enforce, testing
 * or none, a --max-age that is not a decimal number); 65 a value that the
 * RFC rules refuse (an mx pattern, max_age over 31557600, an id, a rua URI, a
 * domain, mx missing for enforce or testing); 70 an internal error. Nothing
 * goes to stdout unless every part passed.
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
#include <time.h>

#include "check_run.h"
#include "cmd.h"
#include "mxtls/domain.h"
#include "mxtls/sts_policy.h"
#include "mxtls/sts_record.h"
#include "mxtls/tlsrpt_record.h"

#define GEN_MX_MAX     1000 /* --mx options (the policy parser caps the body at 64 KiB) */
#define GEN_RUA_MAX    64   /* --rua options (the record parser caps them at 16) */
#define MAX_AGE_DIGITS 10   /* enough to show a value over 31557600 to the parser */
#define ONE_DAY        86400
#define TXT_STRING_MAX 255 /* RFC 1035 §3.3.14: one character-string */

enum layout { LAYOUT_ALL, LAYOUT_POLICY, LAYOUT_DNS, LAYOUT_JSON };

struct gen_options {
    const char *mode, *max_age, *id, *domain;
    bool crlf;
    enum layout layout;
    size_t n_mx, n_rua;
    const char *mx[GEN_MX_MAX];
    const char *rua[GEN_RUA_MAX];
};

/* What is printed, all heap strings. */
struct gen_output {
    char *policy; /* the policy file */
    char id[STS_RECORD_ID_MAX + 1];
    char *mta_sts_txt;            /* "v=STSv1; id=..." */
    char *tlsrpt_txt;             /* "v=TLSRPTv1; rua=...", NULL without --rua */
    char domain[DOMAIN_BUF_SIZE]; /* "" without --domain */
    uint32_t max_age;
};

/* sts_gen_usage - the help text of `mxtls sts gen` */
static void sts_gen_usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: mxtls sts gen --mode MODE --max-age SECS [--mx PATTERN]... [--rua URI]...\n"
        "                     [--id ID] [--domain DOMAIN] [--crlf]\n"
        "                     [--policy-only | --dns-only | --json]\n"
        "\n"
        "The MTA-STS policy file (RFC 8461 §3.2), its _mta-sts TXT record with a fresh\n"
        "id (§3.1) and, with --rua, the _smtp._tls TLS-RPT record (RFC 8460 §3), each\n"
        "checked with the parsers mxtlsd uses.\n"
        "\n"
        "      --mode MODE      enforce, testing or none\n"
        "      --max-age SECS   policy lifetime, at most 31557600 (one year); weeks are\n"
        "                       typical (604800 is one week)\n"
        "      --mx PATTERN     an MX host name or *.domain wildcard (repeatable;\n"
        "                       required unless --mode none)\n"
        "      --rua URI        where TLS reports go: mailto:ADDR or https://... (repeatable)\n"
        "      --id ID          the record's id, 1-32 letters and digits (default: the UTC\n"
        "                       time, YYYYMMDDTHHMMSSZ); change it whenever the policy changes\n"
        "      --domain DOMAIN  write absolute owner names (_mta-sts.DOMAIN.) and the policy\n"
        "                       URL; without it owner names are relative to the zone\n"
        "      --crlf           end policy lines with CRLF (default LF; both are valid)\n"
        "      --policy-only    print only the policy file, byte for byte\n"
        "      --dns-only       print only the DNS records, as zone-file lines\n"
        "  -j, --json           one JSON object: policy, mta_sts_txt, tlsrpt_txt, ...\n"
        "  -h, --help           this text\n"
        "\n"
        "Exit status: 0 printed, 64 usage, 65 a value mxtlsd would reject (the reason\n"
        "is printed).\n");
}

/* ------------------------------------------------------------ verify */

/* sts_verify_usage - the help text of `mxtls sts verify` */
static void sts_verify_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxtls sts verify [-c CONFIG] [--json] [--warn-days N] DOMAIN\n"
            "\n"
            "The MTA-STS and TLS-RPT part of `mxtls check`: the _mta-sts TXT record, the\n"
            "policy fetched with mxtlsd's rules (RFC 8461 §3.3), its syntax, mode and\n"
            "max_age, the policy's mx patterns against the live MX RRset (every MX host\n"
            "matched, every pattern used), and the _smtp._tls record (RFC 8460 §3).\n"
            "\n"
            "  -c, --config FILE   mxtlsd's configuration (resolver.*, https.ca_file, timeout)\n"
            "  -j, --json          one JSON object\n"
            "  -w, --warn-days N   warn about RRSIGs expiring within N days (default %d)\n"
            "\n"
            "Exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; 64 usage.\n"
            "Finding ids: mxtls(1).\n",
            CHECK_WARN_DAYS);
}

/*
 * sts_verify - `mxtls sts verify [-c CONFIG] [--json] DOMAIN`: check_run
 * (check_run.h) with the MTA-STS scope: the same engine, findings, output
 * and exit codes as `mxtls check`.
 */
static int sts_verify(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"warn-days", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct check_options o = {.prog = "mxtls sts verify", .warn_days = CHECK_WARN_DAYS};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:jw:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o.config = optarg;
            break;
        case 'j':
            o.json = true;
            break;
        case 'w': {
            size_t n = strlen(optarg);
            unsigned v = 0;
            if (n == 0 || n > 4 || strspn(optarg, "0123456789") != n) {
                fprintf(stderr, "mxtls sts verify: --warn-days %s: expected whole days\n", optarg);
                return MXTLS_EX_USAGE;
            }
            for (size_t i = 0; i < n; i++)
                v = v * 10 + (unsigned)(optarg[i] - '0');
            o.warn_days = v;
            break;
        }
        case 'h':
            sts_verify_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'mxtls sts verify --help'.\n");
            return MXTLS_EX_USAGE;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "mxtls sts verify: expected exactly one DOMAIN\n");
        sts_verify_usage(stderr);
        return MXTLS_EX_USAGE;
    }
    o.domains = argv + optind;
    o.n_domains = 1;
    o.scope = CHECK_SCOPE_STS;
    return check_run(&o);
}

/* cmd_sts_usage - the help text of `mxtls sts` */
void cmd_sts_usage(FILE *fp)
{
    fprintf(fp, "usage: mxtls sts gen --mode MODE --max-age SECS [--mx PATTERN]... [OPTIONS]\n"
                "       mxtls sts verify [-c CONFIG] [--json] DOMAIN\n"
                "\n"
                "Subcommands:\n"
                "  gen      the MTA-STS policy file and the DNS records to publish\n"
                "  verify   the published MTA-STS and TLS-RPT against the live MX RRset\n"
                "\n");
    sts_gen_usage(fp);
    fprintf(fp, "\n");
    sts_verify_usage(fp);
}

/* set_layout - one of --policy-only, --dns-only, --json; -1 on a second one */
static int set_layout(struct gen_options *o, enum layout l, const char *opt)
{
    if (o->layout != LAYOUT_ALL && o->layout != l) {
        fprintf(stderr, "mxtls sts gen: %s: choose one of --policy-only, --dns-only and --json\n",
                opt);
        return -1;
    }
    o->layout = l;
    return 0;
}

/* gen_options_parse - 0, 1 for --help (done), -1 for a usage error (reported) */
static int gen_options_parse(int argc, char **argv, struct gen_options *o)
{
    enum {
        OPT_MX = 256,
        OPT_MODE,
        OPT_MAX_AGE,
        OPT_RUA,
        OPT_ID,
        OPT_DOMAIN,
        OPT_CRLF,
        OPT_POLICY_ONLY,
        OPT_DNS_ONLY
    };
    static const struct option longopts[] = {
        {"mx", required_argument, NULL, OPT_MX},
        {"mode", required_argument, NULL, OPT_MODE},
        {"max-age", required_argument, NULL, OPT_MAX_AGE},
        {"rua", required_argument, NULL, OPT_RUA},
        {"id", required_argument, NULL, OPT_ID},
        {"domain", required_argument, NULL, OPT_DOMAIN},
        {"crlf", no_argument, NULL, OPT_CRLF},
        {"policy-only", no_argument, NULL, OPT_POLICY_ONLY},
        {"dns-only", no_argument, NULL, OPT_DNS_ONLY},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    memset(o, 0, sizeof(*o));
    optind = 1;
    while ((ch = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_MX:
            if (o->n_mx == GEN_MX_MAX) {
                fprintf(stderr, "mxtls sts gen: at most %d --mx options\n", GEN_MX_MAX);
                return -1;
            }
            o->mx[o->n_mx++] = optarg;
            break;
        case OPT_MODE:
            o->mode = optarg;
            break;
        case OPT_MAX_AGE:
            o->max_age = optarg;
            break;
        case OPT_RUA:
            if (o->n_rua == GEN_RUA_MAX) {
                fprintf(stderr, "mxtls sts gen: at most %d --rua options\n", GEN_RUA_MAX);
                return -1;
            }
            o->rua[o->n_rua++] = optarg;
            break;
        case OPT_ID:
            o->id = optarg;
            break;
        case OPT_DOMAIN:
            o->domain = optarg;
            break;
        case OPT_CRLF:
            o->crlf = true;
            break;
        case OPT_POLICY_ONLY:
            if (set_layout(o, LAYOUT_POLICY, "--policy-only") < 0)
                return -1;
            break;
        case OPT_DNS_ONLY:
            if (set_layout(o, LAYOUT_DNS, "--dns-only") < 0)
                return -1;
            break;
        case 'j':
            if (set_layout(o, LAYOUT_JSON, "--json") < 0)
                return -1;
            break;
        case 'h':
            sts_gen_usage(stdout);
            return 1;
        default:
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "mxtls sts gen: unexpected argument '%s' (patterns are given with --mx)\n",
                argv[optind]);
        return -1;
    }
    /* RFC 8461 §3.2: "mode" is one of these three words. */
    if (o->mode == NULL || (strcmp(o->mode, "enforce") != 0 && strcmp(o->mode, "testing") != 0 &&
                            strcmp(o->mode, "none") != 0)) {
        fprintf(stderr,
                "mxtls sts gen: --mode %s: expected enforce, testing or none, "
                "RFC 8461 §3.2\n",
                o->mode == NULL ? "is required" : o->mode);
        return -1;
    }
    /* RFC 8461 §3.2: max_age is a plaintext non-negative integer. */
    size_t n = o->max_age == NULL ? 0 : strlen(o->max_age);
    if (n == 0 || n > MAX_AGE_DIGITS || strspn(o->max_age, "0123456789") != n) {
        fprintf(stderr,
                "mxtls sts gen: --max-age %s: expected whole seconds, 0 to %d "
                "(RFC 8461 §3.2), e.g. 604800 for one week\n",
                o->max_age == NULL ? "is required" : o->max_age, STS_POLICY_MAX_AGE);
        return -1;
    }
    return 0;
}

/* buf_add - append a NUL-terminated string to a heap buffer; -1 when out of memory */
static int buf_add(char **buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    char *b = realloc(*buf, *len + n + 1);

    if (b == NULL)
        return -1;
    memcpy(b + *len, s, n + 1);
    *buf = b;
    *len += n;
    return 0;
}

/* make_policy - the policy file, read back with sts_policy_parse; 0 or an exit status */
static int make_policy(const struct gen_options *o, struct gen_output *out)
{
    const char *eol = o->crlf ? "\r\n" : "\n";
    char(*pat)[DOMAIN_BUF_SIZE] = NULL;
    char *text = NULL;
    size_t len = 0;
    struct sts_policy p;
    struct mxtls_diag d = {0};
    int status = 0, err = 0;

    if (o->n_mx > 0 && (pat = calloc(o->n_mx, sizeof(*pat))) == NULL)
        return MXTLS_EX_SOFTWARE;
    /* RFC 8461 §3.2, §4.1: each "mx" is a host name or "*." and a domain. */
    for (size_t i = 0; i < o->n_mx; i++) {
        if (domain_pattern_normalize(o->mx[i], strlen(o->mx[i]), pat[i], sizeof(pat[i]), &d) < 0) {
            fprintf(stderr, "mxtls sts gen: --mx %s: %s (RFC 8461 §4.1)\n", o->mx[i], d.what);
            free(pat);
            return MXTLS_EX_DATAERR;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(pat[j], pat[i]) == 0) {
                fprintf(stderr, "mxtls sts gen: --mx %s: the pattern %s is given twice\n", o->mx[i],
                        pat[i]);
                free(pat);
                return MXTLS_EX_DATAERR;
            }
    }
    /* RFC 8461 §3.2: version first, then mode, mx lines and max_age. */
    err |= buf_add(&text, &len, "version: STSv1");
    err |= buf_add(&text, &len, eol);
    err |= buf_add(&text, &len, "mode: ");
    err |= buf_add(&text, &len, o->mode);
    err |= buf_add(&text, &len, eol);
    for (size_t i = 0; i < o->n_mx; i++) {
        err |= buf_add(&text, &len, "mx: ");
        err |= buf_add(&text, &len, pat[i]);
        err |= buf_add(&text, &len, eol);
    }
    err |= buf_add(&text, &len, "max_age: ");
    err |= buf_add(&text, &len, o->max_age);
    err |= buf_add(&text, &len, eol);
    if (err != 0) {
        free(text);
        free(pat);
        return MXTLS_EX_SOFTWARE;
    }
    if (sts_policy_parse(text, len, &p, &d) < 0) {
        fprintf(stderr, "mxtls sts gen: the policy would be rejected: %s\n", d.what);
        status = d.code == MXTLS_ENOMEM ? MXTLS_EX_SOFTWARE : MXTLS_EX_DATAERR;
    } else {
        /* It must come back exactly as asked. */
        bool same = strcmp(sts_mode_name(p.mode), o->mode) == 0 && p.n_mx == o->n_mx;
        for (size_t i = 0; same && i < p.n_mx; i++)
            same = strcmp(p.mx[i], pat[i]) == 0;
        char age[MAX_AGE_DIGITS + 2];
        snprintf(age, sizeof(age), "%lu", (unsigned long)p.max_age);
        /* strip leading zeros of the option for the comparison */
        const char *a = o->max_age;
        while (a[0] == '0' && a[1] != '\0')
            a++;
        same = same && strcmp(age, a) == 0;
        if (!same) {
            fprintf(stderr, "mxtls sts gen: the policy parses back differently\n");
            status = MXTLS_EX_SOFTWARE;
        }
        out->max_age = p.max_age;
        sts_policy_finish(&p);
    }
    free(pat);
    if (status != 0) {
        free(text);
        return status;
    }
    out->policy = text;
    return 0;
}

/* make_sts_txt - "v=STSv1; id=ID", read back with sts_record_parse */
static int make_sts_txt(const struct gen_options *o, struct gen_output *out)
{
    struct sts_record rec;
    struct mxtls_diag d = {0};

    if (o->id != NULL) {
        snprintf(out->id, sizeof(out->id), "%s", o->id);
    } else {
        /* RFC 8461 §3.1: the id changes with the policy; a UTC time of
         * second resolution, as the hardening guide writes it, is 16
         * alphanumerics and grows with every new policy. */
        time_t now = time(NULL);
        struct tm tm;

        if (gmtime_r(&now, &tm) == NULL ||
            strftime(out->id, sizeof(out->id), "%Y%m%dT%H%M%SZ", &tm) == 0)
            return MXTLS_EX_SOFTWARE;
    }
    if (asprintf(&out->mta_sts_txt, "v=STSv1; id=%s", o->id != NULL ? o->id : out->id) < 0) {
        out->mta_sts_txt = NULL;
        return MXTLS_EX_SOFTWARE;
    }
    /* RFC 8461 §3.1: sts-id = 1*32(ALPHA / DIGIT), and it must be the record's only field. */
    if (sts_record_parse(out->mta_sts_txt, strlen(out->mta_sts_txt), &rec, &d) < 0 ||
        (o->id != NULL && strcmp(rec.id, o->id) != 0)) {
        fprintf(stderr, "mxtls sts gen: --id %s: %s\n", o->id != NULL ? o->id : out->id,
                d.what[0] != '\0' ? d.what : "an id is 1 to 32 letters and digits, RFC 8461 §3.1");
        return MXTLS_EX_DATAERR;
    }
    return 0;
}

/* rua_same - the parser kept the URI as given (scheme case aside) */
static bool rua_same(const struct tlsrpt_record *r, const char *uri)
{
    return r->n_rua == 1 && r->n_unsupported == 0 && strcasecmp(r->rua[0].uri, uri) == 0;
}

/* make_tlsrpt_txt - "v=TLSRPTv1; rua=...", each URI and the whole read back */
static int make_tlsrpt_txt(const struct gen_options *o, struct gen_output *out)
{
    struct tlsrpt_record *r = NULL;
    struct mxtls_diag d = {0};
    char *text = NULL;
    size_t len = 0;
    int err = 0;

    if (o->n_rua == 0)
        return 0;
    /* Each URI alone first, so that the reason names it (RFC 8460 §3). */
    for (size_t i = 0; i < o->n_rua; i++) {
        char *one = NULL;

        if (asprintf(&one, "v=TLSRPTv1; rua=%s", o->rua[i]) < 0)
            return MXTLS_EX_SOFTWARE;
        memset(&d, 0, sizeof(d));
        err = tlsrpt_record_parse(one, strlen(one), &r, &d);
        free(one);
        if (err < 0 || !rua_same(r, o->rua[i])) {
            const char *why = err < 0 ? d.what
                              : r->n_unsupported > 0
                                  ? "RFC 8460 §3 reports go to mailto: or https: URIs only"
                                  : "one URI only: ',', ';' and '!' must be %-encoded, "
                                    "RFC 8460 §3";
            bool no_scheme = strchr(o->rua[i], ':') == NULL && strchr(o->rua[i], '@') != NULL;

            fprintf(stderr, "mxtls sts gen: --rua %s: %s%s%s\n", o->rua[i], why,
                    no_scheme ? "; did you mean mailto:" : "", no_scheme ? o->rua[i] : "");
            tlsrpt_record_free(r);
            return err == MXTLS_ENOMEM ? MXTLS_EX_SOFTWARE : MXTLS_EX_DATAERR;
        }
        tlsrpt_record_free(r);
        r = NULL;
    }
    err = buf_add(&text, &len, "v=TLSRPTv1; rua=");
    for (size_t i = 0; i < o->n_rua; i++) {
        if (i > 0)
            err |= buf_add(&text, &len, ",");
        err |= buf_add(&text, &len, o->rua[i]);
    }
    if (err != 0) {
        free(text);
        return MXTLS_EX_SOFTWARE;
    }
    memset(&d, 0, sizeof(d));
    err = tlsrpt_record_parse(text, len, &r, &d);
    free(text);
    if (err < 0) {
        fprintf(stderr, "mxtls sts gen: the TLS-RPT record would be rejected: %s\n", d.what);
        return err == MXTLS_ENOMEM ? MXTLS_EX_SOFTWARE : MXTLS_EX_DATAERR;
    }
    if (r->n_rua != o->n_rua) {
        fprintf(stderr, "mxtls sts gen: the TLS-RPT record parses back differently\n");
        tlsrpt_record_free(r);
        return MXTLS_EX_SOFTWARE;
    }
    /* The canonical text: "v=TLSRPTv1; rua=" and the URIs, schemes lower-case. */
    out->tlsrpt_txt = tlsrpt_record_format(r);
    tlsrpt_record_free(r);
    return out->tlsrpt_txt == NULL ? MXTLS_EX_SOFTWARE : 0;
}

/* print_txt - one TXT record as a zone-file line, split into <= 255-octet strings */
static void print_txt(const char *owner, const char *value)
{
    size_t n = strlen(value);

    printf("%s IN TXT", owner);
    /* RFC 1035 §3.3.14 strings of at most 255 octets; RFC 8461 §3.1 and
     * RFC 8460 §3 join them without separators. */
    for (size_t i = 0; i < n || i == 0; i += TXT_STRING_MAX) {
        size_t end = i + TXT_STRING_MAX < n ? i + TXT_STRING_MAX : n;

        putchar(' ');
        putchar('"');
        for (size_t j = i; j < end; j++) {
            /* RFC 1035 §5.1: '"' and '\' are escaped inside a quoted string. */
            if (value[j] == '"' || value[j] == '\\')
                putchar('\\');
            putchar(value[j]);
        }
        putchar('"');
        if (n == 0)
            break;
    }
    putchar('\n');
}

/* owner - "_mta-sts.DOMAIN." with a domain, else "_mta-sts" (relative) */
static char *owner(const char *label, const char *domain)
{
    char *s = NULL;

    if (asprintf(&s, "%s%s%s%s", label, domain[0] ? "." : "", domain, domain[0] ? "." : "") < 0)
        return NULL;
    return s;
}

/* print_json - the JSON layout; 0 or an exit status */
static int print_json(const struct gen_output *out, const char *sts_name, const char *rpt_name)
{
    char *url = NULL;
    json_t *o;
    char *text;

    if (out->domain[0] != '\0' &&
        asprintf(&url, "https://mta-sts.%s/.well-known/mta-sts.txt", out->domain) < 0)
        return MXTLS_EX_SOFTWARE;
    o = json_pack("{s:s?,s:s?,s:s,s:s,s:s,s:s,s:s?,s:s?}", "domain",
                  out->domain[0] ? out->domain : NULL, "policy_url", url, "policy", out->policy,
                  "id", out->id, "mta_sts_name", sts_name, "mta_sts_txt", out->mta_sts_txt,
                  "tlsrpt_name", out->tlsrpt_txt != NULL ? rpt_name : NULL, "tlsrpt_txt",
                  out->tlsrpt_txt);
    free(url);
    if (o == NULL)
        return MXTLS_EX_SOFTWARE;
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text == NULL)
        return MXTLS_EX_SOFTWARE;
    printf("%s\n", text);
    free(text);
    return 0;
}

/* print_output - the chosen layout; 0 or an exit status */
static int print_output(const struct gen_options *o, const struct gen_output *out)
{
    char *sts_name = owner("_mta-sts", out->domain);
    char *rpt_name = owner("_smtp._tls", out->domain);
    int status = 0;

    if (sts_name == NULL || rpt_name == NULL) {
        status = MXTLS_EX_SOFTWARE;
    } else if (o->layout == LAYOUT_JSON) {
        status = print_json(out, sts_name, rpt_name);
    } else {
        if (o->layout == LAYOUT_ALL) {
            if (out->domain[0] != '\0')
                printf("# MTA-STS policy (RFC 8461 §3.2): serve as "
                       "https://mta-sts.%s/.well-known/mta-sts.txt (text/plain)\n",
                       out->domain);
            else
                printf("# MTA-STS policy (RFC 8461 §3.2): serve as "
                       "https://mta-sts.DOMAIN/.well-known/mta-sts.txt (text/plain)\n");
        }
        if (o->layout != LAYOUT_DNS)
            fputs(out->policy, stdout);
        if (o->layout == LAYOUT_ALL)
            printf("\n; DNS records for %s (zone-file lines; change the id whenever the policy "
                   "changes)\n",
                   out->domain[0] != '\0' ? out->domain : "the domain's zone");
        if (o->layout != LAYOUT_POLICY) {
            print_txt(sts_name, out->mta_sts_txt);
            if (out->tlsrpt_txt != NULL)
                print_txt(rpt_name, out->tlsrpt_txt);
        }
    }
    free(sts_name);
    free(rpt_name);
    if (status == 0 && fflush(stdout) != 0)
        status = MXTLS_EX_IOERR;
    return status;
}

/* sts_gen - `mxtls sts gen` */
static int sts_gen(int argc, char **argv)
{
    struct gen_options *o = malloc(sizeof(*o));
    struct gen_output out = {0};
    int status, r;

    if (o == NULL)
        return MXTLS_EX_SOFTWARE;
    r = gen_options_parse(argc, argv, o);
    if (r != 0) {
        free(o);
        return r > 0 ? 0 : MXTLS_EX_USAGE;
    }
    status = 0;
    if (o->domain != NULL) {
        struct mxtls_diag d = {0};

        if (domain_normalize(o->domain, strlen(o->domain), out.domain, sizeof(out.domain), &d) <
            0) {
            fprintf(stderr, "mxtls sts gen: --domain %s: %s\n", o->domain, d.what);
            status = MXTLS_EX_DATAERR;
        }
    }
    if (status == 0)
        status = make_policy(o, &out);
    if (status == 0)
        status = make_sts_txt(o, &out);
    if (status == 0)
        status = make_tlsrpt_txt(o, &out);
    if (status == 0) {
        /* RFC 8461 §3.2: max_age is expected "in the range of weeks or
         * greater"; a short one leaves senders unprotected between fetches. */
        if (out.max_age < ONE_DAY && strcmp(o->mode, "none") != 0)
            fprintf(stderr,
                    "mxtls sts gen: warning: max_age %lu is under one day; RFC 8461 §3.2 "
                    "expects weeks or more once the policy is stable\n",
                    (unsigned long)out.max_age);
        /* RFC 8460 §1: without a TLS-RPT record nobody learns of failures. */
        if (o->n_rua == 0 && strcmp(o->mode, "none") != 0)
            fprintf(stderr, "mxtls sts gen: warning: no --rua: without a _smtp._tls record "
                            "(RFC 8460) senders cannot report TLS failures to you\n");
        status = print_output(o, &out);
    }
    free(out.policy);
    free(out.mta_sts_txt);
    free(out.tlsrpt_txt);
    free(o);
    return status;
}

/* cmd_sts - `mxtls sts SUBCOMMAND ...` */
int cmd_sts(int argc, char **argv)
{
    if (argc < 2) {
        cmd_sts_usage(stderr);
        return MXTLS_EX_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        cmd_sts_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "gen") == 0)
        return sts_gen(argc - 1, argv + 1);
    if (strcmp(argv[1], "verify") == 0)
        return sts_verify(argc - 1, argv + 1);
    fprintf(stderr, "mxtls sts: no subcommand '%s' (gen, verify)\n", argv[1]);
    return MXTLS_EX_USAGE;
}
