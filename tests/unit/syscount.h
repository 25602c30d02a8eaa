/*
 * For unit tests of what reaches the kernel: definitions of fsync, syncfs,
 * sync_file_range, mkdir and chmod that count their calls and forward to the
 * real system calls (the library's calls bind to these in the test binary),
 * and two small file helpers. Include once, in a test that defines _GNU_SOURCE.
 */
#ifndef CL_TEST_SYSCOUNT_H
#define CL_TEST_SYSCOUNT_H

#include "classlab/cl_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int n_fsync, n_syncfs, n_sfr, n_mkdir, n_chmod;
static int sfr_waits; /* sync_file_range calls that wrote and waited: data on disk */

int fsync(int fd)
{
	n_fsync++;
	return (int)syscall(SYS_fsync, fd);
}

int syncfs(int fd)
{
	n_syncfs++;
	return (int)syscall(SYS_syncfs, fd);
}

int sync_file_range(int fd, off_t off, off_t len, unsigned int flags)
{
	n_sfr++;
	if ((flags & SYNC_FILE_RANGE_WRITE) && (flags & SYNC_FILE_RANGE_WAIT_AFTER))
		sfr_waits++;
	return (int)syscall(SYS_sync_file_range, fd, off, len, flags);
}

int mkdir(const char *path, mode_t mode)
{
	n_mkdir++;
	return (int)syscall(SYS_mkdirat, AT_FDCWD, path, mode);
}

int chmod(const char *path, mode_t mode)
{
	n_chmod++;
	return (int)syscall(SYS_fchmodat, AT_FDCWD, path, mode);
}

static void syscount_reset(void)
{
	n_fsync = n_syncfs = n_sfr = n_mkdir = n_chmod = sfr_waits = 0;
}

/* A file's contents (new string), or "<unreadable>". */
static char *slurp(const char *path)
{
	cl_buf b = CL_BUF_INIT;
	if (cl_read_file(path, 1 << 20, &b) != 0) {
		cl_buf_free(&b);
		return cl_strdup("<unreadable>");
	}
	return cl_buf_detach(&b);
}

/* lstat's st_mode, 0 when there is nothing. */
static unsigned mode_of(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0 ? (unsigned)sb.st_mode : 0;
}

#endif
