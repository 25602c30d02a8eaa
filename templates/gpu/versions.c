/* Version facts the GPU verdict relies on: CUDA toolkit -> driver, and
 * product name -> compute capability. Tables, not logic. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "classlab/cl_gpu.h"
#include "classlab/banned.h"

int cl_gpu_version_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		unsigned long x = 0, y = 0;
		while (isdigit((unsigned char)*a))
			x = x * 10 + (unsigned long)(*a++ - '0');
		while (isdigit((unsigned char)*b))
			y = y * 10 + (unsigned long)(*b++ - '0');
		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		else if (*a)
			break;
		if (*b == '.')
			b++;
		else if (*b)
			break;
	}
	return 0;
}

/*
 * Linux x86_64 drivers, from NVIDIA's CUDA Toolkit Release Notes, table
 * "CUDA Toolkit and Corresponding Driver Versions" (toolkit driver of each
 * GA release) and table "CUDA Toolkit and Minimum Required Driver Version for
 * CUDA Minor Version Compatibility":
 *   https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html
 *   https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html
 * Minor version compatibility: 11.x >= 450.80.02, 12.x >= 525.60.13,
 * 13.x >= 580 (its first release, 580.65.06, shipped with 13.0 GA).
 * Update releases (12.4 Update 1: 550.54.15) need no newer driver than the
 * family minimum either, so only GA rows are kept.
 */
static const struct cuda_row {
	const char *cuda;
	const char *toolkit;
} cuda_rows[] = {
	{"11.4", "470.42.01"},	{"11.5", "495.29.05"},	{"11.6", "510.39.01"},
	{"11.7", "515.43.04"},	{"11.8", "520.61.05"},	{"12.0", "525.60.13"},
	{"12.1", "530.30.02"},	{"12.2", "535.54.03"},	{"12.3", "545.23.06"},
	{"12.4", "550.54.14"},	{"12.5", "555.42.02"},	{"12.6", "560.28.03"},
	{"12.8", "570.26"},	{"12.9", "575.51.03"},	{"13.0", "580.65.06"},
};

static const struct family_row {
	int major;
	const char *minimum;
} family_rows[] = {
	{11, "450.80.02"},
	{12, "525.60.13"},
	{13, "580.65.06"},
};

int cl_gpu_cuda_driver(const char *cuda, const char **minimum, const char **toolkit)
{
	int major;
	size_t i;

	*minimum = NULL;
	*toolkit = NULL;
	if (!cuda || !isdigit((unsigned char)cuda[0]))
		return cl_error_set(CL_EINVAL, "invalid CUDA version '%s'", cuda ? cuda : "");
	major = atoi(cuda);
	for (i = 0; i < sizeof(family_rows) / sizeof(family_rows[0]); i++)
		if (family_rows[i].major == major)
			*minimum = family_rows[i].minimum;
	for (i = 0; i < sizeof(cuda_rows) / sizeof(cuda_rows[0]); i++) {
		size_t len = strlen(cuda_rows[i].cuda);
		/* "12.4" and "12.4.131" both match the 12.4 row. */
		if (strncmp(cuda, cuda_rows[i].cuda, len) == 0 &&
		    (cuda[len] == '\0' || cuda[len] == '.'))
			*toolkit = cuda_rows[i].toolkit;
	}
	if (!*minimum)
		return cl_error_set(CL_ENOTFOUND, "no driver table for CUDA '%s'", cuda);
	return 0;
}

/*
 * Product name -> compute capability, from NVIDIA's "CUDA GPUs" list
 * (https://developer.nvidia.com/cuda-gpus). Longest keys first where one is a
 * prefix of another ("A100" before "A10", "K80" vs "K40").
 */
static const struct cc_row {
	const char *key;
	int major, minor;
} cc_rows[] = {
	{"K80", 3, 7},	 {"K40", 3, 5},	  {"K20", 3, 5},   {"K10", 3, 0},   {"M60", 5, 2},
	{"M40", 5, 2},	 {"M10", 5, 0},	  {"P100", 6, 0},  {"P40", 6, 1},   {"P4", 6, 1},
	{"V100", 7, 0},	 {"T4", 7, 5},	  {"A100", 8, 0},  {"A30", 8, 0},   {"A800", 8, 0},
	{"A40", 8, 6},	 {"A16", 8, 6},	  {"A10G", 8, 6},  {"A10", 8, 6},   {"A2", 8, 6},
	{"L40", 8, 9},	 {"L4", 8, 9},	  {"H100", 9, 0},  {"H200", 9, 0},  {"H800", 9, 0},
	{"GH200", 9, 0}, {"B200", 10, 0}, {"B100", 10, 0},
};

/* key appears in name as a whole word: "Tesla T4" yes, "RTX A4000" has no "A40". */
static bool has_word(const char *name, const char *key)
{
	size_t len = strlen(key);
	const char *p = name;

	while ((p = strstr(p, key)) != NULL) {
		bool start = p == name || !isalnum((unsigned char)p[-1]);
		bool end = !isalnum((unsigned char)p[len]);
		if (start && end)
			return true;
		p++;
	}
	return false;
}

bool cl_gpu_cc_from_name(const char *name, int *major, int *minor)
{
	if (!name)
		return false;
	for (size_t i = 0; i < sizeof(cc_rows) / sizeof(cc_rows[0]); i++) {
		/* "NVIDIA A100-SXM4-40GB" splits A100 from its form factor by '-'. */
		if (has_word(name, cc_rows[i].key)) {
			*major = cc_rows[i].major;
			*minor = cc_rows[i].minor;
			return true;
		}
	}
	return false;
}
