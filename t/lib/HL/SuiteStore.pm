package HL::SuiteStore;
# Which store the Apache::Test suite runs on.  By default the shm store;
# the step "redis" of t/run-all (t/steps/redis) starts a private
# redis-server and sets HL_STORE to its URL and HL_REDIS_PREFIX to a fresh
# key prefix: t/TEST.PL then gives the suite's httpd these lines, and a
# test's private server takes them with conf().  A test that means to run
# on either store checks kind() against the store's own answer ("store" of
# GET cache), so that a run meant for Redis never passes on shm.
# No Apache::Test here: t/TEST.PL loads it before Apache::Test configures.
use strict;
use warnings FATAL => 'all';

# "redis" or "shm": what the store's answers must say.
sub kind { $ENV{HL_STORE} ? 'redis' : 'shm' }

# The configuration lines of the store, '' for shm.  $suffix is added to
# the key prefix: a private server beside the suite's keeps keys of its own.
# The command timeout is generous (as in t/20): a thousand-key bulk call
# on a busy machine may take longer than the default, and these files
# check the answers; t/21_redis_faults.t checks the timeouts.
sub conf {
    my ($suffix) = @_;
    return '' unless $ENV{HL_STORE};
    my $prefix = ($ENV{HL_REDIS_PREFIX} // 'hyperlane:') . ($suffix // '');
    return "HyperlaneStore $ENV{HL_STORE}\nHyperlaneRedisPrefix $prefix\n"
         . "HyperlaneRedisTimeout 5000\n";
}

1;
