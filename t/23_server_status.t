# mod_hyperlane's section of /server-status (issue 18), on private
# servers: with mod_status loaded (after mod_hyperlane: the optional hook
# does not care about the order), "Key: value" lines in ?auto and a table
# in the page, with the figures the JSON endpoints give after known
# traffic, kept across a graceful restart like the metrics; without
# mod_status the module serves as before.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use HL::Test qw(check);
use Time::HiRes qw(sleep time);

plan tests => 30;

my $with = HL::Server->new;
my $libexec = $with->libexec;
$with->configure(<<"CONF");
LoadModule status_module $libexec/mod_status.so
<Location /server-status>
    SetHandler server-status
</Location>
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
check($with->start, 'a server with mod_status');

my $ok = 1;
for (1 .. 5) { my ($r) = $with->request('GET', '/hl/counter/increment'); $ok &&= $r->code == 200 }
my ($res) = $with->request('PUT', '/hl/cache/k', content => 'a value');
$ok &&= $res->code == 201;
for (1 .. 3) { my ($r) = $with->request('GET', '/hl/cache/k'); $ok &&= $r->code == 200 }
($res) = $with->request('GET', '/hl/cache/nope');
$ok &&= $res->code == 404;
check($ok, 'known traffic: 5 increments, a set, 3 hits, a miss');
my (undef, $stats) = $with->request('GET', '/hl/counter/stats');
my (undef, $cache) = $with->request('GET', '/hl/cache');

sub auto {
    my ($srv) = @_;
    my ($r) = $srv->request('GET', '/server-status?auto');
    my %kv = map { /^([^:]+): (.*)$/ ? ($1 => $2) : () } split /\n/, $r->content;
    my @keys = map { /^([^:]+):/ ? $1 : () } split /\n/, $r->content;
    return ($r, \%kv, \@keys);
}
my ($r, $kv, $keys) = auto($with);
ok t_cmp($r->code, 200, '?auto: 200');
check(defined $kv->{ServerVersion}, "mod_status's own lines are there");
my %seen;
check(!grep({ $seen{$_}++ } grep { /^Hyperlane/ } @$keys), 'each Hyperlane key once');
ok t_cmp($kv->{HyperlaneStoreUp}, 1, 'HyperlaneStoreUp');
ok t_cmp($kv->{HyperlaneStoreBackend}, 'shm', 'HyperlaneStoreBackend');
ok t_cmp($kv->{HyperlaneStoreGeneration}, $stats->{memory_usage}{store_generation},
         'HyperlaneStoreGeneration');
ok t_cmp($kv->{HyperlaneCounterValue}, 5, 'HyperlaneCounterValue');
ok t_cmp($kv->{HyperlaneCounterValue}, $stats->{current_value}, '= counter/stats');
ok t_cmp($kv->{HyperlaneIncrements}, 5, 'HyperlaneIncrements');
ok t_cmp($kv->{HyperlaneHistoryLength}, $stats->{history_length}, 'HyperlaneHistoryLength');
ok t_cmp($kv->{HyperlaneHistoryCapacity}, $stats->{history_capacity},
         'HyperlaneHistoryCapacity');
my %cache_of = (HyperlaneCacheEntries => 'total_entries', HyperlaneCacheUsedBytes => 'bytes_used',
                HyperlaneCacheCapacityBytes => 'capacity_bytes', HyperlaneCacheHits => 'hits',
                HyperlaneCacheMisses => 'misses', HyperlaneCacheSets => 'sets',
                HyperlaneCacheDeletes => 'deletes', HyperlaneCacheEvictions => 'evictions',
                HyperlaneCacheExpirations => 'expirations',
                HyperlaneLimiterCacheMax => 'max_concurrent',
                HyperlaneLimiterCachePeak => 'peak_in_flight',
                HyperlaneLimiterCacheRejected => 'rejected',
                HyperlaneLimiterCacheHealed => 'healed');
my @differ = grep { ($kv->{$_} // 'none') ne $cache->{$cache_of{$_}} } sort keys %cache_of;
print "# differ: $_ auto=" . ($kv->{$_} // 'none') . " json=$cache->{$cache_of{$_}}\n" for @differ;
check(!@differ, 'cache and limiter lines equal the cache endpoint');
check($kv->{HyperlaneCacheHits} == 3 && $kv->{HyperlaneCacheMisses} == 1
      && $kv->{HyperlaneCacheEntries} == 1, 'hits 3, misses 1, one entry');
ok t_cmp($kv->{HyperlaneLimiterCacheInFlight}, 0, 'nothing in flight');
ok t_cmp($kv->{HyperlaneLimiterBenchmarkMax}, 2, 'the benchmark limit');
check(4 == grep({ defined $kv->{"HyperlaneStoreErrors$_"} && $kv->{"HyperlaneStoreErrors$_"} == 0 }
                qw(Unavailable Timeout Refused Other)), 'no store errors, four kinds');

($res) = $with->request('GET', '/server-status');
my $html = $res->content;
ok t_cmp($res->code, 200, 'the page: 200');
check($html =~ m{<h2><a name="hyperlane">mod_hyperlane</a></h2>\s*<table}, 'our section');
check($html =~ m{<tr><th align="left">Counter value</th><td>5</td></tr>}
      && $html =~ m{<tr><th align="left">Cache hits</th><td>3</td></tr>}
      && $html =~ m{<tr><th align="left">Store backend</th><td>shm</td></tr>}
      && $html =~ m{<tr><th align="left">Limiter cache: in flight</th><td>0</td></tr>},
      'a row per figure');
check($html =~ m{</table>.*</html>}s, 'inside the normal page');

# A graceful restart keeps the figures, this host's metrics included.
my $gen = $kv->{HyperlaneStoreGeneration};
$with->ctl('graceful');
sub generation { my (undef, $k) = auto($with); return $k->{HyperlaneStoreGeneration} // 0 }
my $deadline = time + 30;
sleep 0.2 while generation() <= $gen && time < $deadline;
($r, $kv) = auto($with);
ok t_cmp($kv->{HyperlaneStoreGeneration}, $gen + 1, 'a new generation');
check($kv->{HyperlaneCounterValue} == 5 && $kv->{HyperlaneIncrements} == 5
      && $kv->{HyperlaneCacheHits} == 3, 'the figures survived the restart');
($res) = $with->request('GET', '/hl/metrics');
check($res->content =~ /^hyperlane_requests_total\{endpoint="counter\/increment",code="200"\} 5$/m,
      'so did the requests counted');
check($with->stop, 'stopped');

# ---- without mod_status.
my $without = HL::Server->new;
$without->configure(<<"CONF");
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
check($without->start, 'a server without mod_status');
($res) = $without->request('GET', '/hl/counter/increment');
my ($m) = $without->request('GET', '/hl/metrics');
check($res->code == 200 && $m->code == 200
      && $m->content =~ /^hyperlane_increments_total 1$/m, 'serves as before, metrics too');
($res) = $without->request('GET', '/server-status?auto');
check($res->code == 404 && $res->content !~ /Hyperlane/, 'no /server-status');
check($without->stop && $without->log !~ /:(?:error|crit|alert|emerg)\]|hyperlane.*fail/i,
      'stopped; nothing logged as an error');
