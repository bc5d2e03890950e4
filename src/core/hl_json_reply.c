/* hl_json_reply: see hl_json_reply.h. */
#include "hl_json_reply.h"
#include "hl_cache_query.h"
#include "hl_utf8.h"

#include <apr_strings.h>
#include <apr_time.h>
#include <string.h>

void hl_json_error(hl_jsonw *w, int status, const char *message)
{
    hl_jsonw_object(w);
    hl_jsonw_kv_cstr(w, "error", message);
    hl_jsonw_kv_i64(w, "status", status);
    hl_jsonw_end(w);
}

void hl_json_index(hl_jsonw *w, const char *mount, const hl_route_def *routes)
{
    const hl_route_def *d;
    hl_jsonw_object(w);
    hl_jsonw_kv_literal(w, "service", "mod_hyperlane");
    hl_jsonw_kv_cstr(w, "mount", mount);
    hl_jsonw_key(w, "endpoints");
    hl_jsonw_array(w);
    for (d = routes; d->path; d++) {
        if (*d->path)
            hl_jsonw_cstr(w, apr_pstrcat(w->pool, d->path, d->rest_name, NULL));
    }
    hl_jsonw_end(w);
    hl_jsonw_end(w);
}

/* memory_info / memory_usage, written by hand into a span, as the
 * history entries are: the writer's calls for its nine members cost more
 * than their text.  With counter/increment's answer in one span too, this
 * took 955 of the 23,400 instructions an increment cost in the server, and
 * 690 from counter/stats (callgrind).  FIGURES_TEXT is the names and
 * punctuation (125 bytes). */
#define FIGURES_TEXT 128

static apr_size_t figures_max(const hl_memory_figures *m, apr_size_t *mpm_len,
                              apr_size_t *store_len)
{
    *mpm_len = strlen(m->mpm);
    *store_len = strlen(m->store.backend);
    return FIGURES_TEXT + 6 * HL_JSONW_SPAN_NUMBER
           + HL_JSONW_SPAN_STRING(*mpm_len) + HL_JSONW_SPAN_STRING(*store_len);
}

/* *age, when given, gets where rss_age_us's digits start. */
static char *figures(hl_jsonw *w, char *p, const hl_memory_figures *m,
                     apr_size_t mpm_len, apr_size_t store_len, char **age)
{
    p = hl_jsonw_paste(p, "{\"pid\":");
    p = hl_jsonw_span_i64(p, m->proc.pid);
    p = hl_jsonw_paste(p, ",\"mpm\":");
    p = hl_jsonw_span_string(w, p, m->mpm, mpm_len);
    p = hl_jsonw_paste(p, ",\"rss_bytes\":");
    p = hl_jsonw_span_u64(p, m->proc.rss_bytes);
    p = hl_jsonw_paste(p, ",\"peak_rss_bytes\":");
    p = hl_jsonw_span_u64(p, m->proc.peak_rss_bytes);
    p = hl_jsonw_paste(p, ",\"rss_age_us\":");
    if (age)
        *age = p;
    p = hl_jsonw_span_i64(p, m->proc.age_us);
    p = hl_jsonw_paste(p, ",\"store\":");
    p = hl_jsonw_span_string(w, p, m->store.backend, store_len);
    p = hl_jsonw_paste(p, ",\"shm_size_bytes\":");
    p = hl_jsonw_span_u64(p, m->store.size_bytes);
    p = hl_jsonw_paste(p, ",\"shm_used_bytes\":");
    p = hl_jsonw_span_u64(p, m->store.used_bytes);
    p = hl_jsonw_paste(p, ",\"store_generation\":");
    p = hl_jsonw_span_u64(p, m->store.generation);
    *p++ = '}';
    return p;
}

/* *age_at: the offset in w->buf of rss_age_us's digits. */
static void memory_figures(hl_jsonw *w, const hl_memory_figures *m,
                           apr_size_t *age_at)
{
    apr_size_t mpm_len, store_len;
    char *age;
    char *p = hl_jsonw_span(w, figures_max(m, &mpm_len, &store_len));
    hl_jsonw_span_end(w, figures(w, p, m, mpm_len, store_len, &age));
    *age_at = (apr_size_t)(age - w->buf);
}

/* One span, for the same reason; INCREMENT_TEXT is the text around the
 * counter and the figures (66 bytes). */
#define INCREMENT_TEXT (72 + HL_JSONW_SPAN_NUMBER)

void hl_json_counter_increment(hl_jsonw *w, apr_uint64_t value,
                               const hl_memory_figures *m)
{
    apr_size_t mpm_len, store_len;
    char *p = hl_jsonw_span(w, INCREMENT_TEXT
                               + figures_max(m, &mpm_len, &store_len));
    p = hl_jsonw_paste(p, "{\"counter\":");
    p = hl_jsonw_span_u64(p, value);
    p = hl_jsonw_paste(p, ",\"message\":\"Counter incremented safely\","
                          "\"memory_info\":");
    p = figures(w, p, m, mpm_len, store_len, NULL);
    *p++ = '}';
    hl_jsonw_span_end(w, p);
}

/* Whether two figures would be written alike but for the reading's age. */
static int same_figures(const hl_memory_figures *a, const hl_memory_figures *b)
{
    return a->proc.pid == b->proc.pid
           && a->proc.rss_bytes == b->proc.rss_bytes
           && a->proc.peak_rss_bytes == b->proc.peak_rss_bytes
           && a->store.size_bytes == b->store.size_bytes
           && a->store.used_bytes == b->store.used_bytes
           && a->store.generation == b->store.generation
           && (a->store.backend == b->store.backend
               || !strcmp(a->store.backend, b->store.backend))
           && (a->mpm == b->mpm || !strcmp(a->mpm, b->mpm));
}

/* Keeps text[0..len) in k, written from m with the age's digits at
 * text + age_at. */
static void kept_store(hl_kept_text *k, const char *text, apr_size_t len,
                       apr_size_t age_at, const hl_memory_figures *m,
                       apr_pool_t *pool)
{
    char digits[HL_JSONW_SPAN_NUMBER];
    if (len + HL_JSONW_SPAN_NUMBER > k->cap) {
        /* A text's length is bounded (the figures' strings, HL_RECENT_MAX
         * entries), so pool grows by a few of these at most. */
        k->cap = 2 * (len + HL_JSONW_SPAN_NUMBER);
        k->text = apr_palloc(pool, k->cap);
    }
    memcpy(k->text, text, len);
    k->len = len;
    k->age_at = age_at;
    k->age_end = age_at + (apr_size_t)(hl_jsonw_span_i64(digits, m->proc.age_us)
                                       - digits);
    k->figures = *m;
}

/* k's text with age's digits, moving what follows them when their length
 * changes. */
static void kept_age(hl_kept_text *k, apr_int64_t age)
{
    char digits[HL_JSONW_SPAN_NUMBER];
    apr_size_t n = (apr_size_t)(hl_jsonw_span_i64(digits, age) - digits);
    if (n != k->age_end - k->age_at) {
        memmove(k->text + k->age_at + n, k->text + k->age_end,
                k->len - k->age_end);
        k->len = k->len - (k->age_end - k->age_at) + n;
        k->age_end = k->age_at + n;
    }
    memcpy(k->text + k->age_at, digits, n);
}

void hl_json_counter_increment_again(hl_jsonw *w, apr_uint64_t value,
                                     const hl_memory_figures *m,
                                     hl_kept_text *kept,
                                     apr_pool_t *kept_pool)
{
    apr_size_t mpm_len, store_len;
    int same = kept->text && same_figures(&kept->figures, m);
    char *p = hl_jsonw_span(w, INCREMENT_TEXT
                               + (same ? kept->len + HL_JSONW_SPAN_NUMBER
                                       : figures_max(m, &mpm_len, &store_len)));
    char *from, *age;
    p = hl_jsonw_paste(p, "{\"counter\":");
    p = hl_jsonw_span_u64(p, value);
    p = hl_jsonw_paste(p, ",\"message\":\"Counter incremented safely\","
                          "\"memory_info\":");
    if (same) {
        kept_age(kept, m->proc.age_us);
        memcpy(p, kept->text, kept->len);
        p += kept->len;
    }
    else {
        from = p;
        p = figures(w, p, m, mpm_len, store_len, &age);
        kept_store(kept, from, (apr_size_t)(p - from), (apr_size_t)(age - from),
                   m, kept_pool);
    }
    *p++ = '}';
    hl_jsonw_span_end(w, p);
}

/* Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil inverted): integer arithmetic only. */
static void civil_from_days(apr_int64_t z, apr_int64_t *y, unsigned *m,
                            unsigned *d)
{
    apr_int64_t era;
    unsigned doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (apr_int64_t)yoe + era * 400 + (*m <= 2);
}

static char *digits(char *p, apr_int64_t v, int width)
{
    hl_jsonw_digits(p, (apr_uint64_t)v, width);
    return p + width;
}

/* "YYYY-MM-DDTHH:MM:SS" (19 characters) of a second since the epoch. */
#define SECOND_TEXT_LEN 19
static apr_status_t second_text(char *p, apr_int64_t sec)
{
    apr_int64_t days = sec / 86400, rem = sec % 86400, y;
    unsigned m, d;

    if (rem < 0) {
        rem += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return APR_EINVAL;
    p = digits(p, y, 4);
    *p++ = '-';
    p = digits(p, m, 2);
    *p++ = '-';
    p = digits(p, d, 2);
    *p++ = 'T';
    p = digits(p, rem / 3600, 2);
    *p++ = ':';
    p = digits(p, rem / 60 % 60, 2);
    *p++ = ':';
    digits(p, rem % 60, 2);
    return APR_SUCCESS;
}

/* By hand rather than gmtime + strftime + snprintf: counter/stats writes
 * ten of these per answer, and the libc path was a tenth of its cost. */
apr_status_t hl_rfc3339(char *out, apr_time_t when)
{
    apr_int64_t sec = when / APR_USEC_PER_SEC, usec = when % APR_USEC_PER_SEC;
    char *p = out + SECOND_TEXT_LEN;

    if (usec < 0) {
        usec += APR_USEC_PER_SEC;
        sec--;
    }
    if (second_text(out, sec) != APR_SUCCESS)
        return APR_EINVAL;
    *p++ = '.';
    p = digits(p, usec, 6);
    *p++ = 'Z';
    *p = '\0';
    return APR_SUCCESS;
}

/* An entry's time is written twice, as RFC 3339 and as microseconds, and
 * the ten entries of an answer under load fall within a second or two.
 * So the text of a second is made once, when an entry names a second other
 * than the last: an entry then adds only its six digits of microseconds,
 * which both forms end with (time_us, past its first second, is the
 * second's digits followed by the microseconds, zero-padded).  Written
 * alone, this took a stats answer from 18,500 to 13,900 instructions
 * (callgrind), and the spans of history_entry to 8,400. */
typedef struct second_memo {
    apr_int64_t sec;               /* the second below describes, or -1 */
    apr_status_t date_rv;          /* APR_EINVAL outside 0000..9999 */
    char date[SECOND_TEXT_LEN];
    char secs[HL_JSONW_SPAN_NUMBER];   /* sec in decimal */
    int secs_len;
    /* Likewise the last pid: a few processes make all ten entries. */
    apr_int32_t pid;
    int pid_len;                   /* 0: no pid written yet */
    char pid_text[HL_JSONW_SPAN_NUMBER];
} second_memo;

static void memo_second(second_memo *s, apr_int64_t sec)
{
    s->sec = sec;
    s->date_rv = second_text(s->date, sec);
    s->secs_len = (int)(hl_jsonw_span_u64(s->secs, (apr_uint64_t)sec) - s->secs);
}

/* "time" in its quotes, or null outside the years 0000..9999. */
static char *put_rfc3339(char *p, apr_time_t when)
{
    if (hl_rfc3339(p + 1, when) != APR_SUCCESS)
        return hl_jsonw_paste(p, "null");
    p[0] = '"';
    p[HL_RFC3339_SIZE] = '"';           /* over hl_rfc3339's NUL */
    return p + HL_RFC3339_SIZE + 1;
}

/* The time of an entry, then ,"time_us": and the same time in us. */
static char *entry_times(char *p, apr_time_t when, second_memo *memo)
{
    apr_int64_t usec = when % APR_USEC_PER_SEC;
    const char *micros = NULL;          /* the six digits, once written */

    if (when < APR_USEC_PER_SEC) {   /* no second's digits to lead time_us */
        p = put_rfc3339(p, when);
        p = hl_jsonw_paste(p, ",\"time_us\":");
        return hl_jsonw_span_i64(p, when);
    }
    if (when / APR_USEC_PER_SEC != memo->sec)
        memo_second(memo, when / APR_USEC_PER_SEC);
    if (memo->date_rv != APR_SUCCESS) {
        p = hl_jsonw_paste(p, "null");
    }
    else {
        *p++ = '"';
        memcpy(p, memo->date, SECOND_TEXT_LEN);
        p += SECOND_TEXT_LEN;
        *p++ = '.';
        micros = p;
        p = hl_jsonw_span_digits(p, (apr_uint64_t)usec, 6);
        p = hl_jsonw_paste(p, "Z\"");
    }
    p = hl_jsonw_paste(p, ",\"time_us\":");
    memcpy(p, memo->secs, (apr_size_t)memo->secs_len);
    p += memo->secs_len;
    if (!micros)
        return hl_jsonw_span_digits(p, (apr_uint64_t)usec, 6);
    memcpy(p, micros, 6);
    return p + 6;
}

/* The names and punctuation (under 80 bytes), three numbers and a time. */
#define ENTRY_MAX (80 + 3 * HL_JSONW_SPAN_NUMBER + HL_RFC3339_SIZE + 2)

static char *entry_pid(char *p, apr_int32_t pid, second_memo *memo)
{
    if (!memo->pid_len || pid != memo->pid) {
        memo->pid = pid;
        memo->pid_len = (int)(hl_jsonw_span_i64(memo->pid_text, pid)
                              - memo->pid_text);
    }
    memcpy(p, memo->pid_text, (apr_size_t)memo->pid_len);
    return p + memo->pid_len;
}

/* {"value","time","time_us","pid"[,"host"]}, or {"value","pending":true}
 * while the increment is being recorded: one span each, because in the
 * server the writer's calls for these forty members cost more than their
 * text.  "host" only when the backend knows who made the entry.  The
 * value's digits are in recent_values already, at w->buf + at. */
static void history_entry(hl_jsonw *w, const hl_history_entry *e,
                          apr_size_t at, apr_size_t len, second_memo *memo)
{
    apr_size_t hlen = e->complete ? strnlen(e->host, sizeof(e->host)) : 0;
    char *p = hl_jsonw_span(w, ENTRY_MAX + (hlen ? 10 + HL_JSONW_SPAN_STRING(hlen)
                                                 : 0));
    p = hl_jsonw_paste(p, "{\"value\":");
    memcpy(p, w->buf + at, len);
    p += len;
    if (e->complete) {
        p = hl_jsonw_paste(p, ",\"time\":");
        p = entry_times(p, e->time, memo);
        p = hl_jsonw_paste(p, ",\"pid\":");
        p = entry_pid(p, e->pid, memo);
        if (hlen) {
            p = hl_jsonw_paste(p, ",\"host\":");
            p = hl_jsonw_span_string(w, p, e->host, hlen);
        }
        *p++ = '}';
    }
    else {
        p = hl_jsonw_paste(p, ",\"pending\":true}");
    }
    hl_jsonw_span_end(w, p);
}

/* *age_at: as memory_figures says. */
static void counter_stats(hl_jsonw *w, const hl_counter_snapshot *snap,
                          const hl_memory_figures *m, apr_size_t *age_at)
{
    second_memo memo;
    apr_size_t at[HL_RECENT_MAX], len[HL_RECENT_MAX];  /* values' digits */
    char *p;
    int i;
    memo.sec = -1;
    memo.pid_len = 0;
    hl_jsonw_object(w);
    hl_jsonw_kv_u64(w, "current_value", snap->current_value);
    hl_jsonw_kv_u64(w, "history_length", snap->history_length);
    hl_jsonw_kv_u64(w, "history_capacity", snap->capacity);
    hl_jsonw_key(w, "recent_values");
    p = hl_jsonw_span(w, 2 + (apr_size_t)snap->n_recent
                             * (HL_JSONW_SPAN_NUMBER + 1));
    *p++ = '[';
    for (i = 0; i < snap->n_recent; i++) {
        char *digits;
        if (i)
            *p++ = ',';
        digits = p;
        p = hl_jsonw_span_u64(p, snap->recent[i].value);
        at[i] = (apr_size_t)(digits - w->buf);
        len[i] = (apr_size_t)(p - digits);
    }
    *p++ = ']';
    hl_jsonw_span_end(w, p);
    hl_jsonw_key(w, "recent");
    hl_jsonw_array(w);
    for (i = 0; i < snap->n_recent; i++)
        history_entry(w, &snap->recent[i], at[i], len[i], &memo);
    hl_jsonw_end(w);
    hl_jsonw_key(w, "memory_usage");
    memory_figures(w, m, age_at);
    hl_jsonw_end(w);
}

void hl_json_counter_stats(hl_jsonw *w, const hl_counter_snapshot *snap,
                           const hl_memory_figures *m)
{
    apr_size_t age_at;
    counter_stats(w, snap, m, &age_at);
}

/* Whether two snapshots would be written alike: the same numbers, and
 * entries alike member by member (a host's bytes after its NUL are not
 * part of it). */
static int same_snapshot(const hl_counter_snapshot *a,
                         const hl_counter_snapshot *b)
{
    int i;
    if (a->current_value != b->current_value
        || a->history_length != b->history_length
        || a->capacity != b->capacity || a->n_recent != b->n_recent)
        return 0;
    for (i = 0; i < a->n_recent; i++) {
        const hl_history_entry *x = &a->recent[i], *y = &b->recent[i];
        if (x->value != y->value || x->complete != y->complete)
            return 0;
        if (x->complete && (x->time != y->time || x->pid != y->pid
                            || x->host[0] != y->host[0]
                            || (x->host[0] && strncmp(x->host, y->host,
                                                      sizeof(x->host)))))
            return 0;
    }
    return 1;
}

const char *hl_json_counter_stats_again(const hl_counter_snapshot *snap,
                                        const hl_memory_figures *m,
                                        hl_stats_memo *memo,
                                        apr_pool_t *pool,
                                        apr_pool_t *memo_pool,
                                        apr_size_t *len)
{
    hl_kept_text *k = &memo->kept;
    hl_jsonw w;
    apr_size_t age_at;

    if (k->text && same_snapshot(&memo->snap, snap)
        && same_figures(&k->figures, m))
        kept_age(k, m->proc.age_us);
    else {
        hl_jsonw_init(&w, pool);
        counter_stats(&w, snap, m, &age_at);
        kept_store(k, w.buf, w.len, age_at, m, memo_pool);
        memo->snap = *snap;
    }
    *len = k->len;
    return k->text;
}

/* An entity-tag as a JSON string, "\"N\"": its quotes are known, so it is
 * written as it is rather than searched for bytes to escape. */
#define ETAG_TEXT (6 + HL_JSONW_SPAN_NUMBER)

/* From the version's digits, which an entry's text has written already. */
static char *etag_text(char *p, const char *digits, apr_size_t n)
{
    p = hl_jsonw_paste(p, "\"\\\"");
    memcpy(p, digits, n);
    return hl_jsonw_paste(p + n, "\\\"\"");
}

static void etag_value(hl_jsonw *w, apr_uint64_t version)
{
    char digits[HL_JSONW_SPAN_NUMBER];
    apr_size_t n = (apr_size_t)(hl_jsonw_span_u64(digits, version) - digits);
    char *p = hl_jsonw_span(w, ETAG_TEXT);
    hl_jsonw_span_end(w, etag_text(p, digits, n));
}

/* "version", "etag" and "ttl_seconds" of an entry, as text: every cache
 * answer ends with them, a set's too. */
#define ENTRY_TEXT (sizeof("\"version\":,\"etag\":,\"ttl_seconds\":") - 1 \
                    + 2 * HL_JSONW_SPAN_NUMBER + ETAG_TEXT)

static char *entry_text(char *p, apr_uint64_t version, apr_time_t expires,
                        apr_time_t now)
{
    char *digits;
    apr_size_t n;
    p = hl_jsonw_paste(p, "\"version\":");
    digits = p;
    p = hl_jsonw_span_u64(p, version);
    n = (apr_size_t)(p - digits);
    p = hl_jsonw_paste(p, ",\"etag\":");
    p = etag_text(p, digits, n);
    p = hl_jsonw_paste(p, ",\"ttl_seconds\":");
    if (!expires)
        return hl_jsonw_paste(p, "null");
    return hl_jsonw_span_i64(p, expires <= now ? 0
               : (expires - now - 1) / APR_USEC_PER_SEC + 1);
}

static void entry_members(hl_jsonw *w, apr_uint64_t version,
                          apr_time_t expires, apr_time_t now)
{
    char *p = hl_jsonw_members_span(w, ENTRY_TEXT);
    hl_jsonw_span_end(w, entry_text(p, version, expires, now));
}

/* The hit's answer but its key and value, and the room it takes: all of
 * it but the numbers is known. */
#define HIT_TEXT (sizeof("{\"key\":,\"value\":,\"cache_hit\":true,\"access_count\":"  \
                         ",\"age_seconds\":,\"value_bytes\":"                        \
                         ",\"expires_in_seconds\":,}") - 1                           \
                  + 2 * HL_JSONW_SPAN_NUMBER + 2 * HL_JSONW_SPAN_SECONDS           \
                  + ENTRY_TEXT)

static char *hit_members(char *p, const hl_cache_result *res)
{
    apr_time_t now = res->set_time + res->age;
    p = hl_jsonw_paste(p, "\"cache_hit\":true,\"access_count\":");
    p = hl_jsonw_span_u64(p, res->access_count);
    p = hl_jsonw_paste(p, ",\"age_seconds\":");
    p = hl_jsonw_span_seconds(p, res->age);
    p = hl_jsonw_paste(p, ",\"value_bytes\":");
    p = hl_jsonw_span_u64(p, res->vlen);
    if (res->expires) {
        p = hl_jsonw_paste(p, ",\"expires_in_seconds\":");
        p = hl_jsonw_span_seconds(p, res->expires - now);
    }
    *p++ = ',';
    return entry_text(p, res->version, res->expires, now);
}

/* One span, as the set's answer: the hit is the hottest read.  A value
 * larger than a set would echo goes through the writer's own growth
 * instead, not into room for six times its size. */
void hl_json_cache_hit(hl_jsonw *w, const char *key, apr_size_t klen,
                       const hl_cache_result *res)
{
    char *p;
    if (res->vlen > HL_JSON_ECHO_MAX) {
        hl_jsonw_object(w);
        hl_jsonw_kv_string(w, "key", key, klen);
        hl_jsonw_kv_string(w, "value", res->value, res->vlen);
        p = hl_jsonw_members_span(w, HIT_TEXT);
        hl_jsonw_span_end(w, hit_members(p, res));
        hl_jsonw_end(w);
        return;
    }
    p = hl_jsonw_span(w, HIT_TEXT + HL_JSONW_SPAN_STRING(klen)
                         + HL_JSONW_SPAN_STRING(res->vlen));
    p = hl_jsonw_paste(p, "{\"key\":");
    p = hl_jsonw_span_string(w, p, key, klen);
    p = hl_jsonw_paste(p, ",\"value\":");
    p = hl_jsonw_span_string(w, p, res->value, res->vlen);
    *p++ = ',';
    p = hit_members(p, res);
    *p++ = '}';
    hl_jsonw_span_end(w, p);
}

void hl_json_cache_miss(hl_jsonw *w, const char *key, apr_size_t klen)
{
    hl_jsonw_object(w);
    hl_jsonw_kv_literal(w, "error", "Key not found");
    hl_jsonw_kv_i64(w, "status", 404);
    hl_jsonw_kv_string(w, "key", key, klen);
    hl_jsonw_end(w);
}

/* The set's answer; wr NULL: without the members of an entry.  One span:
 * the set is the hottest write, and its members but the key and the value
 * are known but for two bools and the numbers. */
#define SET_TEXT (sizeof("{\"key\":,\"value\":,\"value_truncated\":false"   \
                         ",\"operation\":\"set\",\"success\":true"          \
                         ",\"replaced\":false,\"value_bytes\":,}") - 1       \
                  + HL_JSONW_SPAN_NUMBER + ENTRY_TEXT)

static void set_answer(hl_jsonw *w, const char *key, apr_size_t klen,
                       const char *val, apr_size_t vlen, int replaced,
                       const hl_cache_written *wr, apr_time_t now)
{
    /* Repeating a large value would make the answer several times its
     * size (escapes): the client has it already. */
    apr_size_t shown = vlen > HL_JSON_ECHO_MAX ? HL_JSON_ECHO_MAX : vlen;
    char *p = hl_jsonw_span(w, SET_TEXT + HL_JSONW_SPAN_STRING(klen)
                               + HL_JSONW_SPAN_STRING(shown));
    p = hl_jsonw_paste(p, "{\"key\":");
    p = hl_jsonw_span_string(w, p, key, klen);
    p = hl_jsonw_paste(p, ",\"value\":");
    p = hl_jsonw_span_string(w, p, val, shown);
    if (shown < vlen)
        p = hl_jsonw_paste(p, ",\"value_truncated\":true");
    else
        p = hl_jsonw_paste(p, ",\"value_truncated\":false");
    p = hl_jsonw_paste(p, ",\"operation\":\"set\",\"success\":true,\"replaced\":");
    if (replaced)
        p = hl_jsonw_paste(p, "true");
    else
        p = hl_jsonw_paste(p, "false");
    p = hl_jsonw_paste(p, ",\"value_bytes\":");
    p = hl_jsonw_span_u64(p, vlen);
    if (wr) {
        *p++ = ',';
        p = entry_text(p, wr->version, wr->expires, now);
    }
    *p++ = '}';
    hl_jsonw_span_end(w, p);
}

void hl_json_cache_set(hl_jsonw *w, const char *key, apr_size_t klen,
                       const char *val, apr_size_t vlen, int replaced)
{
    set_answer(w, key, klen, val, vlen, replaced, NULL, 0);
}

void hl_json_cache_stored(hl_jsonw *w, const char *key, apr_size_t klen,
                          const char *val, apr_size_t vlen,
                          const hl_cache_written *wr, apr_time_t now)
{
    set_answer(w, key, klen, val, vlen, wr->existed, wr, now);
}

void hl_json_cache_deleted(hl_jsonw *w, const char *key, apr_size_t klen)
{
    hl_jsonw_object(w);
    hl_jsonw_kv_string(w, "key", key, klen);
    hl_jsonw_kv_literal(w, "operation", "delete");
    hl_jsonw_kv_bool(w, "success", 1);
    hl_jsonw_end(w);
}

void hl_json_cache_touched(hl_jsonw *w, const char *key, apr_size_t klen,
                           const hl_cache_written *wr, apr_time_t now)
{
    hl_jsonw_object(w);
    hl_jsonw_kv_string(w, "key", key, klen);
    hl_jsonw_kv_literal(w, "operation", "touch");
    hl_jsonw_kv_bool(w, "success", 1);
    entry_members(w, wr->version, wr->expires, now);
    hl_jsonw_end(w);
}

void hl_json_cache_added(hl_jsonw *w, const char *key, apr_size_t klen,
                         const hl_cache_written *wr, apr_time_t now)
{
    hl_jsonw_object(w);
    hl_jsonw_kv_string(w, "key", key, klen);
    hl_jsonw_kv_literal(w, "operation", "add");
    hl_jsonw_kv_bool(w, "success", 1);
    hl_jsonw_kv_i64(w, "value", wr->number);
    hl_jsonw_kv_bool(w, "created", !wr->existed);
    entry_members(w, wr->version, wr->expires, now);
    hl_jsonw_end(w);
}

static void current_members(hl_jsonw *w, apr_uint64_t version)
{
    hl_jsonw_key(w, "current_version");
    if (!version) {
        hl_jsonw_null(w);
        return;
    }
    hl_jsonw_u64(w, version);
    hl_jsonw_key(w, "current_etag");
    etag_value(w, version);
}

void hl_json_cache_refused(hl_jsonw *w, int status, const char *message,
                           const char *key, apr_size_t klen,
                           const hl_cache_written *wr)
{
    hl_jsonw_object(w);
    hl_jsonw_kv_cstr(w, "error", message);
    hl_jsonw_kv_i64(w, "status", status);
    hl_jsonw_kv_string(w, "key", key, klen);
    current_members(w, wr->version);
    hl_jsonw_end(w);
}

/* A key that is not UTF-8 loses bytes in "key" (each invalid one becomes
 * U+FFFD): "key_escaped" names it exactly, percent-encoded as a
 * cache/{key} path takes it, so that a listed key can be read back. */
static void key_escaped(hl_jsonw *w, const char *key, apr_size_t klen)
{
    static const char hex[] = "0123456789ABCDEF";
    char *p = hl_jsonw_members_span(w, sizeof("\"key_escaped\":\"\"")
                                       + 3 * klen);
    apr_size_t i;
    p = hl_jsonw_paste(p, "\"key_escaped\":\"");
    for (i = 0; i < klen; i++) {
        unsigned char c = (unsigned char)key[i];
        /* ASCII by its codes, not isalnum: in a locale such as Latin-1 a
         * byte over 0x7f is a letter, and would go out raw. */
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~' || c == '/') {
            *p++ = (char)c;
        }
        else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p++ = '"';
    hl_jsonw_span_end(w, p);
}

void hl_json_cache_page(hl_jsonw *w, const hl_cache_list_page *page,
                        const char *prefix, apr_size_t plen, int limit,
                        apr_time_t now)
{
    int i;
    hl_jsonw_object(w);
    hl_jsonw_key(w, "keys");
    hl_jsonw_array(w);
    for (i = 0; i < page->n; i++) {
        const hl_cache_listed *it = &page->items[i];
        hl_jsonw_object(w);
        hl_jsonw_kv_string(w, "key", it->key, it->klen);
        if (!hl_utf8_valid(it->key, it->klen))
            key_escaped(w, it->key, it->klen);
        hl_jsonw_kv_u64(w, "value_bytes", it->vlen);
        entry_members(w, it->version, it->expires, now);
        hl_jsonw_end(w);
    }
    hl_jsonw_end(w);
    hl_jsonw_kv_i64(w, "count", page->n);
    hl_jsonw_kv_i64(w, "limit", limit);
    hl_jsonw_kv_string(w, "prefix", prefix ? prefix : "", plen);
    hl_jsonw_key(w, "next_cursor");
    if (page->next_cursor)
        hl_jsonw_cstr(w, page->next_cursor);
    else
        hl_jsonw_null(w);
    hl_jsonw_kv_bool(w, "complete", page->next_cursor == NULL);
    hl_jsonw_kv_u64(w, "scanned", page->scanned);
    hl_jsonw_end(w);
}

void hl_json_cache_bulk(hl_jsonw *w, int is_set, const hl_bulk_request *req,
                        const hl_bulk_result *res, apr_time_t now,
                        int status, const char *error)
{
    int i, ok = 0;
    for (i = 0; i < req->n; i++)
        ok += res[i].status < 300;
    hl_jsonw_object(w);
    if (is_set)
        hl_jsonw_kv_literal(w, "operation", "bulk_set");
    else
        hl_jsonw_kv_literal(w, "operation", "bulk_get");
    hl_jsonw_kv_i64(w, "count", req->n);
    hl_jsonw_kv_i64(w, "succeeded", ok);
    hl_jsonw_kv_i64(w, "failed", req->n - ok);
    if (error) {
        hl_jsonw_kv_cstr(w, "error", error);
        hl_jsonw_kv_i64(w, "status", status);
    }
    hl_jsonw_key(w, "results");
    hl_jsonw_array(w);
    for (i = 0; i < req->n; i++) {
        const hl_bulk_result *r = &res[i];
        int good = r->status < 300;
        hl_jsonw_object(w);
        hl_jsonw_kv_string(w, "key", req->items[i].key, req->items[i].klen);
        hl_jsonw_kv_i64(w, "status", r->status);
        if (is_set && r->unknown) {
            hl_jsonw_key(w, "stored");
            hl_jsonw_null(w);
        }
        else if (is_set)
            hl_jsonw_kv_bool(w, "stored", good);
        else
            hl_jsonw_kv_bool(w, "found", good);
        if (good && !is_set) {
            hl_jsonw_kv_string(w, "value", r->value, r->vlen);
            hl_jsonw_kv_u64(w, "value_bytes", r->vlen);
        }
        if (good)
            entry_members(w, r->version, r->expires, now);
        else if (r->error) {
            hl_jsonw_kv_cstr(w, "error", r->error);
            if (r->status == 412)
                current_members(w, r->version);
        }
        hl_jsonw_end(w);
    }
    hl_jsonw_end(w);
    hl_jsonw_end(w);
}

void hl_json_limiter(hl_jsonw *w, const hl_limiter_stats *ls,
                     apr_uint32_t limit)
{
    hl_jsonw_kv_u64(w, "in_flight", ls->in_flight);
    hl_jsonw_kv_u64(w, "max_concurrent", limit);
    hl_jsonw_kv_u64(w, "peak_in_flight", ls->peak_in_flight);
    hl_jsonw_kv_u64(w, "rejected", ls->rejected);
    hl_jsonw_kv_u64(w, "healed", ls->healed);
}

void hl_json_cache_stats(hl_jsonw *w, const hl_cache_stats *st,
                         const hl_limiter_stats *ls, apr_uint32_t limit)
{
    int i;
    hl_jsonw_object(w);
    if (st->store)
        hl_jsonw_member_cstr(w, HL_JSONW_NAME("store"), st->store);
    hl_jsonw_kv_u64(w, "total_entries", st->total_entries);
    hl_jsonw_kv_u64(w, "total_accesses", st->total_accesses);
    /* As the seed: integer division, 0 when empty. */
    hl_jsonw_kv_u64(w, "average_accesses",
                    st->total_entries ? st->total_accesses / st->total_entries : 0);
    hl_jsonw_kv_u64(w, "capacity_bytes", st->capacity_bytes);
    hl_jsonw_kv_u64(w, "bytes_used", st->bytes_used);
    hl_jsonw_kv_u64(w, "hits", st->hits);
    hl_jsonw_kv_u64(w, "misses", st->misses);
    hl_jsonw_kv_u64(w, "sets", st->sets);
    hl_jsonw_kv_u64(w, "deletes", st->deletes);
    hl_jsonw_kv_u64(w, "evictions", st->evictions);
    hl_jsonw_kv_u64(w, "expirations", st->expirations);
    hl_json_limiter(w, ls, limit);
    hl_jsonw_kv_u64(w, "max_key_bytes", st->max_key);
    hl_jsonw_kv_u64(w, "max_value_bytes", st->max_value);
    /* The backend's own figures; their names are plain ASCII. */
    for (i = 0; i < st->n_extra; i++) {
        const char *q = apr_pstrcat(w->pool, "\"", st->extra[i].name, "\":",
                                    NULL);
        if (st->extra[i].text[0])
            hl_jsonw_member_cstr(w, q, strlen(q), st->extra[i].text);
        else
            hl_jsonw_member_u64(w, q, strlen(q), st->extra[i].number);
    }
    hl_jsonw_end(w);
}
