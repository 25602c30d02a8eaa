/* template build / publish, lab down, vm start/stop/list, and up: each converges on rerun. */
#include "templates_impl.h"
#include "classlab/cl_gpu.h"
#include "classlab/cl_ssh.h"
#include "classlab/cl_labs.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEMPLATE_SHUTDOWN_S 60

/*
 * The connector a front end passes picks the VM backend by URI. Every call below
 * goes through the table the connection carries (cl_backend.h).
 */
const cl_vm_backend *tp_vm_backend(const char *uri)
{
	return cl_openstack_uri(uri) ? &cl_vm_openstack : &cl_vm_libvirt;
}

/* A backend's detail line (a cloud's API call) as -v detail. */
static void hv_log(void *arg, const char *line)
{
	cl_ctx *ctx = arg;
	if (ctx->progress)
		ctx->progress(ctx->cb_arg, CL_NOTICE_DETAIL, line, 0, 0);
}

/* The VM backend's connection, with its disk pool under <data>/pool made sure of. */
static int hv_open(cl_ctx *ctx, cl_hv **out)
{
	cl_vm_open_opts o = {.uri = ctx->uri, .data_dir = ctx->data_dir, .accel = ctx->accel,
			     .disks = true, .env = ctx->env, .log = hv_log, .log_arg = ctx};
	return tp_vm_backend(ctx->uri)->open(out, &o);
}

static void hv_close(cl_hv *hv)
{
	if (hv)
		cl_vm_ops(hv)->close(hv);
}

const cl_ctx_backend cl_templates_backend = {hv_open, hv_close};

int cl_template_hv_check(cl_ctx *ctx, const cl_lab *lab)
{
	const char *uri = TP_VM(ctx)->uri(ctx->hv);

	if (!lab->hv_uri || strcmp(lab->hv_uri, uri) == 0)
		return 0;
	return cl_error_set(CL_EUNAVAIL,
			    "lab '%s' has its VMs on '%s', not on '%s': connect there "
			    "(--connect '%s')",
			    lab->name, lab->hv_uri, uri, lab->hv_uri);
}

int tp_lab_address(cl_ctx *ctx, cl_lab *lab)
{
	char *addr = NULL;
	int rc;

	if (!TP_VM(ctx)->lab_address)
		return 0;
	if ((rc = TP_VM(ctx)->lab_address(ctx->hv, lab->name, &addr)))
		return rc;
	/* Students connect to it too, unless the lab file named another (reachable) host. */
	bool host = !lab->public_host || !lab->listen || strcmp(lab->public_host, lab->listen) == 0 ||
		    cl_listen_is_loopback(lab->public_host);
	if (!lab->listen || strcmp(lab->listen, addr) != 0 ||
	    (host && strcmp(lab->public_host, addr) != 0)) {
		if (host) {
			free(lab->public_host);
			lab->public_host = cl_strdup(addr);
		}
		free(lab->listen);
		lab->listen = addr;
		addr = NULL;
		if ((rc = tp_lab_save(ctx, lab)) == 0)
			rc = cl_known_hosts_write(ctx, lab);
	}
	free(addr);
	return rc;
}

bool cl_lab_address_from_backend(const cl_lab *lab)
{
	return lab->hv_uri && tp_vm_backend(lab->hv_uri)->lab_address != NULL;
}

int cl_template_connect(cl_ctx *ctx, cl_lab *lab, bool claim)
{
	char *bound = NULL;
	int rc;

	if ((rc = cl_ctx_connect(ctx)) || (rc = cl_template_hv_check(ctx, lab)) || !claim)
		return rc;
	if (!lab->hv_uri) {
		if ((rc = cl_store_begin(ctx->st)) ||
		    (rc = cl_store_end(ctx->st, cl_store_lab_claim_hv(ctx->st, lab->id,
								      TP_VM(ctx)->uri(ctx->hv), &bound))))
			return rc;
		lab->hv_uri = bound; /* another process may have claimed it first: check again */
		rc = cl_template_hv_check(ctx, lab);
	}
	return rc;
}

/* The seed every VM of the lab gets: its user, keys and (template only) the customisation. */
static int make_seed(cl_ctx *ctx, const cl_lab *lab, const cl_vm *vm, const cl_lab_spec *spec,
		     const char *student_key, char **seed_path)
{
	cl_keypair admin = {0}, host = {0};
	char *seed_vol = cl_aprintf("%s-seed.iso", vm->name);
	char **gpu_pkgs = NULL, **gpu_run = NULL;
	size_t n_gpu_pkgs = 0, n_gpu_run = 0;
	const char *keys[2];
	const char **pkgs = NULL, **run = NULL;
	size_t nkeys = 0, npkgs = 0, nrun = 0;
	int rc;

	if ((rc = cl_keys_admin(ctx->data_dir, lab->name, &admin)) ||
	    (rc = cl_keys_host(ctx->data_dir, lab->name, vm->name, &host)))
		goto out;
	if (student_key)
		keys[nkeys++] = student_key;
	keys[nkeys++] = admin.public_line;
	if (spec && spec->gpu_install_drivers) {
		cl_gpu_install gi = {.driver = spec->gpu_driver,
				     .cuda = spec->gpu_cuda,
				     .frameworks = (const char *const *)spec->frameworks,
				     .nframeworks = spec->n_frameworks};
		if ((rc = cl_gpu_cloudconfig_additions(&gi, &gpu_pkgs, &n_gpu_pkgs, &gpu_run,
						       &n_gpu_run)))
			goto out;
	}
	if (spec) {
		pkgs = cl_calloc(spec->n_packages + n_gpu_pkgs + 1, sizeof(char *));
		for (size_t i = 0; i < spec->n_packages; i++)
			pkgs[npkgs++] = spec->packages[i];
		for (size_t i = 0; i < n_gpu_pkgs; i++)
			pkgs[npkgs++] = gpu_pkgs[i];
		run = cl_calloc(spec->n_run + n_gpu_run + 1, sizeof(char *));
		for (size_t i = 0; i < n_gpu_run; i++)
			run[nrun++] = gpu_run[i];
		for (size_t i = 0; i < spec->n_run; i++)
			run[nrun++] = spec->run[i];
	}
	cl_cloudconfig cc = {
		.hostname = vm->name,
		.instance_id = vm->instance_id,
		.username = vm->username ? vm->username : lab->username,
		.authorized_keys = keys,
		.n_authorized_keys = nkeys,
		.host_key_private = host.private_pem,
		.host_key_public = host.public_line,
		.packages = pkgs,
		.n_packages = npkgs,
		.pip = spec ? (const char *const *)spec->pip : NULL,
		.n_pip = spec ? spec->n_pip : 0,
		.runcmd = run,
		.n_runcmd = nrun,
		.mac = vm->mac,
	};
	if ((rc = TP_VM(ctx)->seed_upload(ctx->hv, seed_vol, &cc, seed_path)))
		goto out;
out:
	if (rc)
		cl_error_wrap("cannot write the cloud-init seed for '%s'", vm->name);
	free(pkgs);
	free(run);
	cl_strv_free(gpu_pkgs, n_gpu_pkgs);
	cl_strv_free(gpu_run, n_gpu_run);
	free(seed_vol);
	cl_keypair_clear(&admin);
	cl_keypair_clear(&host);
	return rc;
}

/* Logs in as classlab (admin key, pinned host key). */
static int admin_opts(cl_ctx *ctx, const cl_lab *lab, const cl_vm *vm, cl_keypair *admin,
		      cl_ssh_opts *o)
{
	int rc = cl_keys_admin(ctx->data_dir, lab->name, admin);
	if (rc)
		return rc;
	memset(o, 0, sizeof(*o));
	o->host = lab->listen;
	o->port = (int)vm->ssh_port;
	/* A machine classlab did not create is reached as recorded; a VM where its backend says. */
	if (vm->kind != CL_VM_KIND_ATTACHED &&
	    (rc = TP_VM(ctx)->ssh_endpoint(ctx->hv, vm->name, lab->listen, (int)vm->ssh_port,
					   &o->host, &o->port))) {
		cl_keypair_clear(admin);
		return rc;
	}
	o->user = vm->username ? vm->username : lab->username;
	o->host_key = vm->host_key_pub;
	o->identity_file = admin->private_path;
	o->connect_timeout_ms = 10000;
	return 0;
}

static int wait_ssh(cl_ctx *ctx, const cl_lab *lab, const cl_vm *vm)
{
	cl_keypair admin = {0};
	cl_ssh_opts o;
	int elapsed = 0, timeout = ctx->boot_timeout_s > 0 ? ctx->boot_timeout_s : 300;
	int rc = admin_opts(ctx, lab, vm, &admin, &o);

	if (rc == 0)
		rc = cl_ssh_wait(&o, timeout * 1000, &elapsed);
	if (rc) {
		char *log = tp_console_log(ctx, vm->name);
		cl_error_wrap("'%s' (console log: %s)", vm->name, log);
		free(log);
	} else {
		cl_ctx_progress(ctx, "%s answers SSH on %s:%lld after %.1f s", vm->name, lab->listen,
			    (long long)vm->ssh_port, elapsed / 1000.0);
	}
	cl_keypair_clear(&admin);
	return rc;
}

int tp_admin_exec(cl_ctx *ctx, const cl_lab *lab, const cl_vm *vm, const char *cmd,
		  int timeout_ms, cl_buf *out, cl_buf *err, int *status)
{
	cl_keypair admin = {0};
	cl_ssh_opts o;
	cl_ssh *ssh = NULL;
	int rc = admin_opts(ctx, lab, vm, &admin, &o);

	if (rc == 0 && (rc = cl_ssh_connect(&ssh, &o)) == 0)
		rc = cl_ssh_exec(ssh, cmd, NULL, 0, timeout_ms, out, err, status);
	cl_ssh_free(ssh);
	cl_keypair_clear(&admin);
	return rc;
}

/*
 * One line from `cloud-init status --long` (out) for a message: "status: error;
 * detail: ..." with the key lines joined, or the stderr when it printed nothing.
 * New string.
 */
char *tp_cloud_init_why(const cl_buf *out, const cl_buf *err)
{
	cl_buf b = CL_BUF_INIT;
	const char *p = cl_buf_str(out);

	while (*p) {
		size_t n = strcspn(p, "\n"), lead = strspn(p, " \t");
		bool keep = strncmp(p, "time:", 5) != 0 && strncmp(p, "boot_status_code:", 17) != 0 &&
			    strncmp(p, "last_update:", 12) != 0 && n > lead;
		if (keep) {
			if (b.len)
				cl_buf_puts(&b, b.data[b.len - 1] == ':' ? " " : "; ");
			cl_buf_add(&b, p + lead, n - lead);
		}
		p += n + (p[n] == '\n');
	}
	if (!b.len)
		cl_buf_puts(&b, cl_buf_str(err));
	if (!b.len)
		cl_buf_puts(&b, "(cloud-init said nothing)");
	return cl_buf_detach(&b);
}

int cl_template_build(cl_ctx *ctx, const char *name)
{
	cl_lab lab = {0};
	cl_size size = {0};
	cl_vm vm = {0};
	cl_lab_spec spec = {0};
	cl_image *img = NULL;
	char *vol = NULL, *backing = NULL, *disk = NULL, *seed = NULL;
	const char *backing_fmt;
	int64_t version;
	int rc;

	if ((rc = tp_lab_and_size(ctx, name, &lab, &size)))
		return rc;
	/* The hypervisor first: an unreachable one leaves the store untouched. */
	if ((rc = cl_template_connect(ctx, &lab, true)) || (rc = cl_ctx_lab_lock(ctx, lab.name, "template build")))
		goto out_nolock;
	if ((rc = tp_lab_address(ctx, &lab)))
		goto out;
	if ((rc = cl_lab_spec_parse(lab.spec_json, &spec)))
		goto out;
	cl_ctx_progress(ctx, "preparing image '%s'", lab.image);
	if ((rc = TP_VM(ctx)->image(ctx->hv, lab.image, ctx->cache_dir, ctx->images_dir,
				     &img)))
		goto out;
	/*
	 * A published version is frozen (students' disks stand on it): build on top of it.
	 * "outdated": the lab file changed the image or customisation; start from the base.
	 * Otherwise (building, built, verified) this rebuilds the lab's own unfinished
	 * version in place, on the disk it already has whatever that disk stands on: a
	 * build that failed or was killed after making it is simply run again.
	 */
	bool fresh = lab.template_state == CL_TEMPLATE_PUBLISHED ||
		     lab.template_state == CL_TEMPLATE_OUTDATED ||
		     lab.template_state == CL_TEMPLATE_NONE || lab.template_version == 0;
	version = fresh ? lab.template_version + 1 : lab.template_version;
	vol = tp_template_vol(lab.name, version);
	backing = lab.template_state == CL_TEMPLATE_PUBLISHED
			  ? tp_template_vol(lab.name, lab.template_version)
			  : NULL;
	if (backing && TP_VM(ctx)->disk_path(ctx->hv, backing, &disk) == 0) {
		free(backing);
		backing = disk;
		disk = NULL;
		backing_fmt = "qcow2";
	} else {
		free(backing);
		backing = cl_strdup(img->disk_path);
		backing_fmt = img->disk_format;
	}
	cl_error_clear();
	if ((rc = tp_vm_ensure(ctx, &lab, NULL, version, &vm)))
		goto out;
	/* The template VM may still run an older version's disk: stop it before switching. */
	if (fresh && (rc = TP_VM(ctx)->stop(ctx->hv, vm.name, TEMPLATE_SHUTDOWN_S)))
		goto out;
	if (fresh) {
		/*
		 * Version N+1 of a lab at N is no student's (publish makes it the lab's
		 * version first): a disk of that name is left by an earlier attempt that
		 * was killed before it recorded "building", maybe on another base. Replace it.
		 */
		if ((rc = TP_VM(ctx)->disk_delete(ctx->hv, vol)) ||
		    (rc = TP_VM(ctx)->disk_overlay(ctx->hv, vol, backing, backing_fmt)))
			goto out;
		cl_killpoint("build:disk");
	} else if (TP_VM(ctx)->disk_path(ctx->hv, vol, &disk) != 0) {
		/* The unfinished version's disk is gone (deleted by hand): start it from the base. */
		cl_error_clear();
		if ((rc = TP_VM(ctx)->disk_overlay(ctx->hv, vol, backing, backing_fmt)))
			goto out;
	}
	free(disk);
	disk = NULL;
	if ((rc = TP_VM(ctx)->disk_path(ctx->hv, vol, &disk)))
		goto out;
	/* Only now, with its disk made, is the new version the lab's (unfinished) one. */
	lab.template_version = version;
	lab.template_state = CL_TEMPLATE_BUILDING;
	free(lab.boot_kernel);
	free(lab.boot_initrd);
	free(lab.boot_cmdline);
	lab.boot_kernel = img->kernel_path ? cl_strdup(img->kernel_path) : NULL;
	lab.boot_initrd = img->initrd_path ? cl_strdup(img->initrd_path) : NULL;
	lab.boot_cmdline = img->cmdline ? cl_strdup(img->cmdline) : NULL;
	if ((rc = tp_lab_save(ctx, &lab)))
		goto out;
	cl_killpoint("build:lab");
	/* A new template version reruns cloud-init's per-instance steps (the customisation). */
	if (vm.template_version != version && (rc = tp_vm_new_instance(ctx, &vm, version)))
		goto out;
	if ((rc = tp_gpus_assign(ctx, &lab, &size, &vm, 1, false, false)))
		goto out;
	if ((rc = make_seed(ctx, &lab, &vm, &spec, NULL, &seed)) ||
	    (rc = tp_define(ctx, &lab, &size, &vm, disk, seed)) ||
	    (rc = tp_start_all(ctx, &lab, &vm.name, 1)))
		goto out;
	cl_killpoint("build:start");
	/* Its record now says running, with a new port if another program held the old one. */
	if ((rc = tp_vm_reload(ctx, &vm)))
		goto out;
	cl_ctx_progress(ctx, "started %s (template version %lld); waiting for SSH", vm.name,
		    (long long)version);
	if ((rc = wait_ssh(ctx, &lab, &vm)))
		goto out;
	/* Real cloud images apply packages/runcmd in the background: wait for it to finish. */
	cl_buf out = CL_BUF_INIT, err = CL_BUF_INIT;
	int status = 0;
	/*
	 * On failure, cloud-init's own account (`status --long`: its status and the
	 * failing modules' errors) is the message.
	 */
	rc = tp_admin_exec(ctx, &lab, &vm,
			   "command -v cloud-init >/dev/null 2>&1 || exit 0; "
			   "cloud-init status --wait >/dev/null; s=$?; "
			   "[ $s = 0 ] || [ $s = 2 ] || cloud-init status --long; exit $s",
			   3600 * 1000, &out, &err, &status);
	if (rc == 0 && status != 0 && status != 2) { /* 2: finished with recoverable warnings */
		char *why = tp_cloud_init_why(&out, &err);
		rc = cl_error_set(CL_EFAIL, "customisation failed in '%s' (cloud-init status %d): %s",
				  vm.name, status, why);
		free(why);
	}
	cl_buf_free(&out);
	cl_buf_free(&err);
	if (rc)
		goto out;
	lab.template_state = CL_TEMPLATE_BUILT;
	rc = tp_lab_save(ctx, &lab);
	cl_ctx_progress(ctx, "template of lab '%s' is built (version %lld)", lab.name, (long long)version);
out:
	cl_ctx_lab_unlock(ctx, lab.name);
out_nolock:
	if (rc)
		cl_error_wrap("cannot build the template of lab '%s'", name);
	cl_image_free(img);
	cl_lab_spec_clear(&spec);
	free(vol);
	free(backing);
	free(disk);
	free(seed);
	cl_vm_clear(&vm);
	cl_size_clear(&size);
	cl_lab_clear(&lab);
	return rc;
}

/* One student's VM: record, overlay on the published template, seed, domain, start. */
static int publish_one(cl_ctx *ctx, const cl_lab *lab, const cl_size *size,
		       const cl_student *s, const char *template_disk, bool *needs_start)
{
	cl_vm vm = {0};
	cl_keypair key = {0};
	char *vol = NULL, *disk = NULL, *seed = NULL;
	cl_dom_state st = CL_DOM_ABSENT;
	int rc;

	if ((rc = tp_vm_ensure(ctx, lab, s, lab->template_version, &vm)))
		goto out;
	cl_killpoint("publish:record");
	vol = cl_aprintf("%s.qcow2", vm.name);
	if (vm.template_version != lab->template_version) {
		/* A disk from an older template: recreated (the caller got --yes for this). */
		if ((rc = TP_VM(ctx)->remove(ctx->hv, vm.name, NULL, 0)) ||
		    (rc = TP_VM(ctx)->disk_delete(ctx->hv, vol)))
			goto out;
		if ((rc = tp_vm_new_instance(ctx, &vm, lab->template_version)))
			goto out;
	}
	if ((rc = cl_keys_student(ctx->data_dir, lab->name, s->name, s->ssh_public_key, &key)) ||
	    (rc = TP_VM(ctx)->disk_overlay(ctx->hv, vol, template_disk, "qcow2")) ||
	    (rc = TP_VM(ctx)->disk_path(ctx->hv, vol, &disk)))
		goto out;
	cl_killpoint("publish:overlay");
	if ((rc = TP_VM(ctx)->state(ctx->hv, vm.name, &st)))
		goto out;
	/* Absent, never defined, or in a state no start mends (a cloud's server in ERROR): defined again. */
	if (st == CL_DOM_ABSENT || st == CL_DOM_OTHER || vm.state == CL_VM_STATE_PLANNED) {
		if ((rc = make_seed(ctx, lab, &vm, NULL, key.public_line, &seed)))
			goto out;
		cl_killpoint("publish:seed");
		if ((rc = tp_define(ctx, lab, size, &vm, disk, seed)))
			goto out;
		cl_killpoint("publish:define");
		if ((rc = tp_vm_set_state(ctx, &vm, CL_VM_STATE_DEFINED, lab->template_version)))
			goto out;
	}
	*needs_start = st != CL_DOM_RUNNING;
	cl_killpoint("publish:student");
out:
	if (rc)
		cl_error_wrap("cannot publish '%s-%s'", lab->name, s->name);
	cl_keypair_clear(&key);
	free(vol);
	free(disk);
	free(seed);
	cl_vm_clear(&vm);
	return rc;
}

/* Removes one VM completely: domain, disk, seed, console log and record. */
int tp_vm_remove(cl_ctx *ctx, const char *name)
{
	char *vol = cl_aprintf("%s.qcow2", name), *seed = cl_aprintf("%s-seed.iso", name);
	char *log = tp_console_log(ctx, name);
	int rc = TP_VM(ctx)->remove(ctx->hv, name, NULL, 0);

	cl_killpoint("remove:undefine");
	if (rc == 0)
		rc = TP_VM(ctx)->disk_delete(ctx->hv, vol);
	cl_killpoint("remove:disk");
	if (rc == 0)
		rc = TP_VM(ctx)->disk_delete(ctx->hv, seed);
	cl_killpoint("remove:seed");
	if (rc == 0) {
		unlink(log);
		rc = cl_store_vm_delete(ctx->st, name);
	}
	free(vol);
	free(seed);
	free(log);
	return rc;
}

int cl_template_publish(cl_ctx *ctx, const char *name, const cl_publish_opts *opts)
{
	cl_lab lab = {0};
	cl_size size = {0};
	cl_student *students = NULL;
	cl_vm *vms = NULL;
	size_t n = 0, nvms = 0, stale = 0, nstart = 0;
	bool forced = false;
	char *tvol = NULL, *tdisk = NULL, *tname = NULL, **to_start = NULL;
	int rc;

	if ((rc = tp_lab_and_size(ctx, name, &lab, &size)))
		return rc;
	if ((rc = cl_template_connect(ctx, &lab, true)) ||
	    (rc = cl_ctx_lab_lock(ctx, lab.name, "template publish")))
		goto out_nolock;
	if ((rc = tp_lab_address(ctx, &lab)))
		goto out;
	/* Keys and seeds are synced in batches, each before the record that names it commits. */
	cl_file_defer_begin();
	if (lab.template_state != CL_TEMPLATE_BUILT && lab.template_state != CL_TEMPLATE_VERIFIED &&
	    lab.template_state != CL_TEMPLATE_PUBLISHED) {
		rc = cl_error_set(CL_EFAIL, "the template is %s: run 'classlab template build %s' first",
				  cl_template_state_name(lab.template_state), lab.name);
		goto out;
	}
	if (size.gpus > 0 && lab.verified_version != lab.template_version) {
		if (!opts->force) {
			rc = cl_error_set(CL_EFAIL,
					  "lab '%s' has a GPU size and template version %lld has not "
					  "passed 'classlab template verify %s' (use --force to publish "
					  "anyway; it is recorded)",
					  lab.name, (long long)lab.template_version, lab.name);
			goto out;
		}
		forced = true;
		cl_ctx_warn(ctx, "publishing unverified GPU template (--force, recorded)");
	}
	if ((rc = cl_store_student_list(ctx->st, lab.id, &students, &n)) ||
	    (rc = cl_store_vm_list(ctx->st, lab.id, &vms, &nvms)))
		goto out;
	for (size_t i = 0; i < nvms; i++)
		if (vms[i].kind == CL_VM_KIND_STUDENT &&
		    vms[i].template_version != lab.template_version)
			stale++;
	if (stale && !opts->recreate_ok) {
		rc = cl_error_set(CL_EINVAL,
				  "%zu student VM%s use an older template; publishing version %lld "
				  "recreates their disks (names, ports, MACs and keys stay): add --yes",
				  stale, stale == 1 ? "" : "s", (long long)lab.template_version);
		goto out;
	}
	tname = cl_vm_name(lab.name, NULL);
	cl_ctx_progress(ctx, "shutting down %s", tname);
	if ((rc = TP_VM(ctx)->stop(ctx->hv, tname, TEMPLATE_SHUTDOWN_S)))
		goto out;
	tvol = tp_template_vol(lab.name, lab.template_version);
	if ((rc = TP_VM(ctx)->disk_path(ctx->hv, tvol, &tdisk)))
		goto out;
	/* Students no longer on the roster lose their VM. */
	for (size_t i = 0; i < nvms; i++) {
		bool keep = vms[i].kind != CL_VM_KIND_STUDENT;
		for (size_t j = 0; !keep && j < n; j++)
			keep = vms[i].student_id == students[j].id;
		if (!keep) {
			cl_ctx_progress(ctx, "removing %s (student left the lab)", vms[i].name);
			if ((rc = tp_vm_remove(ctx, vms[i].name)))
				goto out;
		}
	}
	if (size.gpus > 0) {
		/* Up front: every student VM's record, then GPUs for all of them or none. */
		cl_vm *recs = cl_calloc(n + 1, sizeof(*recs));
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = tp_vm_ensure(ctx, &lab, &students[i], lab.template_version, &recs[i]);
		if (rc == 0)
			rc = tp_gpus_assign(ctx, &lab, &size, recs, n, true, opts->force);
		cl_vm_list_free(recs, n);
		if (rc)
			goto out;
	}
	/* A saved session (stop: "save") belongs to the old disk: it goes, said by name. */
	for (size_t i = 0; i < nvms; i++) {
		bool saved = false;
		if (vms[i].kind != CL_VM_KIND_STUDENT || vms[i].template_version == lab.template_version)
			continue;
		if ((rc = TP_VM(ctx)->has_saved(ctx->hv, vms[i].name, &saved)))
			goto out;
		if (!saved)
			continue;
		cl_ctx_warn(ctx, "%s: its saved session (open notebooks, running programs) is "
				 "discarded: the new template replaces its disk",
			    vms[i].name);
		if ((rc = TP_VM(ctx)->discard_saved(ctx->hv, vms[i].name)))
			goto out;
	}
	to_start = cl_calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		bool needs_start = false;
		if ((rc = publish_one(ctx, &lab, &size, &students[i], tdisk, &needs_start)))
			goto out;
		char *vm = cl_vm_name(lab.name, students[i].name);
		cl_ctx_progress_step(ctx, i + 1, n, "published %s", vm);
		if (needs_start)
			to_start[nstart++] = vm;
		else
			free(vm);
	}
	if ((rc = cl_known_hosts_write(ctx, &lab)))
		goto out;
	if (opts->start && nstart > 0) {
		cl_ctx_progress(ctx, "starting %zu VM%s", nstart, nstart == 1 ? "" : "s");
		if ((rc = tp_start_all(ctx, &lab, to_start, nstart)))
			goto out;
	}
	if (opts->start) {
		/* Published means every student can log in now: wait for each VM's SSH. */
		cl_vm_list_free(vms, nvms);
		vms = NULL;
		nvms = 0;
		if ((rc = cl_store_vm_list(ctx->st, lab.id, &vms, &nvms)))
			goto out;
		for (size_t i = 0; i < nvms; i++)
			if (vms[i].kind == CL_VM_KIND_STUDENT &&
			    (rc = wait_ssh(ctx, &lab, &vms[i])))
				goto out;
	}
	lab.template_state = CL_TEMPLATE_PUBLISHED;
	rc = tp_lab_save(ctx, &lab);
	if (rc == 0 && forced)
		rc = cl_store_event_add(ctx->st, lab.name, "forced-publish",
					"published a GPU template that did not pass verification");
out:
	if (cl_file_defer_end() && rc == 0)
		rc = cl_error_code();
	cl_ctx_lab_unlock(ctx, lab.name);
out_nolock:
	if (rc)
		cl_error_wrap("cannot publish lab '%s'", name);
	for (size_t i = 0; i < nstart; i++)
		free(to_start[i]);
	free(to_start);
	free(tname);
	free(tvol);
	free(tdisk);
	cl_vm_list_free(vms, nvms);
	cl_student_list_free(students, n);
	cl_size_clear(&size);
	cl_lab_clear(&lab);
	return rc;
}
