# Listing a large cache while it changes: 100,000 keys listed in pages of
# 1,000 through the cursor while two writers insert and delete other keys
# and a reader keeps hitting one entry.  Every key present throughout is
# seen, no page is over its limit, and the hits are served all along.  A
# private server with a cache big enough that nothing is evicted (checked),
# on the suite's store (HL::SuiteStore: shm, or a Redis under t/steps/redis,
# with keys of its own).
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use HL::SuiteStore ();
use HL::Test qw(check check_store);
use HL::CacheAPI qw(ka_connect ka_request);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);

plan tests => 14;

my $KEYS = 100_000;
my $PAGE = 1_000;
my $deadline = time + 300;     # the whole test, generously

my $srv = HL::Server->new;
$srv->configure(HL::SuiteStore::conf('t29:') . <<'CONF');
HyperlaneCacheSize 64M
HyperlaneCacheBulkMaxKeys 1000
HyperlaneCacheListMax 1000
# Each client keeps one connection for all its requests.
MaxKeepAliveRequests 0
KeepAliveTimeout 60
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
check($srv->start, 'private server with a 64M cache');
my $port = $srv->port;
check_store(($srv->request('GET', '/hl/cache'))[1]);

# The keys, a thousand to a bulk set (the bodies written by hand: the
# keys are plain ASCII, and a pure-Perl encoder would take most of the
# test's time).
my $sock = ka_connect($port);
my $stored = 0;
for (my $i = 0; $i < $KEYS && time < $deadline; $i += 1000) {
    my $body = '{"items":['
        . join(',', map { sprintf('{"key":"s:%06d","value":"v"}', $_) } $i .. $i + 999)
        . ']}';
    my ($st, undef, undef, $j) = ka_request($sock, 'POST', '/hl/cache-bulk/set',
                                            body => $body);
    $stored += $j->{succeeded} if $st && $st == 200 && $j;
}
ok t_cmp($stored, $KEYS, 'the keys are stored');
ka_request($sock, 'PUT', '/hl/cache/hot', body => 'hot value');

# Beside the listing: two writers and a reader, in processes of their own,
# until the stop file appears (or their own bound).
my $tmp = tempdir(CLEANUP => 1);
my $stop = "$tmp/stop";
sub beside {
    my ($work) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        close $r;
        my %n = (ok => 0, bad => 0);
        my $s = ka_connect($port);
        my $i = 0;
        while (!-e $stop && time < $deadline && $i < 100_000) {
            $work->($s, $i++, \%n);
        }
        print $w join(' ', map { "$_=$n{$_}" } sort keys %n), "\n";
        close $w;
        require POSIX;
        POSIX::_exit(0);
    }
    close $w;
    return [$pid, $r];
}
sub writer {
    my $id = shift;
    return sub {
        my ($s, $i, $n) = @_;
        # Insert ten keys, then delete the ten of the round before.
        my $body = '{"items":['
            . join(',', map { qq{{"key":"w$id:$i:$_","value":"churn"}} } 1 .. 10) . ']}';
        my ($st) = ka_request($s, 'POST', '/hl/cache-bulk/set', body => $body);
        $st && $st == 200 ? $n->{ok}++ : $n->{bad}++;
        if ($i > 0) {
            for my $k (1 .. 10) {
                my ($d) = ka_request($s, 'DELETE', "/hl/cache/w$id:" . ($i - 1) . ":$k");
                $d && $d == 200 ? $n->{ok}++ : $n->{bad}++;
            }
        }
    };
}
my $reader = sub {
    my ($s, $i, $n) = @_;
    my ($st, undef, $body) = ka_request($s, 'GET', '/hl/cache/hot?raw=1');
    $st && $st == 200 && $body eq 'hot value' ? $n->{ok}++ : $n->{bad}++;
};
my @kids = (beside(writer(1)), beside(writer(2)), beside($reader));

# The scan: every page decoded (json-c, HL::JSON).
my %seen;
my ($pages, $over, $bad, $cursor) = (0, 0, 0, undef);
do {
    my $path = "/hl/cache?limit=$PAGE" . (defined $cursor ? "&cursor=$cursor" : '');
    my ($st, undef, $body, $j) = ka_request($sock, 'GET', $path, timeout => 60);
    my $next = ref $j eq 'HASH' && exists $j->{next_cursor} ? $j->{next_cursor} : '';
    if (!$st || $st != 200 || ref $j->{keys} ne 'ARRAY'
        || (defined $next && (ref $next || $next !~ /\S/))) {
        $bad++;
        $cursor = undef;
    }
    else {
        my @keys = map { ref $_ eq 'HASH' ? $_->{key} // '' : '' } @{ $j->{keys} };
        my $count = $j->{count};
        $over++ if @keys > $PAGE || !defined $count || $count != @keys;
        $seen{$_}++ for grep { /^s:/ } @keys;
        $cursor = $next;
    }
    $pages++;
} while (defined $cursor && time < $deadline && $pages < 10_000);
my $scan_done = !defined $cursor && !$bad;

open my $fh, '>', $stop or die $!;
close $fh;
my %sum;
for my $k (@kids) {
    my ($pid, $r) = @$k;
    my $line = <$r> // '';
    my %n = $line =~ /(\w+)=(\d+)/g;
    push @{ $sum{$_} }, $n{$_} // 0 for qw(ok bad);
    waitpid($pid, 0);
}

check($scan_done, "the scan ended with a complete page ($pages pages, $bad failed)");
ok t_cmp($over, 0, 'no page over its limit');
my $missing = grep { !$seen{sprintf('s:%06d', $_)} } 0 .. $KEYS - 1;
ok t_cmp($missing, 0, 'every key present throughout was seen');
ok t_cmp(scalar(keys %seen), $KEYS, 'and nothing else under its prefix');
check($pages >= $KEYS / $PAGE, "pages of at most $PAGE ($pages)");
check($sum{ok}[0] > 0 && $sum{ok}[1] > 0, "the writers wrote meanwhile ($sum{ok}[0], $sum{ok}[1])");
ok t_cmp($sum{bad}[0] + $sum{bad}[1], 0, 'every write of theirs succeeded');
check($sum{ok}[2] > 0, "the reader's hits were served during the scan ($sum{ok}[2])");
ok t_cmp($sum{bad}[2], 0, 'every one of them');
my ($res, $j) = $srv->request('GET', '/hl/cache');
ok t_cmp($j->{evictions}, 0, 'nothing was evicted: the keys stayed for the whole scan');
my $n = 0;
for my $i (0, 4242, 99_999) {
    my ($st) = ka_request($sock, 'GET', sprintf('/hl/cache/s:%06d', $i));
    $n++ if $st && $st == 200;
}
ok t_cmp($n, 3, 'the keys are still there after it');
$srv->stop;
