# kill -9 of the parent and every child while clients increment the
# counter and write the cache, with HyperlanePersistInterval 1: the next
# start restores the last snapshot.  Counted by the clients themselves,
# the restored counter is no higher than the increments sent (nothing
# invented) and no further behind the 2xx answers than the increments of
# one interval plus the slack README states (the parent's maintenance
# loop runs the write about once a second, and the write itself takes a
# moment): every increment answered more than SLACK seconds before the
# kill is in it.  Cache entries written as early are in it too.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use HL::Test qw(check one_request);
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes qw(sleep time);

plan tests => 13;

my $INTERVAL = 1;
my $SLACK = $INTERVAL + 2;      # README, Persistence: the crash bound
my $CLIENTS = 6;
my $RUN = 5;                    # seconds of load before the kill

my $srv = HL::Server->new;
my $file = $srv->dir . '/hl.snapshot';
$srv->configure(<<"CONF");
HyperlanePersistFile hl.snapshot
HyperlanePersistInterval $INTERVAL
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
check($srv->start, 'private server, a snapshot every second');
my $port = $srv->port;
my $stop = $srv->dir . '/stop-clients';
my $t0 = time;

# Each client: increments and cache PUTs on keep-alive connections until
# the stop file appears (or 30 s), then reports, per tenth of a second
# since t0, the 2xx increments and the keys it stored.
my @kids;
for my $c (1 .. $CLIENTS) {
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        close $r;
        my (%inc, @stored, $sock);
        my ($sent, $none) = (0, 0);
        my $deadline = time + 30;
        my $n = 0;
        while (!-e $stop && time < $deadline) {
            $sock ||= IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                            Proto => 'tcp', Timeout => 5);
            if (!$sock) { sleep 0.05; next }
            $n++;
            my ($status, $close);
            if ($n % 4) {
                $sent++;
                ($status, $close) = one_request($sock, 'POST', '/hl/counter/increment', '', 10);
                if (!defined $status) { $none++ }
                elsif ($status =~ /^2/) { $inc{int((time - $t0) * 10)}++ }
            }
            else {
                ($status, $close) = one_request($sock, 'PUT', "/hl/cache/c$c-$n", "v$n", 10);
                push @stored, sprintf('%d:c%d-%d', int((time - $t0) * 10), $c, $n)
                    if defined $status && $status == 201;
            }
            undef $sock if !defined $status || $close;
        }
        print $w "sent $sent none $none\n";
        print $w "inc $_ $inc{$_}\n" for keys %inc;
        print $w "key $_\n" for @stored;
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    push @kids, [$pid, $r];
}

sleep $RUN;
# The whole server at once: its process group (the parent detached into
# its own session; children inherit the group, and a fork racing the
# signal is killed too), and every process it started, by name.
my $ppid = $srv->{pid};
my @procs = ($ppid);
my $pgid;
for my $stat (glob '/proc/[0-9]*/stat') {
    open my $fh, '<', $stat or next;
    my $line = <$fh> // next;
    my ($pid, $parent, $group) = $line =~ /^(\d+) \(.*\) \S+ (\d+) (\d+)/ or next;
    push @procs, $pid if $parent == $ppid;
    $pgid = $group if $pid == $ppid;
}
my $killed_at = time;
kill 'KILL', -$pgid if $pgid && $pgid > 1 && $pgid == $ppid;
kill 'KILL', @procs;
open my $sf, '>', $stop; close $sf;
# A killed process may stay a zombie until whoever adopted it reaps it.
sub alive {
    open my $fh, '<', "/proc/$_[0]/stat" or return 0;
    my $line = <$fh> // return 0;
    return $line !~ /^\d+ \(.*\) [ZX]/;
}
HL::Server::wait_for(sub { !grep { alive($_) } @procs });
check(!grep({ alive($_) } @procs), 'parent and ' . (@procs - 1) . ' children killed with SIGKILL');

my ($sent, $none, $ok, $ok_early) = (0, 0, 0, 0);
my (@early_keys, @late_keys);
my $cut = int(($killed_at - $SLACK - $t0) * 10);
for my $k (@kids) {
    my ($pid, $r) = @$k;
    while (my $line = <$r>) {
        if ($line =~ /^sent (\d+) none (\d+)/) { $sent += $1; $none += $2 }
        elsif ($line =~ /^inc (\d+) (\d+)/) {
            $ok += $2;
            $ok_early += $2 if $1 < $cut;
        }
        elsif ($line =~ /^key (\d+):(\S+)/) {
            push @early_keys, $2 if $1 < $cut;
        }
    }
    waitpid($pid, 0);
}
t_debug("sent $sent, 2xx $ok, no answer $none, 2xx more than $SLACK s before the kill $ok_early");
check($ok_early > 100, "clients were busy ($ok_early increments answered before the cut)");
# A kill that lands while the writer is writing leaves its temporary file
# beside the snapshot (seen under the sanitizers, whose writes are slow);
# the snapshot itself is whole (it is restored below), and the next write
# after the restart replaces the temporary file.
my $tmp_left = -e "$file.tmp";
t_debug("the kill cut a write: $file.tmp left") if $tmp_left;
check(-s $file, 'a snapshot on disk');

unlink $srv->dir . '/httpd.pid';
delete $srv->{pid};
check($srv->start, 'started again after the crash');
my (undef, $j) = $srv->request('GET', '/hl/counter/stats');
my $restored = $j ? $j->{current_value} : -1;
t_debug("restored counter $restored");
check($srv->log =~ /restored from \Q$file\E/, 'the last snapshot was restored');
# Its cache counters are older than what was last read: they start at 0,
# which Prometheus reads as the reset it is, not as a burst.
my (undef, $st0) = $srv->request('GET', '/hl/cache');
check($st0 && $st0->{sets} == 0 && $st0->{hits} == 0 && $st0->{misses} == 0,
      'the cache\'s counters start from 0 after a crash ('
      . join(' ', map { "$_=" . ($st0 ? $st0->{$_} : '?') } qw(sets hits misses)) . ')');
check($srv->log =~ /the cache's counters from 0 \(a snapshot written while the server ran\)/,
      'and the log says so');
check($restored <= $ok + $none, "no increment invented ($restored <= $ok + $none)");
check($restored >= $ok_early,
      "at most one interval behind: $restored >= $ok_early answered before kill - $SLACK s");
# Between two writes there is none (bounded: 60 s of polling).
my $tmp_gone = 0;
for (1 .. 600) {
    if (!-e "$file.tmp") { $tmp_gone = 1; last }
    sleep 0.1;
}
check($tmp_gone, 'no temporary file between the restarted server\'s writes'
      . ($tmp_left ? ' (one was left by the kill)' : ''));
my $found = 0;
for my $k (@early_keys) {
    my ($res) = $srv->request('GET', "/hl/cache/$k");
    $found++ if $res->code == 200;
}
ok t_cmp($found, scalar(@early_keys), 'cache entries written before the cut are there');
my (undef, $st) = $srv->request('GET', '/hl/cache');
check($st && $st->{total_entries} >= @early_keys, 'the cache was restored');
