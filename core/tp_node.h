/*
 * tp_node.h - node settings (the `turnpike:` block) as the C core uses them,
 * read from the validated Lua config table, plus the small control area the
 * master shares with its workers (generation number, config path, per-worker status).
 */
#ifndef TP_NODE_H
#define TP_NODE_H

#include <limits.h>
#include <lua.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TP_MAX_LISTEN 8
#define TP_MAX_WORKERS 64

typedef struct {
    char host[64];
    int port;
    int ssl;
    int admin;
} tp_listen_t;

typedef struct {
    int workers; /* 0 = one per core */
    char prefix[PATH_MAX];
    char access_log[PATH_MAX];
    char error_log[PATH_MAX];
    int log_level;
    tp_listen_t listen[TP_MAX_LISTEN]; /* proxy listeners, then the admin one */
    int nlisten;
    size_t client_max_body_size; /* 0 = unlimited */
    size_t client_max_header_size;
    int client_header_timeout_ms;
    int client_body_timeout_ms;
    int send_timeout_ms; /* between two writes to a client that does not read */
    int keepalive_timeout_ms;
    int upstream_keepalive;
    size_t shm_size;
    size_t cache_size;
    int drain_timeout_ms;
    char plugins_path[8][PATH_MAX]; /* folders --watch also watches */
    int nplugins_path;
} tp_node_t;

typedef struct {
    pid_t pid;
    uint64_t generation;
    uint64_t loaded_at_ms; /* wall clock */
    uint64_t requests;
    int64_t connections;
} tp_worker_status_t;

/* Shared between master and workers (MAP_SHARED, created before fork). */
typedef struct {
    uint64_t generation;         /* the generation workers should be on */
    char config_path[PATH_MAX];  /* what a reload loads */
    char posted_path[PATH_MAX];  /* a config posted to the admin API, waiting for the master */
    pid_t master_pid;
    int nworkers;
    tp_worker_status_t workers[TP_MAX_WORKERS];
} tp_ctl_t;

/** Fill node from the Lua table at index idx (cfg.node). Returns 0 or -1 with err. */
int tp_node_from_lua(lua_State *L, int idx, tp_node_t *node, char *err, size_t errlen);

/** Load and validate a config file in L via turnpike.config; leaves cfg on the stack.
 *  Returns 0, or -1 with the message in err. */
int tp_node_load_config(lua_State *L, const char *path, char *err, size_t errlen);

/** The control area (process-wide, set by the master before fork). */
tp_ctl_t *tp_ctl(void);
int tp_ctl_create(char *err, size_t errlen);

#endif
