/* The OpenStack VM backend's table: connection, disk records, seeds and servers. */
#include "os_impl.h"
#include "classlab/cl_provision.h"
#include "classlab/banned.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define URI_PREFIX "openstack://"
#define ACTIVE_TIMEOUT_S 600
#define DELETE_TIMEOUT_S 300
#define POLL_MS 2000

bool cl_openstack_uri(const char *uri)
{
	return uri && strncmp(uri, URI_PREFIX, strlen(URI_PREFIX)) == 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int64_t now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

int osb_call(cl_hv *c, const char *service, const char *method, const char *path, json_t *body,
	     json_t **reply, long *status)
{
	pthread_mutex_lock(&c->mu);
	int rc = os_call(c->os, service, method, path, body, reply, status);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int osb_list(cl_hv *c, const char *service, const char *path, const char *key, json_t **items)
{
	json_t *reply = NULL;
	int rc = osb_call(c, service, "GET", path, NULL, &reply, NULL);

	*items = NULL;
	if (rc == 0) {
		json_t *a = json_object_get(reply, key);
		if (json_is_array(a))
			*items = json_incref(a);
		else
			rc = cl_error_set(CL_EFAIL, "%s: GET %s: the answer has no \"%s\" list", service,
					  path, key);
	}
	json_decref(reply);
	return rc;
}

const char *osb_str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

const char *osb_project(cl_hv *c)
{
	return os_project_id(c->os);
}

bool osb_ours(cl_hv *c, json_t *item)
{
	const char *p = osb_project(c);
	for (const char *const *k = (const char *const[]){"project_id", "tenant_id", "owner", NULL};
	     *k; k++)
		if (json_object_get(item, *k) && *p && strcmp(osb_str(item, *k), p) != 0)
			return false;
	return true;
}

/* ------------------------------------------------------------------ connection */

/* "openstack://CLOUD?network=N&external-network=E&ssh-cidr=C": cloud and settings. */
static int parse_uri(cl_hv *c, const char *uri, char **cloud)
{
	const char *rest = uri + strlen(URI_PREFIX), *q = strchr(rest, '?');
	size_t n = q ? (size_t)(q - rest) : strlen(rest);
	int rc = 0;

	*cloud = cl_strndup(rest, n);
	while (n && (*cloud)[n - 1] == '/')
		(*cloud)[--n] = '\0';
	if (**cloud && cl_name_check("cloud name", *cloud) < 0) {
		/* clouds.yaml names are freer than classlab's: letters, digits, . _ - */
		cl_error_clear();
		for (const char *p = *cloud; *p; p++)
			if (!(p[0] >= 'a' && p[0] <= 'z') && !(p[0] >= 'A' && p[0] <= 'Z') &&
			    !(p[0] >= '0' && p[0] <= '9') && !strchr("._-", p[0]))
				return cl_error_set(CL_EINVAL, "'%s': the cloud name '%s' has a '%c'", uri,
						    *cloud, p[0]);
	}
	for (const char *p = q ? q + 1 : NULL; p && *p && rc == 0;) {
		const char *amp = strchr(p, '&'), *eq = strchr(p, '=');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		char **slot = NULL;
		if (!eq || eq > p + len)
			return cl_error_set(CL_EINVAL, "'%s': '%.*s' is not NAME=VALUE", uri, (int)len, p);
		if ((size_t)(eq - p) == 7 && strncmp(p, "network", 7) == 0)
			slot = &c->want_network;
		else if ((size_t)(eq - p) == 16 && strncmp(p, "external-network", 16) == 0)
			slot = &c->want_external;
		else if ((size_t)(eq - p) == 8 && strncmp(p, "ssh-cidr", 8) == 0)
			slot = &c->ssh_cidr;
		else
			return cl_error_set(CL_EINVAL,
					    "'%s': unknown setting '%.*s' (network, external-network, "
					    "ssh-cidr)",
					    uri, (int)(eq - p), p);
		free(*slot);
		*slot = cl_strndup(eq + 1, len - (size_t)(eq + 1 - p));
		if (!**slot)
			rc = cl_error_set(CL_EINVAL, "'%s': '%.*s' is empty", uri, (int)(eq - p), p);
		p = amp ? amp + 1 : NULL;
	}
	return rc;
}

static void os_close_hv(cl_hv *c)
{
	if (!c)
		return;
	os_cloud_close(c->os);
	os_cloud_config_clear(&c->cfg);
	pthread_mutex_destroy(&c->mu);
	free(c->uri);
	free(c->dir);
	free(c->want_network);
	free(c->want_external);
	free(c->ssh_cidr);
	free(c->network_id);
	free(c->external_id);
	free(c);
}

static int os_open_hv(cl_hv **out, const cl_vm_open_opts *o)
{
	cl_hv *c = cl_calloc(1, sizeof(*c));
	char *cloud = NULL, *base = NULL;
	int rc;

	*out = NULL;
	c->head.ops = &cl_vm_openstack;
	pthread_mutex_init(&c->mu, NULL);
	c->uri = cl_strdup(o->uri);
	c->oo.log = o->log;
	c->oo.log_arg = o->log_arg;
	if ((rc = parse_uri(c, o->uri, &cloud)) || (rc = os_cloud_config_load(cloud, o->env, &c->cfg)))
		goto out;
	if (!o->data_dir) {
		rc = cl_error_set(CL_EINVAL, "the OpenStack backend needs a data directory");
		goto out;
	}
	/* $OS_CLOUD's cloud is named like a URI's: its records and claim are that cloud's. */
	if (!*cloud && c->cfg.name && *c->cfg.name) {
		const char *query = strchr(o->uri, '?');
		free(c->uri);
		c->uri = cl_aprintf(URI_PREFIX "%s%s", c->cfg.name, query ? query : "");
		free(cloud);
		cloud = cl_strdup(c->cfg.name);
	}
	base = cl_path_join(o->data_dir, "openstack");
	c->dir = cl_path_join(base, *cloud ? cloud : "env");
	if ((rc = os_cloud_open(&c->os, &c->cfg, &c->oo)))
		goto out;
	if (o->disks) {
		char *d = cl_path_join(c->dir, "disks"), *s = cl_path_join(c->dir, "seeds");
		if (cl_mkdir_p(d, 0700) < 0 || cl_mkdir_p(s, 0700) < 0)
			rc = cl_error_wrap("cannot make the OpenStack records' directory");
		free(d);
		free(s);
	}
out:
	if (rc) {
		cl_error_wrap("cannot connect to '%s'", o->uri);
		os_close_hv(c);
	} else {
		*out = c;
	}
	free(cloud);
	free(base);
	return rc;
}

static const char *os_uri(cl_hv *c)
{
	return c->uri;
}

/* ------------------------------------------------------------------ disk records */

static int disk_name_check(const char *disk)
{
	if (!*disk || strchr(disk, '/') || disk[0] == '.')
		return cl_error_set(CL_EINVAL, "'%s' is not a disk name", disk);
	return 0;
}

static char *rec_path(cl_hv *c, const char *disk)
{
	char *name = cl_aprintf("disks/%s.json", disk), *p = cl_path_join(c->dir, name);
	free(name);
	return p;
}

static char *seed_path(cl_hv *c, const char *disk)
{
	char *name = cl_aprintf("seeds/%s", disk), *p = cl_path_join(c->dir, name);
	free(name);
	return p;
}

/* The disk's record (a new reference); CL_ENOTFOUND when there is none. */
static int rec_read(cl_hv *c, const char *disk, json_t **rec)
{
	char *p;
	cl_buf b = CL_BUF_INIT;
	json_error_t err;
	int rc;

	*rec = NULL;
	if ((rc = disk_name_check(disk)))
		return rc;
	p = rec_path(c, disk);
	if ((rc = cl_read_file(p, 1 << 16, &b)) == 0) {
		*rec = json_loadb(b.data ? b.data : "", b.len, 0, &err);
		if (!json_is_object(*rec)) {
			json_decref(*rec);
			*rec = NULL;
			rc = cl_error_set(CL_EFAIL, "disk record '%s' is damaged: %s", p, err.text);
		}
	}
	cl_buf_free(&b);
	free(p);
	return rc;
}

static int rec_write(cl_hv *c, const char *disk, json_t *rec)
{
	char *p = rec_path(c, disk), *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	int rc = cl_write_file(p, text, strlen(text), 0600);
	free(text);
	free(p);
	return rc;
}

static int os_disk_path(cl_hv *c, const char *disk, char **path)
{
	json_t *rec = NULL;
	int rc = rec_read(c, disk, &rec);
	struct stat st;

	*path = NULL;
	if (rc == 0) {
		*path = cl_aprintf("os-disk:%s", disk);
	} else if (rc == CL_ENOTFOUND) {
		char *s = seed_path(c, disk);
		if (stat(s, &st) == 0) {
			cl_error_clear();
			*path = s;
			return 0;
		}
		free(s);
		rc = cl_error_set(CL_ENOTFOUND, "disk '%s' not found", disk);
	}
	json_decref(rec);
	return rc;
}

static int os_disk_overlay(cl_hv *c, const char *disk, const char *backing, const char *fmt)
{
	json_t *rec = NULL;
	int rc = rec_read(c, disk, &rec);

	(void)fmt;
	if (rc == 0 && strcmp(osb_str(rec, "backing"), backing) == 0) {
		json_decref(rec);
		return 0;
	}
	if (rc && rc != CL_ENOTFOUND)
		return rc;
	cl_error_clear();
	json_decref(rec);
	char id[37];
	cl_uuid_new(id);
	rec = json_pack("{s:s,s:s}", "backing", backing, "id", id);
	rc = rec_write(c, disk, rec);
	json_decref(rec);
	return rc;
}

static int os_disk_delete(cl_hv *c, const char *disk)
{
	char *p, *s;
	int rc = disk_name_check(disk);

	if (rc)
		return rc;
	p = rec_path(c, disk);
	s = seed_path(c, disk);
	if ((unlink(p) < 0 && errno != ENOENT) || (unlink(s) < 0 && errno != ENOENT))
		rc = cl_error_set(CL_EFAIL, "cannot delete disk record '%s': %s", disk,
				  strerror(errno));
	free(p);
	free(s);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int os_disk_list(cl_hv *c, const char *prefix, char ***names, size_t *n)
{
	char *d = cl_path_join(c->dir, "disks");
	DIR *dir = opendir(d);
	struct dirent *e;
	size_t cap = 8;

	*names = cl_calloc(cap, sizeof(char *));
	*n = 0;
	free(d);
	if (!dir)
		return 0;
	while ((e = readdir(dir))) {
		size_t len = strlen(e->d_name);
		if (len <= 5 || strcmp(e->d_name + len - 5, ".json") != 0 ||
		    strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (*n + 1 >= cap)
			*names = cl_realloc(*names, (cap *= 2) * sizeof(char *));
		(*names)[(*n)++] = cl_strndup(e->d_name, len - 5);
	}
	closedir(dir);
	qsort(*names, *n, sizeof(char *), cmp_str);
	return 0;
}

static int os_seed_upload(cl_hv *c, const char *disk, const cl_cloudconfig *cc, char **path)
{
	cl_buf ud = CL_BUF_INIT;
	int rc = disk_name_check(disk);

	*path = NULL;
	if (rc == 0 && (rc = cl_cloudconfig_user_data(cc, &ud)) == 0) {
		*path = seed_path(c, disk);
		if ((rc = cl_write_file(*path, ud.data, ud.len, 0600))) {
			free(*path);
			*path = NULL;
		}
	}
	cl_buf_free(&ud);
	return rc;
}

/* ------------------------------------------------------------------ servers */

/* The server named name (a new reference), NULL when there is none. */
static int server_find(cl_hv *c, const char *name, json_t **server)
{
	char *re = cl_aprintf("^%s$", name), *q = os_escape(re);
	char *path = cl_aprintf("/servers/detail?tags=classlab&name=%s", q);
	json_t *items = NULL, *s;
	size_t i;
	int rc = osb_list(c, "compute", path, "servers", &items);

	*server = NULL;
	/* A server soft-deleted (a cloud with reclaim_instance_interval) is gone for us. */
	json_array_foreach(items, i, s)
		if (strcmp(osb_str(s, "name"), name) == 0 && !*server &&
		    strcmp(osb_str(s, "status"), "SOFT_DELETED") != 0)
			*server = json_incref(s);
	json_decref(items);
	free(path);
	free(q);
	free(re);
	return rc;
}

static int server_get(cl_hv *c, const char *id, json_t **server)
{
	char *path = cl_aprintf("/servers/%s", id);
	json_t *reply = NULL;
	int rc = osb_call(c, "compute", "GET", path, NULL, &reply, NULL);

	*server = NULL;
	if (rc == 0)
		*server = json_incref(json_object_get(reply, "server"));
	json_decref(reply);
	free(path);
	return rc;
}

/* A server in ERROR as an error: Nova's own fault message; no host to run it: unavailable. */
static int server_fault(const char *name, json_t *s)
{
	const char *why = osb_str(json_object_get(s, "fault"), "message");
	bool nohost = strstr(why, "No valid host") != NULL;
	return cl_error_set(nohost ? CL_EUNAVAIL : CL_EFAIL, "compute: server '%s' is in ERROR: %s",
			    name, *why ? why : "(Nova gave no fault message)");
}

static cl_dom_state map_status(const char *st)
{
	if (strcmp(st, "ACTIVE") == 0)
		return CL_DOM_RUNNING;
	if (strcmp(st, "SHUTOFF") == 0 || strcmp(st, "SUSPENDED") == 0 ||
	    strncmp(st, "SHELVED", 7) == 0)
		return CL_DOM_SHUTOFF;
	if (strcmp(st, "PAUSED") == 0)
		return CL_DOM_PAUSED;
	return CL_DOM_OTHER;
}

/*
 * Polls the server until its status is want with no task under way. want
 * "DELETED": until it is gone. *last (optional): the last answer.
 */
static int server_wait(cl_hv *c, const char *id, const char *name, const char *want,
		       int timeout_s, json_t **last)
{
	int64_t deadline = now_s() + timeout_s;
	json_t *s = NULL;
	int rc, fault_waits = 0;

	for (;;) {
		json_decref(s);
		s = NULL;
		rc = server_get(c, id, &s);
		if (rc == CL_ENOTFOUND) {
			if (strcmp(want, "DELETED") == 0) {
				cl_error_clear();
				rc = 0;
			} else {
				rc = cl_error_set(CL_EFAIL, "compute: server '%s' vanished", name);
			}
			break;
		}
		if (rc)
			break;
		const char *st = osb_str(s, "status");
		bool idle = json_is_null(json_object_get(s, "OS-EXT-STS:task_state")) ||
			    !json_object_get(s, "OS-EXT-STS:task_state");
		if ((strcmp(st, want) == 0 && idle) ||
		    (strcmp(want, "DELETED") == 0 && strcmp(st, "SOFT_DELETED") == 0))
			break;
		/* Nova marks the server ERROR a moment before it records the fault: wait for it. */
		if (strcmp(st, "ERROR") == 0 && strcmp(want, "DELETED") != 0) {
			if (!*osb_str(json_object_get(s, "fault"), "message") && fault_waits++ < 5) {
				sleep_ms(1000);
				continue;
			}
			rc = server_fault(name, s);
			break;
		}
		if (now_s() >= deadline) {
			rc = cl_error_set(CL_EFAIL, "compute: server '%s' is %s (task %s) after %d s, not %s",
					  name, st,
					  json_string_value(json_object_get(s, "OS-EXT-STS:task_state"))
						  ?: "none",
					  timeout_s, want);
			break;
		}
		sleep_ms(POLL_MS);
	}
	if (last && rc == 0)
		*last = s;
	else
		json_decref(s);
	return rc;
}

static int server_action(cl_hv *c, json_t *s, const char *action)
{
	char *path = cl_aprintf("/servers/%s/action", osb_str(s, "id"));
	json_t *body = json_pack("{s:n}", action);
	int rc = osb_call(c, "compute", "POST", path, body, NULL, NULL);
	json_decref(body);
	free(path);
	return rc;
}

static char *port_name(const char *vm)
{
	return cl_aprintf("classlab-%s", vm);
}

/* The VM's own port (found by name, else made) and its fixed address. */
static int port_ensure(cl_hv *c, const char *vm, const char *secgroup, char **id, char **ip)
{
	char *name = port_name(vm), *q = os_escape(name);
	char *path = cl_aprintf("/v2.0/ports?name=%s&project_id=%s", q, osb_project(c));
	json_t *items = NULL, *port = NULL, *reply = NULL;
	int rc = osb_list(c, "network", path, "ports", &items);

	if (rc == 0 && json_array_size(items) > 0 && osb_ours(c, json_array_get(items, 0))) {
		port = json_incref(json_array_get(items, 0));
	} else if (rc == 0) {
		json_t *body = json_pack("{s:{s:s,s:s,s:[s],s:s}}", "port", "name", name, "network_id",
					 c->network_id, "security_groups", secgroup, "description",
					 "classlab VM port");
		rc = osb_call(c, "network", "POST", "/v2.0/ports", body, &reply, NULL);
		json_decref(body);
		if (rc == 0)
			port = json_incref(json_object_get(reply, "port"));
	}
	if (rc == 0) {
		json_t *ips = json_object_get(port, "fixed_ips");
		const char *addr = osb_str(json_array_get(ips, 0), "ip_address");
		if (!*addr)
			rc = cl_error_set(CL_EFAIL, "network: port '%s' has no fixed address", name);
		*id = cl_strdup(osb_str(port, "id"));
		*ip = cl_strdup(addr);
	}
	json_decref(reply);
	json_decref(port);
	json_decref(items);
	free(path);
	free(q);
	free(name);
	return rc;
}

static int port_delete(cl_hv *c, const char *vm, const char *lab)
{
	char *name = port_name(vm), *q = os_escape(name);
	char *path = cl_aprintf("/v2.0/ports?name=%s&project_id=%s", q, osb_project(c));
	json_t *items = NULL, *p;
	size_t i;
	int rc = osb_list(c, "network", path, "ports", &items);

	json_array_foreach(items, i, p) {
		if (!osb_ours(c, p))
			continue;
		char *del = cl_aprintf("/v2.0/ports/%s", osb_str(p, "id"));
		if (rc == 0 && lab)
			rc = osb_unforward(c, lab, osb_str(p, "id"));
		if (rc == 0 && (rc = osb_call(c, "network", "DELETE", del, NULL, NULL, NULL)) ==
				       CL_ENOTFOUND) {
			cl_error_clear();
			rc = 0;
		}
		free(del);
	}
	json_decref(items);
	free(path);
	free(q);
	free(name);
	return rc;
}

/* user_data: the seed file's text, base64 (libcrypto's encoder). */
static int user_data(const char *seed, char **b64)
{
	cl_buf b = CL_BUF_INIT;
	int rc;

	*b64 = NULL;
	if (!seed)
		return 0;
	/* Nova takes at most 65535 bytes of base64: 49149 bytes of text. */
	if ((rc = cl_read_file(seed, 49149, &b)) == 0) {
		*b64 = cl_calloc(4 * ((b.len + 2) / 3) + 1, 1);
		EVP_EncodeBlock((unsigned char *)*b64, (const unsigned char *)(b.data ? b.data : ""),
				(int)b.len);
	} else {
		cl_error_wrap("user-data for the server");
	}
	cl_buf_free(&b);
	return rc;
}

static int snapshot_image(cl_hv *c, const char *tdisk, const cl_domain_spec *spec, char **id);

/* The Glance image a disk boots from: the base, or a template version's snapshot. */
static int boot_image(cl_hv *c, const cl_domain_spec *spec, char **id)
{
	const char *p = spec->disk_path ? spec->disk_path : "";
	json_t *rec = NULL;
	int rc;

	*id = NULL;
	if (strncmp(p, "glance:", 7) == 0) {
		*id = cl_strdup(p + 7);
		return 0;
	}
	if (strncmp(p, "os-disk:", 8) != 0)
		return cl_error_set(CL_EINVAL, "'%s' is not a disk of the OpenStack backend", p);
	if ((rc = rec_read(c, p + 8, &rec)))
		return rc;
	const char *backing = osb_str(rec, "backing");
	if (strncmp(backing, "glance:", 7) == 0)
		*id = cl_strdup(backing + 7);
	else if (strncmp(backing, "os-disk:", 8) == 0)
		rc = snapshot_image(c, backing + 8, spec, id);
	else
		rc = cl_error_set(CL_EFAIL, "disk record '%s' has no backing", p + 8);
	json_decref(rec);
	return rc;
}

/*
 * The image of template disk tdisk: made once from the (shut off) template server
 * that booted it, as classlab-<lab>-v<its version> with the disk record's id as the
 * property classlab_disk. The id is in the record before the call, so a rerun finds
 * the image a killed run asked for, finished or still being made, and makes no second.
 */
static int snapshot_image(cl_hv *c, const char *tdisk, const cl_domain_spec *spec, char **id)
{
	json_t *rec = NULL, *srv = NULL, *reply = NULL, *items = NULL, *img;
	char *name = NULL, *q = NULL, *path = NULL;
	size_t i;
	int rc = rec_read(c, tdisk, &rec);

	*id = NULL;
	if (rc)
		goto out;
	const char *disk_id = osb_str(rec, "id");
	name = cl_aprintf("classlab-%s-v%lld", spec->lab,
			  (long long)json_integer_value(json_object_get(rec, "version")));
	if (!*disk_id || !json_integer_value(json_object_get(rec, "version"))) {
		rc = cl_error_set(CL_EFAIL, "disk record '%s' names no template server: rebuild the "
					    "template",
				  tdisk);
		goto out;
	}
	q = os_escape(disk_id);
	path = cl_aprintf("/v2/images?classlab_disk=%s&owner=%s&limit=1000", q, osb_project(c));
	if ((rc = osb_list(c, "image", path, "images", &items)))
		goto out;
	json_array_foreach(items, i, img) {
		const char *st = osb_str(img, "status");
		if (!osb_ours(c, img) || strcmp(osb_str(img, "classlab_disk"), disk_id) != 0)
			continue;
		if (!*id && (strcmp(st, "active") == 0 || strcmp(st, "queued") == 0 ||
			     strcmp(st, "saving") == 0 || strcmp(st, "importing") == 0))
			*id = cl_strdup(osb_str(img, "id"));
		else if ((rc = osb_image_delete(c, osb_str(img, "id"))))
			goto out;
	}
	if (!*id) {
		const char *server = osb_str(rec, "server");
		char *act, *ver;
		if (!*server || (rc = server_find(c, server, &srv)) || !srv) {
			rc = rc ? rc
				: cl_error_set(CL_ENOTFOUND,
					       "the template server of '%s' is gone: rebuild the template",
					       tdisk);
			goto out;
		}
		if (strcmp(osb_str(srv, "status"), "SHUTOFF") != 0) {
			rc = cl_error_set(CL_EFAIL, "compute: template server '%s' is %s, not SHUTOFF",
					  server, osb_str(srv, "status"));
			goto out;
		}
		ver = cl_aprintf("%lld", (long long)json_integer_value(json_object_get(rec, "version")));
		json_t *body = json_pack("{s:{s:s,s:{s:s,s:s,s:s}}}", "createImage", "name", name,
					 "metadata", "classlab_lab", spec->lab, "classlab_version", ver,
					 "classlab_disk", disk_id);
		act = cl_aprintf("/servers/%s/action", osb_str(srv, "id"));
		rc = osb_call(c, "compute", "POST", act, body, &reply, NULL);
		json_decref(body);
		free(act);
		free(ver);
		if (rc)
			goto out;
		cl_killpoint("openstack:snapshot");
		*id = cl_strdup(osb_str(reply, "image_id"));
		if (!**id) {
			rc = cl_error_set(CL_EFAIL, "compute: createImage gave no image id");
			goto out;
		}
	}
	rc = osb_image_wait(c, *id, 1800);
out:
	if (rc) {
		cl_error_wrap("cannot make image '%s'", name ? name : tdisk);
		free(*id);
		*id = NULL;
	}
	json_decref(items);
	json_decref(reply);
	json_decref(srv);
	json_decref(rec);
	free(path);
	free(q);
	free(name);
	return rc;
}

static int server_delete(cl_hv *c, json_t *s)
{
	char *path = cl_aprintf("/servers/%s", osb_str(s, "id"));
	int rc = osb_call(c, "compute", "DELETE", path, NULL, NULL, NULL);

	if (rc == CL_ENOTFOUND) {
		cl_error_clear();
		rc = 0;
	}
	if (rc == 0)
		rc = server_wait(c, osb_str(s, "id"), osb_str(s, "name"), "DELETED", DELETE_TIMEOUT_S,
				 NULL);
	free(path);
	return rc;
}

/*
 * The disk's record names the server booted from it and that server's template
 * version (the disk's own), before the server exists; a record without an id (made
 * before records had one) gets one.
 */
static int rec_set_server(cl_hv *c, const char *disk_path, const char *server, int64_t version)
{
	json_t *rec = NULL;
	int rc;

	if (strncmp(disk_path, "os-disk:", 8) != 0)
		return 0;
	if ((rc = rec_read(c, disk_path + 8, &rec)))
		return rc;
	if (strcmp(osb_str(rec, "server"), server) != 0 ||
	    json_integer_value(json_object_get(rec, "version")) != version ||
	    !*osb_str(rec, "id")) {
		char id[37];
		json_object_set_new(rec, "server", json_string(server));
		json_object_set_new(rec, "version", json_integer(version));
		if (!*osb_str(rec, "id")) {
			cl_uuid_new(id);
			json_object_set_new(rec, "id", json_string(id));
		}
		rc = rec_write(c, disk_path + 8, rec);
	}
	json_decref(rec);
	return rc;
}

static int os_create(cl_hv *c, const cl_domain_spec *spec)
{
	char *image = NULL, *flavor = NULL, *sg = NULL, *group = NULL, *port = NULL, *ip = NULL;
	char *ud = NULL, *ver = NULL;
	json_t *srv = NULL, *body = NULL, *meta = NULL;
	int rc;

	if (!spec->lab)
		return cl_error_set(CL_EINVAL, "a server needs its lab");
	if (spec->n_hostdevs)
		return cl_error_set(CL_EINVAL, "OpenStack servers get GPUs from their flavor, not by "
					       "host PCI address");
	if ((rc = osb_networks(c)) || (rc = boot_image(c, spec, &image)) ||
	    (rc = osb_flavor(c, spec, &flavor)) || (rc = osb_secgroup(c, spec->lab, true, &sg)) ||
	    (rc = osb_server_group(c, spec->lab, true, &group)) ||
	    (rc = server_find(c, spec->name, &srv)))
		goto out;
	if (srv) {
		json_t *m = json_object_get(srv, "metadata");
		if (spec->uuid && *spec->uuid && strcmp(osb_str(m, "classlab_uuid"), spec->uuid) != 0) {
			rc = cl_error_set(CL_EEXIST, "compute: a server named '%s' exists and is not this "
						     "VM (its classlab_uuid is '%s')",
					  spec->name, osb_str(m, "classlab_uuid"));
			goto out;
		}
		/* Another disk or machine type: the server is made again (its port stays). */
		if (strcmp(osb_str(m, "classlab_image"), image) != 0 ||
		    strcmp(osb_str(m, "classlab_flavor"), flavor) != 0 ||
		    strcmp(osb_str(srv, "status"), "ERROR") == 0) {
			if ((rc = server_delete(c, srv)))
				goto out;
			json_decref(srv);
			srv = NULL;
		}
	}
	if ((rc = port_ensure(c, spec->name, sg, &port, &ip)) ||
	    (rc = rec_set_server(c, spec->disk_path ? spec->disk_path : "", spec->name,
				 spec->version)))
		goto out;
	if (!srv) {
		ver = cl_aprintf("%lld", (long long)spec->version);
		meta = json_pack("{s:s,s:s,s:s,s:s,s:s}", "classlab_lab", spec->lab, "classlab_version",
				 ver, "classlab_uuid", spec->uuid ? spec->uuid : "", "classlab_image",
				 image, "classlab_flavor", flavor);
		if (spec->student)
			json_object_set_new(meta, "classlab_student", json_string(spec->student));
		if ((rc = user_data(spec->seed_path, &ud)))
			goto out;
		body = json_pack("{s:{s:s,s:s,s:s,s:[{s:s}],s:b,s:O,s:[s]},s:{s:s}}", "server", "name",
				 spec->name, "imageRef", image, "flavorRef", flavor, "networks", "port",
				 port, "config_drive", 1, "metadata", meta, "tags", "classlab",
				 "os:scheduler_hints", "group", group);
		if (ud)
			json_object_set_new(json_object_get(body, "server"), "user_data", json_string(ud));
		if ((rc = osb_call(c, "compute", "POST", "/servers", body, NULL, NULL)))
			goto out;
		cl_killpoint("openstack:server-create");
	}
	rc = spec->ssh_port > 0 ? osb_forward(c, spec->lab, port, ip, spec->ssh_port) : 0;
out:
	if (rc)
		cl_error_wrap("cannot create server '%s'", spec->name);
	/* Refused outright (quota, no such flavor): the port made for it goes too. */
	if (rc && !srv && port && cl_error_code() != CL_EUNAVAIL) {
		char *msg = cl_strdup(cl_error_msg());
		int code = cl_error_code();
		json_t *made = NULL;
		if (server_find(c, spec->name, &made) == 0 && !made)
			port_delete(c, spec->name, spec->lab);
		json_decref(made);
		cl_error_set(code, "%s", msg);
		free(msg);
	}
	json_decref(body);
	json_decref(meta);
	json_decref(srv);
	free(ud);
	free(ver);
	free(image);
	free(flavor);
	free(sg);
	free(group);
	free(port);
	free(ip);
	return rc;
}

static int must_find(cl_hv *c, const char *name, json_t **srv)
{
	int rc = server_find(c, name, srv);
	if (rc == 0 && !*srv)
		rc = cl_error_set(CL_ENOTFOUND, "compute: no server '%s'", name);
	return rc;
}

static int os_start(cl_hv *c, const char *name)
{
	json_t *s = NULL;
	int rc = must_find(c, name, &s);
	const char *st, *action = NULL;

	if (rc)
		return rc;
	st = osb_str(s, "status");
	if (strcmp(st, "SHUTOFF") == 0)
		action = "os-start";
	else if (strcmp(st, "SUSPENDED") == 0)
		action = "resume";
	else if (strcmp(st, "PAUSED") == 0)
		action = "unpause";
	else if (strncmp(st, "SHELVED", 7) == 0)
		action = "unshelve";
	/* ERROR: the wait below reads the server itself, with its fault (lists leave it out). */
	if (rc == 0 && action)
		rc = server_action(c, s, action);
	if (rc == 0)
		rc = server_wait(c, osb_str(s, "id"), name, "ACTIVE", ACTIVE_TIMEOUT_S, NULL);
	if (rc)
		cl_error_wrap("cannot start '%s'", name);
	json_decref(s);
	return rc;
}

/* Nova's os-stop is its own graceful shutdown (then power off): waited for here. */
static int os_stop(cl_hv *c, const char *name, int timeout_s)
{
	json_t *s = NULL;
	int rc = server_find(c, name, &s);
	const char *st;

	if (rc || !s)
		return rc;
	st = osb_str(s, "status");
	if (strcmp(st, "ACTIVE") == 0 || strcmp(st, "PAUSED") == 0 || strcmp(st, "BUILD") == 0) {
		if (strcmp(st, "BUILD") == 0)
			rc = server_wait(c, osb_str(s, "id"), name, "ACTIVE", ACTIVE_TIMEOUT_S, NULL);
		if (rc == 0)
			rc = server_action(c, s, "os-stop");
		if (rc == CL_EEXIST) { /* already stopping */
			cl_error_clear();
			rc = 0;
		}
		if (rc == 0)
			rc = server_wait(c, osb_str(s, "id"), name, "SHUTOFF",
					 (timeout_s > 0 ? timeout_s : 0) + 120, NULL);
	}
	if (rc)
		cl_error_wrap("cannot stop '%s'", name);
	json_decref(s);
	return rc;
}

static int os_destroy(cl_hv *c, const char *name)
{
	return os_stop(c, name, 0);
}

static int os_remove(cl_hv *c, const char *name, const char *const *disks, size_t n)
{
	json_t *s = NULL;
	char *lab = NULL;
	int rc = server_find(c, name, &s);

	if (rc == 0 && s) {
		lab = cl_strdup(osb_str(json_object_get(s, "metadata"), "classlab_lab"));
		rc = server_delete(c, s);
	}
	cl_killpoint("openstack:server-delete");
	if (rc == 0)
		rc = port_delete(c, name, lab && *lab ? lab : NULL);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = os_disk_delete(c, disks[i]);
	if (rc)
		cl_error_wrap("cannot remove '%s'", name);
	free(lab);
	json_decref(s);
	return rc;
}

static int os_state(cl_hv *c, const char *name, cl_dom_state *state)
{
	json_t *s = NULL;
	int rc = server_find(c, name, &s);

	*state = CL_DOM_ABSENT;
	if (rc == 0 && s)
		*state = map_status(osb_str(s, "status"));
	json_decref(s);
	return rc;
}

static int os_running(cl_hv *c, char ***names, size_t *n)
{
	json_t *items = NULL, *s;
	size_t i;
	int rc = osb_list(c, "compute", "/servers/detail?tags=classlab", "servers", &items);

	*names = cl_calloc(json_array_size(items) + 1, sizeof(char *));
	*n = 0;
	json_array_foreach(items, i, s) {
		cl_dom_state st = map_status(osb_str(s, "status"));
		if (st == CL_DOM_RUNNING || st == CL_DOM_PAUSED)
			(*names)[(*n)++] = cl_strdup(osb_str(s, "name"));
	}
	qsort(*names, *n, sizeof(char *), cmp_str);
	json_decref(items);
	if (rc) {
		cl_strv_free(*names, *n);
		*names = NULL;
		*n = 0;
	}
	return rc;
}

/* ------------------------------------------------------------------ suspend = managed save */

static int os_save(cl_hv *c, const char *name)
{
	json_t *s = NULL;
	int rc = must_find(c, name, &s);

	if (rc == 0 && strcmp(osb_str(s, "status"), "ACTIVE") != 0)
		rc = cl_error_set(CL_EFAIL, "'%s' is %s, not running", name, osb_str(s, "status"));
	if (rc == 0)
		rc = server_action(c, s, "suspend");
	if (rc == 0)
		rc = server_wait(c, osb_str(s, "id"), name, "SUSPENDED", ACTIVE_TIMEOUT_S, NULL);
	if (rc)
		cl_error_wrap("cannot save '%s'", name);
	json_decref(s);
	return rc;
}

static int os_has_saved(cl_hv *c, const char *name, bool *saved)
{
	json_t *s = NULL;
	int rc = server_find(c, name, &s);

	*saved = rc == 0 && s && strcmp(osb_str(s, "status"), "SUSPENDED") == 0;
	json_decref(s);
	return rc;
}

/* Nova cannot drop a suspended state: resume it, then shut it down. */
static int os_discard_saved(cl_hv *c, const char *name)
{
	bool saved = false;
	int rc = os_has_saved(c, name, &saved);

	if (rc == 0 && saved && (rc = os_start(c, name)) == 0)
		rc = os_stop(c, name, 60);
	return rc;
}

/* ------------------------------------------------------------------ events (polled) */

struct cl_vm_watch {
	cl_hv *own; /* the watcher's own connection */
	cl_vm_event_cb cb;
	void *arg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	json_t *seen; /* name -> status */
};

static bool status_event(const char *before, const char *after, cl_vm_event *e)
{
	if (strcmp(before, after) == 0)
		return false;
	if (strcmp(after, "ACTIVE") == 0)
		*e = strcmp(before, "PAUSED") == 0 ? CL_VM_EVENT_RESUMED : CL_VM_EVENT_STARTED;
	else if (strcmp(after, "SHUTOFF") == 0)
		*e = CL_VM_EVENT_STOPPED;
	else if (strcmp(after, "SUSPENDED") == 0)
		*e = CL_VM_EVENT_SAVED;
	else if (strcmp(after, "PAUSED") == 0)
		*e = CL_VM_EVENT_PAUSED;
	else if (strcmp(after, "ERROR") == 0)
		*e = CL_VM_EVENT_CRASHED;
	else
		return false;
	return true;
}

/* One poll; false when the cloud did not answer (the next poll tries again). */
static bool poll_once(cl_vm_watch *w, bool first)
{
	json_t *items = NULL, *s, *now = json_object();
	const char *name;
	size_t i;
	void *tmp;

	if (osb_list(w->own, "compute", "/servers/detail?tags=classlab", "servers", &items)) {
		cl_error_clear();
		json_decref(now);
		return false;
	}
	int64_t when = (int64_t)time(NULL);
	json_array_foreach(items, i, s) {
		const char *st = osb_str(s, "status");
		json_t *was = json_object_get(w->seen, osb_str(s, "name"));
		cl_vm_event e;
		json_object_set_new(now, osb_str(s, "name"), json_string(st));
		if (first)
			continue;
		if (!was)
			w->cb(w->arg, osb_str(s, "name"), CL_VM_EVENT_DEFINED, when);
		if (status_event(was ? json_string_value(was) : "BUILD", st, &e))
			w->cb(w->arg, osb_str(s, "name"), e, when);
	}
	json_object_foreach_safe(w->seen, tmp, name, s)
		if (!first && !json_object_get(now, name))
			w->cb(w->arg, name, CL_VM_EVENT_UNDEFINED, when);
	json_decref(w->seen);
	w->seen = now;
	json_decref(items);
	return true;
}

static void *watcher(void *p)
{
	cl_vm_watch *w = p;
	bool first = true;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		pthread_mutex_unlock(&w->mu);
		if (poll_once(w, first))
			first = false;
		pthread_mutex_lock(&w->mu);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 5;
		while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int os_watch(cl_hv *c, cl_vm_event_cb cb, void *arg, cl_vm_watch **out)
{
	cl_vm_watch *w = cl_calloc(1, sizeof(*w));
	int rc;

	*out = NULL;
	w->own = cl_calloc(1, sizeof(*w->own));
	w->own->head.ops = &cl_vm_openstack;
	pthread_mutex_init(&w->own->mu, NULL);
	w->cb = cb;
	w->arg = arg;
	w->seen = json_object();
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	/* Its own connection, silent: -v lines belong to the caller's commands. */
	os_open_opts quiet = c->oo;
	quiet.log = NULL;
	if ((rc = os_cloud_open(&w->own->os, &c->cfg, &quiet)) == 0 &&
	    pthread_create(&w->thread, NULL, watcher, w) != 0)
		rc = cl_error_set(CL_EFAIL, "cannot start the event poller");
	if (rc) {
		os_close_hv(w->own);
		json_decref(w->seen);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

static void os_unwatch(cl_vm_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	os_close_hv(w->own);
	json_decref(w->seen);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* ------------------------------------------------------------------ access */

/* The forward is on the lab's floating IP, which is the lab's listen address. */
static int os_ssh_endpoint(cl_hv *c, const char *name, const char *listen, int forwarded,
			   const char **host, int *port)
{
	(void)c, (void)name;
	*host = listen;
	*port = forwarded;
	return 0;
}

/* A cloud's GPUs are in its flavors; it has no host devices to list. */
static int os_gpus(cl_hv *c, struct cl_host_gpu **out, size_t *n)
{
	(void)c;
	*out = NULL;
	*n = 0;
	return 0;
}

const cl_vm_backend cl_vm_openstack = {
	.name = "openstack",
	.host_forwards = false,
	.host_devices = false,
	.open = os_open_hv,
	.close = os_close_hv,
	.uri = os_uri,
	.image = osb_image,
	.disk_path = os_disk_path,
	.disk_overlay = os_disk_overlay,
	.disk_delete = os_disk_delete,
	.disk_list = os_disk_list,
	.seed_upload = os_seed_upload,
	.create = os_create,
	.start = os_start,
	.stop = os_stop,
	.destroy = os_destroy,
	.remove = os_remove,
	.state = os_state,
	.running = os_running,
	.save = os_save,
	.has_saved = os_has_saved,
	.discard_saved = os_discard_saved,
	.watch = os_watch,
	.unwatch = os_unwatch,
	.ssh_endpoint = os_ssh_endpoint,
	.gpus = os_gpus,
	.lab_address = osb_lab_address,
	.lab_remove = osb_lab_remove,
};
