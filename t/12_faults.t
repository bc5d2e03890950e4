# Faults: children SIGKILLed while clients hammer the counter and the
# cache, bodies that stop or trickle, far more keys than the cache holds,
# and random bytes in keys, query strings and bodies.  The server keeps
# answering, nothing deadlocks, and no state is corrupted.
#
# The counter's bound: a killed child takes with it the requests it had in
# flight; each of those got no answer, and each may or may not have
# counted.  So 2xx answers <= counter growth <= 2xx answers + unanswered.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Test qw(check json_req hammer httpd_pid connect_server send_request
                read_response decode_json_ok children_of);
use HL::Server;
use Time::HiRes qw(sleep time);

plan tests => 21;

# --- SIGKILL children under load ------------------------------------------
my (undef, $before) = json_req('GET', '/hl/counter/stats');
my $parent = httpd_pid();
my @runs;
for my $job (['GET', '/hl/counter/increment', undef],
             ['PUT', '/hl/cache/fault-key', 'v' x 100]) {
    pipe(my $r, my $w) or die;
    my $pid = fork() // die;
    if (!$pid) {
        close $r;
        my $n = hammer(clients => 10, total => 30_000, method => $job->[0],
                       path => $job->[1], body => $job->[2], seconds => 60);
        print $w join(' ', map { "$_=$n->{$_}" } sort keys %$n), "\n";
        close $w;
        require POSIX; POSIX::_exit(0);
    }
    close $w;
    push @runs, [$pid, $r];
}
my $killed = 0;
for (1 .. 6) {
    sleep 0.3;
    my @kids = children_of($parent);
    next unless @kids;
    $killed += kill 'KILL', $kids[rand @kids];
}
my @n;
for (@runs) {
    my ($pid, $r) = @$_;
    my %n;
    my $line = <$r> // '';
    $n{$1} = $2 while $line =~ /(\w+)=(\d+)/g;
    waitpid($pid, 0);
    push @n, \%n;
}
my ($inc, $set) = @n;
t_debug("killed $killed children; increments: ok=$inc->{ok} none=$inc->{none} "
        . "other=$inc->{other}; sets: ok=$set->{ok} none=$set->{none} other=$set->{other}");
check($killed >= 3, "children were killed ($killed)");
check($inc->{ok} > 1000 && $set->{ok} > 1000, 'clients kept getting answers');
ok t_cmp($inc->{other}, 0, 'no error answers to increments');
ok t_cmp($set->{other}, 0, 'no error answers to cache sets');

my $t0 = time;
my ($res, $after) = json_req('GET', '/hl/counter/stats');
ok t_cmp($res->code, 200, 'the server answers after the kills');
t_debug("the answer was:\n" . $res->as_string) unless $res->code == 200;
check(time - $t0 < 5, 'promptly: nothing deadlocked');
my $grew = $after->{current_value} - $before->{current_value};
t_debug("counter grew by $grew");
check($grew >= $inc->{ok}, 'no answered increment was lost');
check($grew <= $inc->{ok} + $inc->{none}, 'within the bound of unanswered requests');
ok t_cmp("@{ $after->{recent_values} }",
         join(' ', map { $after->{current_value} - $_ } 0 .. 9), 'history consistent');

($res, my $j) = json_req('PUT', '/hl/cache/after-kill', content => 'still fine');
ok t_cmp($res->code, 201, 'the cache takes sets after the kills');
(undef, $j) = json_req('GET', '/hl/cache/fault-key');
ok t_cmp($j->{value}, 'v' x 100, 'and holds an intact value');
(undef, $j) = json_req('GET', '/hl/cache');
check($j->{bytes_used} <= $j->{capacity_bytes} && $j->{total_entries} >= 2,
      "cache statistics sane (recoveries: $j->{recoveries}, healed: $j->{healed})");

# --- bodies that stop or trickle, on a server with a short Timeout ---------
my $srv = HL::Server->new;
$srv->configure(<<'CONF');
Timeout 2
LogLevel notice hyperlane:info
HyperlaneCacheSize 64K
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
$srv->start;
{
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port)
        or die "connect: $!";
    print $sock "POST /hl/process HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
              . ('x' x 10);
    my $t = time;
    my ($status, $h, $body) = read_response($sock, 15);
    my $j = decode_json_ok($body // '');
    check(defined $status && $status == 408 && $j && $j->{status} == 408 && time - $t < 10,
          'a body that stops: 408 JSON after the Timeout (' . ($status // 'none') . ')');
    # A client's doing: at info, under the module's name (LogLevel
    # hyperlane:info shows it, Debian's warn does not).
    my $lines = () = $srv->log =~ /\[hyperlane:info\].*request body ended after 10 bytes/g;
    ok t_cmp($lines, 1, 'one log line says so, at the module\'s info');
}
{
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port)
        or die "connect: $!";
    my $body = join '', map { chr(65 + $_ % 26) } 0 .. 1999;
    print $sock "POST /hl/process HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n";
    for my $i (0 .. 19) {            # 100 bytes every 0.1 s, within Timeout
        syswrite $sock, substr($body, $i * 100, 100);
        sleep 0.1;
    }
    my ($status, $h, $out) = read_response($sock, 15);
    my $j = decode_json_ok($out);
    my $c = 0;
    for my $b (map { ord } split //, $body) {
        my $t = ($c + $b) & 0xFFFFFFFF;
        $c = (($t << 1) | ($t >> 31)) & 0xFFFFFFFF;
    }
    check(defined $status && $status == 200 && $j->{total_bytes} == 2000
          && $j->{checksum} == $c, 'a trickling body is summed exactly');
}

# --- far more distinct keys than the cache holds -----------------------------
{
    my $ok = 0;
    for my $i (1 .. 2000) {
        my $key = join '', map { sprintf '%%%02X', int rand 256 } 1 .. 1 + int rand 40;
        $key =~ s/%00/%01/g;                     # Apache refuses %00 itself
        $key =~ s/%2F/%2E/gi;                    # and %2F without AllowEncodedSlashes
        $key = "k$key";                          # and a "." or ".." path segment
        my ($res) = $srv->request('PUT', "/hl/cache/$key", content => 'z' x int rand 2000);
        $ok++ if $res->code == 201 || $res->code == 200;
    }
    ok t_cmp($ok, 2000, '2000 random binary keys into a 64K cache: every set answered');
    my (undef, $st) = $srv->request('GET', '/hl/cache');
    check($st->{bytes_used} <= $st->{capacity_bytes} && $st->{evictions} > 0,
          "bounded: $st->{total_entries} entries, $st->{evictions} evictions");
}

# --- random bytes in keys, query strings and bodies -------------------------
{
    my ($answered, $json_errors, $bad) = (0, 0, 0);
    for my $i (1 .. 300) {
        my $rnd = join '', map { chr int rand 256 } 1 .. int rand 64;
        (my $enc = $rnd) =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge;
        my @req = (['GET', "/hl/cache/$enc"], ['PUT', "/hl/cache/k$enc", $rnd],
                   ['GET', "/hl/memory/benchmark?$enc"], ['POST', '/hl/process', $rnd],
                   ['POST', '/hl/process/pooled', $rnd], ['GET', "/hl/$enc"]);
        my ($m, $path, $body) = @{ $req[$i % @req] };
        my ($res, $j) = $srv->request($m, $path, defined $body ? (content => $body) : ());
        $answered++ if $res->code =~ /^[2345]\d\d$/;
        if ($res->code >= 400 && ($res->header('Content-Type') // '') =~ /json/) {
            $json_errors++;
            $bad++ unless $j && $j->{status} == $res->code && length $j->{error};
        }
        $bad++ if $res->code >= 500;
    }
    ok t_cmp($answered, 300, 'every random request got an answer');
    ok t_cmp($bad, 0, 'no 5xx, and every JSON error well formed');
    t_debug("$json_errors JSON errors among them");
    my ($res) = $srv->request('GET', '/hl/counter/stats');
    ok t_cmp($res->code, 200, 'and the server is fine afterwards');
}
check($srv->stop, 'private server stopped');
