# A second, private server with a configuration of its own: mounts follow
# <VirtualHost>, a host without a mount keeps serving its files below the
# same path, a fast path serves only the host that mounts it (hosts that
# set no directive of the module share the main server's configuration
# structure, and must not share their mounts), and a graceful restart
# that changes HyperlaneHistorySize lays out a new segment and carries
# the counter over.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use HL::Test qw(check);

plan tests => 18;

my $srv = HL::Server->new;
my $dir = $srv->dir;
mkdir "$dir/b"; mkdir "$dir/b/hl";
open my $f, '>', "$dir/b/hl/file.txt" or die; print $f "plain file\n"; close $f;

sub conf {
    my ($history, $modules) = @_;
    $srv->configure(<<"CONF", $modules);
HyperlaneHistorySize $history
HyperlaneFastPath /fp
<Location /all>
    SetHandler hyperlane
</Location>
<VirtualHost 127.0.0.1:\@PORT\@>
    ServerName a.test
    DocumentRoot "\@DIR\@"
    <Location /hl>
        SetHandler hyperlane
    </Location>
    <Location /fp>
        SetHandler hyperlane
        Require all denied
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:\@PORT\@>
    ServerName b.test
    DocumentRoot "\@DIR\@/b"
</VirtualHost>
CONF
}
sub get { $srv->request('GET', $_[1], host => $_[0]) }
sub store_lines { grep { /mod_hyperlane: shared store/ } split /\n/, $srv->log }

conf(5);
check($srv->start, 'the private server answers');

my ($res, $j) = get('a.test', '/hl/counter/stats');
ok t_cmp($res->code, 200, 'a.test mounts /hl');
($res) = get('b.test', '/hl/counter/stats');
ok t_cmp($res->code, 404, 'b.test has no mount at /hl');
($res) = get('b.test', '/hl/file.txt');
ok t_cmp($res->code, 200, "b.test still serves its file below /hl");
ok t_cmp($res->content, "plain file\n");
# The fast path answers before Require: a 403 would mean a.test lost it.
sub fast_paths_per_host {
    my ($when) = @_;
    my ($res) = get('a.test', '/fp/counter/stats');
    ok t_cmp($res->code, 200, "a.test answers its fast path /fp ($when)");
    ($res) = get('b.test', '/fp/counter/stats');
    ok t_cmp($res->code, 404, "b.test, which does not mount /fp, has no "
                              . "fast path there ($when)");
}
fast_paths_per_host('at start');
($res, $j) = get('b.test', '/all/counter/increment');
ok t_cmp($res->code, 200, 'a mount of the main server applies to every host');
get('a.test', '/hl/counter/increment') for 1 .. 6;
($res, $j) = get('a.test', '/all/counter/stats');
ok t_cmp($j->{current_value}, 7, 'one counter for every host');
ok t_cmp($j->{history_length}, 5, 'history of 5');

# Graceful restart with a new history size, and other modules loaded
# before this one (httpd reloads the .so, maybe at another address): the
# counter is carried over.
conf(50, join "\n", map { "LoadModule ${_}_module " . $srv->libexec . "/mod_$_.so" }
                     qw(alias env));
my $before = () = store_lines();
$srv->ctl('graceful') or die "graceful failed";
check(HL::Server::wait_for(sub { my @l = store_lines(); @l > $before && $l[-1] =~ /history 50/ }),
      'the restart logged the new layout');
my @lines = store_lines();
check($lines[-1] =~ /re-laid out for new sizes, state copied/, "log: $lines[-1]");
check(HL::Server::wait_for(sub { my (undef, $x) = get('a.test', '/hl/counter/stats');
                                 $x && $x->{history_capacity} == 50 }),
      'new children use the new segment');
($res, $j) = get('a.test', '/hl/counter/stats');
ok t_cmp($j->{current_value}, 7, 'counter carried over');
ok t_cmp($j->{history_length}, 7, 'history carried as far as it was kept, and grows');
fast_paths_per_host('after a graceful restart');

check($srv->stop, 'the private server stopped');
