/* The lab as a whole: up from a lab file, down, and per-VM start/stop/status. */
#include "templates_impl.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_ssh.h"
#include "classlab/cl_meter.h"
#include "classlab/banned.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Template disks of every version: "<lab>-template-v<digits>.qcow2". */
static bool is_template_vol(const char *lab, const char *vol)
{
	size_t n = strlen(lab);
	const char *p;

	if (strncmp(vol, lab, n) != 0 || strncmp(vol + n, "-template-v", 11) != 0)
		return false;
	p = vol + n + 11;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return strcmp(p, ".qcow2") == 0;
}

int cl_lab_down(cl_ctx *ctx, const char *name, bool keep_images)
{
	cl_lab lab = {0};
	cl_vm *vms = NULL;
	char **vols = NULL, *prefix = NULL;
	size_t nvms = 0, nvols = 0;
	int rc = cl_name_check("lab name", name);

	if (rc || (rc = cl_store_lab_get(ctx->st, name, &lab)))
		return rc;
	if ((rc = cl_template_connect(ctx, &lab, false)) || (rc = cl_ctx_lab_lock(ctx, lab.name, "down")))
		goto out_nolock;
	if ((rc = cl_store_vm_list(ctx->st, lab.id, &vms, &nvms)))
		goto out;
	/* Student VMs first: they stand on the template's disk. */
	for (size_t pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < nvms; i++) {
			bool tmpl = vms[i].kind == CL_VM_KIND_TEMPLATE;
			if (vms[i].kind == CL_VM_KIND_ATTACHED || tmpl != (pass == 1))
				continue;
			rc = tp_vm_remove(ctx, vms[i].name);
			cl_killpoint("down:vm");
			if (rc)
				goto out;
			cl_ctx_progress(ctx, "removed %s", vms[i].name);
		}
	prefix = cl_aprintf("%s-template-v", lab.name);
	if ((rc = TP_VM(ctx)->disk_list(ctx->hv, prefix, &vols, &nvols)))
		goto out;
	/* Newest first: each version is the backing file of the next. */
	for (size_t i = nvols; i-- > 0;)
		if (is_template_vol(lab.name, vols[i]) &&
		    (rc = TP_VM(ctx)->disk_delete(ctx->hv, vols[i])))
			goto out;
	/* What the VMs shared (a cloud's floating IP, security group, images) goes last. */
	if (TP_VM(ctx)->lab_remove && (rc = TP_VM(ctx)->lab_remove(ctx->hv, lab.name, keep_images)))
		goto out;
	lab.template_state = CL_TEMPLATE_NONE;
	if ((rc = tp_lab_save(ctx, &lab)))
		goto out;
	rc = cl_known_hosts_write(ctx, &lab);
out:
	cl_ctx_lab_unlock(ctx, lab.name);
out_nolock:
	if (rc)
		cl_error_wrap("cannot take lab '%s' down", name);
	cl_strv_free(vols, nvols);
	free(prefix);
	cl_vm_list_free(vms, nvms);
	cl_lab_clear(&lab);
	return rc;
}

/* Runs fn on one VM of the lab (student, or "template") or on every student VM. */
static int each_vm(cl_ctx *ctx, const char *labname, const char *student,
		   int (*fn)(cl_ctx *, const cl_lab *, cl_vm *))
{
	cl_lab lab = {0};
	cl_vm *vms = NULL;
	size_t n = 0, done = 0;
	int rc = cl_name_check("lab name", labname);

	if (rc == 0 && student)
		rc = cl_name_check("student name", student);
	if (rc || (rc = cl_store_lab_get(ctx->st, labname, &lab)) ||
	    (rc = cl_store_vm_list(ctx->st, lab.id, &vms, &n)) || (rc = cl_template_connect(ctx, &lab, false)))
		goto out;
	for (size_t i = 0; i < n && rc == 0; i++) {
		bool match = student ? strcmp(vms[i].name + strlen(lab.name) + 1, student) == 0
				     : vms[i].kind == CL_VM_KIND_STUDENT;
		if (!match || vms[i].kind == CL_VM_KIND_ATTACHED)
			continue;
		rc = fn(ctx, &lab, &vms[i]);
		done++;
	}
	if (rc == 0 && student && done == 0)
		rc = cl_error_set(CL_ENOTFOUND, "lab '%s' has no VM for '%s'", labname, student);
out:
	cl_vm_list_free(vms, n);
	cl_lab_clear(&lab);
	return rc;
}

/* A VM already running needs nothing (and no quota check). */
static int start_vm(cl_ctx *ctx, const cl_lab *lab, cl_vm *vm, bool *skipped)
{
	cl_dom_state st = CL_DOM_ABSENT;
	int rc = TP_VM(ctx)->state(ctx->hv, vm->name, &st);

	*skipped = false;
	if (rc == 0 && st == CL_DOM_RUNNING)
		return 0;
	if (rc == 0 && (rc = tp_quota_allows_start(ctx, lab, vm)) == CL_EEXIST) {
		*skipped = true;
		return rc;
	}
	if (rc == 0)
		rc = tp_start_all(ctx, lab, &vm->name, 1);
	if (rc == 0)
		cl_ctx_progress(ctx, "started %s", vm->name);
	return rc;
}

static int start_fn(cl_ctx *ctx, const cl_lab *lab, cl_vm *vm)
{
	bool skipped;
	return start_vm(ctx, lab, vm, &skipped);
}

/* --all: a student past the quota outside class is said and skipped; the others start. */
static int start_all_fn(cl_ctx *ctx, const cl_lab *lab, cl_vm *vm)
{
	bool skipped;
	int rc = start_vm(ctx, lab, vm, &skipped);
	if (skipped) {
		cl_ctx_warn(ctx, "%s", cl_error_msg());
		cl_error_clear();
		rc = 0;
	}
	return rc;
}

/*
 * The lab's stop: ACPI, then power off after its grace; with stop "save", a student
 * VM that runs is saved instead (managed save), so its next start resumes it.
 */
static int stop_fn(cl_ctx *ctx, const cl_lab *lab, cl_vm *vm)
{
	cl_lab_service svc = {0};
	cl_dom_state st = CL_DOM_ABSENT;
	bool save = false;
	int rc = cl_meter_lab_settings(ctx, lab->name, &svc);

	if (rc == 0 && svc.stop_mode == CL_STOP_SAVE && vm->kind == CL_VM_KIND_STUDENT &&
	    (rc = TP_VM(ctx)->state(ctx->hv, vm->name, &st)) == 0)
		save = st == CL_DOM_RUNNING || st == CL_DOM_PAUSED; /* a paused one keeps it too */
	if (rc == 0)
		rc = save ? TP_VM(ctx)->save(ctx->hv, vm->name)
			  : TP_VM(ctx)->stop(ctx->hv, vm->name, (int)svc.stop_grace_seconds);
	if (rc == 0)
		rc = tp_vm_set_state(ctx, vm, CL_VM_STATE_STOPPED, -1);
	if (rc == 0)
		cl_ctx_progress(ctx, "%s %s", save ? "saved" : "stopped", vm->name);
	return rc;
}

int cl_vm_start(cl_ctx *ctx, const char *lab, const char *student)
{
	return each_vm(ctx, lab, student, student ? start_fn : start_all_fn);
}

int cl_vm_stop(cl_ctx *ctx, const char *lab, const char *student)
{
	return each_vm(ctx, lab, student, stop_fn);
}

void cl_vm_status_free(cl_vm_status *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		free(v[i].student);
		free(v[i].kind);
		free(v[i].state);
		free(v[i].host);
	}
	free(v);
}

int cl_vm_status_list(cl_ctx *ctx, const char *labname, cl_vm_status **out, size_t *n)
{
	cl_lab lab = {0};
	cl_vm *vms = NULL;
	size_t nvms = 0;
	int rc = cl_name_check("lab name", labname);

	*out = NULL;
	*n = 0;
	if (rc || (rc = cl_store_lab_get(ctx->st, labname, &lab)) ||
	    (rc = cl_store_vm_list(ctx->st, lab.id, &vms, &nvms)))
		goto out;
	/* Unreachable: the states recorded. Reached, but not the lab's hypervisor: refused. */
	bool live = nvms > 0 && cl_ctx_connect(ctx) == 0;
	if (live && (rc = cl_template_hv_check(ctx, &lab)))
		goto out;
	*out = cl_calloc(nvms + 1, sizeof(**out));
	for (size_t i = 0; i < nvms; i++) {
		cl_vm_status *s = &(*out)[i];
		cl_dom_state st;
		s->name = cl_strdup(vms[i].name);
		s->student = vms[i].kind == CL_VM_KIND_TEMPLATE
				     ? NULL
				     : cl_strdup(vms[i].name + strlen(lab.name) + 1);
		s->kind = cl_strdup(cl_vm_kind_name(vms[i].kind));
		s->vm_kind = vms[i].kind;
		s->dom = CL_DOM_OTHER;
		s->host = cl_strdup(vms[i].address ? vms[i].address : lab.public_host);
		s->ssh_port = (int)vms[i].ssh_port;
		if (live && vms[i].kind != CL_VM_KIND_ATTACHED &&
		    TP_VM(ctx)->state(ctx->hv, vms[i].name, &st) == 0) {
			bool saved = false;
			s->dom = st;
			/* shut off with a managed save (stop "save"): its next start resumes */
			if (st == CL_DOM_SHUTOFF &&
			    TP_VM(ctx)->has_saved(ctx->hv, vms[i].name, &saved) == 0 && saved)
				s->state = cl_strdup("saved");
			else
				s->state = cl_strdup(cl_dom_state_name(st));
		} else {
			s->state = cl_strdup(cl_vm_state_name(vms[i].state));
		}
	}
	*n = nvms;
	cl_error_clear();
out:
	cl_vm_list_free(vms, nvms);
	cl_lab_clear(&lab);
	return rc;
}
