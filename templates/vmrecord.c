/* A VM's identity (record, UUID, MAC, port, instance-id, host key) and its domain spec. */
#include "templates_impl.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_ssh.h"
#include "classlab/banned.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * QEMU could bind its forward there right now: nothing else on the host holds
 * the port. Like QEMU's user networking, the probe sets SO_REUSEADDR, so the
 * TIME_WAIT connections a stopped VM leaves behind do not count as holders.
 */
static bool port_bindable(const char *listen, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd, ok, one = 1;

	if (inet_pton(AF_INET, listen, &sa.sin_addr) != 1)
		return false;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ok = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
	     bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static int alloc_port(cl_ctx *ctx, const cl_lab *lab, int64_t *port)
{
	int64_t *used = NULL;
	size_t n = 0, j = 0;
	int rc = cl_store_ports_used(ctx->st, &used, &n);

	if (rc)
		return rc;
	for (int64_t p = lab->port_min; p <= lab->port_max; p++) {
		while (j < n && used[j] < p)
			j++;
		if (j < n && used[j] == p)
			continue;
		/* Forwards that are not this host's ports (a cloud's) need no probe. */
		if ((ctx->hv && !TP_VM(ctx)->host_forwards) || port_bindable(lab->listen, (int)p)) {
			*port = p;
			free(used);
			return 0;
		}
	}
	free(used);
	return cl_error_set(CL_EFAIL, "no free SSH port left in %lld-%lld on %s",
			    (long long)lab->port_min, (long long)lab->port_max, lab->listen);
}

char *tp_template_vol(const char *lab, int64_t version)
{
	return cl_aprintf("%s-template-v%lld.qcow2", lab, (long long)version);
}

int tp_vm_ensure(cl_ctx *ctx, const cl_lab *lab, const cl_student *student, int64_t version,
		 cl_vm *vm)
{
	char *name = cl_vm_name(lab->name, student ? student->name : NULL);
	cl_keypair hk = {0};
	cl_vm_unique conflict = CL_VM_UNIQUE_NONE;
	int rc;

	memset(vm, 0, sizeof(*vm));
	rc = cl_store_vm_get(ctx->st, name, vm);
	/* By ids, not by name: "template" as a student, or a name two labs' VMs share. */
	if (rc == 0 && vm->lab_id != lab->id) {
		rc = cl_error_set(CL_EEXIST, "VM name '%s' is already used by another lab", name);
		goto out;
	}
	if (rc == 0 && (!student) != (vm->kind == CL_VM_KIND_TEMPLATE)) {
		rc = cl_error_set(CL_EEXIST, "VM name '%s' is already the lab's %s VM", name,
				  student ? "template" : "student");
		goto out;
	}
	/* A record whose student is gone (ON DELETE SET NULL) holds that student's disk and key. */
	if (rc == 0 && student && vm->student_id != student->id) {
		rc = cl_error_set(CL_EEXIST,
				  "VM '%s' is left from a removed student of that name: run "
				  "'classlab template publish %s' to remove it first",
				  name, lab->name);
		goto out;
	}
	if (rc && rc != CL_ENOTFOUND)
		goto out;
	if ((rc = cl_keys_host(ctx->data_dir, lab->name, name, &hk)))
		goto out;
	if (rc == 0 && vm->name && vm->uuid && vm->mac && vm->ssh_port &&
	    vm->host_key_pub && strcmp(vm->host_key_pub, hk.public_line) == 0)
		goto out; /* complete: ports, MAC and keys are kept for the VM's life */
	if (!vm->name) {
		vm->name = cl_strdup(name);
		vm->lab_id = lab->id;
		vm->student_id = student ? student->id : 0;
		vm->kind = student ? CL_VM_KIND_STUDENT : CL_VM_KIND_TEMPLATE;
		vm->username = cl_strdup(lab->username);
		vm->template_version = version;
	}
	if (!vm->uuid) {
		char uuid[37];
		cl_uuid_new(uuid);
		vm->uuid = cl_strdup(uuid);
	}
	free(vm->host_key_pub);
	vm->host_key_pub = cl_strdup(hk.public_line);
	if (!vm->instance_id)
		vm->instance_id = cl_aprintf("i-%s-v%lld", vm->uuid, (long long)version);
	/* The host key files this record copies are durable before it commits (batched writes). */
	if ((rc = cl_file_sync()))
		goto out;
	/* MAC and port must be unique host-wide; the store's UNIQUE indexes settle races. */
	for (int attempt = 0; attempt < 20; attempt++) {
		if (!vm->mac) {
			char mac[18], *seed = cl_aprintf("%s#%d", name, attempt);
			cl_mac_from_seed(seed, mac);
			free(seed);
			vm->mac = cl_strdup(mac);
		}
		if (!vm->ssh_port && (rc = alloc_port(ctx, lab, &vm->ssh_port)))
			goto out;
		if ((rc = cl_store_begin(ctx->st)))
			goto out;
		if ((rc = cl_store_end(ctx->st, cl_store_vm_put(ctx->st, vm, &conflict))) == 0)
			break;
		if (rc != CL_EEXIST)
			goto out;
		/* Someone took the MAC or the port meanwhile: draw again. */
		if (conflict == CL_VM_UNIQUE_MAC) {
			free(vm->mac);
			vm->mac = NULL;
		} else {
			vm->ssh_port = 0;
		}
	}
out:
	if (rc)
		cl_vm_clear(vm);
	cl_keypair_clear(&hk);
	free(name);
	return rc;
}

int tp_vm_set_state(cl_ctx *ctx, cl_vm *vm, cl_vm_state state, int64_t version)
{
	int rc;

	vm->state = state;
	if (version >= 0)
		vm->template_version = version;
	/* What the new state stands for (a seed, keys) is on disk before it is recorded. */
	if ((rc = cl_file_sync()) || (rc = cl_store_begin(ctx->st)))
		return rc;
	return cl_store_end(ctx->st, cl_store_vm_put(ctx->st, vm, NULL));
}

int tp_vm_reload(cl_ctx *ctx, cl_vm *vm)
{
	char *name = vm->name;
	int rc;

	vm->name = NULL;
	cl_vm_clear(vm);
	rc = cl_store_vm_get(ctx->st, name, vm);
	free(name);
	return rc;
}

int tp_vm_new_instance(cl_ctx *ctx, cl_vm *vm, int64_t version)
{
	free(vm->instance_id);
	vm->instance_id = cl_aprintf("i-%s-v%lld", vm->uuid, (long long)version);
	return tp_vm_set_state(ctx, vm, CL_VM_STATE_PLANNED, version);
}

char *tp_console_log(cl_ctx *ctx, const char *vm)
{
	char *dir = cl_path_join(ctx->data_dir, "console");
	char *path = cl_aprintf("%s/%s.log", dir, vm);
	cl_mkdir_p(dir, 0700);
	free(dir);
	return path;
}

int tp_lab_and_size(cl_ctx *ctx, const char *name, cl_lab *lab, cl_size *size)
{
	int rc = cl_name_check("lab name", name);
	if (rc == 0)
		rc = cl_store_lab_get(ctx->st, name, lab);
	if (rc == 0 && (rc = cl_store_size_get(ctx->st, lab->size, size)))
		cl_lab_clear(lab);
	return rc;
}

int tp_lab_save(cl_ctx *ctx, const cl_lab *lab)
{
	int rc = cl_file_sync();
	if (rc == 0)
		rc = cl_store_begin(ctx->st);
	if (rc)
		return rc;
	return cl_store_end(ctx->st, cl_store_lab_update(ctx->st, lab));
}

int tp_define(cl_ctx *ctx, const cl_lab *lab, const cl_size *size, const cl_vm *vm,
	      const char *disk_path, const char *seed_path)
{
	char *log = tp_console_log(ctx, vm->name);
	cl_domain_spec spec = {
		.name = vm->name,
		.uuid = vm->uuid,
		.memory_mib = (unsigned)(lab->memory_mib ? lab->memory_mib : size->memory_mib),
		.vcpus = (unsigned)(lab->vcpus ? lab->vcpus : size->vcpus),
		.disk_path = disk_path,
		.disk_format = "qcow2",
		.seed_path = seed_path,
		.kernel = lab->boot_kernel,
		.initrd = lab->boot_initrd,
		.cmdline = lab->boot_cmdline,
		.console_log = log,
		.mac = vm->mac,
		.listen = lab->listen,
		.ssh_port = (int)vm->ssh_port,
		.lab = lab->name,
		.student = vm->kind == CL_VM_KIND_STUDENT ? vm->name + strlen(lab->name) + 1 : NULL,
		.version = vm->template_version,
		.gpus = size->gpus > 0 ? (unsigned)size->gpus : 0,
	};
	cl_lab_spec ls = {0};
	char **gpus = NULL;
	size_t ngpus = 0;
	int rc = cl_store_vm_gpus(ctx->st, vm->id, &gpus, &ngpus);

	spec.hostdevs = (const char *const *)gpus;
	spec.n_hostdevs = ngpus;
	if (rc == 0 && (rc = cl_lab_spec_parse(lab->spec_json, &ls)) == 0)
		spec.flavor = ls.flavor;
	if (rc == 0)
		rc = TP_VM(ctx)->create(ctx->hv, &spec);
	cl_lab_spec_clear(&ls);
	for (size_t i = 0; i < ngpus; i++)
		free(gpus[i]);
	free(gpus);
	free(log);
	return rc;
}

/*
 * Starting a guest waits for QEMU to come up; several at once overlap those waits.
 * Under AddressSanitizer, one at a time: libvirt's forked child frees memory before
 * it execs QEMU, and Debian 12's libasan (GCC 12) takes no locks around fork(), so a
 * sanitizer lock another start thread held at that moment hangs the child for good
 * (seen once in e2e/crash: the child spinning in StackDepot under virFork).
 */
#ifdef __SANITIZE_ADDRESS__
enum { START_THREADS = 1 };
#else
enum { START_THREADS = 4 };
#endif

struct start_pool {
	cl_hv *hv;
	char *const *names;
	size_t n;
	atomic_size_t next;
	int *rcs;
	char **msgs;
};

static void *start_worker(void *p)
{
	struct start_pool *pool = p;
	size_t i;

	while ((i = atomic_fetch_add(&pool->next, 1)) < pool->n) {
		pool->rcs[i] = cl_vm_ops(pool->hv)->start(pool->hv, pool->names[i]);
		if (pool->rcs[i])
			pool->msgs[i] = cl_strdup(cl_error_msg());
	}
	return NULL;
}

/*
 * Another program holds the SSH port of a VM that is not running: the VM gets a
 * free port, its domain is defined again with it, and known_hosts follows.
 */
static int move_port_if_taken(cl_ctx *ctx, const cl_lab *lab, const char *name, bool *moved)
{
	cl_vm vm = {0};
	cl_size size = {0};
	cl_dom_state st = CL_DOM_ABSENT;
	char *vol = NULL, *seed = NULL, *disk = NULL, *seed_path = NULL;
	int64_t old;
	int rc;

	*moved = false;
	if ((rc = cl_store_vm_get(ctx->st, name, &vm)) ||
	    (rc = TP_VM(ctx)->state(ctx->hv, name, &st)))
		goto out;
	if (st == CL_DOM_RUNNING || st == CL_DOM_PAUSED || !vm.ssh_port ||
	    !TP_VM(ctx)->host_forwards || port_bindable(lab->listen, (int)vm.ssh_port))
		goto out;
	old = vm.ssh_port;
	/* Another lab of this data directory may take the same free port meanwhile. */
	for (int attempt = 0; attempt < 20; attempt++) {
		if ((rc = alloc_port(ctx, lab, &vm.ssh_port)) ||
		    (rc = tp_vm_set_state(ctx, &vm, vm.state, -1)) != CL_EEXIST)
			break;
	}
	if (rc)
		goto out;
	vol = vm.kind == CL_VM_KIND_TEMPLATE ? tp_template_vol(lab->name, vm.template_version)
					       : cl_aprintf("%s.qcow2", name);
	seed = cl_aprintf("%s-seed.iso", name);
	if ((rc = cl_store_size_get(ctx->st, lab->size, &size)) ||
	    (rc = TP_VM(ctx)->disk_path(ctx->hv, vol, &disk)) ||
	    (rc = TP_VM(ctx)->disk_path(ctx->hv, seed, &seed_path)) ||
	    (rc = tp_define(ctx, lab, &size, &vm, disk, seed_path)) ||
	    (rc = cl_known_hosts_write(ctx, lab)))
		goto out;
	*moved = true;
	cl_ctx_warn(ctx, "port %lld of %s is in use by another program; %s now uses port %lld",
		    (long long)old, name, name, (long long)vm.ssh_port);
out:
	if (rc)
		cl_error_wrap("cannot give '%s' a free SSH port", name);
	free(vol);
	free(seed);
	free(disk);
	free(seed_path);
	cl_size_clear(&size);
	cl_vm_clear(&vm);
	return rc;
}

int tp_start_all(cl_ctx *ctx, const cl_lab *lab, char *const *names, size_t n)
{
	struct start_pool pool = {.hv = ctx->hv, .names = names, .n = n};
	pthread_t threads[START_THREADS];
	size_t nthreads = n < START_THREADS ? n : START_THREADS, started = 0;
	bool moved;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = move_port_if_taken(ctx, lab, names[i], &moved);
	if (rc)
		return rc;
	atomic_init(&pool.next, 0);
	pool.rcs = cl_calloc(n + 1, sizeof(int));
	pool.msgs = cl_calloc(n + 1, sizeof(char *));
	for (size_t t = 0; t < nthreads; t++)
		if (pthread_create(&threads[t], NULL, start_worker, &pool) == 0)
			started++;
	if (started == 0)
		start_worker(&pool);
	for (size_t t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
	for (size_t i = 0; i < n; i++) {
		cl_vm vm = {0};
		/* The port was taken between the check and QEMU's start: once more on a new one. */
		if (pool.rcs[i] && move_port_if_taken(ctx, lab, names[i], &moved) == 0 && moved &&
		    TP_VM(ctx)->start(ctx->hv, names[i]) == 0)
			pool.rcs[i] = 0;
		if (pool.rcs[i] && rc == 0)
			rc = cl_error_set(pool.rcs[i], "%s", pool.msgs[i]);
		if (pool.rcs[i] == 0 && cl_store_vm_get(ctx->st, names[i], &vm) == 0) {
			cl_killpoint("publish:start");
			int src = tp_vm_set_state(ctx, &vm, CL_VM_STATE_RUNNING, -1);
			if (src && rc == 0)
				rc = src;
		}
		cl_vm_clear(&vm);
		free(pool.msgs[i]);
	}
	free(pool.msgs);
	free(pool.rcs);
	return rc;
}

/*
 * Removing a student revokes their access: the VM (domain, disk, seed, record),
 * then their keys, then the student's row. Each step finds what is left, so a
 * rerun after a crash finishes the job; the row goes last, so nothing is lost
 * track of. A student removed before this existed (row gone, VM or keys left) is
 * cleaned up the same way.
 */
int cl_student_revoke(cl_ctx *ctx, const char *labname, const char *student)
{
	cl_lab lab = {0};
	cl_student s = {0};
	cl_vm vm = {0};
	char *name = NULL;
	bool found = false, ours = false, removed = false, locked = false;
	int rc;

	if ((rc = cl_name_check("lab name", labname)) ||
	    (rc = cl_name_check("student name", student)) ||
	    (rc = cl_store_lab_get(ctx->st, labname, &lab)))
		return rc;
	if ((rc = cl_ctx_lab_lock(ctx, lab.name, "students remove")))
		goto out;
	locked = true;
	rc = cl_store_student_get(ctx->st, lab.id, student, &s);
	if (rc && rc != CL_ENOTFOUND)
		goto out;
	found = rc == 0;
	name = cl_vm_name(lab.name, student);
	rc = cl_store_vm_get(ctx->st, name, &vm);
	if (rc && rc != CL_ENOTFOUND)
		goto out;
	/* Only this student's VM (or a removed one's, left without its student): by ids. */
	ours = rc == 0 && vm.lab_id == lab.id && vm.kind != CL_VM_KIND_TEMPLATE &&
	       (found ? vm.student_id == s.id : vm.student_id == 0);
	rc = 0;
	if (ours && vm.kind == CL_VM_KIND_ATTACHED) {
		/* A machine classlab did not make: forget it (its key goes with the student's). */
		if ((rc = cl_store_begin(ctx->st)) ||
		    (rc = cl_store_end(ctx->st, cl_store_vm_delete(ctx->st, name))))
			goto out;
	} else if (ours) {
		if ((rc = cl_template_connect(ctx, &lab, false)))
			goto out;
		cl_ctx_progress(ctx, "removing %s", name);
		if ((rc = tp_vm_remove(ctx, name)))
			goto out;
	}
	cl_killpoint("students-remove:vm");
	/* Host keys of a VM of this lab that is not the student's (the template's) stay. */
	if ((rc = cl_keys_forget(ctx->data_dir, lab.name, student,
				 !vm.name || vm.lab_id != lab.id || ours ? name : NULL, &removed)))
		goto out;
	cl_killpoint("students-remove:keys");
	if (found) {
		if ((rc = cl_store_begin(ctx->st)) ||
		    (rc = cl_store_end(ctx->st, cl_store_student_remove(ctx->st, lab.id, student))))
			goto out;
	} else if (!ours && !removed) {
		rc = cl_error_set(CL_ENOTFOUND, "student '%s' not found", student);
		goto out;
	}
	if (ours)
		rc = cl_known_hosts_write(ctx, &lab);
out:
	if (locked)
		cl_ctx_lab_unlock(ctx, lab.name);
	if (rc)
		cl_error_wrap("cannot remove student '%s' from lab '%s'", student, labname);
	free(name);
	cl_vm_clear(&vm);
	cl_student_clear(&s);
	cl_lab_clear(&lab);
	return rc;
}
