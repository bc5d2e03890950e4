# Concurrency limits under abuse (issue 14, findings 2, 3 and 7), on a
# private server:
#  - slow PUTs (bodies trickling in) hold no slot of the cache limit, so
#    every other client keeps being served, fast path included;
#  - cache stats count against the cache limit;
#  - memory/benchmark runs are limited server-wide: one more waits
#    briefly, then 503 JSON with Retry-After, counted;
#  - a child killed while it holds a slot gives it back as soon as the
#    parent sees it exit;
#  - a benchmark that runs out of memory answers 503 JSON; the child lives.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use HL::Test qw(check read_response);
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes qw(sleep time);

plan tests => 30;

my $srv = HL::Server->new;
sub conf {
    my $runs = shift;
    $srv->configure(<<"CONF");
HyperlaneCacheMaxConcurrent 4
HyperlaneBenchmarkMaxConcurrent $runs
HyperlaneFastPath /q
Timeout 30
<IfModule mpm_prefork_module>
    StartServers 30
    MinSpareServers 30
    MaxSpareServers 40
    ServerLimit 40
    MaxRequestWorkers 40
</IfModule>
<IfModule mpm_event_module>
    StartServers 2
    ThreadsPerChild 25
    MinSpareThreads 25
    MaxSpareThreads 75
    MaxRequestWorkers 50
</IfModule>
<Location /hl>
    SetHandler hyperlane
</Location>
<Location /q>
    SetHandler hyperlane
</Location>
CONF
}
conf(1);
check($srv->start, 'private server: 4 cache operations, 1 benchmark run at once');

sub connect_srv {
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port,
                                 Proto => 'tcp', Timeout => 10) // die "connect: $!";
}
sub cache_stats { my (undef, $j) = $srv->request('GET', '/hl/cache'); $j }

# A fresh server: the stats request itself is the one operation so far.
my $st = cache_stats();
ok t_cmp($st->{peak_in_flight}, 1, 'cache stats are admitted under the limit');

# ---- 12 slow PUTs, three times the limit, bodies never finished.
$srv->request('PUT', '/hl/cache/a', content => 'first');
my @slow;
for my $i (1 .. 12) {
    my $s = connect_srv();
    print $s "PUT /hl/cache/slow$i HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\nx";
    push @slow, $s;
}
sleep 1;
my ($res, $j) = $srv->request('GET', '/hl/cache/a');
ok t_cmp($res->code, 200, 'GET served beside 12 slow PUTs');
($res) = $srv->request('GET', '/q/cache/a');
ok t_cmp($res->code, 200, 'fast-path GET served');
($res) = $srv->request('PUT', '/hl/cache/b', content => 'second');
ok t_cmp($res->code, 201, 'PUT served');
($res) = $srv->request('DELETE', '/hl/cache/b');
ok t_cmp($res->code, 200, 'DELETE served');
$st = cache_stats();
ok t_cmp($st->{in_flight}, 0, 'the slow PUTs hold no slot');
ok t_cmp($st->{rejected}, 0, 'nothing was rejected');
close $_ for @slow;
@slow = ();
($res) = $srv->request('GET', '/hl/cache/slow1');
ok t_cmp($res->code, 404, 'an unfinished PUT stores nothing');

# ---- Benchmark runs: at most 1.  A big run (256 MiB, twice over) is sent,
# then small ones until it answers: one sent while it runs must be
# refused.  (Should the big one finish before any small one is answered,
# the round is tried again, a few times at most.)
sub bench_async {
    my $s = connect_srv();
    print $s "GET /hl/memory/benchmark?allocations=256&size=1048576 HTTP/1.1\r\n"
           . "Host: x\r\n\r\n";
    return $s;
}
my (@small, $refused, $big_code);
for my $round (1 .. 5) {
    my $big = bench_async();
    sleep 0.03;
    @small = ();
    my $sel = IO::Select->new($big);
    while (@small < 20) {
        my ($r, $x) = $srv->request('GET', '/hl/memory/benchmark?allocations=1&size=1');
        push @small, [$r, $x];
        last if $sel->can_read(0);
    }
    ($big_code) = read_response($big, 120);
    close $big;
    ($refused) = grep { $_->[0]->code == 503 } @small;
    last if $refused;
}
ok t_cmp($big_code, 200, 'the big run answers');
check($refused, 'a run sent while another ran was refused');
if ($refused) {
    my ($r, $x) = @$refused;
    ok t_cmp($r->header('Retry-After'), 1, 'with Retry-After');
    check($x && $x->{status} == 503 && $x->{error} =~ /benchmark/i, 'as JSON');
}
else { ok 0; ok 0 }
my @served = grep { $_->[0]->code == 200 } @small;
check(!grep({ $_->[1]{concurrency}{peak_in_flight} > 1 } @served),
      'no answer saw more than one run at once');
($res, $j) = $srv->request('GET', '/hl/memory/benchmark?allocations=1&size=1');
my $c = $j->{concurrency};
ok t_cmp($c->{max_concurrent}, 1, 'the answer tells the limit');
check($c->{rejected} >= 1 && $c->{peak_in_flight} == 1,
      "rejections counted, peak 1 ($c->{rejected}, $c->{peak_in_flight})");

# ---- A child killed holding a slot gives it back at once.  With a limit
# of 2, a slot left behind would still be counted by the next run
# (in_flight 2, nothing healed).
conf(2);
my $gen = () = $srv->log =~ /generation \d+/g;
$srv->ctl('graceful');
HL::Server::wait_for(sub { (() = $srv->log =~ /generation \d+/g) > $gen });
sleep 1;
my $parent = $srv->{pid};
my $killed = 0;
for my $try (1 .. 5) {
    my $big = bench_async();
    sleep 0.03;
    my ($r, $x) = $srv->request('GET', '/hl/memory/benchmark?allocations=1&size=1');
    my $busy = $x && $x->{concurrency} && $x->{concurrency}{in_flight} == 2;
    if ($busy) {
        # The big run is in flight: kill every child, whichever holds it.
        my @kids = split ' ', `pgrep -P $parent`;
        kill 'KILL', @kids;
        $killed = 1;
    }
    close $big;
    last if $killed;
    sleep 0.5;
}
check($killed, 'a child was killed while its run held a slot');
check(HL::Server::wait_for(sub { $srv->log =~ /exited holding 1 admission/ }),
      'the parent gave back what the dead child held');
sleep 0.5;
($res, $j) = $srv->request('GET', '/hl/memory/benchmark?allocations=1&size=1');
ok t_cmp($res->code, 200, 'the next run is served');
ok t_cmp($j->{concurrency}{in_flight}, 1, 'only itself in flight');
check($j->{concurrency}{healed} >= 1, 'the slot was healed');

# ---- Out of memory: each child limited to its address space now plus
# 128 MiB, then a run of 256 MiB.  ASan's allocator cannot run under an
# address-space limit, so this part is skipped under sanitizers.
if ($ENV{HL_SANITIZED}) {
    skip('under sanitizers: no address-space limit', 1) for 1 .. 8;
}
else {
    my @kids = split ' ', `pgrep -P $parent`;
    my $limited = 0;
    for my $pid (@kids) {
        open my $fh, '<', "/proc/$pid/status" or next;
        my ($vm) = join('', <$fh>) =~ /^VmSize:\s+(\d+) kB/m;
        next unless $vm;
        my $as = ($vm + 128 * 1024) * 1024;
        $limited++ if system('prlimit', "--pid=$pid", "--as=$as:$as") == 0;
    }
    ok t_cmp($limited, scalar @kids, 'every child limited');
    my $log_before = length $srv->log;
    my %codes;
    my $json_503 = 1;
    for (1 .. 4) {
        ($res, $j) = $srv->request('GET', '/hl/memory/benchmark?allocations=256&size=1048576');
        $codes{$res->code}++;
        $json_503 &&= $j && $j->{status} == 503 && $res->header('Retry-After')
            if $res->code == 503;
    }
    ok t_cmp($codes{503} // 0, 4, 'a run that does not fit: 503');
    check($json_503, 'as JSON with Retry-After');
    ok t_cmp($codes{500} // 0, 0, 'no 500');
    my $new_log = substr($srv->log, $log_before);
    check($new_log !~ /aborting process|exit signal/, 'no child aborted');
    check($new_log =~ /ran out of memory/, 'logged');
    my @after = split ' ', `pgrep -P $parent`;
    ok t_cmp("@{[sort @after]}", "@{[sort @kids]}", 'the same children live');
    ($res) = $srv->request('GET', '/hl/memory/benchmark?allocations=16&size=1024');
    ok t_cmp($res->code, 200, 'and a run that fits is served');
}

check($srv->stop, 'the private server stopped');
