/* Parsers for the PyTorch and TensorFlow probes: what the framework sees of
 * the GPU and which CUDA it was built for. Pure functions on text. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "classlab/cl_gpu.h"
#include "gpu_int.h"
#include "classlab/banned.h"

/* The text from needle to the end of its line (new), or NULL. */
static char *from_needle(const char *text, const char *needle)
{
	const char *p = text ? strstr(text, needle) : NULL, *e;

	if (!p)
		return NULL;
	for (e = p; *e && *e != '\n' && *e != '\r'; e++)
		;
	return cl_strndup(p, (size_t)(e - p));
}

static char *json_str_dup(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? cl_strdup(json_string_value(v)) : NULL;
}

static bool module_missing(const char *out, const char *err, const char *module)
{
	char *needle = cl_aprintf("No module named '%s'", module);
	bool missing = (err && strstr(err, needle)) || (out && strstr(out, needle));
	free(needle);
	return missing;
}

void cl_gpu_torch_clear(cl_gpu_torch *t)
{
	if (!t)
		return;
	free(t->version);
	free(t->cuda);
	free(t->device);
	free(t->problem);
	free(t->driver_cuda_found);
	memset(t, 0, sizeof(*t));
}

int cl_gpu_torch_parse(const char *out, const char *err, int exit_status, cl_gpu_torch *t)
{
	json_t *root = NULL;
	json_error_t jerr;
	const char *line = NULL;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (module_missing(out, err, "torch")) {
		t->problem = cl_strdup("ModuleNotFoundError: No module named 'torch'");
		return 0;
	}
	/* torch warns on stderr and still prints the JSON line: keep both. */
	t->problem = from_needle(err, "The NVIDIA driver on your system is too old");
	if (!t->problem)
		t->problem = from_needle(err, "CUDA initialization:");
	if (!t->problem)
		t->problem = from_needle(err, "Found no NVIDIA driver on your system");
	if (t->problem) {
		const char *f = strstr(t->problem, "(found version ");
		if (f) {
			/* The driver's CUDA as an int: 11040 -> "11.4". */
			long v = strtol(f + strlen("(found version "), NULL, 10);
			if (v > 0)
				t->driver_cuda_found = cl_aprintf("%ld.%ld", v / 1000, (v % 1000) / 10);
		}
	}

	/* The probe prints exactly one JSON object line; take the last '{' line. */
	for (const char *p = out; p && *p;) {
		const char *eol = strchr(p, '\n');
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '{')
			line = p;
		p = eol ? eol + 1 : p + strlen(p);
	}
	if (!line) {
		if (exit_status != 0 && !t->problem) {
			char *l = cl_gpu_line_with(err && *err ? err : out, "Error");
			t->problem = l ? l : cl_aprintf("python3 exited with %d", exit_status);
		}
		if (!t->problem)
			rc = cl_error_set(CL_EINVAL, "no JSON line in the PyTorch probe output");
		goto out;
	}
	root = json_loadb(line, strcspn(line, "\n"), 0, &jerr);
	if (!json_is_object(root)) {
		rc = cl_error_set(CL_EINVAL, "cannot parse the PyTorch probe output: %s", jerr.text);
		goto out;
	}
	t->installed = true;
	t->available = json_is_true(json_object_get(root, "available"));
	t->version = json_str_dup(root, "version");
	t->cuda = json_str_dup(root, "cuda");
	t->device = json_str_dup(root, "device");
out:
	json_decref(root);
	if (rc < 0)
		cl_gpu_torch_clear(t);
	return rc;
}

void cl_gpu_tf_clear(cl_gpu_tf *tf)
{
	if (!tf)
		return;
	free(tf->device_name);
	free(tf->pci_bus_id);
	free(tf->cuda_build);
	free(tf->problem);
	memset(tf, 0, sizeof(*tf));
	tf->cc_major = tf->cc_minor = -1;
}

static size_t count_of(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* `key: value` inside physical_device_desc ("name: NVIDIA Tesla K80, ..."); new. */
static char *desc_field(const char *desc, const char *key)
{
	const char *p = strstr(desc, key), *e;
	if (!p)
		return NULL;
	p += strlen(key);
	for (e = p; *e && *e != ',' && *e != '"' && *e != '\n'; e++)
		;
	return e > p ? cl_strndup(p, (size_t)(e - p)) : NULL;
}

int cl_gpu_tf_parse(const char *out, const char *err, int exit_status, cl_gpu_tf *tf)
{
	const char *text = out ? out : "";
	size_t n_physical, n_devlib;

	memset(tf, 0, sizeof(*tf));
	tf->cc_major = tf->cc_minor = -1;
	if (module_missing(out, err, "tensorflow")) {
		tf->problem = cl_strdup("ModuleNotFoundError: No module named 'tensorflow'");
		return 0;
	}
	/* TF 2.x before 2.14 logs dlopen failures this way; newer ones say
	 * "Could not find cuda drivers" / "Cannot dlopen some GPU libraries". */
	tf->problem = from_needle(err, "Could not load dynamic library");
	if (!tf->problem)
		tf->problem = from_needle(err, "Could not find cuda drivers");
	if (!tf->problem)
		tf->problem = from_needle(err, "Cannot dlopen some GPU libraries");

	n_physical = count_of(text, "PhysicalDevice(name='/physical_device:GPU:");
	n_devlib = count_of(text, "device_type: \"GPU\"");
	bool list_form = strstr(text, "PhysicalDevice(") || strstr(text, "[]");
	bool devlib_form = strstr(text, "device_type: \"") != NULL;
	if (!list_form && !devlib_form) {
		if (exit_status != 0 && !tf->problem) {
			char *l = cl_gpu_line_with(err && *err ? err : text, "Error");
			tf->problem = l ? l : cl_aprintf("python3 exited with %d", exit_status);
		}
		if (tf->problem)
			return 0;
		cl_gpu_tf_clear(tf);
		return cl_error_set(CL_EINVAL, "no TensorFlow device list in the probe output");
	}
	tf->installed = true;
	tf->gpu_count = (int)(n_physical > n_devlib ? n_physical : n_devlib);

	const char *desc = strstr(text, "physical_device_desc: \"device: ");
	if (desc) {
		/* "device: 0, name: NVIDIA Tesla K80, pci bus id: 0001:00:00.0, compute capability: 3.7" */
		tf->device_name = desc_field(desc, "name: ");
		tf->pci_bus_id = desc_field(desc, "pci bus id: ");
		char *cc = desc_field(desc, "compute capability: ");
		if (cc) {
			char *e = NULL;
			long ma = strtol(cc, &e, 10);
			long mi = *e == '.' ? strtol(e + 1, NULL, 10) : -1;
			/* Real capabilities are 1.0-99.9; the judgement computes major * 10 + minor. */
			if (ma >= 1 && ma <= 99 && mi >= 0 && mi <= 9) {
				tf->cc_major = (int)ma;
				tf->cc_minor = (int)mi;
			}
			free(cc);
		}
	}

	/* The probe's second line: get_build_info()["cuda_version"], "None" on CPU builds. */
	const char *end_list = strstr(text, "]\n");
	if (list_form && end_list) {
		const char *p = end_list + 2, *e;
		while (*p == ' ')
			p++;
		for (e = p; *e && *e != '\n' && *e != '\r'; e++)
			;
		char *v = cl_strndup(p, (size_t)(e - p));
		bool numeric = isdigit((unsigned char)v[0]);
		for (const char *q = v; *q && numeric; q++)
			numeric = isdigit((unsigned char)*q) || *q == '.';
		if (numeric)
			tf->cuda_build = v;
		else
			free(v);
	}
	return 0;
}
