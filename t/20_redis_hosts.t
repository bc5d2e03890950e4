# Two Apache hosts, one prefork and one event, on two ports, sharing one
# Redis (HyperlaneStore redis://...): one exact counter, one history and
# one cache.  20,000 increments from 50 keep-alive clients split across
# both end with current_value exactly 20,000 on both; the history holds
# entries of both hosts, newest first; a value set through one is read,
# counted and deleted through the other; LRU eviction and the TTL behave
# as on shm; both hosts show the same cache statistics.  A third host
# reaches the same Redis through its unix socket (redis+unix://).
#
# The redis-server and the httpds are the test's own (127.0.0.1, free
# ports, temp dirs), stopped whatever happens (HL::Cleanup).
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Test qw(check hammer children_of);
use HL::Redis;
use HL::RedisHost qw(host backend_built);
use JSON::PP ();
use Time::HiRes qw(sleep time);

plan tests => 60, need { 'redis-server on PATH' => defined HL::Redis::binary(),
                     'the Redis backend in this build' => backend_built() };

my $M = 20_000;
my $PREFIX = 'hl-t20:';
my $redis = HL::Redis->new(unix => 1);
# A small cache (LRU).  The command timeout is generous: this test checks
# exactness, t/21_redis_faults.t the timeouts.
my $common = "HyperlaneRedisPrefix $PREFIX\nHyperlaneRedisTimeout 5000\n"
           . "HyperlaneCacheSize 64K\nHyperlaneCacheMaxValue 2K\n"
           . "HyperlaneCacheMaxConcurrent 100\n";
my $hp = host(mpm => 'prefork', store => $redis->url, conf => $common);
my $he = host(mpm => 'event', store => $redis->url . '/0', conf => $common);
my %name = ($hp->port => 'prefork host', $he->port => 'event host');

sub get  { my ($h, $p) = @_; my ($r, $j) = $h->request('GET', "/hl/$p"); ($r, $j) }
sub stats { (get($_[0], 'counter/stats'))[1] || {} }
sub cache_stats { (get($_[0], 'cache'))[1] || {} }

my ($sa, $sb) = (stats($hp), stats($he));
ok t_cmp($sa && $sa->{memory_usage}{store}, 'redis', 'the prefork host stores in redis');
ok t_cmp($sb && $sb->{memory_usage}{store}, 'redis', 'the event host stores in redis');
ok t_cmp($sa->{current_value}, 0, 'a new Redis: the counter starts at 0');
ok t_cmp($sb->{history_capacity}, 1000, 'the history ring holds HyperlaneHistorySize');

# --- one exact counter -------------------------------------------------------
my $t0 = time;
my $n = hammer(clients => 50, total => $M, path => '/hl/counter/increment',
               ports => [$hp->port, $he->port], seconds => 600, timeout => 60);
t_debug(sprintf "answers in %.1f s: %s", time - $t0,
        join(' ', map { "$_=$n->{$_}" } sort keys %$n));
ok t_cmp($n->{sent}, $M, 'every increment was sent');
ok t_cmp($n->{ok}, $M, 'every increment got a 2xx');
ok t_cmp($n->{other} + $n->{none}, 0, 'no error answers, no request unanswered');
ok t_cmp($n->{'ok_p' . $hp->port}, $M / 2, 'half of them through the prefork host');
ok t_cmp($n->{'ok_p' . $he->port}, $M / 2, 'half through the event host');
($sa, $sb) = (stats($hp), stats($he));
ok t_cmp($sa->{current_value}, $M, 'current_value is exactly 20,000 on the prefork host');
ok t_cmp($sb->{current_value}, $M, 'and on the event host');
ok t_cmp($sa->{history_length}, 1000, 'the history is full and bounded');
ok t_cmp("@{ $sa->{recent_values} }", join(' ', map { $M - $_ } 0 .. 9),
         'its newest ten are the last ten values');
check(!grep({ !$_->{pid} || !$_->{time} } @{ $sa->{recent} }),
      'the newest entries are complete');

# --- the history: entries of both hosts, newest first -------------------------
# Two increments through each host, alternating: the four newest entries
# are theirs, each with the pid of a child of the host that made it.
my @made;
for my $h ($hp, $he, $hp, $he) {
    my ($r, $j) = get($h, 'counter/increment');
    push @made, [$h, $j && $j->{counter}];
}
ok t_cmp(join(' ', map { $_->[1] // 'none' } @made), join(' ', map { $M + $_ } 1 .. 4),
         'alternate increments answer consecutive values');
($sa, $sb) = (stats($hp), stats($he));
my @ra = @{ $sa->{recent} }[0 .. 3];
ok t_cmp(join(' ', map { $_->{value} } @ra), join(' ', map { $M + $_ } reverse 1 .. 4),
         'newest first');
check(!grep({ $ra[$_]{time_us} < $ra[$_ + 1]{time_us} } 0 .. 2), "times never go back");
my %kids = map { my $h = $_; map { $_ => $h->port } children_of($h->pid) } $hp, $he;
my @owner = map { $kids{$_->{pid}} // 0 } @ra;
ok t_cmp("@owner", join(' ', map { $_->[0]->port } reverse @made),
         'each entry carries the pid of a child of the host that made it');
# A host's name is its ServerName with the port (HL::RedisHost).
ok t_cmp(join(' ', map { $_->{host} // 'none' } @ra),
         join(' ', map { '127.0.0.1:' . $_->[0]->port } reverse @made),
         'each entry names the host that made it');
ok t_cmp(JSON::PP->new->canonical->encode($sb->{recent}),
         JSON::PP->new->canonical->encode($sa->{recent}),
         'both hosts show the same history');

# --- one cache: set through one, read, counted and deleted through the other -
my $bytes = join '', map { chr } 0 .. 255;
my ($res, $j) = $hp->request('PUT', '/hl/cache/shared', content => $bytes);
ok t_cmp($res->code, 201, 'set through the prefork host');
($res) = $he->request('GET', '/hl/cache/shared?raw=1');
ok t_cmp($res->code, 200, 'read through the event host');
check($res->content eq $bytes, 'binary-safe: the same 256 bytes');
(undef, $j) = get($he, 'cache/shared');
ok t_cmp($j && $j->{access_count}, 2, 'the event host counts the reads');
(undef, $j) = get($hp, 'cache/shared');
ok t_cmp($j && $j->{access_count}, 3, 'so does the prefork host, on the same count');
($res) = $he->request('DELETE', '/hl/cache/shared');
ok t_cmp($res->code, 200, 'deleted through the event host');
($res) = get($hp, 'cache/shared');
ok t_cmp($res->code, 404, 'gone for the prefork host');
($res) = $hp->request('DELETE', '/hl/cache/shared');
ok t_cmp($res->code, 404, 'and a second delete finds nothing');

# Byte accounting and statistics are the backend's, atomic on the Redis
# side: every figure of the store is the same seen from either host (the
# concurrency figures are each host's own).
my @shared = qw(total_entries total_accesses capacity_bytes bytes_used hits misses
                sets deletes evictions expirations max_key_bytes max_value_bytes);
sub same_stats {
    my ($what) = @_;
    my ($ca, $cb) = (cache_stats($hp), cache_stats($he));
    my @diff = grep { ($ca->{$_} // 'none') ne ($cb->{$_} // 'none') } @shared;
    check(!@diff && $ca->{store} && $ca->{store} eq 'redis',
          "$what: the cache statistics agree (store $ca->{store}; differ: @diff)");
    return $ca;
}
my $cs = same_stats('after set, reads, delete');
ok t_cmp("$cs->{sets} $cs->{hits} $cs->{misses} $cs->{deletes}", '1 3 1 1',
         'sets, hits, misses, deletes counted once each');

# --- LRU eviction within HyperlaneCacheSize, sets through both hosts ----------
my $before = $cs;
my $set_ok = 0;
for my $i (1 .. 300) {
    my $h = $i % 2 ? $hp : $he;
    ($res) = $h->request('PUT', "/hl/cache/k$i", content => chr(65 + $i % 26) x 1024);
    $set_ok++ if $res->code == 201;
}
ok t_cmp($set_ok, 300, '300 sets of 1 KiB into 64 KiB all succeed: room is made');
$cs = same_stats('after the evictions');
my $evicted = $cs->{evictions} - $before->{evictions};
check($evicted > 200, "evictions counted ($evicted)");
ok t_cmp($cs->{total_entries} + $evicted, 300, 'entries + evictions = sets');
check($cs->{bytes_used} > 0 && $cs->{bytes_used} <= $cs->{capacity_bytes},
      "the bytes stay within the capacity ($cs->{bytes_used} <= $cs->{capacity_bytes})");
($res, $j) = get($hp, 'cache/k300');
ok t_cmp($res->code, 200, 'the newest entry is there');
ok t_cmp($j && $j->{value}, chr(65 + 300 % 26) x 1024, 'with its exact value');
($res) = get($he, 'cache/k1');
ok t_cmp($res->code, 404, 'the oldest was evicted');
# Read the oldest survivor through one host, add one through the other:
# the next oldest goes instead of it.
my $oldest = 300 - $cs->{total_entries} + 1;
get($he, "cache/k$oldest");
$hp->request('PUT', '/hl/cache/newcomer', content => 'x' x 1024);
($res) = get($hp, "cache/k$oldest");
ok t_cmp($res->code, 200, "a recently read entry (k$oldest) survives");
($res) = get($he, 'cache/k' . ($oldest + 1));
ok t_cmp($res->code, 404, 'the least recently used one went instead');

# --- the key layout: everything under HyperlaneRedisPrefix --------------------
my $keys = $redis->command('KEYS', '*');
my @outside = grep { index($_, $PREFIX) != 0 } @{ $keys || [] };
check(ref $keys eq 'ARRAY' && @$keys > 0 && !@outside,
      'every key in Redis is under the prefix: ' . join(' ', @outside[0 .. ($#outside < 4 ? $#outside : 4)]));

# --- a third host through the unix socket, whose entries live 2 s ----------
# The TTL is the setter's, kept with the entry: what the third host sets
# expires for every host.
my $hu = host(mpm => 'event', store => $redis->unix_url,
              conf => $common . "HyperlaneCacheTTL 2\n");
my $su = stats($hu);
ok t_cmp($su && $su->{current_value}, $M + 4, 'redis+unix://: the same counter');
($res, $j) = get($hu, 'counter/increment');
ok t_cmp($j && $j->{counter}, $M + 5, 'and it increments it');
ok t_cmp(stats($hp)->{current_value}, $M + 5, 'seen by the TCP hosts');
($res, $j) = get($hu, 'cache/k300');
ok t_cmp($res->code, 200, 'the same cache');

($res) = $hu->request('PUT', '/hl/cache/short', content => 'lived');
ok t_cmp($res->code, 201, 'a short-lived entry');
($res) = get($hp, 'cache/short');
ok t_cmp($res->code, 200, 'fresh through another host');
my $exp = cache_stats($hp)->{expirations};
sleep 2.5;
($res) = get($hp, 'cache/short');
ok t_cmp($res->code, 404, 'expired: not returned after its TTL');
($res) = get($he, 'cache/short');
ok t_cmp($res->code, 404, 'by any host');
$cs = same_stats('after the expiry');
check($cs->{expirations} > $exp, "the expiration is counted ($exp -> $cs->{expirations})");
($res) = get($hp, 'cache/k300');
ok t_cmp($res->code, 200, "the other hosts' entries (an hour) are still there");
$hu->stop;

# Another prefix is another deployment: nothing shared.
$hu = host(mpm => 'event', store => $redis->unix_url, conf => "HyperlaneRedisPrefix other:\n");
ok t_cmp(stats($hu)->{current_value}, 0, 'another prefix: a counter of its own');
$hu->stop;

# --- the store's usage in the metrics: what Redis answered this scrape --------
# (each process keeps the bytes Redis last told it; a process that had not
# read the cache since said 0, or an old figure, scrape after scrape)
for my $h ($hp, $he) {
    my $same = 0;
    for (1 .. 6) {
        my ($m) = $h->request('GET', '/hl/metrics');
        my ($store) = $m->content =~ /^hyperlane_store_used_bytes (\d+)$/m;
        my ($cache) = $m->content =~ /^hyperlane_cache_used_bytes (\d+)$/m;
        $same++ if defined $store && defined $cache && $store == $cache && $cache > 0;
    }
    ok t_cmp($same, 6, "the $name{$h->port}: store_used_bytes is the cache's bytes in every scrape");
}

# --- a host that moves from shm to Redis at a graceful restart --------------
# The shm segment's state is not copied to Redis: the log says so.
my $hm = host(mpm => 'event', conf => "HyperlaneRedisPrefix hl-t20-move:\n");
$hm->request('POST', '/hl/counter/increment') for 1 .. 3;
ok t_cmp(stats($hm)->{current_value}, 3, 'a shm host: 3 increments');
$hm->configure("ServerName 127.0.0.1:\@PORT\@\nHyperlaneStore " . $redis->url
               . "\nHyperlaneRedisPrefix hl-t20-move:\n<Location /hl>\n"
               . "    SetHandler hyperlane\n</Location>\n");
my $log_before = length $hm->log;
$hm->ctl('graceful');
my $moved;
for (1 .. 100) {
    my $st = stats($hm);
    last if ($moved = ($st->{memory_usage}{store} // '') eq 'redis');
    sleep 0.1;
}
check($moved, 'after a graceful restart it stores in Redis');
check(substr($hm->log, $log_before)
          =~ /HyperlaneStore changed from shm to redis at this restart.*not copied/,
      'and the log says the shm store\'s state was not copied');
$hm->stop;

# --- nothing crashed ----------------------------------------------------------
for my $h ($hp, $he) {
    my @bad = grep { /exit signal|AddressSanitizer|\[core:(?:emerg|alert|crit)\]/ }
              split /\n/, $h->log;
    check(!@bad, "no child of the $name{$h->port} crashed: @bad[0 .. ($#bad < 2 ? $#bad : 2)]");
}
