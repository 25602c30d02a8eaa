/* Base image resolution with fake tiny and debian-ds recipes (embed storage), image
 * list/build, and cl_spawn. */
#include "classlab/cl_provision.h"
#include "classlab/cl_spawn.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* debian-ds: a disk with its own bootloader (no kernel), a package list; --force counted. */
static const char *FAKE_DS_BUILD =
	"#!/bin/sh\n"
	"set -e\n"
	"HASH=fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\n"
	"if [ \"$1\" = --recipe-hash ]; then echo \"$HASH\"; exit 0; fi\n"
	"[ \"$1\" != --force ] || { echo force >> \"$2/../ds-builds\"; shift; }\n"
	"mkdir -p \"$1\"\n"
	"printf 'QFI\\373fake-ds-disk' > \"$1/disk.qcow2\"\n"
	"echo 'python3-numpy 1:1.24.2-1' > \"$1/packages.txt\"\n"
	"echo \"$HASH\" > \"$1/recipe.sha256\"\n"
	"echo built >> \"$1/../ds-builds\"\n";

static void test_debian_ds(cl_hv *hv, const char *images, const char *cache)
{
	char *dir = cl_aprintf("%s/debian-ds", images), *script = cl_aprintf("%s/build.sh", dir);
	char *builds = cl_aprintf("%s/images/ds-builds", cache);
	cl_image_info *v = NULL, info;
	cl_image *img = NULL;
	cl_buf b = CL_BUF_INIT;
	size_t n = 0;

	CHECK(cl_image_is_builtin("debian-ds") && cl_image_is_builtin("tiny"));
	CHECK(!cl_image_is_builtin("debian") && !cl_image_is_builtin(NULL));
	/* No recipe: listed as not built, with why. */
	OK(cl_image_list(cache, images, &v, &n));
	CHECK_INT((int)n, 2);
	if (n == 2) {
		CHECK_STR(v[1].name, "debian-ds");
		CHECK(!v[1].built && !v[1].recipe_hash && v[1].error && strstr(v[1].error, "not found"));
	}
	cl_image_info_list_free(v, n);
	cl_mkdir_p(dir, 0755);
	CHECK_INT(cl_write_file(script, FAKE_DS_BUILD, strlen(FAKE_DS_BUILD), 0755), 0);

	OK(cl_image_resolve(hv, "classlab", "debian-ds", cache, images, &img));
	if (img) {
		CHECK_STR(img->disk_vol, "base_debian-ds-fedcba987654.qcow2");
		CHECK_STR(img->disk_format, "qcow2");
		/* Its own bootloader: no direct kernel boot. */
		CHECK(img->kernel_path == NULL && img->initrd_path == NULL && img->cmdline == NULL);
		CHECK(img->disk_path && strstr(img->disk_path, "/pool/base_debian-ds-fedcba987654.qcow2"));
	}
	cl_image_free(img);
	/* Listed as built, with its size and hash. */
	OK(cl_image_list(cache, images, &v, &n));
	if (n == 2) {
		CHECK(v[1].built && v[1].up_to_date);
		CHECK_STR(v[1].built_hash, "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
		CHECK_INT((int)v[1].disk_bytes, 16);
		CHECK_INT((int)v[1].bytes, 16 + 25);
	}
	cl_image_info_list_free(v, n);
	/* build: up to date, nothing done; --force rebuilds. */
	OK(cl_image_build("debian-ds", cache, images, false, &info));
	CHECK(info.up_to_date);
	cl_image_info_clear(&info);
	CHECK_INT(cl_read_file(builds, 100, &b), 0);
	CHECK_STR(b.data, "built\n");
	OK(cl_image_build("debian-ds", cache, images, true, &info));
	cl_image_info_clear(&info);
	cl_buf_reset(&b);
	CHECK_INT(cl_read_file(builds, 100, &b), 0);
	CHECK_STR(b.data, "built\nforce\nbuilt\n");
	CHECK_INT(cl_image_build("ubuntu", cache, images, false, &info), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "debian-ds") != NULL);
	cl_buf_free(&b);
	free(builds), free(script), free(dir);
}

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

/* Writes a qcow2 v3 header by hand: extensions qemu-img will not make alone. */
static void put32(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static void craft(const char *path, unsigned ext_type, unsigned ext_len, size_t file_len)
{
	unsigned char h[4096] = {0};
	memcpy(h, "QFI\xfb", 4);
	put32(h + 4, 3);
	put32(h + 20, 16);		/* cluster_bits */
	put32(h + 28, 1 << 20);		/* size (low word) */
	put32(h + 96, 4);		/* refcount_order */
	put32(h + 100, 104);		/* header_length */
	put32(h + 104, ext_type);
	put32(h + 108, ext_len);
	memcpy(h + 112, "/etc/hostname", 13);
	cl_write_file(path, (const char *)h, file_len, 0644);
}

static int run(const char *cmd)
{
	int status = system(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Only self-contained qcow2 and raw pass; any header naming a host file is refused. */
static void test_image_check(const char *root, cl_hv *hv, const char *pool_dir)
{
	static const struct {
		const char *name, *args; /* qemu-img create arguments after the file */
		const char *want;	 /* format, or NULL: refused */
		const char *why;	 /* in the message when refused */
	} cases[] = {
		{"plain.qcow2", "-f qcow2 FILE 1M", "qcow2", NULL},
		{"v2.qcow2", "-f qcow2 -o compat=0.10 FILE 1M", "qcow2", NULL},
		{"plain.raw", "-f raw FILE 1M", "raw", NULL},
		{"backing.qcow2", "-f qcow2 -b /etc/hostname -F raw FILE 64M", NULL, "backing file"},
		{"backing-v2.qcow2", "-f qcow2 -o compat=0.10 -b /etc/hostname -F raw FILE 64M", NULL,
		 "backing file"},
		{"backing-qcow.qcow2", "-f qcow2 -b ROOT/plain.qcow2 -F qcow2 FILE 1M", NULL,
		 "backing file"},
		{"data.qcow2", "-f qcow2 -o data_file=ROOT/data.bin FILE 1M", NULL, "external data"},
		{"data-raw.qcow2", "-f qcow2 -o data_file=ROOT/data2.bin,data_file_raw=on FILE 1M", NULL,
		 "external data"},
		{"disk.vmdk", "-f vmdk FILE 1M", NULL, "VMDK"},
		{"flat.vmdk", "-f vmdk -o subformat=monolithicFlat FILE 1M", NULL, "VMDK"},
		{"disk.vdi", "-f vdi FILE 1M", NULL, "VDI"},
		{"disk.qed", "-f qed FILE 1M", NULL, "QED"},
		{"disk.vhdx", "-f vhdx FILE 1M", NULL, "VHDX"},
		{"disk.vpc", "-f vpc FILE 1M", NULL, "VHD"},
		{"disk.parallels", "-f parallels FILE 1M", NULL, "Parallels"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *file = cl_aprintf("%s/%s", root, cases[i].name);
		cl_buf cmd = CL_BUF_INIT;
		const char *fmt = NULL;
		cl_buf_puts(&cmd, "qemu-img create -q ");
		for (const char *a = cases[i].args; *a; a++) {
			if (strncmp(a, "FILE", 4) == 0)
				cl_buf_puts(&cmd, file), a += 3;
			else if (strncmp(a, "ROOT", 4) == 0)
				cl_buf_puts(&cmd, root), a += 3;
			else
				cl_buf_putc(&cmd, *a);
		}
		if (run(cmd.data) != 0) {
			fprintf(stderr, "skip case %s: '%s' failed\n", cases[i].name, cmd.data);
			goto next;
		}
		int rc = cl_image_check(file, &fmt);
		if (cases[i].want) {
			report(rc);
			CHECK_INT(rc, 0);
			CHECK_STR(fmt, cases[i].want);
		} else {
			CHECK_INT(rc, CL_EINVAL);
			CHECK(fmt == NULL);
			CHECK(strstr(cl_error_msg(), cases[i].why) != NULL);
			if (!strstr(cl_error_msg(), cases[i].why))
				fprintf(stderr, "%s: %s\n", cases[i].name, cl_error_msg());
		}
	next:
		cl_buf_free(&cmd);
		free(file);
	}

	/* Hand-made headers: the data-file extension without the flag, a malformed walk. */
	{
		char *f = cl_aprintf("%s/crafted.qcow2", root);
		const char *fmt;
		craft(f, 0x44415441u, 13, 4096);
		CHECK_INT(cl_image_check(f, &fmt), CL_EINVAL);
		CHECK(strstr(cl_error_msg(), "external data file") != NULL);
		craft(f, 0x12345678u, 0xfffffff0u, 4096); /* an extension longer than the cluster */
		CHECK_INT(cl_image_check(f, &fmt), CL_EINVAL);
		craft(f, 0, 0, 4096); /* the end marker right away: a clean header */
		CHECK_INT(cl_image_check(f, &fmt), 0);
		craft(f, 0, 0, 60); /* truncated */
		CHECK_INT(cl_image_check(f, &fmt), CL_EINVAL);
		CHECK(strstr(cl_error_msg(), "not a complete qcow2 header") != NULL);
		free(f);
	}

	/* Not a file: a FIFO nobody writes to is refused at once (alarm: a hang fails), a directory too. */
	{
		char *fifo = cl_aprintf("%s/image.fifo", root);
		const char *fmt;
		CHECK_INT(mkfifo(fifo, 0600), 0);
		alarm(20);
		CHECK_INT(cl_image_check(fifo, &fmt), CL_EINVAL);
		alarm(0);
		CHECK(strstr(cl_error_msg(), "not a regular file") != NULL);
		CHECK_INT(cl_image_check(root, &fmt), CL_EINVAL);
		unlink(fifo);
		free(fifo);
	}

	/* resolve refuses before copying: the pool gains no file. */
	{
		char *evil = cl_aprintf("%s/backing.qcow2", root);
		char *ls = cl_aprintf("ls -A '%s' | grep -q base_backing", pool_dir);
		cl_image *img = NULL;
		CHECK_INT(cl_image_resolve(hv, "classlab", evil, NULL, NULL, &img), CL_EINVAL);
		CHECK(img == NULL);
		CHECK_INT(run(ls), 1); /* grep counted 0 */
		free(ls);
		free(evil);
	}
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
	if (cl_hv_open(&hv, NULL, root, NULL) < 0) {
		fprintf(stderr, "skip: embedded QEMU driver unusable: %s\n", cl_error_msg());
		return tap_failed ? tap_done() : 77;
	}
	OK(cl_hv_pool_ensure(hv, "classlab", pool));
	CHECK_INT(cl_image_resolve(hv, "classlab", "tiny", cache, images, &img), CL_ENOTFOUND);
	cl_mkdir_p(tinydir, 0755);
	CHECK_INT(cl_write_file(script, FAKE_BUILD, strlen(FAKE_BUILD), 0755), 0);

	OK(cl_image_resolve(hv, "classlab", "tiny", cache, images, &img));
	if (img) {
		CHECK_STR(img->disk_vol, "base_tiny-0123456789ab.qcow2");
		CHECK_STR(img->disk_format, "qcow2");
		CHECK(img->kernel_path && strstr(img->kernel_path, "/pool/base_tiny-0123456789ab-vmlinuz"));
		CHECK(img->initrd_path && strstr(img->initrd_path, "/pool/base_tiny-0123456789ab-initrd"));
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
		CHECK(strncmp(img->disk_vol, "base_my-cloud-image-", 20) == 0);
		/* No "<lab>-<student>" VM disk can take that name: those are [a-z0-9-] only. */
		CHECK(strchr(img->disk_vol, '_') != NULL);
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
	test_image_check(root, hv, pool);
	test_debian_ds(hv, images, cache);
	cl_hv_close(hv);
	{
		const char *argv[] = {"rm", "-rf", root, NULL};
		cl_spawn(argv, NULL, 30000, NULL, NULL, &status);
	}
	cl_buf_free(&b);
	free(images), free(tinydir), free(script), free(cache), free(pool), free(raw), free(builds);
	return tap_done();
}
