/*
 * tlsrpt_config - the `tlsrpt:` section of the YAML configuration (see
 * tlsrpt_config.h). libyaml's document loader; the file itself is bounded
 * (1 MiB) and io/config.c has already refused aliases and deep nesting when
 * mxtlsd read it, but this reader checks what it uses on its own.
 */
#include "tlsrpt_config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#define FILE_MAX (1024 * 1024)

struct key {
    const char *name;
    size_t off;   /* of the char * or uint32_t member */
    uint32_t min; /* numbers: range; 0/0 = a string */
    uint32_t max;
};

#define S(f) offsetof(struct tlsrpt_config, f)
static const struct key keys[] = {
    {"organization_name", S(organization_name), 0, 0},
    {"contact_info", S(contact_info), 0, 0},
    {"submitter", S(submitter), 0, 0},
    {"store", S(store), 0, 0},
    {"retention_days", S(retention_days), 1, 3660},
    {"sending_ip", S(sending_ip), 0, 0},
    {"postfix_log", S(postfix_log), 0, 0},
    {"mxtlsd_log", S(mxtlsd_log), 0, 0},
    {"mail_from", S(mail_from), 0, 0},
    {"sendmail", S(sendmail), 0, 0},
    {"sendmail_config_dir", S(sendmail_config_dir), 0, 0},
    {"dkim_key", S(dkim_key), 0, 0},
    {"dkim_selector", S(dkim_selector), 0, 0},
    {"dkim_domain", S(dkim_domain), 0, 0},
    {"ca_file", S(ca_file), 0, 0},
    {"retry_hours", S(retry_hours), 1, 168},
};

/* set_str - replace a string member */
static int set_str(char **slot, const char *v, size_t n)
{
    char *c = malloc(n + 1);
    if (c == NULL)
        return MXTLS_ENOMEM;
    memcpy(c, v, n);
    c[n] = '\0';
    free(*slot);
    *slot = c;
    return 0;
}

/* defaults - the documented defaults */
static int defaults(struct tlsrpt_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->retention_days = 30;
    cfg->retry_hours = 24;
    const char *store = MXTLS_STATEDIR "/tlsrpt.db", *sm = "/usr/sbin/sendmail";
    if (set_str(&cfg->store, store, strlen(store)) != 0 ||
        set_str(&cfg->sendmail, sm, strlen(sm)) != 0)
        return MXTLS_ENOMEM;
    return 0;
}

/* apply - one key: value of the section */
static int apply(struct tlsrpt_config *cfg, const char *path, yaml_node_t *k, yaml_node_t *v,
                 struct mxtls_diag *diag)
{
    size_t line = k->start_mark.line + 1;
    if (k->type != YAML_SCALAR_NODE)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s:%zu: tlsrpt: keys are names", path, line);
    const char *name = (const char *)k->data.scalar.value;
    size_t nl = k->data.scalar.length;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strlen(keys[i].name) != nl || memcmp(keys[i].name, name, nl) != 0)
            continue;
        if (v->type != YAML_SCALAR_NODE)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s:%zu: tlsrpt.%s: expected a scalar",
                                  path, line, keys[i].name);
        const char *val = (const char *)v->data.scalar.value;
        size_t vl = v->data.scalar.length;
        if (vl > 4095 || memchr(val, '\0', vl) != NULL)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s:%zu: tlsrpt.%s: too long", path, line,
                                  keys[i].name);
        if (keys[i].max == 0)
            return set_str((char **)((char *)cfg + keys[i].off), val, vl);
        uint64_t n = 0;
        if (vl == 0 || vl > 9)
            goto bad;
        for (size_t j = 0; j < vl; j++) {
            if (val[j] < '0' || val[j] > '9')
                goto bad;
            n = n * 10 + (uint64_t)(val[j] - '0');
        }
        if (n < keys[i].min || n > keys[i].max)
            goto bad;
        *(uint32_t *)((char *)cfg + keys[i].off) = (uint32_t)n;
        return 0;
    bad:
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s:%zu: tlsrpt.%s: want a number %u..%u",
                              path, line, keys[i].name, keys[i].min, keys[i].max);
    }
    return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s:%zu: tlsrpt.%.*s: unknown key", path, line,
                          (int)(nl > 64 ? 64 : nl), name);
}

/* read_file - the whole file, at most FILE_MAX octets */
static int read_file(const char *path, char **buf, size_t *len, struct mxtls_diag *diag)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return mxtls_diag_set(diag, errno == ENOENT ? MXTLS_ENOTFOUND : MXTLS_EINVAL, 0, "%s: %s",
                              path, strerror(errno));
    char *b = malloc(FILE_MAX + 1);
    if (b == NULL) {
        fclose(f);
        return MXTLS_ENOMEM;
    }
    size_t n = fread(b, 1, FILE_MAX + 1, f);
    fclose(f);
    if (n > FILE_MAX) {
        free(b);
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s: larger than 1 MiB", path);
    }
    *buf = b;
    *len = n;
    return 0;
}

/* tlsrpt_config_load - defaults, then the section */
int tlsrpt_config_load(const char *path, struct tlsrpt_config *cfg, struct mxtls_diag *diag)
{
    int rc = defaults(cfg);
    if (rc != 0 || path == NULL)
        return rc;
    char *buf = NULL;
    size_t len = 0;
    if ((rc = read_file(path, &buf, &len, diag)) != 0)
        return rc;
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) {
        free(buf);
        return MXTLS_ENOMEM;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&p, &doc)) {
        rc = mxtls_diag_set(diag, MXTLS_EINVAL, 0, "%s:%zu: YAML syntax: %s", path,
                            p.problem_mark.line + 1, p.problem ? p.problem : "error");
        yaml_parser_delete(&p);
        free(buf);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root != NULL && root->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
             rc == 0 && pr < root->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
            yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
            if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE ||
                k->data.scalar.length != 6 || memcmp(k->data.scalar.value, "tlsrpt", 6) != 0)
                continue;
            if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0)
                continue; /* an empty section */
            if (v->type != YAML_MAPPING_NODE) {
                rc = mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                                    "%s:%zu: tlsrpt: expected a mapping of the reporter's keys "
                                    "(per-zone tlsrpt goes under default_zone or zones.NAME)",
                                    path, k->start_mark.line + 1);
                break;
            }
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
                 rc == 0 && q < v->data.mapping.pairs.top; q++) {
                yaml_node_t *kk = yaml_document_get_node(&doc, q->key);
                yaml_node_t *vv = yaml_document_get_node(&doc, q->value);
                if (kk == NULL || vv == NULL)
                    continue;
                rc = apply(cfg, path, kk, vv, diag);
            }
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    free(buf);
    return rc;
}

/* tlsrpt_config_finish - free the strings */
void tlsrpt_config_finish(struct tlsrpt_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (keys[i].max == 0)
            free(*(char **)((char *)cfg + keys[i].off));
    memset(cfg, 0, sizeof(*cfg));
}
