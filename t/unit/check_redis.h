/* The unit tests' redis-server (check_redis_server.c). */
#ifndef CHECK_REDIS_H
#define CHECK_REDIS_H

#include <sys/types.h>
#include <hiredis/hiredis.h>

typedef struct test_redis {
    pid_t pid;                 /* 0: not running */
    int port;                  /* 0 before the first start: a free one */
    const char *password;      /* NULL: none (requirepass) */
    char dir[64];              /* its temporary directory */
    char socket[96];           /* its Unix socket, in dir */
} test_redis;

/* Starts redis-server as t says, on 127.0.0.1, and waits until it
 * answers: 1, or 0 if it could not. */
int test_redis_start(test_redis *t);
/* SIGKILL, keeping its directory and port (to start it again). */
void test_redis_kill(test_redis *t);
/* Kills it and removes its directory. */
void test_redis_stop(test_redis *t);
/* A connection to it (authenticated), or NULL. */
redisContext *test_redis_connect(const test_redis *t);
/* Runs one command: 1 unless it failed. */
int test_redis_command(const test_redis *t, const char *command);

/* The server the suites share, started by main before any test (unless
 * HL_TEST_NO_REDIS=1, for developers without redis-server; never set in
 * CI) and stopped at exit. */
void test_redis_shared_start(void);
/* It, or NULL when HL_TEST_NO_REDIS=1; fails the test if it is not
 * running. */
const test_redis *test_redis_shared(void);
/* Its spec for HyperlaneStore, its data flushed first; NULL when
 * HL_TEST_NO_REDIS=1. */
const char *test_redis_spec(void);

#endif
