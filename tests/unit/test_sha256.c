/* SHA-256: the FIPS 180-4 examples, and the SHA-extension path against the
 * portable one on many lengths and alignments (both must agree bit for bit;
 * on a CPU without the extensions both calls run the portable code). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sha256.h"

void oi__sha256_blocks(uint32_t h[8], const uint8_t *p, size_t n, int portable);

static void hex_of(const void *data, size_t n, char hex[65])
{
	oi_sha256_ctx c;
	oi__sha256_init(&c);
	oi__sha256_update(&c, data, n);
	oi__sha256_final_hex(&c, hex);
}

static void fips_examples(void **state)
{
	(void)state;
	char hex[65];
	hex_of("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	hex_of(two, strlen(two), hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	hex_of("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* one million 'a', fed in uneven pieces */
	static uint8_t a[1000000];
	memset(a, 'a', sizeof a);
	oi_sha256_ctx c;
	oi__sha256_init(&c);
	for (size_t at = 0, step = 1; at < sizeof a; at += step, step = step * 3 % 1021 + 1)
		oi__sha256_update(&c, a + at, step < sizeof a - at ? step : sizeof a - at);
	oi__sha256_final_hex(&c, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void both_paths_agree(void **state)
{
	(void)state;
	static uint8_t buf[64 * 40 + 16];
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	for (size_t i = 0; i < sizeof buf; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	for (size_t n = 0; n <= 40; n++) {
		for (size_t off = 0; off < 16; off += 5) {
			uint32_t a[8], b[8];
			for (int i = 0; i < 8; i++)
				a[i] = b[i] = (uint32_t)(0x01234567u * (unsigned)(i + 1) + n);
			oi__sha256_blocks(a, buf + off, n, 0);
			oi__sha256_blocks(b, buf + off, n, 1);
			assert_memory_equal(a, b, sizeof a);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fips_examples),
		cmocka_unit_test(both_paths_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
