/*
 * tp_test_split.h - feeds a byte scanner that keeps its place between reads (the request
 * head check, the chunked-body check) in two reads cut anywhere, for the C tests and the
 * fuzz targets: how reads are cut must never change a verdict.
 */
#ifndef TP_TEST_SPLIT_H
#define TP_TEST_SPLIT_H

#include <stddef.h>
#include <string.h>

/* A scanner: 0 = go on (all bytes taken), 1 = ended after *end bytes, -1 = refused. */
typedef int (*tp_scan_fn)(void *state, const char *p, size_t n, size_t *end);

enum { TP_SCAN_MORE = 0, TP_SCAN_END = 1 };

/* The verdict of scanning p from a zeroed state (state_size bytes at state) in two reads
 * cut at `at`; *end (if not NULL) gets where the scan ended, 0 when it did not. */
static inline int tp_scan_in_two(tp_scan_fn scan, void *state, size_t state_size,
                                 const char *p, size_t n, size_t at, size_t *end)
{
    memset(state, 0, state_size);
    size_t e = 0, first = at < n ? at : n;
    int v = scan(state, p, first, &e);
    if (v == TP_SCAN_MORE && first < n) {
        v = scan(state, p + first, n - first, &e);
        e += first;
    }
    if (end)
        *end = v == TP_SCAN_END ? e : 0;
    return v;
}

/* 1 when every cut of p into two reads gives the verdict and end of one read */
static inline int tp_scan_splits_agree(tp_scan_fn scan, void *state, size_t state_size,
                                       const char *p, size_t n)
{
    size_t whole_end, end;
    int whole = tp_scan_in_two(scan, state, state_size, p, n, n, &whole_end);
    for (size_t at = 0; at <= n; at++)
        if (tp_scan_in_two(scan, state, state_size, p, n, at, &end) != whole ||
            end != whole_end)
            return 0;
    return 1;
}

/* For fuzz targets: the verdict of one read of data (its end in *end), after trapping
 * unless a cut chosen from the input's own last byte gives the same, and unless an end
 * lies inside the input. */
static inline int tp_scan_fuzz_check(tp_scan_fn scan, void *state, size_t state_size,
                                     const unsigned char *data, size_t size, size_t *end)
{
    const char *p = (const char *)data;
    size_t split_end;
    int verdict = tp_scan_in_two(scan, state, state_size, p, size, size, end);
    if (verdict == TP_SCAN_END && (*end == 0 || *end > size))
        __builtin_trap();
    size_t at = size ? data[size - 1] % (size + 1) : 0;
    if (tp_scan_in_two(scan, state, state_size, p, size, at, &split_end) != verdict ||
        split_end != *end)
        __builtin_trap(); /* how reads are cut must not change the verdict */
    return verdict;
}

#endif
