/*
 * The embedded QEMU driver for real: qemu.conf, event loop, local pool, overlay,
 * a guest that boots a kernel (and panics without a root: fine), its console
 * log and host forward on 127.0.0.1, then reattachment after a reopen.
 */
#include "classlab/cl_provision.h"
#include "classlab/cl_spawn.h"
#include "tap.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <glob.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void report(int rc)
{
	if (rc < 0)
		fprintf(stderr, "error: %s\n", cl_error_msg());
}
#define OK(expr) do { int rc_ = (expr); report(rc_); CHECK_INT(rc_, 0); } while (0)

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int can_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* QEMU's command line (NUL-separated args joined by spaces) for the guest started under root. */
static char *qemu_cmdline(const char *root, const char *name)
{
	char *pidfile = cl_aprintf("%s/hv/run/qemu/%s.pid", root, name);
	cl_buf pid = CL_BUF_INIT, cmd = CL_BUF_INIT;
	char *res = NULL;

	if (cl_read_file(pidfile, 64, &pid) == 0) {
		char *proc = cl_aprintf("/proc/%ld/cmdline", strtol(pid.data, NULL, 10));
		if (cl_read_file(proc, 1 << 20, &cmd) == 0) {
			for (size_t i = 0; i < cmd.len; i++)
				if (cmd.data[i] == '\0')
					cmd.data[i] = ' ';
			res = cl_buf_detach(&cmd);
		}
		free(proc);
	}
	free(pidfile);
	cl_buf_free(&pid);
	cl_buf_free(&cmd);
	return res;
}

int main(void)
{
	char tmpl[] = "/tmp/clpXXXXXX";
	char *root, *pooldir, *base, *console, *kernel, *basevol = NULL, *overlay = NULL, *seed = NULL;
	char *cmd, *fwd, **names = NULL;
	cl_cloudconfig cc = {.hostname = "lab-alice", .instance_id = "i-1", .username = "student"};
	cl_buf iso = CL_BUF_INIT, xml = CL_BUF_INIT, log = CL_BUF_INIT, out = CL_BUF_INIT;
	cl_hv *hv = NULL;
	cl_dom_state st;
	uint64_t cap = 0, alloc = 0;
	size_t n = 0;
	glob_t g;
	int rc, status, port;

	if (access("/usr/bin/qemu-system-x86_64", X_OK) != 0 || access("/usr/bin/qemu-img", X_OK) != 0) {
		fprintf(stderr, "skip: qemu-system-x86_64 or qemu-img not installed\n");
		return 77;
	}
	if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0 || g.gl_pathc == 0 ||
	    access(g.gl_pathv[0], R_OK) != 0) {
		fprintf(stderr, "skip: no readable kernel in /boot\n");
		return 77;
	}
	kernel = cl_strdup(g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	root = mkdtemp(tmpl);
	pooldir = cl_aprintf("%s/pool", root);
	base = cl_aprintf("%s/base.qcow2", root);
	console = cl_aprintf("%s/console.log", root);

	/* A root whose QEMU socket paths could not fit is refused with a clear message. */
	{
		char longdir[200];
		memset(longdir, 'x', sizeof(longdir));
		memcpy(longdir, "/tmp/", 5);
		longdir[120] = '\0';
		CHECK_INT(cl_hv_open(&hv, NULL, longdir, NULL), CL_EINVAL);
		CHECK(strstr(cl_error_msg(), "too long") != NULL);
	}

	/* A bad accelerator is refused before libvirt is touched; tcg gives TCG guests. */
	CHECK_INT(cl_hv_open(&hv, NULL, root, "fast"), CL_EINVAL);
	CHECK_STR(cl_error_msg(), "accelerator: 'fast' is not kvm, tcg or auto");
	{
		const char *a = "x";
		CHECK_INT(cl_hv_accel_parse("CLASSLAB_ACCEL", "KVM", &a), CL_EINVAL);
		CHECK_STR(cl_error_msg(), "CLASSLAB_ACCEL: 'KVM' is not kvm, tcg or auto");
		CHECK_INT(cl_hv_accel_parse("x", "auto", &a), 0);
		CHECK(a == NULL);
		CHECK_INT(cl_hv_accel_parse("x", "", &a), 0);
		CHECK(a == NULL);
		CHECK_INT(cl_hv_accel_parse("x", "kvm", &a), 0);
		CHECK_STR(a, "kvm");
	}
	/* The library reads no environment: only the accel passed in counts. */
	setenv("CLASSLAB_ACCEL", "fast", 1);
	rc = cl_hv_open(&hv, NULL, root, "tcg");
	if (rc < 0) {
		fprintf(stderr, "skip: embedded QEMU driver unusable: %s\n", cl_error_msg());
		return 77;
	}
	CHECK(cl_hv_is_embed(hv));
	CHECK(strncmp(cl_hv_uri(hv), "qemu:///embed?root=", 19) == 0);
	CHECK_STR(cl_hv_domain_type(hv), "qemu");
	unsetenv("CLASSLAB_ACCEL");
	{
		char *conf = cl_aprintf("%s/hv/etc/qemu.conf", root);
		struct stat sb;
		CHECK_INT(cl_read_file(conf, 4096, &out), 0);
		CHECK(strstr(cl_buf_str(&out), "stdio_handler = \"file\"") != NULL);
		CHECK(stat(conf, &sb) == 0 && (sb.st_mode & 077) == 0);
		free(conf);
		cl_buf_reset(&out);
	}

	OK(cl_hv_pool_ensure(hv, "classlab", pooldir));
	OK(cl_hv_pool_ensure(hv, "classlab", pooldir));
	{
		const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", base, "64M", NULL};
		OK(cl_spawn(argv, NULL, 30000, NULL, NULL, &status));
		CHECK_INT(status, 0);
	}
	OK(cl_hv_vol_upload(hv, "classlab", "base.qcow2", base, "qcow2", false));
	OK(cl_hv_vol_upload(hv, "classlab", "base.qcow2", base, "qcow2", false)); /* same size: kept */
	OK(cl_hv_vol_path(hv, "classlab", "base.qcow2", &basevol));
	OK(cl_hv_vol_info(hv, "classlab", "base.qcow2", &cap, &alloc));
	CHECK_INT(cap, 64ull << 20);
	OK(cl_hv_vol_overlay(hv, "classlab", "lab-alice.qcow2", basevol, "qcow2", 0));
	OK(cl_hv_vol_overlay(hv, "classlab", "lab-alice.qcow2", basevol, "qcow2", 0));
	CHECK_INT(cl_hv_vol_overlay(hv, "classlab", "lab-alice.qcow2", base, "qcow2", 0), CL_EEXIST);
	OK(cl_hv_vol_path(hv, "classlab", "lab-alice.qcow2", &overlay));
	OK(cl_hv_vol_info(hv, "classlab", "lab-alice.qcow2", &cap, &alloc));
	CHECK_INT(cap, 64ull << 20);
	{
		const char *argv[] = {"qemu-img", "info", "-U", overlay, NULL};
		OK(cl_spawn(argv, NULL, 30000, &out, NULL, &status));
		CHECK(strstr(cl_buf_str(&out), basevol) != NULL);
		CHECK(strstr(cl_buf_str(&out), "backing file format: qcow2") != NULL);
		CHECK(strstr(cl_buf_str(&out), "compat: 1.1") != NULL);
		cl_buf_reset(&out);
	}
	OK(cl_seed_iso(&cc, &iso));
	OK(cl_hv_vol_upload_buf(hv, "classlab", "lab-alice-seed.iso", iso.data, iso.len));
	OK(cl_hv_vol_path(hv, "classlab", "lab-alice-seed.iso", &seed));

	port = free_port();
	CHECK(port > 0);
	char mac[18];
	cl_mac_from_seed("lab-alice", mac);
	cl_domain_spec s = {
		.name = "lab-alice",
		.type = cl_hv_domain_type(hv),
		.memory_mib = 128,
		.vcpus = 1,
		.disk_path = overlay,
		.seed_path = seed,
		.kernel = kernel,
		.cmdline = "console=ttyS0",
		.console_log = console,
		.mac = mac,
		.ssh_port = port,
	};
	OK(cl_domain_xml(&s, &xml));
	OK(cl_hv_domain_define(hv, xml.data));
	OK(cl_hv_domain_start(hv, "lab-alice"));
	OK(cl_hv_domain_start(hv, "lab-alice"));
	OK(cl_hv_domain_state(hv, "lab-alice", &st));
	CHECK_INT(st, CL_DOM_RUNNING);

	/* The kernel's first lines reach the console file (TCG: give it a while). */
	for (int i = 0; i < 300; i++) {
		cl_buf_reset(&log);
		if (cl_read_file(console, 1 << 24, &log) == 0 && strstr(cl_buf_str(&log), "Linux version"))
			break;
		sleep_ms(100);
	}
	CHECK(strstr(cl_buf_str(&log), "Linux version") != NULL);

	cmd = qemu_cmdline(root, "lab-alice");
	fwd = cl_aprintf("hostfwd=tcp:127.0.0.1:%d-:22", port);
	CHECK(cmd != NULL);
	CHECK(cmd && strstr(cmd, fwd) != NULL);
	CHECK(cmd && strstr(cmd, "restrict=on") != NULL);
	CHECK(cmd && strstr(cmd, "bus=pci.0,addr=0x1f") != NULL);
	if (cmd && getenv("CL_TEST_VERBOSE"))
		fprintf(stderr, "qemu: %s\n", cmd);
	CHECK(can_connect(port));
	free(cmd);
	free(fwd);

	/* Reopen: the running guest is reattached, then destroy works at once. */
	cl_hv_close(hv);
	hv = NULL;
	OK(cl_hv_open(&hv, NULL, root, NULL));
	if (hv) {
		OK(cl_hv_domain_state(hv, "lab-alice", &st));
		CHECK_INT(st, CL_DOM_RUNNING);
		OK(cl_hv_domain_destroy(hv, "lab-alice"));
		OK(cl_hv_domain_state(hv, "lab-alice", &st));
		CHECK_INT(st, CL_DOM_SHUTOFF);
		CHECK(!can_connect(port));
		OK(cl_hv_domain_undefine(hv, "lab-alice"));
		OK(cl_hv_domain_undefine(hv, "lab-alice"));
		OK(cl_hv_domain_state(hv, "lab-alice", &st));
		CHECK_INT(st, CL_DOM_ABSENT);

		OK(cl_hv_pool_ensure(hv, "classlab", pooldir));
		OK(cl_hv_vol_list(hv, "classlab", NULL, &names, &n));
		CHECK_INT(n, 3);
		for (size_t i = 0; i < n; i++)
			OK(cl_hv_vol_delete(hv, "classlab", names[i]));
		cl_strv_free(names, n);
		OK(cl_hv_vol_list(hv, "classlab", NULL, &names, &n));
		CHECK_INT(n, 0);
		cl_strv_free(names, n);
		cl_hv_close(hv);
	}
	{
		const char *argv[] = {"rm", "-rf", root, NULL};
		cl_spawn(argv, NULL, 30000, NULL, NULL, &status);
	}
	free(kernel);
	free(pooldir);
	free(base);
	free(console);
	free(basevol);
	free(overlay);
	free(seed);
	cl_buf_free(&iso);
	cl_buf_free(&xml);
	cl_buf_free(&log);
	cl_buf_free(&out);
	return tap_done();
}
