/* Host GPUs from a sysfs tree (the embedded driver's view): a fake tree with two devices. */
#include "classlab/cl_gpu.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *root, const char *rel, const char *text)
{
	char *p = cl_aprintf("%s/%s", root, rel);
	cl_write_file(p, text, strlen(text), 0644);
	free(p);
}

static void dir(const char *root, const char *rel)
{
	char *p = cl_aprintf("%s/%s", root, rel);
	cl_mkdir_p(p, 0755);
	free(p);
}

static void link_to(const char *root, const char *rel, const char *target)
{
	char *p = cl_aprintf("%s/%s", root, rel);
	if (symlink(target, p) != 0)
		perror(p);
	free(p);
}

int main(void)
{
	char root[] = "/tmp/clsysXXXXXX";
	cl_host_gpu *g = NULL;
	size_t n = 0;

	if (!mkdtemp(root))
		return 1;
	/* An A100 alone in group 30 on vfio-pci; an Intel GPU (ignored); an NVIDIA GPU
	 * sharing group 7 with a bridge. */
	const char *devs[] = {"0000:65:00.0", "0000:00:02.0", "0000:17:00.0", "0000:00:01.0"};
	const char *vend[] = {"0x10de", "0x8086", "0x10de", "0x8086"};
	const char *prod[] = {"0x20b0", "0x9a49", "0x1db4", "0x1901"};
	const char *cls[] = {"0x030200", "0x030000", "0x030200", "0x060400"};
	const char *grp[] = {"30", "1", "7", "7"};
	for (int i = 0; i < 4; i++) {
		char *d = cl_aprintf("bus/pci/devices/%s", devs[i]);
		char *f;
		dir(root, d);
		f = cl_aprintf("%s/vendor", d), put(root, f, vend[i]), free(f);
		f = cl_aprintf("%s/device", d), put(root, f, prod[i]), free(f);
		f = cl_aprintf("%s/class", d), put(root, f, cls[i]), free(f);
		char *g_dir = cl_aprintf("kernel/iommu_groups/%s/devices", grp[i]);
		dir(root, g_dir);
		char *member = cl_aprintf("%s/%s", g_dir, devs[i]);
		link_to(root, member, "../../../../bus/pci/devices/x");
		char *gl = cl_aprintf("%s/%s/%s", root, "kernel/iommu_groups", grp[i]);
		f = cl_aprintf("%s/iommu_group", d), link_to(root, f, gl), free(f);
		free(gl);
		free(member);
		free(g_dir);
		free(d);
	}
	link_to(root, "bus/pci/devices/0000:65:00.0/driver", "../../../bus/pci/drivers/vfio-pci");

	CHECK_INT(cl_gpu_host_list_sysfs(root, &g, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(g[0].address, "0000:17:00.0");
		CHECK(!g[0].passthrough_ready);
		CHECK(g[0].reason && strstr(g[0].reason, "0000:00:01.0"));
		CHECK_STR(g[1].address, "0000:65:00.0");
		CHECK_STR(g[1].product_id, "0x20b0");
		CHECK_STR(g[1].driver, "vfio-pci");
		CHECK_INT(g[1].iommu_group, 30);
		CHECK(g[1].passthrough_ready);
	}
	cl_gpu_host_free(g, n);
	/* No PCI bus at all: no GPUs, no error. */
	CHECK_INT(cl_gpu_host_list_sysfs("/nonexistent", &g, &n), 0);
	CHECK_INT(n, 0);
	char *cmd = cl_aprintf("rm -rf %s", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	free(cmd);
	return tap_done();
}
