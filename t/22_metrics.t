# The metrics endpoint (issue 18) on the suite's server: Prometheus text
# that promtool's lint passes, and figures that known traffic moves by
# exactly that much across processes and threads: 1,000 increments from
# ten concurrent clients, a set and 100 cache hits, misses, requests for
# no endpoint, a 405, the fast path and a request refused by Require;
# counters and histograms that agree with the JSON endpoints; cumulative
# buckets whose +Inf is the count.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempfile);
use HL::Test qw(check json_req hammer);
use Time::HiRes qw(sleep time);

plan tests => 44;

# name{labels} => value, exactly as the lines are written.
sub scrape {
    my ($res) = json_req('GET', '/hl/metrics');
    my %m;
    for (split /\n/, $res->content) {
        next if /^#/;
        my ($k, $v) = /^(\S+(?:\{.*\})?) (\S+)$/ or next;
        $m{$k} = $v;
    }
    return ($res, \%m);
}
sub req_key { qq(hyperlane_requests_total{endpoint="$_[0]",code="$_[1]"}) }
sub count_key { qq(hyperlane_request_duration_seconds_count{endpoint="$_[0]"}) }
sub n { $_[0]{$_[1]} // 0 }

# The JSON endpoints' figures before the traffic; their own requests are
# counted long before the baseline scrape below.
my ($r0, $stats0) = json_req('GET', '/hl/counter/stats');
my ($r1, $cache0) = json_req('GET', '/hl/cache');

# ---- the format, linted by promtool on the live output.
my ($res, $m0) = scrape();
ok t_cmp($res->code, 200, 'GET metrics: 200');
ok t_cmp($res->header('Content-Type'), 'text/plain; version=0.0.4; charset=utf-8',
         'Content-Type of the text format 0.0.4');
my ($fh, $file) = tempfile(UNLINK => 1);
print $fh $res->content;
close $fh;
my $lint = `promtool check metrics < "$file" 2>&1`;
my $rc = $? >> 8;
print "# promtool: $lint" if $lint ne '';
check($rc == 0 && $lint eq '', 'promtool check metrics: no problem');
check($res->content =~ /^# HELP hyperlane_requests_total .+\n# TYPE hyperlane_requests_total counter$/m,
      'HELP and TYPE before each family');
check(n($m0, 'hyperlane_store_up') == 1 && n($m0, 'hyperlane_store_info{backend="shm"}') == 1,
      'the store is up, backend shm');
check(scalar(grep { /^hyperlane_build_info\{version="\d+\.\d+\.\d+"\}$/ } keys %$m0) == 1,
      'build info with the module version');
check(n($m0, 'hyperlane_process_resident_memory_bytes') > 0
      && n($m0, 'hyperlane_process_peak_resident_memory_bytes')
         >= n($m0, 'hyperlane_process_resident_memory_bytes'),
      'RSS and peak of the answering process');
my ($head) = json_req('HEAD', '/hl/metrics');
check($head->code == 200 && $head->content eq '', 'HEAD: 200, no body');
my ($denied) = json_req('GET', '/fast/metrics');
ok t_cmp($denied->code, 403, 'no fast path answers metrics: its Require applies');

# ---- known traffic.
($res, $m0) = scrape();
my $inc = hammer(path => '/hl/counter/increment', total => 1000, clients => 10,
                 seconds => 120);
ok t_cmp($inc->{ok}, 1000, '1,000 increments from ten clients answered 200');
($res) = json_req('PUT', '/hl/cache/metrics-key', content => 'metered');
ok t_cmp($res->code, 201, 'a cache set');
my $hits = hammer(path => '/hl/cache/metrics-key', total => 100, clients => 5,
                  seconds => 60);
ok t_cmp($hits->{ok}, 100, '100 cache hits');
my $miss = hammer(path => '/hl/cache/metrics-missing', total => 20, clients => 2,
                  seconds => 60);
ok t_cmp($miss->{other}, 20, '20 cache misses (404)');
my $files = hammer(path => '/hl/dashboard/style.css', total => 2, clients => 1,
                   seconds => 60);
ok t_cmp($files->{ok}, 2, 'the dashboard\'s style twice');
my $none = hammer(path => '/hl/no-such-endpoint', total => 7, clients => 1,
                  seconds => 60);
ok t_cmp($none->{other}, 7, '7 requests for no endpoint (404)');
($res) = json_req('DELETE', '/hl/counter/stats');
ok t_cmp($res->code, 405, 'a 405');
my $fast = hammer(path => '/fast/counter/stats', total => 3, clients => 1,
                  seconds => 60);
ok t_cmp($fast->{ok}, 3, '3 answers from the fast path');
($res) = json_req('GET', '/hl-private/counter/stats');
ok t_cmp($res->code, 403, 'a request refused by Require (403)');

# A request is counted once its answer has gone out: the client may read
# the answer an instant before.  Wait (bounded) for the last of them.
my %want = (
    req_key('counter/increment', 200) => 1000,
    req_key('cache/{key}', 201) => 1,
    req_key('cache/{key}', 200) => 100,
    req_key('cache/{key}', 404) => 20,
    req_key('dashboard/{file}', 200) => 2,
    req_key('none', 404) => 7,
    req_key('counter/stats', 405) => 1,
    req_key('counter/stats', 200) => 3,
    req_key('counter/stats', 403) => 1,
);
my $m1;
my $deadline = time + 20;
while (1) {
    ($res, $m1) = scrape();
    last if !grep { n($m1, $_) - n($m0, $_) < $want{$_} } keys %want;
    last if time > $deadline;
    sleep 0.1;
}
for my $k (sort keys %want) {
    ok t_cmp(n($m1, $k) - n($m0, $k), $want{$k}, "moved by exactly $want{$k}: $k");
}
ok t_cmp(n($m1, count_key('counter/increment')) - n($m0, count_key('counter/increment')),
         1000, 'latency histogram of counter/increment: count moved by 1,000');
ok t_cmp(n($m1, 'hyperlane_increments_total') - n($m0, 'hyperlane_increments_total'),
         1000, 'increments made through this host: +1,000');
ok t_cmp(n($m1, 'hyperlane_shared_value') - n($m0, 'hyperlane_shared_value'),
         1000, 'shared value: +1,000');
ok t_cmp(n($m1, 'hyperlane_cache_hits_total') - n($m0, 'hyperlane_cache_hits_total'),
         100, 'cache hits: +100');
ok t_cmp(n($m1, 'hyperlane_cache_misses_total') - n($m0, 'hyperlane_cache_misses_total'),
         20, 'cache misses: +20');
ok t_cmp(n($m1, 'hyperlane_cache_sets_total') - n($m0, 'hyperlane_cache_sets_total'),
         1, 'cache sets: +1');
check(!grep({ n($m1, $_) != n($m0, $_) } grep { /^hyperlane_store_errors_total/ } keys %$m1)
      && 4 == grep({ /^hyperlane_store_errors_total\{kind="(unavailable|timeout|refused|other)"\}$/ } keys %$m1),
      'store errors: four kinds, none moved');

# ---- what the JSON endpoints say, now that the traffic is over.
my ($r2, $stats) = json_req('GET', '/hl/counter/stats');
my ($r3, $cache) = json_req('GET', '/hl/cache');
ok t_cmp($stats->{current_value} - $stats0->{current_value}, 1000,
         'counter/stats agrees: +1,000');
my %json_of = (
    hyperlane_shared_value => $stats->{current_value},
    hyperlane_history_length => $stats->{history_length},
    hyperlane_history_capacity => $stats->{history_capacity},
    hyperlane_cache_entries => $cache->{total_entries},
    hyperlane_cache_used_bytes => $cache->{bytes_used},
    hyperlane_cache_capacity_bytes => $cache->{capacity_bytes},
    hyperlane_cache_hits_total => $cache->{hits},
    hyperlane_cache_misses_total => $cache->{misses},
    hyperlane_cache_sets_total => $cache->{sets},
    hyperlane_cache_deletes_total => $cache->{deletes},
    hyperlane_cache_evictions_total => $cache->{evictions},
    hyperlane_cache_expirations_total => $cache->{expirations},
    'hyperlane_limiter_max_concurrent{kind="cache"}' => $cache->{max_concurrent},
    'hyperlane_limiter_peak_in_flight{kind="cache"}' => $cache->{peak_in_flight},
    'hyperlane_limiter_rejected_total{kind="cache"}' => $cache->{rejected},
    'hyperlane_limiter_healed_total{kind="cache"}' => $cache->{healed},
);
my @differ = grep { !defined $m1->{$_} || $m1->{$_} != $json_of{$_} } sort keys %json_of;
print "# differ: $_ metrics=" . ($m1->{$_} // 'none') . " json=$json_of{$_}\n" for @differ;
check(!@differ, 'the store and the limiter: metrics equal the JSON endpoints');
ok t_cmp(n($m1, 'hyperlane_limiter_in_flight{kind="cache"}'), 0, 'nothing in flight');

# ---- histograms: cumulative buckets, +Inf = _count = the requests counted.
my (%buckets, %requests);
for my $k (keys %$m1) {
    if ($k =~ /^hyperlane_request_duration_seconds_bucket\{endpoint="([^"]+)",le="([^"]+)"\}$/) {
        push @{ $buckets{$1} }, [$2 eq '+Inf' ? 9**9**9 : $2, $m1->{$k}];
    }
    $requests{$1} += $m1->{$k} if $k =~ /^hyperlane_requests_total\{endpoint="([^"]+)",/;
}
my ($cumulative, $inf_is_count, $count_is_requests, $sum_ok) = (1, 1, 1, 1);
for my $ep (keys %buckets) {
    my @b = sort { $a->[0] <=> $b->[0] } @{ $buckets{$ep} };
    for my $i (1 .. $#b) { $cumulative = 0 if $b[$i][1] < $b[$i - 1][1] }
    $inf_is_count = 0 unless $b[-1][0] == 9**9**9 && $b[-1][1] == n($m1, count_key($ep));
    my $sum = $m1->{qq(hyperlane_request_duration_seconds_sum{endpoint="$ep"})};
    $sum_ok = 0 unless defined $sum && $sum >= 0
                       && ($sum > 0 || n($m1, count_key($ep)) == 0);
    # The scrapes themselves are still being counted.
    next if $ep eq 'metrics';
    if (n($m1, count_key($ep)) != ($requests{$ep} // 0)) {
        print "# $ep: count " . n($m1, count_key($ep)) . ", requests " . ($requests{$ep} // 0) . "\n";
        $count_is_requests = 0;
    }
}
check(scalar(keys %buckets) >= 10, 'a histogram for every endpoint');
check($cumulative, 'buckets are cumulative');
check($inf_is_count, 'the +Inf bucket is the count');
check($count_is_requests, 'each count equals the requests counted for its endpoint');
check($sum_ok, 'sums are seconds, positive where requests were counted');
check(n($m1, qq(hyperlane_request_duration_seconds_bucket{endpoint="counter/increment",le="10"}))
      == n($m1, count_key('counter/increment')), 'every increment took under 10 s');

# The second mount is the same host: its requests count too (after the
# one counter/stats request made through /hl since $m1).
my $before = n($m1, req_key('counter/stats', 200)) + 1;
json_req('GET', '/api/v2/state/counter/stats') for 1 .. 2;
my $m2;
$deadline = time + 20;
do { (undef, $m2) = scrape(); sleep 0.1 }
    until n($m2, req_key('counter/stats', 200)) >= $before + 2 || time > $deadline;
ok t_cmp(n($m2, req_key('counter/stats', 200)) - $before, 2, 'a second mount counts too');
