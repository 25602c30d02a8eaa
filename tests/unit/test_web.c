/*
 * The web page's rules without HTTP: one-time links (hash only, one use, replaced,
 * revoked), sessions that expire on the handle's clock, who sees what, CSRF on POSTs,
 * the guess limit, form decoding and the route table's refusals.
 */
#include "classlab/cl_web.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_students.h"
#include "../../web/web_impl.h"
#include "tap.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t clock_now = 1800000000;
static int64_t test_now(void *arg)
{
	(void)arg;
	return clock_now;
}

static cl_web_response get(cl_web *w, const char *method, const char *path, const char *cookie,
			   const char *body, const char *client)
{
	cl_web_response r;
	cl_web_request rq = {.method = method, .path = path, .cookie = cookie, .body = body,
			     .body_len = body ? strlen(body) : 0, .client = client};
	cl_web_handle(w, &rq, &r);
	return r;
}

static unsigned status(cl_web *w, const char *method, const char *path, const char *cookie,
		       const char *body)
{
	cl_web_response r = get(w, method, path, cookie, body, "192.0.2.1");
	unsigned st = r.status;
	cl_web_response_clear(&r);
	return st;
}

/* Takes a link; the cookie header a browser would send back (new string). */
static char *take(cl_web *w, const char *link, const char *client, unsigned *st)
{
	cl_web_response r = get(w, "GET", strstr(link, "/join/"), NULL, NULL, client);
	char *cookie = NULL;
	*st = r.status;
	if (r.set_cookie)
		cookie = cl_strndup(r.set_cookie, strcspn(r.set_cookie, ";"));
	cl_web_response_clear(&r);
	return cookie;
}

static void test_form(void)
{
	const char *f = "a=1&csrf=ab%2Bc+d&csrfx=2&nul=%00&bad=%zz&empty=";
	char *v;
	CHECK_STR((v = web_form_get(f, strlen(f), "csrf")), "ab+c d");
	free(v);
	CHECK_STR((v = web_form_get(f, strlen(f), "bad")), "%zz");
	free(v);
	CHECK_STR((v = web_form_get(f, strlen(f), "empty")), "");
	free(v);
	CHECK(web_form_get(f, strlen(f), "nul") == NULL);
	CHECK(web_form_get(f, strlen(f), "missing") == NULL);
	CHECK(web_form_get(f, 5, "csrf") == NULL); /* the length bounds the search */
	CHECK(web_form_get(NULL, 0, "csrf") == NULL);
}

/* A WebSocket upgrade on the Jupyter origin: its status, and that no relay came of it. */
static unsigned upgrade(cl_web *w, const char *method, const char *cookie, const char *origin)
{
	cl_web_header h[] = {
	    {"Host", "127.0.0.1:8081"}, {"Upgrade", "websocket"}, {"Origin", origin ? origin : ""}};
	cl_web_request rq = {.method = method,
			     .path = "/api/kernels/k/channels",
			     .cookie = cookie,
			     .client = "192.0.2.1",
			     .headers = h,
			     .nheaders = origin ? 3 : 2};
	cl_web_response r;
	cl_web_ws *ws = (cl_web_ws *)&r; /* must become NULL */
	cl_web_jupyter_upgrade(w, &rq, &r, &ws);
	unsigned st = r.status;
	CHECK(ws == NULL);
	cl_web_response_clear(&r);
	return st;
}

/* The upgrade's checks, before any SSH: the VM-less students here get 502 at most. */
static void test_upgrade_refusals(cl_web *w, const char *ca, const char *cadm)
{
	CHECK_INT(upgrade(w, "GET", NULL, NULL), 403);
	CHECK_INT(upgrade(w, "GET", "classlab_session=0000", NULL), 403);
	CHECK_INT(upgrade(w, "GET", cadm, NULL), 403);		      /* instructors */
	CHECK_INT(upgrade(w, "GET", ca, "http://evil.example"), 403); /* another origin */
	CHECK_INT(upgrade(w, "GET", ca, "http://127.0.0.1:8081.evil.example"), 403);
	CHECK_INT(upgrade(w, "POST", ca, "http://127.0.0.1:8081"), 403);
	CHECK_INT(upgrade(w, "GET", ca, "http://127.0.0.1:8081"), 502); /* no VM: checks passed */
	CHECK_INT(upgrade(w, "GET", ca, NULL), 502);
	cl_web_ws_stop(w, 0);
	CHECK_INT(upgrade(w, "GET", ca, NULL), 503); /* stopping: no new relay */
	w->ws_stop = 0;
}

int main(void)
{
	char dir[] = "/tmp/cl-test-web.XXXXXX";
	cl_ctx *ctx = NULL;
	cl_web *w = NULL;
	cl_lab lab = {.name = "ml", .size = "small", .price_micro = 10000};
	cl_student alice = {.name = "alice", .quota_seconds = CL_QUOTA_DEFAULT};
	cl_student bob = {.name = "bob", .quota_seconds = CL_QUOTA_DEFAULT};
	char *la = NULL, *la2 = NULL, *lb = NULL, *ladm = NULL, *ca, *cb, *cadm;
	unsigned st;

	test_form();
	if (!mkdtemp(dir))
		return 1;
	char *db = cl_aprintf("%s/db", dir), *data = cl_aprintf("%s/data", dir);
	cl_ctx_opts opts = {.db_path = db, .data_dir = data, .now = test_now};
	CHECK_INT(cl_ctx_new(&ctx, &opts), 0);
	if (!ctx)
		return 1;
	CHECK_INT(cl_labs_create(ctx, &lab), 0);
	CHECK_INT(cl_students_add(ctx, "ml", &alice), 0);
	CHECK_INT(cl_students_add(ctx, "ml", &bob), 0);
	CHECK_INT(cl_web_new(&w, ctx), 0);

	/* Links: base URL's slash dropped, 64 hex digits; a new one replaces an unused one. */
	CHECK_INT(cl_invite_issue(ctx, "ml", "alice", "https://lab.example.edu/", &la), 0);
	CHECK(la && strncmp(la, "https://lab.example.edu/join/", 29) == 0 && strlen(la) == 29 + 64);
	CHECK_INT(cl_invite_issue(ctx, "ml", "alice", "http://x", &la2), 0);
	CHECK_INT(cl_invite_issue(ctx, "ml", "bob", "http://x", &lb), 0);
	CHECK_INT(cl_invite_issue(ctx, NULL, NULL, "http://x", &ladm), 0);
	CHECK_INT(cl_invite_issue(ctx, "ml", "carol", "http://x", &(char *){NULL}), CL_ENOTFOUND);
	/* The store keeps the SHA-256: the token's bytes do not find the row, its hash does. */
	{
		unsigned char h[32];
		unsigned int hl = 0;
		const char *tok = strrchr(lb, '/') + 1;
		cl_web_grant g = {0};
		cl_store *store = cl_ctx_store(ctx);
		EVP_Digest(tok, strlen(tok), h, &hl, EVP_sha256(), NULL);
		CHECK_INT(cl_store_begin(store), 0);
		CHECK_INT(cl_store_invite_take(store, (const unsigned char *)tok, clock_now, &g),
			  CL_ENOTFOUND);
		CHECK_INT(cl_store_invite_take(store, h, clock_now, &g), 0);
		CHECK_STR(g.student, "bob");
		CHECK(!g.admin);
		cl_store_rollback(store);
		cl_web_grant_clear(&g);
	}
	ca = take(w, la, "192.0.2.1", &st);
	CHECK_INT(st, 403); /* replaced by la2 */
	CHECK(ca == NULL);
	ca = take(w, la2, "192.0.2.1", &st);
	CHECK_INT(st, 303);
	CHECK(ca && strncmp(ca, "classlab_session=", 17) == 0);
	free(take(w, la2, "192.0.2.1", &st));
	CHECK_INT(st, 403); /* one use */
	cb = take(w, lb, "192.0.2.2", &st);
	CHECK_INT(st, 303);
	cadm = take(w, ladm, "192.0.2.3", &st);
	CHECK_INT(st, 303);

	/* Who sees what. */
	CHECK_INT(status(w, "GET", "/s/ml/alice", ca, NULL), 200);
	CHECK_INT(status(w, "GET", "/s/ml/alice", cb, NULL), 403);
	CHECK_INT(status(w, "GET", "/s/ml/alice/bundle.zip", cb, NULL), 403);
	CHECK_INT(status(w, "GET", "/s/ml/alice", NULL, NULL), 403);
	CHECK_INT(status(w, "GET", "/s/ml/alice", "classlab_session=0000", NULL), 403);
	CHECK_INT(status(w, "GET", "/admin", ca, NULL), 403);
	CHECK_INT(status(w, "GET", "/admin", cadm, NULL), 200);
	CHECK_INT(status(w, "GET", "/s/ml/alice", cadm, NULL), 200);
	test_upgrade_refusals(w, ca, cadm);
	CHECK_INT(status(w, "GET", "/s/ml/ALICE", ca, NULL), 403);
	CHECK_INT(status(w, "GET", "/s/ml/alice/../bob", ca, NULL), 404); /* segments, not a path */
	CHECK_INT(status(w, "GET", "//s/ml/alice", ca, NULL), 404);
	CHECK_INT(status(w, "GET", "/static/../etc/passwd", NULL, NULL), 403);
	CHECK_INT(status(w, "GET", "/static/style.css", NULL, NULL), 200);
	CHECK_INT(status(w, "GET", "/static/passwd", NULL, NULL), 404);
	CHECK_INT(status(w, "PUT", "/", NULL, NULL), 405);

	/* CSRF: the page's token, and nothing else, lets a POST through. */
	cl_web_response r = get(w, "GET", "/s/ml/alice", ca, NULL, "192.0.2.1");
	const char *p = strstr(cl_buf_str(&r.body), "name=\"csrf\" value=\"");
	char *csrf = p ? cl_strndup(p + 19, 32) : cl_strdup("");
	CHECK_INT(strlen(csrf), 32);
	cl_web_response_clear(&r);
	/* A token one character off (never the same: the last one changed to another). */
	char *good = cl_aprintf("csrf=%s", csrf),
	     *bad = cl_aprintf("csrf=%.31s%c", csrf, strlen(csrf) == 32 && csrf[31] == '0' ? '1' : '0');
	CHECK_INT(status(w, "POST", "/logout", ca, "csrf="), 403);
	CHECK_INT(status(w, "POST", "/logout", ca, bad), 403);
	CHECK_INT(status(w, "POST", "/logout", ca, NULL), 403);
	CHECK_INT(status(w, "POST", "/s/ml/bob/stop", ca, good), 403);

	/* Sessions end with revocation, and on the clock. */
	int64_t n = 0;
	CHECK_INT(cl_invite_revoke(ctx, "ml", "bob", &n), 0);
	CHECK_INT(n, 1);
	CHECK_INT(status(w, "GET", "/s/ml/bob", cb, NULL), 403);
	clock_now += CL_WEB_SESSION_S;
	CHECK_INT(status(w, "GET", "/s/ml/alice", ca, NULL), 403);
	clock_now -= 1;
	CHECK_INT(status(w, "GET", "/s/ml/alice", ca, NULL), 200);
	CHECK_INT(status(w, "POST", "/logout", ca, good), 303);
	CHECK_INT(status(w, "GET", "/s/ml/alice", ca, NULL), 403);

	/* The guess limit: per address, then 429 even for a good link; other addresses go on. */
	char *lb2 = NULL;
	CHECK_INT(cl_invite_issue(ctx, "ml", "bob", "http://x", &lb2), 0);
	for (int i = 0; i < CL_WEB_GUESS_MAX; i++) {
		char path[100];
		snprintf(path, sizeof(path), "/join/%064d", i);
		cl_web_response g = get(w, "GET", path, NULL, NULL, "198.51.100.7");
		CHECK_INT(g.status, 403);
		cl_web_response_clear(&g);
	}
	free(take(w, lb2, "198.51.100.7", &st));
	CHECK_INT(st, 429);
	clock_now += CL_WEB_GUESS_WINDOW_S;
	char *cb2 = take(w, lb2, "198.51.100.7", &st);
	CHECK_INT(st, 303); /* the window passed */

	free(cb2);
	free(lb2);
	free(good);
	free(bad);
	free(csrf);
	free(ca);
	free(cb);
	free(cadm);
	free(la);
	free(la2);
	free(lb);
	free(ladm);
	cl_web_free(w);
	cl_ctx_free(ctx);
	char *rm = cl_aprintf("rm -rf '%s'", dir);
	if (system(rm) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(rm);
	free(db);
	free(data);
	return tap_done();
}
