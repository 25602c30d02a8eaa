/* Base images: the built-in tiny guest (built by its recipe, cached) or a cloud image file. */
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

int cl_image_tiny(const char *cache_dir, const char *images_dir, char **dir, char hash[65])
{
	char *script = NULL, *out_dir = NULL, *stamp = NULL;
	cl_buf want = CL_BUF_INIT, have = CL_BUF_INIT;
	int rc = 0;

	*dir = NULL;
	if (!images_dir || !cache_dir)
		return cl_error_set(CL_EINVAL, "the tiny image needs an images and a cache directory");
	script = cl_aprintf("%s/tiny/build.sh", images_dir);
	out_dir = cl_aprintf("%s/images/tiny", cache_dir);
	stamp = cl_path_join(out_dir, "recipe.sha256");
	if (access(script, X_OK) != 0) {
		rc = cl_error_set(CL_ENOTFOUND, "tiny image recipe '%s' not found or not executable",
				  script);
		goto out;
	}
	{
		const char *argv[] = {script, "--recipe-hash", NULL};
		if ((rc = run_script(argv, RECIPE_HASH_TIMEOUT_MS, &want)) < 0)
			goto out;
	}
	trim(&want);
	if (!want.data || !hex_hash(want.data)) {
		rc = cl_error_set(CL_EFAIL, "'%s --recipe-hash' printed no hash ('%.40s')", script,
				  cl_buf_str(&want));
		goto out;
	}
	if (cl_read_file(stamp, 4096, &have) == 0)
		trim(&have);
	cl_error_clear();
	if (!have.data || strcmp(have.data, want.data) != 0 || !file_exists(out_dir, "vmlinuz") ||
	    !file_exists(out_dir, "initrd.img") || !file_exists(out_dir, "root.qcow2")) {
		const char *argv[] = {script, out_dir, NULL};
		if (cl_mkdir_p(out_dir, 0700) < 0) {
			rc = cl_error_wrap("cannot build the tiny image");
			goto out;
		}
		if ((rc = run_script(argv, BUILD_TIMEOUT_MS, NULL)) < 0) {
			cl_error_wrap("cannot build the tiny image");
			goto out;
		}
		cl_buf_reset(&have);
		if (cl_read_file(stamp, 4096, &have) == 0)
			trim(&have);
		if (!have.data || strcmp(have.data, want.data) != 0) {
			rc = cl_error_set(CL_EFAIL, "the tiny image build did not write recipe hash %s to '%s'",
					  want.data, stamp);
			goto out;
		}
	}
	for (int i = 0; i < 64; i++)
		hash[i] = (char)tolower((unsigned char)want.data[i]);
	hash[64] = '\0';
	*dir = out_dir;
	out_dir = NULL;
out:
	cl_buf_free(&have);
	cl_buf_free(&want);
	free(stamp);
	free(out_dir);
	free(script);
	return rc;
}

static int resolve_tiny(cl_hv *hv, const char *pool, const char *cache_dir, const char *images_dir,
			cl_image *img)
{
	char *dir = NULL, hash[65];
	cl_buf vol = CL_BUF_INIT;
	int rc;

	if ((rc = cl_image_tiny(cache_dir, images_dir, &dir, hash)))
		return rc;
	cl_buf_printf(&vol, CL_BASE_PREFIX "tiny-%.12s.qcow2", hash);
	img->disk_vol = cl_strdup(vol.data);
	img->disk_format = cl_strdup("qcow2");
	if ((rc = import(hv, pool, dir, "root.qcow2", vol.data, "qcow2", &img->disk_path)) < 0)
		goto out;
	/* Kernel and initrd as volumes too, so a remote libvirtd has them. */
	cl_buf_reset(&vol);
	cl_buf_printf(&vol, CL_BASE_PREFIX "tiny-%.12s-vmlinuz", hash);
	if ((rc = import(hv, pool, dir, "vmlinuz", vol.data, "raw", &img->kernel_path)) < 0)
		goto out;
	cl_buf_reset(&vol);
	cl_buf_printf(&vol, CL_BASE_PREFIX "tiny-%.12s-initrd", hash);
	if ((rc = import(hv, pool, dir, "initrd.img", vol.data, "raw", &img->initrd_path)) < 0)
		goto out;
	img->cmdline = cl_strdup(CL_TINY_CMDLINE);
out:
	cl_buf_free(&vol);
	free(dir);
	return rc;
}

static int resolve_file(cl_hv *hv, const char *pool, const char *path, cl_image *img)
{
	char real[PATH_MAX], hash[65];
	cl_buf key = CL_BUF_INIT, vol = CL_BUF_INIT, name = CL_BUF_INIT;
	const char *base, *dot, *fmt = NULL, *fmt2 = NULL;
	struct stat st;
	int rc;

	if (!realpath(path, real) || stat(real, &st) < 0)
		return cl_error_set(errno == ENOENT ? CL_ENOTFOUND : CL_EFAIL,
				    "cannot use image '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cl_error_set(CL_EINVAL, "image '%s' is not a regular file", path);
	/* Before anything is copied: no header may name another host file. */
	if ((rc = cl_image_check(real, &fmt)))
		return rc;
	/* Cheap identity (never hashing gigabytes): size, mtime and path. */
	cl_buf_printf(&key, "%lld\n%lld.%09ld\n%s", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
		      st.st_mtim.tv_nsec, real);
	cl_sha256_hex(key.data, key.len, hash);
	base = strrchr(real, '/');
	base = base ? base + 1 : real;
	dot = strrchr(base, '.');
	for (const char *c = base; *c && (!dot || c < dot) && name.len < 40; c++) {
		char ch = (char)tolower((unsigned char)*c);
		cl_buf_putc(&name, isalnum((unsigned char)ch) || ch == '-' || ch == '_' ? ch : '-');
	}
	if (!name.len)
		cl_buf_puts(&name, "image");
	cl_buf_printf(&vol, CL_BASE_PREFIX "%s-%.12s.%s", name.data, hash, fmt);
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
	cl_buf_free(&name);
	cl_buf_free(&vol);
	cl_buf_free(&key);
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
	else if (strcmp(image, "tiny") == 0)
		rc = resolve_tiny(hv, pool, cache_dir, images_dir, img);
	else
		rc = resolve_file(hv, pool, image, img);
	if (rc < 0)
		cl_image_free(img);
	else
		*out = img;
	return rc;
}
