/*
 * tp_yaml.c - the `turnpike.yaml` Lua module: parses YAML text with libyaml into
 * Lua tables and records where each table and key came from, so that config
 * errors can name FILE:LINE.
 *
 *   local doc, meta = yaml.load(text)      -- or nil, err, line
 *   meta.start[tbl]      -> 1-based line where tbl begins
 *   meta.keys[tbl][k]    -> 1-based line of key k (maps) or of element k (sequences)
 *
 * Plain scalars are typed as YAML 1.1 core does (null, booleans, integers, floats);
 * quoted scalars are strings. Aliases reuse the anchored value.
 */
#include "tp_util.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

typedef struct {
    yaml_parser_t parser;
    lua_State *L;
    int start_idx; /* stack index of meta.start */
    int keys_idx;  /* stack index of meta.keys */
    int anchors_idx;
    char err[TP_ERR_LEN];
    int err_line;
    int depth; /* sequences and mappings open around the current node */
} loader_t;

/* deeper than any configuration: a document nested further is refused with its line (it
 * would otherwise exhaust the Lua stack or the C one) */
#define MAX_DEPTH 200

static int parse_node(loader_t *ld, yaml_event_t *ev);

static int next_event(loader_t *ld, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&ld->parser, ev)) {
        snprintf(ld->err, sizeof(ld->err), "%s%s%s",
                 ld->parser.problem ? ld->parser.problem : "YAML syntax error",
                 ld->parser.context ? " " : "", ld->parser.context ? ld->parser.context : "");
        ld->err_line = (int)ld->parser.problem_mark.line + 1;
        return -1;
    }
    return 0;
}

static int is_plain(const yaml_event_t *ev)
{
    return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev->data.scalar.tag == NULL;
}

static void push_scalar(loader_t *ld, yaml_event_t *ev)
{
    lua_State *L = ld->L;
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    if (tag && strcmp(tag, YAML_STR_TAG) == 0) {
        lua_pushlstring(L, s, n);
        return;
    }
    if (is_plain(ev)) {
        if (n == 0 || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0) {
            lua_pushnil(L);
            return;
        }
        if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0) {
            lua_pushboolean(L, 1);
            return;
        }
        if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 || strcasecmp(s, "off") == 0) {
            lua_pushboolean(L, 0);
            return;
        }
        char *end = NULL;
        errno = 0;
        long long ll = strtoll(s, &end, 0);
        if (end && *end == '\0' && errno == 0 && (s[0] != '0' || n == 1 || s[1] == 'x')) {
            lua_pushnumber(L, (lua_Number)ll);
            return;
        }
        double d = strtod(s, &end);
        if (end && *end == '\0' && strspn(s, "+-0123456789.eE") == n) {
            lua_pushnumber(L, d);
            return;
        }
        if (strcasecmp(s, ".inf") == 0 || strcasecmp(s, "+.inf") == 0) {
            lua_pushnumber(L, 1.0 / 0.0);
            return;
        }
    }
    lua_pushlstring(L, s, n);
}

/* Remember the line of the table on top of the stack. */
static void note_start(loader_t *ld, int line)
{
    lua_State *L = ld->L;
    lua_pushvalue(L, -1);
    lua_pushinteger(L, line);
    lua_rawset(L, ld->start_idx);
    lua_pushvalue(L, -1);
    lua_newtable(L);
    lua_rawset(L, ld->keys_idx);
}

/* keys[tbl][key] = line; the table is at tbl_idx, the key on top of the stack. */
static void note_key(loader_t *ld, int tbl_idx, int line)
{
    lua_State *L = ld->L;
    lua_pushvalue(L, tbl_idx);
    lua_rawget(L, ld->keys_idx);
    lua_pushvalue(L, -2);
    lua_pushinteger(L, line);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static void set_anchor(loader_t *ld, const yaml_char_t *anchor)
{
    if (anchor == NULL)
        return;
    lua_pushstring(ld->L, (const char *)anchor);
    lua_pushvalue(ld->L, -2);
    lua_rawset(ld->L, ld->anchors_idx);
}

static int parse_sequence(loader_t *ld, yaml_event_t *start)
{
    lua_State *L = ld->L;
    lua_newtable(L);
    int tbl = lua_gettop(L);
    note_start(ld, (int)start->start_mark.line + 1);
    set_anchor(ld, start->data.sequence_start.anchor);
    int i = 0;
    for (;;) {
        yaml_event_t ev;
        if (next_event(ld, &ev) < 0)
            return -1;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        int line = (int)ev.start_mark.line + 1;
        int rc = parse_node(ld, &ev);
        yaml_event_delete(&ev);
        if (rc < 0)
            return -1;
        i++;
        lua_rawseti(L, tbl, i);
        lua_pushinteger(L, i);
        note_key(ld, tbl, line);
        lua_pop(L, 1);
    }
}

static int parse_mapping(loader_t *ld, yaml_event_t *start)
{
    lua_State *L = ld->L;
    lua_newtable(L);
    int tbl = lua_gettop(L);
    note_start(ld, (int)start->start_mark.line + 1);
    set_anchor(ld, start->data.mapping_start.anchor);
    for (;;) {
        yaml_event_t ev;
        if (next_event(ld, &ev) < 0)
            return -1;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        int line = (int)ev.start_mark.line + 1;
        if (ev.type != YAML_SCALAR_EVENT) {
            snprintf(ld->err, sizeof(ld->err), "mapping keys must be scalars");
            ld->err_line = line;
            yaml_event_delete(&ev);
            return -1;
        }
        lua_pushlstring(L, (const char *)ev.data.scalar.value, ev.data.scalar.length);
        yaml_event_delete(&ev);
        lua_pushvalue(L, -1);
        lua_rawget(L, tbl);
        int dup = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (dup) {
            snprintf(ld->err, sizeof(ld->err), "duplicate key '%s'", lua_tostring(L, -1));
            ld->err_line = line;
            return -1;
        }
        note_key(ld, tbl, line);
        if (next_event(ld, &ev) < 0)
            return -1;
        int rc = parse_node(ld, &ev);
        yaml_event_delete(&ev);
        if (rc < 0)
            return -1;
        lua_rawset(L, tbl);
    }
}

/* Pushes the value the event starts. */
static int parse_node(loader_t *ld, yaml_event_t *ev)
{
    lua_State *L = ld->L;
    int nested = ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT;
    if (!lua_checkstack(L, 8) || (nested && ld->depth >= MAX_DEPTH)) {
        snprintf(ld->err, sizeof(ld->err), "nested deeper than %d levels", MAX_DEPTH);
        ld->err_line = (int)ev->start_mark.line + 1;
        return -1;
    }
    int rc;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        push_scalar(ld, ev);
        set_anchor(ld, ev->data.scalar.anchor);
        return 0;
    case YAML_SEQUENCE_START_EVENT:
        ld->depth++;
        rc = parse_sequence(ld, ev);
        ld->depth--;
        return rc;
    case YAML_MAPPING_START_EVENT:
        ld->depth++;
        rc = parse_mapping(ld, ev);
        ld->depth--;
        return rc;
    case YAML_ALIAS_EVENT:
        lua_pushstring(L, (const char *)ev->data.alias.anchor);
        lua_rawget(L, ld->anchors_idx);
        if (lua_isnil(L, -1)) {
            snprintf(ld->err, sizeof(ld->err), "unknown alias '%s'", ev->data.alias.anchor);
            ld->err_line = (int)ev->start_mark.line + 1;
            return -1;
        }
        return 0;
    default:
        snprintf(ld->err, sizeof(ld->err), "unexpected YAML event");
        ld->err_line = (int)ev->start_mark.line + 1;
        return -1;
    }
}

static int load_document(loader_t *ld)
{
    yaml_event_t ev;
    for (;;) {
        if (next_event(ld, &ev) < 0)
            return -1;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            lua_pushnil(ld->L);
            return 0;
        }
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        int rc = parse_node(ld, &ev);
        yaml_event_delete(&ev);
        return rc;
    }
}

static int l_load(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    loader_t ld;
    memset(&ld, 0, sizeof(ld));
    ld.L = L;
    lua_settop(L, 1);
    lua_newtable(L); /* 2: meta */
    lua_newtable(L); /* 3: start */
    lua_newtable(L); /* 4: keys */
    lua_newtable(L); /* 5: anchors */
    ld.start_idx = 3;
    ld.keys_idx = 4;
    ld.anchors_idx = 5;
    if (!yaml_parser_initialize(&ld.parser))
        return luaL_error(L, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&ld.parser, (const unsigned char *)text, len);
    int rc = load_document(&ld);
    yaml_parser_delete(&ld.parser);
    if (rc < 0) {
        lua_pushnil(L);
        lua_pushstring(L, ld.err);
        lua_pushinteger(L, ld.err_line);
        return 3;
    }
    /* stack: text meta start keys anchors doc */
    lua_pushvalue(L, 3);
    lua_setfield(L, 2, "start");
    lua_pushvalue(L, 4);
    lua_setfield(L, 2, "keys");
    lua_pushvalue(L, 2);
    return 2;
}

int tp_yaml_open(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, l_load);
    lua_setfield(L, -2, "load");
    return 1;
}
