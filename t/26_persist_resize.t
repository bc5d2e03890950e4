# Smaller sizes between the stop and the start (a quarter of the cache, a
# quarter of the history): what fits is restored, as a graceful restart
# that changes sizes keeps it (the newest history, the most recently used
# entries), and the log says how much.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use HL::Test qw(check);

plan tests => 11;

my $srv = HL::Server->new;
my $file = $srv->dir . '/hl.snapshot';
sub conf {
    my ($cache, $history) = @_;
    $srv->configure(<<"CONF");
HyperlaneCacheSize $cache
HyperlaneHistorySize $history
HyperlanePersistFile hl.snapshot
HyperlanePersistInterval 0
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
}
sub counter { my (undef, $j) = $srv->request('GET', '/hl/counter/stats'); $j }

conf('2M', 200);
check($srv->start, 'private server: 2M cache, history 200');
my ($N, $M) = (300, 1000);
my $ok = 0;
for (1 .. $N) {
    my ($res) = $srv->request('POST', '/hl/counter/increment');
    $ok++ if $res->code == 200;
}
ok t_cmp($ok, $N, "$N increments");
my $set = 0;
for my $i (1 .. $M) {
    my ($res) = $srv->request('PUT', "/hl/cache/e$i", content => chr(65 + $i % 26) x 1000);
    $set++ if $res->code == 201;
}
my (undef, $st) = $srv->request('GET', '/hl/cache');
ok t_cmp($st->{total_entries}, $M, "$M entries of 1000 bytes, all held");
# The first 40 become the most recently used.
$srv->request('GET', "/hl/cache/e$_") for 1 .. 40;
check($srv->stop, 'stopped');

conf('512K', 50);
check($srv->start, 'started with a 512K cache and history 50');
my $j = counter();
ok t_cmp($j->{current_value}, $N, 'the counter as it was');
ok t_cmp($j->{history_length}, 50, 'the newest 50 of the history');
ok t_cmp($j->{recent_values}[0], $N, 'newest first');
(undef, $st) = $srv->request('GET', '/hl/cache');
my $held = $st->{total_entries};
my ($kept, $in_file, $expired, $left) = $srv->log =~
    /restored from \Q$file\E .*history 50 of 200 entries, cache (\d+) of (\d+) entries \((\d+) expired, (\d+) did not fit the new sizes\)/;
t_debug("held $held; log: " . join(' ', map { $_ // '?' } $kept, $in_file, $expired, $left));
check(defined $kept && $kept == $held && $in_file == $M && $expired == 0
      && $left == $M - $held && $held > 0 && $held < $M,
      "the log says how much: $held of $M restored, the rest did not fit");
my $recent = 0;
for my $i (1 .. 40) {
    my ($res) = $srv->request('GET', "/hl/cache/e$i");
    $recent++ if $res->code == 200;
}
ok t_cmp($recent, 40, 'the most recently used entries were kept');
my ($res) = $srv->request('GET', '/hl/cache/e41');
ok t_cmp($res->code, 404, 'the least recently used did not fit');
