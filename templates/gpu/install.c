/* The "install GPU drivers" option: the packages and commands it adds to an
 * Ubuntu template's cloud-config. Strings only; another module emits YAML. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "classlab/cl_gpu.h"
#include "classlab/banned.h"

typedef struct strv {
	char **v;
	size_t n;
} strv;

static void push(strv *s, char *str)
{
	s->v = cl_realloc(s->v, (s->n + 1) * sizeof(char *));
	s->v[s->n++] = str;
}

/* ^[0-9]{3}(\.[0-9]+)*$ */
static bool driver_valid(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	s += 3;
	while (*s) {
		if (*s++ != '.' || !isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return true;
}

/* ^[0-9]{2}\.[0-9]$ */
static bool cuda_valid(const char *s)
{
	return isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) && s[2] == '.' &&
	       isdigit((unsigned char)s[3]) && s[4] == '\0';
}

/*
 * PyTorch publishes wheel indexes for a few CUDA versions only
 * (https://download.pytorch.org/whl/). A wheel bundles its CUDA runtime, so
 * within a major family the newest one not newer than the wanted CUDA runs
 * (minor version compatibility); else the oldest of that family.
 */
static const char *const torch_cudas[] = {"11.8", "12.1", "12.4", "12.6", "12.8", "12.9",
					  "13.0"};

static const char *torch_cuda_for(const char *cuda)
{
	const char *best = NULL, *oldest = NULL;
	int major = atoi(cuda);

	for (size_t i = 0; i < sizeof(torch_cudas) / sizeof(torch_cudas[0]); i++) {
		if (atoi(torch_cudas[i]) != major)
			continue;
		if (!oldest)
			oldest = torch_cudas[i];
		if (cl_gpu_version_cmp(torch_cudas[i], cuda) <= 0)
			best = torch_cudas[i];
	}
	return best ? best : oldest;
}

static const char *const ubuntus[][2] = {
	{"20.04", "ubuntu2004"},
	{"22.04", "ubuntu2204"},
	{"24.04", "ubuntu2404"},
};

int cl_gpu_cloudconfig_additions(const cl_gpu_install *o, char ***packages, size_t *npackages,
				 char ***runcmd, size_t *nruncmd)
{
	strv pk = {NULL, 0}, rc_ = {NULL, 0};
	const char *repo = NULL, *ubuntu;
	char *branch = NULL;
	bool want_torch = false, want_tf = false;
	int rc = 0;

	*packages = NULL;
	*npackages = 0;
	*runcmd = NULL;
	*nruncmd = 0;
	if (!o)
		return cl_error_set(CL_EINVAL, "no GPU install options");

	/* --- validate everything before producing anything --- */
	if (o->driver && !driver_valid(o->driver))
		return cl_error_set(CL_EINVAL,
				    "invalid driver version '%s' (expected a branch like 550 or a "
				    "version like 550.54.15)",
				    o->driver);
	if (o->cuda && !cuda_valid(o->cuda))
		return cl_error_set(CL_EINVAL, "invalid CUDA version '%s' (expected like 12.4)",
				    o->cuda);
	ubuntu = o->ubuntu ? o->ubuntu : "22.04";
	for (size_t i = 0; i < sizeof(ubuntus) / sizeof(ubuntus[0]); i++)
		if (strcmp(ubuntu, ubuntus[i][0]) == 0)
			repo = ubuntus[i][1];
	if (!repo)
		return cl_error_set(CL_EINVAL, "unsupported Ubuntu release '%s' (20.04, 22.04, 24.04)",
				    ubuntu);
	for (size_t i = 0; i < o->nframeworks; i++) {
		const char *fw = o->frameworks[i];
		if (fw && strcmp(fw, "torch") == 0)
			want_torch = true;
		else if (fw && strcmp(fw, "tensorflow") == 0)
			want_tf = true;
		else
			return cl_error_set(CL_EINVAL, "unknown framework '%s' (torch, tensorflow)",
					    fw ? fw : "");
	}
	if (o->cuda) {
		const char *minimum = NULL, *toolkit = NULL;
		if (cl_gpu_cuda_driver(o->cuda, &minimum, &toolkit) < 0)
			return cl_error_set(CL_EINVAL, "unsupported CUDA version '%s' (11.4 to 13.0)",
					    o->cuda);
		if (!toolkit)
			return cl_error_set(CL_EINVAL, "unknown CUDA release '%s'", o->cuda);
		/* A pinned branch must be able to run the pinned CUDA. */
		if (o->driver) {
			char *mbranch = cl_strndup(minimum, strcspn(minimum, "."));
			int cmp = strlen(o->driver) == 3 ? cl_gpu_version_cmp(o->driver, mbranch)
							 : cl_gpu_version_cmp(o->driver, minimum);
			free(mbranch);
			if (cmp < 0)
				return cl_error_set(CL_EINVAL,
						    "driver '%s' cannot run CUDA %s (needs >= %s)",
						    o->driver, o->cuda, minimum);
		}
	}

	/* --- driver --- */
	if (o->driver) {
		/*
		 * Ubuntu names packages after the branch only; a full version
		 * pins the branch and is what the verdict then checks against.
		 * The -server flavour is Ubuntu's Enterprise Ready Driver series
		 * for datacenter GPUs (Tesla/A/H/L series, what a lab VM gets);
		 * headless leaves out the X.org parts a Jupyter VM never uses.
		 */
		branch = cl_strndup(o->driver, 3);
		push(&pk, cl_aprintf("nvidia-headless-%s-server", branch));
		push(&pk, cl_aprintf("nvidia-utils-%s-server", branch));
	} else {
		/* ubuntu-drivers picks the recommended branch for the card; --gpgpu
		 * picks the headless -server flavour. It runs in runcmd because it
		 * must see the GPU, which packages: cannot express. */
		push(&pk, cl_strdup("ubuntu-drivers-common"));
		push(&rc_, cl_strdup("ubuntu-drivers install --gpgpu"));
	}

	/* --- CUDA toolkit from NVIDIA's repository (not in Ubuntu's archive, so
	 * it cannot go in packages:, which runs before runcmd) --- */
	push(&rc_, cl_aprintf("curl -fsSL -o /tmp/cuda-keyring.deb "
			      "https://developer.download.nvidia.com/compute/cuda/repos/%s/x86_64/"
			      "cuda-keyring_1.1-1_all.deb",
			      repo));
	push(&rc_, cl_strdup("dpkg -i /tmp/cuda-keyring.deb"));
	push(&rc_, cl_strdup("apt-get update"));
	if (o->cuda) {
		size_t maj = strcspn(o->cuda, ".");
		/* cuda-toolkit-X-Y installs the toolkit only, never a driver: the
		 * driver stays the one chosen above. */
		push(&rc_, cl_aprintf("DEBIAN_FRONTEND=noninteractive apt-get install -y "
				      "cuda-toolkit-%.*s-%s",
				      (int)maj, o->cuda, o->cuda + maj + 1));
	} else {
		push(&rc_, cl_strdup("DEBIAN_FRONTEND=noninteractive apt-get install -y cuda-toolkit"));
	}

	/* --- frameworks: pip into the system python3 that the verify probes
	 * run. PIP_BREAK_SYSTEM_PACKAGES lets pip >= 23 (Ubuntu 24.04, PEP 668)
	 * do so; older pip ignores the variable. --- */
	if (want_torch || want_tf)
		push(&pk, cl_strdup("python3-pip"));
	if (want_torch) {
		const char *tc = o->cuda ? torch_cuda_for(o->cuda) : NULL;
		if (tc) {
			size_t maj = strcspn(tc, ".");
			push(&rc_, cl_aprintf("PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install "
					      "torch --index-url https://download.pytorch.org/whl/"
					      "cu%.*s%s",
					      (int)maj, tc, tc + maj + 1));
		} else {
			/* PyPI's Linux torch wheels are CUDA builds. */
			push(&rc_, cl_strdup("PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install torch"));
		}
	}
	if (want_tf)
		push(&rc_, cl_strdup("PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install "
				     "'tensorflow[and-cuda]'"));

	*packages = pk.v;
	*npackages = pk.n;
	*runcmd = rc_.v;
	*nruncmd = rc_.n;
	pk.v = rc_.v = NULL;
	pk.n = rc_.n = 0;
	free(branch);
	return rc;
}
