/* What the libFuzzer targets here share.  Each target is one translation
 * unit that includes this once, after its own headers.
 *
 * CHECK aborts with the condition that failed, so that libFuzzer keeps
 * the input that made it fail; a target that wants more in the message
 * defines its own CHECK first.  root is the APR pool every input's own
 * pool is made from, created once in LLVMFuzzerInitialize. */
#ifndef HL_FUZZ_COMMON_H
#define HL_FUZZ_COMMON_H

#include <apr_general.h>
#include <apr_pools.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef CHECK
#define CHECK(cond) do { if (!(cond)) { \
        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        abort(); } } while (0)
#endif

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

#endif
