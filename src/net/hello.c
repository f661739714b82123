/* The hello message (proto.h): the one encoder and the one checker of
 * what both ends of every connection say first. chan.c (the blocking
 * transport) and serve's event loop both use them, so a hello one side
 * sends the other always reads the same way. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "hyperrep/proto.h"
#include "hyperrep/version.h"

hr_status hr_hello_encode(const char *role, const char *name, char **meta, hr_error *err)
{
    char software[64];
    json_t *root;
    if (!role || !name || !meta)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "hello: no role, name or output");
    snprintf(software, sizeof software, "hyperrep %s", hr_version());
    root = json_pack("{s:i, s:s, s:s, s:s}", "protocol", HR_PROTO_VERSION, "role", role, "name", name, "software",
                     software);
    if (!root)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "hello: role or name is not valid UTF-8");
    *meta = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return *meta ? HR_OK : hr_error_set(err, HR_ERR_NOMEM, "hello: out of memory");
}

/* A field for log lines and results: printable ASCII, "?" when absent. */
static hr_status text_field(json_t *root, const char *key, char *out, size_t size, hr_error *err)
{
    json_t *v = json_object_get(root, key);
    if (v && !json_is_string(v))
        return hr_error_set(err, HR_ERR_FORMAT, "hello: \"%s\" must be a string", key);
    hr__text_clean(out, size, v ? json_string_value(v) : "?");
    return HR_OK;
}

hr_status hr_hello_decode(const char *meta, hr_hello *out, hr_error *err)
{
    json_t *root, *proto;
    hr_status st;
    if (!out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "hello: no output");
    memset(out, 0, sizeof *out);
    root = meta ? json_loads(meta, JSON_REJECT_DUPLICATES, NULL) : NULL;
    proto = json_object_get(root, "protocol");
    if (!json_is_object(root) || !json_is_integer(proto)) {
        json_decref(root);
        return hr_error_set(err, HR_ERR_FORMAT, "hello needs an integer \"protocol\"");
    }
    out->protocol = json_integer_value(proto);
    if ((st = text_field(root, "role", out->role, sizeof out->role, err)) ||
        (st = text_field(root, "name", out->name, sizeof out->name, err)) ||
        (st = text_field(root, "software", out->software, sizeof out->software, err))) {
        json_decref(root);
        return st;
    }
    json_decref(root);
    if (out->protocol != HR_PROTO_VERSION)
        return hr_error_set(err, HR_ERR_UNSUPPORTED, "protocol %lld is not supported; this side speaks %d",
                            (long long)out->protocol, HR_PROTO_VERSION);
    return HR_OK;
}
