/* Build identification (version.h). hr_git_commit.h is generated at every
 * build by cmake/git_commit.cmake. */
#include "hyperrep/version.h"

#include "hr_git_commit.h"

const char *hr_version(void)
{
    return HR_VERSION_TEXT;
}

const char *hr_git_commit(void)
{
    return HR_GIT_COMMIT;
}
