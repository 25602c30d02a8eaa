/* Where classlab keeps its data and caches (XDG base directories). */
#include "classlab/cl_util.h"
#include "classlab/banned.h"

#include <string.h>

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
