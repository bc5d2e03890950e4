# Cross-site requests (issue 14, findings 4 and 7): a page in a browser
# must not change state through the module.  Fetch Metadata
# (Sec-Fetch-Site) decides where the browser sends it; without it, an
# Origin must be this server's own host and port or a
# HyperlaneTrustedOrigin.  Requests with neither header pass (curl).
# Also: HEAD never increments, HyperlaneIncrementPostOnly, the raw
# answer's headers, and what a set repeats of a large value.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use HL::Test qw(check json_req port);

plan tests => 58;

my $own = 'http://127.0.0.1:' . port();
sub stats { my (undef, $j) = json_req('GET', '/hl/counter/stats'); $j->{current_value} }
sub get_key { my ($res) = json_req('GET', "/hl/cache/$_[0]"); $res->code }

# A form post from another site: Content-Type text/plain, Origin elsewhere.
my ($res, $j) = json_req('POST', '/hl/cache/xs', content => 'evil',
    headers => [ 'Content-Type' => 'text/plain', Origin => 'http://evil.example' ]);
ok t_cmp($res->code, 403, 'POST with a foreign Origin: 403');
check($j && ($j->{status} // 0) == 403 && ($j->{error} // "") =~ /Cross-site/, "as JSON saying why");
ok t_cmp(get_key('xs'), 404, 'nothing stored');

my @cases = (
    [ 'Sec-Fetch-Site: cross-site', [ 'Sec-Fetch-Site' => 'cross-site' ], 403 ],
    [ 'Sec-Fetch-Site: same-site',  [ 'Sec-Fetch-Site' => 'same-site' ], 403 ],
    [ 'cross-site with this Origin', [ 'Sec-Fetch-Site' => 'cross-site',
                                       Origin => $own ], 201 ],
    [ 'Origin of another port',     [ Origin => 'http://127.0.0.1:1' ], 403 ],
    [ 'Origin null',                [ Origin => 'null' ], 403 ],
    [ 'Sec-Fetch-Site: same-origin', [ 'Sec-Fetch-Site' => 'same-origin',
                                       Origin => 'http://evil.example' ], 201 ],
    [ 'Sec-Fetch-Site: none',       [ 'Sec-Fetch-Site' => 'none' ], 201 ],
    [ 'this Origin, no metadata',   [ Origin => $own ], 201 ],
    [ 'a HyperlaneTrustedOrigin',   [ 'Sec-Fetch-Site' => 'cross-site',
                                      Origin => 'https://admin.example:443' ], 201 ],
    [ 'neither header (curl)',      [], 201 ],
);
my $n = 0;
for my $c (@cases) {
    my ($name, $headers, $want) = @$c;
    my $key = 'case' . $n++;
    ($res) = json_req('PUT', "/hl/cache/$key", content => 'v', headers => $headers);
    ok t_cmp($res->code, $want, "PUT, $name");
    ok t_cmp(get_key($key), $want == 201 ? 200 : 404, "stored only if allowed ($name)");
}

# DNS rebinding: a page of a name pointed at this server is same-origin to
# the browser; its Host says whose it is.  From a page (Fetch Metadata or
# Origin), only this server's names, an IP address or localhost are
# served, reads too; without those headers (curl) the Host is not looked at.
my $port = port();
my $rebound = "rebind.attacker.example:$port";
json_req('PUT', '/hl/cache/rb', content => 'secret');
for my $c (['GET', '/hl/counter/stats', ['Sec-Fetch-Site' => 'same-origin']],
           ['GET', '/hl/cache/rb', ['Sec-Fetch-Site' => 'same-origin']],
           ['PUT', '/hl/cache/rb', ['Sec-Fetch-Site' => 'same-origin',
                                    Origin => "http://$rebound"]],
           ['PUT', '/hl/cache/rb', [Origin => "http://$rebound"]]) {
    my ($m, $path, $h) = @$c;
    ($res, $j) = json_req($m, $path, content => 'pwned', headers => [Host => $rebound, @$h]);
    check($res->code == 421 && $j && $j->{status} == 421 && $j->{error} =~ /not a name of this server/,
          "$m $path from a rebound name: 421 JSON (" . $res->code . ')');
}
(undef, $j) = json_req('GET', '/hl/cache/rb');
ok t_cmp($j->{value}, 'secret', 'nothing was written');
for my $host ("localhost:$port", "127.0.0.1:$port", "[::1]:$port") {
    ($res) = json_req('GET', '/hl/counter/stats',
                      headers => [Host => $host, 'Sec-Fetch-Site' => 'same-origin']);
    ok t_cmp($res->code, 200, "a page at $host: served");
}
($res) = json_req('GET', '/hl/counter/stats', headers => [Host => $rebound]);
ok t_cmp($res->code, 200, 'any Host without a page\'s headers (curl): served');

# DELETE and the counter's POST are refused the same way; GET
# counter/increment stays open (the seed's contract, see README).
json_req('PUT', '/hl/cache/keep', content => 'v');
($res) = json_req('DELETE', '/hl/cache/keep', headers => [ 'Sec-Fetch-Site' => 'cross-site' ]);
ok t_cmp($res->code, 403, 'cross-site DELETE: 403');
ok t_cmp(get_key('keep'), 200, 'the entry stays');
my $before = stats();
($res) = json_req('POST', '/hl/counter/increment', content => '',
                  headers => [ 'Sec-Fetch-Site' => 'cross-site' ]);
ok t_cmp($res->code, 403, 'cross-site POST counter/increment: 403');
ok t_cmp(stats(), $before, 'no increment');
($res) = json_req('GET', '/hl/counter/increment', headers => [ 'Sec-Fetch-Site' => 'cross-site' ]);
ok t_cmp($res->code, 200, 'cross-site GET counter/increment: still served');
($res) = json_req('POST', '/hl/process', content => 'abc',
                  headers => [ 'Sec-Fetch-Site' => 'cross-site' ]);
ok t_cmp($res->code, 403, 'cross-site POST process: 403');
($res) = json_req('GET', '/hl/memory/benchmark?allocations=1&size=1',
                  headers => [ 'Sec-Fetch-Site' => 'cross-site' ]);
ok t_cmp($res->code, 403, 'cross-site GET memory/benchmark: 403 (real work)');
($res) = json_req('GET', '/hl/memory/benchmark?allocations=1&size=1',
                  headers => [ 'Sec-Fetch-Site' => 'same-origin' ]);
ok t_cmp($res->code, 200, 'same-origin GET memory/benchmark: served');

# HEAD never increments.
$before = stats();
($res) = json_req('HEAD', '/hl/counter/increment');
ok t_cmp($res->code, 405, 'HEAD counter/increment: 405');
ok t_cmp(stats(), $before, 'no increment');

# ?raw=1: the stored bytes, never sniffed into a page.
json_req('PUT', '/hl/cache/page', content => '<script>alert(1)</script>');
($res) = json_req('GET', '/hl/cache/page?raw=1');
ok t_cmp($res->code, 200, 'raw answer');
ok t_cmp($res->header('X-Content-Type-Options'), 'nosniff', 'nosniff');
ok t_cmp($res->header('Content-Disposition'), 'attachment', 'attachment');

# A set repeats at most 1 KiB of what it stored.
my $big = join '', map { chr(97 + $_ % 26) } 1 .. 5000;
($res, $j) = json_req('PUT', '/hl/cache/big', content => $big);
ok t_cmp($res->code, 201, 'a 5000-byte set');
ok t_cmp(length($j->{value}), 1024, 'the answer repeats 1024 bytes of it');
ok t_cmp($j->{value}, substr($big, 0, 1024), 'the first ones');
check($j->{value_truncated}, 'value_truncated says so');
ok t_cmp($j->{value_bytes}, 5000, 'value_bytes is the whole');
(undef, $j) = json_req('GET', '/hl/cache/big');
ok t_cmp($j->{value}, $big, 'the whole value was stored');

# HyperlaneIncrementPostOnly On: counter/increment takes POST only.
my $srv = HL::Server->new;
$srv->configure(<<'CONF');
HyperlaneIncrementPostOnly On
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
check($srv->start, 'private server with HyperlaneIncrementPostOnly On');
($res, $j) = $srv->request('GET', '/hl/counter/increment');
ok t_cmp($res->code, 405, 'GET counter/increment: 405');
ok t_cmp($res->header('Allow'), 'POST', 'Allow: POST');
($res) = $srv->request('HEAD', '/hl/counter/increment');
check($res->code == 405 && ($res->header('Allow') // '') eq 'POST',
      'HEAD: 405, Allow: POST as well (' . ($res->header('Allow') // '') . ')');
($res, $j) = $srv->request('POST', '/hl/counter/increment', content => '');
ok t_cmp($res->code, 200, 'POST counter/increment: served');
(undef, $j) = $srv->request('GET', '/hl/counter/stats');
ok t_cmp($j->{current_value}, 1, 'one increment, by POST');
check($srv->stop, 'the private server stopped');
