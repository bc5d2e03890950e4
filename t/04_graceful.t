# Two graceful restarts while clients hammer the counter: the counter and
# its history survive, and increments made by old children during the
# restarts are not lost.  A request that got no answer at all may or may
# not have counted; those bound the difference.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use HL::Test qw(check json_req hammer httpd_pid);
use Time::HiRes qw(sleep time);

plan tests => 8;

my (undef, $before) = json_req('GET', '/hl/counter/stats');
my $gen0 = $before->{memory_usage}{store_generation};
my $stop = tempdir(CLEANUP => 1) . '/stop';

sub generation {
    my (undef, $j) = json_req('GET', '/hl/counter/stats');
    return $j ? $j->{memory_usage}{store_generation} : -1;
}

my $restarter = fork() // die "fork: $!";
if (!$restarter) {
    my $status = 0;
    for my $k (1 .. 2) {
        sleep 1.5;
        kill 'USR1', httpd_pid() or $status = 1;     # apachectl graceful
        my $deadline = time + 30;
        sleep 0.2 while generation() < $gen0 + $k && time < $deadline;
        $status = 2 if generation() < $gen0 + $k;
    }
    sleep 1.5;
    open my $fh, '>', $stop; close $fh;
    require POSIX;
    POSIX::_exit($status);
}

my $n = hammer(clients => 20, total => 1_000_000, path => '/hl/counter/increment',
               seconds => 90, stop_file => $stop);
waitpid($restarter, 0);
my $restarts_ok = $? >> 8;
t_debug("answers: ok=$n->{ok} other=$n->{other} none=$n->{none} sent=$n->{sent}");

ok t_cmp($restarts_ok, 0, 'both graceful restarts completed');
my (undef, $after) = json_req('GET', '/hl/counter/stats');
ok t_cmp($after->{memory_usage}{store_generation}, $gen0 + 2,
         'the same segment served both new generations');
check($n->{ok} > 1000, "clients were busy across the restarts ($n->{ok} answers)");
ok t_cmp($n->{other}, 0, 'no error answers');
my $grew = $after->{current_value} - $before->{current_value};
t_debug("counter grew by $grew; 2xx answers $n->{ok}; no answer $n->{none}");
check($grew >= $n->{ok}, 'no answered increment was lost');
check($grew <= $n->{ok} + $n->{none}, 'no increment counted that nobody sent');
ok t_cmp($after->{history_length}, 1000, 'history survived');
ok t_cmp($after->{recent_values}[0], $after->{current_value});
