/* Shared by provision/gpu: one PCI function as a host reports it, before it is judged. */
#ifndef CL_GPU_INTERNAL_H
#define CL_GPU_INTERNAL_H

#include "classlab/cl_gpu.h"

typedef struct gpu_pci_addr {
	unsigned long domain, bus, slot, function;
} gpu_pci_addr;

/*
 * What libvirt's node-device XML (host.c) or sysfs (sysfs.c) says about one PCI
 * function. Everything is borrowed for the call. Text fields are as the source
 * wrote them; NULL when the source says nothing.
 */
typedef struct gpu_pci_fn {
	const char *name;	 /* "pci_0000_65_00_0" */
	unsigned long vendor;	 /* 0x10de */
	const char *product;	 /* "GA100 [A100 SXM4 40GB]" */
	const char *product_id; /* "0x20b0" */
	const char *driver;	 /* "vfio-pci" */
	const char *pci_class;	 /* "0x030200" */
	gpu_pci_addr addr;
	const char *iommu_group; /* "30" */
	const gpu_pci_addr *members; /* the group's functions, this one included */
	size_t nmembers;
} gpu_pci_fn;

/* Any value that cannot be a PCI address part: a producer that could not read one. */
#define GPU_PCI_BAD (~0UL)

/* A number in decimal or 0x-hex (libvirt writes both) up to max. */
bool gpu_parse_num(const char *s, unsigned long max, unsigned long *out);

/*
 * Judges one function: *out is a new cl_host_gpu, or NULL when it is not an
 * NVIDIA display function. CL_EFAIL for an invalid address or IOMMU group.
 */
int gpu_host_from_pci(const gpu_pci_fn *f, cl_host_gpu **out);

#endif
