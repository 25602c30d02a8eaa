/* The GPU parsers on recorded tool output, the version tables, and the
 * "install GPU drivers" cloud-config additions. */
#include <stdlib.h>
#include <string.h>

#include "classlab/cl_gpu.h"
#include "tap.h"
#include "classlab/banned.h"

static char *fixture(const char *c, const char *file)
{
	char *path = cl_aprintf("%s/gpu/%s/%s", CL_TEST_DATA, c, file);
	cl_buf b = CL_BUF_INIT;
	if (cl_read_file(path, 1 << 20, &b) < 0)
		cl_buf_puts(&b, "");
	free(path);
	return cl_buf_detach(&b);
}

static void test_smi(void)
{
	cl_gpu_smi_gpu *g = NULL;
	size_t n = 0;
	char *s = fixture("h100-550-cuda12.4", "smi-query.out"), *v = NULL;

	CHECK_INT(cl_gpu_smi_parse_query(s, true, &g, &n), 0);
	CHECK_INT(n, 1);
	CHECK_STR(g[0].name, "NVIDIA H100 80GB HBM3");
	CHECK_STR(g[0].driver_version, "550.54.15");
	CHECK_INT(g[0].memory_mib, 81559);
	CHECK_STR(g[0].bus_id, "00000000:18:00.0");
	CHECK_INT(g[0].cc_major, 9);
	CHECK_INT(g[0].cc_minor, 0);
	CHECK(!g[0].cc_from_name);
	cl_gpu_smi_gpus_free(g, n);
	free(s);

	/* [N/A] fields and two GPUs; compute_cap N/A falls back to the name */
	CHECK_INT(cl_gpu_smi_parse_query("Tesla V100-SXM2-16GB, 535.54.03, [N/A], 00000000:00:04.0, [N/A]\n"
					 "Tesla T4, [N/A], 15360 MiB, [N/A], 7.5\n",
					 true, &g, &n),
		  0);
	CHECK_INT(n, 2);
	CHECK_INT(g[0].memory_mib, 0);
	CHECK_INT(g[0].cc_major, 7);
	CHECK(g[0].cc_from_name);
	CHECK(g[1].driver_version == NULL && g[1].bus_id == NULL);
	cl_gpu_smi_gpus_free(g, n);
	CHECK_INT(cl_gpu_smi_parse_query("Tesla T4, 535.54.03, 15360 MiB\n", true, &g, &n), CL_EINVAL);
	CHECK_INT(cl_gpu_smi_parse_query("Tesla T4, 535, lots, x, 7.5\n", true, &g, &n), CL_EINVAL);

	s = fixture("k80-470-cuda12", "smi-query.out");
	CHECK(cl_gpu_smi_needs_rerun_without_cc(s, ""));
	free(s);
	s = fixture("k80-470-cuda12", "smi.out");
	CHECK_INT(cl_gpu_smi_cuda_version(s, &v), 0);
	CHECK_STR(v, "11.4");
	free(v);
	CHECK_INT(cl_gpu_smi_driver_version(s, &v), 0);
	CHECK_STR(v, "470.256.02");
	free(v);
	free(s);
	s = fixture("h100-550-cuda12.4", "smi.out");
	CHECK_INT(cl_gpu_smi_cuda_version(s, &v), 0);
	CHECK_STR(v, "12.4");
	free(v);
	free(s);
	CHECK_INT(cl_gpu_smi_cuda_version("| NVIDIA-SMI 550.54.15  Driver Version: 550.54.15  CUDA Version: N/A |", &v),
		  CL_ENOTFOUND);

	cl_gpu_smi_status st;
	char *msg = NULL;
	s = fixture("no-driver", "smi-query.out");
	cl_gpu_smi_classify(s, "", 9, &st, &msg);
	CHECK_INT(st, CL_GPU_SMI_NO_DRIVER);
	CHECK(msg && strncmp(msg, "NVIDIA-SMI has failed", 21) == 0);
	free(msg);
	free(s);
	s = fixture("version-mismatch", "smi-query.out");
	cl_gpu_smi_classify(s, "", 18, &st, &msg);
	CHECK_INT(st, CL_GPU_SMI_VERSION_MISMATCH);
	CHECK_STR(msg, "Failed to initialize NVML: Driver/library version mismatch (NVML library version: 550.90)");
	free(msg);
	free(s);
	cl_gpu_smi_classify("No devices were found\n", "", 6, &st, &msg);
	CHECK_INT(st, CL_GPU_SMI_NO_DEVICES);
	free(msg);
	cl_gpu_smi_classify("", "sh: 1: nvidia-smi: not found\n", 127, &st, &msg);
	CHECK_INT(st, CL_GPU_SMI_NOT_INSTALLED);
	free(msg);
	cl_gpu_smi_classify("", "", 127, &st, &msg);
	CHECK_INT(st, CL_GPU_SMI_NOT_INSTALLED);
	free(msg);
	cl_gpu_smi_classify("", "Segmentation fault\n", 139, &st, &msg);
	CHECK_INT(st, CL_GPU_SMI_FAILED);
	CHECK_STR(msg, "nvidia-smi exited with 139: Segmentation fault");
	free(msg);
	CHECK_STR(cl_gpu_smi_status_name(CL_GPU_SMI_NO_DRIVER), "no-driver");

	char *rel = NULL, *full = NULL;
	s = fixture("h100-550-cuda12.4", "nvcc.out");
	CHECK_INT(cl_gpu_nvcc_release(s, &rel, &full), 0);
	CHECK_STR(rel, "12.4");
	CHECK_STR(full, "12.4.131");
	free(rel);
	free(full);
	free(s);
	CHECK_INT(cl_gpu_nvcc_release("bash: nvcc: command not found", &rel, NULL), CL_ENOTFOUND);
}

static void test_tables(void)
{
	const char *min = NULL, *tk = NULL;
	int ma = 0, mi = 0;

	CHECK(cl_gpu_version_cmp("550.54.15", "525.60.13") > 0);
	CHECK(cl_gpu_version_cmp("450.80.02", "525.60.13") < 0);
	CHECK(cl_gpu_version_cmp("525.60.13", "525.60.13") == 0);
	CHECK(cl_gpu_version_cmp("535.104.05", "535.54.03") > 0);
	CHECK(cl_gpu_version_cmp("12.10", "12.9") > 0);
	CHECK_INT(cl_gpu_cuda_driver("12.4", &min, &tk), 0);
	CHECK_STR(min, "525.60.13");
	CHECK_STR(tk, "550.54.14");
	CHECK_INT(cl_gpu_cuda_driver("11.8", &min, &tk), 0);
	CHECK_STR(min, "450.80.02");
	CHECK_STR(tk, "520.61.05");
	CHECK_INT(cl_gpu_cuda_driver("12.4.131", &min, &tk), 0);
	CHECK_STR(tk, "550.54.14");
	CHECK_INT(cl_gpu_cuda_driver("10.2", &min, &tk), CL_ENOTFOUND);
	CHECK(cl_gpu_cc_from_name("NVIDIA Tesla K80", &ma, &mi) && ma == 3 && mi == 7);
	CHECK(cl_gpu_cc_from_name("NVIDIA A100-SXM4-40GB", &ma, &mi) && ma == 8 && mi == 0);
	CHECK(cl_gpu_cc_from_name("NVIDIA A10", &ma, &mi) && ma == 8 && mi == 6);
	CHECK(cl_gpu_cc_from_name("NVIDIA L4", &ma, &mi) && ma == 8 && mi == 9);
	CHECK(cl_gpu_cc_from_name("Tesla P100-PCIE-16GB", &ma, &mi) && ma == 6 && mi == 0);
	CHECK(!cl_gpu_cc_from_name("NVIDIA RTX A4000", &ma, &mi));
}

static void test_frameworks(void)
{
	cl_gpu_torch t;
	cl_gpu_tf tf;
	char *o = fixture("h100-550-cuda12.4", "torch.out"), *e;

	CHECK_INT(cl_gpu_torch_parse(o, "", 0, &t), 0);
	CHECK(t.installed && t.available);
	CHECK_STR(t.cuda, "12.4");
	CHECK_STR(t.version, "2.4.1+cu124");
	CHECK_STR(t.device, "NVIDIA H100 80GB HBM3");
	cl_gpu_torch_clear(&t);
	free(o);
	o = fixture("t4-470-torch-old-driver", "torch.out");
	e = fixture("t4-470-torch-old-driver", "torch.err");
	CHECK_INT(cl_gpu_torch_parse(o, e, 0, &t), 0);
	CHECK(t.installed && !t.available);
	CHECK_STR(t.driver_cuda_found, "11.4");
	CHECK(t.problem && strncmp(t.problem, "The NVIDIA driver on your system is too old", 43) == 0);
	cl_gpu_torch_clear(&t);
	free(o);
	free(e);
	e = fixture("not-installed", "torch.err");
	CHECK_INT(cl_gpu_torch_parse("", e, 1, &t), 0);
	CHECK(!t.installed);
	CHECK_STR(t.problem, "ModuleNotFoundError: No module named 'torch'");
	cl_gpu_torch_clear(&t);
	free(e);
	CHECK_INT(cl_gpu_torch_parse("{not json\n", "", 0, &t), CL_EINVAL);

	o = fixture("seed-tf-configured", "tf.out");
	CHECK_INT(cl_gpu_tf_parse(o, "", 0, &tf), 0);
	CHECK(tf.installed);
	CHECK_INT(tf.gpu_count, 1);
	CHECK_STR(tf.device_name, "NVIDIA Tesla K80");
	CHECK_STR(tf.pci_bus_id, "0001:00:00.0");
	CHECK_INT(tf.cc_major, 3);
	CHECK_INT(tf.cc_minor, 7);
	cl_gpu_tf_clear(&tf);
	free(o);
	o = fixture("seed-tf-unconfigured", "tf.out");
	e = fixture("seed-tf-unconfigured", "tf.err");
	CHECK_INT(cl_gpu_tf_parse(o, e, 0, &tf), 0);
	CHECK_INT(tf.gpu_count, 0);
	CHECK(tf.problem && strstr(tf.problem, "'libcudart.so.11.0'"));
	cl_gpu_tf_clear(&tf);
	free(o);
	free(e);
	o = fixture("h100-550-cuda12.4", "tf.out");
	CHECK_INT(cl_gpu_tf_parse(o, "", 0, &tf), 0);
	CHECK_INT(tf.gpu_count, 1);
	CHECK_STR(tf.cuda_build, "12.3");
	cl_gpu_tf_clear(&tf);
	free(o);
	CHECK_INT(cl_gpu_tf_parse("[]\nNone\n", "", 0, &tf), 0);
	CHECK_INT(tf.gpu_count, 0);
	CHECK(tf.cuda_build == NULL);
	cl_gpu_tf_clear(&tf);
}

static bool has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void test_install(void)
{
	const char *both[] = {"torch", "tensorflow"};
	cl_gpu_install o = {"550", "12.4", NULL, both, 2};
	char **pk = NULL, **rc = NULL;
	size_t npk = 0, nrc = 0;

	CHECK_INT(cl_gpu_cloudconfig_additions(&o, &pk, &npk, &rc, &nrc), 0);
	CHECK_INT(npk, 3);
	CHECK(has(pk, npk, "nvidia-headless-550-server"));
	CHECK(has(pk, npk, "nvidia-utils-550-server"));
	CHECK(has(pk, npk, "python3-pip"));
	CHECK_INT(nrc, 6);
	CHECK_STR(rc[0], "curl -fsSL -o /tmp/cuda-keyring.deb https://developer.download.nvidia.com/"
			 "compute/cuda/repos/ubuntu2204/x86_64/cuda-keyring_1.1-1_all.deb");
	CHECK_STR(rc[1], "dpkg -i /tmp/cuda-keyring.deb");
	CHECK_STR(rc[2], "apt-get update");
	CHECK_STR(rc[3], "DEBIAN_FRONTEND=noninteractive apt-get install -y cuda-toolkit-12-4");
	CHECK_STR(rc[4], "PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install torch --index-url "
			 "https://download.pytorch.org/whl/cu124");
	CHECK_STR(rc[5], "PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install 'tensorflow[and-cuda]'");
	cl_strv_free(pk, npk);
	cl_strv_free(rc, nrc);

	/* nothing pinned: ubuntu-drivers picks, newest toolkit; 12.2 torch -> cu121 */
	cl_gpu_install any = {NULL, NULL, "24.04", NULL, 0};
	CHECK_INT(cl_gpu_cloudconfig_additions(&any, &pk, &npk, &rc, &nrc), 0);
	CHECK_INT(npk, 1);
	CHECK_STR(pk[0], "ubuntu-drivers-common");
	CHECK_STR(rc[0], "ubuntu-drivers install --gpgpu");
	CHECK(strstr(rc[1], "/repos/ubuntu2404/") != NULL);
	CHECK_STR(rc[nrc - 1], "DEBIAN_FRONTEND=noninteractive apt-get install -y cuda-toolkit");
	cl_strv_free(pk, npk);
	cl_strv_free(rc, nrc);
	const char *t[] = {"torch"};
	cl_gpu_install k = {"535.129.03", "12.2", NULL, t, 1};
	CHECK_INT(cl_gpu_cloudconfig_additions(&k, &pk, &npk, &rc, &nrc), 0);
	CHECK(has(pk, npk, "nvidia-headless-535-server"));
	CHECK(strstr(rc[nrc - 1], "/whl/cu121") != NULL);
	cl_strv_free(pk, npk);
	cl_strv_free(rc, nrc);

	static const struct {
		cl_gpu_install o;
		const char *needle;
	} bad[] = {
		{{"55", NULL, NULL, NULL, 0}, "'55'"},
		{{"550;reboot", NULL, NULL, NULL, 0}, "'550;reboot'"},
		{{"550.", NULL, NULL, NULL, 0}, "'550.'"},
		{{NULL, "12.4.1", NULL, NULL, 0}, "'12.4.1'"},
		{{NULL, "9.2", NULL, NULL, 0}, "'9.2'"},
		{{NULL, "12.7", NULL, NULL, 0}, "'12.7'"},
		{{NULL, NULL, "18.04", NULL, 0}, "'18.04'"},
		{{"470", "12.4", NULL, NULL, 0}, "driver '470' cannot run CUDA 12.4"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(cl_gpu_cloudconfig_additions(&bad[i].o, &pk, &npk, &rc, &nrc), CL_EINVAL);
		CHECK(strstr(cl_error_msg(), bad[i].needle) != NULL);
		CHECK(pk == NULL && rc == NULL);
	}
	const char *jax[] = {"jax"};
	cl_gpu_install j = {NULL, NULL, NULL, jax, 1};
	CHECK_INT(cl_gpu_cloudconfig_additions(&j, &pk, &npk, &rc, &nrc), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "'jax'") != NULL);
}

int main(void)
{
	test_smi();
	test_tables();
	test_frameworks();
	test_install();
	return tap_done();
}
