# HTTP behaviour of the mount: JSON errors, methods, HEAD, mounts, Require.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Test qw(check json_req);

plan tests => 32;

my ($res, $j);

# The mount point itself lists the endpoints.
($res, $j) = json_req('GET', '/hl');
ok t_cmp($res->code, 200, 'GET mount: 200');
ok t_cmp($res->header('Content-Type'), qr{^application/json}, 'JSON content type');
check ref $j->{endpoints} eq 'ARRAY' && grep { $_ eq 'counter/increment' } @{ $j->{endpoints} };

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
($res) = json_req('GET', '/hl-private/counter/stats');
ok t_cmp($res->code, 403, 'Require all denied: 403');
my (undef, $after) = json_req('GET', '/hl/counter/stats');
($res) = json_req('GET', '/hl-private/counter/increment');
my (undef, $after2) = json_req('GET', '/hl/counter/stats');
ok t_cmp($after2->{current_value}, $after->{current_value},
         'a denied increment changes nothing');

# Every JSON answer says so, and is never cached.
($res, $j) = json_req('GET', '/hl/counter/stats');
ok t_cmp($res->header('Cache-Control'), 'no-store');
