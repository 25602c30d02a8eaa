/*
 * An OpenStack cloud as classlab talks to it: where its credentials come from
 * (clouds.yaml or OS_* variables, found the way the OpenStack tools find them),
 * a Keystone v3 token and service catalog, and one HTTP call at a time over one
 * reused libcurl handle, with timeouts, bounded retries and errors that name the
 * service, the HTTP status and the cloud's own message. JSON via jansson.
 *
 * Credentials live only in this module's memory (os_cloud_config, os_cloud):
 * never written to a file, a log line or a process argument. The token is never
 * logged.
 */
#ifndef CL_OS_CLIENT_H
#define CL_OS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ------------------------------------------------------------------ configuration */

typedef struct os_cloud_config {
	char *name;	  /* the cloud's name in clouds.yaml; "" for OS_* variables */
	char *source;	  /* where it was read: a clouds.yaml path, or "environment" */
	char *auth_type;  /* "password" (default) or "v3applicationcredential" */
	char *auth_url;	  /* Keystone, e.g. "http://127.0.0.1:5000/v3" (a missing /v3 is added) */
	char *username;
	char *user_id;
	char *password;
	char *user_domain_name; /* default "Default" when neither name nor id is given */
	char *user_domain_id;
	char *project_name;
	char *project_id;
	char *project_domain_name; /* default "Default" likewise */
	char *project_domain_id;
	char *application_credential_id;
	char *application_credential_name;
	char *application_credential_secret;
	char *region_name; /* NULL: the catalog's only (or first) region */
	char *interface;   /* "public" (default), "internal" or "admin" */
	char *cacert;	   /* a CA bundle path; NULL: the system's */
} os_cloud_config;

/*
 * Reads the cloud's settings from the files and env, the front end's environment (a
 * NULL-terminated "NAME=value" list, as environ; NULL: none). cloud non-empty: that cloud in the first clouds.yaml
 * found of $OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml,
 * /etc/openstack/clouds.yaml (the OpenStack tools' order). cloud NULL or "": the
 * cloud $OS_CLOUD names, else the OS_* variables (OS_AUTH_URL, OS_USERNAME,
 * OS_PASSWORD, OS_PROJECT_NAME, OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME,
 * OS_REGION_NAME, OS_INTERFACE, OS_CACERT, OS_AUTH_TYPE,
 * OS_APPLICATION_CREDENTIAL_ID/_NAME/_SECRET, ...). OS_* variables do not override
 * a named cloud (as openstacksdk with a named cloud). `verify: false` or
 * `insecure: true` is refused (CL_EINVAL): classlab always verifies TLS.
 * Errors: CL_ENOTFOUND "no clouds.yaml has a cloud 'X' (looked in: ...)";
 * CL_EINVAL for a malformed file (path and line) or missing auth_url / credentials.
 */
int os_cloud_config_load(const char *cloud, char *const *env, os_cloud_config *out);
void os_cloud_config_clear(os_cloud_config *c); /* wipes the secrets before freeing */

/* ------------------------------------------------------------------ connection */

typedef struct os_cloud os_cloud;

/* One line per HTTP call for -v: "compute GET /servers/detail?... 200 41 ms" (no token). */
typedef void (*os_log_fn)(void *arg, const char *line);

typedef struct os_open_opts {
	os_log_fn log; /* NULL: silent */
	void *log_arg;
	int timeout_s; /* each call, whole; 0: 60 */
} os_open_opts;

/*
 * Authenticates (POST /v3/auth/tokens: password or application credential,
 * project-scoped) and keeps the token and the service catalog. Errors:
 * CL_EUNAVAIL "identity: cannot reach <auth_url>: <curl's why>" (exit 5);
 * CL_EFAIL "identity: HTTP 401: <Keystone's message>" for wrong credentials.
 */
int os_cloud_open(os_cloud **out, const os_cloud_config *cfg, const os_open_opts *opts);
void os_cloud_close(os_cloud *c); /* NULL is fine; wipes the token */

/* The endpoint of a service type ("compute", "network", "image", "identity"), borrowed. */
const char *os_endpoint(os_cloud *c, const char *service);
/* The cloud's name as given ("" for OS_* variables), borrowed. */
const char *os_cloud_name(os_cloud *c);

/*
 * One call: method on the service's endpoint + path ("/servers/detail?name=x";
 * the caller escapes query values with os_escape). body: JSON sent (borrowed; NULL:
 * none). *reply: the parsed JSON answer (the caller's; NULL when the answer has no
 * body or reply is NULL). *status: the HTTP status (may be NULL).
 *  - compute calls send "OpenStack-API-Version: compute 2.72".
 *  - A token within 60 s of expiring is renewed first; a 401 renews it once and
 *    repeats the call.
 *  - 409, 429 and 503 are retried (at most 5 tries in all) after Retry-After
 *    seconds when the answer has it (at most 30), else 1, 2, 4, 8 s.
 *  - Returns 0 for 2xx. Otherwise an error whose message names the service, the
 *    method and path, the status and the cloud's own message (the "message" /
 *    "NeutronError.message" / "badRequest.message"... of the body, else its text):
 *    "compute: POST /servers: HTTP 403: Quota exceeded for instances: ..."
 *    404 -> CL_ENOTFOUND; 409 -> CL_EEXIST; 400 -> CL_EINVAL; 401/403/413/other
 *    4xx and 500 -> CL_EFAIL; 502/503/504 and transport errors (refused, timeout)
 *    -> CL_EUNAVAIL. *status and *reply are set for errors too.
 */
int os_call(os_cloud *c, const char *service, const char *method, const char *path,
	    json_t *body, json_t **reply, long *status);

/*
 * Uploads a file as the body (Content-Type: application/octet-stream), e.g.
 * PUT /v2/images/{id}/file; the same statuses and errors as os_call; no retry;
 * its own timeout (30 min).
 */
int os_upload(os_cloud *c, const char *service, const char *method, const char *path,
	      const char *file);

/* s escaped for a URL query value (curl's escaping); the caller frees. */
char *os_escape(const char *s);

#endif
