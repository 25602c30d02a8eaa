/*
 * The HTTP side of an OpenStack cloud: a Keystone v3 token and its service
 * catalog, and calls over one reused libcurl handle with timeouts, bounded
 * retries and errors that carry the cloud's own message. The token lives only
 * here, in memory, and is wiped when replaced or closed.
 */
#include "os_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include "classlab/banned.h"
#include "classlab/cl_util.h"

enum {
	TRIES_MAX = 5,		/* tries of one call in all, first included */
	RETRY_AFTER_MAX_S = 30, /* a longer Retry-After is cut to this */
	CONNECT_TIMEOUT_S = 10,
	DEFAULT_TIMEOUT_S = 60,
	UPLOAD_TIMEOUT_S = 30 * 60,
	RENEW_MARGIN_S = 60, /* a token closer than this to its end is renewed first */
	CLOUD_MESSAGE_MAX = 300,
};
#define ANSWER_MAX ((size_t)64 << 20)
#define COMPUTE_API_VERSION "OpenStack-API-Version: compute 2.72"

typedef struct os_ep {
	char *type;
	char *url; /* no trailing '/' */
} os_ep;

struct os_cloud {
	os_cloud_config cfg; /* our own copy: the secrets renew the token */
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	char *token;	    /* wiped when replaced */
	int64_t expires_at; /* Unix seconds; 0: unknown */
	os_ep *eps;
	size_t n_eps;
	os_log_fn log;
	void *log_arg;
	int timeout_s;
	/* the answer being read */
	cl_buf answer;
	bool answer_too_big;
	char *subject_token;
	long retry_after; /* seconds; -1: none */
	bool transient;	  /* the last transport error may pass (not a refused certificate) */
};

/* One request. base is resolved on each try: a renewed token brings a new catalog. */
typedef struct os_req {
	const char *service;
	const char *method;
	const char *path;
	const char *body; /* JSON text or NULL */
	size_t body_len;
	FILE *upload; /* the body from a file instead */
	curl_off_t upload_size;
	bool auth;  /* the token request itself: Keystone at auth_url, no X-Auth-Token */
	bool retry; /* 409/429/503 and (for GET) transport errors are retried */
	long timeout_s;
} os_req;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static char *dup_or_null(const char *s)
{
	return s ? cl_strdup(s) : NULL;
}

static void config_copy(os_cloud_config *d, const os_cloud_config *s)
{
#define C(m) d->m = dup_or_null(s->m)
	C(name);
	C(source);
	C(auth_type);
	C(auth_url);
	C(username);
	C(user_id);
	C(password);
	C(user_domain_name);
	C(user_domain_id);
	C(project_name);
	C(project_id);
	C(project_domain_name);
	C(project_domain_id);
	C(application_credential_id);
	C(application_credential_name);
	C(application_credential_secret);
	C(region_name);
	C(interface);
	C(cacert);
#undef C
}

/*
 * The defaults os_cloud_config_load gives, for settings built by hand, and what
 * Keystone needs; os_cloud_config_load has already said which is missing where.
 */
static int config_complete(os_cloud_config *k)
{
	bool app;

	if (!k->auth_type)
		k->auth_type = cl_strdup("password");
	if (!k->interface)
		k->interface = cl_strdup("public");
	app = strcmp(k->auth_type, "v3applicationcredential") == 0;
	if (!k->user_domain_name && !k->user_domain_id)
		k->user_domain_name = cl_strdup("Default");
	if (!k->project_domain_name && !k->project_domain_id)
		k->project_domain_name = cl_strdup("Default");
	if (!k->auth_url || (!app && strcmp(k->auth_type, "password") != 0) ||
	    (app ? !k->application_credential_secret ||
		       (!k->application_credential_id &&
			(!k->application_credential_name || (!k->username && !k->user_id)))
		 : (!k->username && !k->user_id) || !k->password ||
		       (!k->project_name && !k->project_id)))
		return cl_error_set(CL_EINVAL,
				    "cloud '%s': incomplete settings (auth_url, auth "
				    "type and credentials; see os_cloud_config_load)",
				    k->name ? k->name : "");
	return 0;
}

static void eps_free(os_cloud *c)
{
	for (size_t i = 0; i < c->n_eps; i++) {
		free(c->eps[i].type);
		free(c->eps[i].url);
	}
	free(c->eps);
	c->eps = NULL;
	c->n_eps = 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_s(long s)
{
	struct timespec ts = {.tv_sec = s, .tv_nsec = 0};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Keystone's "2026-11-30T04:00:00.000000Z" (or "+hh:mm") to Unix seconds; 0 if unreadable. */
static int64_t parse_expiry(const char *s)
{
	int y, mo, d, h, mi, sec;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
		return 0;
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = sec};
	int64_t t = (int64_t)timegm(&tm);
	const char *p = s + 19;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	int oh, om;
	if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
		t -= (*p == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
	return t;
}

static size_t path_len(const char *path)
{
	return strcspn(path, "?");
}

/* ------------------------------------------------------------------ the cloud's message */

/* Whether s[i] opens an HTML tag ("<br />", "</p>"), and where it ends. */
static bool tag_at(const char *s, size_t n, size_t i, size_t *end)
{
	if (s[i] != '<' || i + 1 >= n ||
	    !(s[i + 1] == '/' || (s[i + 1] >= 'a' && s[i + 1] <= 'z') ||
	      (s[i + 1] >= 'A' && s[i + 1] <= 'Z')))
		return false;
	for (size_t j = i + 1; j < n && s[j] != '<'; j++)
		if (s[j] == '>') {
			*end = j;
			return true;
		}
	return false;
}

/*
 * Appends text to b as one line: tags dropped (Glance puts "<br />" even in its
 * JSON), control bytes become spaces, runs of space one.
 */
static void put_line(cl_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t end;
		if (tag_at(s, n, i, &end)) {
			i = end;
			if (b->len == 0 || b->data[b->len - 1] != ' ')
				cl_buf_putc(b, ' ');
			continue;
		}
		char ch = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
		if (ch == ' ' && (b->len == 0 || b->data[b->len - 1] == ' '))
			continue;
		cl_buf_putc(b, ch);
	}
}

/* Cuts b to at most max bytes on a UTF-8 boundary and trims trailing spaces. */
static void cut(cl_buf *b, size_t max)
{
	if (b->len > max) {
		size_t n = max;
		while (n > 0 && ((unsigned char)b->data[n] & 0xc0) == 0x80)
			n--;
		b->len = n;
		b->data[n] = '\0';
	}
	while (b->len > 0 && b->data[b->len - 1] == ' ')
		b->data[--b->len] = '\0';
}

/* A text or HTML answer (Glance, a proxy): its lines without tags or the status title. */
static void text_message(cl_buf *msg, const char *s, size_t n, long status)
{
	cl_buf plain = CL_BUF_INIT;
	bool html = false;
	for (size_t i = 0; i < n && !html; i++)
		if (s[i] == '<')
			html = true;
		else if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			break;
	if (html) {
		bool in_tag = false;
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '<')
				in_tag = true;
			else if (s[i] == '>')
				in_tag = false;
			else if (!in_tag)
				cl_buf_putc(&plain, s[i]);
		}
	} else {
		cl_buf_add(&plain, s, n);
	}
	char title[16];
	snprintf(title, sizeof(title), "%ld ", status);
	const char *p = cl_buf_str(&plain), *first = NULL;
	size_t first_len = 0;
	while (*p) {
		size_t len = strcspn(p, "\n");
		const char *q = p;
		size_t ql = len;
		while (ql > 0 && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++, ql--;
		while (ql > 0 && (q[ql - 1] == ' ' || q[ql - 1] == '\t' || q[ql - 1] == '\r'))
			ql--;
		if (ql > 0) {
			if (!first)
				first = q, first_len = ql;
			/* "404 Not Found" repeats what the status says; keep the rest. */
			bool is_title =
			    ql >= strlen(title) && strncmp(q, title, strlen(title)) == 0;
			if (!is_title || !html) {
				if (msg->len)
					cl_buf_putc(msg, ' ');
				put_line(msg, q, ql);
				if (!html)
					break; /* plain text: its first line */
			}
		}
		p += len + (p[len] == '\n');
	}
	if (msg->len == 0 && first)
		put_line(msg, first, first_len);
	cl_buf_free(&plain);
}

/* The cloud's message in an error answer, one line of at most 300 bytes (caller frees). */
static char *cloud_message(const char *s, size_t n, long status)
{
	cl_buf msg = CL_BUF_INIT;
	json_t *j = n ? json_loadb(s, n, 0, NULL) : NULL;
	const char *m = NULL;

	if (json_is_object(j)) {
		/* {"message"}, Keystone's {"error":{...}}, {"NeutronError":{...}}, Nova's
		 * {"itemNotFound":{...}} and its kin: a "message" at the top or one below. */
		m = json_string_value(json_object_get(j, "message"));
		const char *key;
		json_t *v;
		json_object_foreach(j, key, v)
		{
			if (m)
				break;
			m = json_string_value(json_object_get(v, "message"));
		}
	}
	if (m)
		put_line(&msg, m, strlen(m));
	else if (n)
		text_message(&msg, s, n, status);
	json_decref(j);
	cut(&msg, CLOUD_MESSAGE_MAX);
	if (msg.len == 0)
		cl_buf_puts(&msg, "(no message)");
	return cl_buf_detach(&msg);
}

static int status_code(long st)
{
	switch (st) {
	case 400:
		return CL_EINVAL;
	case 404:
		return CL_ENOTFOUND;
	case 409:
		return CL_EEXIST;
	case 502:
	case 503:
	case 504:
		return CL_EUNAVAIL;
	default:
		return CL_EFAIL;
	}
}

static int http_error(os_cloud *c, const os_req *r, long st)
{
	char *m = cloud_message(cl_buf_str(&c->answer), c->answer.len, st);
	int rc = cl_error_set(status_code(st), "%s: %s %.*s: HTTP %ld: %s", r->service, r->method,
			      (int)path_len(r->path), r->path, st, m);
	free(m);
	return rc;
}

/* ------------------------------------------------------------------ one try */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	os_cloud *c = arg;
	size_t len = size * n;
	if (c->answer.len + len > ANSWER_MAX) {
		c->answer_too_big = true;
		return 0;
	}
	cl_buf_add(&c->answer, data, len);
	return len;
}

static bool header_is(const char *line, size_t n, const char *name, const char **value,
		      size_t *value_len)
{
	size_t nl = strlen(name);
	if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return false;
	const char *v = line + nl + 1, *end = line + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	*value = v;
	*value_len = (size_t)(end - v);
	return true;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	os_cloud *c = arg;
	size_t len = size * n;
	const char *v;
	size_t vl;

	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) { /* a new answer (after a 100) */
		c->retry_after = -1;
		wipe_free(c->subject_token);
		c->subject_token = NULL;
	} else if (header_is(line, len, "X-Subject-Token", &v, &vl)) {
		wipe_free(c->subject_token);
		c->subject_token = cl_strndup(v, vl);
	} else if (header_is(line, len, "Retry-After", &v, &vl)) {
		/* The seconds form; an HTTP date falls back to our own back-off. */
		long s = 0;
		size_t i = 0;
		for (; i < vl && v[i] >= '0' && v[i] <= '9' && s <= RETRY_AFTER_MAX_S; i++)
			s = s * 10 + (v[i] - '0');
		if (vl > 0 && (i == vl || s > RETRY_AFTER_MAX_S))
			c->retry_after = s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s;
	}
	return len;
}

static const char *endpoint_of(os_cloud *c, const os_req *r)
{
	return r->auth ? c->cfg.auth_url : os_endpoint(c, r->service);
}

/*
 * Sends r once. 0 when an HTTP answer came (any status, in *status and
 * c->answer); CL_EUNAVAIL for a transport failure (refused, timeout, TLS).
 */
static int perform(os_cloud *c, const os_req *r, long *status)
{
	struct curl_slist *hdrs = NULL;
	char *url = NULL, *auth_hdr = NULL;
	const char *base;
	CURLcode cc;
	int rc = 0;

	*status = 0;
	base = endpoint_of(c, r);
	if (!base) {
		rc = cl_error_code();
		goto out;
	}
	url = cl_aprintf("%s%s", base, r->path);

	curl_easy_reset(c->curl); /* keeps the live connection */
	c->errbuf[0] = '\0';
	if (c->answer.data) /* the last answer may have carried a secret */
		explicit_bzero(c->answer.data, c->answer.len);
	cl_buf_reset(&c->answer);
	c->answer_too_big = false;
	c->retry_after = -1;
	wipe_free(c->subject_token);
	c->subject_token = NULL;

	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (r->body)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (r->upload)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	if (strcmp(r->service, "compute") == 0)
		hdrs = curl_slist_append(hdrs, COMPUTE_API_VERSION);
	if (!r->auth) {
		auth_hdr = cl_aprintf("X-Auth-Token: %s", c->token ? c->token : "");
		hdrs = curl_slist_append(hdrs, auth_hdr);
	}
	if (!hdrs)
		abort(); /* allocation failure, as cl_malloc */

	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, r->timeout_s);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(c->curl, CURLOPT_REDIR_PROTOCOLS,
			 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	/* A 3xx is an error, never followed (to another host, with the token). */
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->cfg.cacert)
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->cfg.cacert);
	curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "classlab/" CL_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, c);

	if (r->upload) {
		rewind(r->upload); /* a call repeated after a 401 sends the file again */
		curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c->curl, CURLOPT_READDATA, r->upload);
		curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, r->upload_size);
		if (strcmp(r->method, "PUT") != 0)
			curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, r->method);
	} else if (strcmp(r->method, "GET") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	} else {
		if (r->body || strcmp(r->method, "DELETE") != 0) {
			curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, r->body ? r->body : "");
			curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)(r->body ? r->body_len : 0));
		}
		if (strcmp(r->method, "POST") != 0)
			curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, r->method);
	}

	int64_t t0 = mono_ms();
	cc = curl_easy_perform(c->curl);
	int64_t ms = mono_ms() - t0;
	const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);

	if (c->log) {
		char *line = cc == CURLE_OK ? cl_aprintf("%s %s %s %ld %lld ms", r->service,
							 r->method, r->path, *status, (long long)ms)
					    : cl_aprintf("%s %s %s failed %lld ms: %s", r->service,
							 r->method, r->path, (long long)ms, why);
		c->log(c->log_arg, line);
		free(line);
	}
	if (cc == CURLE_WRITE_ERROR && c->answer_too_big) {
		rc = cl_error_set(CL_EFAIL, "%s: %s %.*s: the answer is larger than %zu MiB",
				  r->service, r->method, (int)path_len(r->path), r->path,
				  ANSWER_MAX >> 20);
	} else if (cc != CURLE_OK) {
		c->transient = cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT ||
			       cc == CURLE_GOT_NOTHING || cc == CURLE_SEND_ERROR ||
			       cc == CURLE_RECV_ERROR || cc == CURLE_PARTIAL_FILE ||
			       cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_SSL_CONNECT_ERROR;
		rc = cl_error_set(CL_EUNAVAIL, "%s: %s %.*s: cannot reach %s: %s", r->service,
				  r->method, (int)path_len(r->path), r->path, base, why);
	}
out:
	/* curl_slist_append copied the header: wipe that copy of the token too. */
	for (struct curl_slist *h = hdrs; h; h = h->next)
		if (strncmp(h->data, "X-Auth-Token:", 13) == 0)
			explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(hdrs);
	wipe_free(auth_hdr);
	free(url);
	return rc;
}

static int authenticate(os_cloud *c);

static bool token_expiring(const os_cloud *c)
{
	return c->expires_at != 0 && (int64_t)time(NULL) + RENEW_MARGIN_S >= c->expires_at;
}

/*
 * r with the retries: a token about to expire is renewed first; a 401 renews it
 * once and repeats the call (one send more than TRIES_MAX at worst); 409/429/503
 * (and for GET, transport errors that may pass) are tried again after
 * Retry-After or 1, 2, 4, 8 s, at most TRIES_MAX tries in all.
 */
static int request(os_cloud *c, const os_req *r, long *status)
{
	bool renewed = false;
	bool idempotent = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
	int rc;

	for (int try = 1;; try++) {
		if (!r->auth && token_expiring(c) && (rc = authenticate(c)) < 0)
			return rc;
		rc = perform(c, r, status);
		if (rc < 0) {
			if (rc == CL_EUNAVAIL && c->transient && r->retry && idempotent &&
			    try < TRIES_MAX) {
				sleep_s(1L << (try - 1));
				continue;
			}
			return rc;
		}
		if (*status == 401 && !r->auth && !renewed) {
			renewed = true;
			if ((rc = authenticate(c)) < 0)
				return rc;
			continue;
		}
		if ((*status == 409 || *status == 429 || *status == 503) && r->retry &&
		    try < TRIES_MAX) {
			sleep_s(c->retry_after >= 0 ? c->retry_after : 1L << (try - 1));
			continue;
		}
		return 0;
	}
}

/* ------------------------------------------------------------------ Keystone */

static json_t *auth_body(const os_cloud_config *k)
{
	json_t *ident = json_object(), *user = NULL, *domain = NULL;

	if (k->user_domain_id)
		domain = json_pack("{s:s}", "id", k->user_domain_id);
	else if (k->user_domain_name)
		domain = json_pack("{s:s}", "name", k->user_domain_name);
	if (k->user_id || k->username) {
		user = k->user_id ? json_pack("{s:s}", "id", k->user_id)
				  : json_pack("{s:s}", "name", k->username);
		if (!k->user_id && domain)
			json_object_set(user, "domain", domain);
	}
	json_decref(domain);

	json_t *auth = json_pack("{s:o}", "identity", ident);
	if (strcmp(k->auth_type, "v3applicationcredential") == 0) {
		json_t *ac = json_pack("{s:s}", "secret", k->application_credential_secret);
		if (k->application_credential_id) {
			json_object_set_new(ac, "id", json_string(k->application_credential_id));
		} else {
			json_object_set_new(ac, "name",
					    json_string(k->application_credential_name));
			json_object_set(ac, "user", user);
		}
		json_object_set_new(ident, "methods", json_pack("[s]", "application_credential"));
		json_object_set_new(ident, "application_credential", ac);
		/* An application credential carries its own project: no scope. */
	} else {
		json_object_set_new(user, "password", json_string(k->password));
		json_object_set_new(ident, "methods", json_pack("[s]", "password"));
		json_object_set_new(ident, "password", json_pack("{s:O}", "user", user));
		json_t *project;
		if (k->project_id) {
			project = json_pack("{s:s}", "id", k->project_id);
		} else {
			project = json_pack("{s:s}", "name", k->project_name);
			json_object_set_new(
			    project, "domain",
			    k->project_domain_id
				? json_pack("{s:s}", "id", k->project_domain_id)
				: json_pack("{s:s}", "name", k->project_domain_name));
		}
		json_object_set_new(auth, "scope", json_pack("{s:o}", "project", project));
	}
	json_decref(user);
	return json_pack("{s:o}", "auth", auth);
}

/* Overwrites the secrets inside the auth body before jansson frees it. */
static void auth_body_wipe(json_t *body)
{
	json_t *ident = json_object_get(json_object_get(body, "auth"), "identity");
	json_t *secrets[] = {
	    json_object_get(json_object_get(json_object_get(ident, "password"), "user"),
			    "password"),
	    json_object_get(json_object_get(ident, "application_credential"), "secret"),
	};
	for (size_t i = 0; i < 2; i++)
		if (json_is_string(secrets[i]))
			explicit_bzero((char *)json_string_value(secrets[i]),
				       json_string_length(secrets[i]));
}

/* The catalog's endpoint per service type for our region and interface. */
static void read_catalog(os_cloud *c, json_t *catalog)
{
	size_t i, j;
	json_t *svc, *ep;

	eps_free(c);
	json_array_foreach(catalog, i, svc)
	{
		const char *type = json_string_value(json_object_get(svc, "type"));
		if (!type)
			continue;
		json_array_foreach(json_object_get(svc, "endpoints"), j, ep)
		{
			const char *iface = json_string_value(json_object_get(ep, "interface"));
			const char *region = json_string_value(json_object_get(ep, "region"));
			const char *region_id = json_string_value(json_object_get(ep, "region_id"));
			const char *url = json_string_value(json_object_get(ep, "url"));
			if (!url || !iface || strcmp(iface, c->cfg.interface) != 0)
				continue;
			if (c->cfg.region_name &&
			    !(region && strcmp(region, c->cfg.region_name) == 0) &&
			    !(region_id && strcmp(region_id, c->cfg.region_name) == 0))
				continue;
			c->eps = cl_realloc(c->eps, (c->n_eps + 1) * sizeof(*c->eps));
			c->eps[c->n_eps].type = cl_strdup(type);
			char *u = cl_strdup(url);
			size_t ul = strlen(u);
			while (ul > 0 && u[ul - 1] == '/')
				u[--ul] = '\0';
			c->eps[c->n_eps].url = u;
			c->n_eps++;
			break; /* the first that fits */
		}
	}
}

/* POST /v3/auth/tokens: a new token, its end and the catalog. */
static int authenticate(os_cloud *c)
{
	json_t *body = auth_body(&c->cfg), *answer = NULL;
	char *text = json_dumps(body, JSON_COMPACT);
	os_req r = {.service = "identity",
		    .method = "POST",
		    .path = "/auth/tokens",
		    .body = text,
		    .body_len = text ? strlen(text) : 0,
		    .auth = true,
		    .retry = true,
		    .timeout_s = c->timeout_s};
	long st = 0;
	int rc;

	auth_body_wipe(body);
	json_decref(body);
	if (!text)
		abort();
	rc = request(c, &r, &st);
	explicit_bzero(text, strlen(text));
	free(text);
	if (rc < 0)
		goto out;
	if (st < 200 || st > 299) {
		rc = http_error(c, &r, st);
		if (rc == CL_ENOTFOUND) {
			/* Keystone's 404 is an unknown application credential: wrong
			 * credentials, as a 401, not a missing object of the caller's. */
			char *m = cl_strdup(cl_error_msg());
			rc = cl_error_set(CL_EFAIL, "%s", m);
			free(m);
		}
		goto out;
	}
	if (!c->subject_token || !*c->subject_token) {
		rc = cl_error_set(CL_EFAIL,
				  "identity: POST /auth/tokens: HTTP %ld without a token "
				  "(no X-Subject-Token)",
				  st);
		goto out;
	}
	json_error_t jerr;
	answer = json_loadb(cl_buf_str(&c->answer), c->answer.len, 0, &jerr);
	json_t *token = json_object_get(answer, "token");
	if (!json_is_object(token)) {
		rc = cl_error_set(CL_EFAIL,
				  "identity: POST /auth/tokens: HTTP %ld: the answer has "
				  "no token object%s%s",
				  st, answer ? "" : ": ", answer ? "" : jerr.text);
		goto out;
	}
	wipe_free(c->token);
	c->token = c->subject_token;
	c->subject_token = NULL;
	c->expires_at = parse_expiry(json_string_value(json_object_get(token, "expires_at")));
	read_catalog(c, json_object_get(token, "catalog"));
out:
	json_decref(answer);
	return rc;
}

/* ------------------------------------------------------------------ the API */

int os_cloud_open(os_cloud **out, const os_cloud_config *cfg, const os_open_opts *opts)
{
	os_cloud *c = NULL;
	int rc;

	*out = NULL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return cl_error_set(CL_EFAIL, "cannot start libcurl: %s",
				    curl_easy_strerror(curl_init_rc));
	c = cl_calloc(1, sizeof(*c));
	config_copy(&c->cfg, cfg);
	if ((rc = config_complete(&c->cfg)) < 0)
		goto out;
	c->timeout_s = opts && opts->timeout_s > 0 ? opts->timeout_s : DEFAULT_TIMEOUT_S;
	c->log = opts ? opts->log : NULL;
	c->log_arg = opts ? opts->log_arg : NULL;
	c->retry_after = -1;
	c->curl = curl_easy_init();
	if (!c->curl) {
		rc = cl_error_set(CL_EFAIL, "cannot start libcurl");
		goto out;
	}
	rc = authenticate(c);
out:
	if (rc < 0)
		os_cloud_close(c);
	else
		*out = c;
	return rc;
}

void os_cloud_close(os_cloud *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	wipe_free(c->token);
	wipe_free(c->subject_token);
	if (c->answer.data)
		explicit_bzero(c->answer.data, c->answer.cap);
	cl_buf_free(&c->answer);
	eps_free(c);
	os_cloud_config_clear(&c->cfg);
	free(c);
}

const char *os_endpoint(os_cloud *c, const char *service)
{
	for (size_t i = 0; i < c->n_eps; i++)
		if (strcmp(c->eps[i].type, service) == 0)
			return c->eps[i].url;
	if (strcmp(service, "identity") == 0)
		return c->cfg.auth_url;
	cl_error_set(CL_ENOTFOUND, "%s: the cloud's catalog has no %s endpoint%s%s", service,
		     c->cfg.interface, c->cfg.region_name ? " in region " : "",
		     c->cfg.region_name ? c->cfg.region_name : "");
	return NULL;
}

const char *os_cloud_name(os_cloud *c)
{
	return c->cfg.name ? c->cfg.name : "";
}

int os_call(os_cloud *c, const char *service, const char *method, const char *path, json_t *body,
	    json_t **reply, long *status)
{
	char *text = NULL;
	long st = 0;
	int rc;

	if (reply)
		*reply = NULL;
	if (status)
		*status = 0;
	if (path[0] != '/')
		return cl_error_set(CL_EINVAL, "%s: %s '%s': the path must start with '/'", service,
				    method, path);
	if (body && !(text = json_dumps(body, JSON_COMPACT)))
		return cl_error_set(CL_EINVAL, "%s: %s %.*s: the body cannot be written as JSON",
				    service, method, (int)path_len(path), path);
	os_req r = {.service = service,
		    .method = method,
		    .path = path,
		    .body = text,
		    .body_len = text ? strlen(text) : 0,
		    .retry = true,
		    .timeout_s = c->timeout_s};
	rc = request(c, &r, &st);
	if (text) { /* it may carry a secret (a new user's password) */
		explicit_bzero(text, strlen(text));
		free(text);
	}
	if (rc < 0)
		return rc;
	if (status)
		*status = st;
	json_error_t jerr;
	json_t *j = NULL;
	if (reply && c->answer.len > 0)
		j = json_loadb(cl_buf_str(&c->answer), c->answer.len, 0, &jerr);
	if (st < 200 || st > 299) {
		rc = http_error(c, &r, st);
	} else if (reply && c->answer.len > 0 && !j) {
		rc = cl_error_set(CL_EFAIL, "%s: %s %.*s: HTTP %ld: the answer is not JSON: %s",
				  service, method, (int)path_len(path), path, st, jerr.text);
	}
	if (reply)
		*reply = j;
	return rc;
}

int os_upload(os_cloud *c, const char *service, const char *method, const char *path,
	      const char *file)
{
	FILE *f = fopen(file, "rb");
	struct stat sb;
	os_req r = {.service = service,
		    .method = method,
		    .path = path,
		    .upload = f,
		    .retry = false,
		    .timeout_s = UPLOAD_TIMEOUT_S};
	long st = 0;
	int rc;

	if (path[0] != '/') {
		rc = cl_error_set(CL_EINVAL, "%s: %s '%s': the path must start with '/'", service,
				  method, path);
		goto out;
	}
	if (!f)
		return cl_error_set(CL_EINVAL, "cannot open '%s': %s", file, strerror(errno));
	if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = cl_error_set(CL_EINVAL, "'%s' is not a regular file", file);
		goto out;
	}
	r.upload_size = (curl_off_t)sb.st_size;
	rc = request(c, &r, &st);
	if (rc == 0 && (st < 200 || st > 299))
		rc = http_error(c, &r, st);
out:
	if (f)
		fclose(f);
	return rc;
}

char *os_escape(const char *s)
{
	pthread_once(&curl_once, curl_init);
	char *e = curl_easy_escape(NULL, s, 0);
	if (!e)
		abort();
	char *copy = cl_strdup(e);
	curl_free(e);
	return copy;
}
