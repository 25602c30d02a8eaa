/*
 * SSH ports and MACs stay unique host-wide when several processes publish
 * different labs at once: four forked writers each give 40 VMs an identity in
 * the same database; every port, MAC, UUID and instance-id must differ.
 */
#include "../../templates/templates_impl.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { WRITERS = 4, VMS = 40 };

static int writer(const char *db, const char *dir, int w)
{
	cl_ctx_opts opts = {.db_path = db, .data_dir = dir};
	cl_ctx *ctx = NULL;
	cl_lab lab = {0};
	char name[16];
	int rc;

	snprintf(name, sizeof(name), "lab%d", w);
	if ((rc = cl_ctx_new(&ctx, &opts)) || (rc = cl_store_lab_get(ctx->st, name, &lab)))
		return 1;
	for (int i = 0; i < VMS && rc == 0; i++) {
		char sname[16];
		cl_student s = {0};
		cl_vm vm = {0};
		snprintf(sname, sizeof(sname), "s%02d", i);
		if ((rc = cl_store_student_get(ctx->st, lab.id, sname, &s)) == 0)
			rc = tp_vm_ensure(ctx, &lab, &s, 1, &vm);
		if (rc)
			fprintf(stderr, "writer %d: %s\n", w, cl_error_msg());
		cl_vm_clear(&vm);
		cl_student_clear(&s);
	}
	cl_lab_clear(&lab);
	cl_ctx_free(ctx);
	return rc ? 1 : 0;
}

int main(void)
{
	char dir[] = "/tmp/cltpXXXXXX";
	cl_store *st = NULL;
	char *db;
	pid_t pids[WRITERS];

	if (!mkdtemp(dir))
		return 1;
	db = cl_path_join(dir, "t.db");
	CHECK_INT(cl_store_open(&st, db), 0);
	for (int w = 0; w < WRITERS; w++) {
		char name[16];
		snprintf(name, sizeof(name), "lab%d", w);
		/* A narrow shared range makes collisions likely. */
		cl_lab lab = {.name = name, .size = "small", .port_min = 47000, .port_max = 47400};
		CHECK_INT(cl_store_lab_create(st, &lab), 0);
		for (int i = 0; i < VMS; i++) {
			char sname[16];
			snprintf(sname, sizeof(sname), "s%02d", i);
			cl_student s = {.lab_id = lab.id, .name = sname, .quota_seconds = CL_QUOTA_DEFAULT};
			CHECK_INT(cl_store_student_add(st, &s), 0);
		}
	}
	cl_store_close(st);
	for (int w = 0; w < WRITERS; w++)
		if ((pids[w] = fork()) == 0)
			_exit(writer(db, dir, w));
	for (int w = 0; w < WRITERS; w++) {
		int status = 0;
		waitpid(pids[w], &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK_INT(cl_store_open(&st, db), 0);
	int64_t *ports = NULL;
	size_t n = 0;
	CHECK_INT(cl_store_ports_used(st, &ports, &n), 0);
	CHECK_INT(n, WRITERS * VMS);
	for (size_t i = 1; i < n; i++)
		CHECK(ports[i] != ports[i - 1]); /* sorted: neighbours differ */
	free(ports);
	/* MACs, UUIDs and instance-ids are UNIQUE columns: every VM has one of each. */
	int total = 0;
	for (int w = 0; w < WRITERS; w++) {
		char name[16];
		cl_lab lab = {0};
		cl_vm *vms = NULL;
		size_t nv = 0;
		snprintf(name, sizeof(name), "lab%d", w);
		CHECK_INT(cl_store_lab_get(st, name, &lab), 0);
		CHECK_INT(cl_store_vm_list(st, lab.id, &vms, &nv), 0);
		for (size_t i = 0; i < nv; i++)
			total += vms[i].mac && vms[i].uuid && vms[i].instance_id;
		cl_vm_list_free(vms, nv);
		cl_lab_clear(&lab);
	}
	CHECK_INT(total, WRITERS * VMS);
	CHECK_INT(cl_store_check(st), 0);
	cl_store_close(st);
	char *cmd = cl_aprintf("rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	free(db);
	return tap_done();
}
