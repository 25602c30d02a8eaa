/* Base image resolution with a fake tiny recipe (embed storage), and cl_spawn. */
#include "classlab/cl_provision.h"
#include "classlab/cl_spawn.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void report(int rc)
{
	if (rc < 0)
		fprintf(stderr, "error: %s\n", cl_error_msg());
}
#define OK(expr) do { int rc_ = (expr); report(rc_); CHECK_INT(rc_, 0); } while (0)

/* A recipe that counts its builds, so a second resolve can prove it did not rebuild. */
static const char *FAKE_BUILD =
	"#!/bin/sh\n"
	"set -e\n"
	"HASH=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	"if [ \"$1\" = --recipe-hash ]; then echo \"$HASH\"; exit 0; fi\n"
	"mkdir -p \"$1\"\n"
	"printf kernel > \"$1/vmlinuz\"\n"
	"printf initrd > \"$1/initrd.img\"\n"
	"printf 'QFI\\373fake' > \"$1/root.qcow2\"\n"
	"echo \"$HASH\" > \"$1/recipe.sha256\"\n"
	"echo built >> \"$1/../builds\"\n";

static void test_spawn(void)
{
	cl_buf out = CL_BUF_INIT, err = CL_BUF_INIT;
	int st = -1;
	const char *echo[] = {"sh", "-c", "echo out; echo err >&2; echo \"$CL_X\"; exit 3", NULL};
	const char *env[] = {"CL_X=extra value", NULL};
	const char *slow[] = {"sleep", "10", NULL};
	const char *none[] = {"/nonexistent/classlab-cmd", NULL};

	OK(cl_spawn(echo, env, 5000, &out, &err, &st));
	CHECK_INT(st, 3);
	CHECK_STR(out.data, "out\nextra value\n");
	CHECK_STR(err.data, "err\n");
	CHECK_INT(cl_spawn(slow, NULL, 300, NULL, NULL, &st), CL_EFAIL);
	CHECK(strstr(cl_error_msg(), "'sleep' timed out after 1 s") != NULL);
	CHECK_INT(cl_spawn(none, NULL, 1000, NULL, NULL, &st), CL_EFAIL);
	CHECK_INT(st, 127);
	cl_buf_free(&out);
	cl_buf_free(&err);
}

int main(void)
{
	char tmpl[] = "/tmp/climXXXXXX";
	char *root = mkdtemp(tmpl);
	char *images = cl_aprintf("%s/images", root), *tinydir = cl_aprintf("%s/images/tiny", root);
	char *script = cl_aprintf("%s/build.sh", tinydir), *cache = cl_aprintf("%s/cache", root);
	char *pool = cl_aprintf("%s/pool", root), *raw = cl_aprintf("%s/My Cloud Image.IMG", root);
	char *builds = cl_aprintf("%s/images/builds", cache);
	cl_image *img = NULL, *img2 = NULL;
	cl_buf b = CL_BUF_INIT;
	cl_hv *hv = NULL;
	int status;

	test_spawn();
	if (cl_hv_open(&hv, NULL, root) < 0) {
		fprintf(stderr, "skip: embedded QEMU driver unusable: %s\n", cl_error_msg());
		return tap_failed ? tap_done() : 77;
	}
	OK(cl_hv_pool_ensure(hv, "classlab", pool));
	CHECK_INT(cl_image_resolve(hv, "classlab", "tiny", cache, images, &img), CL_ENOTFOUND);
	cl_mkdir_p(tinydir, 0755);
	CHECK_INT(cl_write_file(script, FAKE_BUILD, strlen(FAKE_BUILD), 0755), 0);

	OK(cl_image_resolve(hv, "classlab", "tiny", cache, images, &img));
	if (img) {
		CHECK_STR(img->disk_vol, "base-tiny-0123456789ab.qcow2");
		CHECK_STR(img->disk_format, "qcow2");
		CHECK(img->kernel_path && strstr(img->kernel_path, "/pool/base-tiny-0123456789ab-vmlinuz"));
		CHECK(img->initrd_path && strstr(img->initrd_path, "/pool/base-tiny-0123456789ab-initrd"));
		CHECK_STR(img->cmdline, "console=ttyS0 root=/dev/vda rw");
		CHECK(img->nocloud);
		CHECK_INT(cl_read_file(img->kernel_path, 100, &b), 0);
		CHECK_STR(b.data, "kernel");
	}
	/* Same recipe: no rebuild, same volumes. */
	OK(cl_image_resolve(hv, "classlab", "tiny", cache, images, &img2));
	cl_buf_reset(&b);
	CHECK_INT(cl_read_file(builds, 100, &b), 0);
	CHECK_STR(b.data, "built\n");
	if (img && img2)
		CHECK_STR(img2->disk_path, img->disk_path);
	cl_image_free(img2);
	img2 = NULL;

	/* A changed cache (stale hash) is rebuilt. */
	{
		char *stamp = cl_aprintf("%s/images/tiny/recipe.sha256", cache);
		CHECK_INT(cl_write_file(stamp, "old\n", 4, 0644), 0);
		free(stamp);
	}
	OK(cl_image_resolve(hv, "classlab", "tiny", cache, images, &img2));
	cl_buf_reset(&b);
	CHECK_INT(cl_read_file(builds, 100, &b), 0);
	CHECK_STR(b.data, "built\nbuilt\n");
	cl_image_free(img2);
	img2 = NULL;
	cl_image_free(img);
	img = NULL;

	/* A path: format by magic, a sanitized cheap-hash name. */
	CHECK_INT(cl_write_file(raw, "rawdisk", 7, 0644), 0);
	OK(cl_image_resolve(hv, "classlab", raw, cache, images, &img));
	if (img) {
		CHECK_STR(img->disk_format, "raw");
		CHECK(strncmp(img->disk_vol, "base-my-cloud-image-", 20) == 0);
		CHECK(strlen(img->disk_vol) == 20 + 12 + 4 && strcmp(img->disk_vol + 32, ".raw") == 0);
		CHECK(img->kernel_path == NULL && img->cmdline == NULL);
	}
	OK(cl_image_resolve(hv, "classlab", raw, cache, images, &img2));
	if (img && img2)
		CHECK_STR(img2->disk_vol, img->disk_vol);
	cl_image_free(img);
	cl_image_free(img2);
	CHECK_INT(cl_image_resolve(hv, "classlab", "/nonexistent.qcow2", cache, images, &img), CL_ENOTFOUND);
	CHECK(img == NULL);
	cl_hv_close(hv);
	{
		const char *argv[] = {"rm", "-rf", root, NULL};
		cl_spawn(argv, NULL, 30000, NULL, NULL, &status);
	}
	cl_buf_free(&b);
	free(images), free(tinydir), free(script), free(cache), free(pool), free(raw), free(builds);
	return tap_done();
}
