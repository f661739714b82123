/* What built this library: its version and the git commit of its sources.
 * Every file hyperrep writes records both, so a result can be traced to
 * the code that produced it. */
#ifndef HYPERREP_VERSION_H
#define HYPERREP_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

/* "0.1.0". */
const char *hr_version(void);
/* The commit of the source tree at build time: 40 hex digits, followed by
 * "-dirty" when tracked files differed from it, or "unknown" when the
 * library was built outside a git checkout. */
const char *hr_git_commit(void);

#ifdef __cplusplus
}
#endif
#endif
