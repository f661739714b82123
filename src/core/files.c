/* Directories made on demand (hyperrep/io.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "hyperrep/io.h"

hr_status hr_mkdirs(const char *path, hr_error *err)
{
    char buf[4096];
    size_t n = path ? strlen(path) : 0;
    if (n == 0 || n >= sizeof buf)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "bad directory name '%s'", path ? path : "");
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return hr_error_set(err, HR_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
            buf[i] = c;
        }
    return HR_OK;
}
