/* cl_ctx: what the handle opens, copies and hands back; its clock and backend hooks. */
#include "classlab/cl_ctx.h"
#include "classlab/cl_util.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t fixed_clock(void *arg)
{
	return *(int64_t *)arg;
}

static int opened, closed;
static int fake_open(cl_ctx *ctx, struct cl_hv **hv)
{
	(void)ctx;
	opened++;
	*hv = (struct cl_hv *)&opened; /* any non-NULL pointer: the handle never looks inside */
	return 0;
}
static void fake_close(struct cl_hv *hv)
{
	(void)hv;
	closed++;
}

int main(void)
{
	char dir[] = "/tmp/cl-test-ctx.XXXXXX";
	cl_ctx *ctx = NULL;
	int64_t t = 1700000000;

	if (!mkdtemp(dir))
		return 1;
	char *db = cl_aprintf("%s/db", dir);
	char data[64];
	snprintf(data, sizeof(data), "%s", dir);

	cl_ctx_free(NULL); /* accepted, as every _free */

	/* No store, no backend: accessors work, connecting says why not. */
	cl_ctx_opts none = {.data_dir = data, .uri = "test:///default"};
	CHECK_INT(cl_ctx_new(&ctx, &none), 0);
	data[0] = 'X'; /* strings are copied */
	CHECK(ctx && cl_ctx_store(ctx) == NULL);
	CHECK_STR(cl_ctx_data_dir(ctx), dir);
	CHECK_STR(cl_ctx_uri(ctx), "test:///default");
	CHECK(cl_ctx_cache_dir(ctx) == NULL);
	int64_t now = cl_ctx_now(ctx), wall = (int64_t)time(NULL);
	CHECK(now <= wall && now > wall - 5);
	CHECK_INT(cl_ctx_connect(ctx), CL_EUNAVAIL);
	cl_ctx_free(ctx);

	/* A store, a clock and a backend: connect once, close on free. */
	static const cl_ctx_backend fake = {fake_open, fake_close};
	cl_ctx_opts all = {.db_path = db, .backend = &fake, .now = fixed_clock, .cb_arg = &t};
	CHECK_INT(cl_ctx_new(&ctx, &all), 0);
	CHECK(ctx && cl_ctx_store(ctx) != NULL);
	CHECK_INT(cl_ctx_now(ctx), 1700000000);
	t += 3600;
	CHECK_INT(cl_ctx_now(ctx), 1700003600);
	CHECK_INT(cl_ctx_connect(ctx), 0);
	CHECK_INT(cl_ctx_connect(ctx), 0);
	CHECK_INT(opened, 1);
	cl_ctx_disconnect(ctx);
	CHECK_INT(closed, 1);
	CHECK_INT(cl_ctx_connect(ctx), 0);
	cl_ctx_free(ctx);
	CHECK_INT(opened, 2);
	CHECK_INT(closed, 2);

	/* A setting that is not one: refused before anything is opened. */
	cl_ctx_opts badaccel = {.db_path = db, .accel = "xen"};
	CHECK_INT(cl_ctx_new(&ctx, &badaccel), CL_EINVAL);
	CHECK(ctx == NULL && strstr(cl_error_msg(), "'xen' is not kvm, tcg or auto"));
	cl_ctx_opts autoaccel = {.accel = "auto"};
	CHECK_INT(cl_ctx_new(&ctx, &autoaccel), 0);
	cl_ctx_free(ctx);

	/* A store that cannot open (not a database): the store's error, and no handle. */
	char *bad = cl_aprintf("%s/text", dir);
	FILE *f = fopen(bad, "w");
	if (f) {
		fputs("this is not a database, it is a sentence long enough to say so\n", f);
		fclose(f);
	}
	cl_ctx_opts badopts = {.db_path = bad};
	ctx = (cl_ctx *)&t;
	CHECK(cl_ctx_new(&ctx, &badopts) < 0);
	CHECK(ctx == NULL);

	char *cmd = cl_aprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	free(bad);
	free(db);
	return tap_done();
}
