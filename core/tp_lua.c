/*
 * tp_lua.c - owns the creation of LuaJIT states (paths, preloaded C modules)
 * and the plain "call a Lua main function" entry used by the command line.
 */
#include "tp_lua.h"
#include "tp_util.h"

#include <lauxlib.h>
#include <lualib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* C modules compiled into the binary, offered to require() via package.preload. */
int tp_yaml_open(lua_State *L);

static const luaL_Reg preloaded[] = {
    {"turnpike.yaml", tp_yaml_open},
    {NULL, NULL},
};

/* Resolved once: the install root. */
static char home[PATH_MAX];

const char *tp_lua_home(void)
{
    if (home[0])
        return home;
    const char *env = getenv("TURNPIKE_HOME");
    if (env && *env) {
        snprintf(home, sizeof(home), "%s", env);
        return home;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        snprintf(home, sizeof(home), ".");
        return home;
    }
    exe[n] = '\0';
    /* the binary sits somewhere below the checkout (build/turnpike, build/asan/turnpike):
     * walk up to the first folder that holds lua/turnpike */
    char *slash;
    while ((slash = strrchr(exe, '/')) != NULL) {
        *slash = '\0';
        char probe[PATH_MAX + 32];
        snprintf(probe, sizeof(probe), "%s/lua/turnpike", exe);
        if (access(probe, F_OK) == 0) {
            snprintf(home, sizeof(home), "%s", exe[0] ? exe : "/");
            return home;
        }
    }
    snprintf(home, sizeof(home), ".");
    return home;
}

lua_State *tp_lua_new_state(char *err, size_t errlen)
{
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        snprintf(err, errlen, "cannot create a LuaJIT state");
        return NULL;
    }
    luaL_openlibs(L);
    const char *h = tp_lua_home();
    char path[4 * PATH_MAX];
    snprintf(path, sizeof(path),
             "%s/lua/?.lua;%s/lua/?/init.lua;/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua;"
             "/usr/local/share/lua/5.1/?.lua;/usr/local/share/lua/5.1/?/init.lua;"
             "/usr/share/luajit-2.1.0-beta3/?.lua;./?.lua",
             h, h);
    lua_getglobal(L, "package");
    lua_pushstring(L, path);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, "/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;/usr/local/lib/lua/5.1/?.so;"
                      "/usr/lib/lua/5.1/?.so");
    lua_setfield(L, -2, "cpath");
    lua_getfield(L, -1, "preload");
    for (const luaL_Reg *m = preloaded; m->name; m++) {
        lua_pushcfunction(L, m->func);
        lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 2);
    lua_pushstring(L, h);
    lua_setglobal(L, "TURNPIKE_HOME");
    /* Lua files through the process's bytecode cache (tp_codecache.c); a state without it
     * still works, only slower to build */
    if (luaL_dostring(L, "require('turnpike.codecache').install()") != 0)
        lua_pop(L, 1);
    return L;
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

int tp_lua_run_main(lua_State *L, const char *module, const char *fn, int argc, char **argv)
{
    lua_pushcfunction(L, traceback);
    int tb = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    if (lua_pcall(L, 1, 1, tb) != 0) {
        fprintf(stderr, "turnpike: %s\n", lua_tostring(L, -1));
        return 1;
    }
    lua_getfield(L, -1, fn);
    lua_createtable(L, argc, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    if (lua_pcall(L, 1, 1, tb) != 0) {
        fprintf(stderr, "turnpike: %s\n", lua_tostring(L, -1));
        return 1;
    }
    int rc = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 0;
    lua_settop(L, tb - 1);
    return rc;
}
