# HyperlaneFastPath: read-only endpoints answered in the quick handler.
# It bypasses per-directory configuration and Require by design (as the
# README says); everything else below the prefix takes the normal path.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Test qw(check json_req);

plan tests => 15;

my ($res, $j) = json_req('GET', '/fast/counter/stats');
ok t_cmp($res->code, 200, 'fast path serves counter/stats despite Require all denied');
my (undef, $normal) = json_req('GET', '/hl/counter/stats');
check($j->{current_value} == $normal->{current_value}, 'same state as the normal path');
ok t_cmp($res->header('Content-Type'), qr{^application/json});

($res) = json_req('HEAD', '/fast/counter/stats');
ok t_cmp($res->code, 200, 'HEAD on the fast path');
ok t_cmp(length $res->content, 0);

($res, $j) = json_req('GET', '/fast');
ok t_cmp($res->code, 200, 'index on the fast path');

# Not read-only: the normal path, where Require applies.
($res) = json_req('GET', '/fast/counter/increment');
ok t_cmp($res->code, 403, 'counter/increment is no fast-path endpoint: Require applies');
(undef, my $after) = json_req('GET', '/hl/counter/stats');
ok t_cmp($after->{current_value}, $normal->{current_value}, 'and nothing was incremented');
($res) = json_req('POST', '/fast/counter/stats', content => '');
ok t_cmp($res->code, 403, 'a POST is not taken by the fast path');
($res) = json_req('GET', '/fast/nope');
ok t_cmp($res->code, 403, 'an unknown path is not taken by the fast path');

# The prefix is a path prefix, not a string prefix.
($res) = json_req('GET', '/fastx/counter/stats');
ok t_cmp($res->code, 404, '/fastx is not below /fast');
check($res->header('Content-Type') !~ /json/, 'and not ours at all');

# A raw path that Apache normalises to another one is never answered here
# (the quick handler routes on the raw path, then checks it): the normal
# path takes it, where Require applies.
# The cache route takes any key, so these reach the check; %2e is a dot
# to Apache.
for my $path ('/fast/cache/x/../../counter/stats',
              '/fast/cache/x/%2e%2e/%2e%2e/counter/stats',
              '/fast/cache/x/%2E%2e/.%2E/counter/stats') {
    ($res) = json_req('GET', $path);
    ok t_cmp($res->code, 403, "$path is left to the normal path");
}
