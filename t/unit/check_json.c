/* JSON: the writer (escaping, nesting, numbers) and the shape of every
 * answer of hl_json_reply, each parsed back with json-c. */
#include "check_hl.h"
#include "hl_json_reply.h"
#include "hl_utf8.h"

#include <apr_strings.h>
#include <apr_time.h>
#include <stdio.h>
#include <string.h>

static const char *text_of(hl_jsonw *w)
{
    apr_size_t len;
    return hl_jsonw_text(w, &len);
}

START_TEST(test_writer_nesting_and_commas)
{
    hl_jsonw *w = test_writer();
    hl_jsonw_object(w);
    hl_jsonw_kv_u64(w, "a", 1);
    hl_jsonw_key(w, "b");
    hl_jsonw_array(w);
    hl_jsonw_u64(w, 2);
    hl_jsonw_object(w);
    hl_jsonw_end(w);
    hl_jsonw_array(w);
    hl_jsonw_end(w);
    hl_jsonw_bool(w, 0);
    hl_jsonw_null(w);
    hl_jsonw_end(w);
    hl_jsonw_kv_cstr(w, "c", "d");
    hl_jsonw_end(w);
    ck_assert_str_eq(text_of(w), "{\"a\":1,\"b\":[2,{},[],false,null],\"c\":\"d\"}");
}
END_TEST

START_TEST(test_writer_numbers)
{
    hl_jsonw *w = test_writer();
    hl_jsonw_array(w);
    hl_jsonw_u64(w, 0);
    hl_jsonw_u64(w, 18446744073709551615ull);
    hl_jsonw_i64(w, -1);
    hl_jsonw_i64(w, (apr_int64_t)(-9223372036854775807ll - 1));
    hl_jsonw_fixed(w, 1.5, 3);
    hl_jsonw_fixed(w, 0.0 / 0.0, 3);       /* NaN is no JSON number */
    hl_jsonw_fixed(w, 3.14159, 2);
    hl_jsonw_fixed(w, -1.5, 1);
    hl_jsonw_fixed(w, 0.0000004, 6);
    hl_jsonw_fixed(w, -0.0004, 3);          /* rounds to zero: no sign */
    hl_jsonw_fixed(w, 123456.789, 3);
    hl_jsonw_fixed(w, 2.0, 0);
    hl_jsonw_fixed(w, 1e10, 2);             /* beyond the integer path */
    hl_jsonw_fixed(w, 0.1234567891, 9);
    hl_jsonw_double(w, 14.6484375);
    hl_jsonw_double(w, 0.0009765625);
    hl_jsonw_end(w);
    ck_assert_str_eq(text_of(w), "[0,18446744073709551615,-1,"
                     "-9223372036854775808,1.500,null,3.14,-1.5,0.000000,0.000,"
                     "123456.789,2,10000000000.00,0.123456789,14.6484375,"
                     "0.0009765625]");
}
END_TEST

/* Integers are written eight digits at a time: every length from 1 to 20
 * digits, the powers of ten and their neighbours, and random values, all
 * as printf writes them. */
START_TEST(test_writer_integers_as_printf)
{
    apr_uint64_t seed = 0x1d161, p10 = 1;
    int i;
    for (i = 0; i < 4000; i++) {
        hl_jsonw *w = test_writer();
        char want[64];
        apr_uint64_t v;
        apr_int64_t s;
        if (i < 60) {                       /* 10^k - 1, 10^k, 10^k + 1 */
            v = p10 - 1 + (apr_uint64_t)(i % 3);
            if (i % 3 == 2 && p10 <= APR_UINT64_MAX / 10)
                p10 *= 10;
        }
        else {
            v = test_rand(&seed) >> (test_rand(&seed) % 64);
        }
        s = (apr_int64_t)test_rand(&seed) >> (test_rand(&seed) % 64);
        hl_jsonw_array(w);
        hl_jsonw_u64(w, v);
        hl_jsonw_i64(w, s);
        hl_jsonw_end(w);
        snprintf(want, sizeof(want), "[%" APR_UINT64_T_FMT ",%" APR_INT64_T_FMT "]",
                 v, s);
        ck_assert_str_eq(text_of(w), want);
    }
}
END_TEST

/* The digits are made eight at a time by multiplications on lanes of a
 * word: every number below 10^5, a stride through the rest of 10^8 (the
 * whole of it was checked once by hand against printf), and every width
 * from 1 to 20 of random numbers, whose digits beyond the width are
 * dropped. */
START_TEST(test_writer_digits_as_printf)
{
    apr_uint64_t seed = 0xd161, v;
    char got[24], want[48];
    int width, k;

    for (v = 0; v < 100000000u; v += v < 100000 ? 1 : 9973) {
        hl_jsonw_digits(got, v, 8);
        got[8] = '\0';
        snprintf(want, sizeof(want), "%08" APR_UINT64_T_FMT, v);
        ck_assert_str_eq(got, want);
    }
    for (k = 0; k < 2000; k++) {
        v = test_rand(&seed) >> (test_rand(&seed) % 64);
        width = 1 + k % 20;
        memset(got, 'x', sizeof(got));
        hl_jsonw_digits(got, v, width);
        ck_assert_int_eq(got[width], 'x');        /* nothing past them */
        got[width] = '\0';
        snprintf(want, sizeof(want), "%020" APR_UINT64_T_FMT, v);
        ck_assert_str_eq(got, want + 20 - width);
        if (width <= 8) {                         /* a span's form */
            ck_assert_ptr_eq(hl_jsonw_span_digits(got, v, width), got + width);
            got[width] = '\0';
            ck_assert_str_eq(got, want + 20 - width);
        }
    }
    hl_jsonw_digits(got, 42, 23);                 /* wider than a u64 */
    got[23] = '\0';
    ck_assert_str_eq(got, "00000000000000000000042");
    got[0] = 'x';
    hl_jsonw_digits(got, 42, 0);                  /* nothing at all */
    hl_jsonw_digits(got, 42, -3);
    ck_assert_int_eq(got[0], 'x');
}
END_TEST

/* Literal names and values go out as written; a name made at run time is
 * escaped.  Names of every length from 1 to 40 bytes are copied whole. */
START_TEST(test_writer_names)
{
    hl_jsonw *w = test_writer();
    int n;
    hl_jsonw_object(w);
    hl_jsonw_kv_literal(w, "message", "Counter incremented safely");
    hl_jsonw_key_text(w, "a\"b");
    hl_jsonw_u64(w, 1);
    hl_jsonw_kv_literal(w, "op", "set");
    hl_jsonw_key(w, "o");
    hl_jsonw_object(w);
    hl_jsonw_kv_literal(w, "x", "y");
    hl_jsonw_end(w);
    hl_jsonw_end(w);
    ck_assert_str_eq(text_of(w), "{\"message\":\"Counter incremented safely\","
                     "\"a\\\"b\":1,\"op\":\"set\",\"o\":{\"x\":\"y\"}}");

    for (n = 1; n <= 40; n++) {         /* from a block of exactly n bytes */
        char *name = malloc((size_t)n), want[96];
        int i;
        for (i = 0; i < n; i++)
            name[i] = (char)('a' + i % 26);
        w = test_writer();
        hl_jsonw_object(w);
        hl_jsonw_name(w, name, (apr_size_t)n);
        hl_jsonw_u64(w, 1);
        hl_jsonw_name(w, name, (apr_size_t)n);
        hl_jsonw_u64(w, 2);
        hl_jsonw_end(w);
        snprintf(want, sizeof(want), "{%.*s1,%.*s2}", n, name, n, name);
        ck_assert_str_eq(text_of(w), want);
        free(name);
    }
}
END_TEST

/* A huge value still makes one valid number (303 digits); nesting up to
 * the writer's depth closes every container; past it the text is "null",
 * never broken JSON. */
START_TEST(test_writer_extremes)
{
    hl_jsonw *w = test_writer();
    json_object *o;
    int i;
    hl_jsonw_array(w);
    hl_jsonw_fixed(w, 1e300, 2);
    for (i = 0; i < 20; i++)          /* json-c itself reads up to 32 */
        hl_jsonw_array(w);
    for (i = 0; i < 20; i++)
        hl_jsonw_end(w);
    hl_jsonw_end(w);
    o = json_written(w);
    ck_assert(json_object_get_double(json_object_array_get_idx(o, 0)) == 1e300);
    ck_assert_uint_eq(json_object_array_length(o), 2);
    json_object_put(o);

    w = test_writer();
    for (i = 0; i < HL_JSONW_DEPTH + 4; i++)
        hl_jsonw_object(w);
    for (i = 0; i < HL_JSONW_DEPTH + 4; i++)
        hl_jsonw_end(w);
    ck_assert_str_eq(text_of(w), "null");
}
END_TEST

START_TEST(test_writer_strings)
{
    hl_jsonw *w = test_writer();
    json_object *o;
    const char raw[] = "q\"b\\n\nt\tc\x01 \xC3\xA9 \xFF z";
    hl_jsonw_array(w);
    hl_jsonw_string(w, raw, sizeof(raw) - 1);
    hl_jsonw_string(w, "a\0b", 3);
    hl_jsonw_end(w);
    ck_assert_str_eq(text_of(w), "[\"q\\\"b\\\\n\\nt\\tc\\u0001 \xC3\xA9 \xEF\xBF\xBD z\","
                     "\"a\\u0000b\"]");
    o = json_written(w);
    ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(o, 0)),
                     "q\"b\\n\nt\tc\x01 \xC3\xA9 \xEF\xBF\xBD z");
    ck_assert_int_eq(json_object_get_string_len(json_object_array_get_idx(o, 1)), 3);
    json_object_put(o);
}
END_TEST

/* s written by hl_jsonw_span_string into a span of exactly the room it
 * counts, inside an array, as hl_jsonw_string would be written. */
static const char *span_string_text(const char *s, apr_size_t n)
{
    hl_jsonw *w = test_writer();
    char *p;
    hl_jsonw_array(w);
    p = hl_jsonw_span(w, HL_JSONW_SPAN_STRING(n));
    hl_jsonw_span_end(w, hl_jsonw_span_string(w, p, s, n));
    hl_jsonw_end(w);
    return text_of(w);
}

/* Strings are checked eight bytes at a time: every byte that needs
 * escaping or UTF-8 repair, at every position of a word, must still get
 * it.  Strings of ASCII with such bytes mixed in (broken and whole UTF-8
 * sequences among them), written and read back: what is read is the
 * string made valid (hl_utf8_lossy). */
START_TEST(test_writer_escapes_anywhere)
{
    static const char special[] = "\"\\\n\r\t\x01\x1f\x7f\x80\xbf\xc3\xa9\xe2\xff";
    apr_uint64_t seed = 0xe5c;
    char in[40];
    const char *want;
    apr_size_t wn;
    int round;

    for (round = 0; round < 3000; round++) {
        hl_jsonw *w = test_writer();
        json_object *o;
        apr_size_t n = (apr_size_t)(test_rand(&seed) % sizeof(in)), i;
        for (i = 0; i < n; i++) {
            apr_uint64_t r = test_rand(&seed) % 8;
            in[i] = r == 0 ? special[test_rand(&seed) % (sizeof(special) - 1)]
                           : (char)(' ' + test_rand(&seed) % 95);
        }
        hl_jsonw_array(w);
        hl_jsonw_string(w, in, n);
        hl_jsonw_end(w);
        o = json_written(w);
        want = hl_utf8_lossy(test_pool, in, n, &wn);
        ck_assert_int_eq(json_object_get_string_len(json_object_array_get_idx(o, 0)),
                         (int)wn);
        ck_assert(memcmp(json_object_get_string(json_object_array_get_idx(o, 0)),
                         want, wn) == 0);
        json_object_put(o);
        /* A span's string is the same text, within the room it counts. */
        ck_assert_str_eq(span_string_text(in, n), text_of(w));
    }
    /* One such byte alone, at each position of a plain string as long as
     * the loop's longest: no other byte may give the string away. */
    for (round = 0; round < (int)((sizeof(special) - 1) * sizeof(in)); round++) {
        hl_jsonw *w = test_writer();
        json_object *o;
        memset(in, 'a', sizeof(in));
        in[round % sizeof(in)] = special[round / sizeof(in)];
        hl_jsonw_array(w);
        hl_jsonw_string(w, in, sizeof(in));
        hl_jsonw_end(w);
        o = json_written(w);
        want = hl_utf8_lossy(test_pool, in, sizeof(in), &wn);
        ck_assert_int_eq(json_object_get_string_len(json_object_array_get_idx(o, 0)),
                         (int)wn);
        ck_assert(memcmp(json_object_get_string(json_object_array_get_idx(o, 0)),
                         want, wn) == 0);
        json_object_put(o);
        ck_assert_str_eq(span_string_text(in, sizeof(in)), text_of(w));
    }
}
END_TEST

/* The room HL_JSONW_SPAN_STRING counts is enough where every byte takes
 * the most (\u00XX, or U+FFFD for a broken byte), and the text is the
 * writer's own (span_end aborts a span written past its room). */
START_TEST(test_span_string_room)
{
    static const char *const worst[] = { "\x01\x02\x1f\x7f", "\xff\xfe\x80",
                                         "\"\\", "", "plain" };
    int i;
    for (i = 0; i < (int)(sizeof(worst) / sizeof(worst[0])); i++) {
        hl_jsonw *w = test_writer();
        apr_size_t n = strlen(worst[i]);
        hl_jsonw_array(w);
        hl_jsonw_string(w, worst[i], n);
        hl_jsonw_end(w);
        ck_assert_str_eq(span_string_text(worst[i], n), text_of(w));
    }
}
END_TEST

/* The writer grows its buffer: a large answer stays whole. */
START_TEST(test_writer_grows)
{
    hl_jsonw *w = test_writer();
    json_object *o;
    int i;
    hl_jsonw_array(w);
    for (i = 0; i < 20000; i++)
        hl_jsonw_u64(w, (apr_uint64_t)i);
    hl_jsonw_end(w);
    o = json_written(w);
    ck_assert_uint_eq(json_object_array_length(o), 20000);
    ck_assert_int_eq(json_object_get_int(json_object_array_get_idx(o, 19999)), 19999);
    json_object_put(o);
}
END_TEST

static const hl_memory_figures *sample_figures(void)
{
    static hl_memory_figures m;
    m.proc.pid = 1234;
    m.proc.rss_bytes = 5 << 20;
    m.proc.peak_rss_bytes = 7 << 20;
    m.proc.age_us = 2500;
    m.store.backend = "shm";
    m.store.size_bytes = 65536;
    m.store.used_bytes = 4096;
    m.store.generation = 3;
    m.mpm = "event";
    return &m;
}

START_TEST(test_error_shape)
{
    json_object *o = JSON_OF(hl_json_error(test_w, 404, "No endpoint at /hl/x"));
    ck_assert_str_eq(json_object_get_string(json_field(o, "error", json_type_string)),
                     "No endpoint at /hl/x");
    ck_assert_int_eq(json_object_get_int(json_field(o, "status", json_type_int)), 404);
    ck_assert_int_eq(json_object_object_length(o), 2);
    json_object_put(o);
}
END_TEST

START_TEST(test_increment_shape)
{
    json_object *o = JSON_OF(hl_json_counter_increment(test_w, 18446744073709551615ull,
                                                       sample_figures()));
    json_object *mi;
    ck_assert_uint_eq(json_u64(o, "counter"), 18446744073709551615ull);
    ck_assert_str_eq(json_object_get_string(json_field(o, "message", json_type_string)),
                     "Counter incremented safely");
    mi = json_field(o, "memory_info", json_type_object);
    ck_assert_int_eq(json_object_get_int(json_field(mi, "pid", json_type_int)), 1234);
    ck_assert_str_eq(json_object_get_string(json_field(mi, "mpm", json_type_string)), "event");
    ck_assert_uint_eq(json_u64(mi, "rss_bytes"), 5 << 20);
    ck_assert_uint_eq(json_u64(mi, "peak_rss_bytes"), 7 << 20);
    ck_assert_uint_eq(json_u64(mi, "rss_age_us"), 2500);
    ck_assert_uint_eq(json_u64(mi, "shm_size_bytes"), 65536);
    ck_assert_uint_eq(json_u64(mi, "shm_used_bytes"), 4096);
    ck_assert_uint_eq(json_u64(mi, "store_generation"), 3);
    json_object_put(o);
}
END_TEST

/* The figures written by hand into their span, at their longest: every
 * number at its widest and strings that take the most room per byte
 * (span_end aborts a span written past its room). */
START_TEST(test_figures_longest)
{
    hl_memory_figures m;
    hl_counter_snapshot snap;
    json_object *o, *mi;
    int round;
    memset(&m, 0, sizeof(m));
    m.proc.pid = -2147483647 - 1;
    m.proc.rss_bytes = m.proc.peak_rss_bytes = 18446744073709551615ull;
    m.proc.age_us = -9223372036854775807ll - 1;
    m.store.size_bytes = m.store.used_bytes = (apr_size_t)-1;
    m.store.generation = 18446744073709551615ull;
    m.mpm = "\x01\x02\x03\x04\x05\x06\x07";
    m.store.backend = "\xff\"\x1f";
    memset(&snap, 0, sizeof(snap));
    for (round = 0; round < 2; round++) {
        o = round == 0
            ? JSON_OF(hl_json_counter_increment(test_w, 18446744073709551615ull, &m))
            : JSON_OF(hl_json_counter_stats(test_w, &snap, &m));
        mi = json_field(o, round == 0 ? "memory_info" : "memory_usage",
                        json_type_object);
        ck_assert_int_eq(json_object_get_int64(json_field(mi, "pid", json_type_int)),
                         -2147483647ll - 1);
        ck_assert_str_eq(json_object_get_string(json_field(mi, "mpm", json_type_string)),
                         m.mpm);
        ck_assert_str_eq(json_object_get_string(json_field(mi, "store", json_type_string)),
                         "\xEF\xBF\xBD\"\x1f");
        ck_assert_uint_eq(json_u64(mi, "rss_bytes"), 18446744073709551615ull);
        ck_assert_uint_eq(json_u64(mi, "peak_rss_bytes"), 18446744073709551615ull);
        ck_assert_int_eq(json_object_get_int64(json_field(mi, "rss_age_us", json_type_int)),
                         -9223372036854775807ll - 1);
        ck_assert_uint_eq(json_u64(mi, "shm_size_bytes"), (apr_size_t)-1);
        ck_assert_uint_eq(json_u64(mi, "shm_used_bytes"), (apr_size_t)-1);
        ck_assert_uint_eq(json_u64(mi, "store_generation"), 18446744073709551615ull);
        ck_assert_int_eq(json_object_object_length(mi), 9);
        json_object_put(o);
    }
}
END_TEST

START_TEST(test_stats_shape)
{
    hl_counter_snapshot snap;
    json_object *o, *vals, *recent, *e;
    memset(&snap, 0, sizeof(snap));
    snap.current_value = 12;
    snap.history_length = 12;
    snap.capacity = 1000;
    snap.n_recent = 2;
    snap.recent[0].value = 12;
    snap.recent[0].complete = 1;
    snap.recent[0].pid = 99;
    snap.recent[0].time = APR_USEC_PER_SEC * 1800000000ll + 123456;
    snap.recent[1].value = 11;
    o = JSON_OF(hl_json_counter_stats(test_w, &snap, sample_figures()));
    ck_assert_uint_eq(json_u64(o, "current_value"), 12);
    ck_assert_uint_eq(json_u64(o, "history_length"), 12);
    ck_assert_uint_eq(json_u64(o, "history_capacity"), 1000);
    vals = json_field(o, "recent_values", json_type_array);
    ck_assert_uint_eq(json_object_array_length(vals), 2);
    ck_assert_int_eq(json_object_get_int(json_object_array_get_idx(vals, 0)), 12);
    ck_assert_int_eq(json_object_get_int(json_object_array_get_idx(vals, 1)), 11);
    recent = json_field(o, "recent", json_type_array);
    e = json_object_array_get_idx(recent, 0);
    ck_assert_int_eq(json_object_get_int(json_field(e, "pid", json_type_int)), 99);
    ck_assert_str_eq(json_object_get_string(json_field(e, "time", json_type_string)),
                     "2027-01-15T08:00:00.123456Z");
    e = json_object_array_get_idx(recent, 1);
    ck_assert(json_object_get_boolean(json_field(e, "pending", json_type_boolean)));
    json_field(o, "memory_usage", json_type_object);
    json_object_put(o);
}
END_TEST

/* One change of what a stats answer is written from, picked by k. */
static void stats_input_step(hl_counter_snapshot *snap, hl_memory_figures *m,
                             apr_uint64_t *seed, int k, char *hosts)
{
    hl_history_entry *e = &snap->recent[test_rand(seed) % HL_RECENT_MAX];
    switch (k) {
    case 0:                                  /* an increment, pending */
        memmove(snap->recent + 1, snap->recent,
                (HL_RECENT_MAX - 1) * sizeof(snap->recent[0]));
        snap->current_value++;
        snap->history_length++;
        if (snap->n_recent < HL_RECENT_MAX)
            snap->n_recent++;
        memset(&snap->recent[0], 0, sizeof(snap->recent[0]));
        snap->recent[0].value = snap->current_value;
        break;
    case 1:                                  /* ... recorded */
        snap->recent[0].complete = 1;
        snap->recent[0].time = (apr_time_t)(1795500198000000ull
                                            + test_rand(seed) % 3000000);
        snap->recent[0].pid = 40 + (apr_int32_t)(test_rand(seed) % 3);
        apr_cpystrn(snap->recent[0].host, hosts + 8 * (test_rand(seed) % 3), 8);
        break;
    case 2: e->time += 1; break;             /* one entry's time alone */
    case 3: e->pid ^= 1; break;
    case 4:                                  /* a host, or its bytes after NUL */
        if (snap->n_recent)
            e = &snap->recent[test_rand(seed) % (apr_uint64_t)snap->n_recent];
        if (test_rand(seed) % 2)
            apr_cpystrn(e->host, hosts + 8 * (test_rand(seed) % 3), 8);
        else
            e->host[sizeof(e->host) - 1] ^= 'x';
        break;
    case 5: snap->capacity += 1; break;
    case 6: m->proc.rss_bytes += 4096; break;
    case 7: m->proc.peak_rss_bytes += 4096; break;
    case 8: m->store.used_bytes += 64; break;
    case 9: m->store.generation++; break;
    case 10: m->proc.pid++; break;
    case 11:                 /* another name; the longest, all escapes */
        m->mpm = test_rand(seed) % 3 == 0 ? "\"\x01\\\"\x01\\\"\x01\\\"\x01\\\"\x01\\"
                 : strcmp(m->mpm, "event") ? "event" : "prefork";
        break;
    case 12: snap->current_value++; break;   /* each number alone */
    case 13: snap->history_length++; break;
    case 14: e->value++; break;
    case 15: e->complete ^= 1; break;
    case 16: m->store.size_bytes += 4096; break;
    case 17: m->store.backend = strcmp(m->store.backend, "shm") ? "shm" : "redis";
             break;
    case 18: snap->n_recent -= snap->n_recent > 0; break;
    default:                 /* the reading's age alone, to its extremes */
        switch (test_rand(seed) % 8) {
        case 0:  m->proc.age_us = (apr_int64_t)(-9223372036854775807ll - 1); break;
        case 1:  m->proc.age_us = 9223372036854775807ll; break;
        default: m->proc.age_us = (apr_int64_t)(test_rand(seed) % 2000000) - 1;
        }
        break;
    }
}

/* A kept answer is reused only while what it was written from is
 * unchanged, and then says the new age: along a random walk of changes
 * (each member alone, increments, entries recorded), every answer is the
 * text hl_json_counter_stats writes for the same input, byte for byte,
 * and the kept text is what went out whenever only the age changed. */
START_TEST(test_stats_again_same_text)
{
    static char hosts[24] = "web1\0\0\0\0web2\0\0\0\0";
    hl_counter_snapshot snap;
    hl_memory_figures m = *sample_figures();
    hl_stats_memo memo;
    apr_uint64_t seed = 0x57a75;
    int i, reused = 0, written = 0;

    memset(&snap, 0, sizeof(snap));
    memset(&memo, 0, sizeof(memo));
    snap.capacity = 1000;
    for (i = 0; i < 3000; i++) {
        int k = (int)(test_rand(&seed) % 30);
        int only_age = i > 0 && k >= 19;
        const char *want, *got;
        apr_size_t len;
        stats_input_step(&snap, &m, &seed, k, hosts);
        want = text_of((test_w = test_writer(),
                        hl_json_counter_stats(test_w, &snap, &m), test_w));
        if (only_age)       /* mark the kept text where no input can */
            memo.kept.text[0] = '#';
        got = hl_json_counter_stats_again(&snap, &m, &memo, test_pool,
                                          test_pool, &len);
        ck_assert_uint_eq(len, strlen(want));
        if (only_age) {
            ck_assert_int_eq(got[0], '#');
            ck_assert_mem_eq(got + 1, want + 1, len - 1);
            memo.kept.text[0] = '{';
            reused++;
        }
        else {
            ck_assert_mem_eq(got, want, len);
            written++;
        }
    }
    ck_assert_int_gt(reused, 1000);
    ck_assert_int_gt(written, 1000);
}
END_TEST

/* The same for counter/increment's figures: along a random walk of the
 * figures' members, each alone, and of the counter, every answer is what
 * hl_json_counter_increment writes, and the kept figures went out
 * whenever only the age (or the counter) changed. */
START_TEST(test_increment_again_same_text)
{
    static const int figure_steps[] = { 6, 7, 8, 9, 10, 11, 16, 17 };
    hl_counter_snapshot snap;
    hl_memory_figures m = *sample_figures();
    hl_kept_text memo;
    apr_uint64_t seed = 0x1ac5, value = 41;
    int i, reused = 0, written = 0;

    memset(&snap, 0, sizeof(snap));
    memset(&memo, 0, sizeof(memo));
    for (i = 0; i < 3000; i++) {
        int pick = (int)(test_rand(&seed) % 16);
        int only_age = i > 0 && pick >= 8;
        const char *want, *got, *at;
        hl_jsonw *w;
        stats_input_step(&snap, &m, &seed, only_age ? 99 : figure_steps[pick],
                         NULL);
        value += test_rand(&seed) % 3;
        want = text_of((test_w = test_writer(),
                        hl_json_counter_increment(test_w, value, &m), test_w));
        if (only_age)       /* mark the kept text where no input can */
            memo.text[0] = '#';
        w = test_writer();
        hl_json_counter_increment_again(w, value, &m, &memo, test_pool);
        got = text_of(w);
        ck_assert_uint_eq(strlen(got), strlen(want));
        at = strstr(want, "\"memory_info\":{") + sizeof("\"memory_info\":") - 1;
        if (only_age) {
            ck_assert_int_eq(got[at - want], '#');
            ck_assert_mem_eq(got, want, (apr_size_t)(at - want));
            ck_assert_str_eq(got + (at - want) + 1, at + 1);
            memo.text[0] = '{';
            reused++;
        }
        else {
            ck_assert_str_eq(got, want);
            written++;
        }
    }
    ck_assert_int_gt(reused, 1000);
    ck_assert_int_gt(written, 1000);
}
END_TEST

/* Each entry's two times are made from text shared between entries of the
 * same second: every entry must still say its own time, in both forms,
 * whatever the order of seconds (repeated, new, back to an old one) and at
 * the edges (the first second, before 1970, past 9999). */
START_TEST(test_stats_times_per_entry)
{
    static const apr_time_t times[HL_RECENT_MAX] = {
        1795500198275747LL, 1795500198000000LL, 1795500198999999LL,
        1795500199000000LL, 1795500198000001LL, 999999LL, 1000000LL, -1LL,
        253402300799999999LL, 253402300800000000LL };
    hl_counter_snapshot snap;
    json_object *o, *recent;
    int i;

    memset(&snap, 0, sizeof(snap));
    snap.n_recent = HL_RECENT_MAX;
    for (i = 0; i < HL_RECENT_MAX; i++) {
        snap.recent[i].value = (apr_uint64_t)(100 - i);
        snap.recent[i].time = times[i];
        snap.recent[i].pid = 40 + i / 3;   /* runs of one pid, as in a server */
        snap.recent[i].complete = 1;
    }
    o = JSON_OF(hl_json_counter_stats(test_w, &snap, sample_figures()));
    recent = json_field(o, "recent", json_type_array);
    ck_assert_uint_eq(json_object_array_length(recent), HL_RECENT_MAX);
    for (i = 0; i < HL_RECENT_MAX; i++) {
        json_object *e = json_object_array_get_idx(recent, i), *t;
        char want[HL_RFC3339_SIZE];
        ck_assert_int_eq(json_object_get_int64(
            json_field(e, "time_us", json_type_int)), times[i]);
        ck_assert_int_eq(json_object_get_int(json_field(e, "pid", json_type_int)),
                         40 + i / 3);
        ck_assert_uint_eq(json_u64(e, "value"), (apr_uint64_t)(100 - i));
        ck_assert(json_object_object_get_ex(e, "time", &t));
        if (hl_rfc3339(want, times[i]) == APR_SUCCESS)
            ck_assert_str_eq(json_object_get_string(t), want);
        else
            ck_assert(json_object_is_type(t, json_type_null));
    }
    ck_assert_str_eq(json_object_get_string(json_field(
        json_object_array_get_idx(recent, 2), "time", json_type_string)),
        "2026-11-24T06:03:18.999999Z");
    json_object_put(o);

    /* The longest entries there are: every number at its widest. */
    for (i = 0; i < HL_RECENT_MAX; i++) {
        snap.recent[i].value = APR_UINT64_MAX - (apr_uint64_t)i;
        snap.recent[i].time = i % 2 ? APR_INT64_MAX : APR_INT64_MIN;
        snap.recent[i].pid = i % 2 ? APR_INT32_MAX : APR_INT32_MIN;
    }
    o = JSON_OF(hl_json_counter_stats(test_w, &snap, sample_figures()));
    recent = json_field(o, "recent", json_type_array);
    for (i = 0; i < HL_RECENT_MAX; i++) {
        json_object *e = json_object_array_get_idx(recent, i);
        ck_assert_uint_eq(json_u64(e, "value"), APR_UINT64_MAX - (apr_uint64_t)i);
        ck_assert_int_eq(json_object_get_int64(json_field(e, "time_us", json_type_int)),
                         snap.recent[i].time);
        ck_assert_int_eq(json_object_get_int(json_field(e, "pid", json_type_int)),
                         snap.recent[i].pid);
        ck_assert_uint_eq(json_object_get_uint64(json_object_array_get_idx(
            json_field(o, "recent_values", json_type_array), i)),
            APR_UINT64_MAX - (apr_uint64_t)i);
    }
    json_object_put(o);
}
END_TEST

START_TEST(test_index_shape)
{
    json_object *o = JSON_OF(hl_json_index(test_w, "/hl", hl_router_table()));
    json_object *eps = json_field(o, "endpoints", json_type_array);
    ck_assert_str_eq(json_object_get_string(json_field(o, "mount", json_type_string)), "/hl");
    ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(eps, 0)),
                     "counter/increment");
    ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(
        eps, json_object_array_length(eps) - 1)), "cache/{key}");
    json_object_put(o);
}
END_TEST

static const char *hit_text(const hl_cache_result *res)
{
    hl_jsonw *w = test_writer();
    hl_json_cache_hit(w, "k", 1, res);
    return text_of(w);
}

/* A streamed writer: the sink gets the text in pieces, and the pieces and
 * what is left make the text an unstreamed writer makes, while the
 * buffer stays within HL_JSONW_STREAM_AT (200 values
 * escaped to 18,000 bytes each: 3.6 MB of text).  A sink that fails is
 * not called again. */
typedef struct sink_buf {
    char *text;
    apr_size_t len, cap;
    int calls, fail_at;
} sink_buf;

static apr_status_t sink_collect(void *baton, const char *text, apr_size_t len)
{
    sink_buf *b = baton;
    ck_assert_uint_le(b->len + len, b->cap);
    memcpy(b->text + b->len, text, len);
    b->len += len;
    return ++b->calls == b->fail_at ? APR_EGENERAL : APR_SUCCESS;
}

static void write_many(hl_jsonw *w, const char *value, apr_size_t vlen)
{
    int i;
    hl_jsonw_object(w);
    hl_jsonw_kv_literal(w, "operation", "bulk_get");
    hl_jsonw_key(w, "results");
    hl_jsonw_array(w);
    for (i = 0; i < 200; i++) {
        char *p;
        hl_jsonw_object(w);
        hl_jsonw_kv_i64(w, "i", i);
        hl_jsonw_kv_string(w, "value", value, vlen);
        hl_jsonw_end(w);
        p = hl_jsonw_span(w, 8);       /* a span after a handover */
        hl_jsonw_span_end(w, hl_jsonw_paste(p, "true"));
    }
    hl_jsonw_end(w);
    hl_jsonw_end(w);
}

static void sink_new(sink_buf *b, int fail_at)
{
    memset(b, 0, sizeof(*b));
    b->cap = 8 * 1024 * 1024;
    b->text = apr_palloc(test_pool, b->cap);
    b->fail_at = fail_at;
}

/* write_many of value into streamed, through b: the pieces and the tail
 * are the text an unstreamed writer makes, which is returned (in b). */
static const char *streamed_as_whole(hl_jsonw *streamed, sink_buf *b,
                                     const char *value, apr_size_t vlen,
                                     apr_size_t *whole_len)
{
    hl_jsonw whole;
    const char *text, *tail;
    apr_size_t tail_len;

    hl_jsonw_init(&whole, test_pool);
    write_many(&whole, value, vlen);
    text = hl_jsonw_text(&whole, whole_len);
    ck_assert_uint_eq(whole.sent, 0);
    sink_new(b, 0);
    hl_jsonw_init(streamed, test_pool);
    hl_jsonw_stream(streamed, sink_collect, b);
    write_many(streamed, value, vlen);
    tail = hl_jsonw_text(streamed, &tail_len);
    ck_assert_int_eq(streamed->sink_rv, APR_SUCCESS);
    ck_assert_uint_eq(streamed->sent, b->len);
    memcpy(b->text + b->len, tail, tail_len);
    ck_assert_uint_eq(b->len + tail_len, *whole_len);
    ck_assert(memcmp(b->text, text, *whole_len) == 0);
    b->text[*whole_len] = '\0';
    return b->text;
}

START_TEST(test_streamed_writer)
{
    apr_size_t vlen = 3000, whole_len;
    char *value = apr_palloc(test_pool, vlen);
    hl_jsonw streamed;
    const char *text;
    sink_buf b;
    json_object *o;

    memset(value, 0x01, vlen);
    text = streamed_as_whole(&streamed, &b, value, vlen, &whole_len);
    ck_assert_uint_gt(whole_len, 3600000);
    ck_assert_int_ge(b.calls, (int)(whole_len / HL_JSONW_STREAM_AT));
    ck_assert_uint_le(streamed.cap, HL_JSONW_STREAM_AT);
    o = json_tokener_parse(text);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(json_object_array_length(json_field(o, "results", json_type_array)),
                     400);
    json_object_put(o);

    /* Invalid UTF-8, made valid in one buffer the writer reuses (not a
     * copy per value in the pool): the same text as unstreamed. */
    memset(value, 0xff, vlen);
    text = streamed_as_whole(&streamed, &b, value, vlen, &whole_len);
    ck_assert_uint_eq(streamed.repaired_cap, 3 * vlen + 1);
    ck_assert_ptr_nonnull(strstr(text, "\xEF\xBF\xBD\xEF\xBF\xBD"));

    /* The sink fails at its second piece: never called again. */
    sink_new(&b, 2);
    hl_jsonw_init(&streamed, test_pool);
    hl_jsonw_stream(&streamed, sink_collect, &b);
    write_many(&streamed, value, vlen);
    ck_assert_int_eq(streamed.sink_rv, APR_EGENERAL);
    ck_assert_int_eq(b.calls, 2);
    ck_assert_uint_gt(streamed.sent, b.len);
}
END_TEST

/* The hit's answer, byte for byte, in both of its branches (one span, or
 * a large value first), its seconds written from whole microseconds. */
START_TEST(test_cache_hit_text)
{
    hl_cache_result res;

    memset(&res, 0, sizeof(res));
    res.value = "v";
    res.vlen = 1;
    res.access_count = 18446744073709551615ull;
    res.set_time = APR_USEC_PER_SEC * 1000;
    res.age = 2000001;
    res.version = 7;
    ck_assert_str_eq(hit_text(&res), "{\"key\":\"k\",\"value\":\"v\",\"cache_hit\":true,"
                     "\"access_count\":18446744073709551615,\"age_seconds\":2.000001,"
                     "\"value_bytes\":1,\"version\":7,\"etag\":\"\\\"7\\\"\","
                     "\"ttl_seconds\":null}");

    /* A clock set back: a negative age; an expiry 1.5 s on. */
    res.age = -999999;
    res.access_count = 0;
    res.expires = res.set_time + res.age + 1500000;
    ck_assert_str_eq(hit_text(&res), "{\"key\":\"k\",\"value\":\"v\",\"cache_hit\":true,"
                     "\"access_count\":0,\"age_seconds\":-0.999999,\"value_bytes\":1,"
                     "\"expires_in_seconds\":1.500000,\"version\":7,"
                     "\"etag\":\"\\\"7\\\"\",\"ttl_seconds\":2}");

    /* A value past what a set echoes takes the writer's own path, to the
     * same text. */
    {
        apr_size_t n;
        for (n = HL_JSON_ECHO_MAX; n <= HL_JSON_ECHO_MAX + 1; n++) {
            char *v = apr_palloc(test_pool, n + 1);
            memset(v, 'x', n);
            v[n] = '\0';
            res.value = v;
            res.vlen = n;
            ck_assert_str_eq(hit_text(&res), apr_psprintf(test_pool,
                "{\"key\":\"k\",\"value\":\"%s\",\"cache_hit\":true,"
                "\"access_count\":0,\"age_seconds\":-0.999999,"
                "\"value_bytes\":%" APR_SIZE_T_FMT ",\"expires_in_seconds\":1.500000,"
                "\"version\":7,\"etag\":\"\\\"7\\\"\",\"ttl_seconds\":2}", v, n));
        }
    }

    /* Far past 2^33 seconds, where the old text through a double rounded;
     * in the one-span branch again. */
    res.value = "v";
    res.vlen = 1;
    res.age = APR_INT64_MAX;
    res.set_time = 0;
    res.expires = 0;
    ck_assert_ptr_nonnull(strstr(hit_text(&res),
                                 ",\"age_seconds\":9223372036854.775807,"));
    res.age = APR_INT64_MIN;
    ck_assert_ptr_nonnull(strstr(hit_text(&res),
                                 ",\"age_seconds\":-9223372036854.775808,"));
}
END_TEST

START_TEST(test_cache_shapes)
{
    hl_cache_result res;
    hl_cache_stats st;
    hl_limiter_stats ls;
    json_object *o;

    memset(&res, 0, sizeof(res));
    res.value = "v\xFF";
    res.vlen = 2;
    res.access_count = 3;
    res.age = 1250000;
    o = JSON_OF(hl_json_cache_hit(test_w, "k\0y", 3, &res));
    ck_assert_int_eq(json_object_get_string_len(json_field(o, "key", json_type_string)), 3);
    ck_assert_str_eq(json_object_get_string(json_field(o, "value", json_type_string)),
                     "v\xEF\xBF\xBD");
    ck_assert(json_object_get_boolean(json_field(o, "cache_hit", json_type_boolean)));
    ck_assert_uint_eq(json_u64(o, "access_count"), 3);
    ck_assert(json_object_get_double(json_field(o, "age_seconds", json_type_double)) == 1.25);
    json_object_put(o);

    o = JSON_OF(hl_json_cache_miss(test_w, "gone", 4));
    ck_assert_str_eq(json_object_get_string(json_field(o, "error", json_type_string)),
                     "Key not found");
    ck_assert_int_eq(json_object_get_int(json_field(o, "status", json_type_int)), 404);
    ck_assert_str_eq(json_object_get_string(json_field(o, "key", json_type_string)), "gone");
    json_object_put(o);

    o = JSON_OF(hl_json_cache_set(test_w, "k", 1, "val", 3, 1));
    ck_assert_str_eq(json_object_get_string(json_field(o, "operation", json_type_string)), "set");
    ck_assert(json_object_get_boolean(json_field(o, "replaced", json_type_boolean)));
    ck_assert_str_eq(json_object_get_string(json_field(o, "value", json_type_string)), "val");
    ck_assert(!json_object_get_boolean(json_field(o, "value_truncated", json_type_boolean)));
    json_object_put(o);

    /* A large value is repeated only in part; value_bytes tells the whole. */
    {
        apr_size_t big = HL_JSON_ECHO_MAX * 3 + 5;
        char *v = apr_palloc(test_pool, big);
        memset(v, 'x', big);
        o = JSON_OF(hl_json_cache_set(test_w, "k", 1, v, big, 0));
        ck_assert_uint_eq(strlen(json_object_get_string(
            json_field(o, "value", json_type_string))), HL_JSON_ECHO_MAX);
        ck_assert(json_object_get_boolean(json_field(o, "value_truncated", json_type_boolean)));
        ck_assert_uint_eq(json_u64(o, "value_bytes"), big);
        json_object_put(o);
        o = JSON_OF(hl_json_cache_set(test_w, "k", 1, v, HL_JSON_ECHO_MAX, 0));
        ck_assert(!json_object_get_boolean(json_field(o, "value_truncated", json_type_boolean)));
        json_object_put(o);
    }

    /* A set's answer and an entry's members are spans counted ahead: at
     * their longest (every byte escaped to six, the largest numbers) the
     * writer aborts if the count is short; then the key and the value
     * come back as they went in. */
    {
        apr_size_t klen = 4096, vlen = HL_JSON_ECHO_MAX + 1;
        char *k = apr_palloc(test_pool, klen), *v = apr_palloc(test_pool, vlen);
        hl_cache_written wr;
        memset(k, 0x01, klen);
        memset(v, 0x1f, vlen);
        memset(&wr, 0, sizeof(wr));
        wr.existed = 1;
        wr.version = APR_UINT64_MAX;
        wr.expires = APR_INT64_MAX - APR_USEC_PER_SEC;   /* no overflow */
        o = JSON_OF(hl_json_cache_stored(test_w, k, klen, v, vlen, &wr, 0));
        ck_assert_int_eq(json_object_get_string_len(json_field(o, "key", json_type_string)),
                         (int)klen);
        ck_assert_int_eq(json_object_get_string_len(json_field(o, "value", json_type_string)),
                         HL_JSON_ECHO_MAX);
        ck_assert(json_object_get_boolean(json_field(o, "replaced", json_type_boolean)));
        ck_assert(json_object_get_boolean(json_field(o, "value_truncated", json_type_boolean)));
        ck_assert_uint_eq(json_u64(o, "version"), APR_UINT64_MAX);
        ck_assert_str_eq(json_object_get_string(json_field(o, "etag", json_type_string)),
                         "\"18446744073709551615\"");
        ck_assert_uint_eq(json_u64(o, "ttl_seconds"), 9223372036854ull);
        json_object_put(o);
        wr.expires = APR_INT64_MAX;                        /* rounded up, exactly */
        o = JSON_OF(hl_json_cache_stored(test_w, k, klen, v, vlen, &wr, 0));
        ck_assert_uint_eq(json_u64(o, "ttl_seconds"), 9223372036855ull);
        json_object_put(o);
        o = JSON_OF(hl_json_cache_touched(test_w, k, klen, &wr, 0));
        ck_assert_uint_eq(json_u64(o, "version"), APR_UINT64_MAX);
        ck_assert_uint_eq(json_object_object_length(o), 6);
        json_object_put(o);
    }

    memset(&st, 0, sizeof(st));
    st.total_entries = 4;
    st.total_accesses = 10;
    memset(&ls, 0, sizeof(ls));
    ls.rejected = 7;
    ls.peak_in_flight = 3;
    o = JSON_OF(hl_json_cache_stats(test_w, &st, &ls, 50));
    ck_assert_uint_eq(json_u64(o, "average_accesses"), 2);     /* 10 / 4 */
    ck_assert_uint_eq(json_u64(o, "max_concurrent"), 50);
    ck_assert_uint_eq(json_u64(o, "rejected"), 7);
    ck_assert_uint_eq(json_u64(o, "peak_in_flight"), 3);
    json_object_put(o);
}
END_TEST

/* The hand-written date against APR's gmtime + strftime: random instants
 * over the whole range, and the edges of months, leap days and centuries. */
static void expect_like_apr(apr_time_t when)
{
    char mine[HL_RFC3339_SIZE], date[32], ref[48];
    apr_time_exp_t t;
    apr_size_t n;
    apr_time_exp_gmt(&t, when);
    apr_strftime(date, &n, sizeof(date), "%Y-%m-%dT%H:%M:%S", &t);
    apr_snprintf(ref, sizeof(ref), "%s.%06dZ", date, t.tm_usec);
    ck_assert_int_eq(hl_rfc3339(mine, when), APR_SUCCESS);
    ck_assert_msg(strcmp(mine, ref) == 0, "%" APR_TIME_T_FMT ": %s, APR says %s",
                  when, mine, ref);
}

START_TEST(test_rfc3339_matches_gmtime)
{
    static const char *edges[] = { "1970-01-01", "1999-12-31", "2000-02-28",
        "2000-02-29", "2000-03-01", "2024-02-29", "2026-11-24", "2100-02-28",
        "2100-03-01", "2400-02-29", "9999-12-31" };
    apr_uint64_t seed = 0x3339;
    char out[HL_RFC3339_SIZE];
    unsigned i;
    int k;

    for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        apr_time_exp_t t;
        apr_time_t when;
        memset(&t, 0, sizeof(t));
        t.tm_year = atoi(edges[i]) - 1900;
        t.tm_mon = atoi(edges[i] + 5) - 1;
        t.tm_mday = atoi(edges[i] + 8);
        ck_assert_int_eq(apr_time_exp_gmt_get(&when, &t), APR_SUCCESS);
        for (k = -1; k <= 1; k++)   /* APR mangles the microseconds before 1970 */
            if (when + k * (apr_time_t)APR_USEC_PER_SEC * 43200 + k >= 0)
                expect_like_apr(when + k * (apr_time_t)APR_USEC_PER_SEC * 43200 + k);
        ck_assert_int_eq(hl_rfc3339(out, when), APR_SUCCESS);
        ck_assert(strncmp(out, edges[i], 10) == 0);
    }
    for (k = 0; k < 200000; k++)   /* 1970 .. 9999 */
        expect_like_apr((apr_time_t)(test_rand(&seed) % 253402300799000000ULL));
    ck_assert_int_eq(hl_rfc3339(out, -1), APR_SUCCESS);
    ck_assert_str_eq(out, "1969-12-31T23:59:59.999999Z");
    ck_assert_int_eq(hl_rfc3339(out, (apr_time_t)253402300800LL * APR_USEC_PER_SEC),
                     APR_EINVAL);
}
END_TEST

Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    /* check's default of 4 s: the date test's loops ran past it on this
     * 2-core machine while benchmarks ran beside it. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_writer_nesting_and_commas);
    tcase_add_test(tc, test_writer_numbers);
    tcase_add_test(tc, test_writer_integers_as_printf);
    tcase_add_test(tc, test_writer_digits_as_printf);
    tcase_add_test(tc, test_writer_names);
    tcase_add_test(tc, test_writer_strings);
    tcase_add_test(tc, test_writer_escapes_anywhere);
    tcase_add_test(tc, test_span_string_room);
    tcase_add_test(tc, test_writer_extremes);
    tcase_add_test(tc, test_writer_grows);
    tcase_add_test(tc, test_error_shape);
    tcase_add_test(tc, test_increment_shape);
    tcase_add_test(tc, test_figures_longest);
    tcase_add_test(tc, test_stats_shape);
    tcase_add_test(tc, test_stats_times_per_entry);
    tcase_add_test(tc, test_stats_again_same_text);
    tcase_add_test(tc, test_increment_again_same_text);
    tcase_add_test(tc, test_rfc3339_matches_gmtime);
    tcase_add_test(tc, test_index_shape);
    tcase_add_test(tc, test_cache_shapes);
    tcase_add_test(tc, test_cache_hit_text);
    tcase_add_test(tc, test_streamed_writer);
    suite_add_tcase(s, tc);
    return s;
}
