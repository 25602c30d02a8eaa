/* Whole-file reads, atomic writes and mkdir -p. */
#include "classlab/cl_util.h"
#include "classlab/banned.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cl_read_file(const char *path, size_t max, cl_buf *out)
{
	char chunk[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return cl_error_set(errno == ENOENT ? CL_ENOTFOUND : CL_EFAIL, "cannot open '%s': %s",
				    path, strerror(errno));
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = cl_error_set(CL_EFAIL, "cannot read '%s': %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (out->len + (size_t)n > max) {
			rc = cl_error_set(CL_EINVAL, "'%s' is larger than %zu bytes", path, max);
			break;
		}
		cl_buf_add(out, chunk, (size_t)n);
	}
	if (rc == 0 && !out->data)
		cl_buf_add(out, "", 0);
	close(fd);
	return rc;
}

int cl_write_file(const char *path, const void *data, size_t len, unsigned mode)
{
	char *tmp = cl_aprintf("%s.tmp.%ld", path, (long)getpid());
	const char *p = data;
	int rc = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0) {
		rc = cl_error_set(CL_EFAIL, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = cl_error_set(CL_EFAIL, "cannot write '%s': %s", tmp, strerror(errno));
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (rc == 0 && fchmod(fd, mode) != 0)
		rc = cl_error_set(CL_EFAIL, "cannot chmod '%s': %s", tmp, strerror(errno));
	if (rc == 0 && fsync(fd) != 0)
		rc = cl_error_set(CL_EFAIL, "cannot sync '%s': %s", tmp, strerror(errno));
	if (close(fd) != 0 && rc == 0)
		rc = cl_error_set(CL_EFAIL, "cannot close '%s': %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) != 0)
		rc = cl_error_set(CL_EFAIL, "cannot rename '%s': %s", tmp, strerror(errno));
	if (rc != 0)
		unlink(tmp);
out:
	free(tmp);
	return rc;
}

int cl_mkdir_p(const char *path, unsigned mode)
{
	char *p = cl_strdup(path);
	int rc = 0;

	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, mode) != 0 && errno != EEXIST) {
			rc = cl_error_set(CL_EFAIL, "cannot create directory '%s': %s", p,
					  strerror(errno));
			break;
		}
		*s = saved;
		if (saved == '\0')
			break;
	}
	free(p);
	return rc;
}
