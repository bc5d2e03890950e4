# A bulk set that the store stops part way: Redis runs out of memory
# (maxmemory with noeviction, so it refuses writes with OOM) after some of
# the items.  The answer is 503 JSON with Retry-After, and it says item by
# item what was stored, so that a client can retry just the rest; what it
# says is what Redis holds.
#
# The redis-server and the httpd are the test's own (127.0.0.1, free
# ports, temp dirs), stopped whatever happens (HL::Cleanup).
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Test qw(check);
use HL::Redis;
use HL::RedisHost qw(host backend_built);

my $N = 40;
plan tests => 17 + $N, need { 'redis-server on PATH' => defined HL::Redis::binary(),
                              'the Redis backend in this build' => backend_built() };

my $redis = HL::Redis->new;
my $h = host(store => $redis->url,
             conf => "HyperlaneRedisTimeout 5000\nHyperlaneCacheSize 16M\n");

sub bulk_set {
    my @keys = @_;
    my $items = join ',', map { sprintf '{"key": "%s", "value": "%s"}', $_, 'v' x 20000 } @keys;
    return $h->request('POST', '/hl/cache-bulk/set', content => qq({"items": [$items]}),
                       headers => ['Content-Type' => 'application/json']);
}

my ($res, $j) = $h->request('PUT', '/hl/cache/warm', content => 'x');
ok t_cmp($res->code, 201, 'a first set: the connection is open, the library loaded');

# Room for some of the 20 KB values, not for 40: the margin also holds
# what a child that has not talked to Redis yet adds when the bulk set
# is its first request (a connection, its buffers, the library sent).
my ($used) = ($redis->command('INFO', 'memory') =~ /^used_memory:(\d+)/m);
check($used, "Redis uses $used bytes");
ok t_cmp($redis->command('CONFIG', 'SET', 'maxmemory-policy', 'noeviction'), 'OK',
         'maxmemory-policy noeviction');
ok t_cmp($redis->command('CONFIG', 'SET', 'maxmemory', $used + 400_000), 'OK',
         'maxmemory 400 KB above what Redis uses');

my @keys = map { "b$_" } 1 .. $N;
($res, $j) = bulk_set(@keys);
ok t_cmp($res->code, 503, 'the bulk set stopped part way: 503');
ok t_cmp(scalar $res->header('Retry-After'), 1, 'with Retry-After: 1');
check($j && $j->{error} && $j->{status} == 503, 'a JSON error: ' . ($j && $j->{error} // '?'));
my @r = @{ $j->{results} || [] };
ok t_cmp(scalar @r, $N, 'a result for every item');
my $stored = $j->{succeeded} // 0;
check($stored >= 1 && $stored < $N, "some items were stored ($stored of $N)");
$stored = 1 if $stored < 1 || $stored >= $N;     # a failure above; the rest still checks
ok t_cmp($j->{failed}, $N - $stored, 'and the rest counted as failed');
# The stored ones first, then the one Redis refused (OOM: refused before it
# ran, so stored is false, not null), then those never run.
check(@r == $N && !grep({ ($r[$_]{status} // 0) != 201 || !$r[$_]{stored} } 0 .. $stored - 1),
      'the first ones: 201, stored');
my $refused = $r[$stored] || {};
check(($refused->{status} // 0) == 503 && defined $refused->{stored} && !$refused->{stored},
      'the next one: 503, stored false (Redis refused it)');
check(@r == $N && !grep({ ($_->{status} // 0) != 503 || $_->{stored}
                          || ($_->{error} // '') !~ /Not run/ } @r[$stored + 1 .. $N - 1]),
      'the rest: 503, not run');

# What the answer says is what Redis holds.
ok t_cmp($redis->command('CONFIG', 'SET', 'maxmemory', 0), 'OK', 'maxmemory lifted');
for my $i (0 .. $N - 1) {
    ($res) = $h->request('GET', "/hl/cache/$keys[$i]?raw=1");
    ok t_cmp($res->code, $i < $stored ? 200 : 404,
             "$keys[$i]: " . ($i < $stored ? 'stored' : 'not stored'));
}

# A retry of just the items not stored completes the set.
($res, $j) = bulk_set(@keys[$stored .. $N - 1]);
ok t_cmp($res->code, 200, 'the retry of the rest: 200');
ok t_cmp($j->{succeeded}, $N - $stored, 'every item of it stored');
my $all = 0;
for my $k (@keys) { my ($r) = $h->request('GET', "/hl/cache/$k?raw=1"); $all++ if $r->code == 200 }
ok t_cmp($all, $N, 'all of the items are there now');
