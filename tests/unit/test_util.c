/* Unit tests for util/: buffers, errors, the strict parsers, files and paths. */
#include "classlab/cl_util.h"
#include "tap.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_buf(void)
{
	cl_buf b = CL_BUF_INIT;
	CHECK_STR(cl_buf_str(&b), "");
	for (int i = 0; i < 1000; i++)
		cl_buf_printf(&b, "%d,", i);
	CHECK(b.len > 3000);
	CHECK(strncmp(b.data, "0,1,2,", 6) == 0);
	char *s = cl_buf_detach(&b);
	CHECK(b.data == NULL && b.len == 0);
	free(s);
}

static void test_errors(void)
{
	CHECK_INT(cl_error_set(CL_ENOTFOUND, "lab '%s' not found", "x"), CL_ENOTFOUND);
	CHECK_STR(cl_error_msg(), "lab 'x' not found");
	CHECK_INT(cl_error_wrap("cannot show lab"), CL_ENOTFOUND);
	CHECK_STR(cl_error_msg(), "cannot show lab: lab 'x' not found");
}

static void test_names(void)
{
	CHECK(cl_name_valid("ml-lab"));
	CHECK(cl_name_valid("a1"));
	CHECK(cl_name_valid("0123456789abcdef0123456789abcdef"));
	CHECK(!cl_name_valid("0123456789abcdef0123456789abcdef0"));
	CHECK(!cl_name_valid("a"));
	CHECK(!cl_name_valid("-ab"));
	CHECK(!cl_name_valid("Alice"));
	CHECK(!cl_name_valid("a b"));
	CHECK(!cl_name_valid("a;rm"));
	CHECK(!cl_name_valid("../x"));
	CHECK(!cl_name_valid("al\xc3\xaf" "ce"));
	CHECK(!cl_name_valid(""));
	CHECK_INT(cl_name_check("lab name", "<x>"), CL_EINVAL);
}

static void test_numbers(void)
{
	uint64_t v;
	int64_t s;
	char *f;

	CHECK_INT(cl_parse_u64("students", "25", 100000, &v), 0);
	CHECK_INT(v, 25);
	CHECK_INT(cl_parse_u64("students", "-1", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_u64("students", "1e3", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_u64("students", "", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_u64("students", " 1", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_u64("students", "100001", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_u64("students", "99999999999999999999999", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_u64("students", "1.5", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_hours("hours", "1.5", &s), 0);
	CHECK_INT(s, 5400);
	CHECK_INT(cl_parse_hours("hours", "87600", &s), 0);
	CHECK_INT(cl_parse_hours("hours", "87600.01", &s), CL_EINVAL);
	CHECK_INT(cl_parse_hours("hours", "1.234", &s), CL_EINVAL);
	CHECK_INT(cl_parse_hours("hours", ".", &s), CL_EINVAL);
	CHECK_INT(cl_parse_hours("hours", "nan", &s), CL_EINVAL);
	f = cl_format_hours(5400);
	CHECK_STR(f, "1.5");
	free(f);
	CHECK_INT(cl_parse_price("price", "0.01", &s), 0);
	CHECK_INT(s, 10000);
	CHECK_INT(cl_parse_price("price", "$0.000001", &s), 0);
	CHECK_INT(s, 1);
	CHECK_INT(cl_parse_price("price", "0.0000001", &s), CL_EINVAL);
	CHECK_INT(cl_parse_price("price", "1000.01", &s), CL_EINVAL);
	f = cl_format_price(10000);
	CHECK_STR(f, "$0.01");
	free(f);
	f = cl_format_price(12345);
	CHECK_STR(f, "$0.012345");
	free(f);
	f = cl_format_cents(104250);
	CHECK_STR(f, "$1042.50");
	free(f);
	f = cl_format_cents(5);
	CHECK_STR(f, "$0.05");
	free(f);
}

static void test_times(void)
{
	int64_t t;
	char *f;

	CHECK_INT(cl_parse_time("start", "2026-01-31T09:00", &t), 0);
	f = cl_format_time(t);
	CHECK_STR(f, "2026-01-31T09:00:00Z");
	free(f);
	CHECK_INT(cl_parse_time("start", "2026-01-31T09:00:00+02:00", &t), 0);
	f = cl_format_time(t);
	CHECK_STR(f, "2026-01-31T07:00:00Z");
	free(f);
	CHECK_INT(cl_parse_time("start", "2026-02-31", &t), CL_EINVAL);
	CHECK_INT(cl_parse_time("start", "2026-01-31T25:00", &t), CL_EINVAL);
	CHECK_INT(cl_parse_time("start", "tomorrow", &t), CL_EINVAL);
	CHECK_INT(cl_parse_time("start", "2026-01-31T09:00Zjunk", &t), CL_EINVAL);
	/* An offset must not carry the time outside what the parser reads back. */
	CHECK_INT(cl_parse_time("start", "1970-01-01T00:00+01:00", &t), CL_EINVAL);
	CHECK_INT(cl_parse_time("start", "9999-12-31T23:30-01:00", &t), CL_EINVAL);
	CHECK_INT(cl_parse_time("start", "1970-01-01T01:00+01:00", &t), 0);
	CHECK_INT(t, 0);
}

static void test_text(void)
{
	CHECK_INT(cl_text_check("email", "alice@example.edu", 254), 0);
	CHECK_INT(cl_text_check("email", "J\xc3\xbcrgen", 254), 0);
	CHECK_INT(cl_text_check("email", "a\x01", 254), CL_EINVAL);
	CHECK_INT(cl_text_check("email", "\xff\xfe", 254), CL_EINVAL);
	CHECK_INT(cl_text_check("email", "abc\xe2\x80\xae" "cba", 254), CL_EINVAL);
	CHECK_INT(cl_text_check("email", "\xed\xa0\x80", 254), CL_EINVAL);
}

/* A scratch directory for the file tests (removed by the caller with rm -rf). */
static char scratch[] = "/tmp/cl-test-util.XXXXXX";

static char *sp(const char *name)
{
	return cl_path_join(scratch, name);
}

static mode_t mode_of(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0 ? sb.st_mode : 0;
}

static char *slurp(const char *path)
{
	cl_buf b = CL_BUF_INIT;
	if (cl_read_file(path, 1 << 20, &b) != 0) {
		cl_buf_free(&b);
		return cl_strdup("(unreadable)");
	}
	return cl_buf_detach(&b);
}

/* How many names in dir start with prefix (temporaries left behind). */
static int count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	if (d)
		closedir(d);
	return n;
}

static void test_mkdir(void)
{
	char *a = sp("m/a//b/"), *b = sp("m/a/b"), *m = sp("m"), *f = sp("m/file"),
	     *under = sp("m/file/x"), *keep = sp("keep");
	bool created = true;
	mode_t old = umask(077);

	/* The empty path is invalid input, not a read past its end. */
	CHECK_INT(cl_mkdir_p("", 0700), CL_EINVAL);
	CHECK_INT(cl_mkdir_new("", 0700, &created), CL_EINVAL);
	CHECK(!created);
	/* Made directories get exactly the mode asked for, whatever the umask. */
	CHECK_INT(cl_mkdir_new(a, 0755, &created), 0);
	CHECK(created);
	CHECK_INT(mode_of(b) & 07777, 0755);
	CHECK_INT(mode_of(m) & 07777, 0755);
	CHECK_INT(cl_mkdir_new(b, 0700, &created), 0);
	CHECK(!created);
	/* An existing directory keeps its mode: classlab chmods only what it made. */
	CHECK_INT(mkdir(keep, 0775), 0);
	chmod(keep, 0775);
	CHECK_INT(cl_mkdir_p(keep, 0700), 0);
	CHECK_INT(mode_of(keep) & 07777, 0775);
	mode_t root = mode_of("/");
	CHECK_INT(cl_mkdir_p("/", 0700), 0);
	CHECK_INT(mode_of("/"), root);
	/* A file in the way is refused. */
	CHECK_INT(cl_write_file(f, "x", 1, 0600), 0);
	CHECK_INT(cl_mkdir_p(f, 0700), CL_EINVAL);
	CHECK_INT(cl_mkdir_p(under, 0700), CL_EINVAL);
	umask(old);
	free(a), free(b), free(m), free(f), free(under), free(keep);
}

static void test_write_no_follow(void)
{
	char *victim = sp("victim"), *link = sp("w/out"), *w = sp("w"), *pidtmp = NULL,
	     *dirpath = sp("w/adir"), *got;
	struct stat sb;

	CHECK_INT(cl_mkdir_p(w, 0700), 0);
	CHECK_INT(cl_write_file(victim, "secret\n", 7, 0644), 0);
	/* A symlink planted at the target: replaced, its target neither written nor chmodded. */
	CHECK_INT(symlink(victim, link), 0);
	CHECK_INT(cl_write_file(link, "new\n", 4, 0600), 0);
	got = slurp(victim);
	CHECK_STR(got, "secret\n");
	free(got);
	CHECK_INT(mode_of(victim) & 07777, 0644);
	CHECK(S_ISREG(mode_of(link)));
	CHECK_INT(mode_of(link) & 07777, 0600);
	got = slurp(link);
	CHECK_STR(got, "new\n");
	free(got);
	/* A symlink planted at the old predictable temporary name is never used. */
	pidtmp = cl_aprintf("%s.tmp.%ld", link, (long)getpid());
	CHECK_INT(symlink(victim, pidtmp), 0);
	CHECK_INT(cl_write_file(link, "again\n", 6, 0600), 0);
	got = slurp(victim);
	CHECK_STR(got, "secret\n");
	free(got);
	CHECK_INT(mode_of(victim) & 07777, 0644);
	CHECK(lstat(pidtmp, &sb) == 0 && S_ISLNK(sb.st_mode));
	unlink(pidtmp);
	/* The temporary is made with the final mode, whatever the umask; none is left behind. */
	CHECK_INT(count_prefixed(w, "out.tmp."), 0);
	/* Over a directory: refused, and its temporary removed. */
	CHECK_INT(mkdir(dirpath, 0700), 0);
	CHECK(cl_write_file(dirpath, "x", 1, 0600) < 0);
	CHECK_INT(count_prefixed(w, "adir.tmp."), 0);
	/* Not file names. */
	CHECK_INT(cl_write_file("", "x", 1, 0600), CL_EINVAL);
	char *slash = cl_aprintf("%s/", w);
	CHECK_INT(cl_write_file(slash, "x", 1, 0600), CL_EINVAL);
	free(slash);
	free(victim), free(link), free(w), free(pidtmp), free(dirpath);
}

static void test_tmpfile(void)
{
	char *path = sp("t/file"), *dir = sp("t"), *t1 = NULL, *t2 = NULL;
	mode_t old = umask(077);
	int fd1, fd2;

	CHECK_INT(cl_mkdir_p(dir, 0700), 0);
	fd1 = cl_tmpfile_open(path, 0640, &t1);
	fd2 = cl_tmpfile_open(path, 0640, &t2);
	CHECK(fd1 >= 0 && fd2 >= 0);
	CHECK(t1 && t2 && strcmp(t1, t2) != 0);
	if (t1 && t2) {
		/* "<path>.tmp." and 12 random characters, nothing derived from the pid. */
		size_t n = strlen(path) + strlen(".tmp.");
		char *pid = cl_aprintf("%ld", (long)getpid());
		CHECK(strncmp(t1, path, strlen(path)) == 0 &&
		      strncmp(t1 + strlen(path), ".tmp.", 5) == 0);
		CHECK_INT(strlen(t1), n + 12);
		CHECK(strstr(t1 + n, pid) == NULL || strstr(t2 + n, pid) == NULL);
		CHECK_INT(mode_of(t1) & 07777, 0640);
		free(pid);
	}
	/* 200 names: all different (a guessable sequence would repeat or count). */
	char *seen[200];
	int dup = 0;
	for (int i = 0; i < 200; i++) {
		int fd = cl_tmpfile_open(path, 0600, &seen[i]);
		CHECK(fd >= 0);
		if (fd >= 0)
			close(fd);
		for (int j = 0; j < i; j++)
			dup += strcmp(seen[i], seen[j]) == 0;
	}
	CHECK_INT(dup, 0);
	for (int i = 0; i < 200; i++) {
		unlink(seen[i]);
		free(seen[i]);
	}
	if (fd1 >= 0)
		close(fd1);
	if (fd2 >= 0)
		close(fd2);
	unlink(t1), unlink(t2);
	umask(old);
	free(t1), free(t2), free(path), free(dir);
}

static void test_write_at_noreplace(void)
{
	char *dir = sp("n"), *name = sp("n/f"), *ln = sp("n/l"), *victim = sp("victim2"), *got;
	int dfd;

	CHECK_INT(cl_mkdir_p(dir, 0700), 0);
	CHECK_INT(cl_write_file(victim, "keep", 4, 0644), 0);
	CHECK_INT(symlink(victim, ln), 0);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	CHECK_INT(cl_write_file_at(dfd, "f", "one", 3, 0600, CL_WRITE_NOREPLACE), 0);
	CHECK_INT(cl_write_file_at(dfd, "f", "two", 3, 0600, CL_WRITE_NOREPLACE), CL_EEXIST);
	got = slurp(name);
	CHECK_STR(got, "one");
	free(got);
	CHECK_INT(cl_write_file_at(dfd, "l", "two", 3, 0600, CL_WRITE_NOREPLACE), CL_EEXIST);
	CHECK(S_ISLNK(mode_of(ln)));
	got = slurp(victim);
	CHECK_STR(got, "keep");
	free(got);
	CHECK_INT(cl_write_file_at(dfd, "f", "two", 3, 0600, 0), 0);
	got = slurp(name);
	CHECK_STR(got, "two");
	free(got);
	CHECK_INT(cl_write_file_at(dfd, "a/b", "x", 1, 0600, 0), CL_EINVAL);
	CHECK_INT(count_prefixed(dir, "f.tmp."), 0);
	CHECK_INT(count_prefixed(dir, "l.tmp."), 0);
	close(dfd);
	free(dir), free(name), free(ln), free(victim);
}

static void test_read_kinds(void)
{
	char *fifo = sp("fifo"), *file = sp("plain");
	cl_buf b = CL_BUF_INIT;

	CHECK_INT(cl_read_file("", 100, &b), CL_EINVAL);
	CHECK_INT(cl_read_file(scratch, 100, &b), CL_EINVAL); /* a directory */
	CHECK_INT(cl_read_file("/", 100, &b), CL_EINVAL);
	CHECK_INT(cl_read_file("/dev/null", 100, &b), CL_EINVAL); /* a device */
	CHECK_INT(b.len, 0);
	CHECK_INT(mkfifo(fifo, 0600), 0);
	CHECK_INT(cl_read_file(fifo, 100, &b), 0); /* no writer: empty, not a hang */
	CHECK_INT(b.len, 0);
	cl_buf_reset(&b);
	CHECK_INT(cl_write_file(file, "abc", 3, 0600), 0);
	CHECK_INT(cl_read_file(file, 100, &b), 0);
	CHECK_STR(cl_buf_str(&b), "abc");
	cl_buf_free(&b);
	free(fifo), free(file);
}

static void test_private_dir(void)
{
	char *made = sp("p/new"), *real = sp("p/real"), *ln = sp("p/link"), *open = sp("p/open"),
	     *via = sp("p/link/sub"), *theirs = sp("p/theirs");

	CHECK_INT(cl_private_dir("data directory", "", true), CL_EINVAL);
	CHECK_INT(cl_private_dir("data directory", made, false), 0);
	CHECK_INT(mode_of(made), 0); /* not made without create */
	CHECK_INT(cl_private_dir("data directory", made, true), 0);
	CHECK_INT(mode_of(made) & 07777, 0700);
	CHECK_INT(cl_mkdir_p(real, 0700), 0);
	CHECK_INT(symlink("real", ln), 0);
	/* The last component a symlink: refused, saying so. A symlink above it: fine. */
	CHECK_INT(cl_private_dir("data directory", ln, true), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "symbolic link") != NULL);
	char *lnslash = cl_aprintf("%s/", ln);
	CHECK_INT(cl_private_dir("data directory", lnslash, true), CL_EINVAL);
	free(lnslash);
	CHECK_INT(cl_private_dir("data directory", via, true), 0);
	CHECK_INT(mode_of(via) & 07777, 0700);
	/* Writable by others: refused, and its mode left alone. */
	CHECK_INT(mkdir(open, 0700), 0);
	chmod(open, 0777);
	CHECK_INT(cl_private_dir("data directory", open, true), CL_EINVAL);
	CHECK_INT(mode_of(open) & 07777, 0777);
	CHECK_INT(cl_private_dir("data directory", "/tmp", true), CL_EINVAL);
	/* Another user's: refused (only root can make one to test with). */
	CHECK_INT(mkdir(theirs, 0700), 0);
	if (geteuid() == 0 && chown(theirs, 65534, 65534) == 0) {
		CHECK_INT(cl_private_dir("data directory", theirs, true), CL_EINVAL);
		CHECK(strstr(cl_error_msg(), "uid 65534") != NULL);
		CHECK_INT(mode_of(theirs) & 07777, 0700);
	} else {
		printf("# skip: not root, cannot make another user's directory\n");
	}
	free(made), free(real), free(ln), free(open), free(via), free(theirs);
}

static void test_files(void)
{
	if (!mkdtemp(scratch)) {
		CHECK(!"mkdtemp");
		return;
	}
	test_mkdir();
	test_write_no_follow();
	test_tmpfile();
	test_write_at_noreplace();
	test_read_kinds();
	test_private_dir();
	char *rm = cl_aprintf("rm -rf '%s'", scratch);
	if (system(rm) != 0)
		printf("# could not remove %s\n", scratch);
	free(rm);
}

int main(void)
{
	test_buf();
	test_errors();
	test_names();
	test_numbers();
	test_times();
	test_text();
	test_files();
	return tap_done();
}
