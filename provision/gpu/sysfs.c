/*
 * Host GPUs from sysfs, for connections without a node-device driver (the
 * embedded QEMU driver, which always runs on this host): each PCI function is
 * read into a gpu_pci_fn and judged as a node device is (pci.c).
 */
#include "gpu_internal.h"

#include <dirent.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classlab/banned.h"

/* First line of a small sysfs file, or NULL. */
static char *sys_read(const char *dir, const char *name)
{
	char *path = cl_aprintf("%s/%s", dir, name);
	cl_buf b = CL_BUF_INIT;
	char *r = NULL;

	if (cl_read_file(path, 4096, &b) == 0) {
		b.data[strcspn(b.data, "\n")] = '\0';
		r = cl_buf_detach(&b);
	}
	cl_error_clear();
	cl_buf_free(&b);
	free(path);
	return r;
}

/* The last component a symlink points at ("vfio-pci", "30"), or NULL. */
static char *link_base(const char *dir, const char *name)
{
	char *path = cl_aprintf("%s/%s", dir, name), target[4096];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	free(path);
	if (n <= 0)
		return NULL;
	target[n] = '\0';
	return cl_strdup(basename(target));
}

/* One PCI function from its sysfs directory, judged as a node device would be. */
static int device_gpu(const char *sysroot, const char *devdir, const char *addr,
		      cl_host_gpu **out)
{
	char *vendor = sys_read(devdir, "vendor"), *device = sys_read(devdir, "device");
	char *cls = sys_read(devdir, "class"), *driver = link_base(devdir, "driver");
	char *group = link_base(devdir, "iommu_group"), *name = NULL;
	unsigned dom = 0, bus = 0, slot = 0, fn = 0;
	gpu_pci_addr *members = NULL;
	size_t nmembers = 0;
	unsigned long v;
	int rc = 0;

	*out = NULL;
	if (!vendor || !device || sscanf(addr, "%x:%x:%x.%x", &dom, &bus, &slot, &fn) != 4)
		goto out;
	name = cl_aprintf("pci_%04x_%02x_%02x_%x", dom, bus, slot, fn);
	if (group) {
		char *gdir = cl_aprintf("%s/kernel/iommu_groups/%s/devices", sysroot, group);
		DIR *d = opendir(gdir);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			unsigned md, mb, ms, mf;
			if (e->d_name[0] == '.' ||
			    sscanf(e->d_name, "%x:%x:%x.%x", &md, &mb, &ms, &mf) != 4)
				continue;
			members = cl_realloc(members, (nmembers + 1) * sizeof(*members));
			members[nmembers++] = (gpu_pci_addr){md, mb, ms, mf};
		}
		if (d)
			closedir(d);
		free(gdir);
	}
	rc = gpu_host_from_pci(&(gpu_pci_fn){
				       .name = name,
				       .vendor = gpu_parse_num(vendor, 0xffff, &v) ? v : GPU_PCI_BAD,
				       .product_id = device,
				       .driver = driver,
				       .pci_class = cls,
				       .addr = {dom, bus, slot, fn},
				       .iommu_group = group,
				       .members = members,
				       .nmembers = nmembers,
			       },
			       out);
out:
	free(members);
	free(name);
	free(vendor);
	free(device);
	free(cls);
	free(driver);
	free(group);
	return rc;
}

static int cmp_address(const void *a, const void *b)
{
	return strcmp(((const cl_host_gpu *)a)->address, ((const cl_host_gpu *)b)->address);
}

int cl_gpu_host_list_sysfs(const char *sysroot, cl_host_gpu **out, size_t *n)
{
	char *pcidir = cl_aprintf("%s/bus/pci/devices", sysroot);
	DIR *d = opendir(pcidir);
	cl_host_gpu *list = NULL;
	size_t count = 0;
	struct dirent *e;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!d) {
		free(pcidir);
		return 0; /* no PCI bus visible: no GPUs */
	}
	while ((e = readdir(d)) && rc == 0) {
		if (e->d_name[0] == '.')
			continue;
		char *dev = cl_aprintf("%s/%s", pcidir, e->d_name);
		char *vendor = sys_read(dev, "vendor");
		if (vendor && strcmp(vendor, "0x10de") == 0) {
			cl_host_gpu *g = NULL;
			if ((rc = device_gpu(sysroot, dev, e->d_name, &g)) == 0 && g) {
				list = cl_realloc(list, (count + 1) * sizeof(*list));
				list[count++] = *g;
				free(g);
			}
		}
		free(vendor);
		free(dev);
	}
	closedir(d);
	free(pcidir);
	if (rc) {
		cl_gpu_host_free(list, count);
		return rc;
	}
	if (count > 1)
		qsort(list, count, sizeof(*list), cmp_address);
	*out = list;
	*n = count;
	return 0;
}
