/*
 * test_ratelimit.c - token bucket refill math and delay mode, window boundaries
 * (including calendar months and years), all-or-nothing multi-window counting, and
 * exactly `limit` passes with 4 processes racing on one key.
 */
#include "tp_ratelimit.h"
#include "tp_test.h"
#include "tp_util.h"

#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* 2023-11-14T22:13:20Z */
#define NOW 1700000000000LL

static tp_shm_t *shm;
static tp_shm_dict_t *dict;

static int take(const char *key, double rate, double burst, double cost, int nodelay,
                int64_t now, double *rem, int64_t *wait)
{
    return tp_ratelimit_bucket_take(dict, key, strlen(key), rate, burst, cost, nodelay, now, rem,
                                    wait);
}

static void test_bucket_nodelay(void)
{
    double rem = -1;
    int64_t wait = -1;
    int i;

    /* a new bucket is full: burst requests pass back to back */
    for (i = 0; i < 5; i++) {
        TP_CHECK(take("n", 2, 5, 1, 1, NOW, &rem, &wait) == 1);
        TP_CHECK(wait == 0);
        TP_CHECK(rem == 4 - i);
    }
    TP_CHECK(take("n", 2, 5, 1, 1, NOW, &rem, &wait) == 0);
    TP_CHECK(wait == 500); /* one token at 2/s */
    TP_CHECK(rem == 0);
    TP_CHECK(take("n", 2, 5, 1, 1, NOW + 499, &rem, &wait) == 0 && wait == 1);
    TP_CHECK(take("n", 2, 5, 1, 1, NOW + 500, &rem, &wait) == 1 && rem == 0);
    /* after 1.25 s, 2.5 tokens came back */
    TP_CHECK(take("n", 2, 5, 1, 1, NOW + 1750, &rem, &wait) == 1 && rem == 1.5);
    /* a cost of 2 needs 2 tokens: 0.5 missing = 250 ms */
    TP_CHECK(take("n", 2, 5, 2, 1, NOW + 1750, &rem, &wait) == 0 && wait == 250);
    /* refill never exceeds burst */
    TP_CHECK(take("n", 2, 5, 1, 1, NOW + 100000, &rem, &wait) == 1 && rem == 4);

    /* fractional rate: one token every 4 s */
    TP_CHECK(take("f", 0.25, 1, 1, 1, NOW, &rem, &wait) == 1);
    TP_CHECK(take("f", 0.25, 1, 1, 1, NOW + 1000, &rem, &wait) == 0 && wait == 3000);
    TP_CHECK(take("f", 0.25, 1, 1, 1, NOW + 4000, &rem, &wait) == 1);

    /* bad arguments */
    TP_CHECK(take("x", 0, 5, 1, 1, NOW, &rem, &wait) == -EINVAL);
    TP_CHECK(take("x", 1, 5, 0, 1, NOW, &rem, &wait) == -EINVAL);
    TP_CHECK(take("x", 1, 5, 6, 1, NOW, &rem, &wait) == -EINVAL);
    TP_CHECK(take("", 1, 5, 1, 1, NOW, &rem, &wait) == -ENAMETOOLONG);
}

static void test_bucket_delay(void)
{
    double rem;
    int64_t wait;

    /* rate 10/s, burst 3, no nodelay: admitted requests are spaced 100 ms apart */
    TP_CHECK(take("d", 10, 3, 1, 0, NOW, &rem, &wait) == 1 && wait == 0);
    TP_CHECK(take("d", 10, 3, 1, 0, NOW, &rem, &wait) == 1 && wait == 100);
    TP_CHECK(take("d", 10, 3, 1, 0, NOW, &rem, &wait) == 1 && wait == 200);
    TP_CHECK(take("d", 10, 3, 1, 0, NOW, &rem, &wait) == 0 && wait == 100);
    /* 50 ms later: debt 2.5, the next admitted waits 250 ms */
    TP_CHECK(take("d", 10, 3, 1, 0, NOW + 50, &rem, &wait) == 0 && wait == 50);
    TP_CHECK(take("d", 10, 3, 1, 0, NOW + 100, &rem, &wait) == 1 && wait == 200);
    /* requests arriving at exactly the rate never wait */
    TP_CHECK(take("r", 10, 3, 1, 0, NOW, &rem, &wait) == 1 && wait == 0);
    TP_CHECK(take("r", 10, 3, 1, 0, NOW + 100, &rem, &wait) == 1 && wait == 0);
    TP_CHECK(take("r", 10, 3, 1, 0, NOW + 200, &rem, &wait) == 1 && wait == 0);
}

static void test_long_keys(void)
{
    char a[300], b[300];
    double rem;
    int64_t wait;

    memset(a, 'a', sizeof(a));
    memcpy(b, a, sizeof(b));
    b[299] = 'b'; /* differs only past the stored head */
    TP_CHECK(tp_ratelimit_bucket_take(dict, a, 300, 1, 1, 1, 1, NOW, &rem, &wait) == 1);
    TP_CHECK(tp_ratelimit_bucket_take(dict, b, 300, 1, 1, 1, 1, NOW, &rem, &wait) == 1);
    TP_CHECK(tp_ratelimit_bucket_take(dict, a, 300, 1, 1, 1, 1, NOW, &rem, &wait) == 0);
}

static int64_t utc(int y, int mon, int d, int h, int mi, int s)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm) * 1000;
}

static void test_periods(void)
{
    int64_t st, en, t = utc(2024, 2, 29, 13, 45, 30) + 250;

    TP_CHECK(tp_ratelimit_period(TP_RL_SECOND, t, &st, &en) == 0);
    TP_CHECK(st == t - 250 && en == st + 1000);
    tp_ratelimit_period(TP_RL_MINUTE, t, &st, &en);
    TP_CHECK(st == utc(2024, 2, 29, 13, 45, 0) && en == utc(2024, 2, 29, 13, 46, 0));
    tp_ratelimit_period(TP_RL_HOUR, t, &st, &en);
    TP_CHECK(st == utc(2024, 2, 29, 13, 0, 0) && en == utc(2024, 2, 29, 14, 0, 0));
    tp_ratelimit_period(TP_RL_DAY, t, &st, &en);
    TP_CHECK(st == utc(2024, 2, 29, 0, 0, 0) && en == utc(2024, 3, 1, 0, 0, 0));
    /* calendar month: February 2024 has 29 days */
    tp_ratelimit_period(TP_RL_MONTH, t, &st, &en);
    TP_CHECK(st == utc(2024, 2, 1, 0, 0, 0) && en == utc(2024, 3, 1, 0, 0, 0));
    /* December rolls into the next year */
    tp_ratelimit_period(TP_RL_MONTH, utc(2023, 12, 31, 23, 59, 59), &st, &en);
    TP_CHECK(st == utc(2023, 12, 1, 0, 0, 0) && en == utc(2024, 1, 1, 0, 0, 0));
    tp_ratelimit_period(TP_RL_YEAR, t, &st, &en);
    TP_CHECK(st == utc(2024, 1, 1, 0, 0, 0) && en == utc(2025, 1, 1, 0, 0, 0));
    /* exactly on a boundary belongs to the new period */
    tp_ratelimit_period(TP_RL_MONTH, utc(2024, 3, 1, 0, 0, 0), &st, &en);
    TP_CHECK(st == utc(2024, 3, 1, 0, 0, 0));
    TP_CHECK(tp_ratelimit_period(0, t, &st, &en) == -EINVAL);
}

static int wincr(const char *key, int64_t w, int64_t limit, int64_t now, int64_t *cnt,
                 int64_t *reset)
{
    return tp_ratelimit_windows_incr(dict, key, strlen(key), &w, &limit, 1, 1, now, cnt, reset);
}

static void test_window(void)
{
    int64_t cnt = -1, reset = -1, t = utc(2024, 1, 31, 23, 59, 58) + 500;
    int i;

    for (i = 1; i <= 3; i++) {
        TP_CHECK(wincr("w", TP_RL_MINUTE, 3, t, &cnt, &reset) == 1);
        TP_CHECK(cnt == i && reset == 1500);
    }
    /* denied requests do not count */
    TP_CHECK(wincr("w", TP_RL_MINUTE, 3, t, &cnt, &reset) == 0 && cnt == 3);
    TP_CHECK(wincr("w", TP_RL_MINUTE, 3, t + 1499, &cnt, &reset) == 0 && cnt == 3 && reset == 1);
    /* the next minute starts from zero */
    TP_CHECK(wincr("w", TP_RL_MINUTE, 3, t + 1500, &cnt, &reset) == 1 && cnt == 1);
    TP_CHECK(reset == 60000);

    /* month window: counts carry through the month, reset on the 1st */
    TP_CHECK(wincr("m", TP_RL_MONTH, 2, utc(2024, 2, 1, 0, 0, 0), &cnt, &reset) == 1);
    TP_CHECK(reset == 29LL * 86400 * 1000);
    TP_CHECK(wincr("m", TP_RL_MONTH, 2, utc(2024, 2, 29, 23, 0, 0), &cnt, &reset) == 1);
    TP_CHECK(wincr("m", TP_RL_MONTH, 2, utc(2024, 2, 29, 23, 59, 59), &cnt, &reset) == 0);
    TP_CHECK(reset == 1000 && cnt == 2);
    TP_CHECK(wincr("m", TP_RL_MONTH, 2, utc(2024, 3, 1, 0, 0, 0), &cnt, &reset) == 1 && cnt == 1);
}

static void test_multi_window(void)
{
    int64_t w[3] = {TP_RL_SECOND, TP_RL_MINUTE, TP_RL_HOUR}, lim[3] = {2, 3, 100};
    int64_t cnt[3], reset[3], t = utc(2024, 5, 5, 10, 0, 0);

    TP_CHECK(tp_ratelimit_windows_incr(dict, "mw", 2, w, lim, 3, 1, t, cnt, reset) == 1);
    TP_CHECK(tp_ratelimit_windows_incr(dict, "mw", 2, w, lim, 3, 1, t, cnt, reset) == 1);
    /* second is full: nothing is counted anywhere */
    TP_CHECK(tp_ratelimit_windows_incr(dict, "mw", 2, w, lim, 3, 1, t, cnt, reset) == 0);
    TP_CHECK(cnt[0] == 2 && cnt[1] == 2 && cnt[2] == 2);
    TP_CHECK(reset[0] == 1000 && reset[1] == 60000 && reset[2] == 3600000);
    TP_CHECK(tp_ratelimit_windows_incr(dict, "mw", 2, w, lim, 3, 1, t + 1000, cnt, reset) == 1);
    TP_CHECK(cnt[0] == 1 && cnt[1] == 3 && cnt[2] == 3);
    /* now the minute is full */
    TP_CHECK(tp_ratelimit_windows_incr(dict, "mw", 2, w, lim, 3, 1, t + 2000, cnt, reset) == 0);
    TP_CHECK(cnt[0] == 0 && cnt[1] == 3 && cnt[2] == 3);
    /* a cost bigger than what is left is denied */
    TP_CHECK(tp_ratelimit_windows_incr(dict, "mc", 2, w, lim, 3, 3, t, cnt, reset) == 0);
    TP_CHECK(tp_ratelimit_windows_incr(dict, "mc", 2, w, lim, 3, 2, t, cnt, reset) == 1);
    /* bad arguments */
    w[1] = TP_RL_SECOND;
    TP_CHECK(tp_ratelimit_windows_incr(dict, "mw", 2, w, lim, 3, 1, t, cnt, reset) == -EINVAL);
    TP_CHECK(tp_ratelimit_windows_incr(dict, "mw", 2, w, lim, 0, 1, t, cnt, reset) == -EINVAL);
    TP_CHECK(tp_ratelimit_windows_incr(dict, "mw", 2, w, lim, 7, 1, t, cnt, reset) == -EINVAL);
}

/* 4 processes x 1000 attempts on one key with limit 1000: exactly 1000 pass. */
static void test_concurrent_exact(void)
{
    int64_t t = utc(2024, 5, 5, 10, 0, 0), cnt, reset;
    int i, p, status, total = 0, fds[2];
    pid_t pids[4];

    TP_CHECK(pipe(fds) == 0);
    for (p = 0; p < 4; p++) {
        pids[p] = fork();
        if (pids[p] == 0) {
            int allowed = 0;
            close(fds[0]);
            for (i = 0; i < 1000; i++) {
                int64_t c, r;
                if (tp_ffi_rl_window_incr("race", 4, TP_RL_HOUR, 1000, 1, t, &c, &r) == 1)
                    allowed++;
            }
            if (write(fds[1], &allowed, sizeof(allowed)) != sizeof(allowed))
                _exit(2);
            _exit(0);
        }
    }
    close(fds[1]);
    for (p = 0; p < 4; p++) {
        int n = 0;
        TP_CHECK(read(fds[0], &n, sizeof(n)) == sizeof(n));
        total += n;
    }
    for (p = 0; p < 4; p++) {
        waitpid(pids[p], &status, 0);
        TP_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    close(fds[0]);
    TP_CHECK(total == 1000);
    TP_CHECK(tp_ffi_rl_window_incr("race", 4, TP_RL_HOUR, 1000, 1, t, &cnt, &reset) == 0);
    TP_CHECK(cnt == 1000);
}

int main(void)
{
    char err[TP_ERR_LEN];
    shm = tp_shm_create(1 << 20, err);
    dict = tp_shm_dict(shm, "ratelimit", 9);
    /* attach before fork so the racing children share the zone */
    tp_shm_attach(shm);
    TP_RUN(test_bucket_nodelay);
    TP_RUN(test_bucket_delay);
    TP_RUN(test_long_keys);
    TP_RUN(test_periods);
    TP_RUN(test_window);
    TP_RUN(test_multi_window);
    TP_RUN(test_concurrent_exact);
    tp_shm_destroy(shm);
    return TP_TEST_REPORT();
}
