/*
 * Which PCI functions are NVIDIA GPUs and whether they can be passed through:
 * one judgement for both sources (libvirt node devices in host.c, sysfs in sysfs.c).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"
#include "classlab/banned.h"

#define NVIDIA_VENDOR 0x10de

bool gpu_parse_num(const char *s, unsigned long max, unsigned long *out)
{
	char *end = NULL;
	unsigned long v;

	if (!s || !*s)
		return false;
	v = strtoul(s, &end, 0);
	if (*end || v > max)
		return false;
	*out = v;
	return true;
}

static bool addr_valid(const gpu_pci_addr *a)
{
	return a->domain <= 0xffff && a->bus <= 0xff && a->slot <= 0x1f && a->function <= 7;
}

static bool name_says_display(const char *product)
{
	/* pci.ids names start with the chip: GK210GL, GP100, GV100, TU104GL, GA100,
	 * AD104GL, GH100, GB100; other NVIDIA functions (HD audio, USB, NVSwitch,
	 * bridges) are named for what they are. */
	static const char *const not_gpu[] = {"Audio", "USB", "Serial", "Bridge", "NVSwitch",
					      "Controller", "SMBus", NULL};
	static const char *const gpu_words[] = {"GPU", "VGA", "3D", "Tesla", "GeForce",
						"Quadro", "RTX", "TITAN", NULL};
	size_t i, letters = 0;

	if (!product)
		return false;
	for (i = 0; not_gpu[i]; i++)
		if (strstr(product, not_gpu[i]))
			return false;
	for (i = 0; gpu_words[i]; i++)
		if (strstr(product, gpu_words[i]))
			return true;
	while (isupper((unsigned char)product[letters]))
		letters++;
	return letters >= 1 && letters <= 3 && isdigit((unsigned char)product[letters]) &&
	       isdigit((unsigned char)product[letters + 1]) &&
	       isdigit((unsigned char)product[letters + 2]);
}

static char *format_address(const gpu_pci_addr *a)
{
	return cl_aprintf("%04lx:%02lx:%02lx.%lx", a->domain, a->bus, a->slot, a->function);
}

/* "0000:65:00.0" and "0000:65:00.1" are functions of one card: same prefix up to '.'. */
static bool same_card(const char *a, const char *b)
{
	const char *da = strrchr(a, '.'), *db = strrchr(b, '.');

	return da && db && da - a == db - b && strncmp(a, b, (size_t)(da - a)) == 0;
}

static void judge(cl_host_gpu *g)
{
	cl_buf others = CL_BUF_INIT, siblings = CL_BUF_INIT;
	size_t i;

	if (g->iommu_group < 0) {
		g->passthrough_ready = false;
		g->reason = cl_strdup("no IOMMU group: enable VT-d/AMD-Vi in the firmware and "
				      "the kernel (intel_iommu=on or amd_iommu=on)");
		return;
	}
	for (i = 0; i < g->ngroup_members; i++) {
		const char *m = g->group_members[i];
		if (strcmp(m, g->address) == 0)
			continue;
		cl_buf *b = same_card(m, g->address) ? &siblings : &others;
		cl_buf_printf(b, "%s%s", b->len ? ", " : "", m);
	}
	if (others.len) {
		g->passthrough_ready = false;
		g->reason = cl_aprintf("IOMMU group %d is shared with %s: move the card to a slot "
				       "with its own group (ACS) or pass the whole group through",
				       g->iommu_group, cl_buf_str(&others));
	} else {
		g->passthrough_ready = true;
	}

	cl_buf note = CL_BUF_INIT;
	if (g->driver && strcmp(g->driver, "vfio-pci") != 0)
		cl_buf_printf(&note, "bound to host driver '%s': libvirt detaches it when a "
				     "managed='yes' hostdev starts; the host must not be using it",
			      g->driver);
	else if (!g->driver)
		cl_buf_puts(&note, "host driver not reported");
	if (siblings.len)
		cl_buf_printf(&note, "%sassign %s too (same card, same IOMMU group)",
			      note.len ? "; " : "", cl_buf_str(&siblings));
	if (note.len)
		g->note = cl_buf_detach(&note);
	cl_buf_free(&note);
	cl_buf_free(&others);
	cl_buf_free(&siblings);
}

static char *dup_or_null(const char *s)
{
	return s && *s ? cl_strdup(s) : NULL;
}

int gpu_host_from_pci(const gpu_pci_fn *f, cl_host_gpu **out)
{
	cl_host_gpu *g = NULL;
	unsigned long c = 0, gn;
	int rc = 0;

	*out = NULL;
	if (f->vendor != NVIDIA_VENDOR)
		return 0;
	if (f->pci_class && *f->pci_class
		    ? !gpu_parse_num(f->pci_class, 0xffffff, &c) || (c >> 16) != 0x03
		    : !name_says_display(f->product))
		return 0;
	g = cl_calloc(1, sizeof(*g));
	g->iommu_group = -1;
	g->name = dup_or_null(f->name);
	g->product = dup_or_null(f->product);
	g->product_id = dup_or_null(f->product_id);
	g->driver = dup_or_null(f->driver);
	if (!addr_valid(&f->addr)) {
		rc = cl_error_set(CL_EFAIL, "node device '%s' has no valid PCI address",
				  g->name ? g->name : "?");
		goto out;
	}
	g->address = format_address(&f->addr);
	if (f->iommu_group && *f->iommu_group) {
		if (!gpu_parse_num(f->iommu_group, 0x7fffffff, &gn)) {
			rc = cl_error_set(CL_EFAIL, "node device '%s' has a bad IOMMU group '%s'",
					  g->name ? g->name : "?", f->iommu_group);
			goto out;
		}
		g->iommu_group = (int)gn;
		g->group_members = cl_calloc(f->nmembers + 1, sizeof(char *));
		for (size_t i = 0; i < f->nmembers; i++) {
			if (!addr_valid(&f->members[i])) {
				rc = cl_error_set(CL_EFAIL,
						  "node device '%s' has a bad address in IOMMU group %d",
						  g->name ? g->name : "?", g->iommu_group);
				goto out;
			}
			g->group_members[g->ngroup_members++] = format_address(&f->members[i]);
		}
	}
	judge(g);
	*out = g;
	g = NULL;
out:
	cl_gpu_host_free(g, 1);
	return rc;
}
