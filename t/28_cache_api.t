# The cache API through HTTP: per-key TTL (?ttl=, the remaining lifetime,
# Expires on raw answers, cache-ttl/ touches), atomic add (cache-add/),
# bulk get and set (cache-bulk/), and listing (GET cache?prefix=&limit=
# &cursor=); every bad input refused with JSON and nothing stored.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Test qw(check check_store json_req);
use HTTP::Date qw(str2time);
use JSON::PP ();
use Time::HiRes qw(sleep time);

plan tests => 105;

# A run meant for Redis (t/steps/redis) must not pass on shm.
check_store((json_req('GET', '/hl/cache'))[1]);

my $json = JSON::PP->new->utf8->canonical;

# ---- per-key TTL ----
my ($res, $j) = json_req('PUT', '/hl/cache/t28-ttl?ttl=100', content => 'x');
ok t_cmp($res->code, 201, 'a set with ?ttl=');
check($j->{ttl_seconds} == 100, "the answer tells the lifetime ($j->{ttl_seconds})");
($res, $j) = json_req('GET', '/hl/cache/t28-ttl');
check($j->{ttl_seconds} > 90 && $j->{ttl_seconds} <= 100, 'GET tells what is left');
check($j->{expires_in_seconds} > 90 && $j->{expires_in_seconds} <= 100,
      'expires_in_seconds agrees');
($res) = json_req('GET', '/hl/cache/t28-ttl?raw=1');
my $expires = str2time($res->header('Expires') // '');
check($expires && abs($expires - (time + 100)) < 15, 'raw answers send Expires');
($res, $j) = json_req('PUT', '/hl/cache/t28-forever?ttl=0', content => 'f');
ok t_cmp($res->code, 201);
check(exists $j->{ttl_seconds} && !defined $j->{ttl_seconds}, 'ttl=0: never expires (null)');
($res) = json_req('GET', '/hl/cache/t28-forever?raw=1');
check(!defined $res->header('Expires'), 'and no Expires');
($res, $j) = json_req('PUT', '/hl/cache/t28-default', content => 'd');
check($j->{ttl_seconds} > 3500, 'no ttl: HyperlaneCacheTTL');
($res, $j) = json_req('PUT', '/hl/cache/t28-short?ttl=1', content => 's');
ok t_cmp($res->code, 201);
sleep 2.2;
($res) = json_req('GET', '/hl/cache/t28-short');
ok t_cmp($res->code, 404, 'a one-second entry is gone after two');
for my $bad ('ttl=-1', 'ttl=abc', 'ttl=', 'ttl=315360001', 'ttl=1&ttl=2') {
    ($res, $j) = json_req('PUT', "/hl/cache/t28-bad?$bad", content => 'no');
    check($res->code == 400 && $j->{status} == 400 && $j->{error} =~ /ttl/,
          "$bad: 400 JSON");
}
($res) = json_req('GET', '/hl/cache/t28-bad');
ok t_cmp($res->code, 404, 'nothing stored by a refused set');

# ---- touch ----
($res, $j) = json_req('GET', '/hl/cache/t28-ttl');
my $version = $j->{version};
($res, $j) = json_req('POST', '/hl/cache-ttl/t28-ttl?ttl=5000');
ok t_cmp($res->code, 200, 'touch');
check($j->{ttl_seconds} == 5000 && $j->{version} == $version,
      'a new lifetime, the same version');
($res, $j) = json_req('GET', '/hl/cache/t28-ttl');
check($j->{value} eq 'x' && $j->{ttl_seconds} > 4900, 'the value kept, the lifetime changed');
($res, $j) = json_req('POST', '/hl/cache-ttl/t28-ttl?ttl=0');
check($res->code == 200 && !defined $j->{ttl_seconds}, 'touch to never expire');
($res) = json_req('POST', '/hl/cache-ttl/t28-nothing?ttl=5');
ok t_cmp($res->code, 404, 'touching a missing key: 404');
($res) = json_req('POST', '/hl/cache-ttl/t28-ttl');
ok t_cmp($res->code, 400, 'touch without ttl: 400');
($res) = json_req('POST', '/hl/cache-ttl/t28-ttl?ttl=5',
                  headers => ['If-Match' => '"1"']);
ok t_cmp($res->code, 412, 'touch honours If-Match');
($res) = json_req('GET', '/hl/cache-ttl/t28-ttl?ttl=5');
ok t_cmp($res->code, 405, 'touch takes POST only');

# ---- atomic add ----
json_req('DELETE', '/hl/cache/t28-n');
($res) = json_req('POST', '/hl/cache-add/t28-n?by=5');
ok t_cmp($res->code, 404, 'add to a missing key without init: 404');
($res, $j) = json_req('POST', '/hl/cache-add/t28-n?by=5&init=10&ttl=600');
ok t_cmp($res->code, 201, 'add with init creates');
check($j->{value} == 15 && $j->{created} && $j->{ttl_seconds} == 600, 'init + by, with its ttl');
($res, $j) = json_req('POST', '/hl/cache-add/t28-n?by=-20&init=0');
ok t_cmp($res->code, 200);
check($j->{value} == -5 && !$j->{created} && $j->{ttl_seconds} <= 600,
      'adds to the value, keeps the lifetime');
($res, $j) = json_req('POST', '/hl/cache-add/t28-n');
ok t_cmp($j->{value}, -4, 'by defaults to 1');
($res, $j) = json_req('GET', '/hl/cache/t28-n');
ok t_cmp($j->{value}, '-4', 'the entry holds the decimal text');
json_req('PUT', '/hl/cache/t28-text', content => 'abc');
($res, $j) = json_req('GET', '/hl/cache/t28-text');
my $tv = $j->{version};
($res, $j) = json_req('POST', '/hl/cache-add/t28-text?by=1');
ok t_cmp($res->code, 409, 'add to a non-integer: 409');
check($j->{status} == 409 && $j->{error} =~ /integer/, '409 JSON says why');
($res, $j) = json_req('GET', '/hl/cache/t28-text');
check($j->{value} eq 'abc' && $j->{version} == $tv, 'nothing changed');
json_req('PUT', '/hl/cache/t28-big', content => '9223372036854775807');
($res, $j) = json_req('POST', '/hl/cache-add/t28-big?by=1');
ok t_cmp($res->code, 409, 'an overflow: 409');
($res, $j) = json_req('GET', '/hl/cache/t28-big');
ok t_cmp($j->{value}, '9223372036854775807', 'nothing changed');
for my $bad ('by=x', 'by=1.5', 'by=9223372036854775808', 'init=', 'ttl=-3') {
    ($res) = json_req('POST', "/hl/cache-add/t28-n?$bad");
    ok t_cmp($res->code, 400, "add ?$bad: 400");
}
($res, $j) = json_req('GET', '/hl/cache/t28-n');
ok t_cmp($j->{value}, '-4', 'refused adds changed nothing');

# ---- add under If-Match / If-None-Match, as the other writes ----
($res, $j) = json_req('PUT', '/hl/cache/t28-cnt', content => '10');
my $stale = $j->{version};
($res, $j) = json_req('PUT', '/hl/cache/t28-cnt?ttl=600', content => '10');
my $cv = $j->{version};
($res, $j) = json_req('POST', '/hl/cache-add/t28-cnt?by=5',
                      headers => ['If-Match' => qq{"$stale"}]);
ok t_cmp($res->code, 412, 'add with a stale If-Match: 412');
ok t_cmp($j->{current_version}, $cv, 'the answer tells the current version');
ok t_cmp($res->header('ETag'), qq{"$cv"}, 'and its ETag');
($res, $j) = json_req('GET', '/hl/cache/t28-cnt');
check($j->{value} eq '10' && $j->{version} == $cv && $j->{ttl_seconds} > 500,
      'a refused add changed nothing: value, version, lifetime');
($res, $j) = json_req('POST', '/hl/cache-add/t28-cnt?by=5',
                      headers => ['If-Match' => qq{"$cv"}]);
ok t_cmp($res->code, 200, 'add with the current If-Match: added');
check($j->{value} == 15 && $j->{version} > $cv, 'the sum, with a new version');
($res) = json_req('POST', '/hl/cache-add/t28-cnt?by=1&init=0',
                  headers => ['If-None-Match' => '*']);
ok t_cmp($res->code, 412, 'add with If-None-Match: * on an existing key: 412');
json_req('DELETE', '/hl/cache/t28-cnew');
($res, $j) = json_req('POST', '/hl/cache-add/t28-cnew?by=2&init=0',
                      headers => ['If-None-Match' => '*']);
ok t_cmp($res->code, 201, 'If-None-Match: * on a missing key creates it');
ok t_cmp($j->{value}, 2, 'from init');
json_req('DELETE', '/hl/cache/t28-cnone');
($res) = json_req('POST', '/hl/cache-add/t28-cnone?by=1&init=0',
                  headers => ['If-Match' => '*']);
ok t_cmp($res->code, 412, 'add with If-Match: * on a missing key: 412');
($res) = json_req('GET', '/hl/cache/t28-cnone');
ok t_cmp($res->code, 404, 'and nothing was created');
($res, $j) = json_req('POST', '/hl/cache-add/t28-cnt?by=1',
                      headers => ['If-Match' => 'garbage']);
check($res->code == 400 && $j->{status} == 400, 'a malformed If-Match: 400 JSON');
($res, $j) = json_req('GET', '/hl/cache/t28-cnt');
ok t_cmp($j->{value}, '15', 'refused conditional adds changed nothing');

# ---- bulk ----
my $body = $json->encode({ ttl => 300, items => [
    { key => 't28-b1', value => 'one' },
    { key => 't28-b2', value => "two \x{e9}", ttl => 0 },
    { key => 't28-b3', value => 'three', if_none_match => '*' } ] });
($res, $j) = json_req('POST', '/hl/cache-bulk/set', content => $body);
ok t_cmp($res->code, 200, 'bulk set');
check($j->{count} == 3 && $j->{succeeded} == 3 && $j->{failed} == 0, 'all three stored');
my %r = map { $_->{key} => $_ } @{ $j->{results} };
check($r{'t28-b1'}{status} == 201 && $r{'t28-b1'}{ttl_seconds} == 300
      && !defined $r{'t28-b2'}{ttl_seconds}, 'per key: status, lifetime');
my $v1 = $r{'t28-b1'}{version};
$body = $json->encode({ items => [
    { key => 't28-b1', value => 'uno', if_match => $v1 },
    { key => 't28-b3', value => 'tres', if_none_match => '*' },
    { key => 't28-b4', value => 'four', if_match => qq{"$v1"} } ] });
($res, $j) = json_req('POST', '/hl/cache-bulk/set', content => $body);
%r = map { $_->{key} => $_ } @{ $j->{results} };
check($r{'t28-b1'}{status} == 200 && $r{'t28-b1'}{stored}, 'a per-key If-Match that holds');
check($r{'t28-b3'}{status} == 412 && !$r{'t28-b3'}{stored}, 'if_none_match * on an existing key: 412');
check($r{'t28-b4'}{status} == 412 && !defined $r{'t28-b4'}{current_version},
      'if_match on a missing key: 412');
check($j->{succeeded} == 1 && $j->{failed} == 2, 'counted');
$body = $json->encode({ keys => ['t28-b1', 't28-b2', 't28-b3', 't28-b4', "t28-\x{e9}"] });
($res, $j) = json_req('POST', '/hl/cache-bulk/get', content => $body);
ok t_cmp($res->code, 200, 'bulk get');
%r = map { $_->{key} => $_ } @{ $j->{results} };
check($r{'t28-b1'}{found} && $r{'t28-b1'}{value} eq 'uno', 'values');
check($r{'t28-b2'}{value} eq "two \x{e9}", 'UTF-8 strings');
check($r{'t28-b3'}{value} eq 'three', 'the refused write changed nothing');
check(!$r{'t28-b4'}{found} && $r{'t28-b4'}{status} == 404, 'a missing key: 404 in its result');
check($j->{succeeded} == 3 && $j->{failed} == 2, 'hits and misses counted');
($res, $j) = json_req('GET', '/hl/cache/t28-b1');
ok t_cmp($j->{value}, 'uno', 'bulk writes are the single-key entries');
# An answer far larger than its request (one value of 64 KiB of control
# bytes, each written as six, named 100 times: 39 MB) goes out as it is
# written, without a Content-Length, instead of being built whole in the
# worker; a small one keeps its Content-Length.
json_req('PUT', '/hl/cache/t28-wide', content => "\x01" x 65536);
($res, $j) = json_req('POST', '/hl/cache-bulk/get',
                      content => $json->encode({ keys => [('t28-wide') x 100] }));
check($res->code == 200 && !defined $res->header('Content-Length')
      && length($res->content) > 100 * 6 * 65536, 'a 39 MB bulk answer is streamed');
check($j && $j->{succeeded} == 100
      && 100 == grep({ $_->{value} eq "\x01" x 65536 } @{ $j->{results} }),
      'and whole: every value');
($res) = json_req('POST', '/hl/cache-bulk/get', content => $json->encode({ keys => ['t28-b1'] }));
check(($res->header('Content-Length') // -1) == length($res->content), 'a short one has its length');
for my $bad ('', 'not json', '{"keys": []}', '{"items": [{"key": "t28-bad", "value": "v"}]}x',
             '{"items": [{"key": "t28-bad", "value": "v", "colour": 1}]}',
             '{"items": [{"key": "t28-bad", "value": "v"}, {"key": "", "value": "v"}]}',
             '{"items": [{"key": "t28-bad", "value": "v", "ttl": -1}]}',
             # json-c's strict mode reads these; the module refuses them.
             "{'items': [{\"key\": \"t28-bad\", \"value\": \"v\"}]}",
             qq({"items": [{"key": "t28-bad", "value": "a\tb"}]}),
             '{"items": [{"key": "t28-bad", "value": "\ud800"}]}') {
    ($res, $j) = json_req('POST', '/hl/cache-bulk/set', content => $bad);
    check($res->code == 400 && $j && $j->{status} == 400, "bad body '$bad': 400 JSON");
}
($res) = json_req('GET', '/hl/cache/t28-bad');
ok t_cmp($res->code, 404, 'nothing of a refused bulk body was stored');
($res, $j) = json_req('POST', '/hl/cache-bulk/get',
                      content => $json->encode({ keys => [map { "k$_" } 1 .. 101] }));
check($res->code == 400 && $j->{error} =~ /1 to 100/, 'more keys than HyperlaneCacheBulkMaxKeys: 400');
($res, $j) = json_req('POST', '/hl/cache-bulk/set',
                      content => '{"items": [{"key": "t28-huge", "value": "' . ('x' x (1100 * 1024)) . '"}]}');
ok t_cmp($res->code, 413, 'a body over HyperlaneCacheBulkMaxBody: 413');
($res) = json_req('GET', '/hl/cache/t28-huge');
ok t_cmp($res->code, 404, 'nothing stored');

# ---- listing ----
json_req('PUT', "/hl/cache/t28-list:$_", content => "v$_") for 1 .. 25;
my %seen;
my ($pages, $cursor, $over) = (0, undef, 0);
do {
    my $q = '/hl/cache?prefix=t28-list%3A&limit=4' . (defined $cursor ? "&cursor=$cursor" : '');
    ($res, $j) = json_req('GET', $q);
    $over++ if $res->code != 200 || @{ $j->{keys} } > 4;
    $seen{$_->{key}}++ for @{ $j->{keys} };
    $cursor = $j->{next_cursor};
    $pages++;
} while (defined $cursor && $pages < 1000);
ok t_cmp($over, 0, 'no page over its limit');
ok t_cmp(scalar(keys %seen), 25, 'every key listed');
check(!grep({ $_ != 1 } values %seen), 'each once');
check($pages >= 7, "in pages ($pages)");
# Every page of a listing with the prefix (percent-encoded): its items;
# $j is left with the last page.
sub list_prefix {
    my ($prefix) = @_;
    my ($list_cursor, $list_pages, @found) = (undef, 0);
    do {
        ($res, $j) = json_req('GET', "/hl/cache?prefix=$prefix"
                                     . (defined $list_cursor ? "&cursor=$list_cursor" : ''));
        push @found, @{ $j->{keys} };
        $list_cursor = $j->{next_cursor};
    } while (defined $list_cursor && ++$list_pages < 1000);
    return @found;
}
# One key under its prefix: the pages before it may be empty (a page looks
# at a bounded part of the table), the last one says the scan is complete.
my @items = list_prefix('t28-list%3A7');
my ($item) = @items;
check(@items == 1 && $item->{key} eq 't28-list:7' && $item->{value_bytes} == 2
      && $item->{version} > 0 && $item->{ttl_seconds} > 3000
      && !exists $item->{key_escaped},
      'an item: key, size, version, remaining ttl');
check($j->{complete} && exists $j->{next_cursor} && !defined $j->{next_cursor},
      'a complete scan ends without a cursor');
# A key that is not UTF-8 is listed with U+FFFD in "key", and exactly in
# key_escaped, which names it as a path does.
json_req('PUT', '/hl/cache/t28-bin:%FF%20%C3%A9', content => 'bin');
@items = list_prefix('t28-bin%3A');
($item) = @items;
check(@items == 1 && $item->{key} eq "t28-bin:\x{FFFD} \x{E9}"
      && ($item->{key_escaped} // '') eq 't28-bin%3A%FF%20%C3%A9',
      'a key that is not UTF-8: key_escaped ' . ($item->{key_escaped} // 'missing'));
($res) = json_req('GET', '/hl/cache/' . ($item->{key_escaped} // 'none') . '?raw=1');
check($res->code == 200 && $res->content eq 'bin', 'which reads the entry back');
($res, $j) = json_req('HEAD', '/hl/cache?prefix=t28');
ok t_cmp($res->code, 200, 'HEAD of a listing');
# A page past 64 KiB goes out as it is written; its HEAD says its length.
for my $n (0 .. 5) {
    json_req('POST', '/hl/cache-bulk/set', content => $json->encode({ ttl => 0,
        items => [map { { key => sprintf('t28-wide:%03d:', 100 * $n + $_) . ('w' x 237),
                          value => 'v' } } 0 .. 99] }));
}
my ($page) = json_req('GET', '/hl/cache?prefix=t28-wide%3A&limit=1000');
my ($head) = json_req('HEAD', '/hl/cache?prefix=t28-wide%3A&limit=1000');
check($page->code == 200 && length($page->content) > 65536
      && !defined $page->header('Content-Length'),
      'a listing page of ' . length($page->content) . ' bytes, streamed');
check($head->code == 200 && ($head->header('Content-Length') // -1) == length($page->content),
      'its HEAD: Content-Length ' . ($head->header('Content-Length') // 'none'));
for my $bad ('limit=0', 'limit=1001', 'limit=x', 'cursor=bogus', 'prefix=%zz') {
    ($res, $j) = json_req('GET', "/hl/cache?$bad");
    check($res->code == 400 && $j->{status} == 400, "listing ?$bad: 400");
}
($res, $j) = json_req('GET', '/hl/cache');
check(exists $j->{total_entries} && exists $j->{hits} && !exists $j->{keys},
      'GET cache without a listing query: the statistics as before');
