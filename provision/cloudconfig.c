/*
 * cloud-init NoCloud seed: user-data, meta-data and network-config emitted
 * with libyaml (every string double-quoted), packed into an ISO with libarchive.
 */
#include "provision_internal.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>
#include <yaml.h>

typedef struct ye {
	yaml_emitter_t e;
	cl_buf *out;
	int failed;
	const char *problem;
} ye;

static int ye_write(void *data, unsigned char *buffer, size_t size)
{
	cl_buf_add(data, buffer, size);
	return 1;
}

static void ye_emit(ye *y, yaml_event_t *ev)
{
	if (y->failed) {
		yaml_event_delete(ev);
		return;
	}
	if (!yaml_emitter_emit(&y->e, ev)) {
		y->failed = 1;
		y->problem = y->e.problem;
	}
}

static void ye_begin(ye *y, cl_buf *out)
{
	yaml_event_t ev;

	memset(y, 0, sizeof(*y));
	y->out = out;
	yaml_emitter_initialize(&y->e);
	yaml_emitter_set_output(&y->e, ye_write, out);
	yaml_emitter_set_unicode(&y->e, 1);
	/* No line folding: long strings stay on one line for the tiny guest's awk parser. */
	yaml_emitter_set_width(&y->e, -1);
	yaml_emitter_set_indent(&y->e, 2);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	ye_emit(y, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	ye_emit(y, &ev);
}

static int ye_end(ye *y, const char *what)
{
	yaml_event_t ev;

	yaml_document_end_event_initialize(&ev, 1);
	ye_emit(y, &ev);
	yaml_stream_end_event_initialize(&ev);
	ye_emit(y, &ev);
	if (!y->failed && !yaml_emitter_flush(&y->e))
		y->failed = 1, y->problem = y->e.problem;
	yaml_emitter_delete(&y->e);
	if (y->failed)
		return cl_error_set(CL_EINVAL, "cannot write %s: %s", what,
				    y->problem ? y->problem : "YAML emitter error");
	return 0;
}

static void scalar(ye *y, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;
	int plain = style == YAML_PLAIN_SCALAR_STYLE;

	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), plain,
					  !plain, style)) {
		y->failed = 1;
		return;
	}
	ye_emit(y, &ev);
}

static void key(ye *y, const char *k)
{
	scalar(y, k, YAML_PLAIN_SCALAR_STYLE);
}

static void str(ye *y, const char *s)
{
	scalar(y, s, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

static void kv(ye *y, const char *k, const char *v)
{
	key(y, k);
	str(y, v);
}

static void kplain(ye *y, const char *k, const char *v)
{
	key(y, k);
	scalar(y, v, YAML_PLAIN_SCALAR_STYLE);
}

static void map_start(ye *y, int flow)
{
	yaml_event_t ev;
	yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
					    flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
	ye_emit(y, &ev);
}

static void map_end(ye *y)
{
	yaml_event_t ev;
	yaml_mapping_end_event_initialize(&ev);
	ye_emit(y, &ev);
}

static void seq_start(ye *y, int flow)
{
	yaml_event_t ev;
	yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
					     flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
	ye_emit(y, &ev);
}

static void seq_end(ye *y)
{
	yaml_event_t ev;
	yaml_sequence_end_event_initialize(&ev);
	ye_emit(y, &ev);
}

static void str_seq(ye *y, const char *const *v, size_t n)
{
	seq_start(y, 0);
	for (size_t i = 0; i < n; i++)
		str(y, v[i]);
	seq_end(y);
}

static int check_cc(const cl_cloudconfig *cc)
{
	if (!cc->hostname || !*cc->hostname || !cc->instance_id || !*cc->instance_id ||
	    !cc->username || !*cc->username)
		return cl_error_set(CL_EINVAL, "cloud-config needs a hostname, an instance id and a user");
	if (!cc->host_key_private != !cc->host_key_public)
		return cl_error_set(CL_EINVAL, "cloud-config needs both halves of the host key");
	return 0;
}

/* cloud-init's ssh_keys name for a public key: "ed25519", "rsa", "ecdsa". */
static const char *host_key_type(const char *pub)
{
	if (strncmp(pub, "ssh-ed25519 ", 12) == 0)
		return "ed25519";
	if (strncmp(pub, "ssh-rsa ", 8) == 0)
		return "rsa";
	if (strncmp(pub, "ecdsa-sha2-", 11) == 0)
		return "ecdsa";
	return NULL;
}

int cl_cloudconfig_user_data(const cl_cloudconfig *cc, cl_buf *out)
{
	const char *ktype = NULL;
	cl_buf body = CL_BUF_INIT, name = CL_BUF_INIT;
	ye y;
	int rc;

	if ((rc = check_cc(cc)) < 0)
		return rc;
	if (cc->host_key_public && !(ktype = host_key_type(cc->host_key_public)))
		return cl_error_set(CL_EINVAL, "unsupported host key type in '%.40s'", cc->host_key_public);
	ye_begin(&y, &body);
	map_start(&y, 0);
	kv(&y, "hostname", cc->hostname);
	kv(&y, "fqdn", cc->hostname);
	kplain(&y, "manage_etc_hosts", "true");
	kplain(&y, "ssh_pwauth", "false");
	kplain(&y, "disable_root", "true");
	key(&y, "users");
	seq_start(&y, 0);
	map_start(&y, 0);
	kv(&y, "name", cc->username);
	if (cc->gecos)
		kv(&y, "gecos", cc->gecos);
	kv(&y, "shell", "/bin/bash");
	kplain(&y, "lock_passwd", "true");
	kv(&y, "sudo", "ALL=(ALL) NOPASSWD:ALL");
	if (cc->n_authorized_keys) {
		key(&y, "ssh_authorized_keys");
		str_seq(&y, cc->authorized_keys, cc->n_authorized_keys);
	}
	map_end(&y);
	seq_end(&y);
	if (cc->host_key_private) {
		/* Our host keys only, so known_hosts is right before the first boot. */
		kplain(&y, "ssh_deletekeys", "true");
		/*
		 * Only types that already exist (ours) are "generated", i.e. none;
		 * cloud-init's schema (22.4) rejects an empty list here.
		 */
		key(&y, "ssh_genkeytypes");
		seq_start(&y, 1);
		str(&y, ktype);
		seq_end(&y);
		key(&y, "ssh_keys");
		map_start(&y, 0);
		cl_buf_printf(&name, "%s_private", ktype);
		key(&y, name.data);
		scalar(&y, cc->host_key_private, YAML_LITERAL_SCALAR_STYLE);
		cl_buf_reset(&name);
		cl_buf_printf(&name, "%s_public", ktype);
		kv(&y, name.data, cc->host_key_public);
		map_end(&y);
	}
	if (cc->n_packages) {
		key(&y, "packages");
		str_seq(&y, cc->packages, cc->n_packages);
	}
	if (cc->n_runcmd || cc->n_pip || cc->n_runcmd_argv) {
		key(&y, "runcmd");
		seq_start(&y, 0);
		for (size_t i = 0; i < cc->n_runcmd; i++)
			str(&y, cc->runcmd[i]);
		if (cc->n_pip) {
			/* An argv list: cloud-init runs it without a shell, so names need no quoting. */
			static const char *const pip[] = {"python3", "-m", "pip", "install"};
			seq_start(&y, 1);
			for (size_t i = 0; i < 4; i++)
				str(&y, pip[i]);
			for (size_t i = 0; i < cc->n_pip; i++)
				str(&y, cc->pip[i]);
			seq_end(&y);
		}
		for (size_t i = 0; i < cc->n_runcmd_argv; i++) {
			seq_start(&y, 1);
			for (const char *const *a = cc->runcmd_argv[i]; a && *a; a++)
				str(&y, *a);
			seq_end(&y);
		}
		seq_end(&y);
	}
	map_end(&y);
	if ((rc = ye_end(&y, "user-data")) == 0) {
		cl_buf_puts(out, "#cloud-config\n");
		cl_buf_add(out, body.data, body.len);
	}
	cl_buf_free(&name);
	cl_buf_free(&body);
	return rc;
}

int cl_cloudconfig_meta_data(const cl_cloudconfig *cc, cl_buf *out)
{
	ye y;
	int rc;

	if ((rc = check_cc(cc)) < 0)
		return rc;
	ye_begin(&y, out);
	map_start(&y, 0);
	kv(&y, "instance-id", cc->instance_id);
	kv(&y, "local-hostname", cc->hostname);
	map_end(&y);
	return ye_end(&y, "meta-data");
}

int cl_cloudconfig_network_config(const cl_cloudconfig *cc, cl_buf *out)
{
	ye y;

	ye_begin(&y, out);
	map_start(&y, 0);
	kplain(&y, "version", "2");
	key(&y, "ethernets");
	map_start(&y, 0);
	key(&y, cc->mac ? "eth0" : "nics");
	map_start(&y, 0);
	key(&y, "match");
	map_start(&y, 0);
	if (cc->mac)
		kv(&y, "macaddress", cc->mac);
	else
		kv(&y, "name", "e*");
	map_end(&y);
	if (cc->mac)
		kv(&y, "set-name", "eth0");
	kplain(&y, "dhcp4", "true");
	map_end(&y);
	map_end(&y);
	map_end(&y);
	return ye_end(&y, "network-config");
}

/* The primary volume descriptor is sector 16; its volume id starts 40 bytes in. */
#define PVD_TYPE (16 * 2048)
#define PVD_VOLID (PVD_TYPE + 40)

static la_ssize_t iso_write(struct archive *a, void *client, const void *buf, size_t len)
{
	(void)a;
	cl_buf_add(client, buf, len);
	return (la_ssize_t)len;
}

static int iso_add(struct archive *a, const char *name, const cl_buf *data, time_t now)
{
	struct archive_entry *e = archive_entry_new();
	int ok;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0444);
	archive_entry_set_size(e, (la_int64_t)data->len);
	archive_entry_set_mtime(e, now, 0);
	ok = archive_write_header(a, e) == ARCHIVE_OK &&
	     (data->len == 0 || archive_write_data(a, data->data, data->len) == (la_ssize_t)data->len);
	archive_entry_free(e);
	if (!ok)
		return cl_error_set(CL_EFAIL, "cannot write seed ISO entry '%s': %s", name,
				    archive_error_string(a));
	return 0;
}

int cl_seed_iso(const cl_cloudconfig *cc, cl_buf *iso)
{
	cl_buf ud = CL_BUF_INIT, md = CL_BUF_INIT, nc = CL_BUF_INIT, img = CL_BUF_INIT;
	struct archive *a = NULL;
	time_t now = time(NULL);
	int rc;

	if ((rc = cl_cloudconfig_user_data(cc, &ud)) < 0 || (rc = cl_cloudconfig_meta_data(cc, &md)) < 0 ||
	    (rc = cl_cloudconfig_network_config(cc, &nc)) < 0)
		goto out;
	a = archive_write_new();
	if (!a || archive_write_set_format_iso9660(a) != ARCHIVE_OK ||
	    archive_write_set_option(a, "iso9660", "volume-id", "cidata") != ARCHIVE_OK ||
	    archive_write_set_option(a, "iso9660", "rockridge", "1") != ARCHIVE_OK ||
	    archive_write_set_option(a, "iso9660", "joliet", "1") != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, &img, NULL, iso_write, NULL) != ARCHIVE_OK) {
		rc = cl_error_set(CL_EFAIL, "cannot create seed ISO: %s",
				  a ? archive_error_string(a) : "out of memory");
		goto out;
	}
	if ((rc = iso_add(a, "meta-data", &md, now)) < 0 || (rc = iso_add(a, "user-data", &ud, now)) < 0 ||
	    (rc = iso_add(a, "network-config", &nc, now)) < 0)
		goto out;
	/* The ISO is laid out at close: only then is it all written. */
	if (archive_write_close(a) != ARCHIVE_OK) {
		rc = cl_error_set(CL_EFAIL, "cannot write seed ISO: %s", archive_error_string(a));
		goto out;
	}
	/*
	 * libarchive upper-cases the primary volume id (ISO 9660 d-characters);
	 * cloud-localds (genisoimage -V cidata) writes it lowercase, and some
	 * label probes compare case-sensitively: match that.
	 */
	if (img.len < PVD_VOLID + 6 || memcmp(img.data + PVD_TYPE, "\001CD001", 6) != 0 ||
	    memcmp(img.data + PVD_VOLID, "CIDATA", 6) != 0) {
		rc = cl_error_set(CL_EFAIL, "cannot write seed ISO: unexpected primary volume descriptor");
		goto out;
	}
	memcpy(img.data + PVD_VOLID, "cidata", 6);
	cl_buf_add(iso, img.data, img.len);
out:
	if (a)
		archive_write_free(a);
	cl_buf_free(&img);
	cl_buf_free(&nc);
	cl_buf_free(&md);
	cl_buf_free(&ud);
	return rc;
}
