/*
 * cmd_query - `mxtls query`: what mxtlsd answers Postfix for a next-hop, and
 * why (issue 4).
 *
 * By default it asks the running mxtlsd on its control socket (control.path,
 * or control.host and control.port, of the configuration; MXTLS_STATEDIR
 * "/control.sock" without -c): one netstring "explain ZONE NEXTHOP",
 * answered "OK {json}" (src/mxtlsd/control.h, explain.h), through
 * io/sockmap_client.c. Without a control socket in the configuration (or,
 * without -c, when the default one does not exist) it asks the policy port
 * (host and port, or path) with the map name "mxtls-explain ZONE NEXTHOP",
 * which mxtlsd answers only with explain_on_policy_port: true. So the answer
 * comes from the daemon's own caches, exactly as Postfix would get it.
 * With --direct it runs the same pipeline in this process instead, opened
 * the way mxtlsd opens it (core/pipeline.c; lookup.h: DANE facts and MTA-STS
 * state, then decide), with memory-only caches: the answer a freshly
 * started mxtlsd would give.
 *
 * Output: the explanation as the daemon's JSON (--json, one compact line),
 * or as text: the reply Postfix gets, the rule, then the facts behind it.
 * Exit status for monitoring: 0 the reply is OK (a policy), 1 NOTFOUND,
 * 2 TEMP, 3 mxtlsd could not be reached or failed (nothing was decided),
 * 64 usage. Failures are reported on stderr; nothing here aborts on bad
 * input from the daemon.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli_args.h"
#include "cmd.h"
#include "config.h"
#include "explain.h"
#include "log.h"
#include "lookup.h"
#include "mxtls/decide.h"
#include "mxtls/netstring.h"
#include "mxtls/socketmap.h"
#include "pipeline.h"
#include "sockmap_client.h"

/* Exit statuses (mxtls(1)). */
#define QUERY_OK       0
#define QUERY_NOTFOUND 1
#define QUERY_TEMP     2
#define QUERY_ERROR    3

#define QUERY_ZONE_DEFAULT "postfix"
#define QUERY_TIMEOUT_S    30  /* default bound on the whole query */
#define QUERY_TIMEOUT_MAX  600 /* seconds */
#define QUERY_ERR_MAX      1024
#define TLSA_DATA_SHOWN    64 /* hex digits of a TLSA record's data shown in text */

struct query_options {
    bool json;
    bool direct;
    bool verbose;
    const char *config;
    const char *zone;
    const char *nexthop;
    unsigned timeout_s;
};

/* cmd_query_usage - the help text */
void cmd_query_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxtls query [--json] [-c CONFIG] [-z ZONE] [--direct] [-t SECS] [-v] NEXTHOP\n"
            "\n"
            "What mxtlsd answers Postfix (smtp_tls_policy_maps) for NEXTHOP, and why: the\n"
            "reply, the rule that gave it, the MX answer and its DNSSEC status, each MX\n"
            "host's addresses and TLSA records, and the MTA-STS record and policy.\n"
            "NEXTHOP is what Postfix looks up: example.com, [mx.example.com]:587, ...\n"
            "\n"
            "  -j, --json           print mxtlsd's explanation as JSON (one line)\n"
            "  -c, --config FILE    mxtlsd's configuration: its control socket (control:),\n"
            "                       else the explain map on its policy port (host and port,\n"
            "                       or path); without it the default control socket, else\n"
            "                       127.0.0.1:8461\n"
            "  -z, --zone NAME      the socketmap map name whose settings apply (default\n"
            "                       " QUERY_ZONE_DEFAULT
            ", as in socketmap:inet:...:" QUERY_ZONE_DEFAULT ")\n"
            "  -d, --direct         resolve in this process with mxtlsd's code and the\n"
            "                       configuration's resolver and CA settings, without a\n"
            "                       running mxtlsd and without its cache\n"
            "  -t, --timeout SECS   give up after SECS seconds (default %d)\n"
            "  -v, --verbose        with --direct, log the lookups on stderr\n"
            "  -h, --help           this text\n"
            "\n"
            "Exit status: 0 a policy (OK), 1 no policy (NOTFOUND), 2 delivery deferred\n"
            "(TEMP), 3 mxtlsd unreachable or failing, 64 usage.\n",
            QUERY_TIMEOUT_S);
}

/* valid_key - a key Postfix could send: no control characters */
static bool valid_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > SOCKETMAP_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < ' ' || k[i] == 0x7f)
            return false;
    return true;
}

/* parse_options - 0, 1 for --help (done), or -1 for a usage error (reported) */
static int parse_options(int argc, char **argv, struct query_options *o)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},          {"config", required_argument, NULL, 'c'},
        {"zone", required_argument, NULL, 'z'},    {"direct", no_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 't'}, {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    *o = (struct query_options){.zone = QUERY_ZONE_DEFAULT, .timeout_s = QUERY_TIMEOUT_S};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "jc:z:dt:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            o->json = true;
            break;
        case 'c':
            o->config = optarg;
            break;
        case 'z':
            o->zone = optarg;
            break;
        case 'd':
            o->direct = true;
            break;
        case 't':
            if (cli_parse_seconds(optarg, QUERY_TIMEOUT_MAX, &o->timeout_s) < 0) {
                fprintf(stderr, "mxtls query: --timeout %s: expected whole seconds, 1 to %d\n",
                        optarg, QUERY_TIMEOUT_MAX);
                return -1;
            }
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'h':
            cmd_query_usage(stdout);
            return 1;
        default:
            return -1;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "mxtls query: %s\n",
                argc == optind ? "which next-hop? (e.g. example.com)" : "one next-hop only");
        return -1;
    }
    o->nexthop = argv[optind];
    if (!cli_valid_zone(o->zone)) {
        fprintf(stderr,
                "mxtls query: --zone '%s': a map name is 1 to %d printable characters, no spaces\n",
                o->zone, SOCKETMAP_NAME_MAX);
        return -1;
    }
    if (!valid_key(o->nexthop) ||
        strlen(SESSION_EXPLAIN_NAME) + 2 + strlen(o->zone) + strlen(o->nexthop) >
            SOCKETMAP_REQUEST_MAX) {
        fprintf(stderr,
                "mxtls query: the next-hop must be 1 to about %d characters without control "
                "characters\n",
                SOCKETMAP_REQUEST_MAX - (int)strlen(SESSION_EXPLAIN_NAME) - 2 -
                    (int)strlen(o->zone));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ the daemon */

/*
 * ask - one request to mxtlsd at a (io/sockmap_client.c); the reply's
 * payload (heap), or NULL with err filled ("... mxtlsd at NAME ...").
 */
static char *ask(const struct sockmap_client_addr *a, const char *payload, size_t len,
                 const struct query_options *o, int *connect_errno, char *name, size_t namesize,
                 char *err, size_t errsize)
{
    char where[SOCKMAP_CLIENT_NAME_MAX];
    sockmap_client_name(a, where, sizeof(where));
    snprintf(name, namesize, "mxtlsd at %s", where);
    return sockmap_client_ask(a, name, payload, len, SOCKETMAP_REQUEST_MAX, SOCKETMAP_REPLY_MAX,
                              o->timeout_s * 1000u, connect_errno, err, errsize);
}

/*
 * ask_daemon - the explain request; the JSON text (heap), or NULL with err
 * filled when mxtlsd cannot be reached, fails or answers anything but OK.
 * Through the control socket the configuration names ("explain ZONE
 * NEXTHOP", control.h); through the policy port's explain map ("mxtls-explain
 * ZONE NEXTHOP", answered only with explain_on_policy_port: true) when the
 * configuration names none (an older mxtlsd), or, without -c, when the
 * default control socket does not exist.
 */
static char *ask_daemon(const struct mxtls_config *cfg, const struct query_options *o, char *err,
                        size_t errsize)
{
    const struct sockmap_client_addr ctl = {cfg->control.path, cfg->control.host,
                                            cfg->control.port};
    const struct sockmap_client_addr pol = {cfg->path, cfg->host, cfg->port};
    char payload[SOCKETMAP_REQUEST_MAX + 1];
    char name[SOCKMAP_CLIENT_NAME_MAX + 16];
    char *reply = NULL;
    bool policy_port = ctl.path == NULL && ctl.host == NULL;
    int plen, cerr = 0;

    if (!policy_port) {
        plen = snprintf(payload, sizeof(payload), "explain %s %s", o->zone, o->nexthop);
        if (plen < 0 || (size_t)plen > SOCKETMAP_REQUEST_MAX) {
            snprintf(err, errsize, "the request does not fit a control request");
            return NULL;
        }
        reply = ask(&ctl, payload, (size_t)plen, o, &cerr, name, sizeof(name), err, errsize);
        if (reply == NULL && o->config == NULL && (cerr == ENOENT || cerr == ECONNREFUSED))
            policy_port = true; /* no -c and no default control socket: an older mxtlsd */
        else if (reply == NULL)
            return NULL;
    }
    if (policy_port) {
        plen = snprintf(payload, sizeof(payload), "%s %s %s", SESSION_EXPLAIN_NAME, o->zone,
                        o->nexthop);
        if (plen < 0 || (size_t)plen > SOCKETMAP_REQUEST_MAX) {
            snprintf(err, errsize, "the request does not fit a socketmap request");
            return NULL;
        }
        reply = ask(&pol, payload, (size_t)plen, o, NULL, name, sizeof(name), err, errsize);
        if (reply == NULL)
            return NULL;
    }
    if (strncmp(reply, "OK ", 3) != 0) {
        snprintf(err, errsize, "%s answered the explain request with \"%.200s\"%s", name, reply,
                 policy_port && strncmp(reply, "NOTFOUND", 8) == 0
                     ? ": name mxtlsd's control socket in the configuration (control:), or set "
                       "explain_on_policy_port: true there"
                     : "");
        free(reply);
        return NULL;
    }
    memmove(reply, reply + 3, strlen(reply + 3) + 1);
    return reply;
}

/* ------------------------------------------------------------ --direct */

struct direct {
    struct event_base *base;
    struct lookup_result result;
    bool done;
    bool timed_out;
};

/* on_lookup - the pipeline's answer: keep it, stop the loop */
static void on_lookup(struct lookup_result *r, void *arg)
{
    struct direct *dr = arg;
    dr->result = *r; /* the callback owns the result; we keep it */
    dr->done = true;
    event_base_loopbreak(dr->base);
}

/* on_deadline - the whole query took too long */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct direct *dr = arg;
    dr->timed_out = true;
    event_base_loopbreak(dr->base);
}

/*
 * run_direct - the lookup in this process; the JSON text (heap), or NULL
 * with err filled. Everything it creates is freed before it returns.
 */
static char *run_direct(const struct mxtls_config *cfg, const struct query_options *o, char *err,
                        size_t errsize)
{
    struct socketmap_nexthop nh;
    struct mxtls_diag d = {0};
    if (socketmap_nexthop_parse(o->nexthop, strlen(o->nexthop), &nh, &d) != 0) {
        /* What the daemon's explain request answers for such keys (session.c). */
        char *text = explain_not_looked_up_json(o->nexthop, strlen(o->nexthop), d.what);
        if (text == NULL)
            snprintf(err, errsize, "out of memory");
        if (o->verbose)
            fprintf(stderr, "mxtls query: %s: %s\n", o->nexthop, d.what);
        return text;
    }
    const struct config_zone *zone = config_zone_for(cfg, o->zone, strlen(o->zone));

    char *text = NULL;
    struct direct dr = {0};
    struct pipeline_ctx pc = {0};
    struct event *deadline = NULL;
    struct lookup *handle = NULL;

    dr.base = event_base_new();
    if (dr.base == NULL) {
        snprintf(err, errsize, "cannot create an event loop");
        goto out;
    }
    /* mxtlsd's own setup (core/pipeline.c), with memory-only caches. */
    int perr = pipeline_open_net(&pc, dr.base, cfg, &d);
    if (perr < 0) {
        snprintf(err, errsize, "%s: %s", perr == PIPELINE_E_RESOLVER ? "resolver" : "https",
                 d.what);
        goto out;
    }
    perr = pipeline_open_caches(&pc, cfg, 0, &d);
    struct timeval tv = {(time_t)o->timeout_s, 0};
    deadline = evtimer_new(dr.base, on_deadline, &dr);
    if (perr < 0 || deadline == NULL || evtimer_add(deadline, &tv) < 0) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    int rc = lookup_start(&pc.services, &nh, zone, &dr.result, on_lookup, &dr, &handle);
    if (rc < 0) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    if (rc == 1) {
        dr.done = true;
    } else {
        event_base_dispatch(dr.base);
        if (!dr.done) {
            lookup_cancel(handle);
            snprintf(err, errsize, "%s: no answer within %u s", o->nexthop, o->timeout_s);
            goto out;
        }
    }
    text = explain_json(&dr.result);
    lookup_result_finish(&dr.result);
    if (text == NULL)
        snprintf(err, errsize, "out of memory");
out:
    if (deadline != NULL)
        event_free(deadline);
    pipeline_close(&pc);
    if (dr.base != NULL)
        event_base_free(dr.base);
    return text;
}

/* ------------------------------------------------------------ output */

/* str - o[key] as a string, or NULL */
static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* str_or - o[key] as a string, or dflt */
static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *s = str(o, key);
    return s != NULL ? s : dflt;
}

/* num - o[key] as an integer into *v; false when absent or not an integer */
static bool num(const json_t *o, const char *key, json_int_t *v)
{
    const json_t *j = json_object_get(o, key);
    if (!json_is_integer(j))
        return false;
    *v = json_integer_value(j);
    return true;
}

/* reply_status - the exit status for the reply Postfix gets */
static int reply_status(const char *reply)
{
    if (strncmp(reply, "OK ", 3) == 0)
        return QUERY_OK;
    if (strncmp(reply, "NOTFOUND", 8) == 0)
        return QUERY_NOTFOUND;
    if (strncmp(reply, "TEMP", 4) == 0)
        return QUERY_TEMP;
    return QUERY_ERROR;
}

/* print_tlsa_record - "3 1 1 <data>", the data cut to TLSA_DATA_SHOWN digits */
static void print_tlsa_record(const json_t *rr)
{
    const char *rec = str_or(rr, "record", "?");
    const char *why = str_or(rr, "why", "");
    bool usable = json_is_true(json_object_get(rr, "usable"));
    size_t n = strlen(rec);
    /* The data starts after the third space. */
    const char *data = rec;
    for (int i = 0; i < 3 && data != NULL; i++) {
        data = strchr(data, ' ');
        if (data != NULL)
            data++;
    }
    int shown = (int)n;
    if (data != NULL && strlen(data) > TLSA_DATA_SHOWN)
        shown = (int)(data - rec) + TLSA_DATA_SHOWN;
    printf("        %.*s%s\n", shown, rec, shown < (int)n ? "..." : "");
    if (usable)
        printf("          usable\n");
    else
        printf("          not usable: %s\n", why);
}

/* print_host - one MX host's facts */
static void print_host(const json_t *h)
{
    json_int_t v;
    printf("    %s\n", str_or(h, "name", "?"));
    const char *adns = str_or(h, "address_dnssec", "?");
    const char *addrs = str(h, "addresses");
    if (addrs == NULL)
        printf("      addresses  %s\n", adns);
    else
        printf("      addresses  %s (DNSSEC %s)\n", addrs[0] != '\0' ? addrs : "none", adns);
    if (str(h, "cname_target") != NULL)
        printf("      CNAME to   %s\n", str(h, "cname_target"));
    const char *tname = str(h, "tlsa_name");
    const char *tdns = str_or(h, "tlsa_dnssec", "?"); /* present when looked up */
    if (tname == NULL) {
        printf("      TLSA       %s\n", str_or(h, "tlsa_dnssec", "not looked up"));
    } else {
        json_int_t records = 0, usable = 0;
        num(h, "tlsa_records", &records);
        num(h, "tlsa_usable", &usable);
        printf("      TLSA       %s: DNSSEC %s, %" JSON_INTEGER_FORMAT
               " record%s, %" JSON_INTEGER_FORMAT " usable\n",
               tname, tdns, records, records == 1 ? "" : "s", usable);
        const json_t *rrs = json_object_get(h, "tlsa");
        size_t i;
        const json_t *rr;
        json_array_foreach(rrs, i, rr) print_tlsa_record(rr);
        if (num(h, "tlsa_records", &v) && (size_t)v > json_array_size(rrs))
            printf("        (%zu more not shown)\n", (size_t)v - json_array_size(rrs));
    }
    if (str(h, "error") != NULL)
        printf("      error      %s\n", str(h, "error"));
}

/* print_sts - the MTA-STS state */
static void print_sts(const json_t *s, const char *source)
{
    printf("\nMTA-STS          %s\n", str_or(s, "state", "?"));
    printf("  record id      %s\n", str_or(s, "record_id", "(none seen)"));
    const json_t *p = json_object_get(s, "policy");
    if (json_is_object(p)) {
        json_int_t max_age = 0, age = 0;
        num(p, "max_age", &max_age);
        printf("  policy id      %s\n", str_or(p, "id", "?"));
        printf("  mode           %s\n", str_or(p, "mode", "?"));
        printf("  mx             ");
        size_t i;
        const json_t *m;
        json_array_foreach(json_object_get(p, "mx"), i, m)
            printf("%s%s", i > 0 ? " " : "", json_string_value(m) ? json_string_value(m) : "?");
        printf("\n");
        printf("  max_age        %" JSON_INTEGER_FORMAT " s\n", max_age);
        if (num(p, "age", &age))
            printf("  cache age      %" JSON_INTEGER_FORMAT " s (%s)\n", age,
                   json_is_true(json_object_get(p, "cached")) ? "from the cache"
                                                              : "fetched for this query");
    }
    printf("  source         %s\n", source);
    if (str(s, "failure") != NULL)
        printf("  failure        %s\n", str(s, "failure"));
    const char *why = str(s, "why");
    if (why != NULL && why[0] != '\0')
        printf("  why            %s\n", why);
}

/* print_store - mxtlsd's persistent cache: backlog and what happened to its file */
static void print_store(const json_t *c)
{
    json_int_t queued = 0, oldest = 0, failed = 0, dropped = 0, lost = 0, from = 0;
    num(c, "queued", &queued);
    num(c, "oldest_ms", &oldest);
    num(c, "failed_writes", &failed);
    num(c, "dropped_writes", &dropped);
    num(c, "file_lost", &lost);
    printf("\nCache store      %s (%s)\n", str_or(c, "state", "?"), str_or(c, "file", "?"));
    printf("  not on disk    %" JSON_INTEGER_FORMAT " writes, oldest %" JSON_INTEGER_FORMAT
           " ms; %" JSON_INTEGER_FORMAT " failed, %" JSON_INTEGER_FORMAT " dropped\n",
           queued, oldest, failed, dropped);
    if (str(c, "last_error") != NULL)
        printf("  last error     %s\n", str(c, "last_error"));
    if (lost > 0)
        printf(
            "  warning        the file was deleted or replaced while running (%" JSON_INTEGER_FORMAT
            " times); recreated and rewritten from memory\n",
            lost);
    if (num(c, "shrank_from", &from))
        printf("  warning        %s\n", str_or(c, "start_warning", "the file lost its policies"));
}

/* print_text - the explanation for a person */
static void print_text(const json_t *root, const struct query_options *o)
{
    const char *reply = str_or(root, "reply", "?");
    const char *domain = str(root, "domain");
    json_int_t port = 25;
    num(root, "port", &port);
    printf("%s (zone %s)\n", o->nexthop, o->zone);
    printf("  Postfix gets   %s\n", reply);
    const char *rule = str(root, "rule");
    const char *rtext = rule != NULL ? decide_rule_text(rule) : NULL;
    if (rule == NULL && str(root, "key") != NULL) /* session.c: not a next-hop it looks up */
        printf("  rule           not looked up (%s): parent-domain probes, IP literals and "
               "invalid names\n",
               str_or(root, "why", "?"));
    else if (rtext != NULL)
        printf("  rule           %s: %s\n", rule, rtext);
    else if (rule != NULL)
        printf("  rule           %s\n", rule);
    if (domain == NULL)
        return;
    printf("  DANE           %s\n", str_or(root, "dane", "?"));
    printf("  looked up      %s%s%s, port %" JSON_INTEGER_FORMAT "\n",
           json_is_true(json_object_get(root, "bracketed")) ? "[" : "", domain,
           json_is_true(json_object_get(root, "bracketed")) ? "]" : "", port);

    const json_t *mx = json_object_get(root, "mx");
    if (json_is_object(mx)) {
        json_int_t age = 0;
        const char *dnssec = str(mx, "dnssec");
        printf("\nMX               %s", str_or(mx, "answer", "?"));
        if (dnssec != NULL)
            printf(", DNSSEC %s", dnssec);
        if (num(mx, "facts_age", &age))
            printf(" (facts %" JSON_INTEGER_FORMAT " s old)", age);
        printf("\n");
        if (str(mx, "error") != NULL)
            printf("  error          %s\n", str(mx, "error"));
        const json_t *hosts = json_object_get(mx, "hosts");
        if (json_array_size(hosts) > 0)
            printf("  hosts\n");
        size_t i;
        const json_t *h;
        json_array_foreach(hosts, i, h) print_host(h);
    }
    const json_t *sts = json_object_get(root, "mta_sts");
    if (json_is_object(sts))
        print_sts(sts, str_or(root, "mta_sts_source", "?"));
    const json_t *store = json_object_get(root, "cache_store");
    if (json_is_object(store))
        print_store(store);
}

/* cmd_query - see cmd.h */
int cmd_query(int argc, char **argv)
{
    struct query_options o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "Try 'mxtls query --help'.\n");
        return rc > 0 ? 0 : MXTLS_EX_USAGE;
    }

    struct mxtls_config cfg;
    struct mxtls_diag d = {0};
    int err = o.config != NULL ? config_load_file(o.config, &cfg, &d) : config_init_defaults(&cfg);
    if (err < 0) {
        fprintf(stderr, "mxtls query: %s\n", o.config != NULL ? d.what : "out of memory");
        if (err != MXTLS_ENOMEM)
            config_finish(&cfg);
        return QUERY_ERROR;
    }
    if (o.direct)
        log_open("mxtls", o.verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, NULL);

    char why[QUERY_ERR_MAX] = "";
    char *text =
        o.direct ? run_direct(&cfg, &o, why, sizeof(why)) : ask_daemon(&cfg, &o, why, sizeof(why));
    config_finish(&cfg);
    if (text == NULL) {
        fprintf(stderr, "mxtls query: %s\n", why);
        return QUERY_ERROR;
    }

    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    const char *reply = json_is_object(root) ? str(root, "reply") : NULL;
    if (reply == NULL) {
        fprintf(stderr, "mxtls query: the explanation is not what mxtlsd sends (%s): %.200s\n",
                root == NULL ? jerr.text : "no \"reply\"", text);
        json_decref(root);
        free(text);
        return QUERY_ERROR;
    }
    rc = reply_status(reply);
    if (o.json)
        printf("%s\n", text);
    else
        print_text(root, &o);
    json_decref(root);
    free(text);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "mxtls query: writing the output: %s\n", strerror(errno));
        return QUERY_ERROR;
    }
    return rc;
}
