# memory/benchmark: real timings of allocation, access and cleanup, from an
# APR subpool and from malloc/free side by side; bad queries are 400 JSON.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Test qw(check json_req);

my @bad = ('allocations=0', 'size=0', 'allocations=1000001', 'size=1048577',
           'allocations=1000000&size=1024', 'allocations=abc', 'size=',
           'allocations=-5', 'foo=1', 'allocations=10&allocations=20',
           'size=1e3', 'allocations=99999999999999999999999');
plan tests => 23 + 3 * @bad;

my ($res, $j) = json_req('GET', '/hl/memory/benchmark');
ok t_cmp($res->code, 200, 'defaults: 200');
ok t_cmp($j->{allocations}, 10000);
ok t_cmp($j->{allocation_size_kb}, 1);
ok t_cmp($j->{checksum}, 1303633920, 'checksum of the defaults');
check(abs($j->{total_memory_mb} - 10000 * 1024 / 1048576) < 1e-6, 'total_memory_mb');
for my $phase (qw(allocation access cleanup)) {
    my ($ms, $us) = ($j->{"${phase}_time_ms"}, $j->{"${phase}_time_us"});
    check(defined $ms && defined $us && $us >= 0 && abs($ms * 1000 - $us) < 1,
          "$phase: ms and us agree ($ms ms, $us us)");
}
check($j->{access_time_us} > 0, 'touching 10 MB takes measurable time');
check(length $j->{memory_model}, 'memory_model');
my $m = $j->{malloc};
check(ref $m eq 'HASH' && $m->{checksum} == 1303633920, 'malloc run, same checksum');
check(defined $m->{cleanup_time_us} && $m->{cleanup_time_us} >= 0, 'malloc cleanup measured');
check(ref $j->{comparison} eq 'HASH', 'comparison of the two allocators');

# Two runs measure twice: timings are not constants.
my (undef, $j2) = json_req('GET', '/hl/memory/benchmark');
check(join(',', map { $j->{"${_}_time_us"} } qw(allocation access cleanup)) ne
      join(',', map { $j2->{"${_}_time_us"} } qw(allocation access cleanup)),
      'a second run measures anew');

# Small and odd sizes against the formula: sum of (i mod 256) * S.
for my $q ([5, 3], [300, 1], [1, 1048576], [1000, 1000]) {
    my ($n, $s) = @$q;
    my $want = 0;
    $want += ($_ % 256) * $s for 0 .. $n - 1;
    ($res, $j) = json_req('GET', "/hl/memory/benchmark?allocations=$n&size=$s");
    ok t_cmp($j->{checksum}, $want, "checksum for $n x $s");
    check($j->{allocations} == $n && $j->{malloc}{checksum} == $want, "malloc agrees for $n x $s");
}
($res, $j) = json_req('GET', '/hl/memory/benchmark?allocations=262144&size=1024');
ok t_cmp($res->code, 200, 'N x S at exactly 256 MiB: 200');

for my $q (@bad) {
    ($res, $j) = json_req('GET', "/hl/memory/benchmark?$q");
    ok t_cmp($res->code, 400, "?$q: 400");
    check($j && $j->{status} == 400 && length $j->{error}, "?$q: JSON error");
    ok t_cmp($res->header('Content-Type'), qr{^application/json});
}
