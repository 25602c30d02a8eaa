/* cloud-init seed: user-data shape, hostile strings through libyaml's parser, meta-data, ISO. */
#include "classlab/cl_provision.h"
#include "classlab/cl_spawn.h"
#include "tap.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

static const char *PRIV = "-----BEGIN OPENSSH PRIVATE KEY-----\n"
			  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
			  "QyNTUxOQAAACBkZXZpY2VrZXlkZXZpY2VrZXlkZXZpY2VrZXlkZXZpYwAAAJgAAAAA\n"
			  "-----END OPENSSH PRIVATE KEY-----\n";
static const char *PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRldmljZWtleQ root@ml-lab-alice";

static const char *EXPECTED =
	"#cloud-config\n"
	"hostname: \"ml-lab-alice\"\n"
	"fqdn: \"ml-lab-alice\"\n"
	"manage_etc_hosts: true\n"
	"ssh_pwauth: false\n"
	"disable_root: true\n"
	"users:\n"
	"- name: \"student\"\n"
	"  gecos: \"Alice Example\"\n"
	"  shell: \"/bin/bash\"\n"
	"  lock_passwd: true\n"
	"  sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n"
	"  ssh_authorized_keys:\n"
	"  - \"ssh-ed25519 AAAA1 alice@ml-lab\"\n"
	"  - \"ssh-ed25519 AAAA2 classlab-admin@ml-lab\"\n"
	"ssh_deletekeys: true\n"
	"ssh_genkeytypes: [\"ed25519\"]\n"
	"ssh_keys:\n"
	"  ed25519_private: |\n"
	"    -----BEGIN OPENSSH PRIVATE KEY-----\n"
	"    b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
	"    QyNTUxOQAAACBkZXZpY2VrZXlkZXZpY2VrZXlkZXZpY2VrZXlkZXZpYwAAAJgAAAAA\n"
	"    -----END OPENSSH PRIVATE KEY-----\n"
	"  ed25519_public: \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRldmljZWtleQ root@ml-lab-alice\"\n"
	"packages:\n"
	"- \"python3-pip\"\n"
	"runcmd:\n"
	"- \"echo hello\"\n"
	"- [\"python3\", \"-m\", \"pip\", \"install\", \"jupyter\"]\n";

/* --- a tiny path lookup over libyaml's document model --- */

static yaml_node_t *get(yaml_document_t *d, yaml_node_t *n, const char *key)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static yaml_node_t *idx(yaml_document_t *d, yaml_node_t *n, size_t i)
{
	if (!n || n->type != YAML_SEQUENCE_NODE ||
	    i >= (size_t)(n->data.sequence.items.top - n->data.sequence.items.start))
		return NULL;
	return yaml_document_get_node(d, n->data.sequence.items.start[i]);
}

static size_t seq_len(yaml_node_t *n)
{
	return n && n->type == YAML_SEQUENCE_NODE
		       ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
		       : (size_t)-1;
}

static const char *sval(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int load(const char *text, yaml_document_t *doc)
{
	yaml_parser_t p;
	int ok;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
	ok = yaml_parser_load(&p, doc);
	if (!ok)
		fprintf(stderr, "yaml parse error: %s at line %zu\n", p.problem, p.problem_mark.line);
	yaml_parser_delete(&p);
	return ok;
}

static cl_cloudconfig simple(void)
{
	static const char *keys[] = {"ssh-ed25519 AAAA1 alice@ml-lab",
				     "ssh-ed25519 AAAA2 classlab-admin@ml-lab"};
	static const char *pkgs[] = {"python3-pip"};
	static const char *pip[] = {"jupyter"};
	static const char *run[] = {"echo hello"};
	cl_cloudconfig cc = {
		.hostname = "ml-lab-alice",
		.instance_id = "i-ml-lab-alice-1",
		.username = "student",
		.gecos = "Alice Example",
		.authorized_keys = keys,
		.n_authorized_keys = 2,
		.host_key_private = PRIV,
		.host_key_public = PUB,
		.packages = pkgs,
		.n_packages = 1,
		.pip = pip,
		.n_pip = 1,
		.runcmd = run,
		.n_runcmd = 1,
	};
	return cc;
}

static void test_shape(void)
{
	cl_cloudconfig cc = simple();
	cl_buf ud = CL_BUF_INIT, md = CL_BUF_INIT, nc = CL_BUF_INIT;
	yaml_document_t doc;

	CHECK_INT(cl_cloudconfig_user_data(&cc, &ud), 0);
	CHECK_STR(ud.data, EXPECTED);

	CHECK_INT(cl_cloudconfig_meta_data(&cc, &md), 0);
	CHECK_STR(md.data, "instance-id: \"i-ml-lab-alice-1\"\nlocal-hostname: \"ml-lab-alice\"\n");

	CHECK_INT(cl_cloudconfig_network_config(&cc, &nc), 0);
	CHECK_STR(nc.data, "version: 2\nethernets:\n  nics:\n    match:\n      name: \"e*\"\n"
			   "    dhcp4: true\n");
	if (load(nc.data, &doc)) {
		yaml_node_t *r = yaml_document_get_root_node(&doc);
		CHECK_STR(sval(get(&doc, get(&doc, get(&doc, get(&doc, r, "ethernets"), "nics"), "match"),
				   "name")), "e*");
		yaml_document_delete(&doc);
	}

	/* With the NIC's MAC: eth0 by MAC, which ifupdown and networkd renderers apply too. */
	cl_buf_reset(&nc);
	cc.mac = "02:82:2e:fc:d6:25";
	CHECK_INT(cl_cloudconfig_network_config(&cc, &nc), 0);
	CHECK_STR(nc.data, "version: 2\nethernets:\n  eth0:\n    match:\n      macaddress: \"02:82:2e:fc:d6:25\"\n"
			   "    set-name: \"eth0\"\n    dhcp4: true\n");
	cc.mac = NULL;

	/* No packages, runcmd or host key: those keys are left out. */
	cc.n_packages = cc.n_pip = cc.n_runcmd = 0;
	cc.host_key_private = cc.host_key_public = NULL;
	cc.gecos = NULL;
	cl_buf_reset(&ud);
	CHECK_INT(cl_cloudconfig_user_data(&cc, &ud), 0);
	CHECK(strstr(ud.data, "packages") == NULL);
	CHECK(strstr(ud.data, "runcmd") == NULL);
	CHECK(strstr(ud.data, "ssh_keys") == NULL);
	CHECK(strstr(ud.data, "ssh_genkeytypes") == NULL);
	CHECK(strstr(ud.data, "gecos") == NULL);

	cc.username = "";
	CHECK_INT(cl_cloudconfig_user_data(&cc, &ud), CL_EINVAL);
	cl_buf_free(&ud);
	cl_buf_free(&md);
	cl_buf_free(&nc);
}

static void test_hostile(void)
{
	static const char *h_keys[] = {"ssh-ed25519 AAAA\"quoted\" 'x'@y: - # ! & *",
				       "  leading spaces and trailing  "};
	static const char *h_pkgs[] = {"- dash", "!tag", "&anchor", "*alias", "null", "true", "0x10"};
	static const char *h_pip[] = {"jupyter[all]>=1.0,<2 ; python_version>'3'", "#hash"};
	static const char *h_run[] = {"echo 'a' \"b\" && : - # ! | > x", "line1\nline2\n\ttab",
				      "unicode: é 日本 🙂", "<script>&amp;</script>", "", "~", "{a: b}"};
	static const char *argv1[] = {"sh", "-c", "echo \"$HOME\": [x]", NULL};
	static const char *const *argvs[] = {argv1};
	const char *gecos = "Ø'Neil, \"Al\": #1 \\ back\\slash\r\n";
	cl_cloudconfig cc = {
		.hostname = "h: \"x\" #y",
		.instance_id = "id & *ref",
		.username = "u - !x",
		.gecos = gecos,
		.authorized_keys = h_keys,
		.n_authorized_keys = 2,
		.host_key_private = PRIV,
		.host_key_public = PUB,
		.packages = h_pkgs,
		.n_packages = 7,
		.pip = h_pip,
		.n_pip = 2,
		.runcmd = h_run,
		.n_runcmd = 7,
		.runcmd_argv = argvs,
		.n_runcmd_argv = 1,
	};
	cl_buf ud = CL_BUF_INIT, md = CL_BUF_INIT;
	yaml_document_t doc;
	yaml_node_t *r, *user, *run, *pip;

	CHECK_INT(cl_cloudconfig_user_data(&cc, &ud), 0);
	CHECK(strncmp(cl_buf_str(&ud), "#cloud-config\n", 14) == 0);
	if (!load(cl_buf_str(&ud), &doc)) {
		CHECK(0);
		fprintf(stderr, "%s\n", ud.data);
		return;
	}
	r = yaml_document_get_root_node(&doc);
	CHECK_STR(sval(get(&doc, r, "hostname")), cc.hostname);
	CHECK_STR(sval(get(&doc, r, "fqdn")), cc.hostname);
	user = idx(&doc, get(&doc, r, "users"), 0);
	CHECK_STR(sval(get(&doc, user, "name")), cc.username);
	CHECK_STR(sval(get(&doc, user, "gecos")), gecos);
	for (size_t i = 0; i < 2; i++)
		CHECK_STR(sval(idx(&doc, get(&doc, user, "ssh_authorized_keys"), i)), h_keys[i]);
	CHECK_STR(sval(get(&doc, get(&doc, r, "ssh_keys"), "ed25519_private")), PRIV);
	CHECK_STR(sval(get(&doc, get(&doc, r, "ssh_keys"), "ed25519_public")), PUB);
	CHECK_INT(seq_len(get(&doc, r, "packages")), 7);
	for (size_t i = 0; i < 7; i++) {
		yaml_node_t *n = idx(&doc, get(&doc, r, "packages"), i);
		CHECK_STR(sval(n), h_pkgs[i]);
		/* Quoted, so "null", "true" and "0x10" stay strings. */
		CHECK(n && n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	}
	run = get(&doc, r, "runcmd");
	CHECK_INT(seq_len(run), 7 + 1 + 1);
	for (size_t i = 0; i < 7; i++)
		CHECK_STR(sval(idx(&doc, run, i)), h_run[i]);
	pip = idx(&doc, run, 7);
	CHECK_INT(seq_len(pip), 6);
	CHECK_STR(sval(idx(&doc, pip, 0)), "python3");
	CHECK_STR(sval(idx(&doc, pip, 3)), "install");
	CHECK_STR(sval(idx(&doc, pip, 4)), h_pip[0]);
	CHECK_STR(sval(idx(&doc, pip, 5)), h_pip[1]);
	for (size_t i = 0; i < 3; i++)
		CHECK_STR(sval(idx(&doc, idx(&doc, run, 8), i)), argv1[i]);
	yaml_document_delete(&doc);

	CHECK_INT(cl_cloudconfig_meta_data(&cc, &md), 0);
	if (load(cl_buf_str(&md), &doc)) {
		r = yaml_document_get_root_node(&doc);
		CHECK_STR(sval(get(&doc, r, "instance-id")), cc.instance_id);
		CHECK_STR(sval(get(&doc, r, "local-hostname")), cc.hostname);
		yaml_document_delete(&doc);
	}
	/* Invalid UTF-8 is refused, not emitted. */
	cc.gecos = "bad \xff byte";
	CHECK(cl_cloudconfig_user_data(&cc, &ud) < 0);
	cl_buf_free(&ud);
	cl_buf_free(&md);
}

/* Reads the ISO back with libarchive; returns the file's contents or NULL. */
static char *iso_file(const cl_buf *iso, const char *name)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char *res = NULL;

	archive_read_support_format_iso9660(a);
	if (archive_read_open_memory(a, iso->data, iso->len) == ARCHIVE_OK) {
		while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
			if (strcmp(archive_entry_pathname(e), name) == 0) {
				size_t n = (size_t)archive_entry_size(e);
				res = calloc(1, n + 1);
				if (archive_read_data(a, res, n) != (la_ssize_t)n) {
					free(res);
					res = NULL;
				}
				break;
			}
		}
	}
	archive_read_free(a);
	return res;
}

static void test_iso(void)
{
	cl_cloudconfig cc = simple();
	cl_buf iso = CL_BUF_INIT, ud = CL_BUF_INIT, md = CL_BUF_INIT, nc = CL_BUF_INIT;
	const char *names[] = {"meta-data", "user-data", "network-config"};
	cl_buf *want[] = {&md, &ud, &nc};
	char path[] = "/tmp/clisoXXXXXX";
	int fd;

	CHECK_INT(cl_seed_iso(&cc, &iso), 0);
	CHECK_INT(cl_cloudconfig_user_data(&cc, &ud), 0);
	CHECK_INT(cl_cloudconfig_meta_data(&cc, &md), 0);
	CHECK_INT(cl_cloudconfig_network_config(&cc, &nc), 0);
	CHECK(iso.len >= 32808 + 6 && iso.len % 2048 == 0);
	CHECK(iso.len >= 32808 + 6 && memcmp(iso.data + 32808, "cidata", 6) == 0 &&
	      iso.data[32814] == ' ');
	for (int i = 0; i < 3; i++) {
		char *got = iso_file(&iso, names[i]);
		CHECK_STR(got, want[i]->data);
		free(got);
	}

	fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, iso.data, iso.len) == (ssize_t)iso.len);
	close(fd);
	if (access("/usr/bin/bsdtar", X_OK) == 0) {
		for (int i = 0; i < 3; i++) {
			cl_buf out = CL_BUF_INIT;
			int st = -1;
			const char *argv[] = {"bsdtar", "-xOf", path, names[i], NULL};
			CHECK_INT(cl_spawn(argv, NULL, 10000, &out, NULL, &st), 0);
			CHECK_INT(st, 0);
			CHECK_STR(out.data, want[i]->data);
			cl_buf_free(&out);
		}
	} else {
		fprintf(stderr, "note: bsdtar not found, ISO listing check skipped\n");
	}
	if (access("/usr/bin/isoinfo", X_OK) == 0) {
		cl_buf out = CL_BUF_INIT;
		int st = -1;
		const char *argv[] = {"isoinfo", "-R", "-f", "-i", path, NULL};
		const char *argv2[] = {"isoinfo", "-d", "-i", path, NULL};
		CHECK_INT(cl_spawn(argv, NULL, 10000, &out, NULL, &st), 0);
		CHECK_INT(st, 0);
		for (int i = 0; i < 3; i++) {
			char *line = cl_aprintf("/%s\n", names[i]);
			CHECK(strstr(cl_buf_str(&out), line) != NULL);
			free(line);
		}
		cl_buf_reset(&out);
		CHECK_INT(cl_spawn(argv2, NULL, 10000, &out, NULL, &st), 0);
		CHECK(strstr(cl_buf_str(&out), "Volume id: cidata\n") != NULL);
		CHECK(strstr(cl_buf_str(&out), "Rock Ridge") != NULL);
		CHECK(strstr(cl_buf_str(&out), "Joliet") != NULL);
		cl_buf_free(&out);
	} else {
		fprintf(stderr, "note: isoinfo not found, ISO check skipped\n");
	}
	unlink(path);
	cl_buf_free(&iso);
	cl_buf_free(&ud);
	cl_buf_free(&md);
	cl_buf_free(&nc);
}

/* Returns 1 when cloud-init validated, 0 when it is not installed. */
static int test_schema(void)
{
	cl_cloudconfig cc = simple();
	cl_buf ud = CL_BUF_INIT, out = CL_BUF_INIT, err = CL_BUF_INIT;
	char path[] = "/tmp/cludXXXXXX";
	int fd, st = -1;

	if (access("/usr/bin/cloud-init", X_OK) != 0)
		return 0;
	CHECK_INT(cl_cloudconfig_user_data(&cc, &ud), 0);
	fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, ud.data, ud.len) == (ssize_t)ud.len);
	close(fd);
	const char *argv[] = {"cloud-init", "schema", "--config-file", path, NULL};
	CHECK_INT(cl_spawn(argv, NULL, 60000, &out, &err, &st), 0);
	if (st != 0)
		fprintf(stderr, "cloud-init schema: %s%s\n", out.data, err.data);
	CHECK_INT(st, 0);
	/* Valid and current: cloud-init names deprecated keys in its output (exit 0). */
	CHECK(strstr(cl_buf_str(&out), "eprecat") == NULL);
	CHECK(strstr(cl_buf_str(&err), "eprecat") == NULL);
	unlink(path);
	cl_buf_free(&ud);
	cl_buf_free(&out);
	cl_buf_free(&err);
	return 1;
}

/*
 * What a real cloud-init makes of the MAC form with Debian's renderer (ifupdown):
 * DHCP on eth0 and a udev rule naming the NIC by its MAC. Returns 0 when cloud-init
 * is not installed.
 */
static int test_net_convert(void)
{
	cl_cloudconfig cc = simple();
	cl_buf nc = CL_BUF_INIT, out = CL_BUF_INIT, err = CL_BUF_INIT, f = CL_BUF_INIT;
	char dir[] = "/tmp/clncXXXXXX";
	int st = -1;

	if (access("/usr/bin/cloud-init", X_OK) != 0 || !mkdtemp(dir))
		return 0;
	cc.mac = "02:82:2e:fc:d6:25";
	CHECK_INT(cl_cloudconfig_network_config(&cc, &nc), 0);
	char *in = cl_aprintf("%s/network-config", dir), *outdir = cl_aprintf("%s/out", dir);
	char *eni = cl_aprintf("%s/etc/network/interfaces.d/50-cloud-init", outdir);
	char *rules = cl_aprintf("%s/etc/udev/rules.d/70-persistent-net.rules", outdir);
	CHECK_INT(cl_write_file(in, nc.data, nc.len, 0644), 0);
	const char *argv[] = {"cloud-init", "devel", "net-convert", "-p", in, "-k", "yaml",
			      "-d", outdir, "-D", "debian", "-O", "eni", NULL};
	CHECK_INT(cl_spawn(argv, NULL, 60000, &out, &err, &st), 0);
	if (st != 0)
		fprintf(stderr, "net-convert: %s%s\n", cl_buf_str(&out), cl_buf_str(&err));
	CHECK_INT(st, 0);
	CHECK_INT(cl_read_file(eni, 65536, &f), 0);
	CHECK(strstr(cl_buf_str(&f), "auto eth0\niface eth0 inet dhcp\n") != NULL);
	cl_buf_reset(&f);
	CHECK_INT(cl_read_file(rules, 65536, &f), 0);
	CHECK(strstr(cl_buf_str(&f), "ATTR{address}==\"02:82:2e:fc:d6:25\", NAME=\"eth0\"") != NULL);
	{
		const char *rm[] = {"rm", "-rf", dir, NULL};
		cl_spawn(rm, NULL, 30000, NULL, NULL, &st);
	}
	free(in), free(outdir), free(eni), free(rules);
	cl_buf_free(&f), cl_buf_free(&out), cl_buf_free(&err), cl_buf_free(&nc);
	return 1;
}

int main(void)
{
	test_shape();
	test_hostile();
	test_iso();
	if (!test_schema())
		fprintf(stderr, "note: cloud-init not installed, schema check skipped\n");
	if (!test_net_convert())
		fprintf(stderr, "note: cloud-init not installed, network rendering check skipped\n");
	return tap_done();
}
