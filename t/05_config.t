# Directives are validated at startup: a bad value stops "apachectl
# configtest" (httpd -t) with a message naming the directive.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use Apache::TestConfig ();
use File::Temp qw(tempdir);
use HL::Test qw(check);

my @bad = (
    [ 'HyperlaneHistorySize 0',          'HyperlaneHistorySize' ],
    [ 'HyperlaneHistorySize many',       'HyperlaneHistorySize' ],
    [ 'HyperlaneHistorySize 10000001',   'HyperlaneHistorySize' ],
    [ 'HyperlaneChunkSize 0',            'HyperlaneChunkSize' ],
    [ 'HyperlaneCacheSize 1K',           'HyperlaneCacheSize' ],
    [ 'HyperlanePoolBuffers -5',         'HyperlanePoolBuffers' ],
    [ 'HyperlaneMemoryMaxAge 60001',     'HyperlaneMemoryMaxAge' ],
    [ 'HyperlaneMemoryMaxAge soon',      'HyperlaneMemoryMaxAge' ],
    # A JSON answer may be six times its value: 1M at most.
    [ 'HyperlaneCacheMaxValue 64M',      'HyperlaneCacheMaxValue' ],
    [ 'HyperlaneBenchmarkMaxConcurrent 0', 'HyperlaneBenchmarkMaxConcurrent' ],
    [ 'HyperlaneTrustedOrigin evil.example', 'HyperlaneTrustedOrigin' ],
    [ 'HyperlaneTrustedOrigin https://a.example/path', 'HyperlaneTrustedOrigin' ],
    [ 'HyperlaneTrustedOrigin ftp://a.example', 'HyperlaneTrustedOrigin' ],
    [ 'HyperlaneFastPath /x off',        'HyperlaneFastPath' ],
    [ 'HyperlaneFastPath fast',          'HyperlaneFastPath' ],
    [ 'HyperlaneSkipDirectoryWalk maybe', 'HyperlaneSkipDirectoryWalk' ],
    [ 'HyperlaneIncrementPostOnly yes',  'HyperlaneIncrementPostOnly' ],
    [ 'HyperlaneStore memcached',        'HyperlaneStore' ],
    [ "<VirtualHost 127.0.0.1:1>\nHyperlaneStore shm\n</VirtualHost>", 'HyperlaneStore' ],
    [ "<VirtualHost 127.0.0.1:1>\nHyperlaneHistorySize 5\n</VirtualHost>",
      'HyperlaneHistorySize' ],
    # Each good alone; together a plain set would outlive any ?ttl=.
    [ "HyperlaneCacheTTL 7200\nHyperlaneCacheMaxTTL 60", 'HyperlaneCacheMaxTTL' ],
);
plan tests => 5 + 2 * @bad;

my $cfg = Apache::Test::config();
my $httpd = $cfg->{vars}{httpd};
my $moddir = $cfg->{vars}{top_dir} . '/.libs';
chomp(my $libexec = `"$cfg->{vars}{apxs}" -q LIBEXECDIR`);
my ($mpm) = grep { -e "$libexec/mod_mpm_$_.so" } qw(event prefork);
my $dir = tempdir(CLEANUP => 1);

sub configtest {
    my $extra = shift;
    open my $fh, '>', "$dir/httpd.conf" or die $!;
    print $fh <<"CONF";
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:1
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error_log"
DefaultRuntimeDir "$dir"
LoadModule mpm_${mpm}_module $libexec/mod_mpm_$mpm.so
LoadModule hyperlane_module $moddir/mod_hyperlane.so
$extra
CONF
    close $fh;
    my $out = `"$httpd" -t -f "$dir/httpd.conf" 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = configtest("HyperlaneHistorySize 5\nHyperlaneCacheSize 64K\n"
                          . "HyperlaneMemoryMaxAge 250\nHyperlaneCacheMaxValue 1M\n"
                          . "HyperlaneBenchmarkMaxConcurrent 3\n"
                          . "HyperlaneTrustedOrigin https://a.example http://b.example:8080\n"
                          . "HyperlaneFastPath off\nHyperlaneSkipDirectoryWalk On\n"
                          . "HyperlaneIncrementPostOnly Off\nHyperlaneStore shm");
ok t_cmp($rc, 0, 'good values pass configtest');
check($out =~ /Syntax OK/, "Syntax OK: $out");
check($out =~ /HyperlaneCacheMaxValue 1048576 is not below HyperlaneCacheSize 65536/,
      "with a warning: values of 1M cannot fit a 64K cache: $out");
# The shipped configuration's directives, every one uncommented as it
# stands (an administrator's first edit), pass too.
my $shipped = $cfg->{vars}{top_dir} . '/conf/hyperlane.conf';
open my $sf, '<', $shipped or die "$shipped: $!";
my @shipped = map { /^\s*#(Hyperlane\w+\b.*)$/ ? $1 : () } <$sf>;
close $sf;
($rc, $out) = configtest(join "\n", @shipped);
ok t_cmp($rc, 0, scalar(@shipped) . ' directives of conf/hyperlane.conf, uncommented');
check(@shipped >= 25 && $out =~ /Syntax OK/, "Syntax OK: $out");
for my $b (@bad) {
    my ($line, $name) = @$b;
    ($rc, $out) = configtest($line);
    check($rc != 0, "'$line' is refused");
    check($out =~ /\Q$name\E/, "the message names $name: $out");
}
