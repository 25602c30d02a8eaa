/* Key files: the lab's admin key, students' keys and VMs' host keys, made once and kept. */
#include "classlab/cl_ssh.h"
#include "classlab/banned.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cl_keypair_clear(cl_keypair *k)
{
	if (!k)
		return;
	free(k->private_path);
	free(k->public_line);
	cl_ssh_free_secret(k->private_pem);
	memset(k, 0, sizeof(*k));
}

static int private_dir(const char *path)
{
	struct stat sb;

	/* Already there and private (every call after the first): one stat, nothing written. */
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 07777) == 0700)
		return 0;
	int rc = cl_mkdir_p(path, 0700);
	if (rc == 0 && chmod(path, 0700) != 0)
		rc = cl_error_set(CL_EFAIL, "cannot chmod '%s': %s", path, strerror(errno));
	return rc;
}

int cl_lab_dir(const char *data_dir, const char *lab, char **out)
{
	char *dir = cl_aprintf("%s/labs/%s", data_dir, lab);
	int rc = cl_name_check("lab name", lab);

	if (rc == 0)
		rc = private_dir(dir);
	if (rc) {
		free(dir);
		return rc;
	}
	*out = dir;
	return 0;
}

static void strip_newline(cl_buf *b)
{
	while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
		b->data[--b->len] = '\0';
}

/*
 * Writes dir/<base>.pub, then dir/<base> (mode 0600), in a directory that is
 * no symlink and that only its owner can enter (as cl_ssh_write_private_key
 * checks). Both are made durable together, by one sync (or by the caller's,
 * when it batches: cl_file_defer_begin); each is whole before it is renamed
 * into place, and the public one comes first, so no private key is ever left
 * without its pair.
 */
static int write_pair(const char *dir, const char *base, const char *pem, const char *line)
{
	char *pubname = cl_aprintf("%s.pub", base), *pubfile = cl_aprintf("%s\n", line);
	struct stat sb;
	int rc = 0, fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) != 0)
		rc = cl_error_set(errno == ELOOP || errno == ENOTDIR ? CL_EINVAL : CL_EFAIL,
				  "cannot write private key '%s/%s': directory '%s': %s", dir, base,
				  dir, strerror(errno));
	else if (sb.st_mode & 077)
		rc = cl_error_set(CL_EINVAL,
				  "cannot write private key '%s/%s': directory '%s' has mode %04o, "
				  "must not be accessible by others (chmod 700)",
				  dir, base, dir, (unsigned)(sb.st_mode & 07777));
	if (rc == 0) {
		cl_file_defer_begin();
		rc = cl_write_file_at(fd, pubname, pubfile, strlen(pubfile), 0644, 0);
		if (rc == 0)
			rc = cl_write_file_at(fd, base, pem, strlen(pem), 0600, 0);
		int src = cl_file_defer_end();
		if (rc == 0)
			rc = src;
	}
	if (fd >= 0)
		close(fd);
	free(pubname);
	free(pubfile);
	return rc;
}

/* dir/<base> and dir/<base>.pub: read them, or generate both when the private one is missing. */
static int ensure_pair(const char *dir, const char *base, const char *comment, bool want_pem,
		       cl_keypair *out)
{
	char *priv = cl_aprintf("%s/%s", dir, base), *pub = cl_aprintf("%s.pub", priv);
	char *pem = NULL, *line = NULL;
	cl_buf b = CL_BUF_INIT;
	struct stat sb;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = private_dir(dir)))
		goto out;
	if (lstat(priv, &sb) == 0) {
		if ((rc = cl_read_file(pub, 16384, &b)))
			goto out;
		strip_newline(&b);
		line = cl_buf_detach(&b);
		if (want_pem) {
			if ((rc = cl_read_file(priv, 65536, &b)))
				goto out;
			pem = cl_buf_detach(&b);
		}
	} else {
		if ((rc = cl_ssh_keygen_ed25519(&pem, &line, comment)) ||
		    (rc = write_pair(dir, base, pem, line)))
			goto out;
	}
	out->private_path = priv;
	out->public_line = line;
	out->private_pem = want_pem ? pem : NULL;
	priv = NULL;
	line = NULL;
	if (want_pem)
		pem = NULL;
out:
	cl_buf_free(&b);
	cl_ssh_free_secret(pem);
	free(line);
	free(priv);
	free(pub);
	return rc;
}

/* The key pair <lab dir>/<sub>/<file>, made on first use; sub and comment are taken. */
static int lab_pair(const char *data_dir, const char *lab, char *sub, const char *file,
		    char *comment, bool host, cl_keypair *out)
{
	char *dir = NULL, *path;
	int rc = cl_lab_dir(data_dir, lab, &dir);

	if (rc == 0) {
		path = cl_path_join(dir, sub);
		rc = ensure_pair(path, file, comment, host, out);
		free(path);
	}
	free(comment);
	free(sub);
	free(dir);
	return rc;
}

int cl_keys_admin(const char *data_dir, const char *lab, cl_keypair *out)
{
	return lab_pair(data_dir, lab, cl_strdup("admin"), "id_ed25519",
			cl_aprintf("classlab-admin@%s", lab), false, out);
}

int cl_keys_student(const char *data_dir, const char *lab, const char *student,
		    const char *supplied_public, cl_keypair *out)
{
	int rc;

	if (supplied_public) {
		memset(out, 0, sizeof(*out));
		out->public_line = cl_strdup(supplied_public);
		return 0;
	}
	if ((rc = cl_name_check("student name", student)))
		return rc;
	return lab_pair(data_dir, lab, cl_aprintf("students/%s", student), "id_ed25519",
			cl_aprintf("%s@%s", student, lab), false, out);
}

int cl_keys_host(const char *data_dir, const char *lab, const char *vm, cl_keypair *out)
{
	return lab_pair(data_dir, lab, cl_aprintf("hostkeys/%s", vm), "ssh_host_ed25519_key",
			cl_aprintf("root@%s", vm), true, out);
}

/*
 * Removes name (a file, or a directory and everything in it) under the directory
 * dirfd, never following a symlink: a link is removed, not what it points to.
 */
static int remove_at(int dirfd, const char *name, const char *shown_path, int depth)
{
	int fd, rc = 0;
	DIR *d;
	struct dirent *e;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return cl_error_set(CL_EFAIL, "cannot remove '%s/%s': %s", shown_path, name,
				    strerror(errno));
	if (depth > 8)
		return cl_error_set(CL_EFAIL, "cannot remove '%s/%s': nested too deep", shown_path,
				    name);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0
				       : cl_error_set(CL_EFAIL, "cannot open '%s/%s': %s",
						      shown_path, name, strerror(errno));
	if (!(d = fdopendir(fd))) {
		close(fd);
		return cl_error_set(CL_EFAIL, "cannot read '%s/%s': %s", shown_path, name,
				    strerror(errno));
	}
	char *sub = cl_aprintf("%s/%s", shown_path, name);
	while (rc == 0 && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			rc = remove_at(fd, e->d_name, sub, depth + 1);
	free(sub);
	closedir(d);
	if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		rc = cl_error_set(CL_EFAIL, "cannot remove '%s/%s': %s", shown_path, name,
				  strerror(errno));
	return rc;
}

/* Removes <data>/labs/<lab>/<rel>; *removed says whether there was anything. */
static int lab_remove(const char *data_dir, const char *lab, const char *rel, bool *removed)
{
	char *dir = cl_aprintf("%s/labs/%s", data_dir, lab);
	struct stat sb;
	int fd = -1, rc = cl_name_check("lab name", lab);

	if (rc)
		goto out;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			rc = cl_error_set(CL_EFAIL, "cannot open '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (fstatat(fd, rel, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		goto out; /* nothing there */
	*removed = true;
	rc = remove_at(fd, rel, dir, 0);
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

int cl_keys_forget(const char *data_dir, const char *lab, const char *student, const char *vm,
		   bool *removed)
{
	char *rel = NULL;
	int rc;

	*removed = false;
	if ((rc = cl_name_check("student name", student)))
		return rc;
	rel = cl_aprintf("students/%s", student);
	rc = lab_remove(data_dir, lab, rel, removed);
	free(rel);
	if (rc == 0 && vm) {
		rel = cl_aprintf("hostkeys/%s", vm);
		rc = lab_remove(data_dir, lab, rel, removed);
		free(rel);
	}
	return rc;
}

int cl_lab_dir_remove(const char *data_dir, const char *lab)
{
	char *labs = cl_path_join(data_dir, "labs");
	int fd, rc = cl_name_check("lab name", lab);

	if (rc == 0 && (fd = open(labs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		rc = remove_at(fd, lab, labs, 0);
		close(fd);
	} else if (rc == 0 && errno != ENOENT) {
		rc = cl_error_set(CL_EFAIL, "cannot open '%s': %s", labs, strerror(errno));
	}
	free(labs);
	return rc;
}
