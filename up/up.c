/*
 * up: the one place that composes the use cases. Converges a lab from its file
 * (records, students), then builds, verifies and publishes its template.
 */
#include "classlab/cl_up.h"
#include "classlab/cl_cost.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_meter.h"
#include "../ctx/ctx_impl.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

/* Brings the lab record in line with the file; a changed image or customisation means a new template. */
/* What the template is built from changed: a new template version. */
static bool needs_rebuild(const cl_lab *have, const cl_lab *want)
{
	return strcmp(have->image, want->image) != 0 || strcmp(have->username, want->username) != 0 ||
	       (have->spec_json == NULL) != (want->spec_json == NULL) ||
	       (have->spec_json && strcmp(have->spec_json, want->spec_json) != 0);
}

static int converge_lab(cl_ctx *ctx, const cl_labfile *lf, cl_lab *lab)
{
	cl_lab want = lf->lab;
	int rc;

	rc = cl_store_lab_get(ctx->st, want.name, lab);

	if (rc == CL_ENOTFOUND) {
		cl_lab create = want;
		create.id = 0;
		if ((rc = cl_labs_create(ctx, &create)))
			return rc;
		cl_ctx_progress(ctx, "created lab '%s'", want.name);
		return cl_store_lab_get(ctx->st, want.name, lab);
	}
	if (rc)
		return rc;
	/* On a cloud the lab's address is its floating IP: the file's default does not undo it. */
	if (cl_lab_address_from_backend(lab)) {
		if (strcmp(want.public_host, want.listen) == 0)
			want.public_host = lab->public_host;
		want.listen = lab->listen;
	}
	bool rebuild = needs_rebuild(lab, &want);
	bool changed = rebuild || strcmp(lab->size, want.size) != 0 ||
		       lab->scheduled_seconds != want.scheduled_seconds ||
		       lab->quota_seconds != want.quota_seconds ||
		       lab->price_micro != want.price_micro || strcmp(lab->listen, want.listen) != 0 ||
		       strcmp(lab->public_host, want.public_host) != 0 ||
		       lab->port_min != (want.port_min ? want.port_min : CL_PORT_MIN_DEFAULT) ||
		       lab->port_max != (want.port_max ? want.port_max : CL_PORT_MAX_DEFAULT) ||
		       lab->memory_mib != want.memory_mib || lab->vcpus != want.vcpus;
	if (!changed)
		return 0;
#define TAKE_STR(f)                                                                                \
	do {                                                                                       \
		free(lab->f);                                                                      \
		lab->f = want.f ? cl_strdup(want.f) : NULL;                                        \
	} while (0)
	TAKE_STR(size);
	TAKE_STR(image);
	TAKE_STR(username);
	TAKE_STR(listen);
	TAKE_STR(public_host);
	TAKE_STR(spec_json);
#undef TAKE_STR
	lab->scheduled_seconds = want.scheduled_seconds;
	lab->quota_seconds = want.quota_seconds;
	lab->price_micro = want.price_micro;
	lab->port_min = want.port_min ? want.port_min : CL_PORT_MIN_DEFAULT;
	lab->port_max = want.port_max ? want.port_max : CL_PORT_MAX_DEFAULT;
	lab->memory_mib = want.memory_mib;
	lab->vcpus = want.vcpus;
	if (rebuild && lab->template_state != CL_TEMPLATE_NONE &&
	    lab->template_state != CL_TEMPLATE_PUBLISHED) {
		/* an unpublished template is rebuilt in place */
		lab->template_state = CL_TEMPLATE_NONE;
	} else if (rebuild && lab->template_state == CL_TEMPLATE_PUBLISHED) {
		lab->template_state = CL_TEMPLATE_OUTDATED;
	}
	cl_ctx_progress(ctx, "updated lab '%s' from the file", lab->name);
	return cl_labs_update(ctx, lab);
}

/* The service's settings from the file (cl_meter.h), written only when they differ. */
static int converge_service(cl_ctx *ctx, const cl_labfile *lf)
{
	cl_lab_service have = {0};
	const cl_lab_service *want = &lf->service;
	int rc = cl_meter_lab_settings(ctx, lf->lab.name, &have);

	if (rc == 0 && (have.idle_minutes != want->idle_minutes ||
			have.stop_mode != want->stop_mode ||
			have.lead_minutes != want->lead_minutes ||
			have.stop_grace_seconds != want->stop_grace_seconds))
		rc = cl_meter_lab_settings_set(ctx, lf->lab.name, want);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Everything up will write, checked before it writes anything (issue 13): the
 * image's header, the size, and the lab's cost estimate with the file's students
 * added to the lab's present ones (the lab file's own fields, GPU strings and roster
 * were checked by the parser). The students module checks names against other labs.
 */
static int up_check(cl_ctx *ctx, const cl_labfile *lf)
{
	const cl_lab *want = &lf->lab;
	cl_lab lab = {0};
	cl_size size = {0};
	cl_student *have = NULL;
	cl_schedule *events = NULL;
	const char **names = NULL;
	size_t nhave = 0, nevents = 0, matched = 0;
	cl_cost_input in = {0};
	cl_estimate est;
	int rc;

	if ((rc = cl_lab_image_check(want->image)))
		return cl_error_wrap("lab file: \"image\"");
	if ((rc = cl_store_size_get(ctx->st, want->size, &size)))
		return cl_error_wrap("lab file: \"size\"");
	in.lab_units = size.lab_units;
	in.price_micro = want->price_micro;
	in.scheduled_seconds = want->scheduled_seconds;
	in.quota_seconds_each = -1;
	rc = cl_store_lab_get(ctx->st, want->name, &lab);
	if (rc == 0)
		rc = cl_store_student_list(ctx->st, lab.id, &have, &nhave);
	if (rc == 0)
		rc = cl_store_schedule_list(ctx->st, lab.id, &events, &nevents);
	if (rc == 0 && nevents > 0)
		rc = cl_cost_schedule_seconds(events, nevents, &in.scheduled_seconds);
	if (rc == CL_ENOTFOUND) {
		cl_error_clear();
		rc = 0;
	}
	if (rc)
		goto out;
	names = cl_calloc(lf->n_students + 1, sizeof(*names));
	for (size_t i = 0; i < lf->n_students; i++)
		names[i] = lf->students[i].name;
	qsort(names, lf->n_students, sizeof(*names), name_cmp);
	for (size_t i = 0; i < nhave && rc == 0; i++) {
		const char *key = have[i].name;
		if (bsearch(&key, names, lf->n_students, sizeof(*names), name_cmp)) {
			matched++;
			continue;
		}
		int64_t q = have[i].quota_seconds >= 0 ? have[i].quota_seconds : want->quota_seconds;
		if (__builtin_add_overflow(in.quota_seconds_sum, q, &in.quota_seconds_sum))
			rc = cl_error_set(CL_EINVAL, "the quotas add up to too many hours");
	}
	for (size_t i = 0; i < lf->n_students && rc == 0; i++) {
		int64_t q = lf->students[i].quota_seconds >= 0 ? lf->students[i].quota_seconds
							       : want->quota_seconds;
		if (__builtin_add_overflow(in.quota_seconds_sum, q, &in.quota_seconds_sum))
			rc = cl_error_set(CL_EINVAL, "the quotas add up to too many hours");
	}
	in.students = (int64_t)(nhave + lf->n_students - matched);
	if (rc == 0 && in.students > CL_ROSTER_MAX_ROWS)
		rc = cl_error_set(CL_EINVAL, "lab '%s' would have %lld students, more than %d",
				  want->name, (long long)in.students, CL_ROSTER_MAX_ROWS);
	if (rc == 0)
		rc = cl_cost_compute(&in, &est);
	if (rc) {
		cl_error_wrap("lab file: lab '%s' with these students, hours, size and price has no "
			      "exact cost estimate",
			      want->name);
		goto out;
	}
	/* Names as adding them would check them: reserved, or another lab's VM name. */
	if ((rc = cl_store_names_check(ctx->st, want->name, lab.id, names, lf->n_students)))
		cl_error_wrap("lab file");
out:
	free(names);
	free(events);
	cl_student_list_free(have, nhave);
	cl_size_clear(&size);
	cl_lab_clear(&lab);
	return rc;
}

/* New students in one transaction (all or none), then changed quotas. */
static int converge_students(cl_ctx *ctx, const cl_labfile *lf, const cl_lab *lab)
{
	cl_roster_row *add = cl_calloc(lf->n_students + 1, sizeof(*add));
	cl_buf errors = CL_BUF_INIT;
	size_t nadd = 0;
	int rc = 0;

	for (size_t i = 0; i < lf->n_students && rc == 0; i++) {
		const cl_labfile_student *f = &lf->students[i];
		cl_student s = {0};
		rc = cl_store_student_get(ctx->st, lab->id, f->name, &s);
		if (rc == CL_ENOTFOUND) {
			cl_error_clear();
			/* Borrowed strings: the rows are freed below without cl_roster_free. */
			add[nadd++] = (cl_roster_row){.line = (int)i + 1,
						      .name = f->name,
						      .email = f->email,
						      .quota_seconds = f->quota_seconds,
						      .ssh_public_key = f->ssh_public_key};
			rc = 0;
		}
		cl_student_clear(&s);
	}
	if (rc == 0 && nadd > 0 && (rc = cl_students_import(ctx, lab->name, add, nadd, &errors)))
		if (errors.len)
			cl_error_wrap("%.*s", (int)errors.len - (errors.data[errors.len - 1] == '\n'),
				      errors.data);
	for (size_t i = 0; i < lf->n_students && rc == 0; i++) {
		cl_student s = {0};
		rc = cl_store_student_get(ctx->st, lab->id, lf->students[i].name, &s);
		if (rc == 0 && s.quota_seconds != lf->students[i].quota_seconds)
			rc = cl_quota_set(ctx, lab->name, s.name, lf->students[i].quota_seconds);
		cl_student_clear(&s);
	}
	if (rc == 0 && nadd)
		cl_ctx_progress(ctx, "added %zu student%s", nadd, nadd == 1 ? "" : "s");
	free(add);
	cl_buf_free(&errors);
	return rc;
}

/*
 * An existing lab: up may act on it from this hypervisor, and a change that
 * rebuilds a published template (whose publish recreates every student's disk)
 * has its --yes before anything is built, not after.
 */
static int up_may_change(cl_ctx *ctx, const cl_labfile *lf, bool publish,
			 const cl_publish_opts *opts)
{
	cl_lab lab = {0};
	cl_vm *vms = NULL;
	size_t nvms = 0, students = 0;
	int rc = cl_store_lab_get(ctx->st, lf->lab.name, &lab);

	if (rc == CL_ENOTFOUND) {
		cl_error_clear();
		return 0;
	}
	if (rc || (rc = cl_template_hv_check(ctx, &lab)))
		goto out;
	if (!publish || (opts && opts->recreate_ok) || lab.template_state != CL_TEMPLATE_PUBLISHED ||
	    !needs_rebuild(&lab, &lf->lab))
		goto out;
	if ((rc = cl_store_vm_list(ctx->st, lab.id, &vms, &nvms)))
		goto out;
	for (size_t i = 0; i < nvms; i++)
		students += vms[i].kind == CL_VM_KIND_STUDENT;
	if (students)
		rc = cl_error_set(CL_EINVAL,
				  "the lab file changes what lab '%s''s template is built from "
				  "(image, username or customisation): publishing the new version "
				  "recreates %zu student disk%s (names, ports, MACs and keys stay): "
				  "add --yes, or --no-publish to build it only",
				  lab.name, students, students == 1 ? "" : "s");
out:
	cl_vm_list_free(vms, nvms);
	cl_lab_clear(&lab);
	return rc;
}

int cl_up(cl_ctx *ctx, const cl_labfile *lf, bool publish, const cl_publish_opts *opts)
{
	cl_lab lab = {0};
	int rc;

	/* The whole file first, then the hypervisor: either refused leaves the store untouched. */
	if ((rc = up_check(ctx, lf)) || (rc = cl_ctx_connect(ctx)) ||
	    (rc = up_may_change(ctx, lf, publish, opts)) || (rc = converge_lab(ctx, lf, &lab)) ||
	    (rc = converge_service(ctx, lf)) ||
	    (rc = cl_template_connect(ctx, &lab, true)))
		return rc;
	if ((rc = cl_ctx_lab_lock(ctx, lab.name, "up")))
		goto out_nolock;
	if ((rc = converge_students(ctx, lf, &lab)))
		goto out;
	if (lab.template_state != CL_TEMPLATE_BUILT && lab.template_state != CL_TEMPLATE_VERIFIED &&
	    lab.template_state != CL_TEMPLATE_PUBLISHED) {
		if ((rc = cl_template_build(ctx, lab.name)))
			goto out;
	}
	cl_lab_clear(&lab);
	if ((rc = cl_store_lab_get(ctx->st, lf->lab.name, &lab)))
		goto out;
	if (ctx->verify && lab.template_state == CL_TEMPLATE_BUILT &&
	    (rc = ctx->verify(ctx->cb_arg, ctx, lab.name)))
		goto out;
	if (publish)
		rc = cl_template_publish(ctx, lab.name, opts);
out:
	cl_ctx_lab_unlock(ctx, lab.name);
out_nolock:
	cl_lab_clear(&lab);
	return rc;
}
