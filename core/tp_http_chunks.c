/*
 * tp_http_chunks.c - owns the check of a chunked request body's framing (RFC 9112 section
 * 7.1), run over the bytes http-parser consumed. The Debian http-parser is built without
 * HTTP_PARSER_STRICT and takes any two bytes after a chunk's data for its CRLF: a body
 * such as "5\r\nhelloXX3\r\n..." would be framed one way here and another way by a
 * stricter server in front of or behind the gateway (request smuggling). Line ends may be
 * CRLF or a bare LF, as in heads; chunk extensions are skipped; trailer fields are not
 * parsed, only their lines.
 */
#include "tp_http_chunks.h"

enum {
    SIZE_FIRST = 0, /* the first hex digit of a chunk size */
    SIZE,           /* more hex digits, or the end of the size */
    EXT,            /* a chunk extension, up to the line end */
    SIZE_LF,        /* the LF of a size line's CRLF */
    DATA,           /* chunk data */
    DATA_CR,        /* the line end after chunk data */
    DATA_LF,        /* its LF after a CR */
    TRAILER_START,  /* the start of a trailer line, or the empty line that ends the body */
    TRAILER,        /* within a trailer line */
    TRAILER_LF,     /* the LF of a trailer line's CRLF */
    END_LF,         /* the LF of the final empty line */
};

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* a size line ended: data follows, or the trailer section after the last chunk */
static void size_line_done(tp_chunks_scan_t *s)
{
    s->left = s->size;
    s->state = s->size ? DATA : TRAILER_START;
}

int tp_http_chunks_scan(tp_chunks_scan_t *s, const char *p, size_t n, size_t *end)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        switch (s->state) {
        case SIZE_FIRST:
        case SIZE: {
            /* http-parser, paused at the end of the head, hands the head's last LF back
             * with the body's first bytes */
            if (!s->started && c == '\n')
                continue;
            s->started = 1;
            int v = hex_value(c);
            if (v >= 0) {
                if (s->size >> 60)
                    return TP_CHUNKS_BAD; /* more than 64 bits (leading zeros are fine) */
                s->size = s->size * 16 + (uint64_t)v;
                s->digits++;
                s->state = SIZE;
            } else if (s->state == SIZE_FIRST) {
                return TP_CHUNKS_BAD;
            } else if (c == ';' || c == ' ' || c == '\t') {
                s->state = EXT;
            } else if (c == '\r') {
                s->state = SIZE_LF;
            } else if (c == '\n') {
                size_line_done(s);
            } else {
                return TP_CHUNKS_BAD;
            }
            break;
        }
        case EXT:
            if (c == '\r')
                s->state = SIZE_LF;
            else if (c == '\n')
                size_line_done(s);
            else if (c == '\0')
                return TP_CHUNKS_BAD;
            break;
        case SIZE_LF:
            if (c != '\n')
                return TP_CHUNKS_BAD;
            size_line_done(s);
            break;
        case DATA: {
            size_t take = n - i < s->left ? n - i : (size_t)s->left;
            s->left -= take;
            i += take - 1;
            if (s->left == 0)
                s->state = DATA_CR;
            break;
        }
        case DATA_CR:
            if (c == '\r')
                s->state = DATA_LF;
            else if (c == '\n')
                s->state = SIZE_FIRST, s->size = 0, s->digits = 0;
            else
                return TP_CHUNKS_BAD;
            break;
        case DATA_LF:
            if (c != '\n')
                return TP_CHUNKS_BAD;
            s->state = SIZE_FIRST, s->size = 0, s->digits = 0;
            break;
        case TRAILER_START:
        case TRAILER:
            if (c == '\r') {
                s->state = s->state == TRAILER_START ? END_LF : TRAILER_LF;
            } else if (c == '\n') {
                if (s->state == TRAILER_START) {
                    *end = i + 1;
                    return TP_CHUNKS_END;
                }
                s->state = TRAILER_START;
            } else if (c == '\0') {
                return TP_CHUNKS_BAD;
            } else {
                s->state = TRAILER;
            }
            break;
        case TRAILER_LF:
            if (c != '\n')
                return TP_CHUNKS_BAD;
            s->state = TRAILER_START;
            break;
        case END_LF:
            if (c != '\n')
                return TP_CHUNKS_BAD;
            *end = i + 1;
            return TP_CHUNKS_END;
        default:
            return TP_CHUNKS_BAD;
        }
    }
    return TP_CHUNKS_MORE;
}
