/*
 * mime - the TLS-RPT part of an email, with GMime 3 (see mime.h).
 *
 * GMime parses the whole message from memory (the caller has capped its
 * size); parts are walked depth-first with g_mime_message_foreach. Failure:
 * a negative MXTLS_E* code with diag; every GObject is released.
 */
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gz.h"
#include "mime.h"

struct find {
    GMimePart *by_type; /* application/tlsrpt+gzip or +json */
    GMimePart *by_name; /* a .json, .json.gz or .gz attachment */
    int parts;
};

/* ends_with - s ends in suffix, ASCII case-insensitive */
static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* visit - remember the first report part of each kind */
static void visit(GMimeObject *parent, GMimeObject *part, gpointer data)
{
    struct find *f = data;
    GMimeContentType *ct;
    const char *name;

    (void)parent;
    f->parts++;
    if (!GMIME_IS_PART(part))
        return;
    ct = g_mime_object_get_content_type(part);
    /* RFC 8460 §5.3: the report's media types */
    if (f->by_type == NULL && ct != NULL &&
        (g_mime_content_type_is_type(ct, "application", "tlsrpt+gzip") ||
         g_mime_content_type_is_type(ct, "application", "tlsrpt+json")))
        f->by_type = GMIME_PART(part);
    name = g_mime_part_get_filename(GMIME_PART(part));
    if (f->by_name == NULL && name != NULL &&
        (ends_with(name, ".json") || ends_with(name, ".json.gz") || ends_with(name, ".gz")))
        f->by_name = GMIME_PART(part);
}

/* decode - the part's content with its transfer encoding undone, up to max */
static int decode(GMimePart *part, size_t max, char **out, size_t *outlen, struct mxtls_diag *diag)
{
    GMimeDataWrapper *dw = g_mime_part_get_content(part);
    GMimeStream *mem;
    GByteArray *ba;

    if (dw == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "the report part has no content");
    mem = g_mime_stream_mem_new();
    if (g_mime_data_wrapper_write_to_stream(dw, mem) < 0) {
        g_object_unref(mem);
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "the report part cannot be decoded");
    }
    ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    if (ba->len > max) {
        g_object_unref(mem);
        return mxtls_diag_set(diag, MXTLS_ETOOLONG, 0, "the report part is over %zu octets", max);
    }
    *out = malloc(ba->len + 1);
    if (*out == NULL) {
        g_object_unref(mem);
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    }
    memcpy(*out, ba->data, ba->len);
    (*out)[ba->len] = '\0';
    *outlen = ba->len;
    g_object_unref(mem);
    return 0;
}

/* mime_report_part - the decoded report part of an email */
int mime_report_part(const char *buf, size_t len, size_t max, char **out, size_t *outlen, int *gzip,
                     struct mxtls_diag *diag)
{
    static int initialised;
    struct find f = {0};
    GMimeStream *stream;
    GMimeParser *parser;
    GMimeMessage *msg;
    GMimePart *part;
    GMimeContentType *ct;
    const char *name;
    int err;

    *out = NULL;
    *outlen = 0;
    *gzip = 0;
    if (!initialised) {
        g_mime_init();
        initialised = 1;
    }
    stream = g_mime_stream_mem_new_with_buffer(buf, len);
    parser = g_mime_parser_new_with_stream(stream);
    g_object_unref(stream);
    msg = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    if (msg == NULL)
        return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "not an email message (RFC 5322)");
    g_mime_message_foreach(msg, visit, &f);
    if (f.parts == 0 && g_mime_message_get_mime_part(msg) != NULL)
        visit(NULL, g_mime_message_get_mime_part(msg), &f);
    part = f.by_type != NULL ? f.by_type : f.by_name;
    if (part == NULL) {
        g_object_unref(msg);
        return mxtls_diag_set(diag, MXTLS_ENOTFOUND, 0,
                              "no TLS-RPT report part in the message (RFC 8460 §5.3: "
                              "application/tlsrpt+gzip or application/tlsrpt+json)");
    }
    err = decode(part, max, out, outlen, diag);
    if (err == 0) {
        ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
        name = g_mime_part_get_filename(part);
        *gzip = gz_is_gzip(*out, *outlen) ||
                (ct != NULL && g_mime_content_type_is_type(ct, "application", "tlsrpt+gzip")) ||
                (name != NULL && ends_with(name, ".gz"));
    }
    g_object_unref(msg);
    return err;
}
