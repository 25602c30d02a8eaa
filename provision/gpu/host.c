/* Host GPU discovery: NVIDIA PCI display devices from libvirt's node devices,
 * with their IOMMU group and whether they can be passed through to a guest. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libvirt/virterror.h>

#include "classlab/cl_gpu.h"
#include "classlab/banned.h"

#define NVIDIA_VENDOR 0x10de

/* The string value of an XPath expression relative to ctx's node; new or NULL. */
static char *xp_string(xmlXPathContextPtr ctx, const char *expr)
{
	xmlXPathObjectPtr obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	char *s = NULL;

	if (obj && obj->type == XPATH_STRING && obj->stringval && obj->stringval[0])
		s = cl_strdup((const char *)obj->stringval);
	xmlXPathFreeObject(obj);
	return s;
}

/* libvirt writes domain/bus/slot/function in decimal in nodedev XML and in hex
 * in <address> attributes; base 0 reads both. */
static bool parse_num(const char *s, unsigned long max, unsigned long *out)
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

static char *format_address(unsigned long dom, unsigned long bus, unsigned long slot,
			    unsigned long fn)
{
	return cl_aprintf("%04lx:%02lx:%02lx.%lx", dom, bus, slot, fn);
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

int cl_gpu_host_parse(const char *xml, cl_host_gpu **out)
{
	xmlDocPtr doc = NULL;
	xmlXPathContextPtr ctx = NULL;
	xmlXPathObjectPtr addrs = NULL;
	cl_host_gpu *g = NULL;
	char *vendor = NULL, *cls = NULL, *dom = NULL, *bus = NULL, *slot = NULL, *fn = NULL;
	char *group = NULL;
	unsigned long v, d, b, s, f, c = 0;
	int rc = 0;

	*out = NULL;
	if (!xml)
		return cl_error_set(CL_EINVAL, "no node device XML");
	/* No entity expansion, no network: the XML comes from the hypervisor but
	 * is still parsed as untrusted input. */
	doc = xmlReadMemory(xml, (int)strlen(xml), "nodedev.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		rc = cl_error_set(CL_EFAIL, "cannot parse node device XML");
		goto out;
	}
	ctx = xmlXPathNewContext(doc);
	if (!ctx) {
		rc = cl_error_set(CL_EFAIL, "cannot parse node device XML: no XPath context");
		goto out;
	}
	vendor = xp_string(ctx, "string(/device/capability[@type='pci']/vendor/@id)");
	if (!vendor || !parse_num(vendor, 0xffff, &v) || v != NVIDIA_VENDOR)
		goto out;

	g = cl_calloc(1, sizeof(*g));
	g->iommu_group = -1;
	g->name = xp_string(ctx, "string(/device/name)");
	g->product = xp_string(ctx, "string(/device/capability[@type='pci']/product)");
	g->product_id = xp_string(ctx, "string(/device/capability[@type='pci']/product/@id)");
	g->driver = xp_string(ctx, "string(/device/driver/name)");

	cls = xp_string(ctx, "string(/device/capability[@type='pci']/class)");
	if (cls ? !parse_num(cls, 0xffffff, &c) || (c >> 16) != 0x03
		: !name_says_display(g->product))
		goto skip;

	dom = xp_string(ctx, "string(/device/capability[@type='pci']/domain)");
	bus = xp_string(ctx, "string(/device/capability[@type='pci']/bus)");
	slot = xp_string(ctx, "string(/device/capability[@type='pci']/slot)");
	fn = xp_string(ctx, "string(/device/capability[@type='pci']/function)");
	if (!parse_num(dom, 0xffff, &d) || !parse_num(bus, 0xff, &b) ||
	    !parse_num(slot, 0x1f, &s) || !parse_num(fn, 7, &f)) {
		rc = cl_error_set(CL_EFAIL, "node device '%s' has no valid PCI address",
				  g->name ? g->name : "?");
		goto out;
	}
	g->address = format_address(d, b, s, f);

	group = xp_string(ctx, "string(/device/capability[@type='pci']/iommuGroup/@number)");
	if (group) {
		unsigned long gn;
		if (!parse_num(group, 0x7fffffff, &gn)) {
			rc = cl_error_set(CL_EFAIL, "node device '%s' has a bad IOMMU group '%s'",
					  g->name ? g->name : "?", group);
			goto out;
		}
		g->iommu_group = (int)gn;
		addrs = xmlXPathEvalExpression(
			(const xmlChar *)"/device/capability[@type='pci']/iommuGroup/address", ctx);
		int na = addrs && addrs->nodesetval ? addrs->nodesetval->nodeNr : 0;
		g->group_members = cl_calloc((size_t)na + 1, sizeof(char *));
		for (int i = 0; i < na; i++) {
			xmlNodePtr node = addrs->nodesetval->nodeTab[i];
			xmlChar *ad = xmlGetProp(node, (const xmlChar *)"domain");
			xmlChar *ab = xmlGetProp(node, (const xmlChar *)"bus");
			xmlChar *as = xmlGetProp(node, (const xmlChar *)"slot");
			xmlChar *af = xmlGetProp(node, (const xmlChar *)"function");
			unsigned long md, mb, ms, mf;
			bool ok = parse_num((const char *)ad, 0xffff, &md) &&
				  parse_num((const char *)ab, 0xff, &mb) &&
				  parse_num((const char *)as, 0x1f, &ms) &&
				  parse_num((const char *)af, 7, &mf);
			xmlFree(ad);
			xmlFree(ab);
			xmlFree(as);
			xmlFree(af);
			if (!ok) {
				rc = cl_error_set(CL_EFAIL,
						  "node device '%s' has a bad address in IOMMU group %d",
						  g->name ? g->name : "?", g->iommu_group);
				goto out;
			}
			g->group_members[g->ngroup_members++] = format_address(md, mb, ms, mf);
		}
	}
	judge(g);
	*out = g;
	g = NULL;
	goto out;
skip:
	cl_gpu_host_free(g, 1);
	g = NULL;
out:
	if (g)
		cl_gpu_host_free(g, 1);
	xmlXPathFreeObject(addrs);
	free(group);
	free(fn);
	free(slot);
	free(bus);
	free(dom);
	free(cls);
	free(vendor);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return rc;
}

static int cmp_address(const void *a, const void *b)
{
	const cl_host_gpu *x = a, *y = b;
	return strcmp(x->address, y->address);
}

int cl_gpu_host_list(virConnectPtr conn, cl_host_gpu **out, size_t *n)
{
	virNodeDevicePtr *devs = NULL;
	cl_host_gpu *list = NULL;
	size_t count = 0;
	int ndev, rc = 0, i;

	*out = NULL;
	*n = 0;
	if (!conn)
		return cl_error_set(CL_EINVAL, "cannot list host GPUs: no hypervisor connection");
	/* Only the PCI flag: the test driver rejects every other capability filter. */
	ndev = virConnectListAllNodeDevices(conn, &devs, VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV);
	if (ndev < 0) {
		virErrorPtr e = virGetLastError();
		/* The embedded driver has no node devices; it runs here, so sysfs tells. */
		char *uri = e && e->code == VIR_ERR_NO_SUPPORT ? virConnectGetURI(conn) : NULL;
		bool local = uri && strstr(uri, ":///embed");
		free(uri);
		if (local)
			return cl_gpu_host_list_sysfs("/sys", out, n);
		return cl_error_set(CL_EUNAVAIL, "cannot list host PCI devices: %s",
				    e && e->message ? e->message : "unknown libvirt error");
	}
	for (i = 0; i < ndev; i++) {
		char *xml = virNodeDeviceGetXMLDesc(devs[i], 0);
		cl_host_gpu *g = NULL;

		if (!xml) {
			virErrorPtr e = virGetLastError();
			rc = cl_error_set(CL_EUNAVAIL, "cannot read node device '%s': %s",
					  virNodeDeviceGetName(devs[i]),
					  e && e->message ? e->message : "unknown libvirt error");
			goto out;
		}
		rc = cl_gpu_host_parse(xml, &g);
		free(xml);
		if (rc < 0) {
			cl_error_wrap("cannot read node device '%s'", virNodeDeviceGetName(devs[i]));
			goto out;
		}
		if (!g)
			continue;
		list = cl_realloc(list, (count + 1) * sizeof(*list));
		list[count++] = *g;
		free(g);
	}
	if (count > 1)
		qsort(list, count, sizeof(*list), cmp_address);
	*out = list;
	*n = count;
	list = NULL;
	count = 0;
out:
	cl_gpu_host_free(list, count);
	for (i = 0; i < ndev; i++)
		virNodeDeviceFree(devs[i]);
	free(devs);
	return rc;
}

void cl_gpu_host_free(cl_host_gpu *gpus, size_t n)
{
	if (!gpus)
		return;
	for (size_t i = 0; i < n; i++) {
		cl_host_gpu *g = &gpus[i];
		free(g->name);
		free(g->address);
		free(g->product);
		free(g->product_id);
		free(g->driver);
		for (size_t j = 0; j < g->ngroup_members; j++)
			free(g->group_members[j]);
		free(g->group_members);
		free(g->reason);
		free(g->note);
	}
	free(gpus);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *cl_gpu_host_json(const cl_host_gpu *gpus, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++) {
		const cl_host_gpu *g = &gpus[i];
		json_t *members = json_array();
		for (size_t j = 0; j < g->ngroup_members; j++)
			json_array_append_new(members, json_string(g->group_members[j]));
		json_t *o = json_object();
		json_object_set_new(o, "address", str_or_null(g->address));
		json_object_set_new(o, "product", str_or_null(g->product));
		json_object_set_new(o, "product_id", str_or_null(g->product_id));
		json_object_set_new(o, "driver", str_or_null(g->driver));
		json_object_set_new(o, "iommu_group",
				    g->iommu_group < 0 ? json_null() : json_integer(g->iommu_group));
		json_object_set_new(o, "group_members", members);
		json_object_set_new(o, "passthrough_ready", json_boolean(g->passthrough_ready));
		json_object_set_new(o, "reason", str_or_null(g->reason));
		json_object_set_new(o, "note", str_or_null(g->note));
		json_array_append_new(arr, o);
	}
	return arr;
}
