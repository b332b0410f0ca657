/*
 * tp_pem.c - PEM text (RFC 7468) into its objects: each object's label and decoded DER bytes,
 * in order, over BearSSL's br_pem_decoder. Used for certificates and keys (tp_tls,
 * tp_tls_client) and public keys (tp_crypto). Objects are bounded by PEM_OBJECT_MAX.
 */
#include "tp_pem.h"
#include "tp_util.h"

#include <bearssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEM_OBJECT_MAX (256 * 1024) /* no certificate or key is anywhere near this */

static void on_pem_bytes(void *ctx, const void *src, size_t len)
{
    tp_pem_obj_t *o = ctx;
    if (o->overflow || len > PEM_OBJECT_MAX - o->len) {
        o->overflow = 1;
        return;
    }
    if (o->len + len > o->cap) {
        o->cap = (o->len + len) * 2;
        o->data = tp_realloc(o->data, o->cap);
    }
    memcpy(o->data + o->len, src, len);
    o->len += len;
}

void tp_pem_free(tp_pem_list_t *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->objs[i].data);
    free(l->objs);
    l->objs = NULL;
    l->n = 0;
}

int tp_pem_decode(const char *pem, size_t len, tp_pem_list_t *out)
{
    br_pem_decoder_context pc;
    tp_pem_obj_t *cur = NULL;
    int tail_sent = 0;

    memset(out, 0, sizeof(*out));
    br_pem_decoder_init(&pc);
    for (;;) {
        if (len == 0) {
            /* the decoder closes an END line only at a newline: supply one */
            if (tail_sent)
                break;
            tail_sent = 1;
            pem = "\n";
            len = 1;
        }
        size_t used = br_pem_decoder_push(&pc, pem, len);
        pem += used;
        len -= used;
        switch (br_pem_decoder_event(&pc)) {
        case BR_PEM_BEGIN_OBJ:
            out->objs = tp_realloc(out->objs, sizeof(tp_pem_obj_t) * (size_t)(out->n + 1));
            cur = &out->objs[out->n++];
            memset(cur, 0, sizeof(*cur));
            snprintf(cur->name, sizeof(cur->name), "%s", br_pem_decoder_name(&pc));
            br_pem_decoder_setdest(&pc, on_pem_bytes, cur);
            break;
        case BR_PEM_END_OBJ:
            if (cur && cur->overflow)
                goto fail;
            cur = NULL;
            break;
        case BR_PEM_ERROR:
            goto fail;
        default:
            break;
        }
    }
    if (cur != NULL || out->n == 0)
        goto fail; /* an object without its END line, or no object at all */
    return 0;
fail:
    tp_pem_free(out);
    return -1;
}
