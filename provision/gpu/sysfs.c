/*
 * Host GPUs from sysfs, for connections without a node-device driver (the
 * embedded QEMU driver, which always runs on this host): each PCI device is
 * described in libvirt's node-device XML and judged by the same parser.
 */
#include "classlab/cl_gpu.h"

#include <dirent.h>
#include <libgen.h>
#include <libxml/xmlwriter.h>
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

static void write_address(xmlTextWriterPtr w, const char *addr)
{
	unsigned dom, bus, slot, fn;
	char buf[16];

	if (sscanf(addr, "%x:%x:%x.%x", &dom, &bus, &slot, &fn) != 4)
		return;
	xmlTextWriterStartElement(w, BAD_CAST "address");
	snprintf(buf, sizeof(buf), "0x%04x", dom);
	xmlTextWriterWriteAttribute(w, BAD_CAST "domain", BAD_CAST buf);
	snprintf(buf, sizeof(buf), "0x%02x", bus);
	xmlTextWriterWriteAttribute(w, BAD_CAST "bus", BAD_CAST buf);
	snprintf(buf, sizeof(buf), "0x%02x", slot);
	xmlTextWriterWriteAttribute(w, BAD_CAST "slot", BAD_CAST buf);
	snprintf(buf, sizeof(buf), "0x%x", fn);
	xmlTextWriterWriteAttribute(w, BAD_CAST "function", BAD_CAST buf);
	xmlTextWriterEndElement(w);
}

static void write_number(xmlTextWriterPtr w, const char *elem, unsigned v)
{
	xmlTextWriterWriteFormatElement(w, BAD_CAST elem, "%u", v);
}

/* libvirt's <device> for one PCI function, from its sysfs directory. */
static char *device_xml(const char *sysroot, const char *devdir, const char *addr)
{
	char *vendor = sys_read(devdir, "vendor"), *device = sys_read(devdir, "device");
	char *cls = sys_read(devdir, "class"), *driver = link_base(devdir, "driver");
	char *group = link_base(devdir, "iommu_group"), *name = NULL;
	unsigned dom = 0, bus = 0, slot = 0, fn = 0;
	xmlBufferPtr buf = xmlBufferCreate();
	xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
	char *xml = NULL;

	if (!vendor || !device || sscanf(addr, "%x:%x:%x.%x", &dom, &bus, &slot, &fn) != 4)
		goto out;
	name = cl_aprintf("pci_%04x_%02x_%02x_%x", dom, bus, slot, fn);
	xmlTextWriterStartElement(w, BAD_CAST "device");
	xmlTextWriterWriteElement(w, BAD_CAST "name", BAD_CAST name);
	if (driver) {
		xmlTextWriterStartElement(w, BAD_CAST "driver");
		xmlTextWriterWriteElement(w, BAD_CAST "name", BAD_CAST driver);
		xmlTextWriterEndElement(w);
	}
	xmlTextWriterStartElement(w, BAD_CAST "capability");
	xmlTextWriterWriteAttribute(w, BAD_CAST "type", BAD_CAST "pci");
	if (cls)
		xmlTextWriterWriteElement(w, BAD_CAST "class", BAD_CAST cls);
	write_number(w, "domain", dom);
	write_number(w, "bus", bus);
	write_number(w, "slot", slot);
	write_number(w, "function", fn);
	xmlTextWriterStartElement(w, BAD_CAST "product");
	xmlTextWriterWriteAttribute(w, BAD_CAST "id", BAD_CAST device);
	xmlTextWriterEndElement(w);
	xmlTextWriterStartElement(w, BAD_CAST "vendor");
	xmlTextWriterWriteAttribute(w, BAD_CAST "id", BAD_CAST vendor);
	xmlTextWriterEndElement(w);
	if (group) {
		char *gdir = cl_aprintf("%s/kernel/iommu_groups/%s/devices", sysroot, group);
		DIR *d = opendir(gdir);
		struct dirent *e;
		xmlTextWriterStartElement(w, BAD_CAST "iommuGroup");
		xmlTextWriterWriteAttribute(w, BAD_CAST "number", BAD_CAST group);
		while (d && (e = readdir(d)))
			if (e->d_name[0] != '.')
				write_address(w, e->d_name);
		if (d)
			closedir(d);
		free(gdir);
		xmlTextWriterEndElement(w);
	}
	xmlTextWriterEndDocument(w);
	xmlFreeTextWriter(w);
	w = NULL;
	xml = cl_strndup((const char *)xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
out:
	if (w)
		xmlFreeTextWriter(w);
	xmlBufferFree(buf);
	free(name);
	free(vendor);
	free(device);
	free(cls);
	free(driver);
	free(group);
	return xml;
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
			char *xml = device_xml(sysroot, dev, e->d_name);
			cl_host_gpu *g = NULL;
			if (xml && (rc = cl_gpu_host_parse(xml, &g)) == 0 && g) {
				list = cl_realloc(list, (count + 1) * sizeof(*list));
				list[count++] = *g;
				free(g);
			}
			free(xml);
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
