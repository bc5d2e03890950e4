# A second, private server with a configuration of its own: mounts follow
# <VirtualHost>, a host without a mount keeps serving its files below the
# same path, and a graceful restart that changes HyperlaneHistorySize lays
# out a new segment and carries the counter over.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use HTTP::Request ();
use IO::Socket::INET ();
use JSON::PP ();
use LWP::UserAgent ();
use HL::Test qw(check);
use Time::HiRes qw(sleep time);

plan tests => 14;

my $cfg = Apache::Test::config();
my $httpd = $cfg->{vars}{httpd};
chomp(my $libexec = `"$cfg->{vars}{apxs}" -q LIBEXECDIR`);
my $mpm = $cfg->{server}{mpm} || 'event';
my $so = "$cfg->{vars}{top_dir}/.libs/mod_hyperlane.so";
my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/b"; mkdir "$dir/b/hl";
open my $f, '>', "$dir/b/hl/file.txt" or die; print $f "plain file\n"; close $f;

my $port = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "no free port: $!";
    $s->sockport;
};

sub write_conf {
    my $history = shift;
    open my $fh, '>', "$dir/httpd.conf" or die $!;
    print $fh <<"CONF";
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error_log"
LogLevel notice
DefaultRuntimeDir "$dir"
LoadModule mpm_${mpm}_module $libexec/mod_mpm_$mpm.so
LoadModule authz_core_module $libexec/mod_authz_core.so
LoadModule hyperlane_module $so
HyperlaneHistorySize $history
<Directory />
    Require all granted
</Directory>
<Location /all>
    SetHandler hyperlane
</Location>
<VirtualHost 127.0.0.1:$port>
    ServerName a.test
    DocumentRoot "$dir"
    <Location /hl>
        SetHandler hyperlane
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:$port>
    ServerName b.test
    DocumentRoot "$dir/b"
</VirtualHost>
CONF
    close $fh;
}

my $ua = LWP::UserAgent->new(timeout => 10);
sub get {
    my ($host, $path) = @_;
    my $req = HTTP::Request->new(GET => "http://127.0.0.1:$port$path", [Host => $host]);
    my $res = $ua->request($req);
    my $j = eval { JSON::PP->new->decode($res->content) };
    return ($res, $j);
}

sub log_lines {
    open my $fh, '<', "$dir/error_log" or return ();
    return grep { /mod_hyperlane: shared store/ } <$fh>;
}

sub wait_for { my $cond = shift; my $t = time + 20; sleep 0.1 until $cond->() || time > $t; $cond->() }

write_conf(5);
system($httpd, '-f', "$dir/httpd.conf", '-k', 'start') == 0 or die "httpd did not start";
check(wait_for(sub { my ($r) = get('a.test', '/hl/counter/stats'); $r->code == 200 }),
      'the private server answers');

my ($res, $j) = get('a.test', '/hl/counter/stats');
ok t_cmp($res->code, 200, 'a.test mounts /hl');
($res) = get('b.test', '/hl/counter/stats');
ok t_cmp($res->code, 404, 'b.test has no mount at /hl');
($res) = get('b.test', '/hl/file.txt');
ok t_cmp($res->code, 200, "b.test still serves its file below /hl");
ok t_cmp($res->content, "plain file\n");
($res, $j) = get('b.test', '/all/counter/increment');
ok t_cmp($res->code, 200, 'a mount of the main server applies to every host');
get('a.test', '/hl/counter/increment') for 1 .. 6;
($res, $j) = get('a.test', '/all/counter/stats');
ok t_cmp($j->{current_value}, 7, 'one counter for every host');
ok t_cmp($j->{history_length}, 5, 'history of 5');

# Graceful restart with a new history size: the counter is carried over.
write_conf(50);
my $before = () = log_lines();
system($httpd, '-f', "$dir/httpd.conf", '-k', 'graceful') == 0 or die "graceful failed";
check(wait_for(sub { my @l = log_lines(); @l > $before && $l[-1] =~ /history 50/ }),
      'the restart logged the new layout');
my @lines = log_lines();
check($lines[-1] =~ /re-laid out for new sizes, state copied/, "log: $lines[-1]");
check(wait_for(sub { my (undef, $x) = get('a.test', '/hl/counter/stats');
                     $x && $x->{history_capacity} == 50 }), 'new children use the new segment');
($res, $j) = get('a.test', '/hl/counter/stats');
ok t_cmp($j->{current_value}, 7, 'counter carried over');
ok t_cmp($j->{history_length}, 7, 'history carried as far as it was kept, and grows');

system($httpd, '-f', "$dir/httpd.conf", '-k', 'stop');
check(wait_for(sub { !-e "$dir/httpd.pid" }), 'the private server stopped');
