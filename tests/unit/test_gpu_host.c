/* Host GPU discovery against libvirt's test driver loaded from tests/data/nodedev/<case>/host.xml. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "classlab/cl_gpu.h"
#include "tap.h"
#include "classlab/banned.h"

static void quiet(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e;
}

static int list_case(const char *name, cl_host_gpu **gpus, size_t *n)
{
	char *uri = cl_aprintf("test://%s/nodedev/%s/host.xml", CL_TEST_DATA, name);
	virConnectPtr conn = virConnectOpen(uri);
	int rc;

	free(uri);
	if (!conn) {
		printf("# cannot open the test driver for '%s'\n", name);
		return -1;
	}
	rc = cl_gpu_host_list(conn, gpus, n);
	if (rc < 0)
		printf("# %s\n", cl_error_msg());
	virConnectClose(conn);
	return rc;
}

static void test_ready(void)
{
	cl_host_gpu *g = NULL;
	size_t n = 0;

	CHECK_INT(list_case("a100-ready", &g, &n), 0);
	CHECK_INT(n, 1);
	if (n != 1)
		return;
	CHECK_STR(g[0].address, "0000:65:00.0");
	CHECK_STR(g[0].name, "pci_0000_65_00_0");
	CHECK_STR(g[0].product, "GA100 [A100 SXM4 40GB]");
	CHECK_STR(g[0].product_id, "0x20b0");
	/* libvirt 9.0's test driver drops <driver>: a real host reports it. */
	CHECK(g[0].driver == NULL);
	CHECK_INT(g[0].iommu_group, 30);
	CHECK_INT(g[0].ngroup_members, 1);
	CHECK_STR(g[0].group_members[0], "0000:65:00.0");
	CHECK(g[0].passthrough_ready);
	CHECK(g[0].reason == NULL);

	json_t *j = cl_gpu_host_json(g, n);
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	CHECK_STR(s, "[{\"address\":\"0000:65:00.0\",\"driver\":null,\"group_members\":[\"0000:65:00.0\"],"
		     "\"iommu_group\":30,\"note\":\"host driver not reported\",\"passthrough_ready\":true,"
		     "\"product\":\"GA100 [A100 SXM4 40GB]\",\"product_id\":\"0x20b0\",\"reason\":null}]");
	free(s);
	json_decref(j);
	cl_gpu_host_free(g, n);
}

static void test_shared(void)
{
	cl_host_gpu *g = NULL;
	size_t n = 0;

	CHECK_INT(list_case("shared-bridge", &g, &n), 0);
	CHECK_INT(n, 1);
	if (n != 1)
		return;
	CHECK_STR(g[0].address, "0000:01:00.0");
	CHECK(!g[0].passthrough_ready);
	CHECK(g[0].reason && strstr(g[0].reason, "IOMMU group 1 is shared with 0000:00:01.0"));
	cl_gpu_host_free(g, n);
}

static void test_audio_and_no_group(void)
{
	cl_host_gpu *g = NULL;
	size_t n = 0;

	CHECK_INT(list_case("audio-sibling", &g, &n), 0);
	/* the A10 and the K80 (no class: named a Tesla); the audio function is not a GPU */
	CHECK_INT(n, 2);
	if (n != 2)
		return;
	CHECK_STR(g[0].address, "0000:17:00.0");
	CHECK_STR(g[0].product, "GK210GL [Tesla K80]");
	CHECK_INT(g[0].iommu_group, -1);
	CHECK(!g[0].passthrough_ready);
	CHECK(g[0].reason && strncmp(g[0].reason, "no IOMMU group", 14) == 0);

	CHECK_STR(g[1].address, "0000:65:00.0");
	CHECK(g[1].passthrough_ready);
	CHECK_INT(g[1].ngroup_members, 2);
	CHECK(g[1].note && strstr(g[1].note, "assign 0000:65:00.1 too"));
	cl_gpu_host_free(g, n);
}

static void test_none(void)
{
	cl_host_gpu *g = NULL;
	size_t n = 99;

	CHECK_INT(list_case("non-nvidia", &g, &n), 0);
	CHECK_INT(n, 0);
	CHECK(g == NULL);
	n = 99;
	CHECK_INT(list_case("none", &g, &n), 0);
	CHECK_INT(n, 0);
	json_t *j = cl_gpu_host_json(g, n);
	CHECK_INT(json_array_size(j), 0);
	json_decref(j);
}

/* The parser on XML the way udev reports it on a real host (with <driver>). */
static void test_parse_driver(void)
{
	cl_buf xml = CL_BUF_INIT;
	cl_host_gpu *g = NULL;

	cl_buf_puts(&xml, "<device><name>pci_0000_01_00_0</name><driver><name>nvidia</name></driver>"
			  "<capability type='pci'><class>0x030200</class><domain>0</domain><bus>1</bus>"
			  "<slot>0</slot><function>0</function>"
			  "<product id='0x1db4'>GV100GL [Tesla V100 PCIe 16GB]</product>"
			  "<vendor id='0x10de'>NVIDIA Corporation</vendor>"
			  "<iommuGroup number='7'><address domain='0x0000' bus='0x01' slot='0x00' "
			  "function='0x0'/></iommuGroup></capability></device>");
	CHECK_INT(cl_gpu_host_parse(cl_buf_str(&xml), &g), 0);
	CHECK(g != NULL);
	if (g) {
		CHECK_STR(g->driver, "nvidia");
		CHECK(g->passthrough_ready);
		CHECK(g->note && strstr(g->note, "bound to host driver 'nvidia'"));
		cl_gpu_host_free(g, 1);
	}
	g = NULL;
	/* an NVIDIA audio function is not a GPU */
	CHECK_INT(cl_gpu_host_parse("<device><name>x</name><capability type='pci'><class>0x040300</class>"
				    "<domain>0</domain><bus>1</bus><slot>0</slot><function>1</function>"
				    "<vendor id='0x10de'>NVIDIA</vendor></capability></device>",
				    &g),
		  0);
	CHECK(g == NULL);
	/* entities are not expanded */
	CHECK_INT(cl_gpu_host_parse("<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
				    "<device><name>&e;</name><capability type='pci'><class>0x030000</class>"
				    "<domain>0</domain><bus>1</bus><slot>0</slot><function>0</function>"
				    "<vendor id='0x10de'>NVIDIA</vendor></capability></device>",
				    &g),
		  0);
	CHECK(g != NULL);
	if (g) {
		CHECK(g->name == NULL || strstr(g->name, "root") == NULL);
		cl_gpu_host_free(g, 1);
	}
	g = NULL;
	CHECK_INT(cl_gpu_host_parse("<device", &g), CL_EFAIL);
	cl_buf_free(&xml);
}

int main(void)
{
	virSetErrorFunc(NULL, quiet);
	test_ready();
	test_shared();
	test_audio_and_no_group();
	test_none();
	test_parse_driver();
	return tap_done();
}
