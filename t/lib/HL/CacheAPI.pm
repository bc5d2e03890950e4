package HL::CacheAPI;
# What the cache API's tests (t/27-29) share: a keep-alive HTTP/1.1 client
# on one socket (so that a test knows which connection, and so which child,
# answers), that understands answers without a body (HEAD, 304) and
# chunked ones.
use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use IO::Select ();
use IO::Socket::INET ();
use HL::JSON ();

our @EXPORT_OK = qw(ka_connect ka_request pid_of_connection);

sub ka_connect {
    my $port = shift;
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                 Proto => 'tcp', Timeout => 10)
        // die "cannot connect to 127.0.0.1:$port: $!";
}

# (status, {lower-case header => value}, body, decoded JSON or undef), or
# () when no full answer came within $o{timeout} (30) seconds.  decode => 0
# leaves the body undecoded (the JSON is undef).
sub ka_request {
    my ($sock, $method, $path, %o) = @_;
    my $body = $o{body} // '';
    my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            . "Content-Length: " . length($body) . "\r\n";
    $req .= "$_\r\n" for @{ $o{headers} || [] };
    $req .= "\r\n$body";
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite($sock, $req, length($req) - $off, $off);
        return () unless $n;
        $off += $n;
    }
    my $sel = IO::Select->new($sock);
    my $deadline = time + ($o{timeout} || 30);
    my ($buf, $end, $status, %h) = ('');
    while (1) {
        if (!defined $end && (my $i = index($buf, "\r\n\r\n")) >= 0) {
            $end = $i + 4;
            my @lines = split /\r\n/, substr($buf, 0, $i);
            ($status) = (shift @lines) =~ m{^HTTP/1\.\d (\d{3})};
            for (@lines) { my ($k, $v) = /^([^:]+):\s*(.*)$/; $h{lc $k} = $v if defined $k }
        }
        if (defined $end) {
            # No body: HEAD, 304, 204; else exactly Content-Length bytes,
            # or chunks (a long answer goes out as it is written).
            my $none = $method eq 'HEAD' || $status == 304 || $status == 204;
            my $b = $none ? ''
                  : lc($h{'transfer-encoding'} // '') eq 'chunked'
                    ? unchunk(substr($buf, $end))
                  : defined $h{'content-length'} && length($buf) >= $end + $h{'content-length'}
                    ? substr($buf, $end, $h{'content-length'}) : undef;
            if (defined $b) {
                my $j = ($o{decode} // 1)
                        ? HL::JSON::decode($b) : undef;
                return ($status, \%h, $b, $j);
            }
        }
        my $left = $deadline - time;
        return () if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($sock, $buf, 65536, length $buf);
        return () unless $n;
    }
}

# The body of a chunked answer once its last chunk has come, else undef.
sub unchunk {
    my $data = shift;
    my ($body, $at) = ('', 0);
    while (1) {
        my $eol = index($data, "\r\n", $at);
        return undef if $eol < 0;
        my ($size) = substr($data, $at, $eol - $at) =~ /^([0-9a-fA-F]+)/;
        die "bad chunk header\n" unless defined $size;
        $size = hex $size;
        # The last chunk: no trailers from the module, an empty line ends it.
        return length($data) >= $eol + 4 ? $body : undef if $size == 0;
        return undef if length($data) < $eol + 2 + $size + 2;
        $body .= substr($data, $eol + 2, $size);
        $at = $eol + 2 + $size + 2;
    }
}

# The pid of the process serving a keep-alive connection (counter/stats
# reports its own), under the mount $mount.
sub pid_of_connection {
    my ($sock, $mount) = @_;
    my (undef, undef, undef, $j) = ka_request($sock, 'GET', "$mount/counter/stats");
    return $j && $j->{memory_usage} ? $j->{memory_usage}{pid} : undef;
}

1;
