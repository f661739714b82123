/* Open MPI for `hyperrep joint`: spreads the candidates of each pruning round
 * over the ranks of `mpirun -np N hyperrep joint …` through the library's
 * hr_joint_dist hook, so libhyperrep itself stays free of MPI. */
#ifndef HR_CLI_MPI_DIST_H
#define HR_CLI_MPI_DIST_H

#include "hyperrep/joint.h"

/* How many processes the launcher started, from its environment: 0 when
 * this process was not started by mpirun (MPI is then never initialised),
 * the world size when Open MPI names it (OMPI_COMM_WORLD_SIZE), -1 when a
 * PMIx launcher started it without saying how many. */
int hr_cli_mpi_launched(void);

/* When started by mpirun with more than one process (or an unknown count):
 * MPI_Init_thread (funneled: only the calling thread talks to MPI) and
 * *dist = this rank, the world size and an MPI_Allgather exchange, with
 * errors returned rather than fatal. Otherwise *dist = {rank 0, size 1, no
 * exchange} and MPI is left alone. MPI can be initialised once per process:
 * a second call after hr_cli_mpi_end fails. Prints "hyperrep <cmd>: …" and
 * returns 0 on failure, 1 on success. */
int hr_cli_mpi_init(const char *cmd, hr_joint_dist *dist);

/* Ends MPI if hr_cli_mpi_init started it: with rc != 0 and more than one
 * process, MPI_Abort(rc) (after flushing stdout and stderr) so that no other
 * rank waits forever in an exchange this one will never join; otherwise
 * MPI_Finalize. Returns rc. */
int hr_cli_mpi_end(int rc);

#endif
