/* Labs and students: validation first, then one transaction per change. */
#include "classlab/cl_labs.h"
#include "classlab/cl_cost.h"
#include "classlab/cl_provision.h"
#include "classlab/cl_ssh.h"
#include "../ctx/ctx_impl.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

int cl_email_check(const char *email)
{
	const char *at = strchr(email, '@');
	int rc = cl_text_check("email", email, CL_EMAIL_MAX);

	if (rc)
		return rc;
	/* A leading = + - @ would run as a formula when a roster is opened in a spreadsheet. */
	if (!at || at == email || !at[1] || strchr(at + 1, '@') || strpbrk(email, " \t\"<>,;\\") ||
	    strchr("=+-@", email[0]))
		return cl_error_set(CL_EINVAL, "invalid email '%s': expected name@domain", email);
	for (const char *p = at + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
			return cl_error_set(CL_EINVAL, "invalid email '%s': bad domain", email);
	return 0;
}

int cl_student_key_check(const char *key)
{
	char *type = NULL, *b64 = NULL, *comment = NULL;
	int rc = cl_ssh_pubkey_parse(key, &type, &b64, &comment);
	free(type);
	free(b64);
	free(comment);
	return rc;
}

/* Only the SSH port range and network fields need more than the store's constraints. */
static int lab_check(cl_store *st, const cl_lab *lab)
{
	cl_size size = {0};
	int rc;

	if ((rc = cl_name_check("lab name", lab->name)))
		return rc;
	if (strlen(lab->name) > CL_NAME_MAX - 9) /* room for "-template" in VM names */
		return cl_error_set(CL_EINVAL, "invalid lab name '%s': at most %d characters",
				    lab->name, CL_NAME_MAX - 9);
	if ((rc = cl_name_check("size name", lab->size)))
		return rc;
	if ((rc = cl_store_size_get(st, lab->size, &size)))
		return rc;
	cl_size_clear(&size);
	if (lab->username && (rc = cl_username_check("username", lab->username)))
		return rc;
	if (lab->port_min || lab->port_max) {
		if (lab->port_min < 1024 || lab->port_max > 65535 || lab->port_min > lab->port_max)
			return cl_error_set(CL_EINVAL,
					    "invalid port range %lld-%lld: use 1024-65535, low first",
					    (long long)lab->port_min, (long long)lab->port_max);
	}
	return 0;
}

int cl_lab_image_check(const char *image)
{
	const char *fmt;

	if (!image || cl_image_is_builtin(image))
		return 0;
	if (image[0] != '/')
		return cl_error_set(CL_EINVAL,
				    "invalid image '%s': give a built-in image (%s) or an absolute "
				    "path to a qcow2 or raw image",
				    image, cl_image_builtin_names());
	return cl_image_check(image, &fmt);
}

int cl_labs_create(cl_ctx *ctx, cl_lab *lab)
{
	cl_store *st = ctx->st;
	int rc = lab_check(st, lab);
	if (rc == 0)
		rc = cl_lab_image_check(lab->image);
	if (rc)
		return rc;
	if ((rc = cl_store_begin(st)))
		return rc;
	return cl_store_end(st, cl_store_lab_create(st, lab));
}

int cl_labs_update(cl_ctx *ctx, const cl_lab *lab)
{
	cl_store *st = ctx->st;
	int rc = lab_check(st, lab);
	if (rc)
		return rc;
	if ((rc = cl_store_begin(st)))
		return rc;
	rc = cl_store_lab_update(st, lab);
	if (rc == 0) /* hours or price may leave the estimate uncomputable */
		rc = cl_cost_check_lab(ctx, lab->name);
	return cl_store_end(st, rc);
}

int cl_labs_delete(cl_ctx *ctx, const char *name)
{
	cl_store *st = ctx->st;
	int rc = cl_name_check("lab name", name);
	if (rc)
		return rc;
	if ((rc = cl_store_begin(st)))
		return rc;
	return cl_store_end(st, cl_store_lab_delete(st, name));
}

/* Starts a write transaction and looks the lab up inside it. */
static int begin_on_lab(cl_store *st, const char *name, cl_lab *lab)
{
	int rc = cl_name_check("lab name", name);
	if (rc)
		return rc;
	if ((rc = cl_store_begin(st)))
		return rc;
	if ((rc = cl_store_lab_get(st, name, lab)))
		cl_store_rollback(st);
	return rc;
}

/* Orders rows by name, then line: duplicates become neighbours. */
static int row_cmp(const void *a, const void *b)
{
	const cl_roster_row *x = *(const cl_roster_row *const *)a;
	const cl_roster_row *y = *(const cl_roster_row *const *)b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->line > y->line) - (x->line < y->line);
}

int cl_students_import(cl_ctx *ctx, const char *labname, const cl_roster_row *rows, size_t n,
		       cl_buf *errors)
{
	cl_store *st = ctx->st;
	cl_lab lab = {0};
	const cl_roster_row **sorted = NULL;
	cl_student *add = NULL; /* borrows the rows' strings */
	size_t failed = 0;
	int *first = NULL; /* line of the name's first row, for later rows with that name */
	int rc, dup = 0;

	if ((rc = begin_on_lab(st, labname, &lab)))
		return rc;
	/* Sorting finds duplicates in n log n: a roster may have 100000 rows. */
	sorted = cl_calloc(n ? n : 1, sizeof(*sorted));
	first = cl_calloc(n ? n : 1, sizeof(*first));
	for (size_t i = 0; i < n; i++)
		sorted[i] = &rows[i];
	qsort(sorted, n, sizeof(*sorted), row_cmp);
	for (size_t k = 1; k < n; k++)
		if (strcmp(sorted[k]->name, sorted[k - 1]->name) == 0) {
			size_t prev = (size_t)(sorted[k - 1] - rows);
			first[sorted[k] - rows] = first[prev] ? first[prev] : sorted[k - 1]->line;
		}
	for (size_t i = 0; i < n; i++) {
		cl_student existing = {0};
		if (first[i]) {
			cl_buf_printf(errors, "line %d: student '%s' is also on line %d\n",
				      rows[i].line, rows[i].name, first[i]);
			dup++;
			continue;
		}
		rc = cl_store_student_get(st, lab.id, rows[i].name, &existing);
		cl_student_clear(&existing);
		if (rc == 0) {
			cl_buf_printf(errors, "line %d: student '%s' is already in lab '%s'\n",
				      rows[i].line, rows[i].name, labname);
			dup++;
		} else if (rc != CL_ENOTFOUND) {
			goto out;
		}
		rc = 0;
	}
	if (dup) {
		rc = cl_error_set(CL_EEXIST, "roster has %d duplicate student%s; nothing was imported",
				  dup, dup == 1 ? "" : "s");
		goto out;
	}
	add = cl_calloc(n ? n : 1, sizeof(*add));
	for (size_t i = 0; i < n; i++)
		add[i] = (cl_student){.lab_id = lab.id,
				      .name = rows[i].name,
				      .email = rows[i].email,
				      .quota_seconds = rows[i].quota_seconds,
				      .ssh_public_key = rows[i].ssh_public_key};
	if ((rc = cl_store_students_add(st, add, n, &failed)) && failed < n)
		cl_error_wrap("line %d (nothing was imported)", rows[failed].line);
	if (rc == 0)
		rc = cl_cost_check_lab(ctx, lab.name);
out:
	free(add);
	free(first);
	free(sorted);
	cl_lab_clear(&lab);
	return cl_store_end(st, rc);
}

int cl_students_add(cl_ctx *ctx, const char *labname, cl_student *s)
{
	cl_store *st = ctx->st;
	cl_lab lab = {0};
	int rc;

	if ((rc = cl_name_check("student name", s->name)))
		return rc;
	if (s->email && (rc = cl_email_check(s->email)))
		return rc;
	if (s->ssh_public_key && (rc = cl_student_key_check(s->ssh_public_key)))
		return rc;
	if ((rc = begin_on_lab(st, labname, &lab)))
		return rc;
	s->lab_id = lab.id;
	rc = cl_store_student_add(st, s);
	if (rc == 0)
		rc = cl_cost_check_lab(ctx, lab.name);
	cl_lab_clear(&lab);
	return cl_store_end(st, rc);
}

int cl_quota_set(cl_ctx *ctx, const char *labname, const char *student, int64_t seconds)
{
	cl_store *st = ctx->st;
	cl_lab lab = {0};
	int rc;

	if (student && (rc = cl_name_check("student name", student)))
		return rc;
	if ((rc = begin_on_lab(st, labname, &lab)))
		return rc;
	if (student) {
		rc = cl_store_student_set_quota(st, lab.id, student, seconds);
	} else if (seconds < 0) {
		rc = cl_error_set(CL_EINVAL, "a lab's quota needs a number of hours");
	} else {
		lab.quota_seconds = seconds;
		rc = cl_store_lab_update(st, &lab);
	}
	if (rc == 0)
		rc = cl_cost_check_lab(ctx, lab.name);
	cl_lab_clear(&lab);
	return cl_store_end(st, rc);
}

int cl_schedule_add(cl_ctx *ctx, const char *labname, cl_schedule *s)
{
	cl_store *st = ctx->st;
	cl_lab lab = {0};
	int rc;

	if (s->end <= s->start)
		return cl_error_set(CL_EINVAL, "schedule must end after it starts");
	if (s->end - s->start > 24 * 3600 * 31)
		return cl_error_set(CL_EINVAL, "a schedule event may last at most 31 days");
	if (s->weekly_until && s->weekly_until <= s->start)
		return cl_error_set(CL_EINVAL, "--weekly-until must be after the start");
	if (s->weekly_until && s->weekly_until - s->start > (int64_t)CL_HOURS_MAX * 3600)
		return cl_error_set(CL_EINVAL, "--weekly-until is more than 10 years after the start");
	if ((rc = begin_on_lab(st, labname, &lab)))
		return rc;
	s->lab_id = lab.id;
	rc = cl_store_schedule_add(st, s);
	if (rc == 0) {
		/* The lab's whole schedule must stay within the hour bound. */
		cl_schedule *events = NULL;
		size_t n = 0;
		int64_t total = 0;
		if ((rc = cl_store_schedule_list(st, lab.id, &events, &n)) == 0 &&
		    (rc = cl_cost_schedule_seconds(events, n, &total)) == 0 &&
		    total > (int64_t)CL_HOURS_MAX * 3600)
			rc = cl_error_set(CL_EINVAL, "the lab's schedule would exceed %d hours",
					  CL_HOURS_MAX);
		free(events);
	}
	if (rc == 0)
		rc = cl_cost_check_lab(ctx, lab.name);
	cl_lab_clear(&lab);
	return cl_store_end(st, rc);
}

/* ---- reads and whole-lab changes the front ends use instead of the store ---- */

int cl_labs_get(cl_ctx *ctx, const char *name, cl_lab *out)
{
	cl_store *st = ctx->st;
	int rc = cl_name_check("lab name", name);
	if (rc)
		return rc;
	return cl_store_lab_get(st, name, out);
}

int cl_labs_list(cl_ctx *ctx, cl_lab **out, size_t *n)
{
	cl_store *st = ctx->st;
	return cl_store_lab_list(st, out, n);
}

int cl_students_list(cl_ctx *ctx, const char *lab, cl_lab *lab_out, cl_student **out, size_t *n)
{
	cl_store *st = ctx->st;
	cl_lab l = {0};
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = cl_labs_get(ctx, lab, &l)) == 0)
		rc = cl_store_student_list(st, l.id, out, n);
	if (rc == 0 && lab_out)
		*lab_out = l;
	else
		cl_lab_clear(&l);
	return rc;
}

int cl_schedule_list(cl_ctx *ctx, const char *lab, cl_schedule **out, size_t *n)
{
	cl_store *st = ctx->st;
	cl_lab l = {0};
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = cl_labs_get(ctx, lab, &l)) == 0)
		rc = cl_store_schedule_list(st, l.id, out, n);
	cl_lab_clear(&l);
	return rc;
}

int cl_labs_remove(cl_ctx *ctx, const char *name)
{
	cl_store *st = ctx->st;
	const char *data_dir = ctx->data_dir;
	cl_vm *vms = NULL;
	cl_lab lab = {0};
	size_t n = 0;
	int rc;

	if ((rc = cl_labs_get(ctx, name, &lab)) || (rc = cl_store_vm_list(st, lab.id, &vms, &n)))
		goto out;
	/* An attached machine is not classlab's to destroy; any other VM is down's to delete. */
	for (size_t i = 0; i < n; i++)
		if (vms[i].kind != CL_VM_KIND_ATTACHED) {
			rc = cl_error_set(CL_EEXIST,
					  "lab '%s' still has VMs (%s, ...): run 'classlab down %s "
					  "--yes' first",
					  lab.name, vms[i].name, lab.name);
			goto out;
		}
	/* Its keys go too: a lab made later under this name must not inherit them. */
	if ((rc = cl_lab_dir_remove(data_dir, lab.name)) == 0)
		rc = cl_labs_delete(ctx, lab.name);
out:
	cl_vm_list_free(vms, n);
	cl_lab_clear(&lab);
	return rc;
}

int cl_labs_unlock(cl_ctx *ctx, const char *name, bool *held, char **holder)
{
	cl_store *st = ctx->st;
	cl_lab lab = {0};
	int rc;

	*held = false;
	if (holder)
		*holder = NULL;
	if ((rc = cl_labs_get(ctx, name, &lab)) == 0) /* a lab that is not there: not found */
		rc = cl_store_lab_unlock_stale(st, lab.name, held, holder);
	cl_lab_clear(&lab);
	return rc;
}

int cl_sizes_list(cl_ctx *ctx, cl_size **out, size_t *n)
{
	cl_store *st = ctx->st;
	return cl_store_size_list(st, out, n);
}

int cl_sizes_get(cl_ctx *ctx, const char *name, cl_size *out)
{
	cl_store *st = ctx->st;
	int rc = cl_name_check("size name", name);
	if (rc)
		return rc;
	return cl_store_size_get(st, name, out);
}

int cl_sizes_set(cl_ctx *ctx, const cl_size_change *c, cl_size *out)
{
	cl_store *st = ctx->st;
	cl_size s = {0}, old = {0};
	int rc = cl_sizes_get(ctx, c->name, &old);

	if (rc && rc != CL_ENOTFOUND)
		return rc;
	if (rc == CL_ENOTFOUND && c->lab_units < 0)
		return cl_error_set(CL_EINVAL, "new size '%s' needs its lab units", c->name);
	bool had = old.name != NULL;
	s.lab_units = c->lab_units >= 0 ? c->lab_units : old.lab_units;
	s.vcpus = c->vcpus >= 0 ? c->vcpus : had ? old.vcpus : 2;
	s.memory_mib = c->memory_mib >= 0 ? c->memory_mib : had ? old.memory_mib : 2048;
	s.gpus = c->gpus >= 0 ? c->gpus : old.gpus;
	cl_size_clear(&old);
	if (s.lab_units > CL_LAB_UNITS_MAX || s.vcpus > 1024 || s.memory_mib > (16 << 20) ||
	    s.gpus > 16)
		return cl_error_set(CL_EINVAL, "size '%s' is out of range", c->name);
	if (s.vcpus == 0 || s.memory_mib < 64)
		return cl_error_set(CL_EINVAL, "a size needs at least 1 vCPU and 64 MiB");
	s.name = (char *)c->name;
	/* New lab units must leave every lab of the size an exact estimate. */
	if ((rc = cl_store_begin(st)))
		return rc;
	rc = cl_store_size_put(st, &s);
	if (rc == 0)
		rc = cl_cost_check_labs(ctx, s.name);
	if ((rc = cl_store_end(st, rc)))
		return rc;
	if (out) {
		*out = s;
		out->name = cl_strdup(c->name);
	}
	return 0;
}
