/* Where classlab keeps its data and caches (XDG base directories). */
#include "classlab/cl_util.h"
#include "classlab/banned.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	return cl_aprintf("%s/%s/classlab", home && *home ? home : "/tmp", fallback);
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

int cl_private_dir(const char *what, const char *dir, bool create)
{
	struct stat sb;
	size_t n = dir ? strlen(dir) : 0;
	char *p = NULL;
	int rc = 0;

	if (n == 0)
		return cl_error_set(CL_EINVAL, "the %s path is empty", what);
	/* lstat("link/") would follow the link: look at the name without trailing slashes. */
	p = cl_strdup(dir);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
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
