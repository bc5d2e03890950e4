# A snapshot file the server cannot trust: zero-length, empty of anything
# but a newline, truncated, bit-flipped, of another format version (a
# newer one, or version 1 from before entries had versions), or
# unreadable.  Each is logged, moved aside whole to .bad, and the server
# starts empty.  The configuration check never loads (nor moves) a file,
# and a store that keeps its state itself refuses the directive.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use HL::Test qw(check);

my @cases = (
    [ 'zero-length',  sub { '' },                            qr/empty \(0 bytes\)/ ],
    [ 'empty',        sub { "\n" },                          qr/not a mod_hyperlane snapshot/ ],
    [ 'truncated',    sub { substr($_[0], 0, int(length($_[0]) / 2)) }, qr/checksum mismatch|truncated/ ],
    [ 'bit-flipped',  sub { my $s = $_[0]; vec($s, int(length($s) * 4), 1) ^= 1; $s },
                                                              qr/checksum mismatch/ ],
    [ 'other version', sub { my $s = $_[0]; substr($s, 8, 4, pack('V', 99)); $s },
                                                              qr/format version 99/ ],
    # What a build before the cache's versions wrote (the version word is
    # the first thing read after the magic).
    [ 'format 1',     sub { my $s = $_[0]; substr($s, 8, 4, pack('V', 1)); $s },
                                          qr/format version 1; this build reads version 2/ ],
    [ 'unreadable',   sub { $_[0] },                          qr/cannot open it/ ],
);
plan tests => 4 + 6 * @cases + 4;

my $srv = HL::Server->new;
my $file = $srv->dir . '/hl.snapshot';
$srv->configure(<<'CONF');
HyperlanePersistFile hl.snapshot
HyperlanePersistInterval 0
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
sub counter { my (undef, $j) = $srv->request('GET', '/hl/counter/stats'); $j }
sub slurp { open my $fh, '<:raw', $_[0] or return; local $/; <$fh> }
sub spill { open my $fh, '>:raw', $_[0] or die "$_[0]: $!"; print $fh $_[1]; close $fh }

# A real snapshot to damage.
check($srv->start, 'private server with HyperlanePersistFile');
$srv->request('POST', '/hl/counter/increment') for 1 .. 7;
$srv->request('PUT', "/hl/cache/k$_", content => "v\0$_") for 1 .. 30;
check($srv->stop, 'stopped');
my $good = slurp($file);
check(defined $good && length($good) > 200, 'the stop wrote a snapshot');

# The configuration check leaves a bad file where it is.
spill($file, "not a snapshot");
my $out = `"$srv->{httpd}" -t -f "${\ $srv->dir}/httpd.conf" 2>&1`;
check($? == 0 && -e $file && !-e "$file.bad", "configtest neither loads nor moves it: $out");

my $as_root = $> == 0;
for my $c (@cases) {
    my ($name, $make, $why) = @$c;
    unlink "$file.bad";
    my $bytes = $make->($good);
    spill($file, $bytes);
    chmod 0, $file if $name eq 'unreadable';
    my $log_before = length $srv->log;
    my $started = $srv->start;
    check($started, "$name: the server starts");
    my $j = counter();
    ok t_cmp($j ? $j->{current_value} : -1, 0, "$name: it starts empty");
    my (undef, $st) = $srv->request('GET', '/hl/cache');
    ok t_cmp($st ? $st->{total_entries} : -1, 0, "$name: with an empty cache");
    my $log = substr($srv->log, $log_before);
    if ($name eq 'unreadable' && $as_root) {
        skip('root reads a file of mode 0') for 1 .. 3;
    }
    else {
        check($log =~ /snapshot \Q$file\E not loaded: (.*)/ && $1 =~ $why,
              "$name: logged with its reason");
        check($log =~ /moved aside to \Q$file\E\.bad; starting empty/,
              "$name: moved aside");
        chmod 0600, "$file.bad";
        my $moved = slurp("$file.bad");
        check(defined $moved && $moved eq $bytes && !-e $file,
              "$name: .bad holds the file as it was");
    }
    $srv->stop;
}

# With a store that keeps its state itself the directive is refused, in
# either order.  Only a build with such a store (Redis) can check it.
my $redis = 'redis://127.0.0.1:1';
sub configtest {
    my $body = shift;
    my $conf = $srv->dir . '/configtest.conf';
    my $main = slurp($srv->dir . '/httpd.conf');
    $main =~ s/^HyperlanePersist.*$//mg;
    spill($conf, "$main\n$body\n");
    my $o = `"$srv->{httpd}" -t -f "$conf" 2>&1`;
    return ($? >> 8, $o);
}
my ($rc, $o) = configtest("HyperlaneStore $redis");
if ($rc != 0) {
    skip("this build has no Redis store: $o") for 1 .. 4;
}
else {
    for my $order ("HyperlaneStore $redis\nHyperlanePersistFile x.snap",
                   "HyperlanePersistFile x.snap\nHyperlaneStore $redis") {
        ($rc, $o) = configtest($order);
        check($rc != 0, "refused: $order");
        check($o =~ /HyperlanePersistFile/ && $o =~ /Redis persists/
              && $o =~ /AOF|RDB/, "the message says Redis persists itself: $o");
    }
}
