# The dashboard: its files and headers over HTTP, then the page in a real
# browser.  Debian's chromium, headless, loads it from this server after a
# known number of increments and cache operations and runs its polls (in
# virtual time); the page's DOM must show what the JSON endpoints say, its
# charts must have drawn points, and the console must show nothing but the
# page's own start line (no error, no CSP violation).  A screenshot goes to
# test-logs/.  Chromium runs on loopback only, with a temp profile, in a
# process group of its own that is killed whatever happens.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Test qw(check json_req port);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use HTML::TreeBuilder ();
use POSIX ();
use Time::HiRes qw(time sleep);

my ($chromium) = grep { -x } ($ENV{HL_CHROMIUM} // (), '/usr/bin/chromium');
plan tests => 87, need { 'chromium (Debian package chromium)' => $chromium };

my $top = Apache::Test::vars('top_dir');
my $policy = qr/^default-src 'none'; script-src 'self'; style-src 'self'; /;

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or die "$file: $!";
    local $/;
    return scalar <$fh>;
}

# ---- over HTTP: the page and its files are the tree's, byte for byte
my %files = ('dashboard' => ['index.html', 'text/html'],
             'dashboard/app.js' => ['app.js', 'text/javascript'],
             'dashboard/style.css' => ['style.css', 'text/css']);
for my $path (sort keys %files) {
    my ($file, $type) = @{ $files{$path} };
    my ($res) = json_req('GET', "/hl/$path");
    ok t_cmp($res->code, 200, "$path: 200");
    ok t_cmp($res->header('Content-Type'), "$type; charset=utf-8", "$path: type");
    check $res->content eq slurp("$top/src/apache/dashboard/$file"),
        "$path: the bytes of src/apache/dashboard/$file";
    my $csp = $res->header('Content-Security-Policy') // '';
    check $csp =~ $policy && $csp =~ /connect-src 'self'/
        && $csp !~ /unsafe|\*|data:|http/, "$path: strict CSP ($csp)";
    ok t_cmp($res->header('X-Content-Type-Options'), 'nosniff', "$path: nosniff");
    ok t_cmp($res->header('Cache-Control'), 'no-cache', "$path: revalidated");
    my $etag = $res->header('ETag') // '';
    check $etag =~ /^"[0-9a-f]{16}"$/, "$path: ETag $etag";
    my ($again) = json_req('GET', "/hl/$path",
                           headers => ['If-None-Match' => $etag]);
    check $again->code == 304 && ($again->header('ETag') // '') eq $etag
        && $again->content eq '', "$path: 304 when unchanged, with its ETag";
}
{
    my ($res) = json_req('HEAD', '/hl/dashboard');
    check $res->code == 200 && $res->content eq '', 'HEAD dashboard';
    my $j;
    ($res, $j) = json_req('POST', '/hl/dashboard', content => 'x');
    check $res->code == 405 && ($res->header('Allow') // '') eq 'GET, HEAD',
        'POST dashboard: 405, read-only';
    ($res, $j) = json_req('GET', '/hl/dashboard', headers => ['If-Match' => '"x"']);
    check $res->code == 412 && $j && $j->{status} == 412, 'If-Match that fails: 412 JSON';
    for my $bad ('dashboard/', 'dashboard/nope.js', 'dashboard/index.html') {
        ($res, $j) = json_req('GET', "/hl/$bad");
        check $res->code == 404 && $j && $j->{status} == 404, "$bad: 404 JSON";
    }
    ($res) = json_req('GET', '/api/v2/state/dashboard');
    check $res->code == 200 && ($res->header('Content-Security-Policy') // '') =~ $policy,
        'served below every mount';
    # HyperlaneFastPath answers it in the quick handler, 304 included.
    ($res) = json_req('GET', '/fast/dashboard/app.js');
    my ($fast304) = json_req('GET', '/fast/dashboard/app.js',
        headers => ['If-None-Match' => $res->header('ETag') // 'none']);
    check $res->code == 200 && ($res->header('Content-Security-Policy') // '') =~ $policy
        && $fast304->code == 304 && ($fast304->header('ETag') // '') eq $res->header('ETag'),
        'and by the fast path: ' . $res->code . ', then ' . $fast304->code;
}

# ---- known traffic: increments and cache operations, each answer checked
my (undef, $index) = json_req('GET', '/hl/');
my $has_metrics = grep { $_ eq 'metrics' } @{ $index->{endpoints} };

# metrics, by endpoint (requests, errors: 4xx and 5xx, the latency's sum and count) and
# by limiter kind.
sub metrics {
    my ($res) = json_req('GET', '/hl/metrics');
    my %m;
    for (split /\n/, $res->content) {
        my ($name, $labels, $v) = /^(\w+)\{(.*)\} (\S+)$/ or next;
        my %l = $labels =~ /(\w+)="([^"]*)"/g;
        if ($name eq 'hyperlane_requests_total') {
            $m{requests}{ $l{endpoint} } += $v;
            $m{errors}{ $l{endpoint} } += $l{code} =~ /^[45]/ ? $v : 0;
        }
        elsif ($name =~ /^hyperlane_request_duration_seconds_(sum|count)$/) {
            $m{$1}{ $l{endpoint} } += $v;
        }
        elsif ($name =~ /^hyperlane_limiter_(\w+)$/) {
            my $f = { in_flight => 'limit_in', max_concurrent => 'limit',
                      peak_in_flight => 'peak_l', rejected_total => 'rej',
                      healed_total => 'heal' }->{$1} or next;
            $m{$f}{ $l{kind} } = $v;
        }
    }
    return \%m;
}
my $metrics0 = $has_metrics ? metrics() : undef;

my $n_incr = 25;
my (undef, $before) = json_req('GET', '/hl/counter/stats');
my (undef, $cache0) = json_req('GET', '/hl/cache');
my $answered = 0;
for (1 .. $n_incr) {
    my ($res) = json_req('POST', '/hl/counter/increment');
    $answered++ if $res->code == 200;
}
ok t_cmp($answered, $n_incr, 'increments answered');
my @keys = map { "dashboard-$$-$_" } 1 .. 5;
my %got = (set => 0, hit => 0, miss => 0, del => 0);
for my $k (@keys) {
    my ($res) = json_req('PUT', "/hl/cache/$k", content => "value of $k");
    $got{set}++ if $res->code == 201;
}
for my $k (@keys[0 .. 3], @keys[0 .. 2]) {
    my ($res) = json_req('GET', "/hl/cache/$k");
    $got{hit}++ if $res->code == 200;
}
for my $k (map { "dashboard-$$-none-$_" } 1 .. 3) {
    my ($res) = json_req('GET', "/hl/cache/$k");
    $got{miss}++ if $res->code == 404;
}
for my $k (@keys[3, 4]) {
    my ($res) = json_req('DELETE', "/hl/cache/$k");
    $got{del}++ if $res->code == 200;
}
ok t_cmp(join(' ', map { "$_=$got{$_}" } sort keys %got),
         'del=2 hit=7 miss=3 set=5', 'cache operations answered');
my (undef, $stats) = json_req('GET', '/hl/counter/stats');
my (undef, $cache) = json_req('GET', '/hl/cache');
ok t_cmp($stats->{current_value} - $before->{current_value}, $n_incr,
         'the counter moved by the increments');
ok t_cmp(join(' ', map { $cache->{$_} - $cache0->{$_} }
                   qw(sets hits misses deletes total_entries)),
         '5 7 3 2 3', 'the cache figures moved by the operations');

# ---- the browser
my $tmp = tempdir('hl-chromium-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my %group;                       # chromium's process groups still alive
sub kill_groups { kill 'KILL', -$_ for keys %group; %group = () }
END { kill_groups() }
$SIG{$_} = sub { kill_groups(); exit 1 } for qw(INT TERM HUP);

# Runs chromium with @args in a process group of its own, its output into
# files; killed with its whole group after $seconds, and in any case once
# it has exited (helpers it may leave).  Returns the exit status, or
# 'timeout'.
sub browser {
    my ($seconds, $out, $err, @args) = @_;
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        POSIX::setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>', $err or POSIX::_exit(126);
        @ENV{qw(HOME XDG_CONFIG_HOME XDG_CACHE_HOME)} = ($tmp) x 3;
        exec $chromium, '--headless', '--no-sandbox', '--disable-gpu',
            '--disable-dev-shm-usage', "--user-data-dir=$tmp/profile",
            '--no-first-run', '--no-default-browser-check',
            '--disable-extensions', '--disable-background-networking',
            '--disable-component-update', '--disable-sync',
            '--disable-default-apps', '--no-proxy-server',
            # Loopback only: every other name resolves to nothing.
            '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
            '--enable-logging=stderr', '--v=0', @args
            or POSIX::_exit(127);
    }
    $group{$pid} = 1;
    my $deadline = time + $seconds;
    my $rc = 'timeout';
    while (time < $deadline) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $rc = $? >> 8;
            last;
        }
        sleep 0.1;
    }
    kill 'KILL', -$pid;
    waitpid($pid, 0) if $rc eq 'timeout';
    delete $group{$pid};
    return $rc;
}

my $logs = $ENV{HL_TEST_LOGS} // "$top/test-logs";
make_path($logs);
my $mpm = $stats->{memory_usage}{mpm};
my $name = "dashboard-$mpm" . ($ENV{HL_SANITIZED} ? '-sanitized' : '');
my $url = "http://127.0.0.1:" . port() . "/hl/dashboard?interval=1000";
# Six seconds of virtual time: a poll every second of it.
my $rc = browser(90, "$logs/$name.dom.html", "$logs/$name.console.log",
                 '--virtual-time-budget=6000', '--dump-dom', $url);
ok t_cmp($rc, 0, 'chromium ran to the end');
# The console's lines in chromium's log FILE: (the page's start line seen,
# every other one).
sub console {
    my ($file) = @_;
    my @lines = grep { /CONSOLE|Content.Security.Policy|Refused to|Uncaught/ }
                split /\n/, -e $file ? slurp($file) : '';
    my $start = qr/dashboard: polling every 1000 ms/;
    return ((grep { /$start/ } @lines) ? 1 : 0, grep { !/$start/ } @lines);
}
my ($started, @bad) = console("$logs/$name.console.log");
check $started, 'the console is read (the page says it started)';
check !@bad, "no other console message (errors, CSP): @bad";

(undef, my $after) = json_req('GET', '/hl/counter/stats');
(undef, my $cache_after) = json_req('GET', '/hl/cache');
ok t_cmp($after->{current_value}, $stats->{current_value},
         'the page changed nothing');

# The DOM chromium left in FILE: (tree, body, elements by id).  The page's
# SVG too: HTML::TreeBuilder drops elements it does not know unless told.
sub load_dom {
    my ($file) = @_;
    my $tree = HTML::TreeBuilder->new;
    $tree->ignore_unknown(0);
    $tree->parse_content(-e $file ? slurp($file) : '');
    return ($tree, $tree->look_down(_tag => 'body'),
            { map { ($_->attr('id') => $_) } $tree->look_down(id => qr/./) });
}
my ($dom, $body, $ids) = load_dom("$logs/$name.dom.html");
my %by_id = %$ids;
sub text_of { my $e = $by_id{ $_[0] }; return $e ? $e->as_text : '(missing)' }
sub cells_of {
    my $e = $by_id{ $_[0] };
    return $e ? join ' ', map { $_->as_text } $e->look_down(_tag => 'td') : '(missing)';
}
sub value_of { my $e = $by_id{ $_[0] }; return $e ? $e->attr('data-value') // '' : '(missing)' }

my $polls = $body ? $body->attr('data-polls') // 0 : 0;
check $polls >= 2, "the page polled ($polls times)";
ok t_cmp($body ? $body->attr('data-errors') : '(no body)', 0,
         'the page saw no error');
ok t_cmp(text_of('status'), qr/^updated \d\d:\d\d:\d\d UTC$/, 'status line');
ok t_cmp(text_of('where'), $has_metrics ? qr{^mount /hl \S+ mod_hyperlane \S+$}
                                        : 'mount /hl', 'the mount, from the index');

# The counter and its history.
ok t_cmp(text_of('counter-value'), $after->{current_value}, 'counter value');
ok t_cmp(text_of('history-length'), $after->{history_length}, 'history length');
ok t_cmp(text_of('history-capacity'), $after->{history_capacity}, 'history capacity');
my @rows = map { join ' | ', map { $_->as_text } $_->look_down(_tag => 'td') }
           ($by_id{history} ? $by_id{history}->look_down(_tag => 'tr') : ());
my @want = map { join ' | ', $_->{value}, $_->{time}, $_->{pid}, $_->{host} // '' }
           @{ $after->{recent} };
ok t_cmp(join("\n", @rows), join("\n", @want),
         'latest increments: value, time, pid (and host)');
my $host_shown = $by_id{history} && ($by_id{history}->parent->attr('class') // '') !~ /no-host/;
ok t_cmp($host_shown ? 1 : 0, (grep { $_->{host} } @{ $after->{recent} }) ? 1 : 0,
         'host column only when entries carry one');
# Nobody incremented while the page was open: every rate it drew is 0.
ok t_cmp(value_of('counter-rate'), 0, 'increments/s now');
my $chart = $by_id{'chart-counter'};
my $points = $chart ? $chart->attr('data-points') // 0 : 0;
ok t_cmp($points, $polls - 1, 'counter chart: a rate for each poll after the first');
my ($line) = $chart ? $chart->look_down(_tag => 'polyline') : ();
my @xy = $line ? split ' ', $line->attr('points') : ();
check(@xy == $points && $points > 0
      && !grep({ !/^\d+(\.\d)?,\d+(\.\d)?$/ } @xy), "counter chart's line: @xy");
my @dots = $chart ? $chart->look_down(_tag => 'circle') : ();
check @dots == $points && $points > 0, 'and its points: ' . scalar @dots;

# The store.
my $mu = $after->{memory_usage};
ok t_cmp(text_of('store-backend'), $mu->{store}, 'store backend');
ok t_cmp(text_of('store-generation'), $mu->{store_generation}, 'store generation');
ok t_cmp(value_of('store-size'), $mu->{shm_size_bytes}, 'segment size');
ok t_cmp(text_of('store-mpm'), $mu->{mpm}, 'MPM');

# The cache and its limiter.
ok t_cmp(text_of("cache-$_"), $cache_after->{$_}, "cache $_")
    for qw(hits misses sets deletes evictions expirations);
ok t_cmp(text_of('cache-entries'), $cache_after->{total_entries}, 'cache entries');
ok t_cmp(value_of('cache-bytes-used'), $cache_after->{bytes_used}, 'cache bytes used');
ok t_cmp(value_of('cache-capacity'), $cache_after->{capacity_bytes}, 'cache capacity');
my $ratio = $cache_after->{hits} / ($cache_after->{hits} + $cache_after->{misses});
check abs(value_of('cache-hit-ratio') - $ratio) < 1e-9
    && abs(text_of('cache-hit-ratio') =~ s/%$//r - 100 * $ratio) <= 0.05 + 1e-9,
    'hit ratio ' . text_of('cache-hit-ratio') . " = $ratio";
my $fill = $by_id{'cache-fill-bar'} ? $by_id{'cache-fill-bar'}->attr('width') : -1;
check abs($fill - 600 * $cache_after->{bytes_used} / $cache_after->{capacity_bytes}) < 0.1,
    "bytes used against capacity, drawn ($fill of 600)";
for my $c ('chart-hit-ratio', 'chart-evictions') {
    my $e = $by_id{$c};
    my $n = $e ? $e->attr('data-points') // 0 : 0;
    ok t_cmp($n, $c eq 'chart-hit-ratio' ? $polls : $polls - 1, "$c: points");
}
ok t_cmp(text_of("limiter-$_->[0]"), $cache_after->{ $_->[1] }, "limiter $_->[1]")
    for [qw(in-flight in_flight)], [qw(max max_concurrent)],
        [qw(peak peak_in_flight)], [qw(rejected rejected)], [qw(healed healed)];

# Requests by endpoint and the other limiters come from metrics; without
# it, the page says so.
if ($has_metrics) {
    my $m = metrics();
    my %row = map { ($_->attr('data-endpoint') // '') =>
                    { map { ($_->attr('class') => $_->as_text) }
                      $_->look_down(_tag => 'td') } }
              ($by_id{endpoints} ? $by_id{endpoints}->look_down(_tag => 'tr') : ());
    my $none = { requests => 'none', errors => 'none', mean => 'none' };
    my $inc = $row{'counter/increment'} // $none;
    my $key = $row{'cache/{key}'} // $none;
    ok t_cmp(text_of('metrics-note'), '', 'metrics read');
    # (a series appears with its first request)
    ok t_cmp($inc->{requests} - ($metrics0->{requests}{'counter/increment'} // 0),
             $n_incr, 'requests to counter/increment: moved by the increments');
    ok t_cmp("$inc->{requests} $inc->{errors}",
             "$m->{requests}{'counter/increment'} " . ($m->{errors}{'counter/increment'} // 0),
             'counter/increment: requests and errors as metrics says');
    ok t_cmp("$key->{requests} $key->{errors}",
             "$m->{requests}{'cache/{key}'} " . ($m->{errors}{'cache/{key}'} // 0),
             'cache/{key}: requests and errors (its 404s) as metrics says');
    my $mean = 1000 * $m->{sum}{'counter/increment'} / $m->{count}{'counter/increment'};
    check $inc->{mean} =~ /^([\d.]+) ms$/ && abs($1 - $mean) < 0.0006,
        "counter/increment mean latency $inc->{mean}, metrics: $mean ms";
    my $rp = $by_id{'chart-requests'} ? $by_id{'chart-requests'}->attr('data-points') : 0;
    my $lp = $by_id{'chart-latency'} ? $by_id{'chart-latency'}->attr('data-points') : 0;
    check $rp >= $polls - 1 && $lp >= $polls - 1,
        "request and latency charts drew points ($rp, $lp)";
    my @kinds = grep { $_ ne 'cache' } sort keys %{ $m->{limit} };
    ok t_cmp(join(' ', map { cells_of("limiter-$_") } @kinds),
             join(' ', map { my $k = $_; join ' ', $k, map { $m->{$_}{$k} }
                             qw(limit_in limit peak_l rej heal) } @kinds),
             "limiters from metrics: @kinds");
}
else {
    ok t_cmp(text_of('metrics-note'), qr/no metrics endpoint/, 'no metrics: said');
    skip('no metrics endpoint in this build', 0) for 1 .. 6;
}

# ---- below another mount of the same state: its relative URLs follow
$rc = browser(90, "$logs/$name.mount2.dom.html", "$logs/$name.mount2.console.log",
              '--virtual-time-budget=3000', '--dump-dom',
              "http://127.0.0.1:" . port() . "/api/v2/state/dashboard?interval=1000");
my ($dom2, $body2, $by_id2) = load_dom("$logs/$name.mount2.dom.html");
my ($started2, @bad2) = console("$logs/$name.mount2.console.log");
check $rc eq '0' && $body2 && ($body2->attr('data-polls') // 0) >= 1
    && ($body2->attr('data-errors') // '') eq '0' && $started2 && !@bad2,
    "below /api/v2/state: polled, no error, a quiet console: @bad2";
ok t_cmp(join(' | ', map { $by_id2->{$_} ? $by_id2->{$_}->as_text : '(missing)' }
                     qw(where counter-value cache-entries)),
         join(' | ', text_of('where') =~ s{/hl}{/api/v2/state}r,
              $after->{current_value}, $cache_after->{total_entries}),
         'below /api/v2/state: its mount, the same figures');
$dom2->delete;

# ---- where metrics is refused (Require): the store's figures still shown
$rc = browser(90, "$logs/$name.nometrics.dom.html", "$logs/$name.nometrics.console.log",
              '--virtual-time-budget=3000', '--dump-dom',
              "http://127.0.0.1:" . port() . "/hl-nometrics/dashboard?interval=1000");
my ($dom3, $body3, $by_id3) = load_dom("$logs/$name.nometrics.dom.html");
my $text3 = sub { $by_id3->{ $_[0] } ? $by_id3->{ $_[0] }->as_text : '(missing)' };
check $rc eq '0' && $body3 && ($body3->attr('data-polls') // 0) >= 1
    && $text3->('counter-value') eq $after->{current_value}
    && $text3->('cache-entries') eq $cache_after->{total_entries},
    'metrics refused: the counter and the cache are shown ('
    . join(' | ', map { $text3->($_) } qw(counter-value cache-entries status)) . ')';
ok t_cmp($text3->('metrics-note'), qr/metrics did not answer \(metrics: 403 /,
         'and the note says why there are no figures by endpoint');
$dom3->delete;
$dom->delete;

# ---- a screenshot for the logs (a person looks at it)
$rc = browser(90, "$logs/$name.screenshot.out", "$logs/$name.screenshot.log",
              '--virtual-time-budget=6000', '--window-size=1280,1500',
              '--hide-scrollbars', "--screenshot=$logs/$name.png", $url);
my $png = -e "$logs/$name.png" ? slurp("$logs/$name.png") : '';
check $rc eq '0' && substr($png, 0, 8) eq "\x89PNG\r\n\x1a\n" && length $png > 20_000,
    "screenshot in $logs/$name.png";
