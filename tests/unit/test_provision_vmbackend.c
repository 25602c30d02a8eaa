/*
 * The libvirt VM backend's table against libvirt's test driver (test:///default):
 * disks and VMs through the table, managed save and resume, the running set, and
 * lifecycle events heard in order on the watcher's own thread until unwatch.
 */
#include "classlab/cl_provision.h"
#include "classlab/cl_gpu.h"
#include "tap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void report(int rc)
{
	if (rc < 0)
		fprintf(stderr, "error: %s\n", cl_error_msg());
}
#define OK(expr) do { int rc_ = (expr); report(rc_); CHECK_INT(rc_, 0); } while (0)

#define MAXEV 64
typedef struct heard {
	pthread_mutex_t mu;
	pthread_t main_thread;
	size_t n;
	cl_vm_event ev[MAXEV];
	int64_t when[MAXEV];
	int other_vm;	     /* events for a VM this test did not touch */
	int on_main_thread;  /* callbacks run on the caller's thread: must stay 0 */
} heard;

static void on_event(void *arg, const char *vm, cl_vm_event e, int64_t when)
{
	heard *h = arg;

	pthread_mutex_lock(&h->mu);
	if (pthread_equal(pthread_self(), h->main_thread))
		h->on_main_thread++;
	if (strcmp(vm, "lab-alice") != 0) {
		h->other_vm++;
	} else if (h->n < MAXEV) {
		h->ev[h->n] = e;
		h->when[h->n] = when;
		h->n++;
	}
	pthread_mutex_unlock(&h->mu);
}

static size_t heard_count(heard *h)
{
	pthread_mutex_lock(&h->mu);
	size_t n = h->n;
	pthread_mutex_unlock(&h->mu);
	return n;
}

/* Waits up to 5 s for at least n events. */
static size_t wait_events(heard *h, size_t n)
{
	struct timespec tick = {0, 10 * 1000 * 1000};
	for (int i = 0; i < 500 && heard_count(h) < n; i++)
		nanosleep(&tick, NULL);
	return heard_count(h);
}

static int is_running(const cl_vm_backend *vm, cl_hv *hv, const char *name)
{
	char **names = NULL;
	size_t n = 0;
	int found = 0;
	if (vm->running(hv, &names, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		found |= strcmp(names[i], name) == 0;
	cl_strv_free(names, n);
	return found;
}

int main(void)
{
	char dir[] = "/tmp/cl-test-vmbackend.XXXXXX";
	const cl_vm_backend *vm = &cl_vm_libvirt;
	cl_hv *hv = NULL;
	cl_vm_watch *w = NULL;
	heard h = {.n = 0};
	char *disk = NULL, **names = NULL;
	size_t n = 0;
	cl_dom_state st = CL_DOM_OTHER;
	bool saved = true;

	if (!mkdtemp(dir))
		return 1;
	pthread_mutex_init(&h.mu, NULL);
	h.main_thread = pthread_self();

	cl_vm_open_opts o = {.uri = "test:///default", .data_dir = dir, .disks = true};
	OK(vm->open(&hv, &o));
	if (!hv)
		return tap_done();
	CHECK(cl_vm_ops(hv) == &cl_vm_libvirt);
	CHECK_STR(cl_vm_ops(hv)->name, "libvirt");
	CHECK_STR(vm->uri(hv), "test:///default");
	int64_t t0 = (int64_t)time(NULL);
	OK(vm->watch(hv, on_event, &h, &w));

	/* Disks: the backend's one pool, named by the caller, on a base of 1 MiB. */
	char *base = cl_aprintf("%s/base.raw", dir), *zeros = cl_calloc(1, 1 << 20);
	CHECK_INT(cl_write_file(base, zeros, 1 << 20, 0600), 0);
	free(zeros);
	OK(vm->disk_overlay(hv, "lab-alice.qcow2", base, "raw"));
	OK(vm->disk_overlay(hv, "lab-alice.qcow2", base, "raw")); /* kept */
	CHECK_INT(vm->disk_overlay(hv, "lab-alice.qcow2", "/images/other.qcow2", "qcow2"), CL_EEXIST);
	OK(vm->disk_path(hv, "lab-alice.qcow2", &disk));
	CHECK(disk && strstr(disk, "lab-alice.qcow2") != NULL);
	OK(vm->disk_list(hv, "lab-", &names, &n));
	CHECK_INT(n, 1);
	CHECK(n == 1 && strcmp(names[0], "lab-alice.qcow2") == 0);
	cl_strv_free(names, n);
	/* The test driver cannot upload: the seed says so and leaves no path. */
	cl_cloudconfig cc = {.hostname = "lab-alice", .instance_id = "i-1", .username = "alice"};
	char *seed = (char *)"unset";
	CHECK_INT(vm->seed_upload(hv, "lab-alice-seed.iso", &cc, &seed), CL_EUNAVAIL);
	CHECK(seed == NULL);

	/* A VM from a spec; the connection fills in its domain type. */
	cl_domain_spec spec = {.name = "lab-alice",
			       .uuid = "6c1c0e3a-77a4-4c55-9a57-0d1f6e0a2b11",
			       .memory_mib = 256,
			       .vcpus = 1,
			       .disk_path = disk,
			       .mac = "02:00:00:00:00:01",
			       .ssh_port = 61022};
	OK(vm->create(hv, &spec));
	OK(vm->state(hv, "lab-alice", &st));
	CHECK_STR(cl_dom_state_name(st), "shut off");
	spec.uuid = "00000000-0000-4000-8000-000000000001";
	CHECK_INT(vm->create(hv, &spec), CL_EEXIST);
	spec.uuid = "6c1c0e3a-77a4-4c55-9a57-0d1f6e0a2b11";

	/* Start, then managed save: shut off with its memory kept; start resumes it. */
	OK(vm->start(hv, "lab-alice"));
	OK(vm->state(hv, "lab-alice", &st));
	CHECK_INT(st, CL_DOM_RUNNING);
	CHECK_INT(is_running(vm, hv, "lab-alice"), 1);
	OK(vm->has_saved(hv, "lab-alice", &saved));
	CHECK(!saved);
	OK(vm->save(hv, "lab-alice"));
	OK(vm->has_saved(hv, "lab-alice", &saved));
	CHECK(saved);
	OK(vm->state(hv, "lab-alice", &st));
	CHECK_STR(cl_dom_state_name(st), "shut off");
	CHECK_INT(is_running(vm, hv, "lab-alice"), 0);
	OK(vm->start(hv, "lab-alice"));
	OK(vm->state(hv, "lab-alice", &st));
	CHECK_INT(st, CL_DOM_RUNNING);
	OK(vm->has_saved(hv, "lab-alice", &saved));
	CHECK(!saved); /* resumed: the image is used up */

	/* Saved again, then discarded: the next start is a cold boot. */
	OK(vm->save(hv, "lab-alice"));
	OK(vm->discard_saved(hv, "lab-alice"));
	OK(vm->has_saved(hv, "lab-alice", &saved));
	CHECK(!saved);
	OK(vm->discard_saved(hv, "lab-alice")); /* none left: fine */
	OK(vm->start(hv, "lab-alice"));
	OK(vm->stop(hv, "lab-alice", 5));
	OK(vm->state(hv, "lab-alice", &st));
	CHECK_INT(st, CL_DOM_SHUTOFF);
	CHECK_INT(vm->save(hv, "lab-alice"), CL_EFAIL); /* nothing running to save */
	CHECK(strstr(cl_error_msg(), "not running") != NULL);
	CHECK_INT(vm->save(hv, "lab-nobody"), CL_ENOTFOUND);
	OK(vm->has_saved(hv, "lab-nobody", &saved));
	CHECK(!saved);

	/* Where SSH lands, and the host's GPUs (the test driver's node devices: none of NVIDIA's). */
	const char *host = NULL;
	int port = 0;
	OK(vm->ssh_endpoint(hv, "lab-alice", NULL, 61022, &host, &port));
	CHECK_STR(host, "127.0.0.1");
	CHECK_INT(port, 61022);
	OK(vm->ssh_endpoint(hv, "lab-alice", "127.0.0.2", 61023, &host, &port));
	CHECK_STR(host, "127.0.0.2");
	CHECK_INT(vm->ssh_endpoint(hv, "lab-alice", NULL, 0, &host, &port), CL_EINVAL);
	cl_host_gpu *gpus = NULL;
	size_t ngpus = 99;
	OK(vm->gpus(hv, &gpus, &ngpus));
	CHECK_INT(ngpus, 0);
	cl_gpu_host_free(gpus, ngpus);

	/* Remove: the definition and the named disks; absent afterwards, and again fine. */
	const char *disks[] = {"lab-alice.qcow2"};
	OK(vm->remove(hv, "lab-alice", disks, 1));
	OK(vm->state(hv, "lab-alice", &st));
	CHECK_INT(st, CL_DOM_ABSENT);
	char *gone = NULL;
	CHECK_INT(vm->disk_path(hv, "lab-alice.qcow2", &gone), CL_ENOTFOUND);
	OK(vm->remove(hv, "lab-alice", disks, 1));

	/* Every lifecycle step, heard in order. */
	static const cl_vm_event order[] = {
		CL_VM_EVENT_DEFINED, CL_VM_EVENT_STARTED, CL_VM_EVENT_SAVED,   CL_VM_EVENT_STARTED,
		CL_VM_EVENT_SAVED,   CL_VM_EVENT_STARTED, CL_VM_EVENT_STOPPED, CL_VM_EVENT_UNDEFINED,
	};
	size_t nwant = sizeof(order) / sizeof(order[0]);
	size_t got = wait_events(&h, nwant);
	CHECK_INT(got, nwant);
	pthread_mutex_lock(&h.mu);
	for (size_t i = 0; i < got && i < nwant; i++) {
		if (h.ev[i] != order[i])
			fprintf(stderr, "event %zu: %s, wanted %s\n", i, cl_vm_event_name(h.ev[i]),
				cl_vm_event_name(order[i]));
		CHECK_STR(cl_vm_event_name(h.ev[i]), cl_vm_event_name(order[i]));
		CHECK(h.when[i] >= t0 && h.when[i] <= (int64_t)time(NULL));
	}
	CHECK_INT(h.on_main_thread, 0);
	pthread_mutex_unlock(&h.mu);

	/* After unwatch nothing more is heard, and the connection still works. */
	vm->unwatch(w);
	size_t before = heard_count(&h);
	OK(vm->create(hv, &spec));
	OK(vm->start(hv, "lab-alice"));
	usleep(300 * 1000);
	CHECK_INT(heard_count(&h), before);
	OK(vm->remove(hv, "lab-alice", NULL, 0));
	vm->unwatch(NULL);

	/* A second watcher on the same connection hears on its own. */
	heard h2 = {.n = 0};
	pthread_mutex_init(&h2.mu, NULL);
	h2.main_thread = pthread_self();
	OK(vm->watch(hv, on_event, &h2, &w));
	OK(vm->create(hv, &spec));
	CHECK_INT(wait_events(&h2, 1), 1);
	CHECK_INT(h2.ev[0], CL_VM_EVENT_DEFINED);
	vm->unwatch(w);
	CHECK_INT(heard_count(&h), before);

	vm->close(hv);
	free(disk);
	free(base);
	char *cmd = cl_aprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	return tap_done();
}
