/* SSH keys: ed25519 generation, strict public key validation, fingerprints, known_hosts
 * lines and private key files. */
#include "ssh_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classlab/banned.h"

#define PUBKEY_LINE_MAX (16 * 1024)
#define RSA_MIN_BITS 2048

static const char *const known_types[] = {
	"ssh-ed25519",
	"ssh-rsa",
	"ecdsa-sha2-nistp256",
	"ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com",
	"sk-ecdsa-sha2-nistp256@openssh.com",
};

static bool type_known(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++)
		if (strlen(known_types[i]) == n && memcmp(known_types[i], s, n) == 0)
			return true;
	return false;
}

void cl_ssh_free_secret(char *secret)
{
	if (!secret)
		return;
	explicit_bzero(secret, strlen(secret));
	free(secret);
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict standard base64 with padding, as OpenSSH writes it. Returns a new buffer or NULL. */
static unsigned char *b64_decode(const char *s, size_t n, size_t *outlen)
{
	if (n == 0 || n % 4 != 0)
		return NULL;
	unsigned char *out = cl_malloc(n / 4 * 3);
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)s[i + k];
			if (c == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad) /* data after '=' */
				goto bad;
			v[k] = b64val(c);
			if (v[k] < 0)
				goto bad;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		out[o++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)w;
		/* Non-canonical encodings (stray bits under the padding) are junk. */
		if ((pad == 1 && (v[2] & 0x3)) || (pad == 2 && (v[1] & 0xf)))
			goto bad;
	}
	*outlen = o;
	return out;
bad:
	free(out);
	return NULL;
}

/* Reads one SSH "string" (uint32 length + bytes) from blob at *off. */
static bool blob_string(const unsigned char *blob, size_t len, size_t *off, const unsigned char **s,
			size_t *slen)
{
	if (len - *off < 4)
		return false;
	uint32_t n = (uint32_t)blob[*off] << 24 | (uint32_t)blob[*off + 1] << 16 |
		     (uint32_t)blob[*off + 2] << 8 | blob[*off + 3];
	*off += 4;
	if (n > len - *off)
		return false;
	*s = blob + *off;
	*slen = n;
	*off += n;
	return true;
}

static int invalid(const char *why)
{
	return cl_error_set(CL_EINVAL, "invalid SSH public key: %s", why);
}

int cl_ssh_pubkey_parse(const char *line, char **type_out, char **b64_out, char **comment_out)
{
	int rc = CL_EINVAL;
	unsigned char *blob = NULL;
	char *type = NULL, *b64 = NULL, *comment = NULL, *reexport = NULL;
	ssh_key key = NULL;

	if (!line)
		return invalid("empty");
	size_t n = strnlen(line, PUBKEY_LINE_MAX + 1);
	if (n > PUBKEY_LINE_MAX)
		return invalid("longer than 16 KiB");
	if (n > 0 && line[n - 1] == '\n') {
		n--;
		if (n > 0 && line[n - 1] == '\r')
			n--;
	}
	if (n == 0)
		return invalid("empty");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return invalid(c == '\n' || c == '\r' ? "contains a line break"
							       : "contains control characters");
	}

	/* TYPE */
	size_t p = 0;
	while (p < n && line[p] != ' ' && line[p] != '\t')
		p++;
	if (!type_known(line, p)) {
		/* Give a useful reason for "options ssh-ed25519 AAAA..." lines. */
		for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++) {
			const char *hit = strstr(line, known_types[i]);
			if (hit && hit > line && (size_t)(hit - line) < n)
				return invalid("options before the key type are not allowed");
		}
		if (p > 0 && p < 64) {
			char *t = cl_strndup(line, p);
			bool printable = true;
			for (char *q = t; *q; q++)
				if ((unsigned char)*q >= 0x80)
					printable = false;
			rc = printable ? cl_error_set(CL_EINVAL,
						      "invalid SSH public key: unknown key type '%s'", t)
				       : invalid("unknown key type");
			free(t);
			return rc;
		}
		return invalid("unknown key type");
	}
	type = cl_strndup(line, p);

	/* BASE64 */
	while (p < n && (line[p] == ' ' || line[p] == '\t'))
		p++;
	size_t b0 = p;
	while (p < n && line[p] != ' ' && line[p] != '\t')
		p++;
	if (p == b0) {
		invalid("no key data after the type");
		goto out;
	}
	b64 = cl_strndup(line + b0, p - b0);

	/* COMMENT: the rest, trimmed; must be UTF-8-ish printable (controls already refused). */
	while (p < n && (line[p] == ' ' || line[p] == '\t'))
		p++;
	size_t e = n;
	while (e > p && (line[e - 1] == ' ' || line[e - 1] == '\t'))
		e--;
	comment = cl_strndup(line + p, e - p);

	size_t blen = 0;
	blob = b64_decode(b64, strlen(b64), &blen);
	if (!blob) {
		invalid("key data is not valid base64");
		goto out;
	}
	size_t off = 0;
	const unsigned char *bt;
	size_t btlen;
	if (!blob_string(blob, blen, &off, &bt, &btlen) || btlen != strlen(type) ||
	    memcmp(bt, type, btlen) != 0) {
		invalid("key data does not match the key type");
		goto out;
	}
	if (strcmp(type, "ssh-rsa") == 0) {
		const unsigned char *ex, *mod;
		size_t exlen, modlen;
		if (!blob_string(blob, blen, &off, &ex, &exlen) ||
		    !blob_string(blob, blen, &off, &mod, &modlen) || modlen == 0) {
			invalid("truncated RSA key");
			goto out;
		}
		while (modlen > 0 && mod[0] == 0) {
			mod++;
			modlen--;
		}
		size_t bits = modlen * 8;
		if (modlen > 0)
			for (unsigned char top = mod[0]; !(top & 0x80); top <<= 1)
				bits--;
		if (bits < RSA_MIN_BITS) {
			rc = cl_error_set(CL_EINVAL,
					  "invalid SSH public key: RSA key has %zu bits, at least %d "
					  "are required",
					  bits, RSA_MIN_BITS);
			goto out;
		}
	}
	enum ssh_keytypes_e kt = ssh_key_type_from_name(type);
	if (kt == SSH_KEYTYPE_UNKNOWN || ssh_pki_import_pubkey_base64(b64, kt, &key) != SSH_OK) {
		invalid("key data is truncated or corrupt");
		goto out;
	}
	/* Re-encoding must give the same bytes: nothing trailing, nothing non-canonical. */
	if (ssh_pki_export_pubkey_base64(key, &reexport) != SSH_OK || strcmp(reexport, b64) != 0) {
		invalid("key data has trailing or non-canonical bytes");
		goto out;
	}

	if (type_out) {
		*type_out = type;
		type = NULL;
	}
	if (b64_out) {
		*b64_out = b64;
		b64 = NULL;
	}
	if (comment_out) {
		*comment_out = comment;
		comment = NULL;
	}
	rc = 0;
out:
	ssh_string_free_char(reexport);
	ssh_key_free(key);
	free(blob);
	free(comment);
	free(b64);
	free(type);
	return rc;
}

int cl_ssh_key_import_line(const char *line, ssh_key *out)
{
	char *type = NULL, *b64 = NULL;
	int rc = cl_ssh_pubkey_parse(line, &type, &b64, NULL);
	if (rc < 0)
		return rc;
	if (ssh_pki_import_pubkey_base64(b64, ssh_key_type_from_name(type), out) != SSH_OK)
		rc = invalid("libssh cannot import it");
	free(type);
	free(b64);
	return rc;
}

int cl_ssh_key_fingerprint(ssh_key key, char **out)
{
	unsigned char *hash = NULL;
	size_t hlen = 0;
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != SSH_OK)
		return cl_error_set(CL_EFAIL, "cannot hash SSH public key");
	char *fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	ssh_clean_pubkey_hash(&hash);
	if (!fp)
		return cl_error_set(CL_EFAIL, "cannot format SSH key fingerprint");
	*out = cl_strdup(fp);
	ssh_string_free_char(fp);
	return 0;
}

int cl_ssh_fingerprint(const char *public_line, char **out)
{
	ssh_key key = NULL;
	int rc = cl_ssh_key_import_line(public_line, &key);
	if (rc == 0)
		rc = cl_ssh_key_fingerprint(key, out);
	ssh_key_free(key);
	return rc;
}

char *cl_ssh_hostport(const char *host, int port)
{
	if (port == 22)
		return cl_strdup(host);
	return cl_aprintf("[%s]:%d", host, port);
}

int cl_ssh_known_hosts_line(const char *host, int port, const char *public_line, char **out)
{
	if (!host || !*host)
		return cl_error_set(CL_EINVAL, "known_hosts entry needs a host name");
	for (const char *p = host; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == ',' || *p == '[' || *p == ']' || *p == '#' ||
		    (unsigned char)*p == 0x7f)
			return cl_error_set(CL_EINVAL, "invalid host name for known_hosts: '%s'",
					    host);
	if (port < 1 || port > 65535)
		return cl_error_set(CL_EINVAL, "invalid port %d for known_hosts", port);
	char *type = NULL, *b64 = NULL;
	int rc = cl_ssh_pubkey_parse(public_line, &type, &b64, NULL);
	if (rc < 0)
		return rc;
	char *hp = cl_ssh_hostport(host, port);
	*out = cl_aprintf("%s %s %s", hp, type, b64);
	free(hp);
	free(type);
	free(b64);
	return 0;
}

int cl_ssh_keygen_ed25519(char **private_openssh_pem, char **public_line, const char *comment)
{
	int rc = CL_EFAIL;
	ssh_key key = NULL;
	char *priv = NULL, *pub = NULL;

	if (comment && *comment) {
		for (const char *p = comment; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
				return cl_error_set(CL_EINVAL,
						    "invalid SSH key comment: control characters");
	}
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) {
		cl_error_set(CL_EFAIL, "cannot generate an ed25519 key");
		goto out;
	}
	if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &priv) != SSH_OK ||
	    strncmp(priv, "-----BEGIN OPENSSH PRIVATE KEY-----", 35) != 0) {
		cl_error_set(CL_EFAIL, "cannot export the ed25519 private key in OpenSSH format");
		goto out;
	}
	if (ssh_pki_export_pubkey_base64(key, &pub) != SSH_OK) {
		cl_error_set(CL_EFAIL, "cannot export the ed25519 public key");
		goto out;
	}
	*private_openssh_pem = cl_strdup(priv);
	if (comment && *comment)
		*public_line = cl_aprintf("ssh-ed25519 %s %s", pub, comment);
	else
		*public_line = cl_aprintf("ssh-ed25519 %s", pub);
	rc = 0;
out:
	if (priv) {
		explicit_bzero(priv, strlen(priv));
		ssh_string_free_char(priv);
	}
	ssh_string_free_char(pub);
	ssh_key_free(key);
	return rc;
}

int cl_ssh_write_private_key(const char *path, const char *pem)
{
	int rc = CL_EFAIL;
	int fd = -1;
	char *dircopy = NULL, *tmp = NULL;
	struct stat st;

	if (!path || !*path || !pem)
		return cl_error_set(CL_EINVAL, "private key path and contents are required");
	dircopy = cl_strdup(path);
	const char *dir = dirname(dircopy);
	if (lstat(dir, &st) < 0) {
		rc = cl_error_set(errno == ENOENT ? CL_ENOTFOUND : CL_EFAIL,
				  "cannot write private key '%s': directory '%s': %s", path, dir,
				  strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = cl_error_set(CL_EINVAL,
				  "cannot write private key '%s': '%s' is not a directory (symlinks "
				  "are refused)",
				  path, dir);
		goto out;
	}
	if (st.st_mode & 077) {
		rc = cl_error_set(CL_EINVAL,
				  "cannot write private key '%s': directory '%s' has mode %04o, "
				  "must not be accessible by others (chmod 700)",
				  path, dir, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		rc = cl_error_set(CL_EINVAL,
				  "cannot write private key '%s': it exists and is not a regular "
				  "file (symlinks are refused)",
				  path);
		goto out;
	}
	fd = cl_tmpfile_open(path, 0600, &tmp); /* O_EXCL|O_NOFOLLOW, unpredictable name */
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	size_t len = strlen(pem), done = 0;
	while (done < len) {
		ssize_t w = write(fd, pem + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = cl_error_set(CL_EFAIL, "cannot write '%s': %s", tmp, strerror(errno));
			goto out;
		}
		done += (size_t)w;
	}
	if (fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
		rc = cl_error_set(CL_EFAIL, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = cl_error_set(CL_EFAIL, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = cl_error_set(CL_EFAIL, "cannot rename '%s' to '%s': %s", tmp, path,
				  strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp)
		(void)unlink(tmp);
	free(tmp);
	free(dircopy);
	return rc;
}
