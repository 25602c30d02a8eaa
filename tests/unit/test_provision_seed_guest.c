/* The tiny guest's seed reader (templates/images/tiny/.../yaml-flat.awk and seed.sh, run by
 * busybox awk and sh as the guest runs them) against what classlab's seed writer emits through
 * libyaml: every character libyaml writes as an escape (\0 aside: a C string cannot hold it)
 * must reach the guest's command byte for byte. Also hand-written double-quoted escapes,
 * compared with libyaml's own parser, and the choice of source: a NoCloud seed or an
 * OpenStack config drive (meta_data.json + user_data), instance id and hostname precedence.
 * Skipped (exit 77 semantics: a note) without busybox. */
#include "classlab/cl_provision.h"
#include "classlab/cl_spawn.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

static char awk_path[4096], lib_dir[4096];

static void put_utf8(cl_buf *b, unsigned cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	cl_buf_add(b, u, n);
}

/* The guest's shell prelude: busybox's awk, seed.sh's helpers (yitems, dec, seed_read, ...). */
#define GUEST_PRELUDE                                                                              \
	"awk() { busybox awk \"$@\"; }\nTAB=$(printf '\\t')\nlog() { echo \"$*\" >&2; }\n"            \
	"SEED=$LIB_SEED; LIB=$LIB_DIR; . \"$LIB/seed.sh\"\n"

/* Runs the guest's reader on YAML text; returns the decoded scalars of PREFIX.N in order,
 * each written to its own file DIR/item.N by `dec` (printf %b), read back here. */
static int guest_items(const char *yaml, size_t len, const char *prefix, cl_buf *items, int max,
		       cl_buf *warnings)
{
	char dir[] = "/tmp/clseedyXXXXXX";
	int n = -1, st = -1;
	if (!mkdtemp(dir))
		return -1;
	char *in = cl_aprintf("%s/in.yaml", dir);
	FILE *f = fopen(in, "w");
	if (!f || fwrite(yaml, 1, len, f) != len) {
		if (f)
			fclose(f);
		goto out;
	}
	fclose(f);
	/* As rc.sysinit: awk -f yaml-flat.awk FILE > FILE.flat; yitems FLAT PREFIX; dec "$v". */
	/* The guest has only busybox: its awk, and ash's printf builtin. */
	const char *script = "LIB_SEED=$2 LIB_DIR=$4\n" GUEST_PRELUDE
			     "awk -f \"$1\" \"$2/in.yaml\" >\"$2/in.flat\" || exit 1\n"
			     "n=0\n"
			     "yitems \"$2/in.flat\" \"$3\" >\"$2/items\"\n"
			     "while IFS=$TAB read -r t v; do dec \"$v\" >\"$2/item.$n\"; "
			     "n=$((n + 1)); done <\"$2/items\"\n"
			     "echo $n\n";
	const char *argv[] = {"busybox", "sh",   "-c",   script,  "sh",
			      awk_path,	 dir,	 prefix, lib_dir, NULL};
	cl_buf out = CL_BUF_INIT;
	int rc = cl_spawn(argv, NULL, 60000, &out, warnings, &st);
	if (rc < 0 || st != 0) {
		cl_buf_free(&out);
		goto out;
	}
	n = atoi(cl_buf_str(&out));
	cl_buf_free(&out);
	for (int i = 0; i < n && i < max; i++) {
		char *p = cl_aprintf("%s/item.%d", dir, i);
		FILE *g = fopen(p, "rb");
		char buf[65536];
		size_t k;
		cl_buf_reset(&items[i]);
		while (g && (k = fread(buf, 1, sizeof(buf), g)) > 0)
			cl_buf_add(&items[i], buf, k);
		if (g)
			fclose(g);
		unlink(p);
		free(p);
	}
out:;
	char *rm[] = {cl_aprintf("%s/in.flat", dir), cl_aprintf("%s/items", dir), in};
	for (size_t i = 0; i < 3; i++) {
		unlink(rm[i]);
		free(rm[i]);
	}
	rmdir(dir);
	return n;
}

static void check_same(const cl_buf *got, const cl_buf *want, const char *what)
{
	size_t i = 0;
	while (i < got->len && i < want->len && got->data[i] == want->data[i])
		i++;
	int ok = got->len == want->len && i == got->len;
	char *d = ok ? NULL
		     : cl_aprintf("%s: %zu bytes, want %zu; first difference at byte %zu "
				  "(got 0x%02x, want 0x%02x)",
				  what, got->len, want->len, i,
				  i < got->len ? (unsigned char)got->data[i] : 0,
				  i < want->len ? (unsigned char)want->data[i] : 0);
	tap_check(ok, __FILE__, __LINE__, "guest decodes the command unchanged", d);
	free(d);
}

/* Every character class libyaml's emitter escapes, through classlab's user-data writer. */
static void test_writer_round_trip(void)
{
	enum { N = 8 };
	cl_buf want[N], got[N];
	const char *run[N];
	for (int i = 0; i < N; i++) {
		want[i] = (cl_buf)CL_BUF_INIT;
		got[i] = (cl_buf)CL_BUF_INIT;
	}
	/* 0: all ASCII but NUL; 1: U+0080..U+07FF (\xXX, \N, \_ among them); 2: the line and
	 * paragraph separators, BOM and non-characters (\L \P \uXXXX); 3: astral (\UXXXXXXXX);
	 * 4: a sweep over the whole code space minus surrogates; 5: each escape alone, which
	 * catches an escape at a string's edge; 6-7: backslash sequences meant for printf %b
	 * and for the awk's own encoding. */
	for (unsigned c = 1; c < 0x80; c++)
		put_utf8(&want[0], c);
	for (unsigned c = 0x80; c < 0x800; c++)
		put_utf8(&want[1], c);
	unsigned specials[] = {0x85, 0xA0, 0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF, 0xD7FF, 0xE000};
	for (size_t k = 0; k < sizeof(specials) / sizeof(*specials); k++) {
		cl_buf_puts(&want[2], "x");
		put_utf8(&want[2], specials[k]);
	}
	unsigned astral[] = {0x10000, 0x1F600, 0x10FFFD, 0x10FFFF};
	for (size_t k = 0; k < sizeof(astral) / sizeof(*astral); k++)
		put_utf8(&want[3], astral[k]);
	for (unsigned c = 1; c <= 0x10FFFF; c += 251)
		if (c < 0xD800 || c > 0xDFFF)
			put_utf8(&want[4], c);
	put_utf8(&want[5], 0x2029);
	cl_buf_puts(&want[5], "\a\b\t\n\v\f\r\x1b\"\\/ ");
	put_utf8(&want[5], 0x85);
	put_utf8(&want[5], 0xA0);
	put_utf8(&want[5], 0x2028);
	cl_buf_puts(&want[6], "\\n \\t \\c \\0101 \\x41 \\\\ %b %s \\");
	cl_buf_puts(&want[7], "printf '%s\\n' \"a\tb\" # \\N\\L\\P\\_ ");
	for (int i = 0; i < N; i++)
		run[i] = cl_buf_str(&want[i]);

	cl_cloudconfig cc = {
	    .hostname = "h",
	    .instance_id = "i",
	    .username = "student",
	    .runcmd = run,
	    .n_runcmd = N,
	};
	cl_buf ud = CL_BUF_INIT, warn = CL_BUF_INIT;
	CHECK_INT(cl_cloudconfig_user_data(&cc, &ud), 0);
	/* The writer did use the escapes under test (else this test proves nothing). */
	const char *esc[] = {"\\N", "\\_", "\\L", "\\P",     "\\x01",
			     "\\e", "\\v", "\\f", "\\uFEFF", "\\U0001F600"};
	for (size_t k = 0; k < sizeof(esc) / sizeof(*esc); k++) {
		char *d = cl_aprintf("user-data holds %s", esc[k]);
		tap_check(strstr(cl_buf_str(&ud), esc[k]) != NULL, __FILE__, __LINE__, d, NULL);
		free(d);
	}
	int n = guest_items(ud.data, ud.len, "runcmd", got, N, &warn);
	CHECK_INT(n, N);
	CHECK_STR(cl_buf_str(&warn), "");
	for (int i = 0; i < N && i < n; i++) {
		char *what = cl_aprintf("runcmd %d", i);
		check_same(&got[i], &want[i], what);
		free(what);
	}
	for (int i = 0; i < N; i++) {
		cl_buf_free(&want[i]);
		cl_buf_free(&got[i]);
	}
	cl_buf_free(&ud);
	cl_buf_free(&warn);
}

/* Hand-written escapes (as another tool might write them), against libyaml's parser. */
static void test_hand_written(void)
{
	static const char *lines[] = {
	    "\\a\\b\\t\\\t\\n\\v\\f\\r\\e\\ \\\"\\/\\\\",
	    "\\N\\_\\L\\P",
	    "\\x41\\xe9\\x85\\xA0",
	    "\\u00e9\\u2028\\uFEFF\\ufffd",
	    "\\U0001F600\\U00000041",
	    "a\\\\nb \\\\t",
	};
	enum { N = sizeof(lines) / sizeof(*lines) };
	cl_buf doc = CL_BUF_INIT, got[N], warn = CL_BUF_INIT;
	cl_buf_puts(&doc, "#cloud-config\nrun:\n");
	for (int i = 0; i < N; i++) {
		cl_buf_printf(&doc, "- \"%s\"\n", lines[i]);
		got[i] = (cl_buf)CL_BUF_INIT;
	}
	int n = guest_items(doc.data, doc.len, "run", got, N, &warn);
	CHECK_INT(n, N);
	CHECK_STR(cl_buf_str(&warn), "");

	yaml_parser_t p;
	yaml_document_t d;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)doc.data, doc.len);
	CHECK(yaml_parser_load(&p, &d));
	yaml_node_t *root = yaml_document_get_root_node(&d);
	yaml_node_t *seq = NULL;
	if (root && root->type == YAML_MAPPING_NODE)
		seq = yaml_document_get_node(&d, root->data.mapping.pairs.start->value);
	CHECK(seq && seq->type == YAML_SEQUENCE_NODE);
	for (int i = 0; seq && i < N && i < n; i++) {
		yaml_node_t *s = yaml_document_get_node(&d, seq->data.sequence.items.start[i]);
		cl_buf want = CL_BUF_INIT;
		cl_buf_add(&want, s->data.scalar.value, s->data.scalar.length);
		char *what = cl_aprintf("\"%s\"", lines[i]);
		check_same(&got[i], &want, what);
		free(what);
		cl_buf_free(&want);
	}
	yaml_document_delete(&d);
	yaml_parser_delete(&p);
	for (int i = 0; i < N; i++)
		cl_buf_free(&got[i]);
	cl_buf_free(&doc);
	cl_buf_free(&warn);
}

/* ------------------------------------------------------------------ the seed's source */

typedef struct seed_file {
	const char *path; /* under the seed filesystem's root */
	const char *text;
} seed_file;

/* Lays FILES out as the guest sees its mounted seed, runs seed.sh's seed_read SOURCE and
 * seed_names there (busybox sh, as rc.sysinit does) and returns in *out
 *   iid=ID / host=SHORT / fqdn=NAME / user=NAME / key=KEY (each) / -- / the user-data flat file
 * and in *log what the guest logged. -1 when the script could not run. */
static int guest_seed(const char *source, const seed_file *files, size_t n, cl_buf *out,
		      cl_buf *log)
{
	char dir[] = "/tmp/clseedcXXXXXX";
	int rc = -1, st = -1;
	if (!mkdtemp(dir))
		return -1;
	char *fs = cl_aprintf("%s/fs", dir), *seed = cl_aprintf("%s/seed", dir);
	if (mkdir(fs, 0755) < 0 || mkdir(seed, 0700) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char *p = cl_aprintf("%s/%s", fs, files[i].path);
		/* Parents first (openstack/, openstack/latest/). */
		for (char *s = strchr(p + strlen(fs) + 1, '/'); s; s = strchr(s + 1, '/')) {
			*s = 0;
			mkdir(p, 0755);
			*s = '/';
		}
		FILE *f = fopen(p, "w");
		size_t len = strlen(files[i].text);
		int ok = f && fwrite(files[i].text, 1, len, f) == len;
		if (f && fclose(f) != 0)
			ok = 0;
		free(p);
		if (!ok)
			goto out;
	}
	const char *script =
	    "LIB_SEED=$1/seed LIB_DIR=$2\n" GUEST_PRELUDE
	    "seed_read \"$3\" \"$1/fs\" || exit 1\n"
	    "seed_names\n"
	    "echo \"iid=$IID\"; echo \"host=$HOST\"; echo \"fqdn=$FQDN\"\n"
	    /* rc.sysinit's apply_user: the first users[] entry with a name. */
	    "i=$(awk -F '\\t' '$1 ~ /^users\\.[0-9]+\\.name$/ { split($1, a, \".\"); print a[2]; exit }' \"$UD\")\n"
	    "if [ -n \"$i\" ]; then\n"
	    "  echo \"user=$(dec \"$(yget \"$UD\" \"users.$i.name\")\")\"\n"
	    "  yitems \"$UD\" \"users.$i.ssh_authorized_keys\" >\"$1/keys\"\n"
	    "  while IFS=$TAB read -r t v; do echo \"key=$(dec \"$v\")\"; done <\"$1/keys\"\n"
	    "fi\n"
	    "echo --\n"
	    "cat \"$UD\"\n";
	const char *argv[] = {"busybox", "sh", "-c", script, "sh", dir, lib_dir, source, NULL};
	if (cl_spawn(argv, NULL, 60000, out, log, &st) == 0 && st == 0)
		rc = 0;
out:;
	const char *rm[] = {"rm", "-rf", dir, NULL};
	cl_spawn(rm, NULL, 10000, NULL, NULL, &st);
	free(fs);
	free(seed);
	return rc;
}

/* The part of guest_seed's answer before "--" (the names), and the flat user-data after it. */
static char *names_of(const cl_buf *out)
{
	const char *s = cl_buf_str(out), *e = strstr(s, "--\n");
	return cl_aprintf("%.*s", e ? (int)(e - s) : (int)strlen(s), s);
}
static const char *flat_of(const cl_buf *out)
{
	const char *e = strstr(cl_buf_str(out), "--\n");
	return e ? e + 3 : "";
}

#define TEST_UUID "83679162-1378-4288-a2d4-70e13ec132aa"
#define USER_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHv3ZlGv4i student@ml-lab"
#define META_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMetaKeyNotForStudents nova-key"
/* Nova's meta_data.json: one line, keys in no particular order, escapes Python's json writes. */
#define META_JSON(hostname)                                                                        \
	"{\"random_seed\": \"x\\/y\\u00e9\\ud83d\\ude00\", \"uuid\": \"" TEST_UUID "\", "          \
	"\"availability_zone\": \"nova\", \"keys\": [{\"data\": \"" META_KEY "\", \"type\": "      \
	"\"ssh\", \"name\": \"nova-key\"}], \"hostname\": \"" hostname "\", \"launch_index\": 0, " \
	"\"devices\": [], \"meta\": {}, \"public_keys\": {\"nova-key\": \"" META_KEY "\"}, "       \
	"\"project_id\": \"f7ac\", \"name\": \"ml-lab-alice\"}\n"

static void render_user_data(const char *hostname, cl_buf *ud)
{
	static const char *keys[] = {USER_KEY};
	cl_cloudconfig cc = {
	    .hostname = hostname,
	    .instance_id = "iid-from-classlab",
	    .username = "student",
	    .authorized_keys = keys,
	    .n_authorized_keys = 1,
	    .host_key_private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n"
				"-----END OPENSSH PRIVATE KEY-----\n",
	    .host_key_public = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey root@h",
	};
	CHECK_INT(cl_cloudconfig_user_data(&cc, ud), 0);
}

/* classlab's user-data as a config drive's user_data: read exactly as from a NoCloud seed;
 * the instance id is meta_data.json's uuid; user-data's hostname wins over meta_data's. */
static void test_config_drive(void)
{
	cl_buf ud = CL_BUF_INIT, out = CL_BUF_INIT, log = CL_BUF_INIT;
	cl_buf nc = CL_BUF_INIT, nclog = CL_BUF_INIT;
	render_user_data("ml-lab-alice", &ud);
	seed_file cd[] = {
	    {"openstack/latest/meta_data.json", META_JSON("vm-7.novalocal")},
	    {"openstack/latest/user_data", cl_buf_str(&ud)},
	    {"openstack/latest/network_data.json", "{\"links\": [], \"networks\": []}\n"},
	    {"openstack/content/0000", "not read"},
	    {"ec2/latest/meta-data.json", "{\"hostname\": \"ec2-name\"}\n"},
	};
	CHECK_INT(guest_seed("configdrive", cd, sizeof(cd) / sizeof(*cd), &out, &log), 0);
	char *names = names_of(&out);
	CHECK_STR(names, "iid=" TEST_UUID "\nhost=ml-lab-alice\nfqdn=ml-lab-alice\nuser=student\n"
			 "key=" USER_KEY "\n");
	free(names);
	CHECK(strstr(flat_of(&out), "ssh_keys.ed25519_private\tb\t-----BEGIN OPENSSH PRIVATE KEY-----\\n"));
	/* public_keys are reported, never given to the user (cloud-init: default user only). */
	CHECK(strstr(cl_buf_str(&log), "1 public_keys not applied"));
	CHECK(!strstr(cl_buf_str(&out), "MetaKeyNotForStudents"));

	/* The same user-data from a NoCloud seed: the same flat user-data, byte for byte. */
	seed_file nocloud[] = {
	    {"meta-data", "instance-id: \"iid-from-classlab\"\nlocal-hostname: \"ml-lab-alice\"\n"},
	    {"user-data", cl_buf_str(&ud)},
	};
	CHECK_INT(guest_seed("nocloud", nocloud, 2, &nc, &nclog), 0);
	CHECK(strlen(flat_of(&out)) > 100);
	CHECK_STR(flat_of(&nc), flat_of(&out));
	names = names_of(&nc);
	CHECK(strncmp(names, "iid=iid-from-classlab\nhost=ml-lab-alice\n", 40) == 0);
	free(names);
	CHECK_STR(cl_buf_str(&nclog), "");
	cl_buf_free(&ud);
	cl_buf_free(&out);
	cl_buf_free(&log);
	cl_buf_free(&nc);
	cl_buf_free(&nclog);
}

/* user_data without a hostname: meta_data.json's (an FQDN, as Nova writes) gives the short
 * name, and the FQDN for /etc/hosts; an invalid user-data hostname is skipped the same way. */
static void test_config_drive_hostname(void)
{
	static const char *uds[] = {
	    "#cloud-config\nusers:\n- name: \"student\"\n",
	    "#cloud-config\nhostname: \"bad host!\"\nusers:\n- name: \"student\"\n",
	};
	for (size_t i = 0; i < 2; i++) {
		cl_buf out = CL_BUF_INIT, log = CL_BUF_INIT;
		seed_file cd[] = {
		    {"openstack/latest/meta_data.json", META_JSON("vm-7.novalocal")},
		    {"openstack/latest/user_data", uds[i]},
		};
		CHECK_INT(guest_seed("configdrive", cd, 2, &out, &log), 0);
		char *names = names_of(&out);
		CHECK_STR(names, "iid=" TEST_UUID "\nhost=vm-7\nfqdn=vm-7.novalocal\nuser=student\n");
		free(names);
		CHECK(!strstr(cl_buf_str(&log), "invalid hostname") == (i == 0));
		cl_buf_free(&out);
		cl_buf_free(&log);
	}
}

/* A config drive without user_data (a VM booted with only a key pair): like cloud-init on an
 * image without a default user, no user is made and meta_data's public_keys go nowhere. */
static void test_config_drive_no_user_data(void)
{
	cl_buf out = CL_BUF_INIT, log = CL_BUF_INIT;
	seed_file cd[] = {{"openstack/latest/meta_data.json", META_JSON("vm-7")}};
	CHECK_INT(guest_seed("configdrive", cd, 1, &out, &log), 0);
	CHECK_STR(cl_buf_str(&out), "iid=" TEST_UUID "\nhost=vm-7\nfqdn=vm-7\n--\n");
	CHECK(strstr(cl_buf_str(&log), "seed has no user-data"));
	CHECK(strstr(cl_buf_str(&log), "1 public_keys not applied"));
	cl_buf_free(&out);
	cl_buf_free(&log);

	/* Nor is a config drive that lacks even meta_data.json (or openstack/latest) fatal. */
	out = (cl_buf)CL_BUF_INIT;
	log = (cl_buf)CL_BUF_INIT;
	seed_file empty[] = {{"ec2/latest/meta-data.json", "{}"}};
	CHECK_INT(guest_seed("configdrive", empty, 1, &out, &log), 0);
	CHECK_STR(cl_buf_str(&out), "iid=\nhost=classlab-tiny\nfqdn=classlab-tiny\n--\n");
	CHECK(strstr(cl_buf_str(&log), "has no openstack/latest"));
	CHECK(strstr(cl_buf_str(&log), "has no meta_data.json"));
	cl_buf_free(&out);
	cl_buf_free(&log);
}

/* A damaged meta_data.json is not half read: no instance id (so runcmd would run at every
 * boot, with a warning), nothing from it, and user_data is still applied. */
static void test_config_drive_bad_json(void)
{
	static const char *bad[] = {
	    "{\"uuid\": \"" TEST_UUID "\", \"hostname\": \"vm-7\", ",      /* cut short */
	    "{\"uuid\": \"" TEST_UUID "\" \"hostname\": \"vm-7\"}",        /* no comma */
	    "{\"uuid\": \"" TEST_UUID "\", \"hostname\": \"vm\\q\"}",      /* bad escape */
	    "[{\"uuid\": \"" TEST_UUID "\"}]",                           /* not an object */
	    "{\"uuid\": \"" TEST_UUID "\", \"hostname\": \"vm-7\"} x", /* trailing text */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		cl_buf out = CL_BUF_INIT, log = CL_BUF_INIT;
		seed_file cd[] = {
		    {"openstack/latest/meta_data.json", bad[i]},
		    {"openstack/latest/user_data", "#cloud-config\nhostname: h2\nusers:\n- name: s\n"},
		};
		CHECK_INT(guest_seed("configdrive", cd, 2, &out, &log), 0);
		char *names = names_of(&out);
		CHECK_STR(names, "iid=\nhost=h2\nfqdn=h2\nuser=s\n");
		free(names);
		CHECK(strstr(cl_buf_str(&log), "meta_data.json: json: at character "));
		CHECK(strstr(cl_buf_str(&log), "meta_data.json has no uuid"));
		cl_buf_free(&out);
		cl_buf_free(&log);
	}
	/* Whitespace and escapes anywhere JSON allows them are fine. */
	cl_buf out = CL_BUF_INIT, log = CL_BUF_INIT;
	seed_file cd[] = {{"openstack/latest/meta_data.json",
			   "\n{ \"meta\" : { \"a\" : [ 1 , -2.5e3 , true , null , { } ] } ,\r\n\t"
			   "\"hostname\":\"vm\\u002d7\",\"uuid\"\n:\n\"" TEST_UUID "\"}\n"}};
	CHECK_INT(guest_seed("configdrive", cd, 1, &out, &log), 0);
	CHECK_STR(cl_buf_str(&out), "iid=" TEST_UUID "\nhost=vm-7\nfqdn=vm-7\n--\n");
	cl_buf_free(&out);
	cl_buf_free(&log);
}

/* NoCloud follows the same precedence: user-data's hostname over meta-data's local-hostname. */
static void test_nocloud_hostname(void)
{
	cl_buf out = CL_BUF_INIT, log = CL_BUF_INIT;
	seed_file nc[] = {
	    {"meta-data", "instance-id: i-1\nlocal-hostname: from-meta.example.org\n"},
	    {"user-data", "#cloud-config\nhostname: from-user\n"},
	};
	CHECK_INT(guest_seed("nocloud", nc, 2, &out, &log), 0);
	CHECK_STR(cl_buf_str(&out), "iid=i-1\nhost=from-user\nfqdn=from-user\n--\nhostname\tp\tfrom-user\n");
	cl_buf_free(&out);
	cl_buf_free(&log);
	out = (cl_buf)CL_BUF_INIT;
	log = (cl_buf)CL_BUF_INIT;
	nc[1].text = "#cloud-config\nusers: []\n";
	CHECK_INT(guest_seed("nocloud", nc, 2, &out, &log), 0);
	CHECK_STR(cl_buf_str(&out), "iid=i-1\nhost=from-meta\nfqdn=from-meta.example.org\n--\nusers\tf\t[]\n");
	cl_buf_free(&out);
	cl_buf_free(&log);
}

int main(void)
{
	const char *src = getenv("CL_SOURCE_DIR");
	if (!src)
		src = CL_TEST_DATA "/../.."; /* tests/data */
	snprintf(awk_path, sizeof(awk_path),
		 "%s/templates/images/tiny/rootfs/usr/lib/classlab/yaml-flat.awk", src);
	snprintf(lib_dir, sizeof(lib_dir), "%s/templates/images/tiny/rootfs/usr/lib/classlab", src);
	CHECK(access(awk_path, R_OK) == 0);
	char *seed_sh = cl_aprintf("%s/seed.sh", lib_dir);
	CHECK(access(seed_sh, R_OK) == 0);
	free(seed_sh);
	cl_buf out = CL_BUF_INIT;
	int st = -1;
	const char *probe[] = {"busybox", "awk", "BEGIN { exit 0 }", NULL};
	if (cl_spawn(probe, NULL, 10000, &out, NULL, &st) < 0 || st != 0) {
		fprintf(stderr, "note: busybox not found, the guest's YAML reader was not run\n");
		cl_buf_free(&out);
		return tap_done();
	}
	cl_buf_free(&out);
	test_writer_round_trip();
	test_hand_written();
	test_config_drive();
	test_config_drive_hostname();
	test_config_drive_no_user_data();
	test_config_drive_bad_json();
	test_nocloud_hostname();
	return tap_done();
}
