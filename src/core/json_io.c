/* JSON records and their directories (json_io.h). */
#include "core/json_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperrep/placement.h"
#include "hyperrep/version.h"
#include "hyperrep/io.h"

hr_status hr__json_write(const char *path, const json_t *root, hr_error *err)
{
    const size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10);
    size_t n = root ? json_dumpb(root, NULL, 0, flags) : 0;
    char *buf;
    hr_status st;
    if (n == 0)
        return hr_error_set(err, HR_ERR_INTERNAL, "%s: cannot serialise the JSON document", path);
    if (!(buf = malloc(n + 1)))
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    if (json_dumpb(root, buf, n, flags) != n) {
        free(buf);
        return hr_error_set(err, HR_ERR_INTERNAL, "%s: cannot serialise the JSON document", path);
    }
    buf[n] = '\n';
    st = hr_write_file_atomic(path, buf, n + 1, err);
    free(buf);
    return st;
}

json_t *hr__format_json(const char *name, int major, int minor)
{
    char v[32];
    snprintf(v, sizeof v, "%d.%d", major, minor);
    return json_pack("{s:s, s:s}", "name", name, "version", v);
}

hr_status hr__format_check(const json_t *root, const char *path, const char *name, int major, hr_error *err)
{
    const json_t *f = json_object_get(root, "format");
    const char *n, *v;
    int maj, min, used = 0;
    if (!f)
        return HR_OK;
    n = json_string_value(json_object_get(f, "name"));
    v = json_string_value(json_object_get(f, "version"));
    if (!json_is_object(f) || !n || !v || sscanf(v, "%d.%d%n", &maj, &min, &used) != 2 || v[used] || maj < 0 ||
        min < 0)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: format: expected {\"name\": string, \"version\": \"MAJOR.MINOR\"}",
                            path);
    if (strcmp(n, name) != 0)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: format: a %s file, not a %s file", path, n, name);
    if (maj > major)
        return hr_error_set(err, HR_ERR_UNSUPPORTED, "%s: format: %s version %s is newer than this build reads (%d.x); "
                            "update hyperrep", path, n, v, major);
    return HR_OK;
}

json_t *hr__placement_json(int placement)
{
    char name[16];
    return placement < 0 ? json_string(hr_placement_format(placement, name, sizeof name)) : json_integer(placement);
}

json_t *hr__software_json(void)
{
    return json_pack("{s:s, s:s, s:s}", "name", "hyperrep", "version", hr_version(), "commit", hr_git_commit());
}

const char *hr__iso_timestamp(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "unknown");
    return buf;
}

hr_status hr__run_info_write(const char *path, json_t *info, hr_error *err)
{
    json_t *sw = hr__software_json();
    if (!info || !sw || json_object_set_new(info, "software", sw))
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    return hr__json_write(path, info, err);
}
