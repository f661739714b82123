/* Files as every writer in hyperrep makes them: replaced atomically, in
 * directories made on demand. */
#ifndef HYPERREP_IO_H
#define HYPERREP_IO_H

#include <stddef.h>

#include "hyperrep/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes data to path atomically: to "path.tmp.<pid>.<n>" beside it
 * (created with O_EXCL|O_NOFOLLOW, mode 0600; stale temporaries of path
 * whose process is gone are removed first), the final mode 0644 set, fsync,
 * then rename(2) over path and fsync the directory, so a reader (or a
 * crash) sees the old file or the whole new one, never a prefix. */
hr_status hr_write_file_atomic(const char *path, const void *data, size_t size, hr_error *err);

/* The same for a file only its owner may read (checkpoints): mode 0600. */
hr_status hr_write_file_atomic_private(const char *path, const void *data, size_t size, hr_error *err);

/* mkdir -p: path and its parents (mode 0777 less the umask); existing
 * directories are fine. HR_ERR_IO naming the directory that could not be
 * made; HR_ERR_INVALID_ARG for an empty or over-long path. */
hr_status hr_mkdirs(const char *path, hr_error *err);

#ifdef __cplusplus
}
#endif
#endif
