/*
 * fuzz_http_chunks.c - libFuzzer target for the chunked-body framing check
 * (tp_http_chunks.c), which reads untrusted request bodies: any input, cut into two
 * reads anywhere, gives the verdict (and end) of one read, and an end is inside the input.
 */
#include "tp_http_chunks.h"

#include "test/tp_test_split.h"

#include <stdint.h>
#include <string.h>

static tp_chunks_scan_t state;

static int scan(void *s, const char *p, size_t n, size_t *end)
{
    return tp_http_chunks_scan(s, p, n, end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t end;
    tp_scan_fuzz_check(scan, &state, sizeof(state), data, size, &end);
    return 0;
}
