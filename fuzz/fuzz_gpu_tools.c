/* libFuzzer harness: the parsers of guest GPU tool output (templates/gpu/) and the
 * verdict built from them. Input: SELECTOR EXIT STDOUT NUL STDERR [NUL ...].
 * SELECTOR % 8 picks ('0'..'7' in the seeds): 0 nvidia-smi classify, 1 --query-gpu CSV
 * with compute_cap, 2 without, 3 banner (CUDA/driver version), 4 nvcc --version,
 * 5 PyTorch probe, 6 TensorFlow probe, 7 the whole probe -> judge -> report pipeline
 * with a fake guest whose answers are the NUL-separated parts in turn. EXIT is the
 * byte value of the exit status ('\177' = 127). */
#include <stdio.h>

#include "classlab/cl_gpu.h"
#include "fuzz_common.h"

#define MAX_PARTS 16

typedef struct fake_guest {
	char **parts;
	size_t n, next;
	const uint8_t *exits; /* one exit byte per answer, reused cyclically */
	size_t nexits;
	size_t calls;
} fake_guest;

static int fake_exec(void *ctx, const char *command, int timeout_ms, cl_buf *out, cl_buf *err,
		     int *exit_status)
{
	fake_guest *g = ctx;
	(void)command;
	(void)timeout_ms;
	if (g->next + 1 >= g->n)
		return cl_error_set(CL_EUNAVAIL, "fake guest has no more answers");
	cl_buf_puts(out, g->parts[g->next++]);
	cl_buf_puts(err, g->parts[g->next++]);
	*exit_status = g->nexits ? g->exits[g->calls % g->nexits] : 0;
	g->calls++;
	return 0;
}

static void pipeline(uint8_t req_byte, const uint8_t *exits, size_t nexits, char **parts,
		     size_t n)
{
	static const char *const fw_all[] = {"torch", "tensorflow"};
	static const char *const cudas[] = {NULL, "12.4", "11.8", "12.2", "10.0", "13.0", "x"};
	cl_gpu_requirements req = {
		.gpu_required = (req_byte & 1) != 0,
		.cuda = cudas[(req_byte >> 1) % (sizeof(cudas) / sizeof(cudas[0]))],
		.frameworks = (req_byte & 0x40) ? fw_all + 1 : fw_all,
		.nframeworks = (req_byte >> 4) % 3,
	};
	if ((req_byte & 0x40) && req.nframeworks > 1)
		req.nframeworks = 1;
	fake_guest g = {parts, n, 0, exits, nexits, 0};
	cl_gpu_facts facts;
	cl_gpu_report *report = NULL;

	if (cl_gpu_collect(fake_exec, &g, &req, &facts) == 0) {
		if (cl_gpu_judge(&facts, &req, &report) == 0) {
			FZ_CHECK(report != NULL);
			json_t *js = cl_gpu_report_json(report);
			FZ_CHECK(js != NULL);
			json_decref(js);
			cl_gpu_report_free(report);
		}
		cl_gpu_facts_clear(&facts);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *parts[MAX_PARTS];
	char *a = NULL, *b = NULL;

	if (size < 2)
		return 0;
	uint8_t sel = data[0], exit_byte = data[1];
	int exit_status = exit_byte;
	fz_split(data + 2, size - 2, parts, MAX_PARTS);
	const char *out = parts[0], *err = parts[1];

	switch (sel % 8) {
	case 0: {
		cl_gpu_smi_status st;
		cl_gpu_smi_classify(out, err, exit_status, &st, &a);
		FZ_CHECK(cl_gpu_smi_status_name(st) != NULL);
		free(a);
		a = NULL;
		cl_gpu_smi_classify(out, err, exit_status, &st, NULL);
		(void)cl_gpu_smi_needs_rerun_without_cc(out, err);
		break;
	}
	case 1:
	case 2: {
		cl_gpu_smi_gpu *gpus = NULL;
		size_t n = 0;
		if (cl_gpu_smi_parse_query(out, sel % 8 == 1, &gpus, &n) == 0) {
			FZ_CHECK(n == 0 || gpus != NULL);
			for (size_t i = 0; i < n; i++) {
				FZ_CHECK(gpus[i].name != NULL);
				FZ_CHECK((gpus[i].cc_major < 0) == (gpus[i].cc_minor < 0));
			}
		}
		cl_gpu_smi_gpus_free(gpus, n);
		break;
	}
	case 3:
		if (cl_gpu_smi_cuda_version(out, &a) == 0) {
			const char *min = NULL, *tk = NULL;
			FZ_CHECK(a && *a);
			(void)cl_gpu_cuda_driver(a, &min, &tk);
		}
		if (cl_gpu_smi_driver_version(out, &b) == 0)
			FZ_CHECK(b && *b && cl_gpu_version_cmp(b, b) == 0);
		break;
	case 4:
		if (cl_gpu_nvcc_release(out, &a, &b) == 0)
			FZ_CHECK(a && *a);
		free(a);
		free(b);
		a = b = NULL;
		(void)cl_gpu_nvcc_release(out, &a, NULL);
		break;
	case 5: {
		cl_gpu_torch t;
		if (cl_gpu_torch_parse(out, err, exit_status, &t) == 0)
			cl_gpu_torch_clear(&t);
		else
			FZ_CHECK(t.version == NULL && t.problem == NULL);
		break;
	}
	case 6: {
		cl_gpu_tf tf;
		if (cl_gpu_tf_parse(out, err, exit_status, &tf) == 0)
			cl_gpu_tf_clear(&tf);
		break;
	}
	case 7: {
		int major, minor;
		/* Version helpers on whatever came in, then the whole pipeline. */
		(void)cl_gpu_version_cmp(out, err);
		(void)cl_gpu_cc_from_name(out, &major, &minor);
		pipeline(exit_byte, (const uint8_t *)err, strlen(err), parts + 2, MAX_PARTS - 2);
		break;
	}
	}
	free(a);
	free(b);
	fz_free_parts(parts, MAX_PARTS);
	cl_error_clear();
	return 0;
}
