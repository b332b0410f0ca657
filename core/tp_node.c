/*
 * tp_node.c - reads node settings out of the Lua config table and owns the
 * master/worker control area.
 */
#include "tp_node.h"
#include "tp_log.h"
#include "tp_util.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* The control area, mapped once by the master before it forks. */
static tp_ctl_t *ctl;

tp_ctl_t *tp_ctl(void)
{
    return ctl;
}

int tp_ctl_create(char *err, size_t errlen)
{
    void *p = mmap(NULL, sizeof(tp_ctl_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "mmap control area: %s", strerror(errno));
        return -1;
    }
    memset(p, 0, sizeof(tp_ctl_t));
    ctl = p;
    return 0;
}

static const char *str_field(lua_State *L, int idx, const char *name, const char *dflt)
{
    lua_getfield(L, idx, name);
    const char *s = lua_isstring(L, -1) ? lua_tostring(L, -1) : dflt;
    lua_pop(L, 1);
    return s;
}

static double num_field(lua_State *L, int idx, const char *name, double dflt)
{
    lua_getfield(L, idx, name);
    double d = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : dflt;
    lua_pop(L, 1);
    return d;
}

static int parse_listen(lua_State *L, int admin, tp_node_t *node, char *err, size_t errlen)
{
    if (node->nlisten >= TP_MAX_LISTEN) {
        snprintf(err, errlen, "too many listeners (at most %d)", TP_MAX_LISTEN);
        return -1;
    }
    tp_listen_t *l = &node->listen[node->nlisten++];
    int t = lua_gettop(L);
    snprintf(l->host, sizeof(l->host), "%s", str_field(L, t, "host", "0.0.0.0"));
    l->port = (int)num_field(L, t, "port", 0);
    lua_getfield(L, t, "ssl");
    l->ssl = lua_toboolean(L, -1);
    lua_pop(L, 1);
    l->admin = admin;
    if (l->port <= 0 || l->port > 65535) {
        snprintf(err, errlen, "listener %s: bad port", l->host);
        return -1;
    }
    return 0;
}

static int level_from_name(const char *s)
{
    static const char *names[] = {"error", "warn", "notice", "info", "debug"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return TP_LOG_NOTICE;
}

int tp_node_from_lua(lua_State *L, int idx, tp_node_t *node, char *err, size_t errlen)
{
    if (idx < 0)
        idx = lua_gettop(L) + idx + 1;
    memset(node, 0, sizeof(*node));
    node->workers = (int)num_field(L, idx, "workers", 0);
    snprintf(node->prefix, sizeof(node->prefix), "%s", str_field(L, idx, "prefix", "./run"));
    snprintf(node->access_log, sizeof(node->access_log), "%s", str_field(L, idx, "access_log", "stdout"));
    snprintf(node->error_log, sizeof(node->error_log), "%s", str_field(L, idx, "error_log", "stderr"));
    node->log_level = level_from_name(str_field(L, idx, "log_level", "notice"));
    node->client_max_body_size = (size_t)num_field(L, idx, "client_max_body_size", 8 << 20);
    node->client_max_header_size = (size_t)num_field(L, idx, "client_max_header_size", 32 << 10);
    node->client_header_timeout_ms = (int)num_field(L, idx, "client_header_timeout_ms", 10000);
    node->client_body_timeout_ms = (int)num_field(L, idx, "client_body_timeout_ms", 60000);
    node->send_timeout_ms = (int)num_field(L, idx, "send_timeout_ms", 60000);
    node->keepalive_timeout_ms = (int)num_field(L, idx, "keepalive_timeout_ms", 60000);
    node->upstream_keepalive = (int)num_field(L, idx, "upstream_keepalive", 64);
    node->shm_size = (size_t)num_field(L, idx, "shm_size", 64 << 20);
    node->cache_size = (size_t)num_field(L, idx, "cache_size", 32 << 20);
    node->drain_timeout_ms = (int)num_field(L, idx, "drain_timeout_ms", 30000);

    lua_getfield(L, idx, "plugins_path");
    if (lua_istable(L, -1)) {
        int n = (int)lua_objlen(L, -1);
        for (int i = 1; i <= n && node->nplugins_path < 8; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_isstring(L, -1))
                snprintf(node->plugins_path[node->nplugins_path++], PATH_MAX, "%s",
                         lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);

    lua_getfield(L, idx, "proxy_listen");
    if (lua_istable(L, -1)) {
        int n = (int)lua_objlen(L, -1);
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            int rc = parse_listen(L, 0, node, err, errlen);
            lua_pop(L, 1);
            if (rc < 0) {
                lua_pop(L, 1);
                return -1;
            }
        }
    }
    lua_pop(L, 1);
    lua_getfield(L, idx, "admin_listen");
    if (lua_istable(L, -1) && parse_listen(L, 1, node, err, errlen) < 0) {
        lua_pop(L, 1);
        return -1;
    }
    lua_pop(L, 1);
    if (node->nlisten == 0) {
        snprintf(err, errlen, "no listeners configured");
        return -1;
    }
    return 0;
}

int tp_node_load_config(lua_State *L, const char *path, char *err, size_t errlen)
{
    lua_getglobal(L, "require");
    lua_pushstring(L, "turnpike.config");
    if (lua_pcall(L, 1, 1, 0) != 0) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    lua_getfield(L, -1, "load_file");
    lua_remove(L, -2);
    lua_pushstring(L, path);
    if (lua_pcall(L, 1, 2, 0) != 0) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    if (lua_isnil(L, -2)) {
        snprintf(err, errlen, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "invalid config");
        lua_pop(L, 2);
        return -1;
    }
    lua_pop(L, 1);
    return 0;
}
