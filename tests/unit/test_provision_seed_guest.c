/* The tiny guest's YAML reader (templates/images/tiny/.../yaml-flat.awk, run by busybox awk,
 * decoded with rc.sysinit's own yitems/dec) against what classlab's seed writer emits through
 * libyaml: every character libyaml writes as an escape (\0 aside: a C string cannot hold it)
 * must reach the guest's command byte for byte. Also hand-written double-quoted escapes,
 * compared with libyaml's own parser. Skipped (exit 77 semantics: a note) without busybox. */
#include "classlab/cl_provision.h"
#include "classlab/cl_spawn.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

static char awk_path[4096], sysinit_path[4096], helpers[8192];

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

/* rc.sysinit's one-line yitems() and dec() definitions, so the test decodes as the guest does. */
static int load_helpers(void)
{
	FILE *f = fopen(sysinit_path, "r");
	char line[2048];
	int found = 0;
	if (!f)
		return -1;
	helpers[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "yitems() ", 9) == 0 || strncmp(line, "dec() ", 6) == 0) {
			size_t used = strlen(helpers);
			snprintf(helpers + used, sizeof(helpers) - used, "%s", line);
			found++;
		}
	}
	fclose(f);
	return found == 2 ? 0 : -1;
}

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
	char *script = cl_aprintf("awk() { busybox awk \"$@\"; }\nTAB=$(printf '\\t')\n%s"
				  "awk -f \"$1\" \"$2/in.yaml\" >\"$2/in.flat\" || exit 1\n"
				  "n=0\n"
				  "yitems \"$2/in.flat\" \"$3\" >\"$2/items\"\n"
				  "while IFS=$TAB read -r t v; do dec \"$v\" >\"$2/item.$n\"; "
				  "n=$((n + 1)); done <\"$2/items\"\n"
				  "echo $n\n",
				  helpers);
	const char *argv[] = {"busybox", "sh", "-c", script, "sh", awk_path, dir, prefix, NULL};
	cl_buf out = CL_BUF_INIT;
	int rc = cl_spawn(argv, NULL, 60000, &out, warnings, &st);
	free(script);
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

int main(void)
{
	const char *src = getenv("CL_SOURCE_DIR");
	if (!src)
		src = CL_TEST_DATA "/../.."; /* tests/data */
	snprintf(awk_path, sizeof(awk_path),
		 "%s/templates/images/tiny/rootfs/usr/lib/classlab/yaml-flat.awk", src);
	snprintf(sysinit_path, sizeof(sysinit_path),
		 "%s/templates/images/tiny/rootfs/usr/lib/classlab/rc.sysinit", src);
	CHECK(access(awk_path, R_OK) == 0);
	CHECK_INT(load_helpers(), 0);
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
	return tap_done();
}
