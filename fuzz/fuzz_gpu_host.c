/* libFuzzer harness: one libvirt node device's XML (virNodeDeviceGetXMLDesc) into a
 * host GPU and its passthrough verdict (provision/gpu/host.c, libxml2), then to JSON. */
#include <stdio.h>

#include <libxml/parser.h>

#include "classlab/cl_gpu.h"
#include "fuzz_common.h"

static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, quiet); /* libxml2 prints parse errors otherwise */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *xml = fz_strndup(data, size);
	cl_host_gpu *gpu = NULL;

	if (cl_gpu_host_parse(xml, &gpu) == 0 && gpu) {
		FZ_CHECK(gpu->address != NULL);
		FZ_CHECK(gpu->passthrough_ready == (gpu->reason == NULL));
		json_t *js = cl_gpu_host_json(gpu, 1);
		FZ_CHECK(js && json_array_size(js) == 1);
		json_decref(js);
	}
	cl_gpu_host_free(gpu, gpu ? 1 : 0);
	cl_error_clear();
	free(xml);
	return 0;
}
