/* GPU passthrough assignment against libvirt's test driver with two free host GPUs. */
#include "../../templates/templates_impl.h"
#include "classlab/cl_store.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	char dir[] = "/tmp/cltgXXXXXX";
	cl_ctx *ctx = NULL;
	cl_lab want = {.name = "gl", .size = "small-gpu-compute", .username = "student"};
	cl_lab lab = {0};
	cl_size size = {0};
	cl_vm vms[3];
	char *uri = cl_aprintf("test://%s/nodedev/two-gpus/host.xml", CL_TEST_DATA);
	char *db;
	int rc;

	if (!mkdtemp(dir))
		return 1;
	db = cl_path_join(dir, "t.db");
	cl_ctx_opts opts = {.db_path = db, .data_dir = dir};
	CHECK_INT(cl_ctx_new(&ctx, &opts), 0);
	if (!ctx)
		return 1;
	CHECK_INT(cl_store_lab_create(ctx->st, &want), 0);
	CHECK_INT(cl_store_lab_get(ctx->st, "gl", &lab), 0);
	CHECK_INT(cl_store_size_get(ctx->st, lab.size, &size), 0);
	CHECK_INT(cl_hv_open(&ctx->hv, uri, dir, NULL), 0);
	for (int i = 0; i < 3; i++) {
		char name[8];
		snprintf(name, sizeof(name), "s%d", i);
		cl_student s = {.lab_id = lab.id, .name = name, .quota_seconds = CL_QUOTA_DEFAULT};
		CHECK_INT(cl_store_student_add(ctx->st, &s), 0);
		CHECK_INT(tp_vm_ensure(ctx, &lab, &s, 1, &vms[i]), 0);
	}
	/* Three VMs, two free GPUs: refused up front, naming both numbers; nothing assigned. */
	rc = tp_gpus_assign(ctx, &lab, &size, vms, 3, true, false);
	CHECK_INT(rc, CL_EFAIL);
	CHECK(strstr(cl_error_msg(), "needs 3 more GPUs") && strstr(cl_error_msg(), "2 are free"));
	char **used = NULL;
	size_t nused = 0;
	CHECK_INT(cl_store_gpus_used(ctx->st, &used, &nused), 0);
	CHECK_INT(nused, 0);
	free(used);
	/* Two VMs: each gets its own GPU; a rerun assigns nothing new. */
	CHECK_INT(tp_gpus_assign(ctx, &lab, &size, vms, 2, true, false), 0);
	CHECK_INT(tp_gpus_assign(ctx, &lab, &size, vms, 2, true, false), 0);
	CHECK_INT(cl_store_gpus_used(ctx->st, &used, &nused), 0);
	CHECK_INT(nused, 2);
	if (nused == 2)
		CHECK(strcmp(used[0], used[1]) != 0);
	for (size_t i = 0; i < nused; i++)
		free(used[i]);
	free(used);
	/* The third VM: none left; forced, it goes on without passthrough (recorded). */
	CHECK_INT(tp_gpus_assign(ctx, &lab, &size, &vms[2], 1, true, false), CL_EFAIL);
	CHECK_INT(tp_gpus_assign(ctx, &lab, &size, &vms[2], 1, true, true), 0);
	/* The domain of a VM with a GPU carries the hostdev. */
	CHECK_INT(tp_define(ctx, &lab, &size, &vms[0], "/tmp/none.qcow2", NULL), 0);
	virDomainPtr dom = virDomainLookupByName(cl_hv_conn(ctx->hv), vms[0].name);
	char *xml = dom ? virDomainGetXMLDesc(dom, 0) : NULL;
	CHECK(xml && strstr(xml, "<hostdev mode='subsystem' type='pci' managed='yes'>"));
	free(xml);
	if (dom)
		virDomainFree(dom);
	/* Removing a VM frees its GPU. */
	CHECK_INT(cl_store_vm_delete(ctx->st, vms[0].name), 0);
	CHECK_INT(cl_store_gpus_used(ctx->st, &used, &nused), 0);
	CHECK_INT(nused, 1);
	for (size_t i = 0; i < nused; i++)
		free(used[i]);
	free(used);
	for (int i = 0; i < 3; i++)
		cl_vm_clear(&vms[i]);
	cl_hv_close(ctx->hv); /* opened here, not through a backend */
	ctx->hv = NULL;
	cl_ctx_free(ctx);
	cl_size_clear(&size);
	cl_lab_clear(&lab);
	free(uri);
	char *cmd = cl_aprintf("rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	free(db);
	return tap_done();
}
