/* Base images in Glance: uploaded once, found again by the hash of what they were made from. */
#include "os_impl.h"
#include "classlab/cl_provision.h"
#include "classlab/banned.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_s(int s)
{
	struct timespec ts = {.tv_sec = s};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int osb_image_delete(cl_hv *c, const char *id)
{
	char *path = cl_aprintf("/v2/images/%s", id);
	int rc = osb_call(c, "image", "DELETE", path, NULL, NULL, NULL);
	if (rc == CL_ENOTFOUND) {
		cl_error_clear();
		rc = 0;
	}
	free(path);
	return rc;
}

int osb_image_wait(cl_hv *c, const char *id, int timeout_s)
{
	char *path = cl_aprintf("/v2/images/%s", id);
	int rc;

	for (int waited = 0;; waited += 2) {
		json_t *img = NULL;
		if ((rc = osb_call(c, "image", "GET", path, NULL, &img, NULL)))
			break;
		const char *st = osb_str(img, "status");
		if (strcmp(st, "active") == 0) {
			json_decref(img);
			break;
		}
		if (strcmp(st, "killed") == 0 || strcmp(st, "deleted") == 0 ||
		    strcmp(st, "deactivated") == 0 || waited >= timeout_s) {
			rc = cl_error_set(strcmp(st, "deleted") == 0 ? CL_ENOTFOUND : CL_EFAIL,
					  "image: '%s' is %s%s", osb_str(img, "name"), st,
					  waited >= timeout_s ? " after the time allowed" : "");
			json_decref(img);
			break;
		}
		json_decref(img);
		sleep_s(2);
	}
	free(path);
	return rc;
}

/*
 * The active image named name with property key=value, uploaded from file when
 * there is none (an unfinished one left by a killed run is deleted first). props:
 * more properties (may be NULL). *id is the caller's.
 */
static int image_ensure(cl_hv *c, const char *name, const char *key, const char *value,
			const char *file, const char *disk_format, const char *container_format,
			json_t *props, char **id)
{
	char *q = os_escape(value);
	char *path = cl_aprintf("/v2/images?%s=%s&owner=%s&limit=1000", key, q, osb_project(c));
	json_t *items = NULL, *img, *reply = NULL, *body = NULL;
	size_t i;
	int rc = osb_list(c, "image", path, "images", &items);

	*id = NULL;
	json_array_foreach(items, i, img) {
		if (rc || strcmp(osb_str(img, "name"), name) != 0 || strcmp(osb_str(img, key), value) ||
		    !osb_ours(c, img))
			continue;
		if (!*id && strcmp(osb_str(img, "status"), "active") == 0)
			*id = cl_strdup(osb_str(img, "id"));
		else
			rc = osb_image_delete(c, osb_str(img, "id"));
	}
	if (rc || *id)
		goto out;
	body = json_pack("{s:s,s:s,s:s,s:s,s:s}", "name", name, "disk_format", disk_format,
			 "container_format", container_format, "visibility", "private", key, value);
	if (props)
		json_object_update(body, props);
	if ((rc = osb_call(c, "image", "POST", "/v2/images", body, &reply, NULL)))
		goto out;
	*id = cl_strdup(osb_str(reply, "id"));
	free(path);
	path = cl_aprintf("/v2/images/%s/file", *id);
	pthread_mutex_lock(&c->mu);
	rc = os_upload(c->os, "image", "PUT", path, file);
	pthread_mutex_unlock(&c->mu);
	if (rc == 0)
		rc = osb_image_wait(c, *id, 600);
	if (rc && *id) { /* refused (quota, size): nothing half-made is left */
		char *msg = cl_strdup(cl_error_msg());
		int code = cl_error_code();
		osb_image_delete(c, *id);
		cl_error_set(code, "%s", msg);
		free(msg);
	}
out:
	if (rc) {
		cl_error_wrap("cannot upload image '%s'", name);
		free(*id);
		*id = NULL;
	}
	json_decref(body);
	json_decref(reply);
	json_decref(items);
	free(path);
	free(q);
	return rc;
}

/*
 * A built-in image: its disk (qcow2); one booted by its kernel (tiny) also its kernel
 * (aki) and initrd (ari), which the disk's image names for Nova's direct boot.
 */
static int builtin(cl_hv *c, const char *image, const char *cache_dir, const char *images_dir,
		   cl_image *img)
{
	cl_image_files f;
	char *path = NULL, *name = NULL, *kernel = NULL, *initrd = NULL, *root = NULL;
	json_t *props = NULL;
	int rc = cl_image_builtin_files(image, cache_dir, images_dir, &f);

	if (rc)
		return rc;
	if (f.cmdline) {
		path = cl_path_join(f.dir, "vmlinuz");
		name = cl_aprintf("classlab-%s-%.12s-kernel", image, f.hash);
		if ((rc = image_ensure(c, name, "classlab_recipe", f.hash, path, "aki", "aki", NULL,
				       &kernel)))
			goto out;
		free(path);
		free(name);
		path = cl_path_join(f.dir, "initrd.img");
		name = cl_aprintf("classlab-%s-%.12s-initrd", image, f.hash);
		if ((rc = image_ensure(c, name, "classlab_recipe", f.hash, path, "ari", "ari", NULL,
				       &initrd)))
			goto out;
		free(path);
		free(name);
		props = json_pack("{s:s,s:s,s:s}", "kernel_id", kernel, "ramdisk_id", initrd,
				  "os_command_line", f.cmdline);
	}
	path = cl_path_join(f.dir, f.disk);
	name = cl_aprintf("classlab-%s-%.12s", image, f.hash);
	if ((rc = image_ensure(c, name, "classlab_recipe", f.hash, path, "qcow2", "bare", props,
			       &root)))
		goto out;
	img->disk_vol = cl_strdup(name);
	img->disk_path = cl_aprintf("glance:%s", root);
	img->disk_format = cl_strdup("qcow2");
out:
	json_decref(props);
	free(kernel);
	free(initrd);
	free(root);
	free(path);
	free(name);
	free(f.dir);
	return rc;
}

/* A cloud image file: checked and known as the libvirt backend knows it (cl_image_file_id). */
static int file_image(cl_hv *c, const char *path, cl_image *img)
{
	cl_image_file_id_t fid;
	char *name = NULL, *id = NULL;
	int rc = cl_image_file_id(path, &fid);

	if (rc)
		return rc;
	name = cl_aprintf("classlab-%s-%.12s", fid.name, fid.hash);
	if ((rc = image_ensure(c, name, "classlab_source", fid.hash, fid.real, fid.format, "bare",
			       NULL, &id)) == 0) {
		img->disk_vol = name;
		name = NULL;
		img->disk_path = cl_aprintf("glance:%s", id);
		img->disk_format = cl_strdup(fid.format);
	}
	free(id);
	free(name);
	return rc;
}

int osb_image(cl_hv *c, const char *image, const char *cache_dir, const char *images_dir,
	      cl_image **out)
{
	cl_image *img = cl_calloc(1, sizeof(*img));
	int rc;

	*out = NULL;
	img->nocloud = true;
	if (!image || !*image)
		rc = cl_error_set(CL_EINVAL, "no base image given");
	else if (cl_image_is_builtin(image))
		rc = builtin(c, image, cache_dir, images_dir, img);
	else
		rc = file_image(c, image, img);
	if (rc)
		cl_image_free(img);
	else
		*out = img;
	return rc;
}
