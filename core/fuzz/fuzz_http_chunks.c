/*
 * fuzz_http_chunks.c - libFuzzer target for the chunked-body framing check
 * (tp_http_chunks.c), which reads untrusted request bodies: any input, cut into two
 * reads anywhere, gives the verdict (and end) of one read, and an end is inside the input.
 */
#include "tp_http_chunks.h"

#include <stdint.h>
#include <string.h>

static int scan_split(const char *p, size_t n, size_t at, size_t *end)
{
    tp_chunks_scan_t s;
    memset(&s, 0, sizeof(s));
    size_t e = 0;
    int v = tp_http_chunks_scan(&s, p, at, &e);
    if (v == TP_CHUNKS_MORE && at < n) {
        v = tp_http_chunks_scan(&s, p + at, n - at, &e);
        e += at;
    }
    *end = v == TP_CHUNKS_END ? e : 0;
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t end, split_end;
    int verdict = scan_split(p, size, size, &end);
    if (verdict == TP_CHUNKS_END && (end == 0 || end > size))
        __builtin_trap();
    size_t at = size ? data[size - 1] % (size + 1) : 0;
    if (scan_split(p, size, at, &split_end) != verdict || split_end != end)
        __builtin_trap(); /* how reads are cut must not change the verdict */
    return 0;
}
