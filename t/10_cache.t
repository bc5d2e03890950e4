# The shared cache on the suite's server: one cache for every child, exact
# bytes, access counts, and every bad input refused with JSON and nothing
# stored.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Test qw(check json_req connect_server send_request read_response
                decode_json_ok);

plan tests => 56;

sub stats { my (undef, $j) = json_req('GET', '/hl/cache'); return $j }

# Set through one connection, read back through fresh connections: with
# Connection: close every read may land on another child.
my ($res, $j) = json_req('PUT', '/hl/cache/greeting', content => 'hello, world');
ok t_cmp($res->code, 201, 'new key: 201');
check($j->{key} eq 'greeting' && $j->{value} eq 'hello, world'
      && $j->{operation} eq 'set' && $j->{success}, 'set answer');
my (%seen, $all_hit);
$all_hit = 1;
for my $i (1 .. 40) {
    my $sock = connect_server();
    send_request($sock, 'GET', '/hl/cache/greeting', headers => ['Connection: close']);
    my ($status, $h, $body) = read_response($sock);
    my $x = decode_json_ok($body);
    $all_hit &&= $status == 200 && $x->{value} eq 'hello, world' && $x->{cache_hit};
    $seen{$x->{access_count}}++ if $x;
}
check($all_hit, 'forty reads through fresh connections all hit');
ok t_cmp(scalar(keys %seen), 40, 'each hit counted once: access counts 1..40');
($res, $j) = json_req('GET', '/hl/cache/greeting');
ok t_cmp($j->{access_count}, 41, 'access_count');
check($j->{age_seconds} >= 0 && $j->{age_seconds} < 60, 'age_seconds');
check($j->{expires_in_seconds} > 3500, 'expires after the default TTL');

# Replace: 200, and the new value.
($res, $j) = json_req('POST', '/hl/cache/greeting', content => 'bye');
ok t_cmp($res->code, 200, 'replacing: 200');
check($j->{replaced}, 'replaced');
(undef, $j) = json_req('GET', '/hl/cache/greeting');
ok t_cmp($j->{value}, 'bye');
ok t_cmp($j->{access_count}, 1, 'a new value starts a new count');

# Binary-safe: exact bytes back with ?raw=1; JSON stays valid (U+FFFD).
my $bin = join '', map { chr(($_ * 37) % 256) } 0 .. 999;
$bin .= "\0\xff\xfe";
($res) = json_req('PUT', '/hl/cache/bin%20key%2Ax', content => $bin);
ok t_cmp($res->code, 201);
($res) = json_req('GET', '/hl/cache/bin%20key%2Ax?raw=1');
ok t_cmp($res->header('Content-Type'), 'application/octet-stream');
check($res->content eq $bin, 'raw=1 returns the exact bytes');
($res, $j) = json_req('GET', '/hl/cache/bin%20key%2Ax');
check(defined $j, 'the JSON answer of a binary value parses');
ok t_cmp($j->{key}, 'bin key*x', 'key percent-decoded');
check($j->{value} =~ /\x{FFFD}/ && $j->{value} =~ /\x00/, 'invalid UTF-8 as U+FFFD, NUL kept');
($res, $j) = json_req('PUT', '/hl/cache/empty', content => '');
ok t_cmp($res->code, 201, 'an empty value is a value');
($res) = json_req('GET', '/hl/cache/empty?raw=1');
check($res->code == 200 && length($res->content) == 0, 'and reads back empty');
($res) = json_req('GET', '/hl/cache/empty?raw=maybe');
ok t_cmp($res->code, 400, 'raw must be 0 or 1');
($res) = json_req('PUT', '/hl/cache/a/b/c', content => 'deep');
(undef, $j) = json_req('GET', '/hl/cache/a/b/c');
ok t_cmp($j->{key}, 'a/b/c', 'the key is the whole rest of the path');
($res) = json_req('PUT', '/hl/cache/utf8-%E4%B8%AD', content => "\xe6\x96\x87");
(undef, $j) = json_req('GET', '/hl/cache/utf8-%E4%B8%AD');
check($j->{key} eq "utf8-\x{4e2d}" && $j->{value} eq "\x{6587}", 'UTF-8 keys and values');

# Delete.
($res, $j) = json_req('DELETE', '/hl/cache/empty');
ok t_cmp($res->code, 200, 'delete: 200');
check($j->{operation} eq 'delete' && $j->{success}, 'delete answer');
($res, $j) = json_req('DELETE', '/hl/cache/empty');
ok t_cmp($res->code, 404, 'deleting again: 404');
($res, $j) = json_req('GET', '/hl/cache/empty');
ok t_cmp($res->code, 404, 'gone');
check($j->{error} eq 'Key not found' && $j->{key} eq 'empty' && $j->{status} == 404,
      'the seed\'s 404, as JSON');

# A path that Apache normalises to another one (dot segments, doubled
# slashes) is refused: access control matched the normalised path, so the
# module must not route the raw one.  Nothing is stored.
for my $path ('/hl/cache/x/../../counter/stats', '/hl/cache/x/%2e%2e/%2e%2e/counter/stats',
              '/hl//counter/stats', '/hl/./counter/stats') {
    my $sock = connect_server();
    send_request($sock, 'PUT', $path, length => 5, next => do { my $d = 0; sub { $d++ ? undef : 'xxxxx' } });
    my ($status, $h, $body) = read_response($sock);
    my $x = decode_json_ok($body // '');
    check(defined $status && $status == 400 && $x && $x->{status} == 400,
          "$path: 400 JSON (" . ($status // 'none') . ')');
}
(undef, $j) = json_req('GET', '/hl/counter/stats');
check($j && exists $j->{current_value}, 'and the endpoints are untouched');

# Bad input: the right status, JSON, nothing stored.
my $st = stats();
my @bad = (
    ['PUT', '/hl/cache/',                    'x',               400, 'empty key'],
    ['GET', '/hl/cache/',                    undef,             400, 'empty key (GET)'],
    ['PUT', '/hl/cache/' . ('k' x 251),      'x',               414, 'key too long'],
    ['PUT', '/hl/cache/toolarge',            'v' x 65537,       413, 'value too big'],
);
for my $b (@bad) {
    my ($m, $path, $body, $code, $what) = @$b;
    ($res, $j) = json_req($m, $path, defined $body ? (content => $body) : ());
    ok t_cmp($res->code, $code, $what);
    check($j && $j->{status} == $code && length $j->{error}, "$what: JSON error");
}
my $st2 = stats();
ok t_cmp($st2->{sets}, $st->{sets}, 'nothing was stored');
ok t_cmp($st2->{total_entries}, $st->{total_entries});
($res) = json_req('GET', '/hl/cache/toolarge');
ok t_cmp($res->code, 404, 'the refused value is not there');
# A Range on a write is ignored (RFC 9110 14.2): the whole answer, no 206
# (httpd would cut a 200: the PUT replaces a key).
json_req('PUT', '/hl/cache/ranged', content => 'x');
# (The module unsets Request-Range too, which older httpds read; the one
# here ignores it, so no check of it could fail.)
for my $w (['PUT', '/hl/cache/ranged', 'Range'], ['POST', '/hl/counter/increment', 'Range']) {
    my ($m, $path, $header) = @$w;
    ($res, $j) = json_req($m, $path, content => 'y', headers => [$header => 'bytes=0-9']);
    check($res->code == 200 && $j, "$m with a $header: 200, whole JSON (" . $res->code . ')');
}
# Nor on a read whose bytes change at every request (a hit counts itself,
# ages): a range of it, resumed with If-Range, would splice two answers.
# The stored bytes (?raw=1) are the same each time: their ranges apply.
# (An If-Range that names another tag than the answer's own makes httpd
# ignore the Range: it goes only with the answer it names.)
my ($full) = json_req('GET', '/hl/cache/ranged');
for my $w (['/hl/cache/ranged', 'Range', 1], ['/hl/cache/ranged', 'Range', 0],
           ['/hl/counter/stats', 'Range', 0]) {
    my ($path, $header, $if_range) = @$w;
    ($res, $j) = json_req('GET', $path, headers => [$header => 'bytes=5-',
                          $if_range ? ('If-Range' => $full->header('ETag')) : ()]);
    check($res->code == 200 && $j, "GET $path with a $header" . ($if_range ? ' and If-Range' : '')
                                   . ': 200, whole JSON (' . $res->code . ')');
}
($res) = json_req('GET', '/hl/cache/ranged?raw=1', headers => [Range => 'bytes=0-0']);
check($res->code == 206 && $res->content eq 'y', 'GET ?raw=1 with a Range: 206 (' . $res->code . ')');
# Decoded once: "%2541" is the key "%41", not "A".
($res) = json_req('PUT', '/hl/cache/pct%2541', content => 'once');
(undef, $j) = json_req('GET', '/hl/cache/pct%2541');
ok t_cmp($j->{key}, 'pct%41', 'a key is percent-decoded exactly once');
# A broken escape is refused by Apache itself (400) before the module runs.
($res) = json_req('PUT', '/hl/cache/bad%zzescape', content => 'x');
ok t_cmp($res->code, 400, 'bad percent-encoding: 400');
($res) = json_req('PUT', '/hl/cache/' . ('k' x 250), content => 'x');
ok t_cmp($res->code, 201, 'a key of exactly 250 bytes is fine');
($res) = json_req('PUT', '/hl/cache/atlimit', content => 'v' x 65536);
ok t_cmp($res->code, 201, 'a value of exactly 64 KiB is fine');

# Stats.
$st = stats();
for my $k (qw(total_entries total_accesses average_accesses capacity_bytes
              bytes_used hits misses sets deletes evictions expirations
              in_flight max_concurrent rejected)) {
    die "missing $k" unless exists $st->{$k};
}
check($st->{total_entries} >= 5 && $st->{bytes_used} > 65536
      && $st->{bytes_used} <= $st->{capacity_bytes}, 'entries and bytes');
ok t_cmp($st->{average_accesses}, int($st->{total_accesses} / $st->{total_entries}),
         'average_accesses as the seed computes it');
ok t_cmp($st->{max_concurrent}, 50);
