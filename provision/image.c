/* Base images: the built-in ones (tiny, debian-ds: built by their recipes, cached) or a cloud image file. */
#include "provision_internal.h"
#include "classlab/cl_spawn.h"
#include "classlab/banned.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECIPE_HASH_TIMEOUT_MS 30000
#define BUILD_TIMEOUT_MS (30 * 60 * 1000)
/*
 * Base images' volumes share the pool with VM disks named "<lab>-<student>":
 * '_' is in no lab or student name, so no VM's disk can ever take a base
 * image's name, nor an import replace a student's disk.
 */
#define CL_BASE_PREFIX "base_"

static void trim(cl_buf *b)
{
	while (b->len && isspace((unsigned char)b->data[b->len - 1]))
		b->data[--b->len] = '\0';
}

/* The last line of a command's stderr, for a message. */
static const char *last_line(cl_buf *b)
{
	char *nl;
	trim(b);
	nl = b->data ? strrchr(b->data, '\n') : NULL;
	return nl ? nl + 1 : cl_buf_str(b);
}

static bool hex_hash(const char *s)
{
	size_t n = strlen(s);
	if (n < 12 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int run_script(const char *const argv[], int timeout_ms, cl_buf *out)
{
	cl_buf err = CL_BUF_INIT;
	int status, rc;

	rc = cl_spawn(argv, NULL, timeout_ms, out, &err, &status);
	if (rc == 0 && status != 0)
		rc = cl_error_set(CL_EFAIL, "'%s %s' exited with status %d: %s", argv[0], argv[1], status,
				  last_line(&err));
	cl_buf_free(&err);
	return rc;
}

static bool file_exists(const char *dir, const char *name)
{
	char *p = cl_path_join(dir, name);
	struct stat st;
	bool ok = stat(p, &st) == 0 && S_ISREG(st.st_mode);
	free(p);
	return ok;
}

/* Uploads dir/file as volume vol and returns its path. */
static int import(cl_hv *hv, const char *pool, const char *dir, const char *file, const char *vol,
		  const char *fmt, char **path)
{
	char *src = dir ? cl_path_join(dir, file) : cl_strdup(file);
	int rc = cl_hv_vol_upload(hv, pool, vol, src, fmt, false);
	if (rc == 0)
		rc = cl_hv_vol_path(hv, pool, vol, path);
	if (rc < 0)
		cl_error_wrap("cannot import base image '%s'", src);
	free(src);
	return rc;
}

/*
 * The built-in images: a recipe <images_dir>/<name>/build.sh that builds into
 * <cache_dir>/images/<name> and writes the hash it was built from to
 * recipe.sha256 there. tiny boots its kernel directly; debian-ds from its disk.
 * The names are also in imagecheck.c (cl_image_is_builtin), which the store-only
 * front end links without this file.
 */
typedef struct builtin {
	const char *name;
	const char *disk;          /* the disk file in the cache dir */
	const char *const *others; /* other files a build must have made */
	bool direct_kernel;        /* vmlinuz + initrd.img, booted with cmdline */
	const char *cmdline;
} builtin;

static const char *const tiny_files[] = {"vmlinuz", "initrd.img", NULL};
static const char *const debian_ds_files[] = {"packages.txt", NULL};
static const builtin builtins[] = {
	{"tiny", "root.qcow2", tiny_files, true, "console=ttyS0 root=/dev/vda rw"},
	{"debian-ds", "disk.qcow2", debian_ds_files, false, NULL},
};
#define N_BUILTINS (sizeof(builtins) / sizeof(builtins[0]))

static const builtin *find_builtin(const char *name)
{
	for (size_t i = 0; name && i < N_BUILTINS; i++)
		if (strcmp(builtins[i].name, name) == 0)
			return &builtins[i];
	return NULL;
}

static bool built_files_exist(const builtin *b, const char *out_dir)
{
	if (!file_exists(out_dir, b->disk))
		return false;
	for (const char *const *f = b->others; *f; f++)
		if (!file_exists(out_dir, *f))
			return false;
	return true;
}

/* The recipe's hash now (*want) and the cached build's, if any (*have, else empty). */
static int recipe_state(const builtin *b, const char *script, const char *out_dir, cl_buf *want,
			cl_buf *have)
{
	char *stamp = cl_path_join(out_dir, "recipe.sha256");
	int rc = 0;

	if (access(script, X_OK) != 0) {
		rc = cl_error_set(CL_ENOTFOUND, "%s image recipe '%s' not found or not executable",
				  b->name, script);
		goto out;
	}
	{
		const char *argv[] = {script, "--recipe-hash", NULL};
		if ((rc = run_script(argv, RECIPE_HASH_TIMEOUT_MS, want)) < 0)
			goto out;
	}
	trim(want);
	if (!want->data || !hex_hash(want->data)) {
		rc = cl_error_set(CL_EFAIL, "'%s --recipe-hash' printed no hash ('%.40s')", script,
				  cl_buf_str(want));
		goto out;
	}
	if (cl_read_file(stamp, 4096, have) == 0)
		trim(have);
	else
		cl_buf_reset(have);
	cl_error_clear();
out:
	free(stamp);
	return rc;
}

/* Builds b into out_dir unless it is up to date (or force); *hash: the recipe hash. */
static int ensure_built(const builtin *b, const char *cache_dir, const char *images_dir, bool force,
			cl_buf *hash, char **out_dir_out)
{
	char *script = NULL, *out_dir = NULL, *stamp = NULL;
	cl_buf have = CL_BUF_INIT;
	int rc = 0;

	if (!images_dir || !cache_dir)
		return cl_error_set(CL_EINVAL, "the %s image needs an images and a cache directory",
				    b->name);
	script = cl_aprintf("%s/%s/build.sh", images_dir, b->name);
	out_dir = cl_aprintf("%s/images/%s", cache_dir, b->name);
	stamp = cl_path_join(out_dir, "recipe.sha256");
	if ((rc = recipe_state(b, script, out_dir, hash, &have)) < 0)
		goto out;
	if (force || !have.data || strcmp(have.data, hash->data) != 0 || !built_files_exist(b, out_dir)) {
		const char *argv_plain[] = {script, out_dir, NULL};
		const char *argv_force[] = {script, "--force", out_dir, NULL};
		if (cl_mkdir_p(out_dir, 0700) < 0) {
			rc = cl_error_wrap("cannot build the %s image", b->name);
			goto out;
		}
		if ((rc = run_script(force ? argv_force : argv_plain, BUILD_TIMEOUT_MS, NULL)) < 0) {
			cl_error_wrap("cannot build the %s image", b->name);
			goto out;
		}
		cl_buf_reset(&have);
		if (cl_read_file(stamp, 4096, &have) == 0)
			trim(&have);
		if (!have.data || strcmp(have.data, hash->data) != 0 || !built_files_exist(b, out_dir)) {
			rc = cl_error_set(CL_EFAIL,
					  "the %s image build did not write recipe hash %s to '%s' "
					  "or left out its files",
					  b->name, hash->data, stamp);
			goto out;
		}
	}
	*out_dir_out = out_dir;
	out_dir = NULL;
out:
	cl_buf_free(&have);
	free(stamp);
	free(out_dir);
	free(script);
	return rc;
}

int cl_image_builtin_files(const char *name, const char *cache_dir, const char *images_dir,
			   cl_image_files *out)
{
	const builtin *b = find_builtin(name);
	cl_buf hash = CL_BUF_INIT;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!b)
		return cl_error_set(CL_ENOTFOUND, "'%s' is not a built-in image (%s)", name,
				    cl_image_builtin_names());
	if ((rc = ensure_built(b, cache_dir, images_dir, false, &hash, &out->dir)) == 0) {
		for (size_t i = 0; i < 64 && i < hash.len; i++)
			out->hash[i] = (char)tolower((unsigned char)hash.data[i]);
		out->disk = b->disk;
		out->cmdline = b->direct_kernel ? b->cmdline : NULL;
	}
	cl_buf_free(&hash);
	return rc;
}

static int resolve_builtin(cl_hv *hv, const char *pool, const char *cache_dir, const char *images_dir,
			   const builtin *b, cl_image *img)
{
	char *out_dir = NULL;
	cl_buf hash = CL_BUF_INIT, vol = CL_BUF_INIT;
	char h12[13];
	int rc;

	if ((rc = ensure_built(b, cache_dir, images_dir, false, &hash, &out_dir)) < 0)
		goto out;
	snprintf(h12, sizeof(h12), "%.12s", hash.data);
	for (int i = 0; h12[i]; i++)
		h12[i] = (char)tolower((unsigned char)h12[i]);
	cl_buf_printf(&vol, CL_BASE_PREFIX "%s-%s.qcow2", b->name, h12);
	img->disk_vol = cl_strdup(vol.data);
	img->disk_format = cl_strdup("qcow2");
	if ((rc = import(hv, pool, out_dir, b->disk, vol.data, "qcow2", &img->disk_path)) < 0 ||
	    !b->direct_kernel)
		goto out;
	/* Kernel and initrd as volumes too, so a remote libvirtd has them. */
	cl_buf_reset(&vol);
	cl_buf_printf(&vol, CL_BASE_PREFIX "%s-%s-vmlinuz", b->name, h12);
	if ((rc = import(hv, pool, out_dir, "vmlinuz", vol.data, "raw", &img->kernel_path)) < 0)
		goto out;
	cl_buf_reset(&vol);
	cl_buf_printf(&vol, CL_BASE_PREFIX "%s-%s-initrd", b->name, h12);
	if ((rc = import(hv, pool, out_dir, "initrd.img", vol.data, "raw", &img->initrd_path)) < 0)
		goto out;
	img->cmdline = cl_strdup(b->cmdline);
out:
	cl_buf_free(&vol);
	cl_buf_free(&hash);
	free(out_dir);
	return rc;
}

void cl_image_info_clear(cl_image_info *i)
{
	if (!i)
		return;
	free(i->name);
	free(i->recipe_hash);
	free(i->built_hash);
	free(i->dir);
	free(i->disk);
	free(i->error);
	memset(i, 0, sizeof(*i));
}

void cl_image_info_list_free(cl_image_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		cl_image_info_clear(&v[i]);
	free(v);
}

/* What is cached for b: hashes, the files' total size, the disk's size. */
static void describe(const builtin *b, const char *cache_dir, const char *images_dir, cl_image_info *i)
{
	char *script = cl_aprintf("%s/%s/build.sh", images_dir ? images_dir : ".", b->name);
	char *disk;
	cl_buf want = CL_BUF_INIT, have = CL_BUF_INIT;
	struct stat st;

	i->name = cl_strdup(b->name);
	i->dir = cl_aprintf("%s/images/%s", cache_dir, b->name);
	i->disk = cl_strdup(b->disk);
	if (recipe_state(b, script, i->dir, &want, &have) == 0)
		i->recipe_hash = cl_strdup(want.data);
	else
		i->error = cl_strdup(cl_error_msg());
	cl_error_clear();
	i->built = have.data && *have.data && built_files_exist(b, i->dir);
	if (i->built) {
		i->built_hash = cl_strdup(have.data);
		disk = cl_path_join(i->dir, b->disk);
		if (stat(disk, &st) == 0)
			i->disk_bytes = (uint64_t)st.st_size;
		free(disk);
		i->bytes = i->disk_bytes;
		for (const char *const *f = b->others; *f; f++) {
			char *p = cl_path_join(i->dir, *f);
			if (stat(p, &st) == 0)
				i->bytes += (uint64_t)st.st_size;
			free(p);
		}
	}
	i->up_to_date = i->built && i->recipe_hash && strcmp(i->recipe_hash, i->built_hash) == 0;
	cl_buf_free(&have);
	cl_buf_free(&want);
	free(script);
}

int cl_image_build(const char *name, const char *cache_dir, const char *images_dir, bool force,
		   cl_image_info *out)
{
	const builtin *b = find_builtin(name);
	cl_buf hash = CL_BUF_INIT;
	char *dir = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!b)
		return cl_error_set(CL_EINVAL, "no built-in image '%s': the built-in images are %s",
				    name ? name : "", cl_image_builtin_names());
	if ((rc = ensure_built(b, cache_dir, images_dir, force, &hash, &dir)) == 0)
		describe(b, cache_dir, images_dir, out);
	cl_buf_free(&hash);
	free(dir);
	return rc;
}

int cl_image_list(const char *cache_dir, const char *images_dir, cl_image_info **out, size_t *n)
{
	if (!cache_dir)
		return cl_error_set(CL_EINVAL, "listing images needs a cache directory");
	*out = cl_calloc(N_BUILTINS, sizeof(**out));
	*n = N_BUILTINS;
	for (size_t i = 0; i < N_BUILTINS; i++)
		describe(&builtins[i], cache_dir, images_dir, &(*out)[i]);
	return 0;
}

int cl_image_file_id(const char *path, cl_image_file_id_t *id)
{
	cl_buf key = CL_BUF_INIT;
	const char *base, *dot;
	size_t n = 0;
	struct stat st;
	int rc;

	memset(id, 0, sizeof(*id));
	if (!realpath(path, id->real) || stat(id->real, &st) < 0)
		return cl_error_set(errno == ENOENT ? CL_ENOTFOUND : CL_EFAIL,
				    "cannot use image '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cl_error_set(CL_EINVAL, "image '%s' is not a regular file", path);
	/* Before anything is copied: no header may name another host file. */
	if ((rc = cl_image_check(id->real, &id->format)))
		return rc;
	/* Cheap identity (never hashing gigabytes): size, mtime and path. */
	cl_buf_printf(&key, "%lld\n%lld.%09ld\n%s", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
		      st.st_mtim.tv_nsec, id->real);
	cl_sha256_hex(key.data, key.len, id->hash);
	cl_buf_free(&key);
	base = strrchr(id->real, '/');
	base = base ? base + 1 : id->real;
	dot = strrchr(base, '.');
	for (const char *c = base; *c && (!dot || c < dot) && n < 40; c++) {
		char ch = (char)tolower((unsigned char)*c);
		id->name[n++] = isalnum((unsigned char)ch) || ch == '-' || ch == '_' ? ch : '-';
	}
	if (n == 0)
		snprintf(id->name, sizeof(id->name), "image");
	return 0;
}

static int resolve_file(cl_hv *hv, const char *pool, const char *path, cl_image *img)
{
	cl_image_file_id_t id;
	cl_buf vol = CL_BUF_INIT;
	const char *fmt, *fmt2 = NULL;
	int rc;

	if ((rc = cl_image_file_id(path, &id)))
		return rc;
	fmt = id.format;
	const char *real = id.real;
	cl_buf_printf(&vol, CL_BASE_PREFIX "%s-%.12s.%s", id.name, id.hash, fmt);
	img->disk_vol = cl_strdup(vol.data);
	img->disk_format = cl_strdup(fmt);
	rc = import(hv, pool, NULL, real, vol.data, fmt, &img->disk_path);
	/*
	 * The copy is what QEMU opens: check it too (the source may have changed
	 * since, or an older classlab imported it unchecked). A remote pool's path
	 * is not on this machine; its volume came from the checked source.
	 */
	if (rc == 0 && access(img->disk_path, R_OK) == 0 &&
	    (cl_image_check(img->disk_path, &fmt2) < 0 || strcmp(fmt2, fmt) != 0)) {
		/* Left in place: a template may already stand on it; nothing new will. */
		if (!fmt2)
			rc = cl_error_wrap("imported copy of image '%s'", path);
		else
			rc = cl_error_set(CL_EINVAL, "image '%s' changed while it was imported",
					  path);
	}
	cl_buf_free(&vol);
	return rc;
}

int cl_image_resolve(cl_hv *hv, const char *pool, const char *image, const char *cache_dir,
		     const char *images_dir, cl_image **out)
{
	cl_image *img = cl_calloc(1, sizeof(*img));
	int rc;

	*out = NULL;
	img->nocloud = true;
	if (!image || !*image)
		rc = cl_error_set(CL_EINVAL, "no base image given");
	else if (find_builtin(image))
		rc = resolve_builtin(hv, pool, cache_dir, images_dir, find_builtin(image), img);
	else
		rc = resolve_file(hv, pool, image, img);
	if (rc < 0)
		cl_image_free(img);
	else
		*out = img;
	return rc;
}
