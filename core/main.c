/*
 * main.c - the command line: run, check, reload, stop, version, spec.
 * `run` hands over to the master (tp_master.c); the others are thin and mostly
 * implemented in Lua (lua/turnpike/cli.lua) so they share the config loader.
 */
#include "tp_lua.h"
#include "tp_master.h"
#include "tp_util.h"

#include <bearssl.h>
#include <ev.h>
#include <hiredis.h>
#include <http_parser.h>
#include <lauxlib.h>
#include <luajit.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#define TP_VERSION "0.1.0"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: turnpike <command> [options]\n"
            "  run -c FILE [--watch]   start the gateway in the foreground\n"
            "  check -c FILE           validate a config and the plugins it names\n"
            "  reload [-c FILE]        ask the running gateway to reload config and Lua code\n"
            "  stop [-c FILE]          graceful stop of the running gateway\n"
            "  version                 version and linked libraries\n"
            "  spec [busted args]      run busted specs with turnpike's Lua paths\n");
}

static int cmd_version(void)
{
    printf("turnpike %s\n", TP_VERSION);
    printf("  %s\n", LUAJIT_VERSION);
    printf("  libev %d.%d\n", ev_version_major(), ev_version_minor());
    unsigned long hp = http_parser_version();
    printf("  http-parser %lu.%lu.%lu\n", (hp >> 16) & 255, (hp >> 8) & 255, hp & 255);
    printf("  hiredis %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    printf("  libyaml %s\n", yaml_get_version_string());
    printf("  BearSSL (%s)\n", br_sha256_ID == 4 ? "sha2/hmac/rsa/ec" : "linked");
    return 0;
}

static int run_lua_cli(const char *fn, int argc, char **argv)
{
    char err[TP_ERR_LEN];
    lua_State *L = tp_lua_new_state(err, sizeof(err));
    if (L == NULL) {
        fprintf(stderr, "turnpike: %s\n", err);
        return 1;
    }
    int rc = tp_lua_run_main(L, "turnpike.cli", fn, argc, argv);
    lua_close(L);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "-v") == 0 || strcmp(cmd, "--version") == 0)
        return cmd_version();
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return tp_master_main(argc - 2, argv + 2);
    if (strcmp(cmd, "check") == 0 || strcmp(cmd, "reload") == 0 || strcmp(cmd, "stop") == 0 ||
        strcmp(cmd, "spec") == 0)
        return run_lua_cli(cmd, argc - 2, argv + 2);
    fprintf(stderr, "turnpike: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
