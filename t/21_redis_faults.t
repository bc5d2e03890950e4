# A Redis store that fails: two Apache hosts (prefork and event) of one
# redis-server (a password, AOF with appendfsync always).
#
#  - Redis SIGKILLed under load: both hosts answer 503 JSON with
#    Retry-After, every request within a bound, no child crashes; Redis
#    started again on its data: service resumes without an Apache restart,
#    and the counter is within the bound below.
#  - Redis paused (SIGSTOP) or busy (DEBUG SLEEP) past the timeout: 503
#    within the timeout plus slack; once it answers again no connection
#    hands one request another's reply.
#  - a wrong password, a port nobody listens on: Apache starts, answers
#    503 JSON, and its log says why, naming the address; a malformed
#    setting: configtest fails naming the directive.
#  - one log line when an outage starts and one when it ends; the password
#    in no log line and no answer.
#
# The counter's bound (README, "Run every test"): with appendfsync always
# Redis writes an increment to its AOF before it answers, so every 2xx
# increment survives the kill: counter >= 2xx answers.  An increment that
# Redis ran but whose answer the kill cut off was answered 503; there is
# at most one such request per client connection in flight at the kill
# (50 here).  An increment answered 503 because Redis was slower than the
# timeout may have run too (none, unless the machine stalls): counter <=
# 2xx answers + 50 + those.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use HL::Test qw(check hammer one_request decode_json_ok fork_clients);
use HL::Redis;
use HL::RedisHost qw(host backend_built);
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes qw(sleep time);

plan tests => 93, need { 'redis-server on PATH' => defined HL::Redis::binary(),
                     'the Redis backend in this build' => backend_built() };

my $CLIENTS = 50;
my $TIMEOUT_MS = 1000;
# Seconds beyond the timeout that an answer may take: generous, for a
# machine whose load may be ten times its cores; a hung worker would take
# Apache's Timeout (60 s) or for ever.
my $SLACK = 5;
my $BOUND = $TIMEOUT_MS / 1000 + $SLACK;
my $PW = sprintf 'hl-pw-%d-%d', $$, int rand 1e9;
my $WRONG = "wrong-$PW";
my $tmp = tempdir(CLEANUP => 1);

my $redis = HL::Redis->new(password => $PW, aof => 1);
my $addr = $redis->addr;
my $common = "HyperlaneRedisTimeout $TIMEOUT_MS\nHyperlaneCacheSize 1M\n"
           . "HyperlaneCacheMaxConcurrent 100\n";
my $hp = host(mpm => 'prefork', store => $redis->url, conf => $common);
my $he = host(mpm => 'event', store => $redis->url, conf => $common);
my @hosts = ($hp, $he);
my %name = ($hp->port => 'prefork host', $he->port => 'event host');
my %parent = map { $_->port => $_->pid } @hosts;

# Every answer the test reads itself is kept, to look for the password.
my @answers;
sub req {
    my ($h, $m, $p, %o) = @_;
    my ($r, $j) = $h->request($m, "/hl/$p", %o);
    push @answers, $r->as_string;
    return ($r, $j);
}
sub is_503_json {
    my ($r, $j) = @_;
    return $r->code == 503 && ($r->header('Retry-After') // '') =~ /^\d+$/
        && ($r->header('Content-Type') // '') =~ m{^application/json}
        && ref $j eq 'HASH' && defined $j->{error} && ($j->{status} // 0) == 503;
}
# A host's counter/stats; what else it answered is printed, to say why.
sub stats {
    my ($r, $j) = req($_[0], 'GET', 'counter/stats');
    printf STDERR "# counter/stats on %s: %s %s\n", $_[0]->port, $r->code,
        $r->content =~ s/\s+/ /gr if $r->code != 200;
    return $j || {};
}
sub log_since { my ($h, $off) = @_; substr($h->log, $off) }
sub addr_lines { my ($text, $where) = @_; grep { /\Q$where\E/ } split /\n/, $text }

# The lines of a log text naming $where, in order, as 's' for those that
# say trouble started (error or warn) and 'e' for the others.
sub outage_lines {
    my ($text, $where) = @_;
    return join '', map { /:(?:emerg|alert|crit|error|warn)\]/ ? 's' : 'e' }
                    addr_lines($text, $where);
}

# Fifty requests, more than the host may have processes (MaxRequestWorkers
# 40 in HL::RedisHost), each answered 503 JSON: the host has told the
# outage in one line, whichever process met it first.
sub many_503s {
    my ($h, $where) = @_;
    my $n503 = grep { is_503_json(req($h, 'GET', 'counter/increment')) } 1 .. 50;
    my $starts = () = outage_lines($h->log, $where) =~ /s/g;
    t_debug("$n503 answers 503; $starts lines naming $where say trouble started");
    return $n503 == 50 && $starts == 1;
}

my ($res, $j) = req($hp, 'GET', 'counter/increment');
ok t_cmp($res->code, 200, 'the prefork host increments through Redis (AUTH)');
($res) = req($he, 'GET', 'counter/increment');
ok t_cmp($res->code, 200, 'so does the event host');
my $direct_ok = 2;

# --- Redis SIGKILLed under load, then started again on its AOF --------------
my $stop = "$tmp/stop";
pipe(my $rd, my $wr) or die "pipe: $!";
my $loader = fork() // die "fork: $!";
if (!$loader) {
    close $rd;
    my $n = hammer(clients => $CLIENTS, total => 1_000_000, path => '/hl/counter/increment',
                   ports => [map { $_->port } @hosts], seconds => 240, timeout => 15,
                   slow => $BOUND, stop_file => $stop,
                   match => { timeout503 => qr/slower than its timeout/ });
    print $wr join(' ', map { "$_=$n->{$_}" } sort keys %$n), "\n";
    close $wr;
    POSIX::_exit(0);
}
close $wr;
my $flowing = HL::Server::wait_for(sub { (stats($hp)->{current_value} // 0) > 2000 });
check($flowing, 'the load is flowing');
my %off = map { $_->port => length $_->log } @hosts;
$redis->kill;
sleep 1;
for my $h (@hosts) {
    my $t = time;
    ($res, $j) = req($h, 'GET', 'counter/increment');
    my $took = time - $t;
    check(is_503_json($res, $j), "Redis killed: the $name{$h->port} answers an increment 503 JSON"
          . " with Retry-After (" . $res->code . ' ' . $res->content . ')');
    check($took < $BOUND, sprintf 'within %.1f s (%.2f s)', $BOUND, $took);
    check(is_503_json(req($h, 'GET', 'counter/stats')), 'counter/stats: 503 JSON');
    check(is_503_json(req($h, 'GET', 'cache/some-key')), 'a cache get: 503 JSON');
    check(is_503_json(req($h, 'PUT', 'cache/some-key', content => 'v')), 'a cache set: 503 JSON');
    # The store's series are left out of a scrape it did not answer; the
    # usage's bytes are the last Redis answered, so they go too.
    my ($m) = req($h, 'GET', 'metrics');
    my $text = $m->content;
    check($m->code == 200 && $text =~ /^hyperlane_store_up 0$/m, 'metrics: 200, store_up 0');
    check($text !~ /^hyperlane_(?:store_used_bytes|cache_entries|shared_value) /m,
          'and no series of the store');
}
$redis->start;
# Redis replays its AOF first (LOADING: 503 meanwhile), which on a busy
# machine may take a while: bounded at 120 s.
my ($resumed, $t_back) = (0, time);
while (!$resumed && time < $t_back + 120) {
    my $up = 0;
    for my $h (@hosts) {
        my ($r) = req($h, 'GET', 'counter/increment');
        if ($r->code == 200) { $direct_ok++; $up++ }
    }
    $resumed = $up == @hosts;
    sleep 0.1 unless $resumed;
}
check($resumed, sprintf 'Redis back: both hosts increment again (after %.1f s)', time - $t_back);
sleep 1;
open my $fh, '>', $stop or die $!;
close $fh;
my %n;
my $line = <$rd> // '';
$n{$1} = $2 while $line =~ /(\w+)=(\d+)/g;
waitpid($loader, 0);
close $rd;
t_debug("load: $line");
check(($n{ok} // 0) > 2000, "the clients got 2xx answers ($n{ok})");
check(($n{s503} // 0) > 0, "and 503 answers during the outage ($n{s503})");
# The load's own bound is 15 s an answer (a busy machine, 50 clients
# and a Redis loading its AOF on 2 cores); the bound of a single request
# was checked above.  A kept-alive connection that the server closes just
# as a request goes out (the event MPM closes idle ones when it is busy;
# HTTP allows it) ends that request without an answer: counted apart
# (none_eof), and in the counter's bound below.
my $eof = $n{none_eof} // 0;
ok t_cmp($n{none} - $eof, 0,
         "every request got an answer within 15 s ($n{slow} took over $BOUND s; $eof closed first)");
ok t_cmp($n{other}, $n{s503}, 'every error was a 503');
ok t_cmp($n{bad503}, 0, 'every 503 was JSON with Retry-After');
for my $h (@hosts) {
    $h->note_pid;
    check(kill(0, $parent{$h->port}) && $h->pid == $parent{$h->port},
          "no restart of the $name{$h->port}");
}
# Both read once both answer: a 1 s host may answer a read 503 on a
# machine that stalls past its timeout (stats() prints why).
my ($sp, $se);
HL::Server::wait_for(sub { ($sp, $se) = (stats($hp), stats($he));
                           defined $sp->{current_value} && defined $se->{current_value} });
ok t_cmp($se->{current_value}, $sp->{current_value}, 'both hosts see one counter');
my $acked = $n{ok} + $direct_ok;
my $counter = $sp->{current_value};
t_debug("counter $counter; 2xx increments $acked (load $n{ok}, the test's $direct_ok)");
check($counter >= $acked, "no acknowledged increment lost ($counter >= $acked)");
check($counter <= $acked + $CLIENTS + $n{timeout503} + $eof,
      "at most one increment per connection in flight at the kill, and those that timed out"
      . " or were cut off ($counter <= $acked + $CLIENTS + $n{timeout503} + $eof)");
ok t_cmp("@{ $sp->{recent_values} }", join(' ', map { $counter - $_ } 0 .. 9),
         'the history is consistent with the counter');

# One line when the outage starts (an error) and one when it ends (a
# notice), for the whole host, not one per request nor per process.  A
# timeout after the restart (a stalled machine) would be an outage of
# its own, told the same way.
for my $h (@hosts) {
    my $text = log_since($h, $off{$h->port});
    t_debug("$name{$h->port}, lines naming $addr:\n" . join("\n", addr_lines($text, $addr)));
    my $told = outage_lines($text, $addr);
    check($told =~ /^(?:se)+$/, "the $name{$h->port} tells each outage's start and end"
          . " in one line each ($told)");
    my $outages = () = $told =~ /s/g;
    check($outages == 1 || $outages <= 1 + $n{timeout503},
          "one outage, for $n{s503} answers 503 ($outages told; $n{timeout503} timeouts)");
}

# Redis forgets the module's functions (FUNCTION FLUSH, as after a failover
# to a replica without them): the module loads them again by itself.
ok t_cmp(ref $redis->command('FUNCTION', 'FLUSH') ? 'error' : 'OK', 'OK', 'FUNCTION FLUSH');
$redis->command('SCRIPT', 'FLUSH');
for my $h (@hosts) {
    ($res, $j) = req($h, 'GET', 'counter/increment');
    ok t_cmp($res->code, 200, "the $name{$h->port} increments after a FUNCTION FLUSH");
    ok t_cmp($j && $j->{counter}, ++$counter, 'the next value');
}

# --- Redis slower than the timeout: paused, then busy ------------------------
# From here on Redis need not wait for the disk before it answers: on a
# busy machine an fsync alone can take longer than the timeout.
$redis->command('CONFIG', 'SET', 'appendfsync', 'everysec');

# Each client keeps its connection and checks every answer it gets: after
# a timeout the module must not hand a later request the reply meant for
# the one that timed out.  Returns {ok, s503, timeout503, skipped, wrong,
# none, late: answers slower than $BOUND s as the client saw them, slow:
# as the server measured them (the bound on a worker: a client process
# the machine did not run for a while must not count against it),
# slowest: the server's slowest, in ms}.
sub exchange {
    my (%o) = @_;
    my %log_at = map { $_->port => length $_->access_log } @hosts;
    my $m = fork_clients($o{clients}, sub {
        my $c = shift;
        my %m = (ok => 0, s503 => 0, timeout503 => 0, skipped => 0, late => 0,
                 wrong => 0, none => 0);
        my $port = $hosts[$c % 2]->port;
        my $sock;
        for my $i (1 .. $o{rounds}) {
            $sock ||= IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                            PeerPort => $port, Timeout => 10);
            last unless $sock;
            my $val = "c$c-i$i-" . ('z' x $i);
            for my $step (['PUT', "/hl/cache/x$c", $val], ['GET', "/hl/cache/x$c", undef]) {
                my $t = time;
                my ($st, $close, $head, $body) = one_request($sock, @$step, 10);
                if (!defined $st) { $m{none}++; undef $sock; last }
                if (time - $t > $BOUND) {
                    $m{late}++;
                    printf STDERR "# late: client %d, %s host, %s %s: %s after %.2f s\n",
                        $c, $name{$port}, @$step[0, 1], $st // 'no answer', time - $t;
                }
                my $jj = decode_json_ok($body);
                if ($st == 503) {
                    $m{s503}++;
                    $m{timeout503}++ if ($jj->{error} // '') =~ /slower than its timeout/;
                }
                elsif ($st =~ /^2/ && ref $jj eq 'HASH' && ($jj->{key} // '') eq "x$c"
                       && ($step->[0] eq 'PUT' || ($jj->{value} // '') eq $val)) {
                    $m{ok}++;
                }
                else { $m{wrong}++ }
                undef $sock if $close;
                # A set that failed: its get proves nothing.
                if ($st == 503 && $step->[0] eq 'PUT') { $m{skipped}++; last }
            }
        }
        return \%m;
    }, qw(ok s503 timeout503 skipped late wrong none));
    my $answers = $m->{ok} + $m->{s503} + $m->{wrong};
    my @took;
    HL::Server::wait_for(sub {
        @took = map { m{^(\d+) \d+ (?:PUT|GET) /hl/cache/x\d+$} ? $1 / 1e6 : () }
                map { split /\n/, substr($_->access_log, $log_at{$_->port}) } @hosts;
        @took >= $answers });
    $m->{slow} = grep { $_ > $BOUND } @took;
    $m->{slowest} = int(1000 * (sort { $b <=> $a } @took, 0)[0]);
    return $m;
}
# Once Redis answers again, of $want steps: none wrong (a stale reply),
# none unanswered, none slow for the server, and every one right but for
# 503s that say Redis was slower than the timeout, answered in time (on a
# machine that stalls past the timeout that is what must come); and some
# right.
sub after_ok {
    my ($m, $want) = @_;
    return $m->{wrong} == 0 && $m->{none} == 0 && $m->{slow} == 0
        && $m->{s503} == $m->{timeout503}
        && $m->{ok} + $m->{s503} + $m->{skipped} == $want && $m->{ok} > 0;
}
sub sum_line { my $s = shift; join ' ', map { "$_=" . ($s->{$_} // 0) } sort keys %$s }

my $warm = exchange(clients => 20, rounds => 3);
ok t_cmp("$warm->{ok} $warm->{wrong}", '120 0', 'sets and gets, 20 connections: every answer right');
$redis->pause;
my $t = time;
($res, $j) = req($hp, 'GET', 'counter/increment');
my $took = time - $t;
check(is_503_json($res, $j), 'Redis paused: 503 JSON with Retry-After (' . $res->code . ')');
check($took < $BOUND, sprintf 'within the timeout plus slack (%.2f s < %.1f s)', $took, $BOUND);
my $paused = exchange(clients => 20, rounds => 1);
t_debug('while paused: ' . sum_line($paused));
ok t_cmp($paused->{timeout503}, 20, 'every connection gets 503 (a set each), for the timeout');
ok t_cmp($paused->{none}, 0, 'each answered');
ok t_cmp($paused->{slow}, 0, "each worker within $BOUND s (slowest $paused->{slowest} ms)");
$redis->resume;
check(HL::Server::wait_for(sub { (req($he, 'GET', 'cache/probe'))[0]->code =~ /^(?:200|404)$/ }),
      'Redis resumed: answers again');
# A process that saw the timeout fails at once for a second
# (HL_REDIS_RETRY_INTERVAL) before it tries Redis again.
sleep 1.5;
my $after = exchange(clients => 20, rounds => 5);
t_debug('after the pause: ' . sum_line($after));
check(after_ok($after, 200), 'every answer right: no connection hands over a stale reply');

# DEBUG SLEEP: Redis busy (it answers PING again only afterwards).
my $sleeper = fork() // die "fork: $!";
if (!$sleeper) { eval { $redis->command('DEBUG', 'SLEEP', '3') }; POSIX::_exit(0) }
sleep 0.3;
$t = time;
($res, $j) = req($he, 'PUT', 'cache/busy', content => 'v');
$took = time - $t;
check(is_503_json($res, $j), 'Redis busy (DEBUG SLEEP): 503 JSON with Retry-After ('
      . $res->code . ')');
check($took < $BOUND, sprintf 'within the timeout plus slack (%.2f s)', $took);
waitpid($sleeper, 0);
sleep 1.5;
$after = exchange(clients => 20, rounds => 3);
t_debug('after DEBUG SLEEP: ' . sum_line($after));
check(after_ok($after, 120), 'after it: every answer right');

# --- Redis drops every connection (CLIENT KILL, as a restart does) ----------
# A read whose pooled connection died since its last use is made once more
# on a new connection: no process answers its first read after a Redis
# restart with 503.  Twenty clients at once first give as many processes
# (or threads) a connection each; then Redis drops them all; then the same
# reads again.  On hosts of their own, with a timeout of 10 s: this is not
# about timeouts, and a machine that stalls past the others' 1 s would
# answer 503 for it.  On failure, the statuses the host logged and its
# error log lines since the kill.  (The kill drops the first hosts'
# connections too: from here on they only read.)
my @kill_hosts = map { host(mpm => $_, store => $redis->url,
                            conf => "HyperlaneRedisTimeout 10000\n") } qw(prefork event);
for my $h (@kill_hosts) {
    my %p = (clients => 20, total => 200, ports => [$h->port]);
    my $before = hammer(%p, path => '/hl/cache');
    check($before->{ok} == 200, "the $h->{mpm} host: 200 reads ($before->{ok})");
    my ($off, $access_at) = (length $h->log, length $h->access_log);
    my $killed = $redis->command('CLIENT', 'KILL', 'TYPE', 'normal');
    check(!ref $killed && $killed >= 1, "Redis dropped the connections ($killed)");
    my $after = hammer(%p, path => '/hl/counter/stats');
    my @st;
    HL::Server::wait_for(sub {
        @st = map { m{^\d+ (\d+) GET /hl/counter/stats$} ? $1 : () }
              split /\n/, substr($h->access_log, $access_at);
        @st >= $after->{ok} + $after->{other} });
    my %status;
    $status{$_}++ for @st;
    check($after->{ok} == 200 && $after->{other} == 0,
          "then every read answered 200 ($after->{ok} 2xx, $after->{s503} 503, "
          . "$after->{none} none; logged: "
          . join(' ', map { "$_ x$status{$_}" } sort keys %status) . '; error log: '
          . (log_since($h, $off) =~ s/\n/ | /gr) . ')');
    ok t_cmp(outage_lines(log_since($h, $off), $addr), '', 'and no outage was told');
}
$_->stop for @kill_hosts;

# --- a wrong password ----------------------------------------------------------
# What it may not change is read from Redis itself: a read through the
# first hosts, 1 s hosts whose pooled connections the kill dropped, may
# answer 503 on a machine that stalls past their timeout.
my $counter_key = 'hyperlane:counter';          # the default prefix
my $before_wrong = $redis->command('GET', $counter_key);
check(defined $before_wrong && $before_wrong =~ /^\d+$/,
      "the counter in Redis before (" . ($before_wrong // "none") . ")");
my $hw = host(mpm => 'event', store => "redis://:$WRONG\@$addr", conf => $common);
check($hw->pid, 'a wrong password: Apache starts');
for my $p ('counter/increment', 'counter/stats', 'cache/k') {
    check(is_503_json(req($hw, 'GET', $p)), "GET $p: 503 JSON with Retry-After");
}
my @l = addr_lines($hw->log, $addr);
t_debug("lines naming $addr:\n" . join("\n", @l));
check(grep({ /auth|password|WRONGPASS/i } @l), 'the log names the address and says: authentication');
check(many_503s($hw, $addr), 'fifty more requests, all 503: one line per process at most');
ok t_cmp($redis->command('GET', $counter_key), $before_wrong, 'nothing written');

# --- a port nobody listens on ----------------------------------------------------
my $dead = HL::Redis::free_port();
my $hd = host(mpm => 'prefork', store => "redis://127.0.0.1:$dead", conf => $common);
check($hd->pid, 'Redis unreachable: Apache starts');
my @start = addr_lines($hd->log, "127.0.0.1:$dead");
$t = time;
($res, $j) = req($hd, 'GET', 'counter/increment');
$took = time - $t;
check(is_503_json($res, $j), 'and answers 503 JSON with Retry-After (' . $res->code . ')');
check($took < $BOUND, sprintf 'promptly (%.2f s)', $took);
check(is_503_json(req($hd, 'PUT', 'cache/k', content => 'v')), 'a cache set too');
@l = addr_lines($hd->log, "127.0.0.1:$dead");
t_debug("lines naming 127.0.0.1:$dead:\n" . join("\n", @l));
check(@l >= 1, 'the log names the address');
check(many_503s($hd, "127.0.0.1:$dead"), 'fifty more requests, all 503: one line per process at most');

# --- malformed settings: configtest fails naming the directive ------------------
my @bad = (
    [ "HyperlaneStore redis://127.0.0.1:notaport",      'HyperlaneStore' ],
    [ "HyperlaneStore redis://127.0.0.1:70000",         'HyperlaneStore' ],
    [ "HyperlaneStore redis://:$PW\@127.0.0.1:6379/x",  'HyperlaneStore' ],
    [ "HyperlaneStore redis://",                        'HyperlaneStore' ],
    [ "HyperlaneStore redis+unix://",                   'HyperlaneStore' ],
    [ "HyperlaneStore redis:/127.0.0.1",                'HyperlaneStore' ],
    [ "HyperlaneRedisTimeout 0",                        'HyperlaneRedisTimeout' ],
    [ "HyperlaneRedisTimeout soon",                     'HyperlaneRedisTimeout' ],
    [ "HyperlaneRedisPrefix \"a b\"",                   'HyperlaneRedisPrefix' ],
);
my @configtest_out;
my $ct = host(mpm => 'event', start => 0, store => $redis->url, conf => $common);
my ($rc, $out) = $ct->configtest;
ok t_cmp($rc, 0, "the hosts' configuration passes configtest");
for my $b (@bad) {
    my ($directive, $name) = @$b;
    $ct = host(mpm => 'event', start => 0, conf => "$directive\n");
    ($rc, $out) = $ct->configtest;
    push @configtest_out, $out;
    check($rc != 0 && $out =~ /\Q$name\E/, "'$directive' fails configtest naming $name: $out");
}

# --- the password: in no log line, no answer ---------------------------------------
for my $h ($hp, $he, $hw, $hd, @kill_hosts) {
    my $log = $h->log;
    check(index($log, $PW) < 0, "the password is not in the log of the $h->{mpm} host on " . $h->port);
}
check(!grep({ index($_, $PW) >= 0 } @answers), 'nor in any of ' . scalar(@answers) . ' answers');
check(!grep({ index($_, $PW) >= 0 } @configtest_out), 'nor in what configtest said');

# --- nothing crashed -----------------------------------------------------------------
for my $h ($hp, $he, @kill_hosts) {
    my @bad = grep { /exit signal|AddressSanitizer/ } split /\n/, $h->log;
    my $which = $name{$h->port} // "$h->{mpm} host of the CLIENT KILL";
    check(!@bad, "no child of the $which crashed: @bad[0 .. ($#bad < 2 ? $#bad : 2)]");
}
