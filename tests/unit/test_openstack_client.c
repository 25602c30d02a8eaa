/*
 * The OpenStack client: clouds.yaml and OS_* loading against fixtures in
 * tests/data/openstack/; retries, Retry-After, token renewal and the cloud's
 * messages against a loopback stub (tests/data/openstack/stub_server.py); and,
 * with CLASSLAB_TEST_OS_LIVE=1 and the OS_* variables of a real cloud, GETs and
 * token calls against it (one application credential is created and deleted).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../openstack/os_client.h"
#include "classlab/cl_util.h"
#include "tap.h"

#define DATA CL_TEST_DATA "/openstack"

extern char **environ;

static void skip(const char *what, const char *why)
{
	printf("ok - %s # SKIP %s\n", what, why);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool has(const char *s, const char *part)
{
	return s && part && strstr(s, part) != NULL;
}

/* Drops every OS_* variable, so a test sees only what it sets. */
static void clear_os_env(void)
{
	for (;;) {
		char *name = NULL;
		for (char **e = environ; *e; e++)
			if (strncmp(*e, "OS_", 3) == 0) {
				name = cl_strndup(*e, strcspn(*e, "="));
				break;
			}
		if (!name)
			return;
		unsetenv(name);
		free(name);
	}
}

static void copy_file(const char *from, const char *to)
{
	cl_buf b = CL_BUF_INIT;
	CHECK(cl_read_file(from, 1 << 20, &b) == 0);
	CHECK(cl_write_file(to, b.data, b.len, 0600) == 0);
	cl_buf_free(&b);
}

/* The log lines of the calls, for -v's checks. */
static void log_line(void *arg, const char *line)
{
	cl_buf *b = arg;
	cl_buf_printf(b, "%s\n", line);
}

/* ------------------------------------------------------------------ clouds.yaml, OS_* */

static void test_config(const char *tmp)
{
	os_cloud_config c;
	char *cwd = cl_aprintf("%s/cwd", tmp), *home = cl_aprintf("%s/home", tmp);
	char *home_dir = cl_aprintf("%s/.config/openstack", home);
	char *home_file = cl_aprintf("%s/clouds.yaml", home_dir);
	char *cwd_file = cl_aprintf("%s/clouds.yaml", cwd);
	char *old_cwd = getcwd(NULL, 0);

	CHECK(cl_mkdir_p(cwd, 0700) == 0);
	CHECK(cl_mkdir_p(home_dir, 0700) == 0);
	copy_file(DATA "/clouds-cwd.yaml", cwd_file);
	copy_file(DATA "/clouds-home.yaml", home_file);
	CHECK(chdir(cwd) == 0);
	setenv("HOME", home, 1);
	clear_os_env();

	/* ./clouds.yaml comes before the user's file. */
	CHECK_INT(os_cloud_config_load("alpha", environ, &c), 0);
	CHECK_STR(c.name, "alpha");
	CHECK_STR(c.source, "./clouds.yaml");
	CHECK_STR(c.auth_url, "http://keystone.example:5000/v3"); /* '/' dropped, /v3 added */
	CHECK_STR(c.auth_type, "password");
	CHECK_STR(c.username, "alice");
	CHECK_STR(c.password, "cwd-secret");
	CHECK_STR(c.project_name, "lab");
	CHECK_STR(c.user_domain_name, "Users");
	CHECK_STR(c.project_domain_name, "Default");
	CHECK_STR(c.region_name, "RegionCwd");
	CHECK_STR(c.interface, "internal"); /* internalURL, the old spelling */
	CHECK(c.cacert == NULL);
	os_cloud_config_clear(&c);
	CHECK(c.password == NULL && c.name == NULL);

	/* The OS_* variables do not override a named cloud. */
	setenv("OS_PASSWORD", "env-password", 1);
	setenv("OS_REGION_NAME", "RegionVar", 1);
	CHECK_INT(os_cloud_config_load("alpha", environ, &c), 0);
	CHECK_STR(c.password, "cwd-secret");
	CHECK_STR(c.region_name, "RegionCwd");
	os_cloud_config_clear(&c);
	clear_os_env();

	/* $OS_CLIENT_CONFIG_FILE comes first. */
	setenv("OS_CLIENT_CONFIG_FILE", DATA "/clouds-env.yaml", 1);
	CHECK_INT(os_cloud_config_load("alpha", environ, &c), 0);
	CHECK_STR(c.source, DATA "/clouds-env.yaml");
	CHECK_STR(c.region_name, "RegionEnv");
	CHECK_STR(c.cacert, "/dev/null");
	os_cloud_config_clear(&c);
	/* Only the first file found is read, as openstacksdk does. */
	CHECK_INT(os_cloud_config_load("appcred", environ, &c), CL_ENOTFOUND);
	CHECK(has(cl_error_msg(), "no clouds.yaml has a cloud 'appcred'"));
	CHECK(has(cl_error_msg(), DATA "/clouds-env.yaml"));
	unsetenv("OS_CLIENT_CONFIG_FILE");

	/* OS_CLOUD names the cloud when none is given. */
	setenv("OS_CLOUD", "appcred", 1);
	CHECK_INT(os_cloud_config_load(NULL, environ, &c), 0);
	CHECK_STR(c.name, "appcred");
	CHECK_STR(c.auth_type, "v3applicationcredential");
	CHECK_STR(c.auth_url, "https://keystone.example/identity/v3");
	CHECK_STR(c.application_credential_id, "0123abcd");
	CHECK_STR(c.application_credential_secret, "app-secret");
	CHECK(c.user_domain_name == NULL && c.project_domain_name == NULL);
	CHECK_STR(c.interface, "public");
	os_cloud_config_clear(&c);
	/* ... and an explicit name wins over it. */
	CHECK_INT(os_cloud_config_load("alpha", environ, &c), 0);
	CHECK_STR(c.name, "alpha");
	os_cloud_config_clear(&c);
	unsetenv("OS_CLOUD");

	/* An application credential by name with its user; the auth type inferred. */
	CHECK_INT(os_cloud_config_load("appcred-by-name", environ, &c), 0);
	CHECK_STR(c.auth_type, "v3applicationcredential");
	CHECK_STR(c.application_credential_name, "classlab");
	CHECK_STR(c.user_domain_name, "Default");
	os_cloud_config_clear(&c);

	/* Refusals. */
	CHECK_INT(os_cloud_config_load("noverify", environ, &c), CL_EINVAL);
	CHECK(has(cl_error_msg(), "verify: false") && has(cl_error_msg(), "./clouds.yaml:"));
	CHECK_INT(os_cloud_config_load("insecure", environ, &c), CL_EINVAL);
	CHECK(has(cl_error_msg(), "insecure: True"));
	CHECK_INT(os_cloud_config_load("nopassword", environ, &c), CL_EINVAL);
	CHECK(has(cl_error_msg(), "password"));
	CHECK_INT(os_cloud_config_load("badiface", environ, &c), CL_EINVAL);
	CHECK(has(cl_error_msg(), "sideways"));
	CHECK_INT(os_cloud_config_load("badauth", environ, &c), CL_EINVAL);
	CHECK(has(cl_error_msg(), "./clouds.yaml:52:")); /* the line of the auth value */
	CHECK(c.name == NULL && c.password == NULL);	 /* cleared on failure */

	/* Not in ./clouds.yaml: the user's file is not read once ./clouds.yaml exists. */
	CHECK_INT(os_cloud_config_load("homeonly", environ, &c), CL_ENOTFOUND);
	CHECK(unlink(cwd_file) == 0);
	CHECK_INT(os_cloud_config_load("homeonly", environ, &c), 0);
	CHECK_STR(c.source, home_file);
	CHECK_STR(c.user_id, "u-home");
	os_cloud_config_clear(&c);
	CHECK_INT(os_cloud_config_load("alpha", environ, &c), 0);
	CHECK_STR(c.project_id, "p-home");
	CHECK_STR(c.project_domain_id, "d-home");
	CHECK(c.project_domain_name == NULL); /* an id given: no default name */
	os_cloud_config_clear(&c);

	/* No file has it: the message lists where it looked. */
	CHECK(unlink(home_file) == 0);
	CHECK_INT(os_cloud_config_load("alpha", environ, &c), CL_ENOTFOUND);
	CHECK(has(cl_error_msg(), "looked in: ./clouds.yaml, "));
	CHECK(has(cl_error_msg(), home_file));
	CHECK(has(cl_error_msg(), "/etc/openstack/clouds.yaml"));

	/* A malformed file names itself and the line. */
	setenv("OS_CLIENT_CONFIG_FILE", DATA "/clouds-malformed.yaml", 1);
	CHECK_INT(os_cloud_config_load("alpha", environ, &c), CL_EINVAL);
	CHECK(has(cl_error_msg(), DATA "/clouds-malformed.yaml:"));
	CHECK(has(cl_error_msg(), "malformed YAML"));
	CHECK(has(cl_error_msg(), "at line 6)")); /* where the unclosed quote starts */
	printf("# malformed: %s\n", cl_error_msg());
	setenv("OS_CLIENT_CONFIG_FILE", DATA "/clouds-notmap.yaml", 1);
	CHECK_INT(os_cloud_config_load("alpha", environ, &c), CL_EINVAL);
	CHECK(has(cl_error_msg(), "clouds-notmap.yaml:2: 'clouds' must be a mapping"));
	unsetenv("OS_CLIENT_CONFIG_FILE");

	/* The OS_* variables when no cloud is named. */
	CHECK_INT(os_cloud_config_load(NULL, environ, &c), CL_EINVAL);
	CHECK(has(cl_error_msg(), "OS_AUTH_URL"));
	setenv("OS_AUTH_URL", "http://127.0.0.1:5000", 1);
	setenv("OS_USERNAME", "bob", 1);
	setenv("OS_PASSWORD", "bob-secret", 1);
	setenv("OS_PROJECT_NAME", "labs", 1);
	setenv("OS_REGION_NAME", "RegionOne", 1);
	setenv("OS_ENDPOINT_TYPE", "adminURL", 1);
	CHECK_INT(os_cloud_config_load("", environ, &c), 0);
	CHECK_STR(c.name, "");
	CHECK_STR(c.source, "environment");
	CHECK_STR(c.auth_url, "http://127.0.0.1:5000/v3");
	CHECK_STR(c.password, "bob-secret");
	CHECK_STR(c.user_domain_name, "Default");
	CHECK_STR(c.project_domain_name, "Default");
	CHECK_STR(c.region_name, "RegionOne");
	CHECK_STR(c.interface, "admin");
	os_cloud_config_clear(&c);
	setenv("OS_INTERFACE", "internal", 1); /* the new name wins over the old */
	setenv("OS_USER_DOMAIN_ID", "default", 1);
	CHECK_INT(os_cloud_config_load(NULL, environ, &c), 0);
	CHECK_STR(c.interface, "internal");
	CHECK(c.user_domain_name == NULL);
	CHECK_STR(c.user_domain_id, "default");
	os_cloud_config_clear(&c);
	setenv("OS_INSECURE", "true", 1);
	CHECK_INT(os_cloud_config_load(NULL, environ, &c), CL_EINVAL);
	CHECK(has(cl_error_msg(), "OS_INSECURE"));
	unsetenv("OS_INSECURE");
	setenv("OS_CACERT", "/nonexistent/ca.pem", 1);
	CHECK_INT(os_cloud_config_load(NULL, environ, &c), CL_EINVAL);
	CHECK(has(cl_error_msg(), "/nonexistent/ca.pem"));
	unsetenv("OS_CACERT");
	/* Application credential variables. */
	clear_os_env();
	setenv("OS_AUTH_URL", "https://keystone.example/v3/", 1);
	setenv("OS_AUTH_TYPE", "v3applicationcredential", 1);
	setenv("OS_APPLICATION_CREDENTIAL_ID", "ac-1", 1);
	setenv("OS_APPLICATION_CREDENTIAL_SECRET", "ac-secret", 1);
	CHECK_INT(os_cloud_config_load(NULL, environ, &c), 0);
	CHECK_STR(c.auth_url, "https://keystone.example/v3");
	CHECK_STR(c.application_credential_id, "ac-1");
	os_cloud_config_clear(&c);
	unsetenv("OS_APPLICATION_CREDENTIAL_SECRET");
	CHECK_INT(os_cloud_config_load(NULL, environ, &c), CL_EINVAL);
	CHECK(has(cl_error_msg(), "application_credential_secret"));
	setenv("OS_AUTH_TYPE", "token", 1);
	CHECK_INT(os_cloud_config_load(NULL, environ, &c), CL_EINVAL);
	CHECK(has(cl_error_msg(), "auth_type 'token'"));
	clear_os_env();

	CHECK(chdir(old_cwd) == 0);
	free(old_cwd);
	free(cwd);
	free(home);
	free(home_dir);
	free(home_file);
	free(cwd_file);
}

/* ------------------------------------------------------------------ against the stub */

/* Starts the stub (HTTPS with tls_dir); its port, or 0 when python3 cannot run it. */
static int stub_start(pid_t *pidp, const char *tls_dir)
{
	pid_t stub_pid;
	int fd[2];
	char line[32] = "";

	if (pipe(fd) != 0)
		return 0;
	stub_pid = fork();
	if (stub_pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		if (tls_dir)
			execlp("python3", "python3", DATA "/stub_server.py", "--tls", tls_dir,
			       (char *)NULL);
		else
			execlp("python3", "python3", DATA "/stub_server.py", (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	FILE *f = fdopen(fd[0], "r");
	if (!f || !fgets(line, sizeof(line), f)) {
		if (f)
			fclose(f);
		else
			close(fd[0]);
		if (stub_pid > 0)
			waitpid(stub_pid, NULL, 0);
		*pidp = 0;
		return 0;
	}
	fclose(f);
	*pidp = stub_pid;
	return atoi(line);
}

static void stub_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

static json_t *stub_stats(os_cloud *c)
{
	json_t *j = NULL;
	long st = 0;
	CHECK_INT(os_call(c, "stub", "GET", "/stats", NULL, &j, &st), 0);
	return j;
}

static long long stat_int(os_cloud *c, const char *what, const char *path)
{
	json_t *j = stub_stats(c);
	json_t *v = json_object_get(j, what);
	if (path)
		v = json_object_get(v, path);
	long long n = json_integer_value(v);
	json_decref(j);
	return n;
}

static void stub_env(int port, const char *password)
{
	char *url = cl_aprintf("http://127.0.0.1:%d/v3", port);
	clear_os_env();
	setenv("OS_AUTH_URL", url, 1);
	setenv("OS_USERNAME", "stub", 1);
	setenv("OS_PASSWORD", password, 1);
	setenv("OS_PROJECT_NAME", "p", 1);
	setenv("OS_REGION_NAME", "RegionOne", 1);
	free(url);
}

static os_cloud *stub_open(int port, const char *password, cl_buf *log, int timeout_s)
{
	os_cloud_config cfg;
	os_cloud *c = NULL;
	os_open_opts opts = {.log = log_line, .log_arg = log, .timeout_s = timeout_s};
	stub_env(port, password);
	CHECK_INT(os_cloud_config_load(NULL, environ, &cfg), 0);
	int rc = os_cloud_open(&c, &cfg, &opts);
	if (rc < 0)
		printf("# open: %s\n", cl_error_msg());
	os_cloud_config_clear(&cfg);
	return c;
}

/* The error of GET path: its code and message (in msg). */
static int get_err(os_cloud *c, const char *path, long *st, char **msg)
{
	json_t *j = NULL;
	int rc = os_call(c, "compute", "GET", path, NULL, &j, st);
	json_decref(j);
	*msg = cl_strdup(rc < 0 ? cl_error_msg() : "");
	return rc;
}

/* GET path succeeds after the stub's failures, in [min_ms, max_ms), after hits tries. */
static void retried_get(os_cloud *c, const char *path, int64_t min_ms, int64_t max_ms,
			long long hits)
{
	json_t *j = NULL;
	long st = 0;
	int64_t t0 = now_ms();
	CHECK_INT(os_call(c, "compute", "GET", path, NULL, &j, &st), 0);
	int64_t waited = now_ms() - t0;
	CHECK(waited >= min_ms && waited < max_ms);
	CHECK_INT(st, 200);
	CHECK(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	char *full = cl_aprintf("/compute%s", path);
	CHECK_INT(stat_int(c, "hits", full), hits);
	free(full);
	printf("# GET %s: %lld ms, %lld tries\n", path, (long long)waited, hits);
}

static void test_stub(int port, const char *tmp)
{
	cl_buf log = CL_BUF_INIT;
	os_cloud *c = stub_open(port, "stub-secret", &log, 0);
	json_t *j = NULL, *body = NULL;
	long st = 0;
	char *msg = NULL;
	int64_t t0;

	CHECK(c != NULL);
	if (!c)
		return;
	char *compute = cl_aprintf("http://127.0.0.1:%d/compute", port);
	CHECK_STR(os_endpoint(c, "compute"), compute); /* RegionOne, public, no trailing '/' */
	free(compute);
	CHECK(os_endpoint(c, "network") == NULL);
	CHECK_INT(cl_error_code(), CL_ENOTFOUND);
	CHECK(has(cl_error_msg(), "no public endpoint in region RegionOne"));
	CHECK_STR(os_cloud_name(c), "");

	/* What a call sends: the token, compute's microversion, JSON bodies. */
	CHECK_INT(os_call(c, "compute", "GET", "/echo?x=1", NULL, &j, &st), 0);
	CHECK_INT(st, 200);
	CHECK_STR(json_string_value(json_object_get(j, "token")), "stubtoken-1");
	CHECK_STR(json_string_value(json_object_get(j, "api_version")), "compute 2.72");
	CHECK_STR(json_string_value(json_object_get(j, "path")), "/compute/echo?x=1");
	json_decref(j);
	body = json_pack("{s:i}", "a", 1);
	const char *methods[] = {"POST", "PUT", "PATCH", "DELETE"};
	for (size_t i = 0; i < 4; i++) {
		CHECK_INT(os_call(c, "compute", methods[i], "/echo", body, &j, &st), 0);
		CHECK_STR(json_string_value(json_object_get(j, "method")), methods[i]);
		CHECK_STR(json_string_value(json_object_get(j, "body")), "{\"a\":1}");
		CHECK_STR(json_string_value(json_object_get(j, "content_type")),
			  "application/json");
		json_decref(j);
	}
	json_decref(body);
	CHECK_INT(os_call(c, "compute", "DELETE", "/echo", NULL, &j, &st), 0);
	CHECK_INT(json_integer_value(json_object_get(j, "length")), 0);
	json_decref(j);

	/* 429 with Retry-After: 1, then 200: one wait of at least a second. */
	retried_get(c, "/r429", 1000, 2500, 2);
	/* 409 twice without Retry-After: back-off 1 s then 2 s. */
	retried_get(c, "/r409", 3000, 4500, 3);

	/* Five 503s: the call fails, naming the status and the cloud's text. */
	CHECK_INT(get_err(c, "/always503", &st, &msg), CL_EUNAVAIL);
	CHECK_INT(st, 503);
	CHECK_STR(msg, "compute: GET /always503: HTTP 503: No server is available to handle this "
		       "request.");
	free(msg);
	CHECK_INT(stat_int(c, "hits", "/compute/always503"), 5);

	/* A 401 renews the token once and repeats the call. */
	CHECK_INT(stat_int(c, "tokens", NULL), 1);
	CHECK_INT(os_call(c, "compute", "GET", "/renew401", NULL, NULL, &st), 0);
	CHECK_INT(st, 200);
	CHECK_INT(stat_int(c, "tokens", NULL), 2);
	CHECK_INT(stat_int(c, "hits", "/compute/renew401"), 2);
	/* A second 401 fails. */
	CHECK_INT(get_err(c, "/always401", &st, &msg), CL_EFAIL);
	CHECK_STR(msg, "compute: GET /always401: HTTP 401: stub says no");
	free(msg);
	CHECK_INT(stat_int(c, "tokens", NULL), 3);
	CHECK_INT(stat_int(c, "hits", "/compute/always401"), 2);

	/* The cloud's own message, each service's way; the query not in the message. */
	CHECK_INT(get_err(c, "/nova404?name=a%20b", &st, &msg), CL_ENOTFOUND);
	CHECK_STR(msg, "compute: GET /nova404: HTTP 404: Instance x could not be found.");
	free(msg);
	CHECK_INT(get_err(c, "/neutron404", &st, &msg), CL_ENOTFOUND);
	CHECK_STR(msg, "compute: GET /neutron404: HTTP 404: Network n could not be found.");
	free(msg);
	CHECK_INT(get_err(c, "/glance404", &st, &msg), CL_ENOTFOUND);
	CHECK_STR(msg, "compute: GET /glance404: HTTP 404: No image found with ID abc.");
	free(msg);
	CHECK_INT(get_err(c, "/glancejson", &st, &msg), CL_ENOTFOUND);
	CHECK_STR(msg, "compute: GET /glancejson: HTTP 404: No image found with ID abc.");
	free(msg);
	CHECK_INT(get_err(c, "/lt400", &st, &msg), CL_EINVAL);
	CHECK_STR(msg, "compute: GET /lt400: HTTP 400: min_disk 1 < 2 <b");
	free(msg);
	CHECK_INT(get_err(c, "/text400", &st, &msg), CL_EINVAL);
	CHECK_STR(msg, "compute: GET /text400: HTTP 400: bad thing happened");
	free(msg);
	CHECK_INT(get_err(c, "/plain", &st, &msg), CL_EINVAL);
	CHECK_STR(msg, "compute: GET /plain: HTTP 400: top-level message");
	free(msg);
	CHECK_INT(get_err(c, "/notjson", &st, &msg), CL_EFAIL);
	CHECK(has(msg, "compute: GET /notjson: HTTP 200: the answer is not JSON"));
	free(msg);
	CHECK_INT(os_call(c, "compute", "GET", "/notjson", NULL, NULL, &st), 0);
	json_t *sentinel = json_object();
	j = sentinel; /* set to NULL: no body */
	CHECK_INT(os_call(c, "compute", "DELETE", "/empty", NULL, &j, &st), 0);
	CHECK(j == NULL);
	json_decref(sentinel);
	CHECK_INT(st, 204);

	/* One connection for all of it (the token POSTs too). */
	json_t *stats = stub_stats(c);
	CHECK_INT(json_array_size(json_object_get(stats, "ports")), 1);
	json_decref(stats);

	/* Upload: the file as the body. */
	char *file = cl_aprintf("%s/upload.bin", tmp);
	char *data = cl_malloc(100000);
	memset(data, 'x', 100000);
	CHECK(cl_write_file(file, data, 100000, 0600) == 0);
	CHECK_INT(os_upload(c, "compute", "PUT", "/echo", file), 0);
	stats = stub_stats(c);
	json_t *last = json_object_get(stats, "last");
	CHECK_INT(json_integer_value(json_object_get(last, "length")), 100000);
	CHECK_STR(json_string_value(json_object_get(last, "content_type")),
		  "application/octet-stream");
	CHECK_STR(json_string_value(json_object_get(last, "method")), "PUT");
	json_decref(stats);
	CHECK_INT(os_upload(c, "compute", "PUT", "/nova404", file), CL_ENOTFOUND);
	CHECK_INT(os_upload(c, "compute", "PUT", "/echo", "/nonexistent/file"), CL_EINVAL);
	free(data);
	free(file);

	/*
	 * A transport error (no answer): GET is tried again after a back-off, POST is
	 * not. libcurl itself repeats a request once on a fresh connection when a
	 * reused one closes before any answer (a stale keep-alive), so of the stub's two
	 * drops one may be curl's and one ours (1 s), or both ours (1 s + 2 s).
	 */
	retried_get(c, "/drop2", 1000, 4500, 3);
	t0 = now_ms();
	CHECK_INT(os_call(c, "compute", "POST", "/dropall", NULL, NULL, &st), CL_EUNAVAIL);
	CHECK(now_ms() - t0 < 1000);
	CHECK(has(cl_error_msg(), "compute: POST /dropall: cannot reach "));
	printf("# no answer: %s\n", cl_error_msg());
	CHECK(stat_int(c, "hits", "/compute/dropall") <= 2);
	CHECK_INT(os_call(c, "compute", "GET", "echo", NULL, NULL, &st), CL_EINVAL);

	/* -v: method, path, status and time of each call; never the token or password. */
	CHECK(has(cl_buf_str(&log), "identity POST /auth/tokens 201 "));
	CHECK(has(cl_buf_str(&log), "compute GET /echo?x=1 200 "));
	CHECK(has(cl_buf_str(&log), "compute GET /r429 429 "));
	CHECK(!has(cl_buf_str(&log), "stubtoken"));
	CHECK(!has(cl_buf_str(&log), "stub-secret"));

	/* A token within 60 s of its end is renewed before the call. */
	body = json_pack("{s:i}", "expires_in", 30);
	CHECK_INT(os_call(c, "stub", "POST", "/config", body, NULL, &st), 0);
	json_decref(body);
	os_cloud *c2 = stub_open(port, "stub-secret", &log, 0);
	long long tokens = stat_int(c, "tokens", NULL);
	CHECK_INT(os_call(c2, "compute", "GET", "/echo", NULL, NULL, &st), 0);
	CHECK_INT(stat_int(c, "tokens", NULL), tokens + 1);
	body = json_pack("{s:i}", "expires_in", 3600);
	CHECK_INT(os_call(c, "stub", "POST", "/config", body, NULL, &st), 0);
	json_decref(body);
	CHECK_INT(stat_int(c, "tokens", NULL), tokens + 1);
	CHECK_INT(os_call(c2, "compute", "GET", "/echo", NULL, NULL, &st), 0); /* renews: 30 s */
	CHECK_INT(os_call(c2, "compute", "GET", "/echo", NULL, NULL, &st), 0); /* 3600 s: keeps */
	CHECK_INT(stat_int(c, "tokens", NULL), tokens + 2);
	os_cloud_close(c2);

	/* Timeout: a POST is not repeated after a transport error. */
	c2 = stub_open(port, "stub-secret", &log, 1);
	t0 = now_ms();
	CHECK_INT(os_call(c2, "compute", "POST", "/slow", NULL, NULL, &st), CL_EUNAVAIL);
	int64_t waited = now_ms() - t0;
	CHECK(has(cl_error_msg(), "compute: POST /slow: cannot reach http://127.0.0.1:"));
	CHECK(has(cl_error_msg(), "imed out"));
	CHECK(waited >= 900 && waited < 2500);
	printf("# timeout 1 s: %lld ms: %s\n", (long long)waited, cl_error_msg());
	os_cloud_close(c2);

	/* Wrong password: identity's 401 and Keystone's words, never the password. */
	c2 = stub_open(port, "wrong-pass-4711", &log, 0);
	CHECK(c2 == NULL);
	CHECK_INT(cl_error_code(), CL_EFAIL);
	CHECK_STR(cl_error_msg(), "identity: POST /auth/tokens: HTTP 401: The request you have "
				  "made requires authentication.");
	CHECK(!has(cl_error_msg(), "wrong-pass-4711"));
	CHECK(!has(cl_buf_str(&log), "wrong-pass-4711"));

	/* An application credential. */
	os_cloud_config ac = {0};
	os_open_opts opts = {0};
	char *auth_url = cl_aprintf("http://127.0.0.1:%d/v3", port);
	clear_os_env();
	setenv("OS_AUTH_URL", auth_url, 1);
	setenv("OS_APPLICATION_CREDENTIAL_ID", "ac1", 1);
	setenv("OS_APPLICATION_CREDENTIAL_SECRET", "stub-app-secret", 1);
	CHECK_INT(os_cloud_config_load(NULL, environ, &ac), 0);
	CHECK_INT(os_cloud_open(&c2, &ac, &opts), 0);
	/* No region given: the catalog's first that fits (RegionTwo here). */
	CHECK(has(os_endpoint(c2, "compute"), "/elsewhere"));
	os_cloud_close(c2);
	os_cloud_config_clear(&ac);
	setenv("OS_REGION_NAME", "RegionOne", 1);
	CHECK_INT(os_cloud_config_load(NULL, environ, &ac), 0);
	CHECK_INT(os_cloud_open(&c2, &ac, &opts), 0);
	CHECK_INT(os_call(c2, "compute", "GET", "/echo", NULL, NULL, &st), 0);
	os_cloud_close(c2);
	os_cloud_config_clear(&ac);
	/* The internal interface. */
	setenv("OS_INTERFACE", "internal", 1);
	CHECK_INT(os_cloud_config_load(NULL, environ, &ac), 0);
	CHECK_INT(os_cloud_open(&c2, &ac, &opts), 0);
	CHECK(has(os_endpoint(c2, "compute"), "/internal"));
	os_cloud_close(c2);
	os_cloud_config_clear(&ac);
	free(auth_url);

	/* Settings built by hand get the loader's defaults; incomplete ones are refused. */
	char *url2 = cl_aprintf("http://127.0.0.1:%d/v3", port);
	os_cloud_config hand = {.auth_url = url2,
				.username = "stub",
				.password = "stub-secret",
				.project_name = "p",
				.region_name = "RegionOne"};
	CHECK_INT(os_cloud_open(&c2, &hand, &opts), 0);
	CHECK_INT(os_call(c2, "compute", "GET", "/echo", NULL, NULL, &st), 0);
	os_cloud_close(c2);
	hand.password = NULL;
	CHECK_INT(os_cloud_open(&c2, &hand, &opts), CL_EINVAL);
	CHECK(c2 == NULL);
	free(url2);

	/* Nothing listening: identity unreachable, at once (a POST is not repeated). */
	clear_os_env();
	setenv("OS_AUTH_URL", "http://127.0.0.1:1/v3", 1);
	setenv("OS_USERNAME", "u", 1);
	setenv("OS_PASSWORD", "pw-not-shown", 1);
	setenv("OS_PROJECT_ID", "p", 1);
	CHECK_INT(os_cloud_config_load(NULL, environ, &ac), 0);
	t0 = now_ms();
	CHECK_INT(os_cloud_open(&c2, &ac, &opts), CL_EUNAVAIL);
	CHECK(now_ms() - t0 < 1000);
	CHECK(has(cl_error_msg(),
		  "identity: POST /auth/tokens: cannot reach http://127.0.0.1:1/v3: "));
	CHECK(!has(cl_error_msg(), "pw-not-shown"));
	printf("# unreachable: %s\n", cl_error_msg());
	os_cloud_config_clear(&ac);
	clear_os_env();

	char *e = os_escape("a b&c/\xc3\xa9");
	CHECK_STR(e, "a%20b%26c%2F%C3%A9");
	free(e);

	os_cloud_close(c);
	cl_buf_free(&log);
}

/* TLS is always verified: the system's CAs, or the cloud's cacert, and the host name. */
static void test_tls(int port, int http_port, const char *tmp)
{
	os_cloud_config cfg;
	os_cloud *c = NULL;
	os_open_opts opts = {0};
	char *url = cl_aprintf("https://127.0.0.1:%d/v3", port);
	char *by_name = cl_aprintf("https://localhost:%d/v3", port);
	char *ca = cl_aprintf("%s/stub-cert.pem", tmp);
	long st = 0;

	stub_env(port, "stub-secret");
	setenv("OS_AUTH_URL", url, 1);
	CHECK_INT(os_cloud_config_load(NULL, environ, &cfg), 0);
	CHECK_INT(os_cloud_open(&c, &cfg, &opts), CL_EUNAVAIL); /* self-signed: not trusted */
	CHECK(has(cl_error_msg(), "identity: POST /auth/tokens: cannot reach https://127.0.0.1:"));
	CHECK(has(cl_error_msg(), "certificate"));
	printf("# no cacert: %s\n", cl_error_msg());
	os_cloud_config_clear(&cfg);

	setenv("OS_CACERT", ca, 1);
	CHECK_INT(os_cloud_config_load(NULL, environ, &cfg), 0);
	CHECK_STR(cfg.cacert, ca);
	CHECK_INT(os_cloud_open(&c, &cfg, &opts), 0);
	if (c) {
		CHECK_INT(os_call(c, "compute", "GET", "/echo", NULL, NULL, &st), 0);
		CHECK_INT(st, 200);
		os_cloud_close(c);
		c = NULL;
	}
	os_cloud_config_clear(&cfg);

	/* A GET refused for its certificate is not tried again: it would not pass. */
	cl_buf log = CL_BUF_INIT;
	c = stub_open(http_port, "stub-secret", &log, 0);
	json_t *conf = json_pack("{s:i}", "tls_port", port);
	CHECK_INT(os_call(c, "stub", "POST", "/config", conf, NULL, &st), 0);
	json_decref(conf);
	os_cloud_close(c);
	c = stub_open(http_port, "stub-secret", &log, 0); /* a catalog with tlscompute */
	int64_t t0 = now_ms();
	CHECK_INT(os_call(c, "tlscompute", "GET", "/echo", NULL, NULL, &st), CL_EUNAVAIL);
	CHECK(now_ms() - t0 < 1000);
	CHECK(has(cl_error_msg(), "tlscompute: GET /echo: cannot reach https://127.0.0.1:"));
	CHECK(has(cl_error_msg(), "certificate"));
	os_cloud_close(c);
	c = NULL;
	cl_buf_free(&log);
	setenv("OS_AUTH_URL", url, 1);
	setenv("OS_CACERT", ca, 1);

	/* The certificate names 127.0.0.1, not localhost: refused even with the CA. */
	setenv("OS_AUTH_URL", by_name, 1);
	CHECK_INT(os_cloud_config_load(NULL, environ, &cfg), 0);
	CHECK_INT(os_cloud_open(&c, &cfg, &opts), CL_EUNAVAIL);
	printf("# wrong name: %s\n", cl_error_msg());
	os_cloud_config_clear(&cfg);
	clear_os_env();
	free(url);
	free(by_name);
	free(ca);
}

/* ------------------------------------------------------------------ a real cloud */

static void test_live(void)
{
	os_cloud_config cfg, bad, ac = {0};
	os_cloud *c = NULL, *c2 = NULL;
	cl_buf log = CL_BUF_INIT;
	os_open_opts opts = {.log = log_line, .log_arg = &log};
	json_t *j = NULL, *body = NULL;
	char *user_path = NULL, *ac_path = NULL, *msg = NULL;
	long st = 0;
	int rc;

	rc = os_cloud_config_load(NULL, environ, &cfg);
	CHECK_INT(rc, 0);
	if (rc < 0) {
		printf("# live: %s\n", cl_error_msg());
		return;
	}
	int64_t t0 = now_ms();
	rc = os_cloud_open(&c, &cfg, &opts);
	CHECK_INT(rc, 0);
	if (rc < 0) {
		printf("# live: %s\n", cl_error_msg());
		goto out;
	}
	printf("# live: token and catalog in %lld ms\n", (long long)(now_ms() - t0));
	const char *types[] = {"compute", "network", "image", "identity"};
	for (size_t i = 0; i < 4; i++) {
		const char *ep = os_endpoint(c, types[i]);
		CHECK(ep != NULL);
		printf("# live: %s at %s\n", types[i], ep ? ep : "(none)");
	}
	const char *gets[][3] = {{"compute", "/servers/detail", "servers"},
				 {"network", "/v2.0/networks", "networks"},
				 {"image", "/v2/images", "images"}};
	for (size_t i = 0; i < 3; i++) {
		CHECK_INT(os_call(c, gets[i][0], "GET", gets[i][1], NULL, &j, &st), 0);
		CHECK_INT(st, 200);
		CHECK(json_is_array(json_object_get(j, gets[i][2])));
		printf("# live: %s GET %s: %zu %s\n", gets[i][0], gets[i][1],
		       json_array_size(json_object_get(j, gets[i][2])), gets[i][2]);
		json_decref(j);
	}
	/* A missing server: Nova's own message. */
	rc = get_err(c, "/servers/00000000-0000-0000-0000-000000000000", &st, &msg);
	CHECK_INT(rc, CL_ENOTFOUND);
	CHECK_INT(st, 404);
	CHECK(has(msg, "compute: GET /servers/00000000-0000-0000-0000-000000000000: HTTP 404: "));
	CHECK(has(msg, "could not be found"));
	printf("# live: %s\n", msg);
	free(msg);
	msg = NULL;
	/* Glance's text error. */
	rc = os_call(c, "image", "GET", "/v2/images/00000000-0000-0000-0000-000000000000", NULL, &j,
		     &st);
	CHECK_INT(rc, CL_ENOTFOUND);
	printf("# live: %s\n", cl_error_msg());
	CHECK(!has(cl_error_msg(), "<"));
	CHECK(has(cl_error_msg(),
		  "HTTP 404: No image found with ID 00000000-0000-0000-0000-000000000000"));
	json_decref(j);
	rc = os_call(c, "network", "GET", "/v2.0/networks/00000000-0000-0000-0000-000000000000",
		     NULL, NULL, &st);
	CHECK_INT(rc, CL_ENOTFOUND);
	CHECK(has(cl_error_msg(), "could not be found"));
	printf("# live: %s\n", cl_error_msg());

	/* A wrong password: identity, 401, and neither password in the message. */
	bad = cfg;
	bad.password = "classlab-wrong-pw-0815";
	c2 = NULL;
	rc = os_cloud_open(&c2, &bad, &opts);
	CHECK_INT(rc, CL_EFAIL);
	CHECK(has(cl_error_msg(), "identity") && has(cl_error_msg(), "HTTP 401"));
	CHECK(!has(cl_error_msg(), bad.password) && !has(cl_error_msg(), cfg.password));
	printf("# live: wrong password: %s\n", cl_error_msg());
	os_cloud_close(c2);
	c2 = NULL;

	/* One application credential for our user, used, then deleted. */
	char *q = os_escape(cfg.username ? cfg.username : "admin");
	char *users = cl_aprintf("/users?name=%s", q);
	free(q);
	CHECK_INT(os_call(c, "identity", "GET", users, NULL, &j, &st), 0);
	free(users);
	const char *uid = json_string_value(
	    json_object_get(json_array_get(json_object_get(j, "users"), 0), "id"));
	CHECK(uid != NULL);
	if (!uid) {
		json_decref(j);
		goto out;
	}
	user_path = cl_aprintf("/users/%s/application_credentials", uid);
	json_decref(j);
	char *name = cl_aprintf("classlab-unit-%ld-%ld", (long)getpid(), (long)time(NULL));
	char *expires = cl_format_time((int64_t)time(NULL) + 900); /* gone by itself if we crash */
	body = json_pack("{s:{s:s,s:s,s:s}}", "application_credential", "name", name, "description",
			 "classlab unit test; deleted at its end", "expires_at", expires);
	free(name);
	free(expires);
	rc = os_call(c, "identity", "POST", user_path, body, &j, &st);
	json_decref(body);
	CHECK_INT(rc, 0);
	CHECK_INT(st, 201);
	if (rc < 0) {
		printf("# live: %s\n", cl_error_msg());
		json_decref(j);
		goto out;
	}
	json_t *acj = json_object_get(j, "application_credential");
	ac.name = cl_strdup("");
	ac.source = cl_strdup("test");
	ac.auth_type = cl_strdup("v3applicationcredential");
	ac.auth_url = cl_strdup(cfg.auth_url);
	ac.interface = cl_strdup(cfg.interface);
	ac.region_name = cfg.region_name ? cl_strdup(cfg.region_name) : NULL;
	ac.application_credential_id = cl_strdup(json_string_value(json_object_get(acj, "id")));
	ac.application_credential_secret =
	    cl_strdup(json_string_value(json_object_get(acj, "secret")));
	json_decref(j);
	ac_path = cl_aprintf("%s/%s", user_path, ac.application_credential_id);
	rc = os_cloud_open(&c2, &ac, &opts);
	CHECK_INT(rc, 0);
	if (rc == 0) {
		CHECK_INT(os_call(c2, "compute", "GET", "/servers/detail", NULL, NULL, &st), 0);
		CHECK_INT(st, 200);
		CHECK_INT(os_call(c2, "network", "GET", "/v2.0/networks", NULL, NULL, &st), 0);
		CHECK_INT(st, 200);
	} else {
		printf("# live: application credential: %s\n", cl_error_msg());
	}
	os_cloud_close(c2);
	c2 = NULL;
	CHECK_INT(os_call(c, "identity", "DELETE", ac_path, NULL, NULL, &st), 0);
	CHECK_INT(st, 204);
	CHECK_INT(os_call(c, "identity", "GET", ac_path, NULL, NULL, &st), CL_ENOTFOUND);
	/* The deleted credential no longer opens. */
	CHECK_INT(os_cloud_open(&c2, &ac, &opts), CL_EFAIL);
	CHECK(has(cl_error_msg(), "identity: POST /auth/tokens: HTTP 40")); /* 404: unknown */
	printf("# live: deleted application credential: %s\n", cl_error_msg());
	CHECK(!has(cl_error_msg(), ac.application_credential_secret));
	os_cloud_close(c2);
	c2 = NULL;

	/* -v never shows a secret. */
	CHECK(!has(cl_buf_str(&log), cfg.password));
	CHECK(!has(cl_buf_str(&log), ac.application_credential_secret));
	CHECK(has(cl_buf_str(&log), "compute GET /servers/detail 200 "));
	printf("# live log:\n");
	for (const char *p = cl_buf_str(&log); *p;) {
		size_t n = strcspn(p, "\n");
		printf("#   %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
out:
	os_cloud_close(c2);
	os_cloud_close(c);
	os_cloud_config_clear(&ac);
	os_cloud_config_clear(&cfg);
	free(user_path);
	free(ac_path);
	cl_buf_free(&log);
}

int main(void)
{
	char tmpl[] = "/tmp/cl-osclient-XXXXXX";
	char *tmp = mkdtemp(tmpl);
	CHECK(tmp != NULL);
	if (!tmp)
		return tap_done();

	const char *live = getenv("CLASSLAB_TEST_OS_LIVE");
	if (live && strcmp(live, "1") == 0)
		test_live(); /* first: it reads the OS_* variables the others clear */
	else
		skip("live cloud",
		     "CLASSLAB_TEST_OS_LIVE=1 and a cloud's OS_* variables not given");

	test_config(tmp);

	pid_t pid = 0, tls_pid = 0;
	int port = stub_start(&pid, NULL);
	int tls_port = port > 0 ? stub_start(&tls_pid, tmp) : 0;
	if (port > 0)
		test_stub(port, tmp);
	else
		skip("retries, renewal and messages against the stub",
		     "python3 cannot run the stub");
	if (tls_port > 0)
		test_tls(tls_port, port, tmp);
	else
		skip("TLS against the stub", "python3 or openssl cannot run the stub with TLS");
	stub_stop(tls_pid);
	stub_stop(pid);

	char *cmd[] = {"rm", "-rf", tmp, NULL};
	pid = fork();
	if (pid == 0) {
		execvp(cmd[0], cmd);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
	return tap_done();
}
