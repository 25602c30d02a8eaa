/* classlab image list | image build: the built-in base images in the cache, as JSON rows. */
#include "classlab/cl_templates.h"
#include "classlab/cl_provision.h"
#include "classlab/banned.h"

#include <jansson.h>
#include <stdlib.h>

static json_t *info_json(const cl_image_info *i)
{
	json_t *o = json_object();
	const char *state = i->up_to_date ? "built" : i->built ? "stale" : "not built";

	json_object_set_new(o, "name", json_string(i->name));
	json_object_set_new(o, "state", json_string(state));
	json_object_set_new(o, "recipe_hash", i->recipe_hash ? json_string(i->recipe_hash) : json_null());
	json_object_set_new(o, "recipe", json_string(i->recipe_hash ? i->recipe_hash : "?"));
	json_object_set_new(o, "built_hash", i->built_hash ? json_string(i->built_hash) : json_null());
	if (i->built) {
		char *disk = cl_path_join(i->dir, i->disk);
		json_object_set_new(o, "disk", json_string(disk));
		free(disk);
	} else {
		json_object_set_new(o, "disk", json_null());
	}
	json_object_set_new(o, "disk_bytes", json_integer((json_int_t)i->disk_bytes));
	json_object_set_new(o, "bytes", json_integer((json_int_t)i->bytes));
	json_object_set_new(o, "size_mib", json_integer((json_int_t)((i->bytes + (1 << 20) - 1) >> 20)));
	if (i->error)
		json_object_set_new(o, "error", json_string(i->error));
	return o;
}

int cl_images_list(cl_ctx *ctx, json_t **out)
{
	cl_image_info *v = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	if ((rc = cl_image_list(cl_ctx_cache_dir(ctx), cl_ctx_images_dir(ctx), &v, &n)))
		return rc;
	*out = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(*out, info_json(&v[i]));
	cl_image_info_list_free(v, n);
	return 0;
}

int cl_images_build(cl_ctx *ctx, const char *name, bool force, json_t **out)
{
	cl_image_info info;
	int rc;

	*out = NULL;
	if ((rc = cl_image_build(name, cl_ctx_cache_dir(ctx), cl_ctx_images_dir(ctx), force, &info)) == 0)
		*out = info_json(&info);
	cl_image_info_clear(&info);
	return rc;
}
