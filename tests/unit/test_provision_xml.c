/* Domain XML: golden files (tests/data/xml/<case>/expected.xml), virt-xml-validate, MAC, UUID. */
#include "classlab/cl_provision.h"
#include "classlab/cl_spawn.h"
#include "tap.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *UUID1 = "6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f";
static int have_validate = -1;

static void validate(const char *name, const cl_buf *xml)
{
	char path[] = "/tmp/clxmlXXXXXX";
	cl_buf out = CL_BUF_INIT, err = CL_BUF_INIT;
	int fd, status = -1;

	if (have_validate < 0)
		have_validate = access("/usr/bin/virt-xml-validate", X_OK) == 0;
	if (!have_validate)
		return;
	fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, xml->data, xml->len) == (ssize_t)xml->len);
	close(fd);
	const char *argv[] = {"virt-xml-validate", path, "domain", NULL};
	CHECK_INT(cl_spawn(argv, NULL, 30000, &out, &err, &status), 0);
	if (status != 0)
		fprintf(stderr, "virt-xml-validate %s: %s%s\n", name, out.data, err.data);
	CHECK_INT(status, 0);
	unlink(path);
	cl_buf_free(&out);
	cl_buf_free(&err);
}

static void golden(const char *name, const cl_domain_spec *spec)
{
	cl_buf xml = CL_BUF_INIT, want = CL_BUF_INIT;
	char *path = cl_aprintf("%s/xml/%s/expected.xml", CL_TEST_DATA, name);
	int rc = cl_domain_xml(spec, &xml);

	if (rc < 0)
		fprintf(stderr, "%s: %s\n", name, cl_error_msg());
	CHECK_INT(rc, 0);
	if (getenv("CL_TEST_REGEN")) {
		char *dir = cl_aprintf("%s/xml/%s", CL_TEST_DATA, name);
		cl_mkdir_p(dir, 0755);
		cl_write_file(path, xml.data, xml.len, 0644);
		free(dir);
	}
	CHECK_INT(cl_read_file(path, 1 << 20, &want), 0);
	if (strcmp(cl_buf_str(&xml), cl_buf_str(&want)) != 0) {
		fprintf(stderr, "%s differs from %s:\n%s\n", name, path, cl_buf_str(&xml));
		CHECK(0);
	}
	validate(name, &xml);
	free(path);
	cl_buf_free(&xml);
	cl_buf_free(&want);
}

static void test_golden(void)
{
	static const cl_port_forward jup[] = {{NULL, 18888, 8888}};
	const char *one[] = {"0000:65:00.0"};
	const char *two[] = {"0000:65:00.0", "0000:b3:00.1"};
	cl_domain_spec tiny = {
		.name = "ml-lab-alice",
		.uuid = UUID1,
		.type = "qemu",
		.memory_mib = 256,
		.vcpus = 1,
		.disk_path = "/var/lib/classlab/pool/ml-lab-alice.qcow2",
		.disk_format = "qcow2",
		.seed_path = "/var/lib/classlab/pool/ml-lab-alice-seed.iso",
		.kernel = "/var/lib/classlab/pool/base-tiny-0123456789ab-vmlinuz",
		.initrd = "/var/lib/classlab/pool/base-tiny-0123456789ab-initrd",
		.cmdline = "console=ttyS0 root=/dev/vda rw",
		.console_log = "/var/lib/classlab/console/ml-lab-alice.log",
		.mac = "02:11:22:33:44:55",
		.ssh_port = 22001,
		.forwards = jup,
		.n_forwards = 1,
	};
	golden("tiny-cpu", &tiny);

	cl_domain_spec cloud = tiny;
	cloud.name = "ds-lab-bob";
	cloud.type = "kvm";
	cloud.memory_mib = 4096;
	cloud.vcpus = 2;
	cloud.kernel = cloud.initrd = cloud.cmdline = NULL;
	cloud.forwards = NULL;
	cloud.n_forwards = 0;
	cloud.listen = "0.0.0.0";
	cloud.allow_outbound = true;
	golden("cloud-image", &cloud);

	cl_domain_spec gpu1 = cloud;
	gpu1.name = "gpu-lab-carol";
	gpu1.hostdevs = one;
	gpu1.n_hostdevs = 1;
	golden("gpu-one", &gpu1);

	cl_domain_spec gpu2 = gpu1;
	gpu2.hostdevs = two;
	gpu2.n_hostdevs = 2;
	golden("gpu-two", &gpu2);

	cl_domain_spec esc = tiny;
	esc.console_log = "/tmp/a&b<c>'d\"e/console.log";
	esc.seed_path = "/tmp/seed & <iso>'\".iso";
	golden("escaping", &esc);
}

static void test_invalid(void)
{
	cl_buf xml = CL_BUF_INIT;
	cl_domain_spec s = {.name = "ok-name", .type = "qemu", .memory_mib = 128, .vcpus = 1,
			    .disk_path = "/d.qcow2", .mac = "02:00:00:00:00:01", .ssh_port = 2222};
	const char *bad_pci[] = {"0000:65:00"};

	CHECK_INT(cl_domain_xml(&s, &xml), 0);
	/* A UUID was generated. */
	CHECK(strstr(cl_buf_str(&xml), "<uuid>") != NULL);
	cl_buf_reset(&xml);
	s.listen = "127.0.0.1,hostfwd=tcp::1-:22";
	CHECK_INT(cl_domain_xml(&s, &xml), CL_EINVAL);
	s.listen = NULL;
	s.mac = "03:00:00:00:00:01"; /* multicast */
	CHECK_INT(cl_domain_xml(&s, &xml), CL_EINVAL);
	s.mac = "02:00:00:00:00:01,x";
	CHECK_INT(cl_domain_xml(&s, &xml), CL_EINVAL);
	s.mac = "02:00:00:00:00:01";
	s.name = "Bad_Name";
	CHECK_INT(cl_domain_xml(&s, &xml), CL_EINVAL);
	s.name = "ok-name";
	s.hostdevs = bad_pci;
	s.n_hostdevs = 1;
	CHECK_INT(cl_domain_xml(&s, &xml), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "0000:65:00") != NULL);
	cl_buf_free(&xml);
}

static void test_mac_uuid(void)
{
	char a[18], b[18], c[18], u1[37], u2[37];

	cl_mac_from_seed("ml-lab-alice", a);
	cl_mac_from_seed("ml-lab-alice", b);
	cl_mac_from_seed("ml-lab-bob", c);
	CHECK_STR(a, b);
	CHECK(strcmp(a, c) != 0);
	CHECK_INT(strlen(a), 17);
	CHECK(strncmp(a, "02:", 3) == 0);
	for (int i = 0; i < 17; i++)
		CHECK(i % 3 == 2 ? a[i] == ':' : isxdigit((unsigned char)a[i]) && !isupper((unsigned char)a[i]));

	cl_uuid_new(u1);
	cl_uuid_new(u2);
	CHECK_INT(strlen(u1), 36);
	CHECK(strcmp(u1, u2) != 0);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			CHECK(u1[i] == '-');
		else
			CHECK(isxdigit((unsigned char)u1[i]) && !isupper((unsigned char)u1[i]));
	}
	CHECK(u1[14] == '4'); /* version 4, random */
}

int main(void)
{
	test_golden();
	test_invalid();
	test_mac_uuid();
	if (have_validate == 0)
		fprintf(stderr, "note: virt-xml-validate not found, schema checks skipped\n");
	return tap_done();
}
