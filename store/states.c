/* The one name table of each state and kind the store keeps as text (no schema change). */
#include "store_impl.h"
#include "classlab/banned.h"

#include <string.h>

static const char *const template_states[CL_TEMPLATE_STATE_COUNT] = {
    [CL_TEMPLATE_NONE] = "none",	   [CL_TEMPLATE_BUILDING] = "building",
    [CL_TEMPLATE_BUILT] = "built",	   [CL_TEMPLATE_VERIFIED] = "verified",
    [CL_TEMPLATE_PUBLISHED] = "published", [CL_TEMPLATE_OUTDATED] = "outdated",
};

static const char *const vm_kinds[CL_VM_KIND_COUNT] = {
    [CL_VM_KIND_TEMPLATE] = "template",
    [CL_VM_KIND_STUDENT] = "student",
    [CL_VM_KIND_ATTACHED] = "attached",
};

static const char *const vm_states[CL_VM_STATE_COUNT] = {
    [CL_VM_STATE_PLANNED] = "planned",	 [CL_VM_STATE_DEFINED] = "defined",
    [CL_VM_STATE_RUNNING] = "running",	 [CL_VM_STATE_STOPPED] = "stopped",
    [CL_VM_STATE_ATTACHED] = "attached",
};

/* "open" is never stored: an open interval's closed_by is NULL. */
static const char *const run_closed[CL_RUN_CLOSED_COUNT] = {
    [CL_RUN_OPEN] = "open",
    [CL_RUN_CLOSED_EVENT] = "event",
    [CL_RUN_CLOSED_RECONCILE] = "reconcile",
    [CL_RUN_CLOSED_SERVICE] = "service",
    [CL_RUN_CLOSED_CLOCK] = "clock",
};

static const char *const stop_modes[CL_STOP_MODE_COUNT] = {
    [CL_STOP_SHUTDOWN] = "shutdown",
    [CL_STOP_SAVE] = "save",
};

static const char *name_of(const char *const *table, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? table[v] : NULL;
}

/* The index of s in table, or n when s names nothing there. */
static int index_of(const char *const *table, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(table[i], s) == 0)
			return (int)i;
	return (int)n;
}

const char *cl_template_state_name(cl_template_state s)
{
	return name_of(template_states, CL_TEMPLATE_STATE_COUNT, s);
}

int cl_template_state_parse(const char *s, cl_template_state *out)
{
	int i = index_of(template_states, CL_TEMPLATE_STATE_COUNT, s);
	if (i == CL_TEMPLATE_STATE_COUNT)
		return cl_error_set(CL_EINVAL, "unknown template state '%s'", s ? s : "");
	*out = (cl_template_state)i;
	return 0;
}

const char *cl_vm_kind_name(cl_vm_kind k)
{
	return name_of(vm_kinds, CL_VM_KIND_COUNT, k);
}

int cl_vm_kind_parse(const char *s, cl_vm_kind *out)
{
	int i = index_of(vm_kinds, CL_VM_KIND_COUNT, s);
	if (i == CL_VM_KIND_COUNT)
		return cl_error_set(CL_EINVAL, "unknown VM kind '%s'", s ? s : "");
	*out = (cl_vm_kind)i;
	return 0;
}

const char *cl_vm_state_name(cl_vm_state s)
{
	return name_of(vm_states, CL_VM_STATE_COUNT, s);
}

int cl_vm_state_parse(const char *s, cl_vm_state *out)
{
	int i = index_of(vm_states, CL_VM_STATE_COUNT, s);
	if (i == CL_VM_STATE_COUNT)
		return cl_error_set(CL_EINVAL, "unknown VM state '%s'", s ? s : "");
	*out = (cl_vm_state)i;
	return 0;
}

const char *cl_run_closed_name(cl_run_closed c)
{
	return name_of(run_closed, CL_RUN_CLOSED_COUNT, c);
}

int cl_run_closed_parse(const char *s, cl_run_closed *out)
{
	int i = index_of(run_closed, CL_RUN_CLOSED_COUNT, s);
	if (i == CL_RUN_CLOSED_COUNT)
		return cl_error_set(CL_EINVAL, "unknown way an interval closed '%s'", s ? s : "");
	*out = (cl_run_closed)i;
	return 0;
}

const char *cl_stop_mode_name(cl_stop_mode m)
{
	return name_of(stop_modes, CL_STOP_MODE_COUNT, m);
}

int cl_stop_mode_parse(const char *s, cl_stop_mode *out)
{
	int i = index_of(stop_modes, CL_STOP_MODE_COUNT, s);
	if (i == CL_STOP_MODE_COUNT)
		return cl_error_set(CL_EINVAL, "stop mode '%s' is neither 'shutdown' nor 'save'",
				    s ? s : "");
	*out = (cl_stop_mode)i;
	return 0;
}

/* Row readers cannot fail: an unknown word becomes the COUNT value, which the reader refuses. */
cl_template_state st_col_template_state(sqlite3_stmt *stmt, int col)
{
	return (cl_template_state)index_of(template_states, CL_TEMPLATE_STATE_COUNT,
					   (const char *)sqlite3_column_text(stmt, col));
}

cl_vm_kind st_col_vm_kind(sqlite3_stmt *stmt, int col)
{
	return (cl_vm_kind)index_of(vm_kinds, CL_VM_KIND_COUNT,
				    (const char *)sqlite3_column_text(stmt, col));
}

cl_vm_state st_col_vm_state(sqlite3_stmt *stmt, int col)
{
	return (cl_vm_state)index_of(vm_states, CL_VM_STATE_COUNT,
				     (const char *)sqlite3_column_text(stmt, col));
}

cl_run_closed st_col_run_closed(sqlite3_stmt *stmt, int col)
{
	const char *s = (const char *)sqlite3_column_text(stmt, col);
	return s ? (cl_run_closed)index_of(run_closed, CL_RUN_CLOSED_COUNT, s) : CL_RUN_OPEN;
}

cl_stop_mode st_col_stop_mode(sqlite3_stmt *stmt, int col)
{
	return (cl_stop_mode)index_of(stop_modes, CL_STOP_MODE_COUNT,
				      (const char *)sqlite3_column_text(stmt, col));
}
