/*
 * sts_record - select and parse the "_mta-sts" TXT record (RFC 8461 §3.1).
 * See include/mxtls/sts_record.h for the rules and the decisions taken.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mxtls/sts_record.h"

#define STS_VERSION     "v=STSv1" /* RFC 8461 §3.1 sts-version */
#define STS_VERSION_LEN 7
#define STS_PREFIX      "v=STSv1;" /* RFC 8461 §3.1 selection prefix */
#define STS_PREFIX_LEN  8
#define EXT_NAME_MAX    32 /* RFC 8461 §3.1: (ALPHA / DIGIT) *31(...) */

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 8461 §3.1 sts-ext-name after its first octet */
static bool is_name_char(unsigned char c)
{
    return is_alnum(c) || c == '_' || c == '-' || c == '.';
}

/* RFC 8461 §3.1 sts-ext-value: VCHAR except ";" and "=" */
static bool is_value_char(unsigned char c)
{
    return (c >= 0x21 && c <= 0x3a) || c == 0x3c || (c >= 0x3e && c <= 0x7e);
}

/* begins_with - (buf, len) starts with the NUL-terminated prefix */
static bool begins_with(const char *buf, size_t len, const char *prefix, size_t plen)
{
    return len >= plen && memcmp(buf, prefix, plen) == 0;
}

/* parse_field - one sts-field at *pos; fills rec->id for "id" */
static int parse_field(const char *buf, size_t len, size_t *pos, struct sts_record *rec,
                       bool *have_id, struct mxtls_diag *diag)
{
    size_t name = *pos, value, i = *pos;

    if (!is_alnum((unsigned char)buf[i]))
        return mxtls_diag_set(diag, MXTLS_EINVAL, i,
                              "field name must start with a letter or digit (RFC 8461 §3.1)");
    while (i < len && is_name_char((unsigned char)buf[i]))
        i++;
    if (i - name > EXT_NAME_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, name,
                              "field name longer than %d octets (RFC 8461 §3.1)", EXT_NAME_MAX);
    if (i == len || buf[i] != '=')
        return mxtls_diag_set(diag, MXTLS_EINVAL, i,
                              "expected \"=\" after the field name (RFC 8461 §3.1)");
    value = ++i;
    while (i < len && is_value_char((unsigned char)buf[i]))
        i++;
    if (i < len && !is_wsp((unsigned char)buf[i]) && buf[i] != ';')
        return mxtls_diag_set(diag, MXTLS_EINVAL, i,
                              "octet 0x%02x not allowed in a field value (RFC 8461 §3.1)",
                              (unsigned char)buf[i]);
    if (i == value)
        return mxtls_diag_set(diag, MXTLS_EINVAL, value, "empty field value (RFC 8461 §3.1)");
    *pos = i;

    /* %s"id=": case-sensitive; any other name is an ignored extension. */
    if (value - name != 3 || memcmp(buf + name, "id", 2) != 0)
        return 0;
    if (*have_id)
        return mxtls_diag_set(diag, MXTLS_EINVAL, name,
                              "second \"id\" field: the id must identify one policy "
                              "(RFC 8461 §3.1)");
    if (i - value > STS_RECORD_ID_MAX)
        return mxtls_diag_set(diag, MXTLS_EINVAL, value,
                              "id longer than %d characters (RFC 8461 §3.1)", STS_RECORD_ID_MAX);
    for (size_t j = value; j < i; j++)
        if (!is_alnum((unsigned char)buf[j]))
            return mxtls_diag_set(diag, MXTLS_EINVAL, j,
                                  "id may hold only letters and digits, not '%c' (RFC 8461 §3.1)",
                                  buf[j]);
    memcpy(rec->id, buf + value, i - value);
    rec->id[i - value] = '\0';
    *have_id = true;
    return 0;
}

/* parse_fields - everything after "v=STSv1" */
static int parse_fields(const char *buf, size_t len, struct sts_record *rec,
                        struct mxtls_diag *diag)
{
    size_t pos = STS_VERSION_LEN, nfields = 0;
    bool have_id = false;
    int err;

    for (;;) {
        err = txt_field_next(buf, len, &pos, "RFC 8461 §3.1", diag);
        if (err < 0)
            return err;
        if (err == 0)
            break;
        err = parse_field(buf, len, &pos, rec, &have_id, diag);
        if (err < 0)
            return err;
        nfields++;
    }
    if (nfields == 0)
        return mxtls_diag_set(diag, MXTLS_EINVAL, len,
                              "no field after \"v=STSv1\" (RFC 8461 §3.1)");
    if (!have_id)
        return mxtls_diag_set(diag, MXTLS_EINVAL, len,
                              "no \"id\" field, which is required (RFC 8461 §3.1; keys are "
                              "case-sensitive)");
    return 0;
}

/* sts_record_parse - check one record against RFC 8461 §3.1 */
int sts_record_parse(const char *buf, size_t len, struct sts_record *rec, struct mxtls_diag *diag)
{
    int err;

    memset(rec, 0, sizeof(*rec));
    if (len > TXT_RDATA_MAX)
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, TXT_RDATA_MAX, "record longer than %d octets",
                              TXT_RDATA_MAX);
    if (!begins_with(buf, len, STS_PREFIX, STS_PREFIX_LEN))
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0,
                              begins_with(buf, len, STS_VERSION, STS_VERSION_LEN)
                                  ? "record begins with \"v=STSv1\" but not \"v=STSv1;\": "
                                    "senders discard it (RFC 8461 §3.1)"
                                  : "record does not begin with \"v=STSv1;\" (RFC 8461 §3.1)");
    err = parse_fields(buf, len, rec, diag);
    if (err < 0)
        rec->id[0] = '\0'; /* an id seen before the error is no result */
    return err;
}

/* sts_record_select - keep the records beginning "v=STSv1;", parse the one */
int sts_record_select(const struct txt_record *recs, size_t n, struct sts_record *rec,
                      struct mxtls_diag *diag)
{
    size_t i, found = 0, near = 0, which = 0;

    memset(rec, 0, sizeof(*rec));
    for (i = 0; i < n; i++) {
        /* RFC 8461 §3.1: "records that do not begin with "v=STSv1;" are
         * discarded" -- the exact octets, ";" included. */
        if (begins_with(recs[i].buf, recs[i].len, STS_PREFIX, STS_PREFIX_LEN)) {
            if (found++ == 0)
                which = i;
        } else if (begins_with(recs[i].buf, recs[i].len, STS_VERSION, STS_VERSION_LEN)) {
            near++;
        }
    }
    if (found == 0) {
        if (near > 0)
            return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0,
                                  "no MTA-STS record: %zu record(s) begin with \"v=STSv1\" "
                                  "but not \"v=STSv1;\" and are discarded (RFC 8461 §3.1)",
                                  near);
        return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0, "no MTA-STS record");
    }
    if (found > 1)
        return mxtls_diag_set(diag, MXTLS_EMULTIPLE, 0,
                              "%zu MTA-STS records where exactly one is allowed "
                              "(RFC 8461 §3.1)",
                              found);
    return sts_record_parse(recs[which].buf, recs[which].len, rec, diag);
}

/* sts_record_select_rdata - sts_record_select() on wire-form RDATAs */
int sts_record_select_rdata(const struct txt_rdata *rdatas, size_t n, struct sts_record *rec,
                            struct mxtls_diag *diag)
{
    struct txt_record *recs;
    int err;

    memset(rec, 0, sizeof(*rec));
    err = txt_rdata_join_set(rdatas, n, &recs, diag);
    if (err < 0)
        return err;
    err = sts_record_select(recs, n, rec, diag);
    free(recs);
    return err;
}
