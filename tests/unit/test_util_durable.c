/*
 * Unit tests for util/file.c's batched durability and mkdir -p: what reaches the
 * kernel, counted by wrapping fsync, syncfs, sync_file_range and mkdir (the
 * library's calls bind to these definitions, which forward to the real calls).
 */
#define _GNU_SOURCE
#include "classlab/cl_util.h"
#include "syscount.h"
#include "tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char scratch[] = "/tmp/cl-durable-XXXXXX";

static char *sp(const char *rel)
{
	return cl_aprintf("%s/%s", scratch, rel);
}


/* Leftover temporary files in dir (NAME.tmp.*): none after a write, deferred or not. */
static int tmp_count(const char *dir)
{
	char *cmd = cl_aprintf("ls -a '%s' | grep -c '\\.tmp\\.'", dir);
	FILE *p = popen(cmd, "r");
	int n = -1;
	if (p && fscanf(p, "%d", &n) != 1)
		n = -1;
	if (p)
		pclose(p);
	free(cmd);
	return n;
}

static void test_plain_writes_fsync_each(void)
{
	char *a = sp("plain-a"), *b = sp("plain-b");

	syscount_reset();
	CHECK_INT(cl_write_file(a, "one\n", 4, 0600), 0);
	CHECK_INT(cl_write_file(b, "two\n", 4, 0644), 0);
	/* Outside a batch: every file is durable when the call returns. */
	CHECK_INT(n_fsync, 2);
	CHECK_INT(n_syncfs, 0);
	CHECK_INT(cl_file_sync(), 0);
	CHECK_INT(n_syncfs, 0); /* nothing pending */
	free(a), free(b);
}

static void test_batch_one_sync(void)
{
	char *dir = sp("batch"), *link = sp("batch/link"), *victim = sp("victim");
	mode_t old = umask(077);
	char *got;

	CHECK_INT(cl_mkdir_p(dir, 0700), 0);
	CHECK_INT(cl_write_file(victim, "secret\n", 7, 0600), 0);
	CHECK_INT(symlink(victim, link), 0);
	syscount_reset();
	cl_file_defer_begin();
	for (int i = 0; i < 10; i++) {
		char *p = cl_aprintf("%s/f%d", dir, i), *body = cl_aprintf("file %d\n", i);
		CHECK_INT(cl_write_file(p, body, strlen(body), i % 2 ? 0644 : 0600), 0);
		free(p);
		free(body);
	}
	/* Still atomic and still never written through a planted link. */
	CHECK_INT(cl_write_file(link, "new\n", 4, 0600), 0);
	CHECK_INT(n_fsync, 0);
	CHECK_INT(n_syncfs, 0);
	CHECK_INT(sfr_waits, 11); /* each file's data on disk before its rename */
	/* The files are there, whole, with their modes, before any sync. */
	for (int i = 0; i < 10; i++) {
		char *p = cl_aprintf("%s/f%d", dir, i), *want = cl_aprintf("file %d\n", i);
		got = slurp(p);
		CHECK_STR(got, want);
		CHECK_INT(mode_of(p) & 07777, i % 2 ? 0644 : 0600);
		free(got);
		free(want);
		free(p);
	}
	got = slurp(victim);
	CHECK_STR(got, "secret\n");
	free(got);
	CHECK(S_ISREG(mode_of(link)));
	CHECK_INT(tmp_count(dir), 0);
	/* One sync for all of them (one file system), then nothing is pending. */
	CHECK_INT(cl_file_sync(), 0);
	CHECK_INT(n_syncfs, 1);
	CHECK_INT(cl_file_sync(), 0);
	CHECK_INT(n_syncfs, 1);
	/* Written after a sync: pending again; the outermost end syncs it. */
	char *late = sp("batch/late");
	CHECK_INT(cl_write_file(late, "x", 1, 0600), 0);
	CHECK_INT(n_syncfs, 1);
	CHECK_INT(cl_file_defer_end(), 0);
	CHECK_INT(n_syncfs, 2);
	CHECK_INT(n_fsync, 0);
	/* The batch is over: writes are durable on return again. */
	CHECK_INT(cl_write_file(late, "y", 1, 0600), 0);
	CHECK_INT(n_fsync, 1);
	umask(old);
	free(dir), free(link), free(victim), free(late);
}

static void test_batch_nests(void)
{
	char *a = sp("nest-a"), *b = sp("nest-b");
	int dirfd = open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	syscount_reset();
	cl_file_defer_begin();
	cl_file_defer_begin(); /* e.g. a key pair written inside a publish */
	CHECK_INT(cl_write_file(a, "a", 1, 0600), 0);
	CHECK_INT(cl_write_file_at(dirfd, "nest-b", "b", 1, 0600, 0), 0);
	CHECK_INT(cl_file_defer_end(), 0);
	CHECK_INT(n_syncfs, 0); /* the inner end leaves the sync to the outer batch */
	CHECK_INT(n_fsync, 0);
	CHECK_INT(cl_file_defer_end(), 0);
	CHECK_INT(n_syncfs, 1);
	/* An end without a begin is harmless and syncs nothing. */
	CHECK_INT(cl_file_defer_end(), 0);
	CHECK_INT(n_syncfs, 1);
	/* A failed write in a batch leaves nothing pending and no temporary file. */
	syscount_reset();
	cl_file_defer_begin();
	CHECK_INT(cl_write_file_at(dirfd, "nest-b", "c", 1, 0600, CL_WRITE_NOREPLACE), CL_EEXIST);
	CHECK_INT(cl_file_defer_end(), 0);
	CHECK_INT(n_syncfs, 0);
	CHECK_INT(tmp_count(scratch), 0);
	char *got = slurp(b);
	CHECK_STR(got, "b");
	free(got);
	close(dirfd);
	free(a), free(b);
}

static void test_mkdir_from_deepest(void)
{
	char *deep = sp("d1/d2/d3/d4/d5/d6"), *leaf = sp("d1/d2/d3/d4/d5/d6/leaf"),
	     *two = sp("d1/d2/d3/x/y"), *file = sp("d1/file"), *under = sp("d1/file/z/w");
	bool created = false;

	syscount_reset();
	CHECK_INT(cl_mkdir_new(deep, 0700, &created), 0);
	CHECK(created);
	CHECK_INT(n_mkdir, 6);
	/* An existing directory: no mkdir at all, however deep. */
	syscount_reset();
	CHECK_INT(cl_mkdir_new(deep, 0700, &created), 0);
	CHECK(!created);
	CHECK_INT(n_mkdir, 0);
	/* Only what is missing, from the deepest existing ancestor, with the exact mode. */
	syscount_reset();
	CHECK_INT(cl_mkdir_new(leaf, 0750, &created), 0);
	CHECK(created);
	CHECK_INT(n_mkdir, 1);
	CHECK_INT(mode_of(leaf) & 07777, 0750);
	syscount_reset();
	CHECK_INT(cl_mkdir_p(two, 0700), 0);
	CHECK_INT(n_mkdir, 2);
	/* A file in the way is still refused, at the path or above it. */
	CHECK_INT(cl_write_file(file, "f", 1, 0600), 0);
	CHECK_INT(cl_mkdir_p(file, 0700), CL_EINVAL);
	CHECK_INT(cl_mkdir_p(under, 0700), CL_EINVAL);
	CHECK(!S_ISDIR(mode_of(file)));
	free(deep), free(leaf), free(two), free(file), free(under);
}

int main(void)
{
	if (!mkdtemp(scratch)) {
		CHECK(!"mkdtemp");
		return tap_done();
	}
	test_plain_writes_fsync_each();
	test_batch_one_sync();
	test_batch_nests();
	test_mkdir_from_deepest();
	char *rm = cl_aprintf("rm -rf '%s'", scratch);
	if (system(rm) != 0)
		printf("# could not remove %s\n", scratch);
	free(rm);
	return tap_done();
}
