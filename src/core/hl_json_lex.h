/* hl_json_lex: what json-c's strict mode lets through and JSON (RFC 8259)
 * does not.  json-c 0.16 with JSON_TOKENER_STRICT still reads a
 * single-quoted key, a control character inside a string, an unpaired
 * surrogate escape (as U+FFFD), an integer past 64 bits (clamped to the
 * nearest bound), a leading zero (-01), a point with no digit after it
 * (1.), NaN and Infinity.  The check runs on text json-c has parsed, so its
 * structure is already known good; UTF-8 is checked elsewhere
 * (hl_utf8_valid), json-c's own check letting overlong forms through.
 * The module's bulk bodies and the tests' reader of answers
 * (t/tools/hl-json-decode) both use it. */
#ifndef HL_JSON_LEX_H
#define HL_JSON_LEX_H

#include <apr_errno.h>

/* APR_SUCCESS, or APR_EINVAL with *why saying what is wrong. */
apr_status_t hl_json_lex_check(const char *text, apr_size_t len,
                               const char **why);

/* The '{', '[' and ',' outside strings: at least the values the text holds
 * but one, counted in one pass before a parser builds an object for each
 * ("[{},{},...]" is three bytes a value, and json-c spends some hundred
 * on each); *members: the ':' outside strings, the members of all its
 * objects (json-c keeps the last of two with one name: fewer). */
apr_size_t hl_json_lex_values(const char *text, apr_size_t len,
                              apr_size_t *members);

#endif
