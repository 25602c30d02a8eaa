/*
 * Where an OpenStack cloud's settings come from: a cloud in clouds.yaml, found in
 * the OpenStack tools' order, or the OS_* variables. A small walk over libyaml's
 * document nodes; secrets are wiped when the settings are cleared.
 */
#include "os_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "classlab/banned.h"
#include "classlab/cl_util.h"

#define CLOUDS_YAML_MAX (1u << 20)

/* The settings a clouds.yaml entry or the environment may give, by name. */
typedef struct field {
	const char *key; /* in clouds.yaml's `auth:` (auth != 0) or at the cloud's top */
	const char *env; /* OS_* variable */
	size_t off;
	int auth;
} field;

/* clang-format off */
#define F(k, e, m, a) {k, e, offsetof(os_cloud_config, m), a}
static const field fields[] = {
	F("auth_url", "OS_AUTH_URL", auth_url, 1),
	F("username", "OS_USERNAME", username, 1),
	F("user_id", "OS_USER_ID", user_id, 1),
	F("password", "OS_PASSWORD", password, 1),
	F("project_name", "OS_PROJECT_NAME", project_name, 1),
	F("project_id", "OS_PROJECT_ID", project_id, 1),
	F("user_domain_name", "OS_USER_DOMAIN_NAME", user_domain_name, 1),
	F("user_domain_id", "OS_USER_DOMAIN_ID", user_domain_id, 1),
	F("project_domain_name", "OS_PROJECT_DOMAIN_NAME", project_domain_name, 1),
	F("project_domain_id", "OS_PROJECT_DOMAIN_ID", project_domain_id, 1),
	F("application_credential_id", "OS_APPLICATION_CREDENTIAL_ID", application_credential_id, 1),
	F("application_credential_name", "OS_APPLICATION_CREDENTIAL_NAME",
	  application_credential_name, 1),
	F("application_credential_secret", "OS_APPLICATION_CREDENTIAL_SECRET",
	  application_credential_secret, 1),
	/* the old names keystoneauth still reads */
	F("tenant_name", "OS_TENANT_NAME", project_name, 1),
	F("tenant_id", "OS_TENANT_ID", project_id, 1),
	F("region_name", "OS_REGION_NAME", region_name, 0),
	F("interface", "OS_INTERFACE", interface, 0),
	F("cacert", "OS_CACERT", cacert, 0),
	F("auth_type", "OS_AUTH_TYPE", auth_type, 0),
};
#undef F
/* clang-format on */

static char **field_ptr(os_cloud_config *c, const field *f)
{
	return (char **)((char *)c + f->off);
}

static void set_field(os_cloud_config *c, const field *f, const char *value)
{
	char **p = field_ptr(c, f);
	if (*p) /* the first of two names wins (project_name over tenant_name) */
		return;
	*p = cl_strdup(value);
}

static const field *field_find(const char *key, int auth)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (fields[i].auth == auth && strcmp(fields[i].key, key) == 0)
			return &fields[i];
	return NULL;
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void os_cloud_config_clear(os_cloud_config *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->source);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char **p = field_ptr(c, &fields[i]);
		wipe_free(*p); /* tenant_* alias a field already freed: set NULL below */
		*p = NULL;
	}
	memset(c, 0, sizeof(*c));
}

/* "true"/"yes"/"on"/"1" as YAML 1.1 and the OpenStack tools read a flag. */
static bool flag_true(const char *s)
{
	return strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 ||
	       strcasecmp(s, "on") == 0 || strcmp(s, "1") == 0;
}

static bool flag_false(const char *s)
{
	return strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 ||
	       strcasecmp(s, "off") == 0 || strcmp(s, "0") == 0;
}

/* ------------------------------------------------------------------ clouds.yaml */

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The value under key in a mapping node, or NULL. */
static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(yaml_document_get_node(doc, p->key));
		if (k && strcmp(k, key) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

static int not_a(const char *path, yaml_node_t *n, const char *what)
{
	return cl_error_set(CL_EINVAL, "%s:%zu: %s must be a mapping", path, n->start_mark.line + 1,
			    what);
}

/* Copies the settings of one cloud's mapping into out. */
static int read_cloud(const char *path, yaml_document_t *doc, yaml_node_t *cloud,
		      os_cloud_config *out)
{
	if (cloud->type != YAML_MAPPING_NODE)
		return not_a(path, cloud, "a cloud");
	for (yaml_node_pair_t *p = cloud->data.mapping.pairs.start;
	     p < cloud->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(doc, p->key);
		yaml_node_t *vn = yaml_document_get_node(doc, p->value);
		const char *k = scalar(kn), *v = scalar(vn);
		if (!k)
			continue;
		if (strcmp(k, "auth") == 0) {
			if (vn->type != YAML_MAPPING_NODE)
				return not_a(path, vn, "'auth'");
			for (yaml_node_pair_t *a = vn->data.mapping.pairs.start;
			     a < vn->data.mapping.pairs.top; a++) {
				yaml_node_t *av = yaml_document_get_node(doc, a->value);
				const char *ak = scalar(yaml_document_get_node(doc, a->key));
				const field *f = ak ? field_find(ak, 1) : NULL;
				if (!f)
					continue; /* keys other plugins use: not ours */
				if (!scalar(av))
					return cl_error_set(CL_EINVAL,
							    "%s:%zu: 'auth.%s' must be a string",
							    path, av->start_mark.line + 1, ak);
				set_field(out, f, scalar(av));
			}
			continue;
		}
		if ((strcmp(k, "verify") == 0 && v && flag_false(v)) ||
		    (strcmp(k, "insecure") == 0 && v && flag_true(v)))
			return cl_error_set(CL_EINVAL,
					    "%s:%zu: '%s: %s' is refused: classlab always verifies "
					    "TLS (give the cloud's CA with 'cacert')",
					    path, kn->start_mark.line + 1, k, v);
		const field *f = field_find(k, 0);
		if (!f)
			continue;
		if (!v)
			return cl_error_set(CL_EINVAL, "%s:%zu: '%s' must be a string", path,
					    vn->start_mark.line + 1, k);
		set_field(out, f, v);
	}
	return 0;
}

/*
 * Reads the cloud named name from path into out. *found: whether the file has it
 * (0 returned either way when the file is well formed).
 */
static int read_clouds_yaml(const char *path, const char *name, os_cloud_config *out, bool *found)
{
	cl_buf text = CL_BUF_INIT;
	yaml_parser_t parser;
	yaml_document_t doc;
	bool parser_ok = false, doc_ok = false;
	int rc;

	*found = false;
	rc = cl_read_file(path, CLOUDS_YAML_MAX, &text);
	if (rc < 0) {
		rc = cl_error_wrap("cannot read '%s'", path);
		goto out;
	}
	if (!yaml_parser_initialize(&parser)) {
		rc = cl_error_set(CL_EFAIL, "%s: cannot start the YAML parser", path);
		goto out;
	}
	parser_ok = true;
	yaml_parser_set_input_string(&parser, (const unsigned char *)cl_buf_str(&text), text.len);
	if (!yaml_parser_load(&parser, &doc)) {
		if (parser.context)
			rc = cl_error_set(CL_EINVAL, "%s:%zu: malformed YAML: %s (%s at line %zu)",
					  path, parser.problem_mark.line + 1,
					  parser.problem ? parser.problem : "cannot parse",
					  parser.context, parser.context_mark.line + 1);
		else
			rc = cl_error_set(CL_EINVAL, "%s:%zu: malformed YAML: %s", path,
					  parser.problem_mark.line + 1,
					  parser.problem ? parser.problem : "cannot parse");
		goto out;
	}
	doc_ok = true;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) /* an empty file has no clouds */
		goto out;
	if (root->type != YAML_MAPPING_NODE) {
		rc = not_a(path, root, "the file's top");
		goto out;
	}
	yaml_node_t *clouds = map_get(&doc, root, "clouds");
	if (!clouds)
		goto out;
	if (clouds->type != YAML_MAPPING_NODE) {
		rc = not_a(path, clouds, "'clouds'");
		goto out;
	}
	yaml_node_t *cloud = map_get(&doc, clouds, name);
	if (!cloud)
		goto out;
	*found = true;
	rc = read_cloud(path, &doc, cloud, out);
out:
	if (doc_ok)
		yaml_document_delete(&doc);
	if (parser_ok)
		yaml_parser_delete(&parser);
	if (text.data) /* it may hold a password */
		explicit_bzero(text.data, text.cap);
	cl_buf_free(&text);
	return rc;
}

/* NAME's value in env (a NULL-terminated "NAME=value" list, as environ), or NULL. */
static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (; env && *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/* The clouds.yaml paths the OpenStack tools try, in their order (caller frees). */
static size_t search_paths(char *const *envp, char *paths[4])
{
	size_t n = 0;
	const char *env = env_get(envp, "OS_CLIENT_CONFIG_FILE");
	const char *home = env_get(envp, "HOME");
	if (env && *env)
		paths[n++] = cl_strdup(env);
	paths[n++] = cl_strdup("./clouds.yaml");
	if (home && *home)
		paths[n++] = cl_aprintf("%s/.config/openstack/clouds.yaml", home);
	paths[n++] = cl_strdup("/etc/openstack/clouds.yaml");
	return n;
}

static int load_named(const char *name, char *const *env, os_cloud_config *out)
{
	char *paths[4] = {NULL};
	size_t n = search_paths(env, paths);
	cl_buf looked = CL_BUF_INIT;
	bool found = false;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		cl_buf_printf(&looked, "%s%s", i ? ", " : "", paths[i]);
		if (access(paths[i], F_OK) != 0)
			continue;
		/* The first file that exists is the one, as openstacksdk reads only that. */
		rc = read_clouds_yaml(paths[i], name, out, &found);
		if (rc < 0)
			goto out;
		if (found)
			out->source = cl_strdup(paths[i]);
		break;
	}
	if (!found)
		rc = cl_error_set(CL_ENOTFOUND, "no clouds.yaml has a cloud '%s' (looked in: %s)",
				  name, cl_buf_str(&looked));
out:
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	cl_buf_free(&looked);
	return rc;
}

static int load_env(char *const *env, os_cloud_config *out)
{
	const char *insecure = env_get(env, "OS_INSECURE");
	if (insecure && flag_true(insecure))
		return cl_error_set(CL_EINVAL,
				    "OS_INSECURE=%s is refused: classlab always verifies "
				    "TLS (give the cloud's CA with OS_CACERT)",
				    insecure);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *v = env_get(env, fields[i].env);
		if (v && *v)
			set_field(out, &fields[i], v);
	}
	if (!out->interface) {
		const char *v = env_get(env, "OS_ENDPOINT_TYPE");
		if (v && *v)
			out->interface = cl_strdup(v);
	}
	out->source = cl_strdup("environment");
	if (!out->auth_url)
		return cl_error_set(CL_EINVAL,
				    "no cloud given: name one (openstack://CLOUD), or set "
				    "OS_CLOUD, or OS_AUTH_URL and the other OS_* variables");
	return 0;
}

/* Defaults, the names' canonical spellings and the checks every source shares. */
static int finish(os_cloud_config *c)
{
	const char *where = c->source ? c->source : "environment";
	const char *cloud = c->name && *c->name ? c->name : "(OS_* variables)";

	if (!c->auth_url || !*c->auth_url)
		return cl_error_set(CL_EINVAL, "cloud %s in %s has no auth_url", cloud, where);
	if (strncmp(c->auth_url, "https://", 8) != 0 && strncmp(c->auth_url, "http://", 7) != 0)
		return cl_error_set(CL_EINVAL, "cloud %s in %s: auth_url '%s' is not http(s)://",
				    cloud, where, c->auth_url);
	/* Keystone v3: strip trailing '/', add a missing /v3. */
	size_t len = strlen(c->auth_url);
	while (len > 0 && c->auth_url[len - 1] == '/')
		c->auth_url[--len] = '\0';
	if (len < 3 || strcmp(c->auth_url + len - 3, "/v3") != 0) {
		char *v3 = cl_aprintf("%s/v3", c->auth_url);
		free(c->auth_url);
		c->auth_url = v3;
	}

	if (!c->auth_type && c->application_credential_secret && !c->password)
		c->auth_type = cl_strdup("v3applicationcredential");
	if (!c->auth_type || strcmp(c->auth_type, "v3password") == 0) {
		free(c->auth_type);
		c->auth_type = cl_strdup("password");
	} else if (strcmp(c->auth_type, "applicationcredential") == 0 ||
		   strcmp(c->auth_type, "v3applicationcredential") == 0) {
		free(c->auth_type);
		c->auth_type = cl_strdup("v3applicationcredential");
	} else if (strcmp(c->auth_type, "password") != 0) {
		return cl_error_set(CL_EINVAL,
				    "cloud %s in %s: auth_type '%s' is not supported (password or "
				    "v3applicationcredential)",
				    cloud, where, c->auth_type);
	}

	if (strcmp(c->auth_type, "password") == 0) {
		if ((!c->username && !c->user_id) || !c->password)
			return cl_error_set(CL_EINVAL,
					    "cloud %s in %s: password auth needs username (or "
					    "user_id) and password",
					    cloud, where);
		if (!c->project_name && !c->project_id)
			return cl_error_set(CL_EINVAL,
					    "cloud %s in %s: password auth needs project_name or "
					    "project_id",
					    cloud, where);
		if (!c->user_domain_name && !c->user_domain_id)
			c->user_domain_name = cl_strdup("Default");
		if (!c->project_domain_name && !c->project_domain_id)
			c->project_domain_name = cl_strdup("Default");
	} else {
		if (!c->application_credential_secret ||
		    (!c->application_credential_id &&
		     (!c->application_credential_name || (!c->username && !c->user_id))))
			return cl_error_set(CL_EINVAL,
					    "cloud %s in %s: application credential auth needs "
					    "application_credential_secret and "
					    "application_credential_id (or its name and the user)",
					    cloud, where);
		if (c->username && !c->user_id && !c->user_domain_name && !c->user_domain_id)
			c->user_domain_name = cl_strdup("Default");
	}

	if (!c->interface) {
		c->interface = cl_strdup("public");
	} else {
		/* The old OS_ENDPOINT_TYPE spelling: publicURL. */
		size_t il = strlen(c->interface);
		if (il > 3 && strcmp(c->interface + il - 3, "URL") == 0)
			c->interface[il - 3] = '\0';
		if (strcmp(c->interface, "public") != 0 && strcmp(c->interface, "internal") != 0 &&
		    strcmp(c->interface, "admin") != 0)
			return cl_error_set(
			    CL_EINVAL,
			    "cloud %s in %s: interface '%s' is not public, internal "
			    "or admin",
			    cloud, where, c->interface);
	}
	if (c->region_name && !*c->region_name) {
		free(c->region_name);
		c->region_name = NULL;
	}
	if (c->cacert && access(c->cacert, R_OK) != 0)
		return cl_error_set(CL_EINVAL, "cloud %s in %s: cacert '%s': %s", cloud, where,
				    c->cacert, strerror(errno));
	return 0;
}

int os_cloud_config_load(const char *cloud, char *const *env, os_cloud_config *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!cloud || !*cloud) {
		const char *named = env_get(env, "OS_CLOUD");
		if (named && *named)
			cloud = named;
	}
	if (cloud && *cloud) {
		out->name = cl_strdup(cloud);
		rc = load_named(cloud, env, out);
	} else {
		out->name = cl_strdup("");
		rc = load_env(env, out);
	}
	if (rc == 0)
		rc = finish(out);
	if (rc < 0)
		os_cloud_config_clear(out);
	return rc;
}
