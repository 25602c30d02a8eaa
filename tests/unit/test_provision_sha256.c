/*
 * Known answers for SHA-256 and what classlab derives from it: MACs of guests
 * and image cache names must stay the same whatever computes the digest.
 */
#include "../../provision/provision_internal.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static void check_hex(const void *data, size_t len, const char *want)
{
	char hex[65];

	memset(hex, 'X', sizeof(hex));
	cl_sha256_hex(data, len, hex);
	CHECK_STR(hex, want);
}

/* FIPS 180-4 / NIST CAVS examples. */
static void test_fips(void)
{
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
			   "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	size_t million = 1000000;
	char *a = malloc(million);

	check_hex("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check_hex("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_hex(m448, strlen(m448), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	check_hex(m896, strlen(m896), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
	memset(a, 'a', million);
	check_hex(a, million, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(a);
}

/* The MACs guests have today: a change here would give running labs new addresses. */
static void test_mac(void)
{
	static const struct {
		const char *seed, *mac;
	} cases[] = {
		{"ml-lab-alice", "02:f6:99:f8:6a:54"},
		{"lab-alice", "02:6f:1c:21:50:3c"},
		{"ml-lab-bob", "02:0f:54:36:3a:c3"},
		{"", "02:ec:7d:00:af:32"},
	};
	char mac[18], *longseed = malloc(201);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cl_mac_from_seed(cases[i].seed, mac);
		CHECK_STR(mac, cases[i].mac);
	}
	/* Longer than one SHA-256 block with the prefix. */
	memset(longseed, 'x', 200);
	longseed[200] = '\0';
	cl_mac_from_seed(longseed, mac);
	CHECK_STR(mac, "02:28:62:a6:d2:f1");
	free(longseed);
}

/* The identity key cl_image_resolve hashes (size, mtime, path): its first 12 hex digits name the cached volume. */
static void test_image_key(void)
{
	const char *key = "1048576\n1700000000.123456789\n/var/cache/classlab/images/ubuntu-22.04.qcow2";
	check_hex(key, strlen(key), "c3f1921fbfd28e94f23b2112809a852bcd837288506ffc93800a9205f99fac51");
}

int main(void)
{
	test_fips();
	test_mac();
	test_image_key();
	return tap_done();
}
