/*
 * tp_test.h - the tiny C test harness: TP_CHECK records a result, TP_TEST_MAIN
 * runs the listed tests and prints "N passed, N failed" (exit 1 on failure).
 */
#ifndef TP_TEST_H
#define TP_TEST_H

#include <stdio.h>

static int tp_test_passed, tp_test_failed;

#define TP_CHECK(cond)                                                                         \
    do {                                                                                       \
        if (cond) {                                                                            \
            tp_test_passed++;                                                                  \
        } else {                                                                               \
            tp_test_failed++;                                                                  \
            fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                  \
        }                                                                                      \
    } while (0)

#define TP_RUN(fn)                                                                             \
    do {                                                                                       \
        int before = tp_test_failed;                                                           \
        fn();                                                                                  \
        printf("%s %s\n", tp_test_failed == before ? "ok  " : "FAIL", #fn);                    \
    } while (0)

#define TP_TEST_REPORT()                                                                       \
    (printf("%d passed, %d failed\n", tp_test_passed, tp_test_failed), tp_test_failed ? 1 : 0)

#endif
