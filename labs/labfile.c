/* The lab file: strict JSON (jansson) into a lab, its students and its customisation. */
#include "classlab/cl_labs.h"
#include "classlab/cl_cost.h"
#include "classlab/cl_gpu.h"
#include "classlab/cl_provision.h"
#include "classlab/banned.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABFILE_MAX_BYTES (4u << 20)
#define LIST_MAX 256

void cl_labfile_clear(cl_labfile *lf)
{
	if (!lf)
		return;
	cl_lab_clear(&lf->lab);
	for (size_t i = 0; i < lf->n_students; i++) {
		free(lf->students[i].name);
		free(lf->students[i].email);
		free(lf->students[i].ssh_public_key);
	}
	free(lf->students);
	free(lf->roster_path);
	memset(lf, 0, sizeof(*lf));
}

void cl_lab_spec_clear(cl_lab_spec *s)
{
	if (!s)
		return;
	cl_strv_free(s->packages, s->n_packages);
	cl_strv_free(s->pip, s->n_pip);
	cl_strv_free(s->run, s->n_run);
	free(s->gpu_driver);
	free(s->gpu_cuda);
	cl_strv_free(s->frameworks, s->n_frameworks);
	free(s->flavor);
	memset(s, 0, sizeof(*s));
}

static int bad(const char *key, const char *why)
{
	return cl_error_set(CL_EINVAL, "lab file: \"%s\": %s", key, why);
}

/* Refuses keys not in allowed (a NULL-terminated list). */
static int only_keys(json_t *obj, const char *where, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok = ok || strcmp(*a, key) == 0;
		if (!ok)
			return cl_error_set(CL_EINVAL, "lab file: unknown key \"%s%s%s\"", where,
					    *where ? "." : "", key);
	}
	return 0;
}

static int get_string(json_t *obj, const char *key, bool required, const char **out)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v)
		return required ? bad(key, "is required") : 0;
	if (!json_is_string(v))
		return bad(key, "must be a string");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bad(key, "contains a NUL byte");
	*out = json_string_value(v);
	return 0;
}

/* A number or a decimal string, exactly, as text for the strict decimal parsers. */
static int get_decimal_text(json_t *obj, const char *key, unsigned decimals, char **out)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v)
		return 0;
	if (json_is_string(v)) {
		if (strlen(json_string_value(v)) != json_string_length(v))
			return bad(key, "contains a NUL byte");
		*out = cl_strdup(json_string_value(v));
	} else if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return bad(key, "must not be negative");
		*out = cl_aprintf("%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		double d = json_real_value(v), scale = pow(10, decimals);
		if (!(d >= 0) || d > 1e12)
			return bad(key, "is out of range");
		double r = round(d * scale);
		if (fabs(d * scale - r) > 1e-6)
			return bad(key, "has too many decimal places");
		*out = cl_format_decimal((uint64_t)r, decimals, 0);
	} else {
		return bad(key, "must be a number");
	}
	return 0;
}

static int get_hours(json_t *obj, const char *key, int64_t *seconds)
{
	char *text = NULL;
	int rc = get_decimal_text(obj, key, 2, &text);
	if (rc == 0 && text)
		rc = cl_parse_hours(key, text, seconds);
	free(text);
	return rc;
}

static int get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return bad(key, "must be a whole number");
	if (json_integer_value(v) < min || json_integer_value(v) > max) {
		char *why = cl_aprintf("must be between %lld and %lld", (long long)min, (long long)max);
		int rc = bad(key, why);
		free(why);
		return rc;
	}
	*out = json_integer_value(v);
	return 0;
}

/* Package and pip names: no spaces, no leading '-' (no option injection), printable. */
static bool word_ok(const char *s)
{
	if (!*s || *s == '-' || strlen(s) > 200)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '\'' || *p == '\\' || *p == '`' ||
		    *p == '$' || *p == ';' || *p == '|' || *p == '&')
			return false;
	return true;
}

static int get_strings(json_t *obj, const char *where, const char *key, bool words, char ***out,
		       size_t *n, json_t *copy)
{
	json_t *v = json_object_get(obj, key), *e;
	size_t i;
	char *path = cl_aprintf("%s.%s", where, key);
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!v)
		goto out;
	if (!json_is_array(v)) {
		rc = bad(path, "must be an array of strings");
		goto out;
	}
	if (json_array_size(v) > LIST_MAX) {
		rc = bad(path, "has too many entries");
		goto out;
	}
	*out = cl_calloc(json_array_size(v) + 1, sizeof(char *));
	json_t *arr = json_array();
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e)) {
			rc = bad(path, "must be an array of strings");
			break;
		}
		const char *s = json_string_value(e);
		if (words ? !word_ok(s) : cl_text_check(path, s, 4096) != 0 || !*s) {
			char *why = cl_aprintf("entry %zu is not allowed (%s)", i + 1,
					       words ? "a name without spaces or shell characters"
						     : "printable text on one line");
			rc = bad(path, why);
			free(why);
			break;
		}
		(*out)[(*n)++] = cl_strdup(s);
		json_array_append_new(arr, json_string(s));
	}
	if (rc == 0 && copy)
		json_object_set_new(copy, key, arr);
	else
		json_decref(arr);
out:
	free(path);
	return rc;
}

static int parse_students(json_t *arr, cl_labfile *lf)
{
	static const char *const keys[] = {"name", "email", "quota_hours", "ssh_public_key", NULL};
	json_t *e;
	size_t i;
	int rc = 0;

	if (!json_is_array(arr))
		return bad("students", "must be an array of objects");
	if (json_array_size(arr) > CL_ROSTER_MAX_ROWS)
		return bad("students", "has too many entries");
	lf->students = cl_calloc(json_array_size(arr) + 1, sizeof(*lf->students));
	json_array_foreach(arr, i, e)
	{
		cl_labfile_student *s = &lf->students[i];
		const char *name, *email, *key;
		s->quota_seconds = CL_QUOTA_DEFAULT;
		lf->n_students = i + 1;
		if (!json_is_object(e))
			rc = bad("students", "must be an array of objects");
		if (rc == 0)
			rc = only_keys(e, "students[]", keys);
		if (rc == 0)
			rc = get_string(e, "name", true, &name);
		if (rc == 0)
			rc = cl_name_check("student name", name);
		if (rc == 0 && (rc = get_string(e, "email", false, &email)) == 0 && email)
			rc = cl_email_check(email);
		if (rc == 0 && (rc = get_string(e, "ssh_public_key", false, &key)) == 0 && key)
			rc = cl_student_key_check(key);
		if (rc == 0)
			rc = get_hours(e, "quota_hours", &s->quota_seconds);
		if (rc) {
			cl_error_wrap("lab file: students[%zu]", i);
			break;
		}
		s->name = cl_strdup(name);
		s->email = email ? cl_strdup(email) : NULL;
		s->ssh_public_key = key ? cl_strdup(key) : NULL;
	}
	return rc;
}

static int student_cmp(const void *a, const void *b)
{
	return strcmp((*(const cl_labfile_student *const *)a)->name,
		      (*(const cl_labfile_student *const *)b)->name);
}

/* A name twice (a roster may have 100 000 rows: sorted, not pairwise). */
static int check_unique(const cl_labfile *lf, const char *where)
{
	const cl_labfile_student **v = cl_calloc(lf->n_students + 1, sizeof(*v));
	int rc = 0;

	for (size_t i = 0; i < lf->n_students; i++)
		v[i] = &lf->students[i];
	qsort(v, lf->n_students, sizeof(*v), student_cmp);
	for (size_t i = 1; i < lf->n_students && rc == 0; i++)
		if (strcmp(v[i]->name, v[i - 1]->name) == 0)
			rc = cl_error_set(CL_EINVAL, "%s: student '%s' is listed twice", where,
					  v[i]->name);
	free(v);
	return rc;
}

/* The roster is part of the lab file: read and checked with it, before anything is written. */
static int load_roster(cl_labfile *lf)
{
	cl_roster_row *rows = NULL;
	size_t n = 0;
	cl_buf data = CL_BUF_INIT, errors = CL_BUF_INIT;
	int rc;

	if ((rc = cl_read_file(lf->roster_path, CL_ROSTER_MAX_BYTES, &data))) {
		cl_error_wrap("lab file: \"roster\"");
		goto out;
	}
	if ((rc = cl_roster_parse(data.data, data.len, &rows, &n, &errors))) {
		if (errors.len) {
			while (errors.len && errors.data[errors.len - 1] == '\n')
				errors.data[--errors.len] = '\0';
			rc = cl_error_set(CL_EINVAL, "roster '%s': %s", lf->roster_path, errors.data);
		}
		goto out;
	}
	if (n > CL_ROSTER_MAX_ROWS) {
		rc = cl_error_set(CL_EINVAL, "roster '%s' has more than %d students",
				  lf->roster_path, CL_ROSTER_MAX_ROWS);
		goto out;
	}
	lf->students = cl_calloc(n + 1, sizeof(*lf->students));
	for (size_t i = 0; i < n; i++) {
		cl_labfile_student *s = &lf->students[i];
		s->name = rows[i].name;
		s->email = rows[i].email;
		s->ssh_public_key = rows[i].ssh_public_key;
		s->quota_seconds = rows[i].quota_seconds;
		rows[i].name = rows[i].email = rows[i].ssh_public_key = NULL;
	}
	lf->n_students = n;
	if ((rc = check_unique(lf, "roster")))
		cl_error_wrap("roster '%s'", lf->roster_path);
out:
	cl_roster_free(rows, n);
	cl_buf_free(&data);
	cl_buf_free(&errors);
	return rc;
}

static int parse_extras(json_t *root, cl_lab *lab)
{
	static const char *const ckeys[] = {"packages", "pip", "run", NULL};
	static const char *const gkeys[] = {"install_drivers", "driver", "cuda", "frameworks", NULL};
	json_t *spec = json_object(), *c = json_object_get(root, "customize"),
	       *g = json_object_get(root, "gpu");
	cl_lab_spec tmp = {0};
	int rc = 0;

	if (c) {
		json_t *cc = json_object();
		json_object_set_new(spec, "customize", cc);
		if (!json_is_object(c))
			rc = bad("customize", "must be an object");
		if (rc == 0)
			rc = only_keys(c, "customize", ckeys);
		if (rc == 0)
			rc = get_strings(c, "customize", "packages", true, &tmp.packages,
					 &tmp.n_packages, cc);
		if (rc == 0)
			rc = get_strings(c, "customize", "pip", true, &tmp.pip, &tmp.n_pip, cc);
		if (rc == 0)
			rc = get_strings(c, "customize", "run", false, &tmp.run, &tmp.n_run, cc);
	}
	if (rc == 0 && g) {
		json_t *gg = json_object(), *inst;
		const char *driver = NULL, *cuda = NULL;
		json_object_set_new(spec, "gpu", gg);
		if (!json_is_object(g))
			rc = bad("gpu", "must be an object");
		if (rc == 0)
			rc = only_keys(g, "gpu", gkeys);
		if (rc == 0 && (inst = json_object_get(g, "install_drivers"))) {
			if (!json_is_boolean(inst))
				rc = bad("gpu.install_drivers", "must be true or false");
			else
				json_object_set_new(gg, "install_drivers", json_copy(inst));
		}
		if (rc == 0 && (rc = get_string(g, "driver", false, &driver)) == 0 && driver) {
			if (!word_ok(driver))
				rc = bad("gpu.driver", "is not a driver version like \"550\"");
			json_object_set_new(gg, "driver", json_string(driver));
		}
		if (rc == 0 && (rc = get_string(g, "cuda", false, &cuda)) == 0 && cuda) {
			if (!word_ok(cuda))
				rc = bad("gpu.cuda", "is not a CUDA version like \"12.4\"");
			json_object_set_new(gg, "cuda", json_string(cuda));
		}
		if (rc == 0)
			rc = get_strings(g, "gpu", "frameworks", true, &tmp.frameworks,
					 &tmp.n_frameworks, gg);
		for (size_t i = 0; rc == 0 && i < tmp.n_frameworks; i++)
			if (strcmp(tmp.frameworks[i], "torch") && strcmp(tmp.frameworks[i], "tensorflow"))
				rc = bad("gpu.frameworks", "entries must be \"torch\" or \"tensorflow\"");
		/*
		 * The same checks the build and the verdict make later ("550>x", an
		 * unknown CUDA, a driver too old for it), now: before anything is written.
		 */
		if (rc == 0 && (driver || cuda)) {
			cl_gpu_install gi = {.driver = driver,
					     .cuda = cuda,
					     .frameworks = (const char *const *)tmp.frameworks,
					     .nframeworks = tmp.n_frameworks};
			char **pk = NULL, **run = NULL;
			size_t npk = 0, nrun = 0;
			if ((rc = cl_gpu_cloudconfig_additions(&gi, &pk, &npk, &run, &nrun)))
				cl_error_wrap("lab file: \"gpu\"");
			cl_strv_free(pk, npk);
			cl_strv_free(run, nrun);
		}
	}
	if (rc == 0 && json_object_get(root, "flavor")) {
		const char *flavor = NULL;
		if ((rc = get_string(root, "flavor", true, &flavor)) == 0 && !word_ok(flavor))
			rc = bad("flavor", "is not a flavor name such as \"m1.small\"");
		if (rc == 0)
			json_object_set_new(spec, "flavor", json_string(flavor));
	}
	if (rc == 0 && json_object_size(spec) > 0)
		lab->spec_json = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
	cl_lab_spec_clear(&tmp);
	json_decref(spec);
	return rc;
}

bool cl_listen_is_loopback(const char *addr)
{
	struct in_addr a4;
	return addr && inet_pton(AF_INET, addr, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

static int parse_root(json_t *root, const char *base_dir, cl_labfile *lf)
{
	static const char *const keys[] = {
		"name",	   "size",	  "image",	  "username",	 "scheduled_hours",
		"quota_hours", "price_per_unit_hour", "memory_mib", "vcpus", "listen",
		"public_host", "port_range", "customize", "gpu",	 "students", "flavor",
		"roster",      "listen_public", "idle_minutes", "stop", "lead_minutes",
		"stop_grace_seconds", NULL};
	cl_lab *lab = &lf->lab;
	const char *name, *size, *image, *user, *listen, *host, *roster, *stop;
	char *price = NULL;
	json_t *v;
	int rc;

	if (!json_is_object(root))
		return cl_error_set(CL_EINVAL, "lab file: the top level must be an object");
	if ((rc = only_keys(root, "", keys)))
		return rc;
	if ((rc = get_string(root, "name", true, &name)) || (rc = cl_name_check("lab name", name)) ||
	    (rc = get_string(root, "size", true, &size)) || (rc = cl_name_check("size name", size)) ||
	    (rc = get_string(root, "image", false, &image)) ||
	    (rc = get_string(root, "username", false, &user)) ||
	    (rc = get_string(root, "listen", false, &listen)) ||
	    (rc = get_string(root, "public_host", false, &host)) ||
	    (rc = get_string(root, "roster", false, &roster)))
		return rc;
	if (user && (rc = cl_username_check("username", user)))
		return cl_error_wrap("lab file: \"username\"");
	if (image && (!*image || cl_text_check("image", image, 4096) ||
		      (!cl_image_is_builtin(image) && image[0] != '/')))
		return bad("image", "must be a built-in image (\"tiny\", \"debian-ds\") or an "
				    "absolute path to a qcow2/raw image");
	struct in_addr a4;
	if (listen && inet_pton(AF_INET, listen, &a4) != 1)
		return bad("listen", "must be an IPv4 address such as 127.0.0.1");
	/*
	 * Every forward binds there: the template's SSH (the admin key's), each student's
	 * SSH and Jupyter. Beyond loopback only on purpose, said in the file itself.
	 */
	if ((v = json_object_get(root, "listen_public")) && !json_is_boolean(v))
		return bad("listen_public", "must be true or false");
	if (listen && !cl_listen_is_loopback(listen) && !json_is_true(v)) {
		char *why = cl_aprintf("%s is not a loopback address: the template's and every "
				       "student's SSH and Jupyter would be reachable from other "
				       "machines; add \"listen_public\": true if that is meant",
				       listen);
		rc = bad("listen", why);
		free(why);
		return rc;
	}
	if (host) {
		if (!*host || strlen(host) > 253)
			return bad("public_host", "must be a host name or address");
		for (const char *p = host; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == ':'))
				return bad("public_host", "must be a host name or address");
	}
	lab->name = cl_strdup(name);
	lab->size = cl_strdup(size);
	lab->image = cl_strdup(image ? image : "tiny");
	lab->username = cl_strdup(user ? user : "student");
	lab->listen = cl_strdup(listen ? listen : "127.0.0.1");
	lab->public_host = cl_strdup(host ? host : lab->listen);
	lab->price_micro = 10000;
	if ((rc = get_hours(root, "scheduled_hours", &lab->scheduled_seconds)) ||
	    (rc = get_hours(root, "quota_hours", &lab->quota_seconds)) ||
	    (rc = get_decimal_text(root, "price_per_unit_hour", 6, &price)))
		return rc;
	if (price) {
		rc = cl_parse_price("price_per_unit_hour", price, &lab->price_micro);
		free(price);
		if (rc)
			return rc;
	}
	if ((rc = get_int(root, "memory_mib", 64, 16 << 20, &lab->memory_mib)) ||
	    (rc = get_int(root, "vcpus", 1, 1024, &lab->vcpus)))
		return rc;
	/* What the service does with the VMs (cl_meter.h); the schema's defaults when absent. */
	lf->service = (cl_lab_service){CL_IDLE_MINUTES_DEFAULT, CL_STOP_SHUTDOWN,
				       CL_LEAD_MINUTES_DEFAULT, CL_STOP_GRACE_DEFAULT};
	if ((rc = get_int(root, "idle_minutes", 0, CL_IDLE_MINUTES_MAX, &lf->service.idle_minutes)) ||
	    (rc = get_int(root, "lead_minutes", 0, CL_LEAD_MINUTES_MAX, &lf->service.lead_minutes)) ||
	    (rc = get_int(root, "stop_grace_seconds", 0, CL_STOP_GRACE_MAX,
			  &lf->service.stop_grace_seconds)) ||
	    (rc = get_string(root, "stop", false, &stop)))
		return rc;
	if (stop && cl_stop_mode_parse(stop, &lf->service.stop_mode))
		return bad("stop", "must be \"shutdown\" or \"save\"");
	if ((v = json_object_get(root, "port_range"))) {
		if (!json_is_array(v) || json_array_size(v) != 2 ||
		    !json_is_integer(json_array_get(v, 0)) || !json_is_integer(json_array_get(v, 1)))
			return bad("port_range", "must be [low, high]");
		lab->port_min = json_integer_value(json_array_get(v, 0));
		lab->port_max = json_integer_value(json_array_get(v, 1));
		if (lab->port_min < 1024 || lab->port_max > 65535 || lab->port_min > lab->port_max)
			return bad("port_range", "must be within 1024-65535, low first");
	}
	if ((rc = parse_extras(root, lab)))
		return rc;
	if ((v = json_object_get(root, "students")) && roster)
		return bad("roster", "give \"students\" or \"roster\", not both");
	if (v && ((rc = parse_students(v, lf)) || (rc = check_unique(lf, "lab file"))))
		return rc;
	if (roster) {
		if (!*roster || cl_text_check("roster", roster, 4096))
			return bad("roster", "must be a path to a CSV file");
		lf->roster_path = roster[0] == '/' || !base_dir ? cl_strdup(roster)
								: cl_path_join(base_dir, roster);
		if ((rc = load_roster(lf)))
			return rc;
	}
	return 0;
}

int cl_labfile_parse_buf(const char *json, size_t len, const char *base_dir, cl_labfile *out)
{
	json_error_t err;
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > LABFILE_MAX_BYTES)
		return cl_error_set(CL_EINVAL, "lab file is larger than %u bytes", LABFILE_MAX_BYTES);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return cl_error_set(CL_EINVAL, "lab file: line %d column %d: %s", err.line,
				    err.column, err.text);
	rc = parse_root(root, base_dir, out);
	json_decref(root);
	if (rc)
		cl_labfile_clear(out);
	return rc;
}

int cl_labfile_parse(const char *path, cl_labfile *out)
{
	cl_buf b = CL_BUF_INIT;
	char *dir = cl_strdup(path), *slash = strrchr(dir, '/');
	int rc;

	memset(out, 0, sizeof(*out));
	if (slash)
		*slash = '\0';
	rc = cl_read_file(path, LABFILE_MAX_BYTES, &b);
	if (rc == 0)
		rc = cl_labfile_parse_buf(b.data, b.len, slash ? dir : ".", out);
	free(dir);
	cl_buf_free(&b);
	return rc;
}

int cl_lab_spec_parse(const char *spec_json, cl_lab_spec *out)
{
	json_t *root, *c, *g;
	json_error_t err;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!spec_json)
		return 0;
	root = json_loads(spec_json, 0, &err);
	if (!root)
		return cl_error_set(CL_EFAIL, "stored lab spec is damaged: %s", err.text);
	if ((c = json_object_get(root, "customize"))) {
		rc = get_strings(c, "customize", "packages", true, &out->packages, &out->n_packages,
				 NULL);
		if (rc == 0)
			rc = get_strings(c, "customize", "pip", true, &out->pip, &out->n_pip, NULL);
		if (rc == 0)
			rc = get_strings(c, "customize", "run", false, &out->run, &out->n_run, NULL);
	}
	if (rc == 0 && (g = json_object_get(root, "gpu"))) {
		const char *s = NULL;
		out->gpu_install_drivers = json_is_true(json_object_get(g, "install_drivers"));
		if (get_string(g, "driver", false, &s) == 0 && s)
			out->gpu_driver = cl_strdup(s);
		if (get_string(g, "cuda", false, &s) == 0 && s)
			out->gpu_cuda = cl_strdup(s);
		rc = get_strings(g, "gpu", "frameworks", true, &out->frameworks, &out->n_frameworks,
				 NULL);
	}
	if (rc == 0) {
		const char *s = NULL;
		if (get_string(root, "flavor", false, &s) == 0 && s)
			out->flavor = cl_strdup(s);
	}
	json_decref(root);
	if (rc)
		cl_lab_spec_clear(out);
	return rc;
}
