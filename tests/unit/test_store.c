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

/* Totals from a plain count of the students, the way the report computed them before v3. */
static int64_t recount(sqlite3 *db, int64_t lab_id, int64_t *students)
{
	sqlite3_stmt *stmt = NULL;
	int64_t q = -1;

	*students = -1;
	if (sqlite3_prepare_v2(db,
			       "SELECT count(s.id), coalesce(sum(coalesce(s.quota_seconds, "
			       "l.quota_seconds)), 0) FROM labs l LEFT JOIN students s ON "
			       "s.lab_id = l.id WHERE l.id = ?",
			       -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, lab_id);
		if (sqlite3_step(stmt) == SQLITE_ROW) {
			*students = sqlite3_column_int64(stmt, 0);
			q = sqlite3_column_int64(stmt, 1);
		}
	}
	sqlite3_finalize(stmt);
	return q;
}

/*
 * The per-lab totals the schema's triggers keep (v3) match a recount after every
 * kind of change: adds, removals, quota overrides set and cleared, the lab's own
 * quota changed, a rolled-back import, a student row moved by hand, a lab deleted.
 */
static void test_totals_kept(void)
{
	char *path = db_path("totals.db");
	cl_store *st = NULL;
	sqlite3 *db = NULL;
	cl_lab labs[3] = {
	    {.name = "a", .size = "small", .quota_seconds = 3600, .price_micro = 10000},
	    {.name = "b", .size = "medium", .quota_seconds = 7200, .price_micro = 10000},
	    {.name = "c", .size = "large", .quota_seconds = 0, .price_micro = 10000},
	};
	unsigned seed = 12345;

	CHECK_INT(cl_store_open(&st, path), 0);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	if (!st || !db)
		goto out;
	for (int i = 0; i < 3; i++)
		CHECK_INT(cl_store_lab_create(st, &labs[i]), 0);
	for (int step = 0; step < 600; step++) {
		cl_lab *lab = &labs[rand_r(&seed) % 3];
		char name[16];
		snprintf(name, sizeof(name), "s%u", rand_r(&seed) % 40);
		switch (rand_r(&seed) % 6) {
		case 0:
		case 1: {
			cl_student s = {.lab_id = lab->id,
					.name = name,
					.quota_seconds = rand_r(&seed) % 2
							     ? CL_QUOTA_DEFAULT
							     : (rand_r(&seed) % 50) * 600};
			int rc = cl_store_student_add(st, &s);
			CHECK(rc == 0 || rc == CL_EEXIST);
			break;
		}
		case 2: {
			int rc = cl_store_student_remove(st, lab->id, name);
			CHECK(rc == 0 || rc == CL_ENOTFOUND);
			break;
		}
		case 3: {
			int64_t q =
			    rand_r(&seed) % 3 ? (rand_r(&seed) % 50) * 600 : CL_QUOTA_DEFAULT;
			int rc = cl_store_student_set_quota(st, lab->id, name, q);
			CHECK(rc == 0 || rc == CL_ENOTFOUND);
			break;
		}
		case 4: {
			cl_lab got = {0};
			CHECK_INT(cl_store_lab_get(st, lab->name, &got), 0);
			got.quota_seconds = (rand_r(&seed) % 20) * 1800;
			CHECK_INT(cl_store_lab_update(st, &got), 0);
			cl_lab_clear(&got);
			break;
		}
		default: { /* a transaction that adds two and is rolled back changes nothing */
			cl_student x = {.lab_id = lab->id, .name = "tmp1", .quota_seconds = 60};
			cl_student y = {
			    .lab_id = lab->id, .name = "tmp2", .quota_seconds = CL_QUOTA_DEFAULT};
			CHECK_INT(cl_store_begin(st), 0);
			CHECK_INT(cl_store_student_add(st, &x), 0);
			CHECK_INT(cl_store_student_add(st, &y), 0);
			cl_store_rollback(st);
		}
		}
	}
	/* A row moved to another lab by hand, outside classlab, is followed too. */
	CHECK_INT(
	    sqlite3_exec(db,
			 "UPDATE students SET lab_id = (SELECT id FROM labs WHERE name = 'c'), "
			 "name = 'moved-' || name WHERE id = (SELECT min(id) FROM students)",
			 NULL, NULL, NULL),
	    SQLITE_OK);
	for (int i = 0; i < 3; i++) {
		cl_lab_totals t = {0};
		int64_t students = 0, q = recount(db, labs[i].id, &students);
		CHECK_INT(cl_store_lab_totals(st, labs[i].id, &t), 0);
		CHECK_INT(t.students, students);
		CHECK_INT(t.quota_seconds_sum, q);
	}
	CHECK_INT(cl_store_check(st), 0);
	CHECK_INT(cl_store_lab_delete(st, "b"), 0);
	CHECK_INT(cl_store_check(st), 0);
	{
		sqlite3_stmt *stmt = NULL;
		CHECK_INT(
		    sqlite3_prepare_v2(db, "SELECT count(*) FROM lab_totals", -1, &stmt, NULL),
		    SQLITE_OK);
		CHECK_INT(sqlite3_step(stmt), SQLITE_ROW);
		CHECK_INT(sqlite3_column_int(stmt, 0), 2);
		sqlite3_finalize(stmt);
	}
	/* Totals changed behind the triggers' back are reported as damage. */
	CHECK_INT(
	    sqlite3_exec(db, "UPDATE lab_totals SET students = students + 1", NULL, NULL, NULL),
	    SQLITE_OK);
	CHECK_INT(cl_store_check(st), CL_EFAIL);
	CHECK(strstr(cl_error_msg(), "has wrong totals") != NULL);
out:
	sqlite3_close(db);
	cl_store_close(st);
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
	test_totals_kept();
	test_refused_files();
	cmd = cl_aprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	return tap_done();
}
