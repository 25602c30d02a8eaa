/*
 * Files a student's access is written to where a user points: `students export DIR`
 * and X2Go's session list (connect --x2go --write). Nothing there is written through
 * or chmodded unless classlab made it.
 */
#include "classlab/cl_students.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_ssh.h"
#include "classlab/banned.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * students export writes where a user points: it never writes through or
 * chmods what it did not make there. The manifest lists what an export wrote,
 * so --force can replace those files (and only those) on a re-export.
 */
#define EXPORT_MANIFEST ".classlab-export"
static const char *const export_files[] = {"id_ed25519", "known_hosts", "ssh_config",
					   "x2go-session", "README.txt"};
#define N_EXPORT_FILES (sizeof(export_files) / sizeof(export_files[0]))

/* The names an earlier export listed, one per line, "\n"-joined with a leading "\n". */
static int read_manifest(int dirfd, const char *dir, cl_buf *names)
{
	struct stat sb;
	char buf[4096];
	ssize_t n;
	int fd = openat(dirfd, EXPORT_MANIFEST, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid()) {
		if (fd >= 0)
			close(fd);
		return cl_error_set(CL_EEXIST,
				    "'%s' is not empty and holds no earlier export of yours (no "
				    "%s): give a new or empty directory",
				    dir, EXPORT_MANIFEST);
	}
	cl_buf_putc(names, '\n');
	while ((n = read(fd, buf, sizeof(buf))) > 0 && names->len < 65536)
		cl_buf_add(names, buf, (size_t)n);
	close(fd);
	cl_buf_putc(names, '\n');
	return 0;
}

/* May this export put name in the directory? Only over an earlier export's own regular file. */
static int export_may_write(int dirfd, const char *dir, const char *name, bool force,
			    const cl_buf *manifest)
{
	struct stat sb;
	char *line;
	bool listed;

	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0
				       : cl_error_set(CL_EFAIL, "cannot check '%s/%s': %s", dir, name,
						      strerror(errno));
	if (!force)
		return cl_error_set(CL_EEXIST, "'%s/%s' already exists: not replacing it", dir, name);
	line = cl_aprintf("\n%s\n", name);
	listed = strcmp(name, EXPORT_MANIFEST) == 0 || strstr(cl_buf_str(manifest), line);
	free(line);
	if (!listed)
		return cl_error_set(CL_EEXIST,
				    "'%s/%s' was not written by an earlier export (not in %s): not "
				    "replacing it",
				    dir, name, EXPORT_MANIFEST);
	if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid())
		return cl_error_set(CL_EEXIST,
				    "'%s/%s' is no longer the file an earlier export wrote (%s): not "
				    "replacing it",
				    dir, name, S_ISLNK(sb.st_mode) ? "now a symbolic link"
				    : S_ISREG(sb.st_mode)	   ? "another owner"
								   : "not a regular file");
	return 0;
}

/*
 * Opens the export directory: made here (0700, with any missing parents), or an
 * existing empty one (its mode left alone); never a symlink, never another
 * directory's files. With force, a non-empty one whose files in the way an
 * earlier export wrote. Refusals are CL_EEXIST (exit 4).
 */
static int export_dir_open(const char *dir, bool force, int *out)
{
	char *p = cl_strdup(dir);
	cl_buf manifest = CL_BUF_INIT;
	struct stat sb;
	DIR *d = NULL;
	bool empty = true;
	int fd = -1, rc = 0;

	*out = -1;
	cl_path_trim(p); /* lstat("link/") or lstat("link/.") would follow the link */
	const char *last = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
	if (strcmp(last, "..") == 0) {
		rc = cl_error_set(CL_EINVAL, "'%s' ends in '..': name the export directory itself",
				  dir);
		goto out;
	}
	if (lstat(p, &sb) != 0 && errno == ENOENT && (rc = cl_mkdir_new(p, 0700, NULL)))
		goto out;
	if (lstat(p, &sb) != 0) {
		rc = cl_error_set(errno == ENOTDIR ? CL_EEXIST : CL_EFAIL, "cannot use '%s': %s", dir,
				  errno == ENOTDIR ? "a part of it is a file, not a directory"
						   : strerror(errno));
		goto out;
	}
	if (S_ISLNK(sb.st_mode) || !S_ISDIR(sb.st_mode)) {
		rc = cl_error_set(CL_EEXIST, "'%s' is %s: give a new or empty directory", dir,
				  S_ISLNK(sb.st_mode) ? "a symbolic link (not followed)"
						      : "not a directory");
		goto out;
	}
	fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = cl_error_set(errno == ELOOP || errno == ENOTDIR ? CL_EEXIST : CL_EFAIL,
				  "cannot open directory '%s': %s", dir, strerror(errno));
		goto out;
	}
	int dfd = dup(fd);
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		rc = cl_error_set(CL_EFAIL, "cannot list '%s': %s", dir, strerror(errno));
		goto out;
	}
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	if (!empty && !force) {
		rc = cl_error_set(CL_EEXIST,
				  "'%s' is not empty: give a new or empty directory (--force replaces "
				  "only the files an earlier export wrote there)",
				  dir);
		goto out;
	}
	if (!empty && (rc = read_manifest(fd, dir, &manifest)))
		goto out;
	if ((rc = export_may_write(fd, dir, EXPORT_MANIFEST, force, &manifest)))
		goto out;
	for (size_t i = 0; i < N_EXPORT_FILES; i++)
		if ((rc = export_may_write(fd, dir, export_files[i], force, &manifest)))
			goto out;
	*out = fd;
	fd = -1;
out:
	if (d)
		closedir(d);
	if (fd >= 0)
		close(fd);
	cl_buf_free(&manifest);
	free(p);
	return rc;
}

/* What the export's README says: the commands to run from the folder, and the page's link. */
static void export_readme(const cl_access *a, const char *link, cl_buf *b)
{
	char *cmd = cl_access_ssh_command(a, 0, 0), *tcmd = cl_access_ssh_command(a, 8888, 8888);

	cl_buf_printf(b,
		      "Your lab VM: %s\n\n"
		      "From this folder, log in with:\n  ssh -F ssh_config %s\n"
		      "or, with your own ssh settings:\n  %s -i id_ed25519 -o UserKnownHostsFile=known_hosts\n\n"
		      "Jupyter through a tunnel (then open http://localhost:8888 here):\n"
		      "  ssh -F ssh_config -L 8888:localhost:8888 %s\n  (%s)\n\n"
		      "X2Go: import x2go-session (SSH port %d, session type XFCE).\n"
		      "The server's key fingerprint is %s; ssh checks it for you.\n",
		      a->vm, a->vm, cmd, a->vm, tcmd, a->port, a->fingerprint);
	if (link)
		cl_buf_printf(b,
			      "\nYour class web page (start and stop your VM, hours left): open\n  %s\n"
			      "once in your browser; the link then stops working, and that browser "
			      "stays signed in.\n",
			      link);
	free(cmd);
	free(tcmd);
}

/*
 * The bundle's files in export_files' order (files[0] empty when classlab does not
 * hold the key), pointing at each other by relative names.
 */
static int bundle_build(cl_ctx *ctx, const char *lab, const char *student, const char *link,
			cl_buf files[N_EXPORT_FILES])
{
	cl_access a = {0};
	int rc;

	if ((rc = cl_access_get(ctx, lab, student, &a)))
		goto out;
	if (a.identity_file) {
		if ((rc = cl_read_file(a.identity_file, 65536, &files[0])))
			goto out;
		free(a.identity_file);
		a.identity_file = cl_strdup("id_ed25519");
	}
	cl_buf_printf(&files[1], "%s\n", a.known_hosts_line);
	free(a.known_hosts_file);
	a.known_hosts_file = cl_strdup("known_hosts");
	cl_access_ssh_config(&a, &files[2]);
	cl_access_x2go_session(&a, &files[3]);
	export_readme(&a, link, &files[4]);
out:
	cl_access_clear(&a);
	return rc;
}

static void bundle_free(cl_buf files[N_EXPORT_FILES])
{
	for (size_t i = 0; i < N_EXPORT_FILES; i++)
		cl_buf_free(&files[i]);
}

/* Writes one file of the export and notes its path in *written. */
static int export_put(int dirfd, const char *dir, const char *name, const cl_buf *b,
		      unsigned mode, unsigned flags, char ***written, size_t *n)
{
	int rc = cl_write_file_at(dirfd, name, b->data ? b->data : "", b->len, mode, flags);
	if (rc == 0) {
		*written = cl_realloc(*written, (*n + 1) * sizeof(char *));
		(*written)[(*n)++] = cl_path_join(dir, name);
	}
	return rc;
}

int cl_students_export(cl_ctx *ctx, const char *lab, const char *student, const char *dir,
		       bool force, const char *link, char ***written, size_t *nwritten)
{
	cl_buf b = CL_BUF_INIT, files[N_EXPORT_FILES] = {CL_BUF_INIT};
	char **paths = NULL;
	size_t n = 0;
	/* A name that appeared since the check is kept. */
	unsigned wflags = force ? 0 : CL_WRITE_NOREPLACE;
	int rc, dirfd = -1;

	*written = NULL;
	*nwritten = 0;
	if ((rc = bundle_build(ctx, lab, student, link, files)) ||
	    (rc = export_dir_open(dir, force, &dirfd)))
		goto out;
	cl_buf_printf(&b, "# written by 'classlab students export'; --force replaces only these\n");
	for (size_t i = 0; i < N_EXPORT_FILES; i++)
		if (i > 0 || files[0].len)
			cl_buf_printf(&b, "%s\n", export_files[i]);
	if ((rc = export_put(dirfd, dir, EXPORT_MANIFEST, &b, 0644, wflags, &paths, &n)))
		goto out;
	for (size_t i = 0; i < N_EXPORT_FILES; i++)
		if ((i > 0 || files[0].len) &&
		    (rc = export_put(dirfd, dir, export_files[i], &files[i], i == 0 ? 0600 : 0644,
				     wflags, &paths, &n)))
			goto out;
	*written = paths;
	*nwritten = n;
	paths = NULL;
out:
	if (rc && dirfd >= 0)
		cl_error_wrap("cannot export to '%s'", dir);
	if (dirfd >= 0)
		close(dirfd);
	cl_strv_free(paths, n);
	cl_buf_free(&b);
	bundle_free(files);
	return rc;
}

static la_ssize_t zip_write(struct archive *ar, void *arg, const void *data, size_t len)
{
	(void)ar;
	cl_buf_add(arg, data, len);
	return (la_ssize_t)len;
}

int cl_students_bundle_zip(cl_ctx *ctx, const char *lab, const char *student, cl_buf *out)
{
	cl_buf files[N_EXPORT_FILES] = {CL_BUF_INIT};
	struct archive *ar = NULL;
	struct archive_entry *e = NULL;
	char *top = NULL;
	int rc;

	if ((rc = bundle_build(ctx, lab, student, NULL, files)))
		goto out;
	top = cl_vm_name(lab, student);
	ar = archive_write_new();
	e = archive_entry_new();
	if (!ar || !e || archive_write_set_format_zip(ar) != ARCHIVE_OK ||
	    archive_write_open(ar, out, NULL, zip_write, NULL) != ARCHIVE_OK) {
		rc = cl_error_set(CL_EFAIL, "cannot make the bundle's zip: %s",
				  ar ? archive_error_string(ar) : "out of memory");
		goto out;
	}
	for (size_t i = 0; i < N_EXPORT_FILES; i++) {
		if (i == 0 && !files[0].len)
			continue;
		char *name = cl_aprintf("%s/%s", top, export_files[i]);
		archive_entry_clear(e);
		archive_entry_set_pathname(e, name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, i == 0 ? 0600 : 0644);
		archive_entry_set_size(e, (la_int64_t)files[i].len);
		archive_entry_set_mtime(e, (time_t)cl_ctx_now(ctx), 0);
		free(name);
		if (archive_write_header(ar, e) != ARCHIVE_OK ||
		    (files[i].len &&
		     archive_write_data(ar, files[i].data, files[i].len) != (la_ssize_t)files[i].len)) {
			rc = cl_error_set(CL_EFAIL, "cannot make the bundle's zip: %s",
					  archive_error_string(ar));
			goto out;
		}
	}
	if (archive_write_close(ar) != ARCHIVE_OK)
		rc = cl_error_set(CL_EFAIL, "cannot make the bundle's zip: %s", archive_error_string(ar));
out:
	if (e)
		archive_entry_free(e);
	if (ar)
		archive_write_free(ar);
	free(top);
	bundle_free(files);
	return rc;
}

int cl_access_x2go_write(cl_ctx *ctx, const cl_access *a, const char *home, char **written)
{
	char *dir = NULL, *path = NULL, *header = NULL;
	cl_buf old = CL_BUF_INIT, entry = CL_BUF_INIT;
	int rc;

	(void)ctx;
	*written = NULL;
	if (!home || !*home)
		return cl_error_set(CL_EINVAL, "HOME is not set: cannot find ~/.x2goclient");
	dir = cl_path_join(home, ".x2goclient");
	path = cl_path_join(dir, "sessions");
	if ((rc = cl_mkdir_p(dir, 0700)))
		goto out;
	rc = cl_read_file(path, 1 << 20, &old);
	if (rc == CL_ENOTFOUND)
		rc = 0;
	if (rc)
		goto out;
	cl_access_x2go_session(a, &entry);
	header = cl_aprintf("[%s]\n", a->vm);
	if (old.data && strstr(old.data, header)) {
		rc = cl_error_set(CL_EEXIST, "'%s' already has a session named '%s'", path, a->vm);
		goto out;
	}
	if (old.len && old.data[old.len - 1] != '\n')
		cl_buf_putc(&old, '\n');
	cl_buf_add(&old, entry.data, entry.len);
	if ((rc = cl_write_file(path, old.data, old.len, 0600)))
		goto out;
	*written = path;
	path = NULL;
out:
	free(header);
	cl_buf_free(&old);
	cl_buf_free(&entry);
	free(path);
	free(dir);
	return rc;
}
