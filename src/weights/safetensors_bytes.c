/* safetensors bytes in memory (weights.h): through a private temporary file,
 * because the loader maps files (so the kernel can drop the pages of blocks
 * already built) and the writer writes atomically beside a path. The file is
 * created with mkstemp (mode 0600) and unlinked as soon as it is mapped or
 * read back, so nothing is left behind, even after a crash mid-way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hyperrep/weights.h"

/* Creates an empty private temporary file; its path into buf. */
static hr_status temp_file(char *buf, size_t size, int *fd, hr_error *err)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    if ((size_t)snprintf(buf, size, "%s/hyperrep-weights-XXXXXX", dir) >= size)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "safetensors bytes: TMPDIR '%s' is too long", dir);
    if ((*fd = mkstemp(buf)) < 0)
        return hr_error_set(err, HR_ERR_IO, "safetensors bytes: cannot create a temporary file in %s: %s", dir,
                            strerror(errno));
    return HR_OK;
}

hr_status hr_safetensors_load_bytes(const void *data, size_t n, hr_tensor_map **out, hr_error *err)
{
    char path[512];
    const unsigned char *p = data;
    size_t done = 0;
    hr_status st;
    int fd;
    if (!data && n)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "safetensors bytes: no data");
    if ((st = temp_file(path, sizeof path, &fd, err)))
        return st;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            st = hr_error_set(err, HR_ERR_IO, "safetensors bytes: writing %s: %s", path,
                              w < 0 ? strerror(errno) : "no progress");
            close(fd);
            unlink(path);
            return st;
        }
        done += (size_t)w;
    }
    if (close(fd) != 0) {
        st = hr_error_set(err, HR_ERR_IO, "safetensors bytes: writing %s: %s", path, strerror(errno));
        unlink(path);
        return st;
    }
    st = hr_safetensors_load(path, out, err);
    unlink(path); /* the mapping outlives the name */
    if (st)
        hr_error_prefix(err, "safetensors bytes");
    return st;
}

hr_status hr_safetensors_save_bytes(const hr_tensor_map *map, void **data, size_t *n, hr_error *err)
{
    char path[512];
    struct stat sb;
    unsigned char *buf = NULL;
    hr_status st;
    int fd;
    FILE *f = NULL;
    if ((st = temp_file(path, sizeof path, &fd, err)))
        return st;
    close(fd);
    if ((st = hr_safetensors_save(path, map, NULL, NULL, 0, err)))
        goto done;
    if (!(f = fopen(path, "rb")) || fstat(fileno(f), &sb) != 0) {
        st = hr_error_set(err, HR_ERR_IO, "safetensors bytes: reading %s back: %s", path, strerror(errno));
        goto done;
    }
    if (!(buf = malloc((size_t)sb.st_size + 1))) {
        st = hr_error_set(err, HR_ERR_NOMEM, "safetensors bytes: out of memory for %lld bytes",
                          (long long)sb.st_size);
        goto done;
    }
    if (fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        st = hr_error_set(err, HR_ERR_IO, "safetensors bytes: short read of %s", path);
        goto done;
    }
    *data = buf;
    *n = (size_t)sb.st_size;
    buf = NULL;
done:
    if (f)
        fclose(f);
    free(buf);
    unlink(path);
    return st;
}
