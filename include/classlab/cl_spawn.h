/* Running a helper program (qemu-img, an image build script) without a shell. */
#ifndef CL_SPAWN_H
#define CL_SPAWN_H

#include "classlab/cl_util.h"

/*
 * Runs argv[0] (looked up in PATH when it has no '/') with argv, no shell.
 * envp_extra ("NAME=value" entries, NULL-terminated, may be NULL) is added to
 * the inherited environment. stdout and stderr are captured into out and err
 * (either may be NULL to discard); stdin is /dev/null. timeout_ms <= 0 means
 * no limit; past it the child's process group is killed and CL_EFAIL is
 * returned ("'cmd' timed out after N s"). Returns 0 once the child has exited
 * (whatever its status) with *exit_status set to its exit code, or 128+signal
 * when it was killed by a signal; a command that cannot be started is
 * CL_EFAIL with exit_status 127.
 */
int cl_spawn(const char *const argv[], const char *const envp_extra[], int timeout_ms, cl_buf *out,
	     cl_buf *err, int *exit_status);

#endif
