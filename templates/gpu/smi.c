/* Parsers for nvidia-smi (query CSV, banner, failure messages) and nvcc --version.
 * Pure functions on the text the tools print. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "classlab/cl_gpu.h"
#include "gpu_int.h"
#include "classlab/banned.h"

char *cl_gpu_line_with(const char *text, const char *needle)
{
	const char *p = text ? strstr(text, needle) : NULL, *b, *e;

	if (!p)
		return NULL;
	for (b = p; b > text && b[-1] != '\n'; b--)
		;
	for (e = p; *e && *e != '\n' && *e != '\r'; e++)
		;
	while (b < e && isspace((unsigned char)*b))
		b++;
	return cl_strndup(b, (size_t)(e - b));
}

static const char *find2(const char *out, const char *err, const char *needle, const char **which)
{
	if (out && strstr(out, needle)) {
		*which = out;
		return out;
	}
	if (err && strstr(err, needle)) {
		*which = err;
		return err;
	}
	return NULL;
}

const char *cl_gpu_smi_status_name(cl_gpu_smi_status st)
{
	switch (st) {
	case CL_GPU_SMI_OK: return "ok";
	case CL_GPU_SMI_NOT_INSTALLED: return "not-installed";
	case CL_GPU_SMI_NO_DRIVER: return "no-driver";
	case CL_GPU_SMI_VERSION_MISMATCH: return "version-mismatch";
	case CL_GPU_SMI_NO_DEVICES: return "no-devices";
	case CL_GPU_SMI_BAD_FIELD: return "bad-field";
	case CL_GPU_SMI_FAILED: return "failed";
	}
	return "failed";
}

int cl_gpu_smi_classify(const char *out, const char *err, int exit_status,
			cl_gpu_smi_status *status, char **message)
{
	static const struct {
		const char *needle;
		cl_gpu_smi_status st;
	} known[] = {
		/* nvidia-smi prints these on stdout; shells print "not found" on stderr. */
		{"couldn't communicate with the NVIDIA driver", CL_GPU_SMI_NO_DRIVER},
		{"Driver/library version mismatch", CL_GPU_SMI_VERSION_MISMATCH},
		{"No devices were found", CL_GPU_SMI_NO_DEVICES},
		{"is not a valid field to query", CL_GPU_SMI_BAD_FIELD},
		{"nvidia-smi: command not found", CL_GPU_SMI_NOT_INSTALLED},
		{"nvidia-smi: not found", CL_GPU_SMI_NOT_INSTALLED},
	};
	const char *which = NULL;

	*status = CL_GPU_SMI_OK;
	if (message)
		*message = NULL;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (find2(out, err, known[i].needle, &which)) {
			*status = known[i].st;
			if (message) {
				char *line = cl_gpu_line_with(which, known[i].needle);
				/* The newer mismatch message names the library on the next line. */
				char *lib = known[i].st == CL_GPU_SMI_VERSION_MISMATCH
						    ? cl_gpu_line_with(which, "NVML library version:")
						    : NULL;
				*message = lib ? cl_aprintf("%s (%s)", line, lib) : line;
				if (lib)
					free(line);
				free(lib);
			}
			return 0;
		}
	}
	if (exit_status == 127) {
		*status = CL_GPU_SMI_NOT_INSTALLED;
		if (message)
			*message = cl_strdup("nvidia-smi: command not found");
	} else if (exit_status != 0) {
		*status = CL_GPU_SMI_FAILED;
		if (message) {
			char *l = cl_gpu_line_with(err && *err ? err : out, "");
			*message = l && *l ? cl_aprintf("nvidia-smi exited with %d: %s", exit_status, l)
					   : cl_aprintf("nvidia-smi exited with %d", exit_status);
			free(l);
		}
	}
	return 0;
}

bool cl_gpu_smi_needs_rerun_without_cc(const char *out, const char *err)
{
	const char *which = NULL;
	const char *needle = "Field \"compute_cap\" is not a valid field to query";

	return find2(out, err, needle, &which) != NULL;
}

static char *trim_dup(const char *b, const char *e)
{
	while (b < e && isspace((unsigned char)*b))
		b++;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	return cl_strndup(b, (size_t)(e - b));
}

/* nvidia-smi's placeholders: "[N/A]", "[Not Supported]", "[Unknown Error]", ... */
static bool is_placeholder(const char *s)
{
	return !*s || s[0] == '[' || strcmp(s, "N/A") == 0;
}

static int parse_cc(const char *s, int *major, int *minor)
{
	char *end = NULL;
	long ma = strtol(s, &end, 10);
	if (end == s || *end != '.' || !isdigit((unsigned char)end[1]))
		return -1;
	const char *m = end + 1;
	long mi = strtol(m, &end, 10);
	if (*end || ma < 1 || ma > 99 || mi < 0 || mi > 9)
		return -1;
	*major = (int)ma;
	*minor = (int)mi;
	return 0;
}

void cl_gpu_smi_gpus_free(cl_gpu_smi_gpu *gpus, size_t n)
{
	if (!gpus)
		return;
	for (size_t i = 0; i < n; i++) {
		free(gpus[i].name);
		free(gpus[i].driver_version);
		free(gpus[i].bus_id);
	}
	free(gpus);
}

int cl_gpu_smi_parse_query(const char *csv, bool with_cc, cl_gpu_smi_gpu **out, size_t *n)
{
	const size_t want = with_cc ? 5 : 4;
	cl_gpu_smi_gpu *list = NULL;
	size_t count = 0, lineno = 0;
	const char *p = csv;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!csv)
		return cl_error_set(CL_EINVAL, "no nvidia-smi output");
	while (*p) {
		const char *eol = strchr(p, '\n');
		const char *end = eol ? eol : p + strlen(p);
		char *fields[5] = {NULL};
		size_t nf = 0;
		const char *f = p;

		lineno++;
		{
			char *t = trim_dup(p, end);
			bool blank = !*t;
			free(t);
			if (blank)
				goto next;
		}
		/* GPU names never contain commas; nvidia-smi separates with ", ". */
		while (f <= end && nf < 5) {
			const char *c = memchr(f, ',', (size_t)(end - f));
			const char *fe = c ? c : end;
			fields[nf++] = trim_dup(f, fe);
			if (!c)
				break;
			f = c + 1;
		}
		if (nf != want || memchr(f, ',', (size_t)(end - f))) {
			char *t = trim_dup(p, end);
			rc = cl_error_set(CL_EINVAL,
					  "nvidia-smi line %zu: expected %zu fields, got '%s'", lineno,
					  want, t);
			free(t);
			for (size_t i = 0; i < nf; i++)
				free(fields[i]);
			goto out;
		}
		list = cl_realloc(list, (count + 1) * sizeof(*list));
		cl_gpu_smi_gpu *g = &list[count++];
		memset(g, 0, sizeof(*g));
		g->cc_major = g->cc_minor = -1;
		g->name = fields[0];
		fields[0] = NULL;
		if (!is_placeholder(fields[1])) {
			g->driver_version = fields[1];
			fields[1] = NULL;
		}
		if (!is_placeholder(fields[2])) {
			char *e = NULL;
			unsigned long long mib = strtoull(fields[2], &e, 10);
			while (*e == ' ')
				e++;
			if (e == fields[2] || (*e && strcmp(e, "MiB") != 0)) {
				rc = cl_error_set(CL_EINVAL, "nvidia-smi line %zu: bad memory.total '%s'",
						  lineno, fields[2]);
				for (size_t i = 0; i < nf; i++)
					free(fields[i]);
				goto out;
			}
			g->memory_mib = mib;
		}
		if (!is_placeholder(fields[3])) {
			g->bus_id = fields[3];
			fields[3] = NULL;
		}
		if (with_cc && !is_placeholder(fields[4]) &&
		    parse_cc(fields[4], &g->cc_major, &g->cc_minor) < 0) {
			rc = cl_error_set(CL_EINVAL, "nvidia-smi line %zu: bad compute_cap '%s'", lineno,
					  fields[4]);
			for (size_t i = 0; i < nf; i++)
				free(fields[i]);
			goto out;
		}
		if (g->cc_major < 0 && cl_gpu_cc_from_name(g->name, &g->cc_major, &g->cc_minor))
			g->cc_from_name = true;
		for (size_t i = 0; i < nf; i++)
			free(fields[i]);
next:
		p = eol ? eol + 1 : end;
	}
	*out = list;
	*n = count;
	return 0;
out:
	cl_gpu_smi_gpus_free(list, count);
	return rc;
}

/* The token after "label" up to whitespace or '|'; new or NULL. */
static char *value_after(const char *text, const char *label)
{
	const char *p = text ? strstr(text, label) : NULL, *e;

	if (!p)
		return NULL;
	p += strlen(label);
	while (*p == ' ' || *p == '\t')
		p++;
	for (e = p; *e && !isspace((unsigned char)*e) && *e != '|' && *e != ','; e++)
		;
	return e > p ? cl_strndup(p, (size_t)(e - p)) : NULL;
}

static bool dotted_numeric(const char *s)
{
	bool digit = false;

	for (; *s; s++) {
		if (isdigit((unsigned char)*s))
			digit = true;
		else if (*s != '.' || !digit)
			return false;
		else
			digit = false;
	}
	return digit;
}

static int banner_value(const char *banner, const char *label, const char *what, char **version)
{
	char *v = value_after(banner, label);

	*version = NULL;
	if (!v || !dotted_numeric(v)) {
		/* "CUDA Version: N/A" when the driver has no CUDA (e.g. no libcuda). */
		free(v);
		return cl_error_set(CL_ENOTFOUND, "no %s in the nvidia-smi banner", what);
	}
	*version = v;
	return 0;
}

int cl_gpu_smi_cuda_version(const char *banner, char **version)
{
	return banner_value(banner, "CUDA Version:", "CUDA version", version);
}

int cl_gpu_smi_driver_version(const char *banner, char **version)
{
	return banner_value(banner, "Driver Version:", "driver version", version);
}

int cl_gpu_nvcc_release(const char *out, char **release, char **full)
{
	char *r = value_after(out, ", release ");
	char *v = NULL;

	*release = NULL;
	if (full)
		*full = NULL;
	if (!r || !dotted_numeric(r)) {
		free(r);
		return cl_error_set(CL_ENOTFOUND, "no 'release X.Y' in nvcc --version output%s%s",
				    out && *out ? ": " : "", out && *out ? "unrecognised" : "");
	}
	v = value_after(out, ", V");
	if (v && !dotted_numeric(v)) {
		free(v);
		v = NULL;
	}
	*release = r;
	if (full)
		*full = v;
	else
		free(v);
	return 0;
}
