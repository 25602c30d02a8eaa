/* The in-process qcow2 overlay: qemu-img must find it consistent and read it as it made it. */
#include "../../provision/provision_internal.h"
#include "classlab/cl_spawn.h"
#include "tap.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int run(const char *const argv[], cl_buf *out)
{
	int status = -1;
	if (cl_spawn(argv, NULL, 30000, out, NULL, &status) != 0)
		return -1;
	return status;
}

int main(void)
{
	char dir[] = "/tmp/clq2XXXXXX";
	cl_buf out = CL_BUF_INIT;

	if (access("/usr/bin/qemu-img", X_OK) != 0) {
		fprintf(stderr, "skip: qemu-img is not installed\n");
		return 77;
	}
	if (!mkdtemp(dir))
		return 1;
	char *base = cl_path_join(dir, "base.qcow2"), *ov = cl_path_join(dir, "ov.qcow2");
	char *ov2 = cl_path_join(dir, "ov2.qcow2");
	const char *mk[] = {"qemu-img", "create", "-q", "-f", "qcow2", base, "10G", NULL};
	CHECK_INT(run(mk, NULL), 0);

	/* 10 GiB + 512: an L1 table that does not end on an L2 boundary. */
	uint64_t size = (10ULL << 30) + 512;
	CHECK_INT(cl_qcow2_write_overlay(ov, size, base, "qcow2"), 0);
	CHECK_INT(cl_qcow2_write_overlay(ov, size, base, "qcow2"), CL_EFAIL); /* never overwrites */
	const char *check[] = {"qemu-img", "check", "-q", ov, NULL};
	CHECK_INT(run(check, NULL), 0);
	const char *info[] = {"qemu-img", "info", "--output=json", ov, NULL};
	CHECK_INT(run(info, &out), 0);
	json_t *j = json_loads(cl_buf_str(&out), 0, NULL);
	CHECK(j != NULL);
	CHECK_STR(json_string_value(json_object_get(j, "format")), "qcow2");
	CHECK_STR(json_string_value(json_object_get(j, "backing-filename")), base);
	CHECK_STR(json_string_value(json_object_get(j, "backing-filename-format")), "qcow2");
	CHECK_INT(json_integer_value(json_object_get(j, "virtual-size")), (long long)size);
	json_t *spec = json_object_get(json_object_get(j, "format-specific"), "data");
	CHECK_STR(json_string_value(json_object_get(spec, "compat")), "1.1");
	CHECK_INT(json_integer_value(json_object_get(j, "cluster-size")), 65536);
	json_decref(j);

	/* Data written through the overlay reads back, and the image stays consistent. */
	const char *io[] = {"qemu-io", "-c", "write -P 0x5a 1M 2M", "-c", "read -P 0x5a 1M 2M",
			    "-c", "read -P 0 0 1M", ov, NULL};
	if (access("/usr/bin/qemu-io", X_OK) == 0) {
		CHECK_INT(run(io, NULL), 0);
		CHECK_INT(run(check, NULL), 0);
	}
	/* Refused: empty backing name, a size that is not whole sectors. */
	CHECK_INT(cl_qcow2_write_overlay(ov2, size, "", "qcow2"), CL_EINVAL);
	CHECK_INT(cl_qcow2_write_overlay(ov2, 1000, base, "qcow2"), CL_EINVAL);
	CHECK(access(ov2, F_OK) != 0);

	char *cmd = cl_aprintf("rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	free(base);
	free(ov);
	free(ov2);
	cl_buf_free(&out);
	return tap_done();
}
