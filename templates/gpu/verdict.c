/* The GPU verdict: runs the probes through a caller's exec callback, judges
 * the facts against what the lab needs, and formats the report. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classlab/cl_gpu.h"
#include "classlab/banned.h"

#define SMI_TIMEOUT_MS 30000
#define NVCC_TIMEOUT_MS 20000
#define PY_TIMEOUT_MS 180000 /* importing tensorflow on a cold disk is slow */

/* ------------------------------------------------------------ collect */

void cl_gpu_facts_clear(cl_gpu_facts *f)
{
	if (!f)
		return;
	free(f->smi_message);
	cl_gpu_smi_gpus_free(f->gpus, f->ngpus);
	free(f->driver_version);
	free(f->driver_cuda);
	free(f->nvcc_release);
	cl_gpu_torch_clear(&f->torch);
	cl_gpu_tf_clear(&f->tf);
	memset(f, 0, sizeof(*f));
	f->tf.cc_major = f->tf.cc_minor = -1;
}

static int run(cl_gpu_exec_fn exec, void *ctx, const char *cmd, int timeout_ms, cl_buf *out,
	       cl_buf *err, int *status)
{
	cl_buf_reset(out);
	cl_buf_reset(err);
	*status = -1;
	int rc = exec(ctx, cmd, timeout_ms, out, err, status);
	if (rc < 0)
		return cl_error_wrap("cannot run '%s' in the guest", cmd);
	return 0;
}

static int collect_smi(cl_gpu_exec_fn exec, void *ctx, cl_gpu_facts *f, cl_buf *out, cl_buf *err)
{
	int status, rc;
	bool with_cc = true;

	rc = run(exec, ctx, CL_GPU_SMI_QUERY, SMI_TIMEOUT_MS, out, err, &status);
	if (rc < 0)
		return rc;
	if (cl_gpu_smi_needs_rerun_without_cc(cl_buf_str(out), cl_buf_str(err))) {
		/* Drivers before R510 do not know compute_cap. */
		with_cc = false;
		rc = run(exec, ctx, CL_GPU_SMI_QUERY_NO_CC, SMI_TIMEOUT_MS, out, err, &status);
		if (rc < 0)
			return rc;
	}
	cl_gpu_smi_classify(cl_buf_str(out), cl_buf_str(err), status, &f->smi_status,
			    &f->smi_message);
	if (f->smi_status != CL_GPU_SMI_OK)
		return 0;
	if (cl_gpu_smi_parse_query(cl_buf_str(out), with_cc, &f->gpus, &f->ngpus) < 0) {
		f->smi_status = CL_GPU_SMI_FAILED;
		f->smi_message = cl_strdup(cl_error_msg());
		cl_error_clear();
		return 0;
	}
	if (f->ngpus == 0) {
		f->smi_status = CL_GPU_SMI_NO_DEVICES;
		f->smi_message = cl_strdup("nvidia-smi listed no GPU");
		return 0;
	}
	if (f->gpus[0].driver_version)
		f->driver_version = cl_strdup(f->gpus[0].driver_version);

	rc = run(exec, ctx, "nvidia-smi", SMI_TIMEOUT_MS, out, err, &status);
	if (rc < 0)
		return rc;
	if (status == 0) {
		if (cl_gpu_smi_cuda_version(cl_buf_str(out), &f->driver_cuda) < 0)
			cl_error_clear();
		if (!f->driver_version &&
		    cl_gpu_smi_driver_version(cl_buf_str(out), &f->driver_version) < 0)
			cl_error_clear();
	}
	return 0;
}

int cl_gpu_collect(cl_gpu_exec_fn exec, void *ctx, const cl_gpu_requirements *req,
		   cl_gpu_facts *f)
{
	cl_buf out = CL_BUF_INIT, err = CL_BUF_INIT;
	int status, rc = 0;

	memset(f, 0, sizeof(*f));
	f->tf.cc_major = f->tf.cc_minor = -1;
	if (!exec || !req)
		return cl_error_set(CL_EINVAL, "cannot probe the guest GPU: no exec callback");
	if (!req->gpu_required)
		return 0; /* nothing to probe on a CPU lab */
	f->probed = true;

	rc = collect_smi(exec, ctx, f, &out, &err);
	if (rc < 0)
		goto out;

	/* nvcc is not on PATH for non-login shells after a CUDA repo install. */
	rc = run(exec, ctx, "PATH=\"$PATH:/usr/local/cuda/bin\" nvcc --version", NVCC_TIMEOUT_MS,
		 &out, &err, &status);
	if (rc < 0)
		goto out;
	if (status == 0 && cl_gpu_nvcc_release(cl_buf_str(&out), &f->nvcc_release, NULL) < 0)
		cl_error_clear();

	for (size_t i = 0; i < req->nframeworks; i++) {
		const char *fw = req->frameworks[i];
		bool torch = strcmp(fw, "torch") == 0;
		if (!torch && strcmp(fw, "tensorflow") != 0) {
			rc = cl_error_set(CL_EINVAL, "unknown framework '%s' (torch, tensorflow)", fw);
			goto out;
		}
		rc = run(exec, ctx, torch ? CL_GPU_TORCH_PROBE : CL_GPU_TF_PROBE, PY_TIMEOUT_MS,
			 &out, &err, &status);
		if (rc < 0)
			goto out;
		if (torch) {
			cl_gpu_torch_clear(&f->torch);
			f->torch_probed = true;
			if (cl_gpu_torch_parse(cl_buf_str(&out), cl_buf_str(&err), status,
					       &f->torch) < 0) {
				f->torch.problem = cl_strdup(cl_error_msg());
				cl_error_clear();
			}
		} else {
			cl_gpu_tf_clear(&f->tf);
			f->tf_probed = true;
			if (cl_gpu_tf_parse(cl_buf_str(&out), cl_buf_str(&err), status, &f->tf) < 0) {
				f->tf.problem = cl_strdup(cl_error_msg());
				cl_error_clear();
			}
		}
	}
out:
	if (rc < 0)
		cl_gpu_facts_clear(f);
	cl_buf_free(&out);
	cl_buf_free(&err);
	return rc;
}

/* --------------------------------------------------------------- judge */

const char *cl_gpu_check_status_name(cl_gpu_check_status st)
{
	switch (st) {
	case CL_GPU_PASS: return "PASS";
	case CL_GPU_FAIL: return "FAIL";
	case CL_GPU_SKIPPED: return "SKIPPED";
	}
	return "FAIL";
}

static cl_gpu_check *add(cl_gpu_report *r, const char *id, const char *name,
			 cl_gpu_check_status st, const char *advice, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static cl_gpu_check *add(cl_gpu_report *r, const char *id, const char *name,
			 cl_gpu_check_status st, const char *advice, const char *fmt, ...)
{
	cl_buf b = CL_BUF_INIT;
	va_list ap;

	r->checks = cl_realloc(r->checks, (r->nchecks + 1) * sizeof(*r->checks));
	cl_gpu_check *c = &r->checks[r->nchecks++];
	va_start(ap, fmt);
	cl_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	c->id = cl_strdup(id);
	c->name = cl_strdup(name);
	c->status = st;
	c->reason = cl_buf_detach(&b);
	c->advice = advice ? cl_strdup(advice) : NULL;
	return c;
}

/* "550.54.14" -> "550": the branch an Ubuntu package is named after. */
static char *branch_of(const char *driver)
{
	size_t n = strcspn(driver, ".");
	return cl_strndup(driver, n);
}

/* The CUDA the lab is judged against: wanted, else the toolkit installed. */
static const char *target_cuda(const cl_gpu_facts *f, const cl_gpu_requirements *req)
{
	if (req->cuda)
		return req->cuda;
	if (f->nvcc_release)
		return f->nvcc_release;
	/* No toolkit: judge the CUDA the frameworks bundle. */
	if (f->torch_probed && f->torch.cuda)
		return f->torch.cuda;
	if (f->tf_probed && f->tf.cuda_build)
		return f->tf.cuda_build;
	return NULL;
}

static void check_visible(cl_gpu_report *r, const cl_gpu_facts *f)
{
	const char *id = "gpu-visible", *name = "GPU visible in the VM";
	const char *msg = f->smi_message ? f->smi_message : "";

	switch (f->smi_status) {
	case CL_GPU_SMI_OK: {
		const cl_gpu_smi_gpu *g = &f->gpus[0];
		add(r, id, name, CL_GPU_PASS, NULL, "%zu GPU%s: %s (%llu MiB, %s)", f->ngpus,
		    f->ngpus == 1 ? "" : "s", g->name, (unsigned long long)g->memory_mib,
		    g->bus_id ? g->bus_id : "bus id N/A");
		return;
	}
	case CL_GPU_SMI_NO_DEVICES:
		add(r, id, name, CL_GPU_FAIL,
		    "attach the GPU to the VM (PCI hostdev) and check `lspci -nn | grep -i nvidia`; "
		    "a Kepler GPU (K80) needs the 470 driver, later branches do not list it",
		    "%s", msg);
		return;
	case CL_GPU_SMI_NOT_INSTALLED:
		add(r, id, name, CL_GPU_FAIL,
		    "install the NVIDIA driver (enable 'install GPU drivers' for the template)",
		    "cannot look: %s", msg);
		return;
	default:
		add(r, id, name, CL_GPU_FAIL, "fix the driver first (see driver-loaded)",
		    "cannot look: the NVIDIA driver is not working");
		return;
	}
}

static void check_driver(cl_gpu_report *r, const cl_gpu_facts *f)
{
	const char *id = "driver-loaded", *name = "NVIDIA driver loaded";
	const char *msg = f->smi_message ? f->smi_message : "";

	switch (f->smi_status) {
	case CL_GPU_SMI_OK:
		add(r, id, name, CL_GPU_PASS, NULL, "driver %s loaded%s%s%s",
		    f->driver_version ? f->driver_version : "(version N/A)",
		    f->driver_cuda ? " (runs CUDA <= " : "", f->driver_cuda ? f->driver_cuda : "",
		    f->driver_cuda ? ")" : "");
		return;
	case CL_GPU_SMI_NOT_INSTALLED:
		add(r, id, name, CL_GPU_FAIL,
		    "install the NVIDIA driver (nvidia-headless-<branch>-server) and reboot", "%s",
		    msg);
		return;
	case CL_GPU_SMI_NO_DRIVER:
		add(r, id, name, CL_GPU_FAIL,
		    "load the kernel module: reboot after the install, check `dkms status` and that "
		    "Secure Boot is not refusing it (`mokutil --sb-state`)",
		    "%s", msg);
		return;
	case CL_GPU_SMI_VERSION_MISMATCH:
		add(r, id, name, CL_GPU_FAIL,
		    "the loaded kernel module and the user-space libraries differ (driver upgraded "
		    "without reboot): reboot the VM",
		    "%s", msg);
		return;
	case CL_GPU_SMI_NO_DEVICES:
		add(r, id, name, CL_GPU_FAIL,
		    "the module is loaded but drives no GPU: check the GPU is attached and "
		    "supported by this driver branch",
		    "%s", msg);
		return;
	default:
		add(r, id, name, CL_GPU_FAIL, "run nvidia-smi in the VM and read its error", "%s",
		    msg);
		return;
	}
}

/* Adds a driver-vs-cuda style verdict for a given CUDA; returns whether it passes. */
static bool driver_supports(const cl_gpu_facts *f, const char *cuda, cl_buf *reason,
			    cl_buf *advice)
{
	const char *minimum = NULL, *toolkit = NULL;

	if (cl_gpu_cuda_driver(cuda, &minimum, &toolkit) < 0) {
		cl_error_clear();
		cl_buf_printf(reason, "no driver table for CUDA %s", cuda);
		cl_buf_puts(advice, "use CUDA 11.x, 12.x or 13.x");
		return false;
	}
	if (!f->driver_version) {
		cl_buf_printf(reason, "CUDA %s needs driver >= %s; no driver loaded", cuda, minimum);
		cl_buf_printf(advice, "install driver >= %s", minimum);
		return false;
	}
	if (cl_gpu_version_cmp(f->driver_version, minimum) < 0) {
		char *branch = branch_of(toolkit ? toolkit : minimum);
		cl_buf_printf(reason, "driver %s is too old for CUDA %s (needs >= %s)",
			      f->driver_version, cuda, minimum);
		cl_buf_printf(advice, "install driver >= %s (e.g. nvidia-headless-%s-server)", minimum,
			      branch);
		free(branch);
		return false;
	}
	cl_buf_printf(reason, "driver %s supports CUDA %s (needs >= %s)", f->driver_version, cuda,
		      minimum);
	if (toolkit && cl_gpu_version_cmp(f->driver_version, toolkit) < 0)
		cl_buf_printf(reason, "; older than the toolkit's %s: minor version "
				      "compatibility, PTX JIT of newer code may fail",
			      toolkit);
	return true;
}

static void check_driver_cuda(cl_gpu_report *r, const cl_gpu_facts *f, const char *cuda)
{
	const char *id = "driver-vs-cuda", *name = "driver supports the CUDA toolkit";
	cl_buf reason = CL_BUF_INIT, advice = CL_BUF_INIT;

	if (!cuda) {
		add(r, id, name, CL_GPU_SKIPPED, NULL,
		    "no CUDA version asked for, no toolkit (nvcc), no framework CUDA");
		return;
	}
	bool ok = driver_supports(f, cuda, &reason, &advice);
	if (!ok && atoi(cuda) >= 12 && f->ngpus > 0 && f->gpus[0].cc_major == 3) {
		/* A newer driver would not help: R495+ dropped Kepler. */
		cl_buf_reset(&advice);
		cl_buf_puts(&advice, "a Kepler GPU cannot run CUDA 12: see compute-capability");
	}
	add(r, id, name, ok ? CL_GPU_PASS : CL_GPU_FAIL, advice.len ? cl_buf_str(&advice) : NULL,
	    "%s", cl_buf_str(&reason));
	cl_buf_free(&reason);
	cl_buf_free(&advice);
}

static void check_toolkit(cl_gpu_report *r, const cl_gpu_facts *f, const char *wanted)
{
	const char *id = "cuda-toolkit", *name = "CUDA toolkit installed";
	char *pkg = NULL;

	if (!wanted)
		return;
	pkg = cl_aprintf("install cuda-toolkit-%.*s-%s from NVIDIA's apt repository",
			 (int)strcspn(wanted, "."), wanted,
			 strchr(wanted, '.') ? strchr(wanted, '.') + 1 : "0");
	if (!f->nvcc_release)
		add(r, id, name, CL_GPU_FAIL, pkg, "nvcc not found (wanted CUDA %s)", wanted);
	else if (cl_gpu_version_cmp(f->nvcc_release, wanted) != 0)
		add(r, id, name, CL_GPU_FAIL, pkg, "nvcc is CUDA %s, the lab wants %s",
		    f->nvcc_release, wanted);
	else
		add(r, id, name, CL_GPU_PASS, NULL, "nvcc release %s", f->nvcc_release);
	free(pkg);
}

/* Lowest compute capability a CUDA major release still builds for
 * (release notes: CUDA 11 dropped 3.0/3.2, 12 dropped Kepler 3.5/3.7,
 * 13 dropped Maxwell, Pascal and Volta). Scaled by 10: 3.5 -> 35. */
static int cc_floor(int cuda_major)
{
	if (cuda_major <= 10)
		return 30;
	if (cuda_major == 11)
		return 35;
	if (cuda_major == 12)
		return 50;
	return 75;
}

/* The first CUDA that knows an architecture (8.0: 11.0, 8.6: 11.1,
 * 8.9/9.0: 11.8, Blackwell 10.0/12.0: 12.8). NULL: any. */
static const char *cc_needs_cuda(int cc)
{
	if (cc >= 100)
		return "12.8";
	if (cc >= 89)
		return "11.8";
	if (cc >= 86)
		return "11.1";
	if (cc >= 80)
		return "11.0";
	return NULL;
}

static void check_cc(cl_gpu_report *r, const cl_gpu_facts *f, const char *cuda)
{
	const char *id = "compute-capability", *name = "GPU supported by the CUDA version";
	int major = -1, minor = -1;
	const char *gpu = NULL;

	if (f->ngpus > 0) {
		major = f->gpus[0].cc_major;
		minor = f->gpus[0].cc_minor;
		gpu = f->gpus[0].name;
	}
	if (major < 0 && f->tf.cc_major >= 0) {
		major = f->tf.cc_major;
		minor = f->tf.cc_minor;
		gpu = f->tf.device_name;
	}
	if (!gpu && f->smi_status != CL_GPU_SMI_OK) {
		add(r, id, name, CL_GPU_FAIL, "fix the driver first (see driver-loaded)",
		    "no GPU to look at");
		return;
	}
	if (major < 0) {
		add(r, id, name, CL_GPU_SKIPPED, NULL, "compute capability of '%s' unknown",
		    gpu ? gpu : "?");
		return;
	}
	if (!cuda) {
		add(r, id, name, CL_GPU_SKIPPED, NULL,
		    "%s has compute capability %d.%d; no CUDA version to check it against", gpu,
		    major, minor);
		return;
	}
	int cc = major * 10 + minor, cmaj = atoi(cuda), floor = cc_floor(cmaj);
	if (cc < floor) {
		const char *advice =
			major == 3 ? "use CUDA 11.x (<= 11.8) and driver 470, the last branch for Kepler"
			: cmaj >= 13 ? "use CUDA 12.x: CUDA 13 dropped Maxwell, Pascal and Volta"
				     : "use CUDA 10.2 or older";
		add(r, id, name, CL_GPU_FAIL, advice,
		    "%s is compute capability %d.%d; CUDA %s needs >= %d.%d", gpu, major, minor, cuda,
		    floor / 10, floor % 10);
		return;
	}
	const char *need = cc_needs_cuda(cc);
	if (need && cl_gpu_version_cmp(cuda, need) < 0) {
		char *advice = cl_aprintf("use CUDA >= %s", need);
		add(r, id, name, CL_GPU_FAIL, advice,
		    "%s is compute capability %d.%d, which CUDA %s does not know (needs >= %s)", gpu,
		    major, minor, cuda, need);
		free(advice);
		return;
	}
	add(r, id, name, CL_GPU_PASS, NULL, "%s (compute capability %d.%d%s) is supported by CUDA %s",
	    gpu, major, minor, f->ngpus > 0 && f->gpus[0].cc_from_name ? ", from its name" : "",
	    cuda);
}

static char *torch_install_advice(const char *cuda)
{
	if (!cuda)
		return cl_strdup("pip install torch (a CUDA build)");
	return cl_aprintf("pip install torch --index-url https://download.pytorch.org/whl/cu%.*s%s",
			  (int)strcspn(cuda, "."), cuda,
			  strchr(cuda, '.') ? strchr(cuda, '.') + 1 : "");
}

static void check_torch(cl_gpu_report *r, const cl_gpu_facts *f, const char *cuda)
{
	const char *id = "framework-torch", *name = "PyTorch uses the GPU";
	const cl_gpu_torch *t = &f->torch;
	char *advice = NULL;

	if (!f->torch_probed) {
		add(r, id, name, CL_GPU_FAIL, "run the PyTorch probe", "PyTorch was not probed");
		return;
	}
	if (!t->installed) {
		advice = torch_install_advice(cuda);
		add(r, id, name, CL_GPU_FAIL, advice, "%s",
		    t->problem ? t->problem : "PyTorch is not installed");
		goto out;
	}
	if (!t->cuda) {
		advice = torch_install_advice(cuda);
		add(r, id, name, CL_GPU_FAIL, advice, "torch %s is a CPU-only build",
		    t->version ? t->version : "?");
		goto out;
	}
	if (!t->available) {
		if (t->driver_cuda_found) {
			const char *minimum = NULL, *toolkit = NULL;
			if (cl_gpu_cuda_driver(t->cuda, &minimum, &toolkit) < 0)
				cl_error_clear();
			advice = minimum ? cl_aprintf("install driver >= %s, or a torch built for "
						      "CUDA <= %s",
						      minimum, t->driver_cuda_found)
					 : cl_aprintf("install a torch built for CUDA <= %s",
						      t->driver_cuda_found);
			add(r, id, name, CL_GPU_FAIL, advice,
			    "torch %s (CUDA %s) cannot use the GPU: the driver runs CUDA <= %s",
			    t->version ? t->version : "?", t->cuda, t->driver_cuda_found);
		} else {
			add(r, id, name, CL_GPU_FAIL, "fix the driver first (see driver-loaded)",
			    "torch %s (CUDA %s) sees no GPU%s%s", t->version ? t->version : "?",
			    t->cuda, t->problem ? ": " : "", t->problem ? t->problem : "");
		}
		goto out;
	}
	cl_buf reason = CL_BUF_INIT, adv = CL_BUF_INIT;
	if (!driver_supports(f, t->cuda, &reason, &adv)) {
		add(r, id, name, CL_GPU_FAIL, cl_buf_str(&adv), "torch %s: %s",
		    t->version ? t->version : "?", cl_buf_str(&reason));
	} else {
		add(r, id, name, CL_GPU_PASS, NULL, "torch %s (CUDA %s) sees %s",
		    t->version ? t->version : "?", t->cuda, t->device ? t->device : "a GPU");
	}
	cl_buf_free(&reason);
	cl_buf_free(&adv);
out:
	free(advice);
}

static void check_tf(cl_gpu_report *r, const cl_gpu_facts *f)
{
	const char *id = "framework-tensorflow", *name = "TensorFlow uses the GPU";
	const cl_gpu_tf *tf = &f->tf;

	if (!f->tf_probed) {
		add(r, id, name, CL_GPU_FAIL, "run the TensorFlow probe", "TensorFlow was not probed");
		return;
	}
	if (!tf->installed) {
		add(r, id, name, CL_GPU_FAIL, "pip install 'tensorflow[and-cuda]'", "%s",
		    tf->problem ? tf->problem : "TensorFlow is not installed");
		return;
	}
	if (tf->gpu_count == 0) {
		add(r, id, name, CL_GPU_FAIL,
		    "install a GPU build (pip install 'tensorflow[and-cuda]') with the CUDA and "
		    "cuDNN it needs: https://www.tensorflow.org/install/pip",
		    "TensorFlow lists no GPU%s%s", tf->problem ? ": " : "",
		    tf->problem ? tf->problem : "");
		return;
	}
	if (tf->cuda_build) {
		cl_buf reason = CL_BUF_INIT, adv = CL_BUF_INIT;
		bool ok = driver_supports(f, tf->cuda_build, &reason, &adv);
		if (!ok)
			add(r, id, name, CL_GPU_FAIL, cl_buf_str(&adv), "TensorFlow built for CUDA %s: %s",
			    tf->cuda_build, cl_buf_str(&reason));
		cl_buf_free(&reason);
		cl_buf_free(&adv);
		if (!ok)
			return;
	}
	add(r, id, name, CL_GPU_PASS, NULL, "TensorFlow sees %d GPU%s%s%s%s%s", tf->gpu_count,
	    tf->gpu_count == 1 ? "" : "s", tf->device_name ? ": " : "",
	    tf->device_name ? tf->device_name : "", tf->cuda_build ? ", built for CUDA " : "",
	    tf->cuda_build ? tf->cuda_build : "");
}

int cl_gpu_judge(const cl_gpu_facts *f, const cl_gpu_requirements *req, cl_gpu_report **out)
{
	static const char *const ids[][2] = {
		{"gpu-visible", "GPU visible in the VM"},
		{"driver-loaded", "NVIDIA driver loaded"},
		{"driver-vs-cuda", "driver supports the CUDA toolkit"},
		{"compute-capability", "GPU supported by the CUDA version"},
	};
	cl_gpu_report *r = NULL;

	*out = NULL;
	if (!f || !req)
		return cl_error_set(CL_EINVAL, "cannot judge the GPU: no facts or requirements");
	for (size_t i = 0; i < req->nframeworks; i++)
		if (strcmp(req->frameworks[i], "torch") != 0 &&
		    strcmp(req->frameworks[i], "tensorflow") != 0)
			return cl_error_set(CL_EINVAL, "unknown framework '%s' (torch, tensorflow)",
					    req->frameworks[i]);
	r = cl_calloc(1, sizeof(*r));
	if (!req->gpu_required) {
		for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
			add(r, ids[i][0], ids[i][1], CL_GPU_SKIPPED, NULL, "lab size has no GPU");
		for (size_t i = 0; i < req->nframeworks; i++) {
			bool torch = strcmp(req->frameworks[i], "torch") == 0;
			add(r, torch ? "framework-torch" : "framework-tensorflow",
			    torch ? "PyTorch uses the GPU" : "TensorFlow uses the GPU", CL_GPU_SKIPPED,
			    NULL, "lab size has no GPU");
		}
		r->pass = true;
		*out = r;
		return 0;
	}
	const char *cuda = target_cuda(f, req);
	check_visible(r, f);
	check_driver(r, f);
	check_driver_cuda(r, f, cuda);
	check_toolkit(r, f, req->cuda);
	check_cc(r, f, cuda);
	for (size_t i = 0; i < req->nframeworks; i++) {
		if (strcmp(req->frameworks[i], "torch") == 0)
			check_torch(r, f, cuda);
		else
			check_tf(r, f);
	}
	r->pass = true;
	for (size_t i = 0; i < r->nchecks; i++)
		if (r->checks[i].status == CL_GPU_FAIL)
			r->pass = false;
	*out = r;
	return 0;
}

void cl_gpu_report_free(cl_gpu_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nchecks; i++) {
		free(r->checks[i].id);
		free(r->checks[i].name);
		free(r->checks[i].reason);
		free(r->checks[i].advice);
	}
	free(r->checks);
	free(r);
}

json_t *cl_gpu_report_json(const cl_gpu_report *r)
{
	json_t *checks = json_array();

	for (size_t i = 0; i < r->nchecks; i++) {
		const cl_gpu_check *c = &r->checks[i];
		json_t *o = json_object();
		json_object_set_new(o, "id", json_string(c->id));
		json_object_set_new(o, "name", json_string(c->name));
		json_object_set_new(o, "status", json_string(cl_gpu_check_status_name(c->status)));
		json_object_set_new(o, "reason", json_string(c->reason));
		json_object_set_new(o, "advice", c->advice ? json_string(c->advice) : json_null());
		json_array_append_new(checks, o);
	}
	json_t *root = json_object();
	json_object_set_new(root, "pass", json_boolean(r->pass));
	json_object_set_new(root, "checks", checks);
	return root;
}
