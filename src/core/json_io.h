/* JSON files and records shared by every module that writes one: the
 * library-internal counterpart of the writers' many copies (issue 14 part 5:
 * once each, in core). */
#ifndef HR_CORE_JSON_IO_H
#define HR_CORE_JSON_IO_H

#include <jansson.h>

#include "hyperrep/error.h"

/* root as pretty JSON (2-space indent, 10 significant digits, insertion
 * order) plus a newline, written to path atomically. HR_ERR_NOMEM,
 * HR_ERR_INTERNAL when it cannot be serialised, errors of the write. */
hr_status hr__json_write(const char *path, const json_t *root, hr_error *err);

/* {"name": "hyperrep", "version", "commit"}: what every record says about
 * the code that wrote it (a new reference; NULL when out of memory). */
json_t *hr__software_json(void);

/* The time now, UTC, ISO 8601 ("2026-12-07T05:12:00Z"), as run records
 * (run_info.json and its kin) carry it; returns buf. */
const char *hr__iso_timestamp(char *buf, size_t size);

/* Files in the project's own formats say what they are (issue 14 part 6,
 * docs/FORMATS.md "Format stamps"): "format": {"name": "hyperrep.<kind>",
 * "version": "MAJOR.MINOR"}. A reader accepts its major version and older
 * ones, and files without the stamp (written before it existed); a newer
 * major is a change it cannot read. Files in the original tool's formats
 * carry no stamp. */
json_t *hr__format_json(const char *name, int major, int minor);

#define HR_FORMAT_ROOFLINE "hyperrep.roofline"
#define HR_FORMAT_LINK "hyperrep.link"
#define HR_FORMAT_LINK_BENCH "hyperrep.link_benchmark"

/* Checks root's "format" against name and the major version this build
 * reads: HR_OK when absent or fitting; HR_ERR_FORMAT naming path for a
 * malformed stamp or another kind of file; HR_ERR_UNSUPPORTED for a newer
 * major version. */
hr_status hr__format_check(const json_t *root, const char *path, const char *name, int major, hr_error *err);

/* A placement as the project's files write it: "raw", "local" or the split
 * as an integer (a new reference; NULL when out of memory). */
json_t *hr__placement_json(int placement);

/* A run record: info plus "software" (hr__software_json), written with
 * hr__json_write. info is modified (software added). */
hr_status hr__run_info_write(const char *path, json_t *info, hr_error *err);

#endif
