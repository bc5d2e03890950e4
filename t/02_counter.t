# The counter and its history: values, shapes, real memory figures.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Test qw(check json_req connect_server send_request read_response
                decode_json_ok);

plan tests => 43;

my ($res, $j) = json_req('GET', '/hl/counter/stats');
ok t_cmp($res->code, 200, 'stats: 200');
my $start = $j->{current_value};
check defined $start && $start =~ /^\d+$/;
for my $k (qw(current_value history_length recent_values recent memory_usage)) {
    check exists $j->{$k};
}

# Twelve increments, by GET and by POST: consecutive values.
my @seen;
for my $i (1 .. 12) {
    my $m = $i % 2 ? 'GET' : 'POST';
    my ($r, $x) = json_req($m, '/hl/counter/increment',
                           $m eq 'POST' ? (content => 'ignored') : ());
    push @seen, $x->{counter};
}
ok t_cmp("@seen", join(' ', map { $start + $_ } 1 .. 12), 'consecutive values');

($res, $j) = json_req('GET', '/hl/counter/increment');
ok t_cmp($j->{message}, 'Counter incremented safely');
my $mi = $j->{memory_info};
check $mi->{rss_bytes} > 1024 * 1024, 'rss is a real figure';
check $mi->{peak_rss_bytes} >= $mi->{rss_bytes}, 'peak >= rss';
check $mi->{pid} > 1;
ok t_cmp($mi->{mpm}, qr/^(prefork|event|worker)$/);
check $mi->{shm_size_bytes} > 0 && $mi->{shm_used_bytes} > 0
   && $mi->{shm_used_bytes} <= $mi->{shm_size_bytes}, 'segment figures';
my $now = $start + 13;

($res, $j) = json_req('GET', '/hl/counter/stats');
ok t_cmp($j->{current_value}, $now, 'stats agree with the increments');
ok t_cmp($j->{history_length}, $now < 1000 ? $now : 1000, 'history_length = min(n, cap)');
ok t_cmp(scalar @{ $j->{recent_values} }, 10, 'ten recent values');
ok t_cmp("@{ $j->{recent_values} }", join(' ', map { $now - $_ } 0 .. 9),
         'newest first');
my $e = $j->{recent}[0];
ok t_cmp($e->{value}, $now);
ok t_cmp($e->{pid}, $mi->{pid}, 'history keeps the pid that incremented');
ok t_cmp($e->{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'time RFC 3339');
check abs($e->{time_us} / 1e6 - time) < 60, 'time is now';
check $j->{recent}[1]{time_us} <= $e->{time_us}, 'times in order';
my $mu = $j->{memory_usage};
check $mu->{rss_bytes} > 0 && $mu->{pid} > 0;

# memory_info moves with the process.  By default (HyperlaneMemoryMaxAge
# 1000) a thread's rss and peak are at most a second old, and each answer
# says how old (t/14 tests other values, 0 included).
my (@rss, @age);
for (1 .. 3) {
    my (undef, $x) = json_req('GET', '/hl/counter/increment');
    push @rss, $x->{memory_info}{shm_used_bytes};
    push @age, $x->{memory_info}{rss_age_us};
}
check $rss[2] >= $rss[0], 'used bytes grow with the history';
check(!grep({ !defined $_ || $_ < 0 || $_ > 1_000_000 } @age),
      "rss at most a second old by default: @age");
check(defined $mu->{rss_age_us} && $mu->{rss_age_us} >= 0
      && $mu->{rss_age_us} <= 1_000_000, 'and for counter/stats');

# HEAD must not increment (it shows nothing of what it did): 405.
my (undef, $b4) = json_req('GET', '/hl/counter/stats');
my ($h) = json_req('HEAD', '/hl/counter/increment');
ok t_cmp($h->code, 405, 'HEAD counter/increment: 405');
ok t_cmp($h->header('Allow'), 'GET, POST', 'with Allow');
my (undef, $af) = json_req('GET', '/hl/counter/stats');
ok t_cmp($af->{current_value}, $b4->{current_value}, 'HEAD does not increment');

# A request body is read and dropped before the increment.  On one
# connection a POST with a body and a GET after it are two increments, one
# each; a broken or oversized body is refused and counts nothing.
{
    my $sock = connect_server();
    my $sent = 0;
    send_request($sock, 'POST', '/hl/counter/increment', length => 5,
                 next => sub { return $sent++ ? undef : 'hello' });
    my ($s1, undef, $body1) = read_response($sock, 30);
    send_request($sock, 'GET', '/hl/counter/increment');
    my ($s2, undef, $body2) = read_response($sock, 30);
    close $sock;
    ok t_cmp(($s1 // 'none') . ' ' . ($s2 // 'none'), '200 200',
             'a POST with a body, then a GET, on one connection');
    my ($j1, $j2) = (decode_json_ok($body1 // ''), decode_json_ok($body2 // ''));
    ok t_cmp($j1 && $j2 ? $j2->{counter} - $j1->{counter} : 'no answer', 1,
             'each counted once');
}
# A connection that asks for the stats again gets its last answer's text
# again while nothing changed, with the memory reading's new age; an
# increment made elsewhere shows in the next answer on that connection.
{
    my $sock = connect_server();
    my @got;
    for my $step (1 .. 4) {
        json_req('GET', '/hl/counter/increment') if $step == 3;
        send_request($sock, 'GET', '/hl/counter/stats');
        my ($status, undef, $body) = read_response($sock, 30);
        push @got, ($status // 0) == 200 ? decode_json_ok($body // '') : undef;
    }
    # Increments on the same connection: their own values, and figures.
    my @inc;
    for (1 .. 3) {
        send_request($sock, 'GET', '/hl/counter/increment');
        my ($status, undef, $body) = read_response($sock, 30);
        push @inc, ($status // 0) == 200 ? decode_json_ok($body // '') : undef;
    }
    close $sock;
    my @c = map { $_ ? $_->{counter} : 'none' } @inc;
    ok t_cmp("@c[1, 2]", join(' ', $c[0] + 1, $c[0] + 2),
             'increments again on one connection: consecutive');
    my @mi = map { $_ ? $_->{memory_info} : {} } @inc;
    check(!grep({ keys(%$_) != 9 || ($_->{rss_bytes} // 0) < 1024 * 1024
                  || ($_->{rss_age_us} // -1) < 0 || ($_->{rss_age_us} // 0) > 1_000_000
                  || ($_->{store} // '') ne 'shm' } @mi),
          'with their memory figures each time');
    my @v = map { $_ ? $_->{current_value} : 'none' } @got;
    ok t_cmp("$v[1] $v[2] $v[3]", join(' ', $v[0], $v[0] + 1, $v[0] + 1),
             'stats again on one connection: the same, then the increment');
    ok t_cmp($got[2] ? $got[2]{recent}[0]{value} : 'none', $v[0] + 1,
             'with its history entry');
    my @age = map { $_ ? $_->{memory_usage}{rss_age_us} : -1 } @got;
    check(!grep({ $_ < 0 || $_ > 1_000_000 } @age), "and a real age each time: @age");
}

sub value_now {
    my (undef, $x) = json_req('GET', '/hl/counter/stats');
    return $x->{current_value};
}
{
    my $before = value_now();
    my $sock = connect_server();
    syswrite $sock, "POST /hl/counter/increment HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  . "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n";
    my ($status, $h, $body) = read_response($sock, 30);
    close $sock;
    ok t_cmp($status, 400, 'a broken chunked body: 400');
    my $e = defined $body ? eval { decode_json_ok($body) } : undef;
    check($e && $e->{status} == 400 && ($h->{'content-type'} // '') =~ /json/,
          'in JSON, though Apache refused it while the body was dropped');
    ok t_cmp(value_now(), $before, 'and no increment');
}
{
    my $before = value_now();
    my ($r, $e) = json_req('POST', '/hl-limited/counter/increment', content => 'x' x 5000);
    ok t_cmp($r->code, 413, 'a body over LimitRequestBody: 413');
    check($e && $e->{status} == 413 && $e->{error} =~ /1000 bytes/, 'in JSON');
    ok t_cmp(value_now(), $before, 'and no increment');
}
