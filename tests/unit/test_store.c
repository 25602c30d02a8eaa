/* Unit tests for store/: CRUD, constraint errors, aggregates and migration from version 1. */
#include "classlab/cl_store.h"
#include "classlab/cl_util.h"
#include "tap.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/cl-test-store.XXXXXX";

static char *db_path(const char *name)
{
	return cl_aprintf("%s/%s", dir, name);
}

static void test_crud(void)
{
	char *path = db_path("sub/crud.db");
	cl_store *st = NULL;
	cl_size sz = {0};
	cl_lab lab = {.name = "ml", .size = "small", .scheduled_seconds = 72000, .quota_seconds = 36000,
		      .price_micro = 10000};
	cl_lab got = {0};
	cl_lab_totals t = {0};
	struct stat sb;
	int version = 0;

	CHECK_INT(cl_store_open(&st, path), 0);
	if (!st)
		goto out;
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	*strrchr(path, '/') = '\0';
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	CHECK_INT(cl_store_schema_version(st, &version), 0);
	CHECK_INT(version, CL_STORE_SCHEMA_VERSION);

	/* Sizes: built-ins are there; an unknown one is CL_ENOTFOUND. */
	CHECK_INT(cl_store_size_get(st, "small-gpu-compute", &sz), 0);
	CHECK_INT(sz.lab_units, 139);
	CHECK(sz.builtin);
	cl_size_clear(&sz);
	CHECK_INT(cl_store_size_get(st, "nope", &sz), CL_ENOTFOUND);
	cl_size mine = {.name = "mine", .lab_units = 33, .vcpus = 2, .memory_mib = 2048};
	CHECK_INT(cl_store_size_put(st, &mine), 0);
	mine.lab_units = 34;
	CHECK_INT(cl_store_size_put(st, &mine), 0);
	CHECK_INT(cl_store_size_get(st, "mine", &sz), 0);
	CHECK_INT(sz.lab_units, 34);
	CHECK(!sz.builtin);
	cl_size_clear(&sz);

	/* Labs. */
	CHECK_INT(cl_store_lab_create(st, &lab), 0);
	CHECK(lab.id > 0);
	CHECK_INT(cl_store_lab_create(st, &lab), CL_EEXIST);
	CHECK_STR(cl_error_msg(), "lab 'ml' already exists");
	cl_lab bad = {.name = "other", .size = "nope"};
	CHECK_INT(cl_store_lab_create(st, &bad), CL_ENOTFOUND);
	CHECK_INT(cl_store_lab_get(st, "ml", &got), 0);
	CHECK_STR(got.image, "tiny");
	CHECK_STR(got.username, "student");
	CHECK_INT(got.port_min, CL_PORT_MIN_DEFAULT);
	CHECK_INT(got.quota_seconds, 36000);
	cl_lab_clear(&got);
	CHECK_INT(cl_store_lab_get(st, "nope", &got), CL_ENOTFOUND);

	/* A lab without students sums to nothing (not one NULL row's lab quota). */
	CHECK_INT(cl_store_lab_totals(st, lab.id, &t), 0);
	CHECK_INT(t.students, 0);
	CHECK_INT(t.quota_seconds_sum, 0);

	/* Students: duplicates CL_EEXIST, overrides and defaults in the totals. */
	cl_student a = {.lab_id = lab.id, .name = "alice", .quota_seconds = CL_QUOTA_DEFAULT};
	cl_student b = {.lab_id = lab.id, .name = "bob", .email = "b@example.org", .quota_seconds = 54000};
	CHECK_INT(cl_store_student_add(st, &a), 0);
	CHECK_INT(cl_store_student_add(st, &b), 0);
	CHECK_INT(cl_store_student_add(st, &a), CL_EEXIST);
	CHECK_INT(cl_store_lab_totals(st, lab.id, &t), 0);
	CHECK_INT(t.students, 2);
	CHECK_INT(t.quota_seconds_sum, 36000 + 54000);
	CHECK_INT(t.overrides, 1);
	CHECK_INT(cl_store_student_set_quota(st, lab.id, "bob", CL_QUOTA_DEFAULT), 0);
	CHECK_INT(cl_store_student_set_quota(st, lab.id, "zed", 1), CL_ENOTFOUND);
	CHECK_INT(cl_store_lab_totals(st, lab.id, &t), 0);
	CHECK_INT(t.quota_seconds_sum, 72000);
	CHECK_INT(t.overrides, 0);
	cl_student *list = NULL;
	size_t n = 0;
	CHECK_INT(cl_store_student_list(st, lab.id, &list, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(list[0].name, "alice");
		CHECK(list[0].email == NULL);
		CHECK_STR(list[1].email, "b@example.org");
	}
	cl_student_list_free(list, n);
	CHECK_INT(cl_store_student_remove(st, lab.id, "zed"), CL_ENOTFOUND);
	CHECK_INT(cl_store_student_remove(st, lab.id, "alice"), 0);

	/* Schedules; the CHECK (end > start) constraint holds in the store too. */
	cl_schedule ev = {.lab_id = lab.id, .start = 1000, .end = 8200};
	CHECK_INT(cl_store_schedule_add(st, &ev), 0);
	cl_schedule backwards = {.lab_id = lab.id, .start = 2000, .end = 1000};
	CHECK(cl_store_schedule_add(st, &backwards) < 0);

	/* Transactions: a rolled-back insert is gone. */
	CHECK_INT(cl_store_begin(st), 0);
	cl_student c = {.lab_id = lab.id, .name = "carol", .quota_seconds = CL_QUOTA_DEFAULT};
	CHECK_INT(cl_store_student_add(st, &c), 0);
	cl_store_rollback(st);
	cl_student gone = {0};
	CHECK_INT(cl_store_student_get(st, lab.id, "carol", &gone), CL_ENOTFOUND);

	/* Deleting the lab cascades to students and schedules. */
	CHECK_INT(cl_store_lab_delete(st, "ml"), 0);
	CHECK_INT(cl_store_lab_delete(st, "ml"), CL_ENOTFOUND);
	cl_lab_totals *all = NULL;
	CHECK_INT(cl_store_lab_totals_all(st, &all, &n), 0);
	CHECK_INT(n, 0);
	free(all);
	CHECK_INT(cl_store_check(st), 0);
out:
	cl_store_close(st);
	free(path);
}

static void test_migrate_v1(void)
{
	char *path = db_path("v1.db");
	cl_buf sql = CL_BUF_INIT;
	sqlite3 *db = NULL;
	cl_store *st = NULL;
	cl_lab lab = {0};
	cl_lab_totals t = {0};
	int version = 0;

	CHECK_INT(cl_read_file(CL_TEST_DATA "/store/v1/schema.sql", 1 << 20, &sql), 0);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, cl_buf_str(&sql), NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	CHECK_INT(cl_store_open(&st, path), 0);
	if (!st)
		goto out;
	CHECK_INT(cl_store_schema_version(st, &version), 0);
	CHECK_INT(version, CL_STORE_SCHEMA_VERSION);
	CHECK_INT(cl_store_lab_get(st, "old-lab", &lab), 0);
	CHECK_STR(lab.image, "/images/ubuntu.qcow2");
	CHECK_STR(lab.listen, "127.0.0.1");
	CHECK_STR(lab.template_state, "none");
	CHECK_INT(lab.port_max, 65535);
	CHECK_INT(cl_store_lab_totals(st, lab.id, &t), 0);
	CHECK_INT(t.students, 1);
	CHECK_INT(t.quota_seconds_sum, 7200);
	cl_lab_clear(&lab);
	cl_store_close(st);
	st = NULL;
	/* Opening again is a no-op. */
	CHECK_INT(cl_store_open(&st, path), 0);
out:
	cl_store_close(st);
	cl_buf_free(&sql);
	free(path);
}

static void test_refused_files(void)
{
	char *text = db_path("text.db"), *newer = db_path("newer.db");
	cl_store *st = NULL;
	sqlite3 *db = NULL;
	FILE *f = fopen(text, "w");

	fputs("name,email\nalice,alice@example.org\n", f);
	fclose(f);
	CHECK_INT(cl_store_open(&st, text), CL_EFAIL);
	CHECK(strstr(cl_error_msg(), "is not a classlab database") != NULL);
	CHECK(st == NULL);

	CHECK_INT(sqlite3_open(newer, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "CREATE TABLE t(x); PRAGMA user_version = 99", NULL, NULL, NULL),
		  SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT(cl_store_open(&st, newer), CL_EFAIL);
	CHECK(strstr(cl_error_msg(), "schema version 99, newer") != NULL);
	free(text);
	free(newer);
}

int main(void)
{
	char *cmd;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_crud();
	test_migrate_v1();
	test_refused_files();
	cmd = cl_aprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	return tap_done();
}
