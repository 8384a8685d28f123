/*
 * test_config - the mxtlsd configuration loader (io/config.h).
 * Each row is a small YAML text and the value it must yield or the error
 * (file:line: key: reason) it must give; removing the rule fails the row.
 * "upstream" means postfix-mta-sts-resolver's mta-sts-daemon.yml(5) and its
 * utils.populate_cfg_defaults; mxtlsd reads that file unmodified.
 */
#include <stdio.h>
#include <string.h>

#include "unit.h"

#include "config.h"

#ifndef CONFIG_DATA_DIR
#define CONFIG_DATA_DIR "tests/unit/data/config"
#endif

struct load_case {
    const char *rule;
    const char *yaml;
    int err;            /* expected return */
    const char *field;  /* value checked on success (see get_int/get_str) */
    long long want;     /* for integer fields */
    const char *want_s; /* for string fields; on failure: substring of diag.what */
};

/* get_int - an integer view of a config field named in a row */
static long long get_int(const struct mxtls_config *c, const char *f)
{
    const struct config_zone *z0 = c->nzones ? &c->zones[0].opts : NULL;

    if (!strcmp(f, "port"))
        return c->port;
    if (!strcmp(f, "mode"))
        return c->mode;
    if (!strcmp(f, "reuse_port"))
        return c->reuse_port;
    if (!strcmp(f, "shutdown_timeout_ms"))
        return (long long)c->shutdown_timeout_ms;
    if (!strcmp(f, "cache_grace_ms"))
        return (long long)c->cache_grace_ms;
    if (!strcmp(f, "pf.enabled"))
        return c->proactive.enabled;
    if (!strcmp(f, "pf.interval_s"))
        return c->proactive.interval_s;
    if (!strcmp(f, "pf.concurrency_limit"))
        return c->proactive.concurrency_limit;
    if (!strcmp(f, "pf.grace_ratio_milli"))
        return (long long)(c->proactive.grace_ratio * 1000.0 + 0.5);
    if (!strcmp(f, "cache.type"))
        return c->cache.type;
    if (!strcmp(f, "cache.cache_size"))
        return c->cache.cache_size;
    if (!strcmp(f, "cache.threads"))
        return c->cache.threads;
    if (!strcmp(f, "cache.timeout_ms"))
        return c->cache.timeout_ms;
    if (!strcmp(f, "cache.db"))
        return c->cache.db;
    if (!strcmp(f, "cache.max_connections"))
        return c->cache.max_connections;
    if (!strcmp(f, "cache.n_sentinels"))
        return (long long)c->cache.n_sentinels;
    if (!strcmp(f, "cache.socket_timeout_ms"))
        return c->cache.socket_timeout_ms;
    if (!strcmp(f, "dz.strict_testing"))
        return c->default_zone.strict_testing;
    if (!strcmp(f, "dz.timeout_ms"))
        return c->default_zone.timeout_ms;
    if (!strcmp(f, "dz.require_sni"))
        return c->default_zone.require_sni;
    if (!strcmp(f, "dz.tlsrpt"))
        return c->default_zone.tlsrpt;
    if (!strcmp(f, "dz.dane"))
        return c->default_zone.dane;
    if (!strcmp(f, "nzones"))
        return (long long)c->nzones;
    if (!strcmp(f, "ub.outgoing_range"))
        return c->resolver.outgoing_range;
    if (!strcmp(f, "ub.outgoing_num_tcp"))
        return c->resolver.outgoing_num_tcp;
    if (!strcmp(f, "ub.num_queries_per_thread"))
        return c->resolver.num_queries_per_thread;
    if (!strcmp(f, "ub.msg_cache_size"))
        return c->resolver.msg_cache_size;
    if (!strcmp(f, "ub.rrset_cache_size"))
        return c->resolver.rrset_cache_size;
    if (!strcmp(f, "ub.key_cache_size"))
        return c->resolver.key_cache_size;
    if (!strcmp(f, "ub.neg_cache_size"))
        return c->resolver.neg_cache_size;
    if (!strcmp(f, "ub.infra_cache_numhosts"))
        return c->resolver.infra_cache_numhosts;
    if (!strcmp(f, "max_connections"))
        return c->max_connections;
    if (!strcmp(f, "request_timeout_ms"))
        return c->request_timeout_ms;
    if (!strcmp(f, "output_high_water"))
        return c->output_high_water;
    if (!strcmp(f, "sts_resolver_failure_temp_s"))
        return c->sts_resolver_failure_temp_s;
    if (!strcmp(f, "store_queue_max"))
        return c->store_queue_max;
    if (!strcmp(f, "store_lag_warning_ms"))
        return c->store_lag_warning_ms;
    if (!strcmp(f, "control.mode"))
        return c->control.mode;
    if (!strcmp(f, "control.port"))
        return c->control.port;
    if (!strcmp(f, "explain_on_policy_port"))
        return c->explain_on_policy_port;
    if (!strcmp(f, "metrics.port"))
        return c->metrics.port;
    if (!strcmp(f, "z0.timeout_ms") && z0)
        return z0->timeout_ms;
    if (!strcmp(f, "z0.strict_testing") && z0)
        return z0->strict_testing;
    if (!strcmp(f, "z0.dane") && z0)
        return z0->dane;
    if (!strcmp(f, "z0.tlsrpt") && z0)
        return z0->tlsrpt;
    fail_msg("unknown integer field %s", f);
    return -1;
}

/* get_str - a string field named in a row; NULL when unset */
static const char *get_str(const struct mxtls_config *c, const char *f, int *known)
{
    *known = 1;
    if (!strcmp(f, "host"))
        return c->host;
    if (!strcmp(f, "path"))
        return c->path;
    if (!strcmp(f, "cache.filename"))
        return c->cache.filename;
    if (!strcmp(f, "cache.url"))
        return c->cache.url;
    if (!strcmp(f, "cache.password"))
        return c->cache.password;
    if (!strcmp(f, "cache.sentinel_master_name"))
        return c->cache.sentinel_master_name;
    if (!strcmp(f, "cache.sentinels")) {
        /* the list joined with spaces, in order */
        static char joined[1024];
        size_t i, pos = 0;

        joined[0] = '\0';
        for (i = 0; i < c->cache.n_sentinels && pos < sizeof(joined); i++)
            pos += (size_t)snprintf(joined + pos, sizeof(joined) - pos, "%s%s", i ? " " : "",
                                    c->cache.sentinels[i]);
        return c->cache.n_sentinels ? joined : NULL;
    }
    if (!strcmp(f, "unbound_config"))
        return c->unbound_config;
    if (!strcmp(f, "trust_anchor_file"))
        return c->trust_anchor_file;
    if (!strcmp(f, "ca_file"))
        return c->ca_file;
    if (!strcmp(f, "control.path"))
        return c->control.path;
    if (!strcmp(f, "control.host"))
        return c->control.host;
    if (!strcmp(f, "metrics.host"))
        return c->metrics.host;
    if (!strcmp(f, "z0.name"))
        return c->nzones ? c->zones[0].name : NULL;
    *known = 0;
    return NULL;
}

#define S CONFIG_CACHE_SQLITE
#define I CONFIG_CACHE_INTERNAL
#define R CONFIG_CACHE_REDIS

static const struct load_case load_cases[] = {
    /* Defaults and the empty file (upstream: `if not cfg: cfg = {}`). */
    {"empty file: defaults", "", 0, "port", 8461, NULL},
    {"comment-only file: defaults", "# nothing\n", 0, "host", 0, "127.0.0.1"},
    {"explicit null document: defaults", "~\n", 0, "cache.type", S, NULL},
    {"default cache: sqlite under the state dir, not upstream's internal", "port: 1\n", 0,
     "cache.filename", 0, MXTLS_STATEDIR "/cache.db"},
    {"default shutdown_timeout 20 s (upstream defaults.py)", "", 0, "shutdown_timeout_ms", 20000,
     NULL},
    {"default cache_grace 60 s (upstream defaults.py)", "", 0, "cache_grace_ms", 60000, NULL},
    {"default proactive interval 86400 s", "", 0, "pf.interval_s", 86400, NULL},
    {"default proactive concurrency_limit 100", "", 0, "pf.concurrency_limit", 100, NULL},
    {"default grace_ratio 2.0", "", 0, "pf.grace_ratio_milli", 2000, NULL},
    {"default zone timeout 4 s", "", 0, "dz.timeout_ms", 4000, NULL},
    {"default require_sni true", "", 0, "dz.require_sni", 1, NULL},
    {"default tlsrpt false: older Postfix rejects the attributes", "", 0, "dz.tlsrpt", 0, NULL},
    {"default dane true", "", 0, "dz.dane", 1, NULL},
    {"default mode unset", "", 0, "mode", -1, NULL},

    /* Listener. */
    {"host taken as written", "host: \"::1\"\n", 0, "host", 0, "::1"},
    {"port 65535 is the maximum", "port: 65535\n", 0, "port", 65535, NULL},
    {"port 0 refused", "port: 0\n", MXTLS_EINVAL, NULL, 0, "t.yml:1: port: 0 is out of range"},
    {"port 65536 refused", "port: 65536\n", MXTLS_EINVAL, NULL, 0, "port: 65536 is out of range"},
    {"port quoted: a string in YAML, refused", "port: \"8461\"\n", MXTLS_EINVAL, NULL, 0,
     "port: expected a number, got a quoted string"},
    {"port with a sign refused (one spelling per number)", "port: +25\n", MXTLS_EINVAL, NULL, 0,
     "is not a decimal integer"},
    {"port with a leading zero refused (YAML 1.1 would read octal)", "port: 025\n", MXTLS_EINVAL,
     NULL, 0, "port: \"025\" is not a decimal integer"},
    {"port as hex refused", "port: 0x1f\n", MXTLS_EINVAL, NULL, 0, "not a decimal integer"},
    {"port overflow refused", "port: 99999999999999999999999\n", MXTLS_EINVAL, NULL, 0,
     "out of range"},
    {"path sets the unix socket", "path: \"/var/run/mta-sts.sock\"\n", 0, "path", 0,
     "/var/run/mta-sts.sock"},
    {"path null: TCP (upstream: cfg.get('path') is None)", "path:\n", 0, "path", 0, NULL},
    {"path with a NUL octet refused", "path: \"/run/a\\0b\"\n", MXTLS_EINVAL, NULL, 0,
     "path: control character 0x00"},
    {"path empty string refused", "path: \"\"\n", MXTLS_EINVAL, NULL, 0, "path: empty string"},
    {"mode 0666 is YAML 1.1 octal (mta-sts-daemon.yml(5))", "mode: 0666\n", 0, "mode", 0666, NULL},
    {"mode 0o660 (YAML 1.2 octal) accepted", "mode: 0o660\n", 0, "mode", 0660, NULL},
    {"mode 438 decimal is what PyYAML hands upstream for 0666", "mode: 438\n", 0, "mode", 0666,
     NULL},
    {"mode 0 allowed", "mode: 0\n", 0, "mode", 0, NULL},
    {"mode 666 without the zero is decimal 01232: refused with a hint", "mode: 666\n", MXTLS_EINVAL,
     NULL, 0, "mode: 666 is read as decimal (01232)"},
    {"mode 0888 is not octal", "mode: 0888\n", MXTLS_EINVAL, NULL, 0, "not an octal file mode"},
    {"mode 01777 above 0777 refused", "mode: 01777\n", MXTLS_EINVAL, NULL, 0, "above 0777"},
    {"mode quoted refused", "mode: \"0666\"\n", MXTLS_EINVAL, NULL, 0,
     "expected an octal file mode"},

    /* YAML 1.1 booleans as PyYAML resolves them. */
    {"bool true", "reuse_port: true\n", 0, "reuse_port", 1, NULL},
    {"bool False (capitalised)", "reuse_port: False\n", 0, "reuse_port", 0, NULL},
    {"bool NO (upper case)", "reuse_port: NO\n", 0, "reuse_port", 0, NULL},
    {"bool yes", "default_zone: {strict_testing: yes}\n", 0, "dz.strict_testing", 1, NULL},
    {"bool On", "default_zone: {strict_testing: On}\n", 0, "dz.strict_testing", 1, NULL},
    {"bool off", "default_zone: {require_sni: off}\n", 0, "dz.require_sni", 0, NULL},
    {"bool tRUE is not YAML 1.1: refused", "reuse_port: tRUE\n", MXTLS_EINVAL, NULL, 0,
     "reuse_port: expected true or false"},
    {"bool y is not a PyYAML boolean: refused", "reuse_port: y\n", MXTLS_EINVAL, NULL, 0,
     "expected true or false"},
    {"bool 1 refused", "reuse_port: 1\n", MXTLS_EINVAL, NULL, 0, "expected true or false"},
    {"bool quoted \"false\" refused (a true string in Python)", "reuse_port: \"false\"\n",
     MXTLS_EINVAL, NULL, 0, "got a quoted string \"false\""},

    /* Durations: decimal seconds, millisecond precision. */
    {"shutdown_timeout fraction", "shutdown_timeout: 2.5\n", 0, "shutdown_timeout_ms", 2500, NULL},
    {"shutdown_timeout 0 allowed: close sessions at once", "shutdown_timeout: 0\n", 0,
     "shutdown_timeout_ms", 0, NULL},
    {"shutdown_timeout 0.0001: below millisecond precision", "shutdown_timeout: 0.0001\n",
     MXTLS_EINVAL, NULL, 0, "is not a decimal number of seconds"},
    {"shutdown_timeout negative refused", "shutdown_timeout: -1\n", MXTLS_EINVAL, NULL, 0,
     "shutdown_timeout: \"-1\" is not a decimal"},
    {"shutdown_timeout exponent refused", "shutdown_timeout: 1e3\n", MXTLS_EINVAL, NULL, 0,
     "not a decimal"},
    {"cache_grace float", "cache_grace: 90.0\n", 0, "cache_grace_ms", 90000, NULL},
    {"cache_grace above a year (RFC 8461 §3.2 max_age) refused", "cache_grace: 31557601\n",
     MXTLS_EINVAL, NULL, 0, "cache_grace: 31557601 is out of range"},
    {"zone timeout 0 refused: timeouts are > 0", "default_zone:\n  timeout: 0\n", MXTLS_EINVAL,
     NULL, 0, "t.yml:2: default_zone.timeout: 0 is out of range"},
    {"zone timeout 3600 s is the maximum", "default_zone: {timeout: 3600}\n", 0, "dz.timeout_ms",
     3600000, NULL},
    {"zone timeout 3600.001 refused", "default_zone: {timeout: 3600.001}\n", MXTLS_EINVAL, NULL, 0,
     "out of range [0.001, 3600.000]"},

    /* proactive_policy_fetching. */
    {"proactive enabled", "proactive_policy_fetching:\n  enabled: true\n", 0, "pf.enabled", 1,
     NULL},
    {"proactive grace_ratio int 3", "proactive_policy_fetching: {grace_ratio: 3}\n", 0,
     "pf.grace_ratio_milli", 3000, NULL},
    {"proactive grace_ratio 1.5", "proactive_policy_fetching: {grace_ratio: 1.5}\n", 0,
     "pf.grace_ratio_milli", 1500, NULL},
    {"proactive grace_ratio 1 refuses: nothing would ever be refreshed",
     "proactive_policy_fetching: {grace_ratio: 1}\n", MXTLS_EINVAL, NULL, 0,
     "proactive_policy_fetching.grace_ratio: 1 is out of range"},
    {"proactive grace_ratio 0 refused (upstream divides by it)",
     "proactive_policy_fetching: {grace_ratio: 0}\n", MXTLS_EINVAL, NULL, 0, "out of range"},
    {"proactive interval 0 refused", "proactive_policy_fetching: {interval: 0}\n", MXTLS_EINVAL,
     NULL, 0, "interval: 0 is out of range"},
    {"proactive concurrency_limit 0 refused", "proactive_policy_fetching: {concurrency_limit: 0}\n",
     MXTLS_EINVAL, NULL, 0, "concurrency_limit: 0 is out of range"},
    {"proactive unknown key", "proactive_policy_fetching:\n  enable: true\n", MXTLS_EINVAL, NULL, 0,
     "t.yml:2: proactive_policy_fetching.enable: unknown key"},

    /* cache. */
    {"cache internal with cache_size", "cache:\n  type: internal\n  options: {cache_size: 5}\n", 0,
     "cache.cache_size", 5, NULL},
    {"cache internal without options: cache_size 10000", "cache:\n  type: internal\n", 0,
     "cache.cache_size", 10000, NULL},
    {"cache type internal recorded", "cache: {type: internal}\n", 0, "cache.type", I, NULL},
    {"cache sqlite filename", "cache:\n  type: sqlite\n  options:\n    filename: /x/c.db\n", 0,
     "cache.filename", 0, "/x/c.db"},
    {"cache sqlite threads", "cache: {type: sqlite, options: {threads: 4}}\n", 0, "cache.threads",
     4, NULL},
    {"cache sqlite timeout float", "cache: {type: sqlite, options: {timeout: 0.5}}\n", 0,
     "cache.timeout_ms", 500, NULL},
    {"cache sqlite without filename: the state dir", "cache: {type: sqlite}\n", 0, "cache.filename",
     0, MXTLS_STATEDIR "/cache.db"},
    {"cache options before type: type still decides",
     "cache:\n  options: {url: \"redis://h/0\"}\n  type: redis\n", 0, "cache.url", 0,
     "redis://h/0"},
    {"cache redis options of the upstream example",
     "cache:\n  type: redis\n  options:\n    url: \"redis://127.0.0.1/0\"\n    max_connections: "
     "25\n    socket_timeout: 1.0\n    socket_connect_timeout: 1.0\n",
     0, "cache.socket_timeout_ms", 1000, NULL},
    {"cache redis password",
     "cache: {type: redis, options: {url: 'unix:///r.sock', password: pw}}\n", 0, "cache.password",
     0, "pw"},
    {"cache redis db", "cache: {type: redis, options: {url: 'redis://h', db: 3}}\n", 0, "cache.db",
     3, NULL},
    {"cache redis needs url (upstream reads opts['url'])", "cache: {type: redis}\n", MXTLS_EINVAL,
     NULL, 0, "cache.options: cache type redis needs options.url"},
    {"cache redis url scheme checked", "cache: {type: redis, options: {url: 'http://h'}}\n",
     MXTLS_EINVAL, NULL, 0, "cache.options.url: expected a redis://"},
    {"cache redis rediss:// refused: no TLS, never in the clear instead",
     "cache: {type: redis, options: {url: 'rediss://h:6380/0'}}\n", MXTLS_EINVAL, NULL, 0,
     "cache.options.url: rediss:// (TLS to Redis) is not supported by mxtlsd"},
    {"cache redis option mxtlsd lacks is named",
     "cache:\n  type: redis\n  options:\n    url: redis://h\n    health_check_interval: 3\n",
     MXTLS_EINVAL, NULL, 0,
     "t.yml:5: cache.options.health_check_interval: redis option not supported"},
    {"cache postgres recognised and refused with one clear error",
     "cache:\n  type: postgres\n  options:\n    dsn: postgres://user@%2Frun%2Fpostgresql/user\n",
     MXTLS_EINVAL, NULL, 0,
     "t.yml:2: cache.type: cache type postgres is not supported by mxtlsd; use sqlite, internal, "
     "redis or redis_sentinel"},

    /* redis_sentinel (upstream 1.4): the redis backend, master found through Sentinel. */
    {"cache redis_sentinel: upstream's example (type last, [host, port] pairs)",
     "cache:\n  options:\n    sentinel_master_name: \"mymaster\"\n    sentinels:\n"
     "      - [\"sentinel1\", 26379]\n      - [\"sentinel2\", 26379]\n"
     "      - [\"sentinel3\", 26379]\n    password: \"StrongPassword\"\n"
     "    max_connections: 25\n    socket_timeout: 1.0\n    socket_connect_timeout: 1.0\n"
     "  type: redis_sentinel\n",
     0, "cache.sentinels", 0, "sentinel1:26379 sentinel2:26379 sentinel3:26379"},
    {"cache redis_sentinel is the redis backend",
     "cache: {type: redis_sentinel, options: {sentinels: [[s1, 26379]], "
     "sentinel_master_name: m}}\n",
     0, "cache.type", R, NULL},
    {"cache redis_sentinel master name stored",
     "cache: {type: redis_sentinel, options: {sentinels: [[s1, 26379]], "
     "sentinel_master_name: mymaster}}\n",
     0, "cache.sentinel_master_name", 0, "mymaster"},
    {"cache redis_sentinel without url: none (it is optional)",
     "cache: {type: redis_sentinel, options: {sentinels: [[s1, 26379]], "
     "sentinel_master_name: m}}\n",
     0, "cache.url", 0, NULL},
    {"cache redis_sentinel url kept for db and credentials",
     "cache: {type: redis_sentinel, options: {sentinels: [[s1, 26379]], "
     "sentinel_master_name: m, url: 'redis://:pw@x/2', db: 3}}\n",
     0, "cache.url", 0, "redis://:pw@x/2"},
    {"cache redis_sentinel db option",
     "cache: {type: redis_sentinel, options: {sentinels: [[s1, 26379]], "
     "sentinel_master_name: m, db: 3, username: u}}\n",
     0, "cache.db", 3, NULL},
    {"cache redis_sentinel socket_timeout",
     "cache: {type: redis_sentinel, options: {sentinels: [[s1, 26379]], "
     "sentinel_master_name: m, socket_timeout: 0.25}}\n",
     0, "cache.socket_timeout_ms", 250, NULL},
    {"cache redis_sentinel \"host:port\" strings, IPv4, IPv6 and names normalised",
     "cache:\n  type: redis_sentinel\n  options:\n    sentinel_master_name: m\n    sentinels:\n"
     "      - 10.0.0.1:26379\n      - \"[2001:DB8:0:0::1]:26380\"\n      - S2.Example.NET:1\n"
     "      - [\"::1\", 65535]\n      - [\"[fe80::2]\", 26379]\n      - [127.0.0.1, 26379]\n",
     0, "cache.sentinels", 0,
     "10.0.0.1:26379 [2001:db8::1]:26380 s2.example.net:1 [::1]:65535 [fe80::2]:26379 "
     "127.0.0.1:26379"},
    {"cache redis_sentinel count",
     "cache:\n  type: redis_sentinel\n  options:\n"
     "    sentinel_master_name: m\n    sentinels: [a:1, b:2, [c, 3]]\n",
     0, "cache.n_sentinels", 3, NULL},
    {"cache redis_sentinel needs sentinels",
     "cache:\n  type: redis_sentinel\n  options:\n    sentinel_master_name: m\n", MXTLS_EINVAL,
     NULL, 0,
     "t.yml:2: cache.options: cache type redis_sentinel needs options.sentinels, a list of "
     "[host, port]"},
    {"cache redis_sentinel null sentinels is missing",
     "cache:\n  type: redis_sentinel\n  options:\n    sentinel_master_name: m\n    sentinels:\n",
     MXTLS_EINVAL, NULL, 0, "cache type redis_sentinel needs options.sentinels"},
    {"cache redis_sentinel needs the master name",
     "cache:\n  type: redis_sentinel\n  options:\n    sentinels:\n      - [s1, 26379]\n",
     MXTLS_EINVAL, NULL, 0,
     "t.yml:2: cache.options: cache type redis_sentinel needs options.sentinel_master_name"},
    {"cache redis_sentinel empty master name",
     "cache: {type: redis_sentinel, options: {sentinels: [[s1, 1]], sentinel_master_name: ''}}\n",
     MXTLS_EINVAL, NULL, 0, "cache.options.sentinel_master_name: empty string"},
    {"cache redis_sentinel master name with a space",
     "cache:\n  type: redis_sentinel\n  options:\n    sentinels: [[s1, 1]]\n"
     "    sentinel_master_name: my master\n",
     MXTLS_EINVAL, NULL, 0,
     "t.yml:5: cache.options.sentinel_master_name: a Sentinel master name has no spaces"},
    {"cache redis_sentinel master name with a tab",
     "cache: {type: redis_sentinel, options: {sentinels: [[s1, 1]], "
     "sentinel_master_name: \"a\\tb\"}}\n",
     MXTLS_EINVAL, NULL, 0, "cache.options.sentinel_master_name: control character 0x09"},
    {"cache redis_sentinel master name over 256 octets",
     "cache: {type: redis_sentinel, options: {sentinels: [[s1, 1]], sentinel_master_name: "
     "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm"
     "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm"
     "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm}}\n",
     MXTLS_ETOOLONG, NULL, 0, "cache.options.sentinel_master_name: longer than 256 octets"},
    {"cache redis_sentinel port 0",
     "cache:\n  type: redis_sentinel\n  options:\n    sentinel_master_name: m\n    sentinels:\n"
     "      - [s1, 26379]\n      - [s2, 0]\n",
     MXTLS_EINVAL, NULL, 0,
     "t.yml:7: cache.options.sentinels[1]: port \"0\" is not a number in [1, 65535]"},
    {"cache redis_sentinel port 65536",
     "cache: {type: redis_sentinel, options: {sentinel_master_name: m, sentinels: [s1:65536]}}\n",
     MXTLS_EINVAL, NULL, 0, "cache.options.sentinels[0]: port \"65536\" is not a number"},
    {"cache redis_sentinel port quoted in the pair form",
     "cache: {type: redis_sentinel, options: {sentinel_master_name: m, "
     "sentinels: [[s1, \"26379\"]]}}\n",
     MXTLS_EINVAL, NULL, 0, "cache.options.sentinels[0]: expected a port number, got a quoted"},
    {"cache redis_sentinel port missing in the string form",
     "cache: {type: redis_sentinel, options: {sentinel_master_name: m, sentinels: [s1]}}\n",
     MXTLS_EINVAL, NULL, 0,
     "cache.options.sentinels[0]: expected \"host:port\" or [host, port], got \"s1\" (no port)"},
    {"cache redis_sentinel bare IPv6 in the string form",
     "cache: {type: redis_sentinel, options: {sentinel_master_name: m, "
     "sentinels: [\"::1:26379\"]}}\n",
     MXTLS_EINVAL, NULL, 0, "an IPv6 address is written \"[addr]:port\""},
    {"cache redis_sentinel bad IPv6",
     "cache: {type: redis_sentinel, options: {sentinel_master_name: m, "
     "sentinels: [\"[fe80::1%eth0]:26379\"]}}\n",
     MXTLS_EINVAL, NULL, 0, "host has a colon but is not an IPv6 address"},
    {"cache redis_sentinel bad IPv4",
     "cache: {type: redis_sentinel, options: {sentinel_master_name: m, "
     "sentinels: [[10.0.0.256, 1]]}}\n",
     MXTLS_EINVAL, NULL, 0, "host is all digits and dots but not an IPv4 address"},
    {"cache redis_sentinel host with a space",
     "cache: {type: redis_sentinel, options: {sentinel_master_name: m, "
     "sentinels: [[\"a b\", 1]]}}\n",
     MXTLS_EINVAL, NULL, 0, "host is not a DNS name, an IPv4 address or an IPv6 address"},
    {"cache redis_sentinel pair of three",
     "cache: {type: redis_sentinel, options: {sentinel_master_name: m, "
     "sentinels: [[s1, 1, 2]]}}\n",
     MXTLS_EINVAL, NULL, 0, "expected [host, port], got a list of 3 items"},
    {"cache redis_sentinel entry a mapping",
     "cache: {type: redis_sentinel, options: {sentinel_master_name: m, "
     "sentinels: [{host: s1, port: 1}]}}\n",
     MXTLS_EINVAL, NULL, 0, "expected [host, port] or \"host:port\", got a mapping"},
    {"cache redis_sentinel sentinels not a list",
     "cache: {type: redis_sentinel, options: {sentinel_master_name: m, sentinels: s1:1}}\n",
     MXTLS_EINVAL, NULL, 0,
     "cache.options.sentinels: expected a list of sentinels ([host, port] or \"host:port\"), got "
     "a plain scalar"},
    {"cache redis_sentinel empty list",
     "cache:\n  type: redis_sentinel\n  options:\n    sentinel_master_name: m\n    sentinels: []\n",
     MXTLS_EINVAL, NULL, 0, "t.yml:5: cache.options.sentinels: empty list: name 1 to 16 sentinels"},
    {"cache redis_sentinel 16 sentinels",
     "cache: {type: redis_sentinel, options: {sentinel_master_name: m, sentinels: [a:1, a:2, a:3, "
     "a:4, a:5, a:6, a:7, a:8, a:9, a:10, a:11, a:12, a:13, a:14, a:15, a:16]}}\n",
     0, "cache.n_sentinels", 16, NULL},
    {"cache redis_sentinel 17 sentinels refused",
     "cache: {type: redis_sentinel, options: {sentinel_master_name: m, sentinels: [a:1, a:2, a:3, "
     "a:4, a:5, a:6, a:7, a:8, a:9, a:10, a:11, a:12, a:13, a:14, a:15, a:16, a:17]}}\n",
     MXTLS_ETOOLONG, NULL, 0, "cache.options.sentinels: 17 sentinels, at most 16"},
    {"cache redis_sentinel the same sentinel twice",
     "cache:\n  type: redis_sentinel\n  options:\n    sentinel_master_name: m\n    sentinels:\n"
     "      - S1:26379\n      - [s1, 26379]\n",
     MXTLS_EINVAL, NULL, 0,
     "t.yml:7: cache.options.sentinels[1]: sentinel s1:26379 listed twice (first at line 6)"},
    {"cache redis_sentinel url scheme still checked",
     "cache: {type: redis_sentinel, options: {sentinels: [[s1, 1]], sentinel_master_name: m, "
     "url: 'http://h'}}\n",
     MXTLS_EINVAL, NULL, 0, "cache.options.url: expected a redis://"},
    {"cache redis_sentinel unix:// url refused: the sentinels give the address",
     "cache: {type: redis_sentinel, options: {sentinels: [[s1, 1]], sentinel_master_name: m, "
     "url: 'unix:///r.sock'}}\n",
     MXTLS_EINVAL, NULL, 0, "cache.options.url: a unix:// URL with redis_sentinel"},
    {"cache redis_sentinel unknown option named",
     "cache: {type: redis_sentinel, options: {sentinels: [[s1, 1]], sentinel_master_name: m, "
     "sentinel_kwargs: {}}}\n",
     MXTLS_EINVAL, NULL, 0,
     "cache.options.sentinel_kwargs: redis_sentinel option not supported by mxtlsd (it takes "
     "sentinels, sentinel_master_name, url,"},
    {"cache sentinels under type redis point to redis_sentinel",
     "cache:\n  type: redis\n  options:\n    url: redis://h\n    sentinels: [[s1, 26379]]\n",
     MXTLS_EINVAL, NULL, 0,
     "t.yml:5: cache.options.sentinels: not an option of cache type redis: for a master found "
     "through Sentinel use type redis_sentinel"},
    {"cache sentinel_master_name under type redis points to redis_sentinel",
     "cache: {type: redis, options: {url: 'redis://h', sentinel_master_name: m}}\n", MXTLS_EINVAL,
     NULL, 0,
     "cache.options.sentinel_master_name: not an option of cache type redis: for a master"},
    {"cache sentinels under sqlite", "cache: {type: sqlite, options: {sentinels: [[s1, 1]]}}\n",
     MXTLS_EINVAL, NULL, 0,
     "cache.options.sentinels: not an option of cache type sqlite (it is for redis_sentinel)"},
    {"cache url under sqlite names both redis types",
     "cache: {type: sqlite, options: {url: 'redis://h'}}\n", MXTLS_EINVAL, NULL, 0,
     "cache.options.url: not an option of cache type sqlite (it is for redis and redis_sentinel)"},
    {"cache redis without sentinels: none", "cache: {type: redis, options: {url: 'redis://h'}}\n",
     0, "cache.n_sentinels", 0, NULL},
    {"cache section without type: upstream's default internal",
     "cache:\n  options: {cache_size: 7}\n", 0, "cache.cache_size", 7, NULL},
    {"cache section empty: internal (upstream default)", "cache: {}\n", 0, "cache.type", I, NULL},
    {"cache unknown type", "cache: {type: memcached}\n", MXTLS_EINVAL, NULL, 0,
     "cache.type: unknown cache type \"memcached\""},
    {"cache option of another type named",
     "cache:\n  type: sqlite\n  options:\n    cache_size: 10\n", MXTLS_EINVAL, NULL, 0,
     "t.yml:4: cache.options.cache_size: not an option of cache type sqlite (it is for "
     "internal)"},
    {"cache unknown sub-key", "cache:\n  kind: sqlite\n", MXTLS_EINVAL, NULL, 0,
     "cache.kind: unknown key"},
    {"cache option unknown for sqlite", "cache: {type: sqlite, options: {file: x}}\n", MXTLS_EINVAL,
     NULL, 0, "cache.options.file: unknown key"},
    {"cache_size 0 refused", "cache: {type: internal, options: {cache_size: 0}}\n", MXTLS_EINVAL,
     NULL, 0, "cache_size: 0 is out of range"},

    /* Zones: a mapping of socketmap map name to settings. */
    {"zones: one named zone", "zones:\n  postfix:\n    strict_testing: true\n", 0, "z0.name", 0,
     "postfix"},
    {"zone strict_testing parsed", "zones:\n  postfix:\n    strict_testing: true\n", 0,
     "z0.strict_testing", 1, NULL},
    {"zone omits timeout: built-in 4 s, not default_zone's (upstream populate_zone)",
     "default_zone: {timeout: 9}\nzones:\n  z: {strict_testing: true}\n", 0, "z0.timeout_ms", 4000,
     NULL},
    {"zone dane false", "zones: {z: {dane: false}}\n", 0, "z0.dane", 0, NULL},
    {"zone tlsrpt true", "zones: {z: {tlsrpt: on}}\n", 0, "z0.tlsrpt", 1, NULL},
    {"zone with null body: all defaults", "zones:\n  z:\n", 0, "z0.timeout_ms", 4000, NULL},
    {"zones null: none", "zones:\n", 0, "nzones", 0, NULL},
    {"zones empty mapping: none", "zones: {}\n", 0, "nzones", 0, NULL},
    {"zone key typo names the path and line",
     "zones:\n  myzone:\n    strict_testing: false\n    timout: 4\n", MXTLS_EINVAL, NULL, 0,
     "t.yml:4: zones.myzone.timout: unknown key"},
    {"zone bad value names the path and line", "zones:\n  myzone:\n    timeout: fast\n",
     MXTLS_EINVAL, NULL, 0, "t.yml:3: zones.myzone.timeout: \"fast\" is not a decimal"},
    {"zone name with a space can never match a socketmap request", "zones:\n  'my zone': {}\n",
     MXTLS_EINVAL, NULL, 0, "zones.my zone: zone name has octet 0x20"},
    {"zone name non-ASCII refused (upstream decodes requests as ASCII)",
     "zones:\n  \"z\xc3\xa9\": {}\n", MXTLS_EINVAL, NULL, 0, "zone name has octet 0xc3"},
    {"zone name 65 octets refused",
     "zones:\n  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: {}\n",
     MXTLS_ETOOLONG, NULL, 0, "zone name longer than 64"},
    {"zone duplicated refused", "zones:\n  a: {}\n  b: {}\n  a: {}\n", MXTLS_EINVAL, NULL, 0,
     "t.yml:4: zones.a: duplicate key (first at line 2)"},
    {"zones as a list refused", "zones:\n  - a\n", MXTLS_EINVAL, NULL, 0,
     "zones: expected a mapping of keys, got a list"},

    /* mxtls keys. */
    {"resolver.unbound_config", "resolver:\n  unbound_config: /etc/mxtls/unbound.conf\n", 0,
     "unbound_config", 0, "/etc/mxtls/unbound.conf"},
    {"resolver.trust_anchor_file", "resolver: {trust_anchor_file: /k.key}\n", 0,
     "trust_anchor_file", 0, "/k.key"},
    {"https.ca_file", "https: {ca_file: /ca.pem}\n", 0, "ca_file", 0, "/ca.pem"},
    {"https.ca_file unset: the system store", "", 0, "ca_file", 0, NULL},
    {"resolver unknown key", "resolver: {forwarder: 1.1.1.1}\n", MXTLS_EINVAL, NULL, 0,
     "resolver.forwarder: unknown key"},

    /* Issue 17: limits are keys with sane defaults (mxtlsd(8) LIMITS). */
    {"resolver sized for a server: outgoing_range 1024, not libunbound's 16", "", 0,
     "ub.outgoing_range", 1024, NULL},
    {"default outgoing_num_tcp 10, not libunbound's 2", "", 0, "ub.outgoing_num_tcp", 10, NULL},
    {"default num_queries_per_thread 1024", "", 0, "ub.num_queries_per_thread", 1024, NULL},
    {"default msg_cache_size 4 MiB", "", 0, "ub.msg_cache_size", 4194304, NULL},
    {"default rrset_cache_size 8 MiB", "", 0, "ub.rrset_cache_size", 8388608, NULL},
    {"default key_cache_size 2 MiB", "", 0, "ub.key_cache_size", 2097152, NULL},
    {"default neg_cache_size 1 MiB", "", 0, "ub.neg_cache_size", 1048576, NULL},
    {"default infra_cache_numhosts 10000", "", 0, "ub.infra_cache_numhosts", 10000, NULL},
    {"resolver.outgoing_range set", "resolver: {outgoing_range: 4096}\n", 0, "ub.outgoing_range",
     4096, NULL},
    {"resolver.outgoing_range below 16 refused", "resolver: {outgoing_range: 8}\n", MXTLS_EINVAL,
     NULL, 0, "resolver.outgoing_range: 8 is out of range [16, 65536]"},
    {"resolver.num_queries_per_thread set", "resolver: {num_queries_per_thread: 2048}\n", 0,
     "ub.num_queries_per_thread", 2048, NULL},
    {"resolver.msg_cache_size set in bytes", "resolver: {msg_cache_size: 16777216}\n", 0,
     "ub.msg_cache_size", 16777216, NULL},
    {"resolver.msg_cache_size with a unit suffix refused (bytes only)",
     "resolver: {msg_cache_size: 4m}\n", MXTLS_EINVAL, NULL, 0, "is not a decimal integer"},
    {"resolver.infra_cache_numhosts set", "resolver: {infra_cache_numhosts: 50000}\n", 0,
     "ub.infra_cache_numhosts", 50000, NULL},
    {"default max_connections 1000", "", 0, "max_connections", 1000, NULL},
    {"max_connections set", "max_connections: 200\n", 0, "max_connections", 200, NULL},
    {"max_connections 0 refused", "max_connections: 0\n", MXTLS_EINVAL, NULL, 0,
     "max_connections: 0 is out of range"},
    {"default request_timeout 10 s from the first byte", "", 0, "request_timeout_ms", 10000, NULL},
    {"request_timeout in seconds, fractions allowed", "request_timeout: 2.5\n", 0,
     "request_timeout_ms", 2500, NULL},
    {"request_timeout below 0.1 s refused", "request_timeout: 0.05\n", MXTLS_EINVAL, NULL, 0,
     "request_timeout: 0.05 is out of range"},
    {"default output_high_water 64 KiB", "", 0, "output_high_water", 65536, NULL},
    {"output_high_water set", "output_high_water: 4096\n", 0, "output_high_water", 4096, NULL},
    {"output_high_water below one reply refused", "output_high_water: 100\n", MXTLS_EINVAL, NULL, 0,
     "output_high_water: 100 is out of range"},
    {"default sts_resolver_failure_temp 600 s", "", 0, "sts_resolver_failure_temp_s", 600, NULL},
    {"sts_resolver_failure_temp 0 turns it off", "sts_resolver_failure_temp: 0\n", 0,
     "sts_resolver_failure_temp_s", 0, NULL},
    {"sts_resolver_failure_temp above a day refused", "sts_resolver_failure_temp: 86401\n",
     MXTLS_EINVAL, NULL, 0, "is out of range [0, 86400]"},
    {"default store_queue_max 100000", "", 0, "store_queue_max", 100000, NULL},
    {"store_queue_max set", "store_queue_max: 500\n", 0, "store_queue_max", 500, NULL},
    {"default store_lag_warning 5 s", "", 0, "store_lag_warning_ms", 5000, NULL},
    {"store_lag_warning in seconds", "store_lag_warning: 1.5\n", 0, "store_lag_warning_ms", 1500,
     NULL},

    /* issue 18: the control socket and explain_on_policy_port. */
    {"a file without control has no control socket (daemons side by side)", "port: 1\n", 0,
     "control.path", 0, NULL},
    {"control.path sets the control socket", "control: {path: /run/m/c.sock}\n", 0, "control.path",
     0, "/run/m/c.sock"},
    {"control.mode defaults to 0600", "control: {path: /run/m/c.sock}\n", 0, "control.mode", 0600,
     NULL},
    {"control.mode set (octal)", "control: {path: /run/m/c.sock, mode: 0660}\n", 0, "control.mode",
     0660, NULL},
    {"control.port alone: host 127.0.0.1", "control: {port: 8462}\n", 0, "control.host", 0,
     "127.0.0.1"},
    {"control.host 127.0.0.2 and port", "control: {host: 127.0.0.2, port: 8462}\n", 0,
     "control.port", 8462, NULL},
    {"control.host ::1 accepted", "control: {host: \"::1\", port: 8462}\n", 0, "control.host", 0,
     "::1"},
    {"control.host 0.0.0.0 refused: not loopback", "control: {host: 0.0.0.0, port: 8462}\n",
     MXTLS_EINVAL, NULL, 0, "control.host: 0.0.0.0 is not a loopback address"},
    {"control.host 192.0.2.1 refused", "control: {host: 192.0.2.1, port: 8462}\n", MXTLS_EINVAL,
     NULL, 0, "is not a loopback address"},
    {"control.host a name refused (only numeric loopback)",
     "control: {host: localhost, port: 8462}\n", MXTLS_EINVAL, NULL, 0,
     "is not a loopback address"},
    {"control.host without a port refused", "control: {host: 127.0.0.1}\n", MXTLS_EINVAL, NULL, 0,
     "control: name a path, or a port"},
    {"control path and port refused", "control: {path: /run/c.sock, port: 8462}\n", MXTLS_EINVAL,
     NULL, 0, "not both"},
    {"control unknown key refused", "control: {verbs: all}\n", MXTLS_EINVAL, NULL, 0,
     "control.verbs: unknown key"},
    {"control.path too long refused",
     "control: {path: /" /* 108 octets */
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaa}\n",
     MXTLS_ETOOLONG, NULL, 0, "control.path: longer than 107 octets"},
    {"default explain_on_policy_port false", "", 0, "explain_on_policy_port", 0, NULL},
    {"explain_on_policy_port true", "explain_on_policy_port: true\n", 0, "explain_on_policy_port",
     1, NULL},
    {"explain_on_policy_port not a bool refused", "explain_on_policy_port: 1\n", MXTLS_EINVAL, NULL,
     0, "expected true or false"},

    /* issue 16: the metrics listener, loopback only, off by default. */
    {"metrics off by default", "port: 1\n", 0, "metrics.port", 0, NULL},
    {"metrics.port alone: host 127.0.0.1", "metrics: {port: 9461}\n", 0, "metrics.host", 0,
     "127.0.0.1"},
    {"metrics.host ::1 and port", "metrics: {host: \"::1\", port: 9461}\n", 0, "metrics.port", 9461,
     NULL},
    {"metrics.host 0.0.0.0 refused: not loopback", "metrics: {host: 0.0.0.0, port: 9461}\n",
     MXTLS_EINVAL, NULL, 0, "metrics.host: 0.0.0.0 is not a loopback address"},
    {"metrics.host a name refused", "metrics: {host: localhost, port: 9461}\n", MXTLS_EINVAL, NULL,
     0, "not a loopback address"},
    {"metrics without a port refused", "metrics: {host: 127.0.0.1}\n", MXTLS_EINVAL, NULL, 0,
     "metrics: name a port"},
    {"metrics.port 0 refused", "metrics: {port: 0}\n", MXTLS_EINVAL, NULL, 0, "metrics.port"},
    {"metrics unknown key refused", "metrics: {path: /run/m.sock}\n", MXTLS_EINVAL, NULL, 0,
     "metrics.path: unknown key"},

    /* Unknown, misplaced, duplicated, structural. */
    {"unknown top-level key names key and line", "port: 1\nfoo: bar\n", MXTLS_EINVAL, NULL, 0,
     "t.yml:2: foo: unknown key"},
    {"zone key at the top level: say where it goes", "strict_testing: true\n", MXTLS_EINVAL, NULL,
     0, "strict_testing: a zone setting: put it under default_zone or zones.NAME"},
    {"top-level tlsrpt (upstream example comment) is per zone", "tlsrpt: true\n", MXTLS_EINVAL,
     NULL, 0, "tlsrpt: a zone setting"},
    {"duplicate top-level key refused", "port: 1\nport: 2\n", MXTLS_EINVAL, NULL, 0,
     "t.yml:2: port: duplicate key (first at line 1)"},
    {"top level a list refused", "- port\n", MXTLS_EINVAL, NULL, 0,
     "t.yml:1: the configuration must be a mapping"},
    {"top level a scalar refused", "port\n", MXTLS_EINVAL, NULL, 0, "must be a mapping"},
    {"complex key refused", "? [a, b]\n: 1\n", MXTLS_EINVAL, NULL, 0,
     "a key must be a plain name, got a list"},
    {"alias refused (billion laughs)", "default_zone: &d {timeout: 4}\nzones: {a: *d}\n",
     MXTLS_EINVAL, NULL, 0, "t.yml:2: YAML aliases"},
    {"explicit tag refused", "port: !!int 25\n", MXTLS_EINVAL, NULL, 0, "YAML tags"},
    {"python tag refused", "port: !!python/object:os.system x\n", MXTLS_EINVAL, NULL, 0,
     "YAML tags"},
    {"two documents refused", "port: 1\n---\nport: 2\n", MXTLS_EINVAL, NULL, 0,
     "t.yml:2: more than one YAML document"},
    {"YAML syntax error has a line", "port: 1\nhost: [\n", MXTLS_EINVAL, NULL, 0, "YAML syntax"},
    {"tab indentation is a YAML syntax error", "cache:\n\ttype: sqlite\n", MXTLS_EINVAL, NULL, 0,
     "t.yml:2: YAML syntax"},
    {"nesting of 17 levels refused", "a: [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]\n", MXTLS_ETOOLONG, NULL,
     0, "nested deeper than 16"},
    {"nesting of 16 levels reaches the schema check", "a: [[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]\n",
     MXTLS_EINVAL, NULL, 0, "a: unknown key"},
    {"man page example loads (mta-sts-daemon.yml(5))",
     "host: 127.0.0.1\nport: 8461\nreuse_port: true\nshutdown_timeout: 20\n"
     "proactive_policy_fetching:\n  enabled: true\n  interval: 86400\n  concurrency_limit: 100\n"
     "  grace_ratio: 2\ncache:\n  type: internal\n  options:\n    cache_size: 10000\n"
     "default_zone:\n  strict_testing: false\n  timeout: 4\nzones:\n  myzone:\n"
     "    strict_testing: false\n    timeout: 4\n",
     0, "pf.enabled", 1, NULL},
};

static void test_load(void **state)
{
    const struct load_case *c = *state;
    struct mxtls_config cfg;
    struct mxtls_diag diag = {0};
    int err = config_load_buffer(c->yaml, strlen(c->yaml), "t.yml", &cfg, &diag);

    if (err != c->err)
        fail_msg("returned %d, want %d (%s)", err, c->err, diag.what);
    if (c->err != 0) {
        if (strstr(diag.what, c->want_s) == NULL)
            fail_msg("diag \"%s\" lacks \"%s\"", diag.what, c->want_s);
        /* a failed load leaves the defaults */
        assert_int_equal(cfg.port, 8461);
        assert_int_equal(cfg.nzones, 0);
    } else {
        int known;
        const char *s = get_str(&cfg, c->field, &known);

        if (known && c->want_s == NULL)
            assert_null(s);
        else if (known)
            assert_string_equal(s, c->want_s);
        else
            assert_int_equal(get_int(&cfg, c->field), c->want);
    }
    config_finish(&cfg);
}

/* load_fixture - config_load_file on a file of tests/unit/data/config */
static void load_fixture(const char *file, struct mxtls_config *cfg)
{
    char path[512];
    struct mxtls_diag diag = {0};
    int err;

    snprintf(path, sizeof(path), "%s/%s", CONFIG_DATA_DIR, file);
    err = config_load_file(path, cfg, &diag);
    if (err != 0)
        fail_msg("%s: %d %s", path, err, diag.what);
}

/* The Debian package's /etc/mta-sts-daemon.yml loads unmodified. */
static void test_debian_file(void **state)
{
    struct mxtls_config cfg;

    (void)state;
    load_fixture("debian-mta-sts-daemon.yml", &cfg);
    assert_int_equal(cfg.cache.type, CONFIG_CACHE_SQLITE);
    assert_string_equal(cfg.cache.filename, "/var/lib/mta-sts/cache.db");
    assert_string_equal(cfg.host, "127.0.0.1");
    assert_int_equal(cfg.port, 8461);
    assert_true(cfg.reuse_port);
    assert_int_equal(cfg.shutdown_timeout_ms, 20000);
    assert_int_equal(cfg.default_zone.timeout_ms, 4000);
    assert_false(cfg.default_zone.strict_testing);
    assert_int_equal(cfg.nzones, 0);
    config_finish(&cfg);
}

/* The package's examples (sqlite, internal, redis, unix socket) load too. */
static void test_upstream_examples(void **state)
{
    struct mxtls_config cfg;

    (void)state;
    load_fixture("upstream-sqlite.yml", &cfg);
    assert_int_equal(cfg.nzones, 1);
    assert_string_equal(cfg.zones[0].name, "myzone");
    assert_int_equal(cfg.zones[0].opts.timeout_ms, 4000);
    config_finish(&cfg);

    load_fixture("upstream-internal.yml", &cfg);
    assert_int_equal(cfg.cache.type, CONFIG_CACHE_INTERNAL);
    assert_int_equal(cfg.cache.cache_size, 10000);
    config_finish(&cfg);

    load_fixture("upstream-redis.yml", &cfg);
    assert_int_equal(cfg.cache.type, CONFIG_CACHE_REDIS);
    assert_string_equal(cfg.cache.url, "redis://127.0.0.1/0");
    assert_int_equal(cfg.cache.max_connections, 25);
    assert_int_equal(cfg.cache.socket_connect_timeout_ms, 1000);
    config_finish(&cfg);

    load_fixture("upstream-sqlite_unixsock.yml", &cfg);
    assert_string_equal(cfg.path, "/var/run/mta-sts.sock");
    assert_int_equal(cfg.mode, 0666);
    config_finish(&cfg);
}

/* Zone selection is by exact socketmap map name, else default_zone. */
static void test_zone_for(void **state)
{
    static const char y[] = "default_zone: {strict_testing: true}\n"
                            "zones:\n  postfix: {timeout: 7}\n  other: {dane: false}\n";
    struct mxtls_config cfg;

    (void)state;
    assert_int_equal(config_load_buffer(y, strlen(y), NULL, &cfg, NULL), 0);
    assert_int_equal(config_zone_for(&cfg, "postfix", 7)->timeout_ms, 7000);
    assert_false(config_zone_for(&cfg, "other", 5)->dane);
    /* case-sensitive, as a Python dict lookup is */
    assert_ptr_equal(config_zone_for(&cfg, "Postfix", 7), &cfg.default_zone);
    /* a prefix is not a match; only len octets are compared */
    assert_ptr_equal(config_zone_for(&cfg, "post", 4), &cfg.default_zone);
    assert_int_equal(config_zone_for(&cfg, "postfixXYZ", 7)->timeout_ms, 7000);
    assert_true(config_zone_for(&cfg, "unknown", 7)->strict_testing);
    assert_ptr_equal(config_zone_for(&cfg, NULL, 0), &cfg.default_zone);
    config_finish(&cfg);
}

/* Embedded default: SQLite under the state directory, TCP 127.0.0.1:8461. */
static void test_defaults(void **state)
{
    struct mxtls_config cfg;

    (void)state;
    assert_int_equal(config_init_defaults(&cfg), 0);
    /* Without a file the control socket is on (issue 18), explain on Postfix's port off. */
    assert_string_equal(cfg.control.path, CONFIG_CONTROL_DEFAULT_PATH);
    assert_int_equal(cfg.control.mode, 0600);
    assert_null(cfg.control.host);
    assert_false(cfg.explain_on_policy_port);
    assert_string_equal(cfg.host, "127.0.0.1");
    assert_int_equal(cfg.port, 8461);
    assert_null(cfg.path);
    assert_int_equal(cfg.cache.type, CONFIG_CACHE_SQLITE);
    assert_string_equal(cfg.cache.filename, MXTLS_STATEDIR "/cache.db");
    assert_string_equal(config_cache_type_name(cfg.cache.type), "sqlite");
    config_finish(&cfg);
    config_finish(NULL);
}

/* At most CONFIG_MAX_ZONES zones: 1024 load, 1025 do not. */
static void test_zone_count(void **state)
{
    size_t cap = 16 + (CONFIG_MAX_ZONES + 1) * 16, n, i, pos;
    char *y = malloc(cap);
    struct mxtls_config cfg;
    struct mxtls_diag diag = {0};

    (void)state;
    assert_non_null(y);
    for (n = CONFIG_MAX_ZONES; n <= CONFIG_MAX_ZONES + 1; n++) {
        pos = (size_t)snprintf(y, cap, "zones:\n");
        for (i = 0; i < n; i++)
            pos += (size_t)snprintf(y + pos, cap - pos, "  z%zu: {}\n", i);
        if (n == CONFIG_MAX_ZONES) {
            assert_int_equal(config_load_buffer(y, pos, "t", &cfg, &diag), 0);
            assert_int_equal(cfg.nzones, CONFIG_MAX_ZONES);
            assert_string_equal(cfg.zones[1023].name, "z1023");
        } else {
            assert_int_equal(config_load_buffer(y, pos, "t", &cfg, &diag), MXTLS_ETOOLONG);
            assert_non_null(
                strstr(diag.what, "t:2: zones: 1025 keys in one mapping, at most 1024"));
        }
        config_finish(&cfg);
    }
    free(y);
}

/* Input caps: 1 MiB; bytes past len are never read; NUL octets refused. */
static void test_input_bounds(void **state)
{
    char *big = malloc(CONFIG_MAX_BYTES + 1);
    struct mxtls_config cfg;
    struct mxtls_diag diag = {0};

    (void)state;
    assert_non_null(big);
    memset(big, '#', CONFIG_MAX_BYTES + 1);
    assert_int_equal(config_load_buffer(big, CONFIG_MAX_BYTES + 1, "t", &cfg, &diag),
                     MXTLS_ETOOLONG);
    config_finish(&cfg);
    /* exactly 1 MiB of comment is an empty configuration */
    assert_int_equal(config_load_buffer(big, CONFIG_MAX_BYTES, "t", &cfg, &diag), 0);
    config_finish(&cfg);
    free(big);

    /* "port: 25" followed by garbage that len excludes */
    assert_int_equal(config_load_buffer("port: 25\n]]]", 9, "t", &cfg, &diag), 0);
    assert_int_equal(cfg.port, 25);
    config_finish(&cfg);
    assert_int_equal(config_load_buffer("port: 25\n\0x: 1\n", 15, "t", &cfg, &diag), MXTLS_EINVAL);
    config_finish(&cfg);
}

/* The unix socket path fits sockaddr_un.sun_path: 107 octets, not 108. */
static void test_path_len(void **state)
{
    char y[200];
    struct mxtls_config cfg;
    struct mxtls_diag diag = {0};
    size_t n;

    (void)state;
    for (n = CONFIG_SUN_PATH_MAX; n <= CONFIG_SUN_PATH_MAX + 1; n++) {
        memcpy(y, "path: /", 7);
        memset(y + 7, 'a', n - 1);
        y[6 + n] = '\n';
        if (n == CONFIG_SUN_PATH_MAX) {
            assert_int_equal(config_load_buffer(y, 7 + n, "t", &cfg, &diag), 0);
            assert_int_equal(strlen(cfg.path), CONFIG_SUN_PATH_MAX);
        } else {
            assert_int_equal(config_load_buffer(y, 7 + n, "t", &cfg, &diag), MXTLS_ETOOLONG);
            assert_non_null(strstr(diag.what, "t:1: path: longer than 107 octets"));
        }
        config_finish(&cfg);
    }
}

/* A missing file is MXTLS_ENOTFOUND with the path; a directory is refused. */
static void test_file_errors(void **state)
{
    struct mxtls_config cfg;
    struct mxtls_diag diag = {0};

    (void)state;
    assert_int_equal(config_load_file("/nonexistent/mxtls.yml", &cfg, &diag), MXTLS_ENOTFOUND);
    assert_non_null(strstr(diag.what, "/nonexistent/mxtls.yml: cannot open"));
    assert_int_equal(cfg.port, 8461);
    config_finish(&cfg);
    assert_int_equal(config_load_file(CONFIG_DATA_DIR, &cfg, &diag), MXTLS_EINVAL);
    assert_non_null(strstr(diag.what, "not a regular file"));
    config_finish(&cfg);
}

int main(void)
{
    static struct unit_suite s;

    UNIT_ROWS(&s, test_load, load_cases);
    unit_one(&s, "Debian mta-sts-daemon.yml loads unmodified", test_debian_file, NULL);
    unit_one(&s, "upstream example files load", test_upstream_examples, NULL);
    unit_one(&s, "zone chosen by socketmap name, else default_zone", test_zone_for, NULL);
    unit_one(&s, "embedded defaults", test_defaults, NULL);
    unit_one(&s, "at most 1024 zones", test_zone_count, NULL);
    unit_one(&s, "input size cap, len honoured, NUL refused", test_input_bounds, NULL);
    unit_one(&s, "unix socket path at most 107 octets", test_path_len, NULL);
    unit_one(&s, "file errors", test_file_errors, NULL);
    return unit_run(&s, "config");
}
