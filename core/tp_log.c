/*
 * tp_log.c - owns the error-log and access-log file descriptors of this process.
 */
#include "tp_log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

/* Process-wide log state: set at start-up, inherited by workers. */
static int error_fd = 2;
static int error_level = TP_LOG_NOTICE;
static int access_fd = 1;
static char role[32] = "main";

static const char *level_names[] = {"error", "warn", "notice", "info", "debug"};

static int open_target(const char *target, int dflt)
{
    if (target == NULL || strcmp(target, "stderr") == 0)
        return dflt == 1 ? 2 : dflt;
    if (strcmp(target, "stdout") == 0)
        return 1;
    if (strcmp(target, "off") == 0)
        return -1;
    int fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return fd < 0 ? -errno - 1000 : fd;
}

int tp_log_open(const char *target, int level)
{
    int fd = open_target(target, 2);
    if (fd < -1)
        return -(-fd - 1000);
    error_fd = fd;
    error_level = level;
    return 0;
}

void tp_log_set_role(const char *r)
{
    snprintf(role, sizeof(role), "%s", r);
}

int tp_log_level(void)
{
    return error_level;
}

void tp_log(int level, const char *fmt, ...)
{
    if (error_fd < 0 || level > error_level)
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d/%02d/%02d %02d:%02d:%02d [%s] %d %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, level_names[level], (int)getpid(), role);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(error_fd, line, len);
    (void)w;
}

int tp_access_log_open(const char *target)
{
    int fd = open_target(target, 1);
    if (fd < -1)
        return -(-fd - 1000);
    access_fd = fd;
    return 0;
}

int tp_access_log_enabled(void)
{
    return access_fd >= 0;
}

void tp_access_log_write(const char *line, size_t len)
{
    if (access_fd < 0)
        return;
    ssize_t w = write(access_fd, line, len);
    (void)w;
}
