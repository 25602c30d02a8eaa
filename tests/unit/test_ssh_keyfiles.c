/*
 * Unit tests for ssh/keyfiles.c's key files: each pair is whole on disk before
 * its names appear, made durable by one sync (or by the caller's batch, before
 * the record that copies it commits), never written through a symlinked
 * directory, and read back rather than rewritten.
 */
#define _GNU_SOURCE
#include "classlab/cl_ssh.h"
#include "syscount.h"
#include "tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char scratch[] = "/tmp/cl-keyfiles-XXXXXX";


static void test_pair_one_sync(void)
{
	cl_keypair k = {0}, again = {0};
	char *priv = cl_aprintf("%s/labs/lab1/students/s001/id_ed25519", scratch);
	char *pub = cl_aprintf("%s.pub", priv), *want, *got;

	syscount_reset();
	CHECK_INT(cl_keys_student(scratch, "lab1", "s001", NULL, &k), 0);
	CHECK_STR(k.private_path, priv);
	CHECK(k.public_line && strncmp(k.public_line, "ssh-ed25519 ", 12) == 0);
	/* Both files whole before they were renamed, then one sync for the pair. */
	CHECK_INT(sfr_waits, 2);
	CHECK_INT(n_fsync, 0);
	CHECK_INT(n_syncfs, 1);
	CHECK_INT(mode_of(priv) & 07777, 0600);
	CHECK_INT(mode_of(pub) & 07777, 0644);
	want = cl_aprintf("%s\n", k.public_line);
	got = slurp(pub);
	CHECK_STR(got, want);
	free(got);
	got = slurp(priv);
	CHECK(strstr(got, "BEGIN OPENSSH PRIVATE KEY") != NULL);
	free(got);
	/* Made once and kept: read back, nothing written, synced, made or chmodded. */
	syscount_reset();
	CHECK_INT(cl_keys_student(scratch, "lab1", "s001", NULL, &again), 0);
	CHECK_STR(again.public_line, k.public_line);
	CHECK_INT(sfr_waits + n_fsync + n_syncfs + n_mkdir + n_chmod, 0);
	cl_keypair_clear(&again);
	/* A lab directory someone opened up is made private again. */
	char *labdir = cl_aprintf("%s/labs/lab1", scratch);
	CHECK_INT(chmod(labdir, 0755), 0);
	CHECK_INT(cl_keys_student(scratch, "lab1", "s001", NULL, &again), 0);
	CHECK_INT(mode_of(labdir) & 07777, 0700);
	cl_keypair_clear(&again);
	cl_keypair_clear(&k);
	free(labdir), free(priv), free(pub), free(want);
}

static void test_batch_defers_to_caller(void)
{
	cl_keypair h = {0}, s = {0};

	syscount_reset();
	cl_file_defer_begin();
	CHECK_INT(cl_keys_host(scratch, "lab1", "lab1-s002", &h), 0);
	CHECK_INT(cl_keys_student(scratch, "lab1", "s002", NULL, &s), 0);
	CHECK(h.private_pem != NULL);
	CHECK_INT(sfr_waits, 4);
	CHECK_INT(n_syncfs + n_fsync, 0); /* the caller syncs before it records them */
	CHECK_INT(cl_file_sync(), 0);
	CHECK_INT(n_syncfs, 1);
	CHECK_INT(cl_file_defer_end(), 0);
	CHECK_INT(n_syncfs, 1);
	cl_keypair_clear(&h);
	cl_keypair_clear(&s);
}

static void test_symlinked_dir_refused(void)
{
	cl_keypair k = {0};
	char *elsewhere = cl_aprintf("%s/elsewhere", scratch);
	char *dir = cl_aprintf("%s/labs/lab1/students/s003", scratch);
	char *planted = cl_aprintf("%s/id_ed25519.pub", elsewhere);

	CHECK_INT(cl_mkdir_p(elsewhere, 0700), 0);
	CHECK_INT(symlink(elsewhere, dir), 0);
	CHECK_INT(cl_keys_student(scratch, "lab1", "s003", NULL, &k), CL_EINVAL);
	/* Nothing was written through the link, not even the public half. */
	CHECK_INT(mode_of(planted), 0);
	CHECK(S_ISLNK(mode_of(dir)));
	cl_keypair_clear(&k);
	free(elsewhere), free(dir), free(planted);
}

int main(void)
{
	if (!mkdtemp(scratch)) {
		CHECK(!"mkdtemp");
		return tap_done();
	}
	test_pair_one_sync();
	test_batch_defers_to_caller();
	test_symlinked_dir_refused();
	char *rm = cl_aprintf("rm -rf '%s'", scratch);
	if (system(rm) != 0)
		printf("# could not remove %s\n", scratch);
	free(rm);
	return tap_done();
}
