/* template verify / vm verify: collect GPU facts over SSH and judge them (templates/gpu). */
#include "templates_impl.h"
#include "classlab/cl_gpu.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

struct exec_ctx {
	cl_ctx *ctx;
	const cl_lab *lab;
	const cl_vm *vm;
};

static int exec_over_ssh(void *p, const char *command, int timeout_ms, cl_buf *out, cl_buf *err,
			 int *status)
{
	struct exec_ctx *c = p;
	return tp_admin_exec(c->ctx, c->lab, c->vm, command, timeout_ms, out, err, status);
}

int cl_verify(cl_ctx *ctx, const char *labname, const char *student, cl_gpu_report **report)
{
	cl_lab lab = {0};
	cl_size size = {0};
	cl_vm vm = {0};
	cl_lab_spec spec = {0};
	cl_gpu_facts facts = {0};
	char *name = NULL;
	cl_dom_state st;
	int rc;

	*report = NULL;
	if (student && (rc = cl_name_check("student name", student)))
		return rc;
	if ((rc = tp_lab_and_size(ctx, labname, &lab, &size)))
		return rc;
	name = cl_vm_name(lab.name, student);
	if ((rc = cl_lab_spec_parse(lab.spec_json, &spec)) ||
	    (rc = cl_store_vm_get(ctx->st, name, &vm)))
		goto out;
	if (vm.lab_id != lab.id || !student != (vm.kind == CL_VM_KIND_TEMPLATE)) {
		rc = cl_error_set(CL_EEXIST, "VM '%s' is not %s of lab '%s'", name,
				  student ? "a student's VM" : "the template", lab.name);
		goto out;
	}
	if (vm.kind != CL_VM_KIND_ATTACHED) {
		if ((rc = cl_template_connect(ctx, &lab, false)) ||
		    (rc = TP_VM(ctx)->state(ctx->hv, name, &st)))
			goto out;
		if (st != CL_DOM_RUNNING) {
			rc = cl_error_set(CL_EFAIL, "VM '%s' is %s: start it first%s", name,
					  cl_dom_state_name(st),
					  student ? "" : " ('classlab template build' boots it)");
			goto out;
		}
	}
	cl_gpu_requirements req = {.gpu_required = size.gpus > 0,
				   .cuda = spec.gpu_cuda,
				   .frameworks = (const char *const *)spec.frameworks,
				   .nframeworks = spec.n_frameworks};
	struct exec_ctx ec = {ctx, &lab, &vm};
	if ((rc = cl_gpu_collect(exec_over_ssh, &ec, &req, &facts)) ||
	    (rc = cl_gpu_judge(&facts, &req, report)))
		goto out;
	/* A template that passed may be published: the gate reads verified_version. */
	if (!student && (*report)->pass && lab.template_version > 0) {
		lab.verified_version = lab.template_version;
		if (lab.template_state == CL_TEMPLATE_BUILT) {
			lab.template_state = CL_TEMPLATE_VERIFIED;
		}
		rc = tp_lab_save(ctx, &lab);
	}
out:
	if (rc)
		cl_error_wrap("cannot verify '%s'", name);
	cl_gpu_facts_clear(&facts);
	cl_lab_spec_clear(&spec);
	cl_vm_clear(&vm);
	free(name);
	cl_size_clear(&size);
	cl_lab_clear(&lab);
	return rc;
}
