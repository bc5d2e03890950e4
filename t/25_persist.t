# HyperlanePersistFile across a full stop and start: the counter, its
# history, and every unexpired cache entry (binary keys and values) with
# its bytes, access count and remaining lifetime come back as they were;
# entries whose time passed while the server was down are gone.  Each
# entry keeps its version (the ETag a client holds still matches), and a
# write after the start gets a version never handed out before.  The
# short-lived entries are set under HyperlaneCacheTTL 4 after a graceful
# restart (which keeps the segment): the TTL is one per server.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use JSON::PP ();
use HL::Test qw(check);
use Time::HiRes qw(sleep time);

plan tests => 22;

my $srv = HL::Server->new;
my $file = $srv->dir . '/hl.snapshot';
sub conf {
    my $ttl = shift;
    $srv->configure(<<"CONF");
HyperlaneHistorySize 50
HyperlaneCacheTTL $ttl
HyperlanePersistFile hl.snapshot
HyperlanePersistInterval 0
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
}
sub counter { my (undef, $j) = $srv->request('GET', '/hl/counter/stats'); $j }
sub generation { my $j = counter(); $j ? $j->{memory_usage}{store_generation} : -1 }

# Key i: 3 to 7 bytes of 0x01..0xff (Apache refuses %00 and %2F in a path).
sub key_bytes {
    my $i = shift;
    return join '', map { my $b = 1 + ($i * 7 + $_ * 13) % 255; chr($b == 0x2f ? 0x30 : $b) }
        0 .. 2 + $i % 5;
}
sub key_path { '/hl/cache/' . join '', map { sprintf '%%%02X', ord } split //, $_[0] }
sub value_bytes {
    my $i = shift;
    return join '', map { chr(($i * 31 + $_ * 17) % 256) } 0 .. ($i * 37) % 500;
}

conf(3600);
check($srv->start, 'private server with HyperlanePersistFile');

# N increments, M long-lived entries, some read a few times.
my ($N, $M, $K) = (120, 150, 20);
my $incs = 0;
for (1 .. $N) {
    my ($res) = $srv->request('POST', '/hl/counter/increment');
    $incs++ if $res->code == 200;
}
ok t_cmp($incs, $N, "$N increments answered");
my $sets = 0;
my %keys;    # key bytes => value bytes
my %versions_seen;    # every version a write answered before the stop
sub seen { my $j = shift; $versions_seen{$j->{version}} = 1 if $j && $j->{version} }
for my $i (0 .. $M - 1) {
    my $k = key_bytes($i);
    next if exists $keys{$k};
    $keys{$k} = value_bytes($i);
    my ($res, $j) = $srv->request('PUT', key_path($k), content => $keys{$k});
    $sets++ if $res->code == 201;
    seen($j);
    $srv->request('GET', key_path($k)) for 1 .. $i % 4;
}
ok t_cmp($sets, scalar(keys %keys), 'every long-lived entry stored');

# What the server holds before the stop.  The JSON read counts one access.
my $before = counter();
my (%count, %expires, %read_at, %etag, $raw_ok);
$raw_ok = 1;
for my $k (keys %keys) {
    my ($res) = $srv->request('GET', key_path($k) . '?raw=1');
    $raw_ok &&= $res->code == 200 && $res->content eq $keys{$k};
    my ($jres, $j) = $srv->request('GET', key_path($k));
    $etag{$k} = $jres->header('ETag') // '';
    $read_at{$k} = time;
    $count{$k} = $j->{access_count};
    $expires{$k} = $j->{expires_in_seconds};
}
check($raw_ok, 'every value read back before the stop');

# A graceful restart keeps the segment; under TTL 4 the short ones, just
# before the stop.
my $gen = generation();
conf(4);
$srv->ctl('graceful');
HL::Server::wait_for(sub { generation() > $gen });
my $short = 0;
my $short_set_at = time;
for my $i (1 .. $K) {
    my ($res, $j) = $srv->request('PUT', "/hl/cache/short-$i", content => "s\0$i");
    $short++ if $res->code == 201;
    seen($j);
}
# The last version before the stop goes to a key deleted again: only the
# version counter in the file remembers it.
{
    my (undef, $j) = $srv->request('PUT', '/hl/cache/gone-before-stop', content => 'x');
    seen($j);
    $srv->request('DELETE', '/hl/cache/gone-before-stop');
}
ok t_cmp($short, $K, "$K short-lived entries stored under TTL 4");
my (undef, $cache_before) = $srv->request('GET', '/hl/cache');
check($srv->stop, 'apachectl stop');
check(-s $file, 'the stop wrote the snapshot');

# Past the short entries' lifetime, then a start under the first TTL.
sleep 0.2 while time < $short_set_at + 4.5;
conf(3600);
check($srv->start, 'started again');
my (undef, $cache_after) = $srv->request('GET', '/hl/cache');
check($cache_after && $cache_before && $cache_before->{sets} > 0
      && $cache_after->{sets} == $cache_before->{sets}
      && $cache_after->{deletes} == $cache_before->{deletes},
      "the cache's counters as at the stop (sets $cache_before->{sets})");
my $after = counter();
ok t_cmp($after->{current_value}, $before->{current_value}, 'current_value as before');
ok t_cmp($after->{history_length}, $before->{history_length}, 'history_length as before');
ok t_cmp(JSON::PP->new->canonical->encode($after->{recent}),
         JSON::PP->new->canonical->encode($before->{recent}),
         'the history (value, time, pid of each entry) as before');

my ($same_value, $same_count, $ttl_ok, $same_etag) = (1, 1, 1, 1);
for my $k (keys %keys) {
    my ($jres, $j) = $srv->request('GET', key_path($k));
    my $tag = $jres->header('ETag') // '';
    if ($etag{$k} eq '' || $tag ne $etag{$k}) {
        $same_etag = 0;
        t_debug('ETag of ' . unpack('H*', $k) . ": '$tag' after '$etag{$k}'");
    }
    if (!$j || ($j->{access_count} // -1) != $count{$k} + 1) {
        $same_count = 0;
        t_debug('access count of ' . unpack('H*', $k) . ': '
                . ($j ? $j->{access_count} : 'missing') . " after $count{$k}");
    }
    # Lifetime runs on while the server is down: it went down by the time
    # between the two reads (each bounded by the moments around it).
    my $passed = time - $read_at{$k};
    my $left = $j ? $j->{expires_in_seconds} // -1 : -1;
    if ($left > $expires{$k} || $left < $expires{$k} - $passed - 1) {
        $ttl_ok = 0;
        t_debug("remaining lifetime $left after $expires{$k}, $passed s apart");
    }
    my ($res) = $srv->request('GET', key_path($k) . '?raw=1');
    $same_value = 0 unless $res->code == 200 && $res->content eq $keys{$k};
}
check($same_value, 'every unexpired entry: the same bytes');
check($same_count, 'every unexpired entry: its access count went on');
check($ttl_ok, 'every unexpired entry: its remaining lifetime');
check($same_etag, 'every unexpired entry: the ETag it had before the stop');

# The ETags a client kept are honoured, and new writes get versions never
# handed out before the stop.
my ($some) = sort keys %keys;
my ($inm) = $srv->request('GET', key_path($some),
                          headers => ['If-None-Match' => $etag{$some}]);
ok t_cmp($inm->code, 304, 'If-None-Match with a pre-stop ETag: 304');
my ($im, $imj) = $srv->request('PUT', key_path($some), content => $keys{$some},
                               headers => ['If-Match' => $etag{$some}]);
ok t_cmp($im->code, 200, 'If-Match with a pre-stop ETag: the write is taken');
my (undef, $new) = $srv->request('PUT', '/hl/cache/set-after-start', content => 'y');
my ($max_seen) = sort { $b <=> $a } keys %versions_seen;
my @after = map { $_ ? $_->{version} // 0 : 0 } $imj, $new;
t_debug(scalar(keys %versions_seen) . " versions before the stop, the "
        . "highest $max_seen; after the start: @after");
check((grep { $_ && !$versions_seen{$_} && $_ > $max_seen } @after) == 2
      && $after[0] != $after[1],
      'writes after the start get versions never seen before');
$srv->request('DELETE', '/hl/cache/set-after-start');

my $gone = 0;
for my $i (1 .. $K) {
    my ($res) = $srv->request('GET', "/hl/cache/short-$i");
    $gone++ if $res->code == 404;
}
ok t_cmp($gone, $K, 'the entries that expired while down are gone');
my (undef, $st) = $srv->request('GET', '/hl/cache');
ok t_cmp($st->{total_entries}, scalar(keys %keys), 'only the unexpired entries');
my ($kept, $in_file, $expired) = $srv->log =~
    /restored from \Q$file\E .*counter $N, history \d+ of \d+ entries, cache (\d+) of (\d+) entries \((\d+) expired/;
t_debug("log: kept " . ($kept // '?') . " of " . ($in_file // '?') . ", expired " . ($expired // '?'));
check(defined $kept && $kept == keys(%keys) && $in_file == $kept + $expired
      && $expired <= $K, 'the log says what was restored');
