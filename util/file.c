/* Whole-file reads, atomic writes that never follow what they did not create, and mkdir -p. */
#define _GNU_SOURCE /* syncfs, sync_file_range, renameat2 */
#include "classlab/cl_util.h"
#include "classlab/banned.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int cl_read_file(const char *path, size_t max, cl_buf *out)
{
	char chunk[65536];
	struct stat sb;
	int fd, rc = 0;

	if (!path || !*path)
		return cl_error_set(CL_EINVAL, "the file name is empty");
	/* O_NONBLOCK: opening a FIFO nobody writes to must not hang (cleared below). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return cl_error_set(errno == ENOENT ? CL_ENOTFOUND : CL_EFAIL, "cannot open '%s': %s",
				    path, strerror(errno));
	if (fstat(fd, &sb) != 0) {
		rc = cl_error_set(CL_EFAIL, "cannot stat '%s': %s", path, strerror(errno));
		goto out;
	}
	/* A pipe is a file's contents on the way (`<(...)`); a directory or device is not. */
	if (S_ISDIR(sb.st_mode)) {
		rc = cl_error_set(CL_EINVAL, "'%s' is a directory, not a file", path);
		goto out;
	}
	if (!S_ISREG(sb.st_mode) && !S_ISFIFO(sb.st_mode)) {
		rc = cl_error_set(CL_EINVAL, "'%s' is not a regular file", path);
		goto out;
	}
	if (S_ISFIFO(sb.st_mode))
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
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
out:
	close(fd);
	return rc;
}

/* Splits path into its directory (opened; symlinks above the file are followed) and name. */
static int open_parent(const char *path, int *dirfd, const char **name)
{
	const char *slash;
	char *dir;

	*dirfd = -1;
	if (!path || !*path)
		return cl_error_set(CL_EINVAL, "the file name is empty");
	slash = strrchr(path, '/');
	*name = slash ? slash + 1 : path;
	if (!**name || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0)
		return cl_error_set(CL_EINVAL, "'%s' does not name a file", path);
	dir = slash ? cl_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : cl_strdup(".");
	*dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0) {
		int err = errno;
		cl_error_set(CL_EFAIL, "cannot write '%s': cannot open directory '%s': %s", path, dir,
			     strerror(err));
		free(dir);
		return cl_error_code();
	}
	free(dir);
	return 0;
}

/* Twelve characters from a 32-letter alphabet: 60 bits another user cannot guess. */
static void random_suffix(char out[13])
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char r[12];
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort(); /* no entropy source: nothing safe to fall back on */
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(r); i++)
		out[i] = alphabet[r[i] & 31];
	out[12] = '\0';
}

/* display: the path messages name (the caller's, not only the last component). */
static int tmp_openat(int dirfd, const char *name, const char *display, unsigned mode,
		      char **tmp_name)
{
	*tmp_name = NULL;
	if (!name || !*name || strchr(name, '/'))
		return cl_error_set(CL_EINVAL, "'%s' is not a file name", name ? name : "");
	for (int tries = 0; tries < 100; tries++) {
		char suffix[13];
		random_suffix(suffix);
		char *tmp = cl_aprintf("%s.tmp.%s", name, suffix);
		/* A new inode that only we have: nothing planted can be written through. */
		int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				(mode_t)(mode & 0700));
		if (fd >= 0) {
			if (fchmod(fd, (mode_t)(mode & 07777)) != 0) {
				int err = errno;
				close(fd);
				unlinkat(dirfd, tmp, 0);
				cl_error_set(CL_EFAIL, "cannot write '%s': chmod of its temporary file: %s",
					     display, strerror(err));
				free(tmp);
				return cl_error_code();
			}
			*tmp_name = tmp;
			return fd;
		}
		int err = errno;
		if (err != EEXIST) {
			cl_error_set(CL_EFAIL, "cannot write '%s': cannot create its temporary file: %s",
				     display, strerror(err));
			free(tmp);
			return cl_error_code();
		}
		free(tmp);
	}
	return cl_error_set(CL_EFAIL, "cannot write '%s': no free temporary name", display);
}

int cl_tmpfile_openat(int dirfd, const char *name, unsigned mode, char **tmp_name)
{
	return tmp_openat(dirfd, name, name, mode, tmp_name);
}

int cl_tmpfile_open(const char *path, unsigned mode, char **tmp_path)
{
	const char *name;
	char *tmp = NULL;
	int dirfd, fd;

	*tmp_path = NULL;
	if ((fd = open_parent(path, &dirfd, &name)) < 0)
		return fd;
	fd = tmp_openat(dirfd, name, path, mode, &tmp);
	close(dirfd);
	if (fd >= 0) {
		/* Beside path: same directory prefix, so a rename() of the result stays in it. */
		*tmp_path = cl_aprintf("%.*s%s", (int)(name - path), path, tmp);
		free(tmp);
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t len, const char *what)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cl_error_set(CL_EFAIL, "cannot write '%s': %s", what, strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* rename without replacing: renameat2 where the kernel has it, else link + unlink. */
static int rename_noreplace(int dirfd, const char *from, const char *to)
{
#ifdef RENAME_NOREPLACE
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
#endif
	if (linkat(dirfd, from, dirfd, to, 0) != 0)
		return -1;
	unlinkat(dirfd, from, 0);
	return 0;
}

/*
 * Deferred durability (cl_file_defer_begin): the file systems written to since
 * the last cl_file_sync, one open directory of each to syncfs() through.
 */
enum { DEFER_FS_MAX = 8 };
static struct {
	pthread_mutex_t lock;
	int depth;
	size_t n;
	dev_t dev[DEFER_FS_MAX];
	int fd[DEFER_FS_MAX];
} deferred = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool defer_active(void)
{
	pthread_mutex_lock(&deferred.lock);
	bool on = deferred.depth > 0;
	pthread_mutex_unlock(&deferred.lock);
	return on;
}

/* Called with the lock held. Every pending file system is synced, even after a failure. */
static int sync_pending_locked(void)
{
	int rc = 0;

	for (size_t i = 0; i < deferred.n; i++) {
		if (syncfs(deferred.fd[i]) != 0 && rc == 0)
			rc = cl_error_set(CL_EFAIL, "cannot make written files durable: syncfs: %s",
					  strerror(errno));
		close(deferred.fd[i]);
	}
	deferred.n = 0;
	return rc;
}

int cl_file_sync(void)
{
	pthread_mutex_lock(&deferred.lock);
	int rc = sync_pending_locked();
	pthread_mutex_unlock(&deferred.lock);
	return rc;
}

void cl_file_defer_begin(void)
{
	pthread_mutex_lock(&deferred.lock);
	deferred.depth++;
	pthread_mutex_unlock(&deferred.lock);
}

int cl_file_defer_end(void)
{
	int rc = 0;

	pthread_mutex_lock(&deferred.lock);
	if (deferred.depth > 0 && --deferred.depth == 0)
		rc = sync_pending_locked();
	pthread_mutex_unlock(&deferred.lock);
	return rc;
}

/* A file was renamed into dirfd without an fsync: its file system needs a sync. */
static int defer_note(int dirfd, const char *display)
{
	struct stat sb;
	int rc = 0;

	if (fstat(dirfd, &sb) != 0)
		return cl_error_set(CL_EFAIL, "cannot sync '%s': %s", display, strerror(errno));
	pthread_mutex_lock(&deferred.lock);
	size_t i = 0;
	while (i < deferred.n && deferred.dev[i] != sb.st_dev)
		i++;
	if (i == deferred.n) {
		if (deferred.n == DEFER_FS_MAX)
			rc = sync_pending_locked(); /* many file systems: sync early, never late */
		int fd = rc ? -1 : fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
		if (fd >= 0) {
			deferred.dev[deferred.n] = sb.st_dev;
			deferred.fd[deferred.n++] = fd;
		} else if (rc == 0) {
			rc = cl_error_set(CL_EFAIL, "cannot sync '%s': %s", display, strerror(errno));
		}
	}
	pthread_mutex_unlock(&deferred.lock);
	return rc;
}

/*
 * The whole file on disk before its name is: fsync, or, when deferred, its data
 * written and waited for (no journal commit, no cache flush: the later syncfs
 * does those, and orders this data before the rename).
 */
static int sync_data(int fd, bool defer, const char *display)
{
	if (defer) {
		if (sync_file_range(fd, 0, 0,
				    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					    SYNC_FILE_RANGE_WAIT_AFTER) == 0)
			return 0;
		if (errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
			return cl_error_set(CL_EFAIL, "cannot sync '%s': %s", display,
					    strerror(errno));
		/* A file system without it: a plain fsync, as without deferral. */
	}
	if (fsync(fd) != 0)
		return cl_error_set(CL_EFAIL, "cannot sync '%s': %s", display, strerror(errno));
	return 0;
}

int cl_file_durable_fd(int fd, const char *display)
{
	bool defer = defer_active();
	int rc = sync_data(fd, defer, display);

	if (rc == 0 && defer)
		rc = defer_note(fd, display);
	return rc;
}

static int write_at(int dirfd, const char *name, const char *display, const void *data,
		    size_t len, unsigned mode, unsigned flags)
{
	char *tmp = NULL;
	bool defer = defer_active();
	int rc = 0, fd = tmp_openat(dirfd, name, display, mode, &tmp);

	if (fd < 0)
		return fd;
	rc = write_all(fd, data, len, display);
	if (rc == 0)
		rc = sync_data(fd, defer, display);
	if (close(fd) != 0 && rc == 0)
		rc = cl_error_set(CL_EFAIL, "cannot close '%s': %s", display, strerror(errno));
	if (rc == 0 && (flags & CL_WRITE_NOREPLACE)) {
		if (rename_noreplace(dirfd, tmp, name) != 0)
			rc = cl_error_set(errno == EEXIST ? CL_EEXIST : CL_EFAIL,
					  "cannot create '%s': %s", display, strerror(errno));
	} else if (rc == 0 && renameat(dirfd, tmp, dirfd, name) != 0) {
		/* rename replaces a symlink or file at name; it never writes through one. */
		rc = cl_error_set(errno == EISDIR ? CL_EINVAL : CL_EFAIL, "cannot replace '%s': %s",
				  display, strerror(errno));
	}
	if (rc != 0)
		unlinkat(dirfd, tmp, 0);
	else if (defer)
		rc = defer_note(dirfd, display);
	free(tmp);
	return rc;
}

int cl_write_file_at(int dirfd, const char *name, const void *data, size_t len, unsigned mode,
		     unsigned flags)
{
	return write_at(dirfd, name, name, data, len, mode, flags);
}

int cl_write_file(const char *path, const void *data, size_t len, unsigned mode)
{
	const char *name;
	int dirfd, rc;

	if ((rc = open_parent(path, &dirfd, &name)) == 0)
		rc = write_at(dirfd, name, path, data, len, mode, 0);
	if (dirfd >= 0)
		close(dirfd);
	return rc;
}

/*
 * One directory: created with exactly mode (mkdir's is cut by the umask, so it
 * is set again, on the directory just made and opened without following a
 * link). An existing one is left as it is.
 */
static int mkdir_one(const char *p, unsigned mode, bool *created)
{
	struct stat sb;
	int fd;

	*created = false;
	if (mkdir(p, (mode_t)(mode & 0700)) != 0) {
		int err = errno;
		if (err == EEXIST && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
			return 0;
		if (err == EEXIST)
			return cl_error_set(CL_EINVAL, "cannot create directory '%s': it exists and is "
							"not a directory",
					    p);
		return cl_error_set(err == ENOTDIR ? CL_EINVAL : CL_EFAIL,
				    "cannot create directory '%s': %s", p, strerror(err));
	}
	*created = true;
	fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchmod(fd, (mode_t)(mode & 07777)) != 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		return cl_error_set(CL_EFAIL, "cannot set the mode of new directory '%s': %s", p,
				    strerror(err));
	}
	close(fd);
	return 0;
}

int cl_mkdir_new(const char *path, unsigned mode, bool *created)
{
	char *p = NULL;
	bool made = false;
	size_t n;
	int rc = 0;

	if (created)
		*created = false;
	if (!path || !*path)
		return cl_error_set(CL_EINVAL, "the directory name is empty");
	p = cl_strdup(path);
	n = strlen(p);
	while (n > 1 && p[n - 1] == '/') /* "dir/" is "dir"; "/" stays "/" */
		p[--n] = '\0';
	/*
	 * From the deepest directory that exists: usually the whole path (one stat),
	 * else its parent; not a mkdir of every component from "/".
	 */
	char *from = p + 1;
	for (char *s = p + n; s > p; s--) {
		struct stat sb;
		if ((*s != '/' && *s != '\0') || s[-1] == '/')
			continue;
		char saved = *s;
		*s = '\0';
		int found = stat(p, &sb) == 0;
		*s = saved;
		if (!found)
			continue;
		if (s == p + n) {
			if (!S_ISDIR(sb.st_mode))
				rc = cl_error_set(CL_EINVAL, "cannot create directory '%s': it exists "
								"and is not a directory",
						  p);
			free(p);
			return rc;
		}
		from = s + 1; /* a file in the way: the mkdir below says ENOTDIR */
		break;
	}
	for (char *s = from; s <= p + n; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		if (s[-1] == '/') /* "a//b": nothing between the slashes */
			continue;
		char saved = *s;
		*s = '\0';
		rc = mkdir_one(p, mode, &made);
		*s = saved;
		if (rc)
			break;
	}
	if (n == 1 && p[0] == '/')
		made = false;
	if (rc == 0 && created)
		*created = made;
	free(p);
	return rc;
}

int cl_mkdir_p(const char *path, unsigned mode)
{
	return cl_mkdir_new(path, mode, NULL);
}
