/*
 * cmd_cache - `mxtls cache list|show DOMAIN|purge DOMAIN|export`: the
 * running mxtlsd's MTA-STS policy cache, through its control socket
 * (src/mxtlsd/control.h: cache-list, cache-show, cache-purge, cache-export;
 * issue 16 §2). Only who may connect to the control socket may ask: its
 * owner (and root) on the Unix socket, mode 0600 by default, or a local
 * process on the loopback TCP address; mxtlsd itself checks nothing more.
 *
 * list and export come in pages (a JSON array of at most CONTROL_PAGE_MAX
 * octets each): every request but the first names the last domain
 * received, on one connection, until mxtlsd answers NOTFOUND. Every reply is bounded
 * (SOCKETMAP_REPLY_MAX) and checked: a reply that is not what mxtlsd sends is an error (exit 3),
 * never printed as data. Exit: 0 done, 1 no policy cached for DOMAIN, 2
 * purge refused (an enforce policy without --force), 3 mxtlsd unreachable or
 * failing, 64 usage, 74 the output could not be written.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_args.h"
#include "cmd.h"
#include "config.h"
#include "mxtls/domain.h"
#include "mxtls/socketmap.h"
#include "sockmap_client.h"

#define CACHE_ZONE_DEFAULT "postfix"
#define CACHE_TIMEOUT_S    30  /* default bound on each request */
#define CACHE_TIMEOUT_MAX  600 /* seconds */
#define CACHE_ERR_MAX      1024
#define CACHE_NOT_CACHED   1
#define CACHE_REFUSED      2
#define CACHE_ERROR        3

struct cache_options {
    bool json;
    bool force;
    const char *config;
    const char *zone;
    const char *action;
    const char *domain;
    unsigned timeout_s;
};

/* cmd_cache_usage - the help text */
void cmd_cache_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxtls cache [-c CONFIG] [-t SECS] list [--json]\n"
            "       mxtls cache [-c CONFIG] [-t SECS] show [--json] DOMAIN\n"
            "       mxtls cache [-c CONFIG] [-t SECS] purge [--force] DOMAIN\n"
            "       mxtls cache [-c CONFIG] [-t SECS] export [-z ZONE]\n"
            "\n"
            "The running mxtlsd's MTA-STS policy cache, through its control socket:\n"
            "  list     every cached policy: domain, mode, id, max_age, fetched, checked,\n"
            "           expires (a table, or JSON lines with --json)\n"
            "  show     one domain's policy: the same, its mx patterns, where and when it\n"
            "           was fetched, the last failed refresh and the policy text\n"
            "  purge    forget the policy (memory and store): the next request fetches it\n"
            "           again. An enforce policy only with --force: until the new fetch\n"
            "           the domain has no MTA-STS protection (RFC 8461 §5.1)\n"
            "  export   the enforce policies as a Postfix texthash: table, one line per\n"
            "           domain with the policy mxtlsd answers (a static fallback)\n"
            "\n"
            "  -c, --config FILE    mxtlsd's configuration: its control socket (control:);\n"
            "                       without it the default control socket\n"
            "  -j, --json           list, show: JSON (one object per line)\n"
            "  -f, --force          purge: also an enforce policy\n"
            "  -z, --zone NAME      export: the map name whose settings apply (default\n"
            "                       " CACHE_ZONE_DEFAULT ")\n"
            "  -t, --timeout SECS   give up on a request after SECS seconds (default %d)\n"
            "  -h, --help           this text\n"
            "\n"
            "Exit status: 0 done, 1 no policy cached for DOMAIN, 2 purge refused (enforce\n"
            "policy without --force), 3 mxtlsd unreachable or failing, 64 usage.\n",
            CACHE_TIMEOUT_S);
}

/* parse_options - 1 for --help, 0 to run, -1 on a usage error (message printed) */
static int parse_options(int argc, char **argv, struct cache_options *o)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"force", no_argument, NULL, 'f'},
                                             {"zone", required_argument, NULL, 'z'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    *o = (struct cache_options){.zone = CACHE_ZONE_DEFAULT, .timeout_s = CACHE_TIMEOUT_S};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:jfz:t:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->config = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'f':
            o->force = true;
            break;
        case 'z':
            o->zone = optarg;
            break;
        case 't':
            if (cli_parse_seconds(optarg, CACHE_TIMEOUT_MAX, &o->timeout_s) < 0) {
                fprintf(stderr, "mxtls cache: --timeout '%s': whole seconds 1 to %d\n", optarg,
                        CACHE_TIMEOUT_MAX);
                return -1;
            }
            break;
        case 'h':
            cmd_cache_usage(stdout);
            return 1;
        default:
            return -1;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "mxtls cache: expected list, show DOMAIN, purge DOMAIN or export\n");
        return -1;
    }
    o->action = argv[optind++];
    bool takes_domain = strcmp(o->action, "show") == 0 || strcmp(o->action, "purge") == 0;
    if (!takes_domain && strcmp(o->action, "list") != 0 && strcmp(o->action, "export") != 0) {
        fprintf(stderr, "mxtls cache: no action '%s' (list, show, purge, export)\n", o->action);
        return -1;
    }
    if (takes_domain) {
        if (optind >= argc) {
            fprintf(stderr, "mxtls cache %s: expected a DOMAIN\n", o->action);
            return -1;
        }
        o->domain = argv[optind++];
    }
    if (optind < argc) {
        fprintf(stderr, "mxtls cache %s: unexpected argument '%s'\n", o->action, argv[optind]);
        return -1;
    }
    if (!cli_valid_zone(o->zone)) {
        fprintf(stderr, "mxtls cache: --zone '%s': a map name is 1 to %d printable characters\n",
                o->zone, SOCKETMAP_NAME_MAX);
        return -1;
    }
    return 0;
}

/* The connection to mxtlsd's control socket, for one or more requests. */
struct conn {
    int fd;
    char name[SOCKMAP_CLIENT_NAME_MAX + 16];
    unsigned timeout_s;
};

/* conn_open - connect to the control socket of cfg; -1 with err filled */
static int conn_open(struct conn *cn, const struct mxtls_config *cfg, char *err, size_t errsize)
{
    const struct sockmap_client_addr a = {cfg->control.path, cfg->control.host, cfg->control.port};
    char where[SOCKMAP_CLIENT_NAME_MAX];
    if (a.path == NULL && a.host == NULL) {
        snprintf(err, errsize,
                 "the configuration names no control socket (control:); mxtls cache needs it");
        return -1;
    }
    sockmap_client_name(&a, where, sizeof(where));
    snprintf(cn->name, sizeof(cn->name), "mxtlsd at %s", where);
    cn->fd = sockmap_client_connect(&a, sockmap_client_now_ms() + cn->timeout_s * 1000, cn->name,
                                    err, errsize);
    if (cn->fd < 0) {
        int e = errno;
        size_t n = strlen(err);
        if ((e == ENOENT || e == ECONNREFUSED) && n < errsize)
            snprintf(err + n, errsize - n, " (is mxtlsd running?)");
        else if (e == EACCES && n < errsize)
            snprintf(err + n, errsize - n, " (only the socket's owner may use it)");
        return -1;
    }
    return 0;
}

/*
 * request - one request on cn; the reply (heap, "OK ...", "NOTFOUND ", ...)
 * or NULL with err filled
 */
static char *request(struct conn *cn, const char *payload, char *err, size_t errsize)
{
    return sockmap_client_request(
        cn->fd, payload, strlen(payload), SOCKETMAP_REQUEST_MAX, SOCKETMAP_REPLY_MAX,
        sockmap_client_now_ms() + cn->timeout_s * 1000, cn->name, err, errsize);
}

/* time_text - unix time t as "YYYY-MM-DDTHH:MM:SSZ" (UTC); "-" for 0 */
static const char *time_text(json_int_t t, char *buf, size_t size)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t <= 0 || gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "-");
    return buf;
}

/* jstr - a string member, "?" when absent */
static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "?";
}

/* jint - an integer member, 0 when absent */
static json_int_t jint(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* print_row - one list line in the table */
static void print_row(const json_t *o)
{
    char f[32], c[32], e[32];
    printf("%-32s %-8s %-20s %9" JSON_INTEGER_FORMAT " %-20s %-20s %s\n", jstr(o, "domain"),
           jstr(o, "mode"), jstr(o, "id"), jint(o, "max_age"),
           time_text(jint(o, "fetched_at"), f, sizeof(f)),
           time_text(jint(o, "checked_at"), c, sizeof(c)),
           time_text(jint(o, "expires_at"), e, sizeof(e)));
}

/*
 * print_page - a page (a JSON array, src/mxtlsd/control.h): list's objects
 * as JSON lines (--json) or table rows, export's strings as texthash lines;
 * the domain the next page starts after into after[size]. False when the
 * page is not what mxtlsd sends.
 */
static bool print_page(const char *data, bool export, bool json, char *after, size_t size)
{
    json_t *arr = json_loads(data, 0, NULL);
    size_t i, n = json_array_size(arr);
    json_t *el;
    bool ok = n > 0;
    json_array_foreach(arr, i, el)
    {
        const char *key = NULL;
        size_t klen = 0;
        if (export && json_is_string(el)) {
            key = json_string_value(el);
            klen = strcspn(key, " ");
            if (key[klen] != ' ')
                break; /* not "DOMAIN POLICY" */
            printf("%s\n", key);
        } else if (!export && json_is_object(el) &&
                   (key = json_string_value(json_object_get(el, "domain"))) != NULL) {
            klen = strlen(key);
            if (json) {
                char *line = json_dumps(el, JSON_COMPACT);
                if (line == NULL)
                    break;
                printf("%s\n", line);
                free(line);
            } else {
                print_row(el);
            }
        } else {
            break;
        }
        if (i + 1 == n && (klen == 0 || klen >= size))
            break;
        if (i + 1 == n)
            snprintf(after, size, "%.*s", (int)klen, key);
    }
    ok = ok && i == n;
    json_decref(arr);
    return ok;
}

/* run_pages - list or export: every page until NOTFOUND; 0 or CACHE_ERROR */
static int run_pages(struct conn *cn, const struct cache_options *o, bool export, char *err,
                     size_t errsize)
{
    char after[DOMAIN_BUF_SIZE + 1] = "", payload[SOCKETMAP_REQUEST_MAX + 1];
    if (!export && !o->json)
        printf("%-32s %-8s %-20s %9s %-20s %-20s %s\n", "DOMAIN", "MODE", "ID", "MAX_AGE",
               "FETCHED", "CHECKED", "EXPIRES");
    for (;;) {
        if (export)
            snprintf(payload, sizeof(payload), "cache-export %s%s%s", o->zone, after[0] ? " " : "",
                     after);
        else
            snprintf(payload, sizeof(payload), "cache-list%s%s", after[0] ? " " : "", after);
        char *reply = request(cn, payload, err, errsize);
        if (reply == NULL)
            return CACHE_ERROR;
        if (strncmp(reply, "NOTFOUND", 8) == 0) {
            free(reply);
            return 0;
        }
        char last[DOMAIN_BUF_SIZE + 1] = "";
        bool ok = strncmp(reply, "OK ", 3) == 0 &&
                  print_page(reply + 3, export, o->json, last, sizeof(last)) &&
                  strcmp(last, after) > 0; /* pages move forward: no endless loop */
        memcpy(after, last, sizeof(after));
        if (!ok) {
            snprintf(err, errsize, "%s answered \"%s\" with \"%.200s\"", cn->name, payload, reply);
            free(reply);
            return CACHE_ERROR;
        }
        free(reply);
    }
}

/* print_show - `show`'s text form of the cache-show JSON */
static void print_show(const json_t *o)
{
    char f[32], c[32], e[32], x[32];
    printf("%s\n", jstr(o, "domain"));
    printf("  mode           %s\n", jstr(o, "mode"));
    printf("  id             %s\n", jstr(o, "id"));
    printf("  max_age        %" JSON_INTEGER_FORMAT " s\n", jint(o, "max_age"));
    printf("  fetched        %s from %s\n", time_text(jint(o, "fetched_at"), f, sizeof(f)),
           jstr(o, "fetched_from"));
    printf("  checked        %s\n", time_text(jint(o, "checked_at"), c, sizeof(c)));
    printf("  expires        %s\n", time_text(jint(o, "expires_at"), e, sizeof(e)));
    if (jint(o, "failed_at") != 0)
        printf("  last failure   %s: %s\n", time_text(jint(o, "failed_at"), x, sizeof(x)),
               jstr(o, "last_error"));
    if (json_is_true(json_object_get(o, "refreshing")))
        printf("  refreshing     now\n");
    printf("\n");
    const char *text = json_string_value(json_object_get(o, "policy"));
    for (const char *p = text; p != NULL && *p != '\0';) { /* the policy file, CRLF as LF */
        size_t n = strcspn(p, "\r\n");
        printf("  %.*s\n", (int)n, p);
        p += n;
        p += *p == '\r' ? 1 : 0;
        p += *p == '\n' ? 1 : 0;
    }
}

/* run_one - show or purge: one request; the exit status */
static int run_one(struct conn *cn, const struct cache_options *o, const char *domain, char *err,
                   size_t errsize)
{
    char payload[SOCKETMAP_REQUEST_MAX + 1];
    bool purge = strcmp(o->action, "purge") == 0;
    if (purge)
        snprintf(payload, sizeof(payload), "cache-purge %s%s", domain, o->force ? " force" : "");
    else
        snprintf(payload, sizeof(payload), "cache-show %s", domain);
    char *reply = request(cn, payload, err, errsize);
    if (reply == NULL)
        return CACHE_ERROR;
    int rc = 0;
    json_t *obj = strncmp(reply, "OK ", 3) == 0 ? json_loads(reply + 3, 0, NULL) : NULL;
    if (strncmp(reply, "NOTFOUND", 8) == 0) {
        snprintf(err, errsize, "no MTA-STS policy cached for %s", domain);
        rc = CACHE_NOT_CACHED;
    } else if (purge && strncmp(reply, "PERM enforce", 12) == 0) {
        snprintf(err, errsize, "%s: %s", domain, reply + 5);
        rc = CACHE_REFUSED;
    } else if (!json_is_object(obj)) { /* json_is_object evaluates its argument twice */
        snprintf(err, errsize, "%s answered \"%s\" with \"%.200s\"", cn->name, payload, reply);
        rc = CACHE_ERROR;
    } else if (purge) {
        printf("purged %s (mode %s, id %s): the next request fetches it again\n", domain,
               jstr(obj, "mode"), jstr(obj, "id"));
    } else if (o->json) {
        printf("%s\n", reply + 3);
    } else {
        print_show(obj);
    }
    json_decref(obj);
    free(reply);
    return rc;
}

/* cmd_cache - see cmd.h */
int cmd_cache(int argc, char **argv)
{
    struct cache_options o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "Try 'mxtls cache --help'.\n");
        return rc > 0 ? 0 : MXTLS_EX_USAGE;
    }
    char domain[DOMAIN_BUF_SIZE] = "";
    struct mxtls_diag d = {0};
    if (o.domain != NULL &&
        domain_normalize(o.domain, strlen(o.domain), domain, sizeof(domain), &d) < 0) {
        fprintf(stderr, "mxtls cache %s: '%s' is not a domain name: %s\n", o.action, o.domain,
                d.what);
        return MXTLS_EX_USAGE;
    }
    struct mxtls_config cfg;
    int err = o.config != NULL ? config_load_file(o.config, &cfg, &d) : config_init_defaults(&cfg);
    if (err < 0) {
        fprintf(stderr, "mxtls cache: %s\n", o.config != NULL ? d.what : "out of memory");
        if (err != MXTLS_ENOMEM)
            config_finish(&cfg);
        return CACHE_ERROR;
    }
    char why[CACHE_ERR_MAX] = "";
    struct conn cn = {.fd = -1, .timeout_s = o.timeout_s};
    if (conn_open(&cn, &cfg, why, sizeof(why)) < 0)
        rc = CACHE_ERROR;
    else if (o.domain != NULL)
        rc = run_one(&cn, &o, domain, why, sizeof(why));
    else
        rc = run_pages(&cn, &o, strcmp(o.action, "export") == 0, why, sizeof(why));
    config_finish(&cfg);
    if (cn.fd >= 0)
        close(cn.fd);
    if (rc != 0) {
        fprintf(stderr, "mxtls cache %s: %s\n", o.action, why);
        return rc;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "mxtls cache: writing the output: %s\n", strerror(errno));
        return MXTLS_EX_IOERR;
    }
    return 0;
}
