# 20,000 increments from 50 concurrent keep-alive clients: none lost, none
# doubled, under whichever MPM the suite runs.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Test qw(check json_req hammer);

plan tests => 7;

my $M = 20_000;
my (undef, $before) = json_req('GET', '/hl/counter/stats');
my $n = hammer(clients => 50, total => $M, path => '/hl/counter/increment',
               seconds => 300);
t_debug("answers: ok=$n->{ok} other=$n->{other} none=$n->{none} sent=$n->{sent}");
ok t_cmp($n->{sent}, $M, 'every request was sent');
ok t_cmp($n->{ok}, $M, 'every request got a 2xx');
ok t_cmp($n->{none} + $n->{other}, 0, 'no errors, no lost answers');

my (undef, $after) = json_req('GET', '/hl/counter/stats');
ok t_cmp($after->{current_value} - $before->{current_value}, $M,
         'current_value grew by exactly the number of increments');
ok t_cmp("@{ $after->{recent_values} }",
         join(' ', map { $after->{current_value} - $_ } 0 .. 9),
         'recent values are the newest ten');
check(!grep({ !$_->{pid} } @{ $after->{recent} }), 'the newest entries are complete');
my %pids = map { $_->{pid} => 1 } @{ $after->{recent} };
t_debug("pids among the newest entries: " . join(',', keys %pids));
check($after->{history_length} == 1000, 'history is full and bounded');
