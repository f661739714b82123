/* Atomic file replacement: write "<path>.tmp.<pid>.<n>" (created exclusively,
 * mode 0600, never through a link), set the final mode, flush and fsync it,
 * rename(2) it over path, then fsync the directory so the rename itself is
 * durable. Readers (and a crash) therefore see either the old file or the
 * complete new one, never a prefix. Any failure removes the temporary file. */
#include "weights/weights_internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Removes "<base>.tmp.<pid>[.<n>]" files in path's directory whose pid no
 * longer runs: what a crashed or killed writer left. Best effort. */
static void remove_stale(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t blen = strlen(base), dlen = slash ? (size_t)(slash - path) : 0;
    char dir[4096], full[4096 + 256];
    DIR *d;
    struct dirent *e;
    if (dlen >= sizeof dir)
        return;
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(dlen ? dlen : 1), dlen ? path : "/");
    else
        snprintf(dir, sizeof dir, ".");
    if (!(d = opendir(dir)))
        return;
    while ((e = readdir(d))) {
        const char *rest;
        char *end;
        long pid;
        if (strncmp(e->d_name, base, blen) != 0 || strncmp(e->d_name + blen, ".tmp.", 5) != 0)
            continue;
        rest = e->d_name + blen + 5;
        pid = strtol(rest, &end, 10);
        if (end == rest || (*end && *end != '.') || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive, or not ours to judge */
        if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, e->d_name) < sizeof full)
            unlink(full);
    }
    closedir(d);
}

hr_status hr__atomic_begin_mode(hr__atomic_file *af, const char *path, unsigned mode, hr_error *err)
{
    static atomic_uint seq;
    size_t n;
    int fd;

    memset(af, 0, sizeof *af);
    if (!path || !*path)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "atomic write: empty path");
    remove_stale(path);
    n = strlen(path) + 48;
    af->tmp_path = malloc(n);
    if (!af->tmp_path)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    /* pid and a counter: unique among this process's writers, so O_EXCL
     * only ever meets a name nobody should have made */
    snprintf(af->tmp_path, n, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&seq, 1));
    fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        hr_status st = hr_error_set(err, HR_ERR_IO, "%s: cannot create %s: %s", path, af->tmp_path, strerror(errno));
        free(af->tmp_path);
        af->tmp_path = NULL;
        return st;
    }
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        hr_status st = hr_error_set(err, HR_ERR_IO, "%s: fdopen: %s", path, strerror(errno));
        close(fd);
        unlink(af->tmp_path);
        free(af->tmp_path);
        af->tmp_path = NULL;
        return st;
    }
    af->path = path;
    af->mode = mode & 07777;
    return HR_OK;
}

hr_status hr__atomic_begin(hr__atomic_file *af, const char *path, hr_error *err)
{
    return hr__atomic_begin_mode(af, path, 0644, err);
}

void hr__atomic_abort(hr__atomic_file *af)
{
    if (af->f) {
        fclose(af->f);
        af->f = NULL;
    }
    if (af->tmp_path) {
        unlink(af->tmp_path);
        free(af->tmp_path);
        af->tmp_path = NULL;
    }
}

hr_status hr__atomic_write(hr__atomic_file *af, const void *data, size_t size, hr_error *err)
{
    if (!af->f)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "atomic write: file is not open");
    if (size > 0 && fwrite(data, 1, size, af->f) != size) {
        hr_status st = hr_error_set(err, HR_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
        hr__atomic_abort(af);
        return st;
    }
    return HR_OK;
}

hr_status hr__atomic_write_f32le(hr__atomic_file *af, const float *data, uint64_t n, hr_error *err)
{
    unsigned char buf[4096];
    size_t fill = 0;
    hr_status st;

    if (hr__host_is_le())
        return hr__atomic_write(af, data, (size_t)n * sizeof *data, err);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &data[i], sizeof bits);
        for (int b = 0; b < 4; b++)
            buf[fill++] = (unsigned char)(bits >> (8 * b));
        if (fill == sizeof buf) {
            st = hr__atomic_write(af, buf, fill, err);
            if (st != HR_OK)
                return st;
            fill = 0;
        }
    }
    return hr__atomic_write(af, buf, fill, err);
}

/* fsyncs the directory holding path so that the rename survives a crash.
 * Returns 0 or an errno value. */
static int sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int fd, rc = 0;

    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else {
        dir = malloc((size_t)(slash - path) + 1);
        if (dir) {
            memcpy(dir, path, (size_t)(slash - path));
            dir[slash - path] = '\0';
        }
    }
    if (!dir)
        return ENOMEM;
    fd = open(dir, O_RDONLY);
    free(dir);
    if (fd < 0)
        return errno;
    /* Some file systems cannot fsync a directory; that is not a failure. */
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    return rc;
}

hr_status hr__atomic_commit(hr__atomic_file *af, hr_error *err)
{
    hr_status st;
    int rc;

    if (!af->f)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "atomic write: file is not open");
    if (fflush(af->f) != 0) {
        st = hr_error_set(err, HR_ERR_IO, "%s: flush failed: %s", af->path, strerror(errno));
        hr__atomic_abort(af);
        return st;
    }
    /* the final mode, set before the name appears (umask does not apply) */
    if (fchmod(fileno(af->f), (mode_t)af->mode) != 0) {
        st = hr_error_set(err, HR_ERR_IO, "%s: chmod failed: %s", af->path, strerror(errno));
        hr__atomic_abort(af);
        return st;
    }
    if (fsync(fileno(af->f)) != 0) {
        st = hr_error_set(err, HR_ERR_IO, "%s: fsync failed: %s", af->path, strerror(errno));
        hr__atomic_abort(af);
        return st;
    }
    rc = fclose(af->f);
    af->f = NULL;
    if (rc != 0) {
        st = hr_error_set(err, HR_ERR_IO, "%s: close failed: %s", af->path, strerror(errno));
        hr__atomic_abort(af);
        return st;
    }
    if (rename(af->tmp_path, af->path) != 0) {
        st = hr_error_set(err, HR_ERR_IO, "%s: cannot rename %s over it: %s", af->path, af->tmp_path,
                          strerror(errno));
        hr__atomic_abort(af);
        return st;
    }
    free(af->tmp_path);
    af->tmp_path = NULL;
    rc = sync_parent_dir(af->path);
    if (rc != 0)
        return hr_error_set(err, HR_ERR_IO, "%s: written, but syncing its directory failed: %s", af->path,
                            strerror(rc));
    return HR_OK;
}

static hr_status write_file(const char *path, const void *data, size_t size, unsigned mode, hr_error *err)
{
    hr__atomic_file af;
    hr_status st;

    if (size > 0 && !data)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: data is NULL", path ? path : "(null)");
    st = hr__atomic_begin_mode(&af, path, mode, err);
    if (st != HR_OK)
        return st;
    st = hr__atomic_write(&af, data, size, err);
    if (st != HR_OK)
        return st;
    return hr__atomic_commit(&af, err);
}

hr_status hr_write_file_atomic(const char *path, const void *data, size_t size, hr_error *err)
{
    return write_file(path, data, size, 0644, err);
}

hr_status hr_write_file_atomic_private(const char *path, const void *data, size_t size, hr_error *err)
{
    return write_file(path, data, size, 0600, err);
}
