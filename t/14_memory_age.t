# HyperlaneMemoryMaxAge: a thread may answer with its last reading of rss
# and peak while it is at most that old, and says how old (rss_age_us).
# The private server has one child with one worker thread, so that of
# twelve answers every one after the first must come from a kept reading.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use HL::Test qw(check);
use Time::HiRes qw(sleep time);

plan tests => 15;

my $srv = HL::Server->new;

sub conf {
    my $max_age = shift;
    my $mpm = $srv->mpm eq 'prefork'
        ? "StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\n"
          . "ServerLimit 1\nMaxRequestWorkers 1"
        : "StartServers 1\nServerLimit 1\nThreadLimit 1\nThreadsPerChild 1\n"
          . "MaxRequestWorkers 1\nMinSpareThreads 1\nMaxSpareThreads 2";
    $srv->configure(<<"CONF");
$mpm
HyperlaneMemoryMaxAge $max_age
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
}

sub increments {
    my ($n, $pause) = @_;
    my @mi;
    for (1 .. $n) {
        my ($res, $j) = $srv->request('GET', '/hl/counter/increment');
        push @mi, $res->code == 200 && $j ? { %{ $j->{memory_info} },
                                              counter => $j->{counter} } : undef;
        sleep $pause if $pause;
    }
    return @mi;
}

conf(60000);
check($srv->start, 'the private server answers');
my $t0 = time;
my @mi = increments(11);
sleep 0.2;      # the last answer's reading is then at least 200 ms old
push @mi, increments(1);
my $elapsed_us = (time - $t0) * 1e6;
check(!grep({ !defined } @mi), 'twelve answers');
@mi = grep { defined } @mi;
ok t_cmp(join(' ', map { $_->{counter} } @mi), join(' ', 1 .. 12),
         'every request still increments');
my @kept  = grep { $_->{rss_age_us} > 0 } @mi;
my @fresh = grep { $_->{rss_age_us} == 0 } @mi;
ok t_cmp(scalar @kept, 11, 'every answer after the first from the kept reading');
check($mi[-1]{rss_age_us} >= 200_000,
      "HyperlaneMemoryMaxAge counts milliseconds: $mi[-1]{rss_age_us} us");
check(!grep({ $_->{rss_age_us} < 0 || $_->{rss_age_us} > $elapsed_us } @mi),
      'ages between 0 and the time the requests took');
# A kept reading is one the same process made fresh earlier: same figures.
my $unmatched = grep {
    my $k = $_;
    !grep { $_->{pid} == $k->{pid} && $_->{rss_bytes} == $k->{rss_bytes}
            && $_->{peak_rss_bytes} == $k->{peak_rss_bytes} } @fresh
} @kept;
ok t_cmp($unmatched, 0, 'kept figures are those of an earlier fresh reading');
check($mi[0]{rss_age_us} == 0, 'the first answer reads');

my ($res, $j) = $srv->request('GET', '/hl/counter/stats');
ok t_cmp($res->code, 200, 'counter/stats answers');
check(defined $j->{memory_usage}{rss_age_us}
      && $j->{memory_usage}{rss_age_us} <= (time - $t0) * 1e6,
      'counter/stats says its age too');

# A max age of 1 ms with 20 ms between requests: every answer reads again.
$srv->stop;
conf(1);
check($srv->start, 'restarted with HyperlaneMemoryMaxAge 1');
@mi = grep { defined } increments(6, 0.02);
ok t_cmp(scalar @mi, 6, 'six answers');
ok t_cmp(join(' ', map { $_->{rss_age_us} } @mi), '0 0 0 0 0 0',
         'each read afresh once its reading is older than 1 ms');
$srv->stop;

# 0: read for every answer, however close together.
conf(0);
check($srv->start, 'restarted with HyperlaneMemoryMaxAge 0');
@mi = grep { defined } increments(6, 0);
ok t_cmp(join(' ', map { $_->{rss_age_us} } @mi), '0 0 0 0 0 0',
         'max age 0: every answer reads');
$srv->stop;
