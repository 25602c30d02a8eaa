/* Where classlab keeps its data and caches (XDG base directories). */
#include "classlab/cl_util.h"
#include "classlab/banned.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

size_t cl_path_trim(char *p)
{
	size_t n = strlen(p);

	for (;;) {
		if (n > 1 && p[n - 1] == '/')
			p[--n] = '\0';
		else if (n > 2 && p[n - 1] == '.' && p[n - 2] == '/')
			p[n -= 2] = '\0';
		else
			return n;
	}
}

char *cl_path_join(const char *a, const char *b)
{
	size_t n = strlen(a);
	if (n > 0 && a[n - 1] == '/')
		return cl_aprintf("%s%s", a, b);
	return cl_aprintf("%s/%s", a, b);
}

static char *xdg_dir(const char *override, const char *xdg, const char *home, const char *fallback)
{
	if (override && *override)
		return cl_strdup(override);
	if (xdg && xdg[0] == '/')
		return cl_path_join(xdg, "classlab");
	/* No home: no guess (a shared /tmp would let another user make the path first). */
	if (!home || home[0] != '/')
		return NULL;
	return cl_aprintf("%s/%s/classlab", home, fallback);
}

char *cl_paths_data_dir(const cl_env *env)
{
	return xdg_dir(env->classlab_home, env->xdg_data_home, env->home, ".local/share");
}

char *cl_paths_cache_dir(const cl_env *env)
{
	char *dir = NULL;

	if (env->classlab_home && *env->classlab_home)
		return cl_path_join(env->classlab_home, "cache");
	dir = xdg_dir(NULL, env->xdg_cache_home, env->home, ".cache");
	return dir;
}

/*
 * Every directory above a private one must be the caller's or root's, and
 * writable by nobody else unless sticky (/tmp): otherwise its owner could
 * rename the path away and put their own directory in its place. Symlinks
 * above are followed (the admin's /home -> /var/home): the real path counts.
 */
static int check_ancestors(const char *what, const char *dir)
{
	char *p = cl_strdup(dir), *real = NULL, *slash;
	struct stat sb;
	int rc = 0;

	/* The deepest part of the path that exists: what is missing, we create 0700. */
	for (;;) {
		slash = strrchr(p, '/');
		if (!slash || slash == p) {
			free(p);
			p = cl_strdup(slash ? "/" : ".");
			break;
		}
		*slash = '\0';
		if (lstat(p, &sb) == 0)
			break;
	}
	if (!(real = realpath(p, NULL))) {
		rc = cl_error_set(CL_EFAIL, "cannot use %s '%s': cannot resolve '%s': %s", what, dir,
				  p, strerror(errno));
		goto out;
	}
	for (;;) {
		if (stat(real, &sb) != 0) {
			rc = cl_error_set(CL_EFAIL, "cannot use %s '%s': cannot stat '%s': %s", what,
					  dir, real, strerror(errno));
			break;
		}
		if (sb.st_uid != 0 && sb.st_uid != geteuid()) {
			rc = cl_error_set(CL_EINVAL,
					  "%s '%s' is inside '%s', which belongs to uid %ld: its owner "
					  "could swap the path; use a directory under your own",
					  what, dir, real, (long)sb.st_uid);
			break;
		}
		if ((sb.st_mode & 022) && !(sb.st_mode & S_ISVTX)) {
			rc = cl_error_set(CL_EINVAL,
					  "%s '%s' is inside '%s', which others can write (mode %04o): "
					  "they could swap the path; use a directory under your own",
					  what, dir, real, (unsigned)(sb.st_mode & 07777));
			break;
		}
		if (strcmp(real, "/") == 0)
			break;
		slash = strrchr(real, '/');
		if (slash == real)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
out:
	free(real);
	free(p);
	return rc;
}

int cl_private_dir(const char *what, const char *dir, bool create)
{
	struct stat sb;
	size_t n = dir ? strlen(dir) : 0;
	char *p = NULL;
	int rc = 0;

	if (!dir)
		return cl_error_set(CL_EINVAL,
				    "no %s: HOME is not set and the user has no home directory; set "
				    "CLASSLAB_HOME, XDG_DATA_HOME or HOME",
				    what);
	if (n == 0)
		return cl_error_set(CL_EINVAL, "the %s path is empty", what);
	/* lstat("link/") or lstat("link/.") would follow the link: look at the name itself. */
	p = cl_strdup(dir);
	n = cl_path_trim(p);
	if (n >= 2 && strcmp(p + n - 2, "..") == 0 && (n == 2 || p[n - 3] == '/')) {
		rc = cl_error_set(CL_EINVAL, "%s '%s' ends in '..': name the directory itself", what,
				  dir);
		goto out;
	}
	if (strcmp(p, "/") == 0) {
		rc = cl_error_set(CL_EINVAL, "%s '/' is the root directory: use a directory of its own",
				  what);
		goto out;
	}
	if ((rc = check_ancestors(what, p)))
		goto out;
	if (lstat(p, &sb) != 0) {
		if (errno != ENOENT)
			rc = cl_error_set(CL_EFAIL, "cannot use %s '%s': %s", what, dir,
					  strerror(errno));
		else if (create)
			rc = cl_mkdir_p(p, 0700); /* made here: 0700, ours */
		goto out;
	}
	/* Symlinks above it are the admin's business (/home -> /var/home); the last one is not. */
	if (S_ISLNK(sb.st_mode))
		rc = cl_error_set(CL_EINVAL,
				  "%s '%s' is a symbolic link: classlab does not follow it (its target "
				  "could change under it); point to the real directory instead",
				  what, dir);
	else if (!S_ISDIR(sb.st_mode))
		rc = cl_error_set(CL_EINVAL, "%s '%s' is not a directory", what, dir);
	else if (sb.st_uid != geteuid())
		rc = cl_error_set(CL_EINVAL,
				  "%s '%s' belongs to uid %ld, not to you (uid %ld): its owner could "
				  "plant keys or links in it; use a directory of your own",
				  what, dir, (long)sb.st_uid, (long)geteuid());
	else if (sb.st_mode & 022)
		rc = cl_error_set(CL_EINVAL,
				  "%s '%s' is writable by others (mode %04o): use a directory only you "
				  "can write",
				  what, dir, (unsigned)(sb.st_mode & 07777));
out:
	free(p);
	return rc;
}
