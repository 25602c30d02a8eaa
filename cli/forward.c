/*
 * The client of `classlab serve`: a command that drives the hypervisor is sent, whole,
 * to the service of its data directory (HTTP over the Unix socket, libcurl), which runs
 * it and returns its exit status and exactly what it printed.
 */
#include "cli.h"
#include "classlab/banned.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	cl_buf_add(arg, data, size * n);
	return size * n;
}

/* Writes the base64 text (from the service's reply) to f as the bytes it stands for. */
static bool write_b64(FILE *f, const char *b64)
{
	size_t len = strlen(b64), pad = 0;
	if (len % 4)
		return false;
	if (len == 0)
		return true;
	pad = (b64[len - 1] == '=') + (len > 1 && b64[len - 2] == '=');
	unsigned char *raw = cl_malloc(len / 4 * 3 + 1);
	int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	bool ok = n >= 0 && (size_t)n >= pad;
	if (ok)
		fwrite(raw, 1, (size_t)n - pad, f);
	free(raw);
	return ok;
}

/*
 * Is a service holding the data directory's pid lock? Then a refused connection means
 * it is starting or busy, not gone: the command must not open the hypervisor itself.
 */
static bool service_alive(const char *data_dir)
{
	char *path = cl_path_join(data_dir, "serve.pid");
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	bool alive = fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;

	if (fd >= 0)
		close(fd);
	free(path);
	return alive;
}

bool cli_forward(cli_ctx *ctx, int argc, char **argv, int *exit_code)
{
	char *sock = NULL, *db_real = NULL, *body = NULL;
	json_t *req = NULL, *resp = NULL, *words;
	cl_buf got = CL_BUF_INIT;
	CURL *curl = NULL;
	struct curl_slist *hdr = NULL;
	struct stat sb;
	bool sent = false;
	long status = 0;

	if (!ctx->data_dir)
		return false;
	sock = cli_serve_socket(ctx->data_dir);
	if (lstat(sock, &sb) < 0 || !S_ISSOCK(sb.st_mode))
		goto out;
	/* The service's database must be this command's: it compares the resolved paths. */
	const char *db = ctx->db_path;
	char *db_default = db ? NULL : cl_path_join(ctx->data_dir, "classlab.db");
	db_real = realpath(db ? db : db_default, NULL);
	free(db_default);
	words = json_array();
	for (int i = 0; i < argc; i++)
		if (json_array_append_new(words, json_string(argv[i]))) {
			/* JSON carries text: a word that is not UTF-8 cannot be sent */
			json_decref(words);
			fprintf(stderr, "classlab: '%s' is not UTF-8 text, which classlab serve cannot "
					"be sent: stop the service to run this command\n",
				argv[i]);
			sent = true;
			*exit_code = 2;
			goto out;
		}
	/* The command's relative paths (up FILE) are the client's: its directory goes too. */
	char *cwd = getcwd(NULL, 0);
	req = json_pack("{s:o,s:s,s:i,s:s?,s:s?,s:s?}", "argv", words, "output",
			ctx->output == OUT_JSON ? "json" : "table", "verbosity", ctx->verbosity, "db",
			db_real, "uri", ctx->uri, "cwd", cwd);
	free(cwd);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (!body) {
		fprintf(stderr, "classlab: this directory or database path is not UTF-8 text, which "
				"classlab serve cannot be sent: stop the service to run this command\n");
		sent = true;
		*exit_code = 2;
		goto out;
	}
	if (!(curl = curl_easy_init()))
		goto out;
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(curl, CURLOPT_URL, "http://localhost/v1/run");
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &got);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	CURLcode cc = curl_easy_perform(curl);
	if (cc == CURLE_COULDNT_CONNECT && !service_alive(ctx->data_dir))
		goto out; /* a socket a killed service left: nobody serves, run here */
	if (cc == CURLE_COULDNT_CONNECT) {
		fprintf(stderr, "classlab: classlab serve holds this data directory but does not "
				"answer on %s (starting, or busy): try again\n",
			sock);
		sent = true;
		*exit_code = 5;
		goto out;
	}
	sent = true;
	*exit_code = 1;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	json_error_t jerr;
	int code = 0;
	const char *out = NULL, *err = NULL;
	if (cc != CURLE_OK || !(resp = json_loadb(got.data ? got.data : "", got.len, 0, &jerr)) ||
	    json_unpack(resp, "{s:i,s:s,s:s}", "exit", &code, "stdout_b64", &out, "stderr_b64",
			&err) ||
	    !write_b64(stdout, out) || !write_b64(stderr, err)) {
		fprintf(stderr, "classlab: the service on %s did not answer properly (%s): its log "
				"says more\n",
			sock, cc != CURLE_OK ? curl_easy_strerror(cc) : "a malformed reply");
		goto out;
	}
	fflush(stdout);
	*exit_code = code;
out:
	curl_slist_free_all(hdr);
	if (curl)
		curl_easy_cleanup(curl);
	json_decref(req);
	json_decref(resp);
	cl_buf_free(&got);
	free(body);
	free(db_real);
	free(sock);
	return sent;
}
