/* Host GPU discovery: NVIDIA PCI display devices from libvirt's node devices,
 * with their IOMMU group and whether they can be passed through to a guest. */
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libvirt/virterror.h>

#include "gpu_internal.h"
#include "classlab/banned.h"

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

/* A PCI address part, or GPU_PCI_BAD when absent or not a number. */
static unsigned long pci_num(const char *s)
{
	unsigned long v;
	return gpu_parse_num(s, GPU_PCI_BAD - 1, &v) ? v : GPU_PCI_BAD;
}

static unsigned long xp_num(xmlXPathContextPtr ctx, const char *expr)
{
	char *s = xp_string(ctx, expr);
	unsigned long v = pci_num(s);
	free(s);
	return v;
}

static unsigned long prop_num(xmlNodePtr node, const char *name)
{
	xmlChar *p = xmlGetProp(node, (const xmlChar *)name);
	unsigned long v = pci_num((const char *)p);
	xmlFree(p);
	return v;
}

int cl_gpu_host_parse(const char *xml, cl_host_gpu **out)
{
	xmlDocPtr doc = NULL;
	xmlXPathContextPtr ctx = NULL;
	xmlXPathObjectPtr addrs = NULL;
	gpu_pci_fn f = {0};
	gpu_pci_addr *members = NULL;
	char *vendor = NULL, *name = NULL, *product = NULL, *product_id = NULL, *driver = NULL;
	char *cls = NULL, *group = NULL;
	unsigned long v;
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
	f.vendor = gpu_parse_num(vendor, 0xffff, &v) ? v : GPU_PCI_BAD;
	f.name = name = xp_string(ctx, "string(/device/name)");
	f.product = product = xp_string(ctx, "string(/device/capability[@type='pci']/product)");
	f.product_id = product_id =
		xp_string(ctx, "string(/device/capability[@type='pci']/product/@id)");
	f.driver = driver = xp_string(ctx, "string(/device/driver/name)");
	f.pci_class = cls = xp_string(ctx, "string(/device/capability[@type='pci']/class)");
	f.addr.domain = xp_num(ctx, "string(/device/capability[@type='pci']/domain)");
	f.addr.bus = xp_num(ctx, "string(/device/capability[@type='pci']/bus)");
	f.addr.slot = xp_num(ctx, "string(/device/capability[@type='pci']/slot)");
	f.addr.function = xp_num(ctx, "string(/device/capability[@type='pci']/function)");
	f.iommu_group = group =
		xp_string(ctx, "string(/device/capability[@type='pci']/iommuGroup/@number)");
	if (group) {
		addrs = xmlXPathEvalExpression(
			(const xmlChar *)"/device/capability[@type='pci']/iommuGroup/address", ctx);
		int na = addrs && addrs->nodesetval ? addrs->nodesetval->nodeNr : 0;
		members = cl_calloc((size_t)na + 1, sizeof(*members));
		for (int i = 0; i < na; i++) {
			xmlNodePtr node = addrs->nodesetval->nodeTab[i];
			members[i] = (gpu_pci_addr){prop_num(node, "domain"), prop_num(node, "bus"),
						    prop_num(node, "slot"), prop_num(node, "function")};
		}
		f.members = members;
		f.nmembers = (size_t)na;
	}
	rc = gpu_host_from_pci(&f, out);
out:
	xmlXPathFreeObject(addrs);
	free(members);
	free(group);
	free(cls);
	free(driver);
	free(product_id);
	free(product);
	free(name);
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
