/* Storage and domain operations against libvirt's test driver (test:///default). */
#include "classlab/cl_provision.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void report(int rc)
{
	if (rc < 0)
		fprintf(stderr, "error: %s\n", cl_error_msg());
}
#define OK(expr) do { int rc_ = (expr); report(rc_); CHECK_INT(rc_, 0); } while (0)

static void test_storage(cl_hv *hv, const char *dir)
{
	char **names = NULL, *path = NULL, *xml = NULL, *bxml = NULL;
	size_t n = 0;
	uint64_t cap = 0, alloc = 0;
	virStorageVolPtr vol;
	char *srcfile = cl_aprintf("%s-src.raw", dir);

	OK(cl_hv_pool_ensure(hv, "classlab", dir));
	OK(cl_hv_pool_ensure(hv, "classlab", dir)); /* no-op */
	CHECK_INT(cl_hv_pool_ensure(hv, "classlab", "/elsewhere"), CL_EEXIST);

	/* The test driver cannot upload: a clear error and no half-made volume. */
	CHECK_INT(cl_write_file(srcfile, "0123456789abcdef", 16, 0600), 0);
	CHECK_INT(cl_hv_vol_upload(hv, "classlab", "base.raw", srcfile, "raw", false), CL_EUNAVAIL);
	CHECK(strstr(cl_error_msg(), "cannot upload volume 'base.raw'") != NULL);
	CHECK_INT(cl_hv_vol_path(hv, "classlab", "base.raw", &path), CL_ENOTFOUND);
	CHECK_INT(cl_hv_vol_upload(hv, "classlab", "x", srcfile, "vmdk", false), CL_EINVAL);

	/* Overlay on a base "volume" (the test driver keeps volumes in memory). */
	OK(cl_hv_vol_overlay(hv, "classlab", "lab-alice.qcow2", "/images/base.qcow2", "qcow2",
			     1ull << 30));
	OK(cl_hv_vol_overlay(hv, "classlab", "lab-alice.qcow2", "/images/base.qcow2", "qcow2",
			     1ull << 30)); /* no-op */
	CHECK_INT(cl_hv_vol_overlay(hv, "classlab", "lab-alice.qcow2", "/images/other.qcow2",
				    "qcow2", 1ull << 30),
		  CL_EEXIST);
	CHECK_INT(cl_hv_vol_overlay(hv, "classlab", "lab-alice.qcow2", "/images/base.qcow2", "raw",
				    1ull << 30),
		  CL_EEXIST);
	OK(cl_hv_vol_overlay(hv, "classlab", "lab-bob.qcow2", "/images/base.qcow2", "qcow2", 1ull << 30));
	OK(cl_hv_vol_path(hv, "classlab", "lab-alice.qcow2", &path));
	CHECK(path && strstr(path, "lab-alice.qcow2") != NULL);
	OK(cl_hv_vol_info(hv, "classlab", "lab-alice.qcow2", &cap, &alloc));
	CHECK_INT(cap, 1ull << 30);

	/* What libvirt reports back carries the backing store. */
	vol = virStorageVolLookupByPath(cl_hv_conn(hv), path);
	CHECK(vol != NULL);
	if (vol) {
		xml = virStorageVolGetXMLDesc(vol, 0);
		CHECK(xml && strstr(xml, "<path>/images/base.qcow2</path>") != NULL);
		CHECK(xml && strstr(xml, "<format type='qcow2'/>") != NULL);
		virStorageVolFree(vol);
	}

	OK(cl_hv_vol_list(hv, "classlab", "lab-", &names, &n));
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(names[0], "lab-alice.qcow2");
		CHECK_STR(names[1], "lab-bob.qcow2");
	}
	cl_strv_free(names, n);
	OK(cl_hv_vol_list(hv, "classlab", "nothing-", &names, &n));
	CHECK_INT(n, 0);
	cl_strv_free(names, n);

	OK(cl_hv_vol_delete(hv, "classlab", "lab-alice.qcow2"));
	OK(cl_hv_vol_delete(hv, "classlab", "lab-alice.qcow2")); /* absent is fine */
	OK(cl_hv_vol_delete(hv, "classlab", "lab-bob.qcow2"));
	CHECK_INT(cl_hv_vol_path(hv, "classlab", "../etc", &bxml), CL_EINVAL);
	CHECK_INT(cl_hv_vol_path(hv, "nopool", "x", &bxml), CL_ENOTFOUND);
	unlink(srcfile);
	free(srcfile);
	free(xml);
	free(path);
}

static void test_domains(cl_hv *hv)
{
	cl_domain_spec s = {
		.name = "lab-alice",
		.uuid = "11111111-2222-4333-8444-555555555555",
		.type = cl_hv_domain_type(hv),
		.memory_mib = 128,
		.vcpus = 1,
		.disk_path = "/images/lab-alice.qcow2",
		.mac = "02:00:00:00:00:01",
		.ssh_port = 22001,
	};
	cl_buf xml = CL_BUF_INIT, other = CL_BUF_INIT;
	cl_dom_state st;
	char uuid[37];
	char **names = NULL;
	cl_dom_state *states = NULL;
	size_t n = 0;

	CHECK_STR(s.type, "test");
	OK(cl_domain_xml(&s, &xml));
	OK(cl_hv_domain_state(hv, "lab-alice", &st));
	CHECK_INT(st, CL_DOM_ABSENT);
	OK(cl_hv_domain_define(hv, xml.data));
	OK(cl_hv_domain_define(hv, xml.data)); /* same UUID: an update */
	s.uuid = "99999999-2222-4333-8444-555555555555";
	OK(cl_domain_xml(&s, &other));
	CHECK_INT(cl_hv_domain_define(hv, other.data), CL_EEXIST);
	CHECK(strstr(cl_error_msg(), "lab-alice") != NULL);
	OK(cl_hv_domain_uuid(hv, "lab-alice", uuid));
	CHECK_STR(uuid, "11111111-2222-4333-8444-555555555555");
	CHECK_INT(cl_hv_domain_uuid(hv, "nobody", uuid), CL_ENOTFOUND);

	OK(cl_hv_domain_state(hv, "lab-alice", &st));
	CHECK_INT(st, CL_DOM_SHUTOFF);
	OK(cl_hv_domain_start(hv, "lab-alice"));
	OK(cl_hv_domain_start(hv, "lab-alice")); /* already running */
	OK(cl_hv_domain_state(hv, "lab-alice", &st));
	CHECK_INT(st, CL_DOM_RUNNING);
	CHECK_INT(cl_hv_domain_start(hv, "nobody"), CL_ENOTFOUND);

	OK(cl_hv_domain_list(hv, "lab-", &names, &states, &n));
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK_STR(names[0], "lab-alice");
		CHECK_INT(states[0], CL_DOM_RUNNING);
	}
	cl_strv_free(names, n);
	free(states);

	OK(cl_hv_domain_shutdown(hv, "lab-alice", 5));
	OK(cl_hv_domain_state(hv, "lab-alice", &st));
	CHECK_INT(st, CL_DOM_SHUTOFF);
	OK(cl_hv_domain_shutdown(hv, "lab-alice", 5)); /* not running */
	OK(cl_hv_domain_destroy(hv, "lab-alice"));
	OK(cl_hv_domain_start(hv, "lab-alice"));
	OK(cl_hv_domain_destroy(hv, "lab-alice"));
	OK(cl_hv_domain_destroy(hv, "lab-alice"));
	OK(cl_hv_domain_start(hv, "lab-alice"));
	OK(cl_hv_domain_undefine(hv, "lab-alice")); /* destroys first */
	OK(cl_hv_domain_state(hv, "lab-alice", &st));
	CHECK_INT(st, CL_DOM_ABSENT);
	OK(cl_hv_domain_undefine(hv, "lab-alice")); /* absent */
	OK(cl_hv_domain_destroy(hv, "lab-alice"));
	OK(cl_hv_domain_shutdown(hv, "lab-alice", 1));
	CHECK_INT(cl_hv_domain_define(hv, "<domain"), CL_EINVAL);
	cl_buf_free(&xml);
	cl_buf_free(&other);
}

int main(void)
{
	char tmpl[] = "/tmp/cltdXXXXXX";
	char *dir, *pooldir;
	cl_hv *hv = NULL;
	int rc;

	dir = mkdtemp(tmpl);
	pooldir = cl_aprintf("%s/pool", dir);
	rc = cl_hv_open(&hv, "test:///default", NULL, NULL);
	if (rc < 0) {
		fprintf(stderr, "skip: cannot open test:///default: %s\n", cl_error_msg());
		return 77;
	}
	CHECK(!cl_hv_is_embed(hv));
	CHECK_STR(cl_hv_uri(hv), "test:///default");
	CHECK_STR(cl_hv_domain_type(hv), "test");
	test_storage(hv, pooldir);
	test_domains(hv);
	cl_hv_close(hv);

	CHECK_INT(cl_hv_open(&hv, "bogus:///nothing", NULL, NULL), CL_EUNAVAIL);
	CHECK(strstr(cl_error_msg(), "cannot connect to hypervisor 'bogus:///nothing'") != NULL);
	CHECK(hv == NULL);
	rmdir(pooldir);
	rmdir(dir);
	free(pooldir);
	return tap_done();
}
