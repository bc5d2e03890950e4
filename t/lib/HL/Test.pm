package HL::Test;
# Helpers shared by the Apache::Test files: JSON requests against the test
# server, and a bounded load client that talks HTTP/1.1 keep-alive to
# 127.0.0.1 only and counts every answer it gets.
use strict;
use warnings FATAL => 'all';

use Apache::Test ();
use Apache::TestRequest ();
use HL::SuiteStore ();
use IO::Socket::INET ();
use IO::Select ();
use HL::JSON ();
use HTTP::Request ();
use Time::HiRes qw(time);
use Exporter 'import';

our @EXPORT_OK = qw(check json_req connect_server send_request one_request
                    read_response refsum decode_json_ok hammer port httpd_pid
                    wait_for_generation children_of fork_clients read_file
                    check_store);

# ok() of Test.pm compares when given two arguments; check() takes a
# condition and a name, and prints the name on failure.  The prototype
# puts the condition in scalar context: in a list, a failed match at its
# end (check($x && $y =~ /z/, 'name')) is an empty list, the name took
# its place, and the check passed.
sub check($;$) {
    my ($cond, $name) = @_;
    print "# check: $name\n" if defined $name && !$cond;
    return Apache::Test::ok($cond ? 1 : 0);
}

sub port { Apache::Test::vars('port') }

# check() that $stats, the answer of GET cache, comes from the store this
# run means (HL::SuiteStore): shm, or Redis under t/steps/redis.
sub check_store {
    my ($stats) = @_;
    my $want = HL::SuiteStore::kind();
    my $got = ref $stats eq 'HASH' ? $stats->{store} // 'nothing' : 'no JSON';
    return check($got eq $want, "the store is $want (the server says $got)");
}

# (HTTP::Response, decoded JSON or undef)
sub json_req {
    my ($method, $path, %opt) = @_;
    my $req = HTTP::Request->new($method, "http://127.0.0.1:" . port() . $path,
                                 $opt{headers} || []);
    $req->content($opt{content}) if defined $opt{content};
    my $ua = Apache::TestRequest::user_agent(keep_alive => 1);
    my $res = $ua->request($req);
    # A kept-alive connection that the server closed just as the request
    # went out (a child retiring after load, or killed) gets LWP's own 500,
    # marked as an internal response; like a browser, try an idempotent
    # request once more on a new connection.  A server's 500 is not retried.
    if ($method ne 'POST' && ($res->header('Client-Warning') // '') eq 'Internal response') {
        $ua->conn_cache->drop if $ua->conn_cache;
        $res = $ua->request($req);
    }
    my $json = HL::JSON::decode($res->content, allow_nonref => 1);
    return ($res, $json);
}

sub decode_json_ok {
    my $s = shift;
    return HL::JSON::decode($s);
}

sub httpd_pid {
    my $file = Apache::Test::vars('t_pid_file');
    open my $fh, '<', $file or die "cannot read $file: $!";
    chomp(my $pid = <$fh>);
    return $pid;
}

# The pids of a process's children, from /proc.
sub children_of {
    my $parent = shift;
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S+ (\d+)/ or next;
        push @kids, $pid if $ppid == $parent;
    }
    return @kids;
}

# One HTTP/1.1 request on a keep-alive socket.  Returns (status, close,
# head, body) or () when no answer came at all; then $no_answer says why:
# write (the request could not be sent), timeout, eof (the server closed
# the connection first), or bad (not an answer with a Content-Length).
our $no_answer = '';
sub one_request {
    my ($sock, $method, $path, $body, $timeout) = @_;
    $body //= '';
    my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            . "Content-Length: " . length($body) . "\r\n\r\n$body";
    local $SIG{PIPE} = 'IGNORE';
    $no_answer = 'write';
    return () unless defined syswrite($sock, $req);
    my $buf = '';
    my $sel = IO::Select->new($sock);
    my $deadline = time + $timeout;
    my ($head_end, $status, $len, $close);
    while (1) {
        my $left = $deadline - time;
        $no_answer = 'timeout';
        return () if $left <= 0 || !$sel->can_read($left);
        $no_answer = 'eof';
        my $n = sysread($sock, $buf, 65536, length $buf);
        return () unless $n;
        $no_answer = 'bad';
        if (!defined $head_end && (my $i = index($buf, "\r\n\r\n")) >= 0) {
            $head_end = $i + 4;
            my $head = substr($buf, 0, $i);
            ($status) = $head =~ m{^HTTP/1\.\d (\d{3})};
            ($len) = $head =~ m{\r\nContent-Length:\s*(\d+)}i;
            $close = $head =~ m{\r\nConnection:\s*close}i ? 1 : 0;
            return () unless defined $status && defined $len;
        }
        return ($status, $close, substr($buf, 0, $head_end), substr($buf, $head_end, $len))
            if defined $head_end && length($buf) >= $head_end + $len;
    }
}

# Runs $clients processes that together send $total requests ($method $path)
# over keep-alive connections to 127.0.0.1, each request at most once (a
# request with no answer is counted, never retried).  Bounded by $opt{seconds}.
# With stop_file, clients also stop once that file exists.  The server is
# the test server, or with ports => [...] client i talks to port i mod n.
# An answer must come within $opt{timeout} seconds (30), else it is none.
# Returns { ok => 2xx answers, other => non-2xx, none => no answer, sent,
# s503 => 503 answers, bad503 => those of them without Retry-After or
# without a JSON error of status 503, slow => answers that took longer
# than $opt{slow} seconds (when given), ok_pN => 2xx answers of port N,
# and for each NAME => qr/.../ of $opt{match} the answers whose body
# matches }.
sub hammer {
    my (%opt) = @_;
    my $clients = $opt{clients} || 50;
    my $total = $opt{total} || 1000;
    my $method = $opt{method} || 'GET';
    my $path = $opt{path} or die "path";
    my $seconds = $opt{seconds} || 120;
    my @ports = $opt{ports} ? @{ $opt{ports} } : (port());
    my $timeout = $opt{timeout} || 30;
    return fork_clients($clients, sub {
        my $c = shift;
        my $port = $ports[$c % @ports];
        my $share = int($total / $clients) + ($c < $total % $clients ? 1 : 0);
        my %n = (ok => 0, other => 0, none => 0, sent => 0, s503 => 0,
                 bad503 => 0, slow => 0, "ok_p$port" => 0);
        my %match = %{ $opt{match} || {} };
        $n{$_} = 0 for keys %match;
        my $deadline = time + $seconds;
        my $sock;
        for (1 .. $share) {
            last if time > $deadline;
            last if $opt{stop_file} && -e $opt{stop_file};
            $sock ||= IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                PeerPort => $port, Proto => 'tcp', Timeout => 10);
            if (!$sock) { $n{none}++; $n{none_connect}++; $n{sent}++; select(undef, undef, undef, 0.05); next }
            $n{sent}++;
            my $t0 = time;
            my ($status, $close, $head, $body) = one_request($sock, $method,
                $path, $opt{body}, $timeout);
            if (!defined $status) { $n{none}++; $n{"none_$no_answer"}++; undef $sock; next }
            $n{slow}++ if $opt{slow} && time - $t0 > $opt{slow};
            if ($status =~ /^2/) { $n{ok}++; $n{"ok_p$port"}++ } else { $n{other}++ }
            $body =~ $match{$_} and $n{$_}++ for keys %match;
            if ($status == 503) {
                $n{s503}++;
                my $j = decode_json_ok($body);
                $n{bad503}++ unless $head =~ /\r\nRetry-After:\s*\d+/i
                    && ref $j eq 'HASH' && defined $j->{error} && ($j->{status} // 0) == 503;
            }
            undef $sock if $close;
        }
        return \%n;
    }, qw(ok other none sent s503 bad503 slow));
}

# Runs $code->($i) in $n forked processes (i = 0 .. n-1) at once; each
# returns a hash of counts, and the sums come back (the names in @zero
# are there even when 0).
sub fork_clients {
    my ($n, $code, @zero) = @_;
    my @kids;
    for my $c (0 .. $n - 1) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork() // die "fork: $!";
        if (!$pid) {
            close $r;
            my $counts = $code->($c);
            print $w join(' ', map { "$_=$counts->{$_}" } sort keys %$counts), "\n";
            close $w;
            require POSIX;
            POSIX::_exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    my %sum = map { $_ => 0 } @zero;
    for my $k (@kids) {
        my ($pid, $r) = @$k;
        my $line = <$r> // '';
        $sum{$1} += $2 while $line =~ /(\w+)=(\d+)/g;
        waitpid($pid, 0);
    }
    return \%sum;
}

sub read_file {
    my $file = shift;
    open my $fh, '<', $file or return '';
    local $/;
    return <$fh>;
}

sub connect_server {
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => port(),
                                 Proto => 'tcp', Timeout => 10)
        // die "cannot connect to 127.0.0.1:" . port() . ": $!";
}

# Sends one request on $sock.  The body comes from $o{next}, a sub that
# returns the next piece or undef; it is sent with Content-Length
# ($o{length}) or, without one, chunked.  Stops writing quietly if the
# server closes early (a 413 answered before the body ends).  Returns the
# bytes written.
sub send_request {
    my ($sock, $method, $path, %o) = @_;
    my $chunked = !defined $o{length} && $o{next};
    my $head = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    $head .= "Content-Length: $o{length}\r\n" if defined $o{length};
    $head .= "Transfer-Encoding: chunked\r\n" if $chunked;
    $head .= "$_\r\n" for @{ $o{headers} || [] };
    local $SIG{PIPE} = 'IGNORE';
    my $sent = 0;
    _write_all($sock, "$head\r\n") or return 0;
    while ($o{next} and defined(my $piece = $o{next}->())) {
        next unless length $piece;
        my $out = $chunked ? sprintf("%x\r\n%s\r\n", length $piece, $piece) : $piece;
        _write_all($sock, $out) or return $sent;
        $sent += length $piece;
    }
    _write_all($sock, "0\r\n\r\n") if $chunked;
    return $sent;
}

sub _write_all {
    my ($sock, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($sock, $data, length($data) - $off, $off);
        return 0 unless $n;
        $off += $n;
    }
    return 1;
}

# (status, {lower-case header => value}, body) or () on no answer.
sub read_response {
    my ($sock, $timeout) = @_;
    $timeout //= 120;
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my $deadline = time + $timeout;
    my ($status, %h, $end);
    while (1) {
        my $left = $deadline - time;
        return () if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($sock, $buf, 65536, length $buf);
        if (!$n) {
            # No Content-Length: the body runs to the end of the connection.
            return ($status, \%h, substr($buf, $end))
                if defined $end && !defined $h{'content-length'};
            return ();
        }
        if (!defined $end && (my $i = index($buf, "\r\n\r\n")) >= 0) {
            $end = $i + 4;
            my @lines = split /\r\n/, substr($buf, 0, $i);
            ($status) = (shift @lines) =~ m{^HTTP/1\.\d (\d{3})};
            for (@lines) { my ($k, $v) = /^([^:]+):\s*(.*)$/; $h{lc $k} = $v if defined $k }
        }
        if (defined $end && defined $h{'content-length'}
            && length($buf) >= $end + $h{'content-length'}) {
            return ($status, \%h, substr($buf, $end, $h{'content-length'}));
        }
    }
}

# The reference figures of a file, from t/tools/refsum:
# (total_bytes, checksum, pooled_sum).
sub refsum {
    my $file = shift;
    my $tool = Apache::Test::vars('top_dir') . '/t/tools/refsum';
    my $out = `"$tool" < "$file"`;
    die "refsum failed on $file" if $? || !$out;
    return split ' ', $out;
}

1;
