/* MPI implementation of hr_joint_dist (see mpi_dist.h). Only this file
 * includes mpi.h; the library and the other commands never see MPI. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpi_dist.h"

/* 0: never initialised, 1: running, 2: finalised (MPI cannot restart). */
static int mpi_state;
static int mpi_size = 1;

int hr_cli_mpi_launched(void)
{
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (n && *n) {
        char *end;
        long v = strtol(n, &end, 10);
        return *end == '\0' && v >= 1 && v <= INT_MAX ? (int)v : -1;
    }
    return getenv("PMIX_RANK") ? -1 : 0;
}

static hr_status mpi_allgather(void *user, const void *mine, size_t bytes, void *all, hr_error *err)
{
    (void)user;
    if (bytes > INT_MAX)
        return hr_error_set(err, HR_ERR_LIMIT, "MPI_Allgather: %zu bytes per process exceed MPI's int count", bytes);
    int rc = MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        char text[MPI_MAX_ERROR_STRING];
        int n = 0;
        if (MPI_Error_string(rc, text, &n) != MPI_SUCCESS)
            snprintf(text, sizeof text, "error %d", rc);
        return hr_error_set(err, HR_ERR_IO, "MPI_Allgather of %zu bytes per process: %s", bytes, text);
    }
    return HR_OK;
}

int hr_cli_mpi_init(const char *cmd, hr_joint_dist *dist)
{
    int launched = hr_cli_mpi_launched(), provided = 0, rank = 0, size = 1;
    memset(dist, 0, sizeof *dist);
    dist->size = 1;
    /* one process has nothing to exchange: leave MPI alone, so that a plain
       run (or mpirun -np 1) behaves like any other command */
    if (launched == 0 || launched == 1)
        return 1;
    if (mpi_state != 0) {
        hr_cli_fail(cmd, "MPI was already %s in this process; run one command per mpirun",
                    mpi_state == 1 ? "started" : "finalised");
        return 0;
    }
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        hr_cli_fail(cmd, "MPI_Init_thread failed (started by mpirun with %d processes)", launched);
        return 0;
    }
    mpi_state = 1;
    /* errors come back as statuses, so a failed exchange is reported by the
       command (which then aborts the job) rather than by MPI's default handler */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (provided < MPI_THREAD_FUNNELED || MPI_Comm_rank(MPI_COMM_WORLD, &rank) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &size) != MPI_SUCCESS) {
        hr_cli_fail(cmd, "MPI: %s", provided < MPI_THREAD_FUNNELED ? "the library does not support threads (funneled)"
                                                                   : "cannot read this process's rank");
        mpi_size = 2; /* make hr_cli_mpi_end abort the job: the peers cannot know */
        return 0;
    }
    mpi_size = size;
    dist->rank = rank;
    dist->size = size;
    dist->allgather = mpi_allgather;
    return 1;
}

int hr_cli_mpi_end(int rc)
{
    if (mpi_state != 1)
        return rc;
    if (rc != 0 && mpi_size > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    MPI_Finalize();
    mpi_state = 2;
    return rc;
}
