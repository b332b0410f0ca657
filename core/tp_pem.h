/*
 * tp_pem.h - PEM text into its objects (see tp_pem.c).
 */
#ifndef TP_PEM_H
#define TP_PEM_H

#include <stddef.h>

/* One object of a PEM text: its label ("CERTIFICATE", "PUBLIC KEY", ...) and bytes. */
typedef struct {
    char name[128];
    unsigned char *data;
    size_t len, cap;
    int overflow;
} tp_pem_obj_t;

typedef struct {
    tp_pem_obj_t *objs;
    int n;
} tp_pem_list_t;

/* Every object of a PEM text, in order. Returns 0, or -1 when the text is not PEM, holds
 * no object, or an object is cut short or too large (out is then empty). The caller frees
 * a filled list with tp_pem_free. */
int tp_pem_decode(const char *pem, size_t len, tp_pem_list_t *out);
void tp_pem_free(tp_pem_list_t *l);

#endif
