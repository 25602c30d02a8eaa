/*
 * Managed save and its events on the embedded QEMU driver for real (the test
 * driver only pretends): a guest booting the host's kernel is saved to disk,
 * its QEMU exits, and the next start restores it in a new QEMU that carries on
 * writing the same console; a watcher hears started, saved, started, stopped.
 */
#include "classlab/cl_provision.h"
#include "classlab/cl_spawn.h"
#include "tap.h"

#include <glob.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void report(int rc)
{
	if (rc < 0)
		fprintf(stderr, "error: %s\n", cl_error_msg());
}
#define OK(expr) do { int rc_ = (expr); report(rc_); CHECK_INT(rc_, 0); } while (0)

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

typedef struct heard {
	pthread_mutex_t mu;
	size_t n;
	cl_vm_event ev[64];
} heard;

static void on_event(void *arg, const char *vm, cl_vm_event e, int64_t when)
{
	heard *h = arg;
	(void)when;
	pthread_mutex_lock(&h->mu);
	if (strcmp(vm, "lab-alice") == 0 && h->n < 64)
		h->ev[h->n++] = e;
	pthread_mutex_unlock(&h->mu);
}

/* The events that say whether the VM runs (pauses around a save are QEMU's detail). */
static size_t runs(heard *h, cl_vm_event *out)
{
	size_t k = 0;
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n; i++)
		if (h->ev[i] == CL_VM_EVENT_STARTED || h->ev[i] == CL_VM_EVENT_SAVED ||
		    h->ev[i] == CL_VM_EVENT_STOPPED || h->ev[i] == CL_VM_EVENT_CRASHED)
			out[k++] = h->ev[i];
	pthread_mutex_unlock(&h->mu);
	return k;
}

static long qemu_pid(const char *root)
{
	char *pidfile = cl_aprintf("%s/hv/run/qemu/lab-alice.pid", root);
	cl_buf b = CL_BUF_INIT;
	long pid = cl_read_file(pidfile, 64, &b) == 0 ? strtol(cl_buf_str(&b), NULL, 10) : 0;
	cl_buf_free(&b);
	free(pidfile);
	return pid;
}

static size_t console_len(const char *console)
{
	struct stat sb;
	return stat(console, &sb) == 0 ? (size_t)sb.st_size : 0;
}

int main(void)
{
	char tmpl[] = "/tmp/clsXXXXXX";
	const cl_vm_backend *vm = &cl_vm_libvirt;
	char *root, *base, *console, *kernel, *disk = NULL, *savefile;
	cl_hv *hv = NULL;
	cl_vm_watch *w = NULL;
	heard h = {.n = 0};
	cl_dom_state st = CL_DOM_OTHER;
	bool saved = false;
	glob_t g;
	int rc, status;

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
	pthread_mutex_init(&h.mu, NULL);
	root = mkdtemp(tmpl);
	base = cl_aprintf("%s/base.qcow2", root);
	console = cl_aprintf("%s/console.log", root);
	savefile = cl_aprintf("%s/hv/lib/qemu/save/lab-alice.save", root);

	cl_vm_open_opts o = {.data_dir = root, .accel = "tcg", .disks = true};
	if ((rc = vm->open(&hv, &o)) != 0) {
		fprintf(stderr, "skip: embedded QEMU driver unusable: %s\n", cl_error_msg());
		return 77;
	}
	{
		const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", base, "64M", NULL};
		OK(cl_spawn(argv, NULL, 30000, NULL, NULL, &status));
		CHECK_INT(status, 0);
	}
	OK(vm->disk_overlay(hv, "lab-alice.qcow2", base, "qcow2"));
	OK(vm->disk_path(hv, "lab-alice.qcow2", &disk));
	OK(vm->watch(hv, on_event, &h, &w));
	cl_domain_spec s = {
		.name = "lab-alice",
		.memory_mib = 128,
		.vcpus = 1,
		.disk_path = disk,
		.kernel = kernel,
		.cmdline = "console=ttyS0",
		.console_log = console,
		.mac = "02:00:00:00:00:01",
	};
	OK(vm->create(hv, &s));
	OK(vm->start(hv, "lab-alice"));
	long pid1 = qemu_pid(root);
	CHECK(pid1 > 0);
	/* Let the kernel write to its console, so there is state worth keeping. */
	for (int i = 0; i < 300 && console_len(console) < 2000; i++)
		sleep_ms(100);
	CHECK(console_len(console) >= 2000);

	/* Saved: shut off, QEMU gone, the image on disk. */
	OK(vm->save(hv, "lab-alice"));
	OK(vm->state(hv, "lab-alice", &st));
	CHECK_STR(cl_dom_state_name(st), "shut off");
	OK(vm->has_saved(hv, "lab-alice", &saved));
	CHECK(saved);
	CHECK(access(savefile, F_OK) == 0);
	CHECK(kill((pid_t)pid1, 0) != 0);
	size_t at_save = console_len(console);

	/* Started again: restored in a new QEMU that carries on; the image is used up. */
	OK(vm->start(hv, "lab-alice"));
	OK(vm->state(hv, "lab-alice", &st));
	CHECK_INT(st, CL_DOM_RUNNING);
	long pid2 = qemu_pid(root);
	CHECK(pid2 > 0 && pid2 != pid1);
	OK(vm->has_saved(hv, "lab-alice", &saved));
	CHECK(!saved);
	CHECK(access(savefile, F_OK) != 0);
	for (int i = 0; i < 300 && console_len(console) <= at_save; i++)
		sleep_ms(100);
	CHECK(console_len(console) > at_save);

	OK(vm->stop(hv, "lab-alice", 1));
	OK(vm->state(hv, "lab-alice", &st));
	CHECK_INT(st, CL_DOM_SHUTOFF);

	/* Heard in order, on the watcher's thread. */
	static const cl_vm_event want[] = {CL_VM_EVENT_STARTED, CL_VM_EVENT_SAVED,
					   CL_VM_EVENT_STARTED, CL_VM_EVENT_STOPPED};
	cl_vm_event got[64];
	size_t k = 0;
	for (int i = 0; i < 500 && (k = runs(&h, got)) < 4; i++)
		sleep_ms(10);
	CHECK_INT(k, 4);
	for (size_t i = 0; i < k && i < 4; i++)
		CHECK_STR(cl_vm_event_name(got[i]), cl_vm_event_name(want[i]));
	pthread_mutex_lock(&h.mu);
	fprintf(stderr, "# heard:");
	for (size_t i = 0; i < h.n; i++)
		fprintf(stderr, " %s", cl_vm_event_name(h.ev[i]));
	fprintf(stderr, "\n");
	pthread_mutex_unlock(&h.mu);
	vm->unwatch(w);

	const char *disks[] = {"lab-alice.qcow2"};
	OK(vm->remove(hv, "lab-alice", disks, 1));
	vm->close(hv);
	{
		const char *argv[] = {"rm", "-rf", root, NULL};
		cl_spawn(argv, NULL, 30000, NULL, NULL, &status);
	}
	free(kernel);
	free(base);
	free(console);
	free(savefile);
	free(disk);
	return tap_done();
}
