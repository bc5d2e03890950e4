# The cache API's versions and conditional requests (RFC 9110) through
# HTTP: a strong ETag on every answer about an entry, 304 for
# If-None-Match on GET and HEAD, 412 for writes whose If-Match or
# If-None-Match fails (nothing changed), and a version seen through one
# child honoured by another.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Test qw(check check_store json_req port);
use HL::CacheAPI qw(ka_connect ka_request pid_of_connection);

plan tests => 46;

# A run meant for Redis (t/steps/redis) must not pass on shm.
check_store((json_req('GET', '/hl/cache'))[1]);

sub etag_of { my $v = shift; return qq{"$v"} }

# A set answers with its version, as a member and as the ETag header.
my ($res, $j) = json_req('PUT', '/hl/cache/v27', content => 'one');
ok t_cmp($res->code, 201, 'created');
my $v1 = $j->{version};
check($v1 && $v1 =~ /^\d+$/, 'a set tells the version');
ok t_cmp($res->header('ETag'), etag_of($v1), 'and sends it as a strong ETag');
ok t_cmp($j->{etag}, etag_of($v1), '"etag" is the header\'s text');

# GET and HEAD send it; If-None-Match that matches gets 304, no body.
($res, $j) = json_req('GET', '/hl/cache/v27');
ok t_cmp($res->header('ETag'), etag_of($v1), 'GET sends the ETag');
ok t_cmp($j->{version}, $v1, 'and the version');
($res) = json_req('HEAD', '/hl/cache/v27');
ok t_cmp($res->code, 200, 'HEAD');
ok t_cmp($res->header('ETag'), etag_of($v1), 'HEAD sends the ETag');
ok t_cmp(length($res->content), 0, 'HEAD has no body');
for my $inm (etag_of($v1), qq{W/"$v1"}, qq{"1", "$v1"}, '*') {
    ($res) = json_req('GET', '/hl/cache/v27', headers => ['If-None-Match' => $inm]);
    ok t_cmp($res->code, 304, "If-None-Match: $inm -> 304");
}
ok t_cmp($res->header('ETag'), etag_of($v1), '304 carries the ETag');
ok t_cmp(length($res->content), 0, '304 has no body');
ok t_cmp($res->header('Cache-Control'), 'no-store', '304 carries the 200\'s Cache-Control');
# A compressing filter's suffix (mod_deflate's "N-gzip") names the version too.
($res) = json_req('GET', '/hl/cache/v27', headers => ['If-None-Match' => qq{"$v1-gzip"}]);
ok t_cmp($res->code, 304, 'If-None-Match: "N-gzip" -> 304');
($res) = json_req('HEAD', '/hl/cache/v27', headers => ['If-None-Match' => etag_of($v1)]);
ok t_cmp($res->code, 304, 'HEAD with a matching If-None-Match: 304');
($res, $j) = json_req('GET', '/hl/cache/v27', headers => ['If-None-Match' => '"12345"']);
ok t_cmp($res->code, 200, 'another version: 200 with the entry');
ok t_cmp($j->{value}, 'one');
($res) = json_req('GET', '/hl/cache/v27', headers => ['If-Match' => '"12345"']);
ok t_cmp($res->code, 412, 'GET with a failing If-Match: 412');
($res) = json_req('GET', '/hl/cache/v27', headers => ['If-None-Match' => 'nonsense']);
ok t_cmp($res->code, 400, 'a malformed entity-tag list: 400');

# The same bytes written again: a new version all the same.
($res, $j) = json_req('PUT', '/hl/cache/v27', content => 'one');
my $v2 = $j->{version};
check($v2 > $v1, 'every write moves the version on');

# If-Match: a stale version is refused (412) and nothing changes.
($res, $j) = json_req('PUT', '/hl/cache/v27', content => 'lost',
                      headers => ['If-Match' => etag_of($v1)]);
ok t_cmp($res->code, 412, 'If-Match with a stale version: 412');
ok t_cmp($j->{current_version}, $v2, 'the answer tells the current version');
ok t_cmp($res->header('ETag'), etag_of($v2), 'and its ETag');
($res, $j) = json_req('GET', '/hl/cache/v27');
check($j->{value} eq 'one' && $j->{version} == $v2, 'nothing was written');
($res, $j) = json_req('POST', '/hl/cache/v27', content => 'two',
                      headers => ['If-Match' => etag_of($v2)]);
ok t_cmp($res->code, 200, 'If-Match with the current version: written');
my $v3 = $j->{version};
($res) = json_req('PUT', '/hl/cache/v27', content => 'x',
                  headers => ['If-Match' => qq{W/"$v3"}]);
ok t_cmp($res->code, 412, 'If-Match compares strongly: a weak tag never matches');

# If-None-Match: * creates only.
($res) = json_req('PUT', '/hl/cache/v27', content => 'again',
                  headers => ['If-None-Match' => '*']);
ok t_cmp($res->code, 412, 'If-None-Match: * on an existing key: 412');
json_req('DELETE', '/hl/cache/v27-new');
($res, $j) = json_req('PUT', '/hl/cache/v27-new', content => 'fresh',
                      headers => ['If-None-Match' => '*']);
ok t_cmp($res->code, 201, 'If-None-Match: * on a missing key creates it');
($res) = json_req('PUT', '/hl/cache/v27-none', content => 'x',
                  headers => ['If-Match' => '*']);
ok t_cmp($res->code, 412, 'If-Match: * on a missing key: 412');
($res) = json_req('GET', '/hl/cache/v27-none');
ok t_cmp($res->code, 404, 'and nothing was stored');

# DELETE under conditions.
($res) = json_req('DELETE', '/hl/cache/v27', headers => ['If-Match' => etag_of($v2)]);
ok t_cmp($res->code, 412, 'DELETE with a stale If-Match: 412');
($res) = json_req('GET', '/hl/cache/v27');
ok t_cmp($res->code, 200, 'the entry is still there');
($res) = json_req('DELETE', '/hl/cache/v27', headers => ['If-Match' => etag_of($v3)]);
ok t_cmp($res->code, 200, 'DELETE with the current If-Match deletes');
($res) = json_req('DELETE', '/hl/cache/v27', headers => ['If-Match' => etag_of($v3)]);
ok t_cmp($res->code, 404, 'a missing key is 404 whatever the conditions');

# Across processes: two keep-alive connections served by two different
# children; a version one of them hands out is honoured by the other.
my (@socks, %by_pid);
for (1 .. 40) {
    my $s = ka_connect(port());
    my $pid = pid_of_connection($s, '/hl');
    push @socks, $s;
    $by_pid{$pid} //= $s if $pid;
    last if keys %by_pid >= 2;
}
my @pids = sort keys %by_pid;
check(@pids >= 2, 'two connections on two different children (' . join(',', @pids) . ')');
my ($ca, $cb) = @by_pid{@pids[0, 1]};
my ($st, $h, undef, $x) = ka_request($ca, 'PUT', '/hl/cache/v27-cross', body => 'from a');
check($st && $st =~ /^20[01]$/, 'set through the first child');
my $va = $x->{version};
($st, $h) = ka_request($cb, 'GET', '/hl/cache/v27-cross',
                       headers => ['If-None-Match: ' . etag_of($va)]);
ok t_cmp($st, 304, "the other child (pid $pids[1]) answers 304 to that version");
($st, $h) = ka_request($cb, 'HEAD', '/hl/cache/v27-cross',
                       headers => ['If-None-Match: ' . etag_of($va)]);
ok t_cmp($st, 304, 'HEAD there too');
($st, $h, undef, $x) = ka_request($cb, 'PUT', '/hl/cache/v27-cross', body => 'from b',
                                  headers => ['If-Match: ' . etag_of($va)]);
ok t_cmp($st, 200, 'the other child writes with If-Match on it');
my $vb = $x->{version};
($st, $h, undef, $x) = ka_request($ca, 'PUT', '/hl/cache/v27-cross', body => 'late',
                                  headers => ['If-Match: ' . etag_of($va)]);
ok t_cmp($st, 412, 'the first child refuses the now stale version');
ok t_cmp($h->{etag}, etag_of($vb), 'and tells the one the other child wrote');
($st, $h, undef, $x) = ka_request($ca, 'GET', '/hl/cache/v27-cross');
check($st == 200 && $x->{value} eq 'from b' && $x->{version} == $vb,
      'the first child reads what the other wrote, with its version');
close $_ for @socks;
