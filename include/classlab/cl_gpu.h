/*
 * GPU checks: host GPU discovery for PCI passthrough (provision/gpu) and the
 * verification of a guest's NVIDIA driver / CUDA / framework stack
 * (templates/gpu): parsers of real tool output, a verdict, and what the
 * "install GPU drivers" option adds to a template's cloud-config.
 *
 * Ownership: every out-parameter the library fills is new and the caller
 * frees it with the matching _free; json_t results are new references.
 */
#ifndef CL_GPU_H
#define CL_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libvirt/libvirt.h>

#include "classlab/cl_util.h"

/* ------------------------------------------------------------------ host */

/*
 * An NVIDIA display-class PCI function on the host (vendor 0x10de, class
 * 0x03xxxx; with no class element, the product name decides).
 *
 * passthrough_ready is false, with reason set, when:
 *   - the device has no IOMMU group (IOMMU off in firmware or kernel), or
 *   - its IOMMU group holds a device that is not another function of the same
 *     card (same domain:bus:slot): the whole group would have to be given to
 *     the guest. The card's own HDMI audio function (…:00.1) does not count.
 * The host driver never makes a device not ready: vfio-pci is ideal, and a
 * device bound to nvidia/nouveau is detached by libvirt for a managed='yes'
 * hostdev; that (and sibling functions that must be passed along) is said in
 * note instead. driver is NULL when libvirt does not report one (its test
 * driver drops <driver>; udev fills it on a real host).
 */
typedef struct cl_host_gpu {
	char *name;           /* libvirt node device name: "pci_0000_65_00_0" */
	char *address;        /* "0000:65:00.0" */
	char *product;        /* "GA100 [A100 SXM4 40GB]"; NULL if unnamed */
	char *product_id;     /* "0x20b0" */
	char *driver;         /* "vfio-pci", "nvidia", "nouveau"; NULL: unknown */
	int iommu_group;      /* -1: none */
	char **group_members; /* addresses in the group, this device included */
	size_t ngroup_members;
	bool passthrough_ready;
	char *reason; /* why not ready; NULL when ready */
	char *note;   /* something to know even when ready; NULL if nothing */
} cl_host_gpu;

/*
 * Lists the host's NVIDIA GPUs through virConnectListAllNodeDevices (PCI
 * devices only). *out is a new array of *n entries (NULL when none).
 */
/*
 * The same list read from sysfs under sysroot ("/sys"): for connections with
 * no node-device driver (qemu:///embed, which always runs on this host).
 */
int cl_gpu_host_list_sysfs(const char *sysroot, cl_host_gpu **out, size_t *n);
int cl_gpu_host_list(virConnectPtr conn, cl_host_gpu **out, size_t *n);
/*
 * Parses one node device's XML (virNodeDeviceGetXMLDesc). *out is a new
 * cl_host_gpu, or NULL when the device is not an NVIDIA display device.
 */
int cl_gpu_host_parse(const char *xml, cl_host_gpu **out);
void cl_gpu_host_free(cl_host_gpu *gpus, size_t n);
/* A new JSON array of {address, product, product_id, driver, iommu_group,
 * group_members, passthrough_ready, reason, note}; absent values are null. */
json_t *cl_gpu_host_json(const cl_host_gpu *gpus, size_t n);

/* ------------------------------------------------------- version tables */

/* Compares dotted numeric versions ("550.54.15" vs "525.60.13"): <0, 0, >0. */
int cl_gpu_version_cmp(const char *a, const char *b);

/*
 * The Linux x86_64 driver a CUDA toolkit "MAJOR.MINOR" needs (NVIDIA's CUDA
 * Toolkit release notes): *minimum is the minor-version-compatibility minimum
 * of its major family (12.x: 525.60.13), *toolkit the driver its GA release
 * ships with (12.4: 550.54.14). Borrowed strings; CL_ENOTFOUND if unknown.
 */
int cl_gpu_cuda_driver(const char *cuda, const char **minimum, const char **toolkit);

/* Compute capability from a product name ("Tesla K80" -> 3.7). false if unknown. */
bool cl_gpu_cc_from_name(const char *name, int *major, int *minor);

/* ------------------------------------------------------------- parsers */

/* What a run of nvidia-smi says about the driver as a whole. */
typedef enum cl_gpu_smi_status {
	CL_GPU_SMI_OK = 0,
	CL_GPU_SMI_NOT_INSTALLED,    /* "nvidia-smi: command not found", exit 127 */
	CL_GPU_SMI_NO_DRIVER,        /* "couldn't communicate with the NVIDIA driver" */
	CL_GPU_SMI_VERSION_MISMATCH, /* "Failed to initialize NVML: Driver/library version mismatch" */
	CL_GPU_SMI_NO_DEVICES,       /* "No devices were found" */
	CL_GPU_SMI_BAD_FIELD,        /* a --query-gpu field the driver does not know */
	CL_GPU_SMI_FAILED,           /* anything else with a non-zero exit */
} cl_gpu_smi_status;

const char *cl_gpu_smi_status_name(cl_gpu_smi_status st); /* "no-driver", ... */

/*
 * Classifies one nvidia-smi run by its real messages and exit status.
 * *message (new, may be NULL) is the tool's own line that decided it.
 */
int cl_gpu_smi_classify(const char *out, const char *err, int exit_status,
			cl_gpu_smi_status *status, char **message);

/* The query classlab runs, with and without compute_cap (drivers < 510 lack it). */
#define CL_GPU_SMI_QUERY                                                                   \
	"nvidia-smi --query-gpu=name,driver_version,memory.total,pci.bus_id,compute_cap " \
	"--format=csv,noheader"
#define CL_GPU_SMI_QUERY_NO_CC                                                 \
	"nvidia-smi --query-gpu=name,driver_version,memory.total,pci.bus_id " \
	"--format=csv,noheader"

/* True when the output says compute_cap is not a valid field: rerun without it. */
bool cl_gpu_smi_needs_rerun_without_cc(const char *out, const char *err);

typedef struct cl_gpu_smi_gpu {
	char *name;           /* "NVIDIA A100-SXM4-40GB" */
	char *driver_version; /* "535.129.03"; NULL for [N/A] */
	uint64_t memory_mib;  /* 0 when [N/A] */
	char *bus_id;         /* "00000000:65:00.0"; NULL for [N/A] */
	int cc_major, cc_minor; /* -1 when unknown */
	bool cc_from_name;      /* derived from the name, not reported */
} cl_gpu_smi_gpu;

/*
 * Parses --query-gpu CSV (one GPU a line, no header). with_cc says whether
 * the last column is compute_cap. When the driver cannot report it, the
 * compute capability is derived from the name. *out is new (*n entries).
 */
int cl_gpu_smi_parse_query(const char *csv, bool with_cc, cl_gpu_smi_gpu **out, size_t *n);
void cl_gpu_smi_gpus_free(cl_gpu_smi_gpu *gpus, size_t n);

/* "CUDA Version: 12.4" in the nvidia-smi banner -> "12.4" (new); CL_ENOTFOUND. */
int cl_gpu_smi_cuda_version(const char *banner, char **version);
/* "Driver Version: 550.54.15" in the banner -> new string; CL_ENOTFOUND. */
int cl_gpu_smi_driver_version(const char *banner, char **version);

/* `nvcc --version`: "release 12.4, V12.4.131" -> "12.4" and "12.4.131" (new; full may be NULL). */
int cl_gpu_nvcc_release(const char *out, char **release, char **full);

/* The PyTorch probe classlab runs; it prints one JSON line. */
#define CL_GPU_TORCH_PROBE                                                                  \
	"python3 -c 'import json,torch; print(json.dumps({\"available\": "                  \
	"torch.cuda.is_available(), \"cuda\": torch.version.cuda, \"device\": "           \
	"torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, \"version\": " \
	"torch.__version__}))'"

typedef struct cl_gpu_torch {
	bool installed;
	bool available; /* torch.cuda.is_available() */
	char *version;  /* "2.3.0+cu121" */
	char *cuda;     /* torch.version.cuda: "12.1"; NULL for a CPU build */
	char *device;   /* "NVIDIA H100 80GB HBM3" */
	char *problem;  /* what torch said on stderr: "The NVIDIA driver on your system is too old (found version 11040)..." */
	char *driver_cuda_found; /* "11.4" decoded from "found version 11040" */
} cl_gpu_torch;

int cl_gpu_torch_parse(const char *out, const char *err, int exit_status, cl_gpu_torch *torch);
void cl_gpu_torch_clear(cl_gpu_torch *torch);

/* The TensorFlow probe; device_lib.list_local_devices() text is parsed too. */
#define CL_GPU_TF_PROBE                                                                     \
	"python3 -c 'import tensorflow as tf; print(tf.config.list_physical_devices(\"GPU\")); " \
	"print(tf.sysconfig.get_build_info().get(\"cuda_version\"))'"

typedef struct cl_gpu_tf {
	bool installed;
	int gpu_count;
	char *device_name;      /* "NVIDIA Tesla K80" (from physical_device_desc) */
	char *pci_bus_id;       /* "0001:00:00.0" */
	int cc_major, cc_minor; /* -1 when not reported */
	char *cuda_build;       /* "12.3": the CUDA TF was built for; NULL unknown */
	char *problem;          /* "Could not load dynamic library 'libcudart.so.11.0'..." */
} cl_gpu_tf;

/* Reads the probe's output or device_lib's text form (either, or both). */
int cl_gpu_tf_parse(const char *out, const char *err, int exit_status, cl_gpu_tf *tf);
void cl_gpu_tf_clear(cl_gpu_tf *tf);

/* ------------------------------------------------------------- verdict */

typedef struct cl_gpu_facts {
	bool probed; /* false: nothing was run (CPU lab) */
	cl_gpu_smi_status smi_status;
	char *smi_message;
	cl_gpu_smi_gpu *gpus;
	size_t ngpus;
	char *driver_version; /* from nvidia-smi */
	char *driver_cuda;    /* banner "CUDA Version": newest CUDA the driver runs */
	char *nvcc_release;   /* "12.4"; NULL when nvcc is absent */
	bool torch_probed;
	cl_gpu_torch torch;
	bool tf_probed;
	cl_gpu_tf tf;
} cl_gpu_facts;

void cl_gpu_facts_clear(cl_gpu_facts *facts);

typedef struct cl_gpu_requirements {
	bool gpu_required;              /* the lab size has a GPU */
	const char *cuda;               /* "12.4", or NULL: whatever is installed */
	const char *const *frameworks;  /* "torch", "tensorflow" */
	size_t nframeworks;
} cl_gpu_requirements;

/* Runs one command in the guest (another module implements it over SSH).
 * Returns 0 when the command ran (whatever its exit status), else CL_E*. */
typedef int (*cl_gpu_exec_fn)(void *ctx, const char *command, int timeout_ms, cl_buf *out,
			      cl_buf *err, int *exit_status);

/* Runs the probes the requirements call for and fills *out (cleared first). */
int cl_gpu_collect(cl_gpu_exec_fn exec, void *ctx, const cl_gpu_requirements *req,
		   cl_gpu_facts *out);

typedef enum cl_gpu_check_status { CL_GPU_PASS, CL_GPU_FAIL, CL_GPU_SKIPPED } cl_gpu_check_status;
const char *cl_gpu_check_status_name(cl_gpu_check_status st); /* "PASS", "FAIL", "SKIPPED" */

typedef struct cl_gpu_check {
	char *id;     /* "driver-vs-cuda" */
	char *name;   /* "driver supports the CUDA toolkit" */
	cl_gpu_check_status status;
	char *reason; /* what was found */
	char *advice; /* what to do; NULL when nothing */
} cl_gpu_check;

typedef struct cl_gpu_report {
	cl_gpu_check *checks;
	size_t nchecks;
	bool pass; /* every check passed or was skipped for a CPU lab */
} cl_gpu_report;

/*
 * Checks, in order: gpu-visible, driver-loaded, driver-vs-cuda,
 * compute-capability, then framework-<name> per required framework.
 * A CPU lab gets every check SKIPPED ("lab size has no GPU") and passes.
 */
int cl_gpu_judge(const cl_gpu_facts *facts, const cl_gpu_requirements *req, cl_gpu_report **out);
void cl_gpu_report_free(cl_gpu_report *report);
/* {"pass": bool, "checks": [{id, name, status, reason, advice}]}; new reference. */
json_t *cl_gpu_report_json(const cl_gpu_report *report);

/* ------------------------------------------------- install GPU drivers */

typedef struct cl_gpu_install {
	const char *driver;  /* "550" or "550.54.15"; NULL: ubuntu-drivers picks */
	const char *cuda;    /* "12.4"; NULL: the newest cuda-toolkit */
	const char *ubuntu;  /* "22.04" (default), "20.04" or "24.04": NVIDIA repo path */
	const char *const *frameworks; /* "torch", "tensorflow" */
	size_t nframeworks;
} cl_gpu_install;

/*
 * What the "install GPU drivers" option adds to an Ubuntu template's
 * cloud-config: *packages (Ubuntu archive packages, for `packages:`) and
 * *runcmd (shell lines, for `runcmd:`, run after the packages). New string
 * vectors; free with cl_strv_free. CL_EINVAL names a bad value.
 */
int cl_gpu_cloudconfig_additions(const cl_gpu_install *opts, char ***packages,
				 size_t *npackages, char ***runcmd, size_t *nruncmd);

#endif
