/* Unit tests for store/: CRUD, constraint errors, aggregates and migration from version 1. */
#include "classlab/cl_store.h"
#include "classlab/cl_util.h"
#include "tap.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	CHECK_INT(lab.template_state, CL_TEMPLATE_NONE);
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

/* Adds a student to the lab; returns the store's code. */
static int add(cl_store *st, const cl_lab *lab, const char *name)
{
	cl_student s = {.lab_id = lab->id, .name = (char *)name, .quota_seconds = CL_QUOTA_DEFAULT};
	int rc = cl_store_begin(st);
	return rc ? rc : cl_store_end(st, cl_store_student_add(st, &s));
}

static int make_lab(cl_store *st, cl_lab *lab, const char *name)
{
	memset(lab, 0, sizeof(*lab));
	lab->name = (char *)name;
	lab->size = "small";
	int rc = cl_store_begin(st);
	return rc ? rc : cl_store_end(st, cl_store_lab_create(st, lab));
}

/*
 * VM names are <lab>-<student> and a template owns <lab>-template[-*]: whichever
 * of two meeting names comes second is refused (CL_EINVAL), in either order, for
 * students and labs alike (issue 13, item 10).
 */
static void test_vm_names(void)
{
	char *path = db_path("names.db");
	cl_store *st = NULL;
	cl_lab a1 = {0}, a1b2 = {0}, x = {0}, y = {0}, z = {0};

	CHECK_INT(cl_store_open(&st, path), 0);
	if (!st)
		goto out;
	CHECK_INT(make_lab(st, &a1, "a1"), 0);
	CHECK_INT(make_lab(st, &a1b2, "a1-b2"), 0);
	/* The template's own names are not student names, in any lab. */
	const char *reserved[] = {"template", "template-v1", "template-v12", "template-x"};
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		CHECK_INT(add(st, &a1, reserved[i]), CL_EINVAL);
		CHECK(strstr(cl_error_msg(), "is reserved") != NULL);
	}
	CHECK_INT(add(st, &a1, "templates"), 0); /* a1-templates: no template's name */
	/* Lab a1 + student b2-c3 and lab a1-b2 + student c3 are both a1-b2-c3. */
	CHECK_INT(add(st, &a1, "b2-c3"), 0);
	CHECK_INT(add(st, &a1b2, "c3"), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "'a1-b2-c3'") != NULL && strstr(cl_error_msg(), "lab 'a1'"));
	CHECK_INT(add(st, &a1b2, "d4"), 0);
	CHECK_INT(add(st, &a1, "b2-d4"), CL_EINVAL); /* the other order */
	CHECK(strstr(cl_error_msg(), "one of its students") != NULL);
	/* A student of a1 named like a1-b2's template VM or one of its disks. */
	CHECK_INT(add(st, &a1, "b2-template"), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "its template") != NULL);
	CHECK_INT(add(st, &a1, "b2-template-v3"), CL_EINVAL);
	/* A lab whose template's names another lab's student already has. */
	CHECK_INT(make_lab(st, &x, "xx"), 0);
	CHECK_INT(add(st, &x, "yy-template"), 0);
	CHECK_INT(add(st, &x, "zz-template-v2"), 0);
	CHECK_INT(make_lab(st, &y, "xx-yy"), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "ambiguous") != NULL);
	CHECK_INT(make_lab(st, &z, "xx-zz"), CL_EINVAL);
	CHECK_INT(make_lab(st, &z, "xx-zz-template"), 0); /* xx-zz-template-template: free */
	/* A VM record (an attached machine, a VM from before) of another lab counts too. */
	cl_vm vm = {
	    .lab_id = a1.id, .name = "a1-b2-e5", .kind = CL_VM_KIND_ATTACHED, .username = "u"};
	CHECK_INT(cl_store_vm_put(st, &vm, NULL), 0);
	CHECK_INT(add(st, &a1b2, "e5"), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "a VM") != NULL);
	/* The same checks without adding, for a lab not made yet (up checks its file first). */
	const char *fine[] = {"f1", "f2"}, *clash[] = {"f1", "c3"}, *tmpl[] = {"template"};
	CHECK_INT(cl_store_names_check(st, "new-lab", 0, fine, 2), 0);
	CHECK_INT(cl_store_names_check(st, "a1-b2", a1b2.id, clash, 2), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "lab 'a1'") != NULL);
	CHECK_INT(cl_store_names_check(st, "nl", 0, tmpl, 1), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "is reserved") != NULL);
	CHECK_INT(cl_store_names_check(st, "xx-yy", 0, NULL, 0), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "ambiguous") != NULL);
	/* A refused add wrote nothing. */
	cl_student *s = NULL;
	size_t n = 0;
	CHECK_INT(cl_store_student_list(st, a1b2.id, &s, &n), 0);
	CHECK_INT(n, 1);
	cl_student_list_free(s, n);
out:
	cl_store_close(st);
	free(path);
}

/*
 * A refused VM write names the UNIQUE value another VM holds, whichever it is,
 * so a caller redraws that one; attached machines share ports freely.
 */
static void test_vm_unique(void)
{
	char *path = db_path("unique.db");
	cl_store *st = NULL;
	cl_lab lab = {0};
	cl_vm_unique which = CL_VM_UNIQUE_NONE;

	CHECK_INT(cl_store_open(&st, path), 0);
	CHECK_INT(make_lab(st, &lab, "uq"), 0);
	char *n1 = cl_vm_name("uq", "s1"), *n2 = cl_vm_name("uq", NULL);
	CHECK_STR(n1, "uq-s1");
	CHECK_STR(n2, "uq-template");
	free(n1);
	free(n2);
	cl_vm a = {.lab_id = lab.id, .name = "uq-a", .kind = CL_VM_KIND_STUDENT, .uuid = "u-a",
		   .mac = "52:54:00:00:00:0a", .ssh_port = 61001, .instance_id = "i-a"};
	CHECK_INT(cl_store_vm_put(st, &a, &which), 0);
	CHECK_INT(which, CL_VM_UNIQUE_NONE);
	struct {
		const char *uuid, *mac, *iid;
		cl_vm_kind kind;
		int64_t port;
		int rc;
		cl_vm_unique want;
	} cases[] = {
	    {"u-b", "52:54:00:00:00:0a", "i-b", CL_VM_KIND_STUDENT, 61002, CL_EEXIST,
	     CL_VM_UNIQUE_MAC},
	    {"u-b", "52:54:00:00:00:0b", "i-b", CL_VM_KIND_STUDENT, 61001, CL_EEXIST,
	     CL_VM_UNIQUE_PORT},
	    {"u-a", "52:54:00:00:00:0b", "i-b", CL_VM_KIND_STUDENT, 61002, CL_EEXIST,
	     CL_VM_UNIQUE_UUID},
	    {"u-b", "52:54:00:00:00:0b", "i-a", CL_VM_KIND_STUDENT, 61002, CL_EEXIST,
	     CL_VM_UNIQUE_INSTANCE_ID},
	    {"u-b", "52:54:00:00:00:0b", "i-b", CL_VM_KIND_ATTACHED, 61001, 0, CL_VM_UNIQUE_NONE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[16];
		snprintf(name, sizeof(name), "uq-b%zu", i);
		cl_vm b = {.lab_id = lab.id, .name = name, .kind = cases[i].kind,
			   .uuid = (char *)cases[i].uuid, .mac = (char *)cases[i].mac,
			   .ssh_port = cases[i].port, .instance_id = (char *)cases[i].iid};
		which = CL_VM_UNIQUE_NONE;
		CHECK_INT(cl_store_vm_put(st, &b, &which), cases[i].rc);
		CHECK_INT(which, cases[i].want);
	}
	/* Rewriting a VM's own row is no conflict with itself. */
	CHECK_INT(cl_store_vm_put(st, &a, &which), 0);
	CHECK_INT(which, CL_VM_UNIQUE_NONE);
	cl_store_close(st);
	free(path);
}

/* One text column of the first row of sql, or "" (new string). */
static char *raw_text(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	char *s = NULL;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		s = cl_strdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return s ? s : cl_strdup("");
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/*
 * States and kinds are enums with one name table each; the database keeps the
 * same words as before (no schema change), and a word no table has is refused
 * on reading instead of being taken for some state.
 */
static void test_states(void)
{
	char *path = db_path("states.db");
	cl_store *st = NULL;
	cl_lab lab = {0}, got = {0};
	cl_vm vm = {0};
	char *s;

	for (int i = 0; i < CL_TEMPLATE_STATE_COUNT; i++) {
		cl_template_state t = CL_TEMPLATE_STATE_COUNT;
		CHECK(cl_template_state_name(i) != NULL);
		CHECK_INT(cl_template_state_parse(cl_template_state_name(i), &t), 0);
		CHECK_INT(t, i);
	}
	for (int i = 0; i < CL_VM_STATE_COUNT; i++) {
		cl_vm_state v = CL_VM_STATE_COUNT;
		CHECK_INT(cl_vm_state_parse(cl_vm_state_name(i), &v), 0);
		CHECK_INT(v, i);
	}
	for (int i = 0; i < CL_VM_KIND_COUNT; i++) {
		cl_vm_kind k = CL_VM_KIND_COUNT;
		CHECK_INT(cl_vm_kind_parse(cl_vm_kind_name(i), &k), 0);
		CHECK_INT(k, i);
	}
	CHECK(cl_template_state_name(CL_TEMPLATE_STATE_COUNT) == NULL);
	CHECK(cl_vm_state_name(CL_VM_STATE_COUNT) == NULL);
	cl_template_state t;
	CHECK_INT(cl_template_state_parse("Published", &t), CL_EINVAL);
	CHECK_INT(cl_template_state_parse("", &t), CL_EINVAL);
	cl_vm_kind k;
	CHECK_INT(cl_vm_kind_parse(NULL, &k), CL_EINVAL);

	CHECK_INT(cl_store_open(&st, path), 0);
	CHECK_INT(make_lab(st, &lab, "st"), 0);
	lab.template_state = CL_TEMPLATE_OUTDATED;
	CHECK_INT(cl_store_lab_update(st, &lab), 0);
	vm = (cl_vm){.lab_id = lab.id, .name = "st-template", .kind = CL_VM_KIND_TEMPLATE,
		     .state = CL_VM_STATE_STOPPED};
	CHECK_INT(cl_store_vm_put(st, &vm, NULL), 0);
	s = raw_text(path, "SELECT template_state FROM labs WHERE name = 'st'");
	CHECK_STR(s, "outdated");
	free(s);
	s = raw_text(path, "SELECT kind || ' ' || state FROM vms WHERE name = 'st-template'");
	CHECK_STR(s, "template stopped");
	free(s);
	CHECK_INT(cl_store_lab_get(st, "st", &got), 0);
	CHECK_INT(got.template_state, CL_TEMPLATE_OUTDATED);
	cl_lab_clear(&got);
	/* Words from elsewhere (a newer classlab, a hand edit). */
	raw_exec(path, "UPDATE labs SET template_state = 'frozen' WHERE name = 'st'");
	CHECK_INT(cl_store_lab_get(st, "st", &got), CL_EFAIL);
	CHECK(strstr(cl_error_msg(), "'st'") != NULL);
	cl_lab *labs = NULL;
	size_t n = 1;
	CHECK_INT(cl_store_lab_list(st, &labs, &n), CL_EFAIL);
	CHECK(labs == NULL && n == 0);
	raw_exec(path, "UPDATE vms SET state = 'sleeping' WHERE name = 'st-template'");
	cl_vm got_vm = {0};
	CHECK_INT(cl_store_vm_get(st, "st-template", &got_vm), CL_EFAIL);
	CHECK(strstr(cl_error_msg(), "state") != NULL);
	cl_store_close(st);
	free(path);
}

/* The cap holds per lab for every way in (one by one and many at once); order is the roster's. */
static void test_cap_and_order(void)
{
	char *path = db_path("cap.db");
	cl_store *st = NULL;
	cl_lab big = {0}, other = {0};
	size_t n = CL_STORE_LAB_STUDENTS_MAX - 1, failed = 0, got = 0;
	cl_student *rows = cl_calloc(n, sizeof(*rows)), *list = NULL;
	char **names = cl_calloc(n, sizeof(*names));

	CHECK_INT(cl_store_open(&st, path), 0);
	if (!st)
		goto out;
	CHECK_INT(make_lab(st, &big, "big"), 0);
	CHECK_INT(make_lab(st, &other, "other"), 0);
	/* Added st1, st10, st2, ...: lexical order would differ from the roster's. */
	const char *order[] = {"st1", "st10", "st11", "st2", "st9", "st100"};
	for (size_t i = 0; i < 6; i++)
		CHECK_INT(add(st, &other, order[i]), 0);
	CHECK_INT(cl_store_student_list(st, other.id, &list, &got), 0);
	CHECK_INT(got, 6);
	for (size_t i = 0; i < got && i < 6; i++)
		CHECK_STR(list[i].name, order[i]);
	cl_student_list_free(list, got);

	for (size_t i = 0; i < n; i++) {
		names[i] = cl_aprintf("s%zu", i);
		rows[i] = (cl_student){
		    .lab_id = big.id, .name = names[i], .quota_seconds = CL_QUOTA_DEFAULT};
	}
	CHECK_INT(cl_store_begin(st), 0);
	CHECK_INT(cl_store_end(st, cl_store_students_add(st, rows, n, &failed)), 0);
	CHECK_INT(failed, n);
	CHECK_INT(add(st, &big, "last"), 0); /* the 100000th */
	CHECK_INT(add(st, &big, "one-more"), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "the most a lab may have") != NULL);
	CHECK_INT(add(st, &other, "one-more"), 0); /* per lab, not in all */
	/* Many at once stop at the first past the cap; the caller's rollback keeps nothing. */
	cl_student two[2] = {{.lab_id = big.id, .name = "x1", .quota_seconds = CL_QUOTA_DEFAULT},
			     {.lab_id = big.id, .name = "x2", .quota_seconds = CL_QUOTA_DEFAULT}};
	CHECK_INT(cl_store_student_remove(st, big.id, "last"), 0);
	CHECK_INT(cl_store_begin(st), 0);
	CHECK_INT(cl_store_end(st, cl_store_students_add(st, two, 2, &failed)), CL_EINVAL);
	CHECK_INT(failed, 1);
	cl_lab_totals t = {0};
	CHECK_INT(cl_store_lab_totals(st, big.id, &t), 0);
	CHECK_INT(t.students, CL_STORE_LAB_STUDENTS_MAX - 1);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(rows);
	cl_store_close(st);
	free(path);
}

/* A lab's hypervisor: the first command that makes its VMs records it; later ones read it. */
static void test_lab_hv(void)
{
	char *path = db_path("hv.db"), *bound = NULL;
	cl_store *st = NULL;
	cl_lab lab = {0}, got = {0};

	CHECK_INT(cl_store_open(&st, path), 0);
	if (!st)
		goto out;
	CHECK_INT(make_lab(st, &lab, "hv"), 0);
	CHECK_INT(cl_store_lab_get(st, "hv", &got), 0);
	CHECK(got.hv_uri == NULL);
	cl_lab_clear(&got);
	CHECK_INT(cl_store_lab_claim_hv(st, lab.id, "qemu:///embed?root=/a", &bound), 0);
	CHECK_STR(bound, "qemu:///embed?root=/a");
	free(bound);
	CHECK_INT(cl_store_lab_claim_hv(st, lab.id, "test:///default", &bound), 0);
	CHECK_STR(bound, "qemu:///embed?root=/a"); /* the first one stays */
	free(bound);
	CHECK_INT(cl_store_lab_get(st, "hv", &got), 0);
	CHECK_STR(got.hv_uri, "qemu:///embed?root=/a");
	cl_lab_clear(&got);
	CHECK_INT(cl_store_lab_claim_hv(st, 999999, "x", &bound), CL_ENOTFOUND);
out:
	cl_store_close(st);
	free(path);
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
	test_vm_names();
	test_vm_unique();
	test_states();
	test_cap_and_order();
	test_lab_hv();
	cmd = cl_aprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	return tap_done();
}
