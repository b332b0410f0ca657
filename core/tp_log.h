/*
 * tp_log.h - error log (levels, to stderr or a file) and the JSON access log.
 * The log target is process-wide state set once at start-up (and after fork).
 */
#ifndef TP_LOG_H
#define TP_LOG_H

#include <stddef.h>

enum { TP_LOG_ERR = 0, TP_LOG_WARN, TP_LOG_NOTICE, TP_LOG_INFO, TP_LOG_DEBUG };

/** Open the error log: "stderr", "stdout", "off" or a file path. Returns 0 or -errno. */
int tp_log_open(const char *target, int level);
/** Tag every line with this role ("master", "worker 1"). */
void tp_log_set_role(const char *role);
void tp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tp_log_level(void);

/** Access log: "stdout", "off" or a path. One already-formatted JSON line per call. */
int tp_access_log_open(const char *target);
void tp_access_log_write(const char *line, size_t len);
int tp_access_log_enabled(void);

#endif
