/* The metering tests' fixture: a store in a temporary directory, a lab with three students
 * and their VM records, and a clock the test moves (cl_ctx_opts.now). */
#ifndef METER_FIXTURE_H
#define METER_FIXTURE_H

#include "classlab/cl_meter.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H 3600LL
#define WEEK (7 * 24 * H)
/* Monday 2026-01-05 00:00:00 UTC. */
#define MONDAY 1767571200LL

static int64_t fx_clock;
static char fx_dir[] = "/tmp/cl-meter-XXXXXX";

static int64_t fx_now(void *arg)
{
	(void)arg;
	return fx_clock;
}

/* Adds a student and their VM record (kind student, named <lab>-<student>). */
static inline void fx_student(cl_store *st, const cl_lab *lab, const char *name, int64_t quota)
{
	char *vm_name = cl_vm_name(lab->name, name);
	cl_student s = {.lab_id = lab->id, .name = (char *)name, .quota_seconds = quota};
	CHECK_INT(cl_store_student_add(st, &s), 0);
	cl_vm vm = {.lab_id = lab->id, .student_id = s.id, .name = vm_name,
		    .kind = CL_VM_KIND_STUDENT, .username = "student"};
	CHECK_INT(cl_store_vm_put(st, &vm, NULL), 0);
	free(vm_name);
}

/* A handle on a new store with lab "ml" (small: 20 units, $0.01, quota 10 h). */
static inline cl_ctx *fx_open(cl_lab *lab)
{
	cl_ctx *ctx = NULL;
	char *db;

	if (!mkdtemp(fx_dir)) {
		perror("mkdtemp");
		exit(1);
	}
	db = cl_path_join(fx_dir, "classlab.db");
	cl_ctx_opts opts = {.db_path = db, .now = fx_now};
	CHECK_INT(cl_ctx_new(&ctx, &opts), 0);
	free(db);
	if (!ctx)
		exit(1);
	cl_store *st = cl_ctx_store(ctx);
	*lab = (cl_lab){.name = "ml", .size = "small", .price_micro = 10000,
			.quota_seconds = 10 * H};
	CHECK_INT(cl_store_begin(st), 0);
	CHECK_INT(cl_store_lab_create(st, lab), 0);
	fx_student(st, lab, "alice", CL_QUOTA_DEFAULT);
	fx_student(st, lab, "bob", CL_QUOTA_DEFAULT);
	fx_student(st, lab, "carol", CL_QUOTA_DEFAULT);
	CHECK_INT(cl_store_commit(st), 0);
	return ctx;
}

static inline void fx_close(cl_ctx *ctx)
{
	char *db = cl_path_join(fx_dir, "classlab.db");
	cl_ctx_free(ctx);
	static const char *const ext[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		char *p = cl_aprintf("%s%s", db, ext[i]);
		unlink(p);
		free(p);
	}
	free(db);
	rmdir(fx_dir);
}

/* Heartbeats of one VM every 30 s from the clock's time until `until`. */
static inline void fx_beat_until(cl_ctx *ctx, const char *vm, int64_t until)
{
	const char *set[] = {vm};
	while (fx_clock + CL_METER_HEARTBEAT_S <= until) {
		fx_clock += CL_METER_HEARTBEAT_S;
		CHECK_INT(cl_meter_seen(ctx, set, 1), 0);
	}
	fx_clock = until;
}

/* Every interval of the VM, checked for negative length and overlap; returns the total. */
static inline int64_t fx_total(cl_ctx *ctx, const char *vm, size_t *count, int64_t *uncertain)
{
	cl_run_interval *r = NULL;
	size_t n = 0, mine = 0;
	int64_t sum = 0, prev_end = INT64_MIN, unc = 0;

	CHECK_INT(cl_store_run_list(cl_ctx_store(ctx), 0, INT64_MIN, INT64_MAX, &r, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(r[i].vm_name, vm) != 0)
			continue;
		int64_t end = r[i].end >= 0 ? r[i].end : r[i].last_seen;
		CHECK(end >= r[i].start);
		CHECK(r[i].start >= prev_end); /* sorted by start: no overlap */
		prev_end = end;
		sum += end - r[i].start;
		unc += r[i].uncertain_seconds;
		mine++;
	}
	cl_run_interval_list_free(r, n);
	if (count)
		*count = mine;
	if (uncertain)
		*uncertain = unc;
	return sum;
}

#endif
