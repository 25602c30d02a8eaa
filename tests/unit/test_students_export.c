/* cl_students_export and cl_access_x2go_write: what they write, the paths they return, refusals. */
#include "classlab/cl_students.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_ssh.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int mode_of(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0 ? (int)(sb.st_mode & 07777) : -1;
}

/* Checks one export: the paths it returned, in order, each a file it wrote. */
static void check_written(const char *dir, char **w, size_t n)
{
	static const char *const names[] = {".classlab-export", "id_ed25519", "known_hosts",
					    "ssh_config", "x2go-session", "README.txt"};
	CHECK_INT(n, 6);
	for (size_t i = 0; i < n && i < 6; i++) {
		char *want = cl_aprintf("%s/%s", dir, names[i]);
		CHECK_STR(w[i], want);
		CHECK(access(w[i], R_OK) == 0);
		free(want);
	}
	if (n > 1)
		CHECK_INT(mode_of(w[1]), 0600);
}

int main(void)
{
	char dir[] = "/tmp/cl-test-export.XXXXXX";
	cl_ctx *ctx = NULL;
	cl_lab lab = {.name = "ml", .size = "small", .price_micro = 10000};
	cl_student bob = {.name = "bob", .quota_seconds = CL_QUOTA_DEFAULT};
	cl_buf pub = CL_BUF_INIT, b = CL_BUF_INIT;
	char **w = NULL, *path = NULL;
	size_t n = 0;

	if (!mkdtemp(dir))
		return 1;
	char *db = cl_aprintf("%s/db", dir), *data = cl_aprintf("%s/data", dir),
	     *exp = cl_aprintf("%s/exp/new", dir), *home = cl_aprintf("%s/home", dir);
	cl_ctx_opts opts = {.db_path = db, .data_dir = data};
	CHECK_INT(cl_ctx_new(&ctx, &opts), 0);
	if (!ctx)
		return 1;
	CHECK_INT(cl_labs_create(ctx, &lab), 0);
	CHECK_INT(cl_students_add(ctx, "ml", &bob), 0);
	/* A published VM's record, as template publish leaves it, without a guest. */
	CHECK_INT(cl_read_file(CL_TEST_DATA "/ssh/key_ed25519_256.pub", 4096, &pub), 0);
	char *sp = strchr(cl_buf_str(&pub), ' ');
	if (sp && strchr(sp + 1, ' '))
		*strchr(sp + 1, ' ') = '\0';
	cl_vm vm = {.lab_id = lab.id, .student_id = bob.id, .name = "ml-bob",
		    .kind = CL_VM_KIND_STUDENT, .ssh_port = 61001,
		    .host_key_pub = (char *)cl_buf_str(&pub), .state = CL_VM_STATE_RUNNING};
	CHECK_INT(cl_store_vm_put(cl_ctx_store(ctx), &vm, NULL), 0);

	/* A new directory: made 0700, every file returned in the order written. */
	CHECK_INT(cl_students_export(ctx, "ml", "bob", exp, false, NULL, &w, &n), 0);
	check_written(exp, w, n);
	CHECK_INT(mode_of(exp), 0700);
	CHECK_INT(cl_read_file(w[0], 4096, &b), 0);
	CHECK(strstr(cl_buf_str(&b), "\nid_ed25519\nknown_hosts\nssh_config\nx2go-session\n"
				      "README.txt\n") != NULL);
	cl_strv_free(w, n);

	/* Again without force: refused, nothing returned. */
	w = (char **)&n; /* not NULL, so that the reset is seen */
	CHECK_INT(cl_students_export(ctx, "ml", "bob", exp, false, NULL, &w, &n), CL_EEXIST);
	CHECK(strstr(cl_error_msg(), "is not empty") != NULL);
	CHECK(w == NULL);
	CHECK_INT(n, 0);
	/* With force over its own export: the same files again. */
	CHECK_INT(cl_students_export(ctx, "ml", "bob", exp, true, NULL, &w, &n), 0);
	check_written(exp, w, n);
	cl_strv_free(w, n);
	CHECK_INT(cl_students_export(ctx, "ml", "nobody", exp, true, NULL, &w, &n), CL_ENOTFOUND);
	CHECK(w == NULL);

	/* X2Go: appended to home/.x2goclient/sessions once, refused the second time. */
	CHECK_INT(cl_access_x2go_write(ctx, &(cl_access){0}, NULL, &path), CL_EINVAL);
	CHECK(path == NULL);
	cl_access a = {0};
	CHECK_INT(cl_access_get(ctx, "ml", "bob", &a), 0);
	CHECK_INT(cl_access_x2go_write(ctx, &a, home, &path), 0);
	char *want = cl_aprintf("%s/.x2goclient/sessions", home);
	CHECK_STR(path, want);
	CHECK_INT(mode_of(path), 0600);
	cl_buf_reset(&b);
	CHECK_INT(cl_read_file(want, 65536, &b), 0);
	CHECK(strncmp(cl_buf_str(&b), "[ml-bob]\n", 9) == 0);
	free(path);
	path = NULL;
	CHECK_INT(cl_access_x2go_write(ctx, &a, home, &path), CL_EEXIST);
	CHECK(path == NULL);

	free(want);
	cl_access_clear(&a);
	cl_buf_free(&b);
	cl_buf_free(&pub);
	cl_ctx_free(ctx);
	char *rm = cl_aprintf("rm -rf '%s'", dir);
	if (system(rm) != 0)
		printf("# could not remove %s\n", dir);
	free(rm);
	free(db), free(data), free(exp), free(home);
	return tap_done();
}
