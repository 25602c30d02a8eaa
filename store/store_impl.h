/* Internals shared by the store's source files. */
#ifndef CL_STORE_IMPL_H
#define CL_STORE_IMPL_H

#include "classlab/cl_store.h"
#include "classlab/cl_util.h"

#include <sqlite3.h>

/* How long a statement waits for another process's lock before "database is locked". */
#define CL_STORE_BUSY_MS 10000

struct cl_store {
	sqlite3 *db;
	char *path;
};

extern const char *const cl_store_migrations[];
extern const int cl_store_migration_count;
extern const cl_size cl_store_builtin_sizes[];
extern const size_t cl_store_builtin_size_count;

/* Sets the error from the connection's message: "<what>: <sqlite message>". */
int st_fail(cl_store *st, const char *what);
int st_prepare(cl_store *st, sqlite3_stmt **stmt, const char *sql);
int cl_store_check_quick(cl_store *st);
/* Steps a statement that returns no rows; maps constraint failures to CL_EEXIST. */
int st_exec_stmt(cl_store *st, sqlite3_stmt *stmt, const char *what);
/* Collects rows: row() fills each element of a growing array; clear() undoes one on failure. */
int st_list(cl_store *st, sqlite3_stmt *stmt, size_t elem_size, void (*row)(sqlite3_stmt *, void *),
	    void (*clear)(void *), void **out, size_t *n, const char *what);
/*
 * Steps a query for at most one row and finalizes it: 0 with row() filling out
 * (zeroed first), CL_ENOTFOUND with no message (the caller names what), or the error.
 */
int st_one(cl_store *st, sqlite3_stmt *stmt, void (*row)(sqlite3_stmt *, void *), void *out,
	   size_t size, const char *what);
char *st_col_text(sqlite3_stmt *stmt, int col); /* NULL stays NULL */
/* A state or kind column; a word the table lacks reads as the enum's COUNT value. */
cl_template_state st_col_template_state(sqlite3_stmt *stmt, int col);
cl_vm_kind st_col_vm_kind(sqlite3_stmt *stmt, int col);
cl_vm_state st_col_vm_state(sqlite3_stmt *stmt, int col);
cl_run_closed st_col_run_closed(sqlite3_stmt *stmt, int col); /* NULL: CL_RUN_OPEN */
cl_stop_mode st_col_stop_mode(sqlite3_stmt *stmt, int col);
void st_bind_text(sqlite3_stmt *stmt, int idx, const char *s);
/* Binds v, or NULL when v is none (the value that means "not set"). */
void st_bind_int_or_null(sqlite3_stmt *stmt, int idx, int64_t v, int64_t none);

#endif
