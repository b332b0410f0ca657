/*
 * tp_lua.h - LuaJIT states: creating one with turnpike's module paths and
 * C modules preloaded, and running a script or module function in it.
 */
#ifndef TP_LUA_H
#define TP_LUA_H

#include <lua.h>

/** Directory that holds lua/ and plugins/ (from TURNPIKE_HOME or the binary's location).
 *  Returns a static string owned by this module. */
const char *tp_lua_home(void);

/** New LuaJIT state with standard libs, package paths (lua/, plugins/, system Lua 5.1)
 *  and turnpike's C modules in package.preload. NULL on failure with err filled. */
lua_State *tp_lua_new_state(char *err, size_t errlen);

/** Call `require(module)[fn]` with argv as a Lua array; returns its integer result
 *  (exit code) or 1 with the error printed to stderr. */
int tp_lua_run_main(lua_State *L, const char *module, const char *fn, int argc, char **argv);

#endif
