/* hl_offset_list: a doubly linked list whose links are unit offsets from a
 * base, 0 meaning none, so that it works wherever each process maps the
 * region.  A list is named by its head and tail words and by where its
 * two link fields lie in a node, so one node could sit on several (the
 * cache's LRU list uses prev/next; its expiry order is a heap instead,
 * hl_cache.c says why).
 * Everything is inline and the descriptor is built from constants, so the
 * compiler reduces each call to the pointer work written out by hand.
 * The caller serialises every change (the cache holds its lock). */
#ifndef HL_OFFSET_LIST_H
#define HL_OFFSET_LIST_H

#include <apr.h>

typedef struct hl_olist {
    char         *base;        /* offsets count units from here */
    apr_size_t    unit;        /* bytes per unit */
    apr_uint32_t *head, *tail;
    apr_size_t    prev, next;  /* byte offsets of the link fields in a node */
} hl_olist;

static inline void *hl_ol_node(const hl_olist *l, apr_uint32_t o)
{
    return l->base + (apr_size_t)o * l->unit;
}

static inline apr_uint32_t *hl_ol_prev(const hl_olist *l, apr_uint32_t o)
{
    return (apr_uint32_t *)((char *)hl_ol_node(l, o) + l->prev);
}

static inline apr_uint32_t *hl_ol_next(const hl_olist *l, apr_uint32_t o)
{
    return (apr_uint32_t *)((char *)hl_ol_node(l, o) + l->next);
}

/* Takes o out of the list and clears its links. */
static inline void hl_ol_unlink(const hl_olist *l, apr_uint32_t o)
{
    apr_uint32_t p = *hl_ol_prev(l, o), n = *hl_ol_next(l, o);
    if (p) *hl_ol_next(l, p) = n; else *l->head = n;
    if (n) *hl_ol_prev(l, n) = p; else *l->tail = p;
    *hl_ol_prev(l, o) = *hl_ol_next(l, o) = 0;
}

/* Puts o after the node after, or at the head when after is 0. */
static inline void hl_ol_insert_after(const hl_olist *l, apr_uint32_t after,
                                      apr_uint32_t o)
{
    apr_uint32_t n = after ? *hl_ol_next(l, after) : *l->head;
    *hl_ol_prev(l, o) = after;
    *hl_ol_next(l, o) = n;
    if (n) *hl_ol_prev(l, n) = o; else *l->tail = o;
    if (after) *hl_ol_next(l, after) = o; else *l->head = o;
}

static inline void hl_ol_push_head(const hl_olist *l, apr_uint32_t o)
{
    hl_ol_insert_after(l, 0, o);
}

static inline void hl_ol_append(const hl_olist *l, apr_uint32_t o)
{
    hl_ol_insert_after(l, *l->tail, o);
}

/* Nonzero when node a belongs before node b (ties keep their order). */
typedef int (*hl_ol_before_fn)(const void *a, const void *b);

/* Bottom-up merge sort by the next links, stable, O(n log n) without
 * memory; then the prev links and the tail are rebuilt. */
static inline void hl_ol_sort(const hl_olist *l, hl_ol_before_fn before)
{
    apr_uint32_t head = *l->head, insize = 1, nmerges, tail, p, q, e, prev;

    if (!head)
        return;
    do {
        p = head;
        head = tail = 0;
        nmerges = 0;
        while (p) {
            apr_uint32_t psize = 0, qsize = insize;
            nmerges++;
            for (q = p; psize < insize && q; psize++)
                q = *hl_ol_next(l, q);
            while (psize > 0 || (qsize > 0 && q)) {
                if (psize == 0 || (qsize > 0 && q
                                   && !before(hl_ol_node(l, p), hl_ol_node(l, q)))) {
                    e = q; q = *hl_ol_next(l, q); qsize--;
                }
                else {
                    e = p; p = *hl_ol_next(l, p); psize--;
                }
                if (tail) *hl_ol_next(l, tail) = e; else head = e;
                tail = e;
            }
            p = q;
        }
        *hl_ol_next(l, tail) = 0;
        insize *= 2;
    } while (nmerges > 1);

    for (prev = 0, e = head; e; prev = e, e = *hl_ol_next(l, e))
        *hl_ol_prev(l, e) = prev;
    *l->head = head;
    *l->tail = prev;
}

#endif
