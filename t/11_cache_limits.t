# The cache's bounds, on a private server with a tiny cache: eviction when
# full (every eviction counted), expiry after HyperlaneCacheTTL, and a set
# whose body is still arriving holding no slot of the concurrency limit
# (t/17_limits.t tests the 503 the limit answers).
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use HL::Test qw(check);
use IO::Socket::INET ();
use Time::HiRes qw(sleep time);

plan tests => 26;

my $srv = HL::Server->new;
sub conf {
    my $ttl = shift;
    $srv->configure(<<"CONF");
HyperlaneCacheSize 64K
HyperlaneCacheTTL $ttl
HyperlaneCacheMaxConcurrent 1
HyperlaneCacheMaxValue 2K
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
}
conf(3600);
check($srv->start, 'private server with a 64K cache');
sub stats { my (undef, $j) = $srv->request('GET', '/hl/cache'); $j }

# Far more than fits: 300 values of 1 KiB in a 64 KiB cache.
my $ok = 0;
for my $i (1 .. 300) {
    my ($res) = $srv->request('PUT', "/hl/cache/k$i", content => chr(65 + $i % 26) x 1024);
    $ok++ if $res->code == 201;
}
ok t_cmp($ok, 300, 'every set succeeds: room is made');
my $st = stats();
check($st->{evictions} > 200, "evictions counted ($st->{evictions})");
check($st->{total_entries} + $st->{evictions} == 300, 'entries + evictions = sets');
check($st->{bytes_used} <= $st->{capacity_bytes}, 'memory stays bounded');
my ($res, $j) = $srv->request('GET', '/hl/cache/k300');
ok t_cmp($res->code, 200, 'the newest entry is there');
ok t_cmp($j->{value}, chr(65 + 300 % 26) x 1024, 'with its exact value');
($res) = $srv->request('GET', '/hl/cache/k1');
ok t_cmp($res->code, 404, 'the oldest was evicted');

# Least recently used goes first: read the oldest survivor, add one more,
# and the next oldest goes instead of it.
my $oldest = 300 - $st->{total_entries} + 1;
$srv->request('GET', "/hl/cache/k$oldest");
$srv->request('PUT', '/hl/cache/newcomer', content => 'x' x 1024);
($res) = $srv->request('GET', "/hl/cache/k$oldest");
ok t_cmp($res->code, 200, "a recently read entry (k$oldest) survives");
($res) = $srv->request('GET', '/hl/cache/k' . ($oldest + 1));
ok t_cmp($res->code, 404, 'the least recently used one went instead');

# Expiry after the TTL (2 s here, after a graceful restart that keeps the
# segment and its entries): never returned afterwards.
conf(2);
$srv->ctl('graceful');
HL::Server::wait_for(sub { $srv->log =~ /generation 1/ });
sleep 0.5;
$srv->request('PUT', '/hl/cache/short', content => 'lived');
($res) = $srv->request('GET', '/hl/cache/short');
ok t_cmp($res->code, 200, 'fresh entry');
my $exp = stats()->{expirations};
sleep 2.3;
($res, $j) = $srv->request('GET', '/hl/cache/short');
ok t_cmp($res->code, 404, 'expired entry is not returned');
check(stats()->{expirations} > $exp, 'expiration counted');

# The concurrency limit (1): a set whose body is still arriving holds no
# slot (a slot is for work on the store, never for waiting on a client),
# so every other operation is served meanwhile.
my $holder = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port)
    or die "connect: $!";
print $holder "PUT /hl/cache/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf.";
sleep 0.5;
my $rejected = stats()->{rejected};
($res, $j) = $srv->request('GET', '/hl/cache/k300');
ok t_cmp($res->code, 200, 'a get is served while a set waits for its body');
($res) = $srv->request('PUT', '/hl/cache/other', content => 'v');
ok t_cmp($res->code, 201, 'and so is another set');
my $during = stats();
check($during && $during->{in_flight} == 0, 'the waiting set holds no slot');
ok t_cmp($during->{rejected}, $rejected, 'nothing was rejected');
print $holder "done!";
my $answer = '';
sysread($holder, $answer, 4096);
ok t_cmp(($answer =~ m{^HTTP/1\.1 (\d+)})[0], 201, 'the slow set completes');
($res, $j) = $srv->request('GET', '/hl/cache/slow');
ok t_cmp($j->{value}, 'half.done!', 'and stored its value');

# HyperlaneMaxBody below the cache's own limits holds a set and a bulk set
# to it: 413 JSON, and nothing stored.
$srv->stop;
$srv->configure(<<"CONF");
HyperlaneMaxBody 1K
HyperlaneCacheMaxValue 2K
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
check($srv->start, 'private server: HyperlaneMaxBody 1K, HyperlaneCacheMaxValue 2K');
($res, $j) = $srv->request('PUT', '/hl/cache/big', content => 'b' x 1500);
ok t_cmp($res->code, 413, 'a 1500-byte value: 413 under HyperlaneMaxBody');
check($j && defined $j->{error}, 'with a JSON error');
($res) = $srv->request('GET', '/hl/cache/big');
ok t_cmp($res->code, 404, 'and nothing was stored');
($res) = $srv->request('PUT', '/hl/cache/fits', content => 'f' x 1000);
ok t_cmp($res->code, 201, 'a 1000-byte value is stored');
my $items = join ',', map { sprintf '{"key": "bulk%d", "value": "%s"}', $_, 'v' x 100 } 1 .. 12;
($res, $j) = $srv->request('POST', '/hl/cache-bulk/set', content => qq({"items": [$items]}),
                           headers => ['Content-Type' => 'application/json']);
ok t_cmp($res->code, 413, 'a bulk set of 1.3 KB: 413 under HyperlaneMaxBody');
($res) = $srv->request('GET', '/hl/cache/bulk1');
ok t_cmp($res->code, 404, 'and none of its items was stored');
