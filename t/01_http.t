# HTTP behaviour of the mount: JSON errors, methods, HEAD, mounts, Require.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Test qw(check json_req connect_server read_response decode_json_ok);

plan tests => 56;

my ($res, $j);

# The mount point itself lists the endpoints.
($res, $j) = json_req('GET', '/hl');
ok t_cmp($res->code, 200, 'GET mount: 200');
ok t_cmp($res->header('Content-Type'), qr{^application/json}, 'JSON content type');
check ref $j->{endpoints} eq 'ARRAY' && grep { $_ eq 'counter/increment' } @{ $j->{endpoints} };
# A prefix endpoint is listed with its rest named as the README names it.
check ref $j->{endpoints} eq 'ARRAY'
    && 2 == grep({ $_ eq 'cache/{key}' || $_ eq 'dashboard/{file}' } @{ $j->{endpoints} }),
    'cache/{key} and dashboard/{file} listed';

# Unknown path below the mount: 404 JSON {"error", "status"}.
for my $path ('/hl/nope', '/hl/counter', '/hl/counter/increment/x', '/hl/counter/statsx') {
    ($res, $j) = json_req('GET', $path);
    ok t_cmp($res->code, 404, "404 for $path");
    check $j && $j->{status} == 404 && length $j->{error};
}
ok t_cmp($res->header('Content-Type'), qr{^application/json}, '404 is JSON');

# Wrong method: 405, Allow, JSON of the same shape.
($res, $j) = json_req('POST', '/hl/counter/stats', content => '');
ok t_cmp($res->code, 405, 'POST counter/stats: 405');
ok t_cmp($res->header('Allow'), 'GET, HEAD', 'Allow header');
check $j && $j->{status} == 405 && $j->{error} =~ /POST/;
($res, $j) = json_req('DELETE', '/hl/counter/increment');
ok t_cmp($res->code, 405, 'DELETE counter/increment: 405');
ok t_cmp($res->header('Allow'), 'GET, POST', 'no HEAD where GET increments');
ok t_cmp($res->header('Content-Type'), qr{^application/json});

# HEAD on every GET endpoint: same status and type, no body.
for my $path ('/hl', '/hl/counter/stats') {
    ($res) = json_req('HEAD', $path);
    ok t_cmp($res->code, 200, "HEAD $path");
    ok t_cmp($res->header('Content-Type'), qr{^application/json});
    ok t_cmp(length($res->content), 0, 'HEAD has no body');
}
($res) = json_req('HEAD', '/hl/nope');
ok t_cmp($res->code, 404, 'HEAD of an unknown path: 404');

# Two mounts serve the same state.
my (undef, $a) = json_req('GET', '/hl/counter/increment');
my (undef, $b) = json_req('GET', '/api/v2/state/counter/increment');
ok t_cmp($b->{counter}, $a->{counter} + 1, 'second mount shares the counter');
($res, $j) = json_req('GET', '/api/v2/state/counter/stats');
ok t_cmp($j->{current_value}, $b->{counter}, 'stats at the second mount');

# A nested <Location> under the mount keeps routes relative to the mount.
($res, $j) = json_req('GET', '/hl/counter/stats');
ok t_cmp($res->code, 200, 'nested Location still routes');
ok t_cmp($res->header('X-Hyperlane-Nested'), 'yes', 'nested section applied');

# Require inside the Location is Apache's, and applies.
($res, $j) = json_req('GET', '/hl-private/counter/stats');
ok t_cmp($res->code, 403, 'Require all denied: 403');
check($j && $j->{status} == 403 && $res->header('Content-Type') =~ m{^application/json},
      'in JSON, though the route was known before Require ran');
my (undef, $after) = json_req('GET', '/hl/counter/stats');
($res) = json_req('GET', '/hl-private/counter/increment');
my (undef, $after2) = json_req('GET', '/hl/counter/stats');
ok t_cmp($after2->{current_value}, $after->{current_value},
         'a denied increment changes nothing');

# Every JSON answer says so, and is never cached.
($res, $j) = json_req('GET', '/hl/counter/stats');
ok t_cmp($res->header('Cache-Control'), 'no-store');

# What Apache refuses before the module runs is JSON too below a mount;
# elsewhere Apache's own page stays.
sub raw {
    my ($head) = @_;
    my $sock = connect_server();
    print $sock $head;
    my ($status, $h, $body) = read_response($sock, 30);
    close $sock;
    return ($status // 'none', $h->{'content-type'} // '', $body // '');
}
my ($st, $type, $body) = raw("PUT /hl/cache/early-k HTTP/1.1\r\nHost: x\r\n"
                             . "Content-Length: 12x\r\n\r\nhello");
ok t_cmp("$st $type", '400 application/json', 'a Content-Length that does not parse: 400 JSON');
$j = decode_json_ok($body);
check $j && $j->{status} == 400 && $j->{error} =~ /^Bad Request: refused by Apache/,
      "with a message: $body";
($res) = json_req('GET', '/hl/cache/early-k');
ok t_cmp($res->code, 404, 'and nothing stored');
($st, $type, $body) = raw("GET /hl/cache/%zz HTTP/1.1\r\nHost: x\r\n\r\n");
ok t_cmp("$st $type", '400 application/json', 'a broken %-escape below the mount: 400 JSON');
$j = decode_json_ok($body);
check $j && $j->{status} == 400;
($st, $type) = raw("GET /hl/counter/stats HTTP/1.1\r\nHost: x\r\nX-Big: "
                   . ('a' x 9000) . "\r\n\r\n");
ok t_cmp("$st $type", '400 application/json', 'a header field too large: 400 JSON');
($st, $type) = raw("PUT /not-hyperlane/x HTTP/1.1\r\nHost: x\r\nContent-Length: 12x\r\n\r\n");
ok t_cmp("$st $type", qr{^400 text/html}, 'outside the mounts Apache answers as before');
($st, $type) = raw("GET /hl/nope%zz HTTP/1.1\r\nHost: x\r\n\r\n");
ok t_cmp("$st $type", '400 application/json',
         'anywhere below a mount, as its unknown paths are 404 JSON');

# The tests read every answer through json-c (HL::JSON); what json-c's
# strict mode or the tool refuses must come back undef, with a reason.
use HL::JSON ();
my ($real) = json_req('GET', '/hl/counter/stats');
my $s = HL::JSON::decode($real->content);
check ref $s eq 'HASH' && $s->{current_value} =~ /^\d+$/, 'a real answer decodes';
check HL::JSON::decode("{\"k\":\"\x{c3}\x{a9}\\u00e9\",\"t\":true,\"n\":null,\"d\":[2.50,-1]}")
      ->{k} eq "\x{e9}\x{e9}", 'strings come back as characters';
for (['{"a":1} x', 'text after the value'], ['{"a":1', 'a truncated value'],
     ["{\"a\":\"\xff\"}", 'bytes that are not UTF-8'], ['{"a":NaN}', 'NaN'],
     ['{"a":1,}', 'a trailing comma'], ['7', 'a bare number'],
     # What json-c's strict mode lets through; the tool refuses it.
     ["{\"a\":\"\x01\"}", 'a control character in a string'],
     ['{"a":"\ud800"}', 'an unpaired surrogate escape'],
     ["{\"a\":\"\xed\xa0\x80\"}", 'a surrogate encoded in UTF-8'],
     ['{"a":99999999999999999999}', 'an integer past 64 bits'],
     ["{'a':1}", 'a single-quoted key'], ['{"a":-01}', 'a leading zero']) {
    my ($text, $what) = @$_;
    check !defined HL::JSON::decode($text) && length($HL::JSON::error // ''),
          "HL::JSON refuses $what";
}
