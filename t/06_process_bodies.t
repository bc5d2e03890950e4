# Bodies that stop coming, and bodies refused by their length, on a
# private server of one process with mod_reqtimeout (body=1):
#   - a body that times out is 408 JSON, whether the endpoint reads it
#     (process, process/pooled) or drops it (counter/increment, the
#     benchmark), and the counter does not move;
#   - a refusal (405) reads a small body first (408 JSON if it stalls,
#     the connection kept if it arrives) and answers a large one at once,
#     as JSON, closing the connection instead of waiting for the body;
#   - process/pooled refused by its length takes no buffer of the pool.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use HL::Test qw(check read_response decode_json_ok);
use IO::Socket::INET ();

plan tests => 22;

my $srv = HL::Server->new;
$srv->configure(<<'CONF', "LoadModule reqtimeout_module " . $srv->libexec . "/mod_reqtimeout.so");
RequestReadTimeout header=5 body=1
HyperlaneMaxBody 1M
<IfModule mpm_prefork_module>
    StartServers 1
    MinSpareServers 1
    MaxSpareServers 1
    ServerLimit 1
    MaxRequestWorkers 1
</IfModule>
<IfModule mpm_event_module>
    StartServers 1
    ServerLimit 1
    ThreadsPerChild 4
    MinSpareThreads 1
    MaxSpareThreads 4
    MaxRequestWorkers 4
</IfModule>
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
check($srv->start, 'private server of one process, RequestReadTimeout body=1');

# Sends the head and the start of a body, then nothing more.
sub stalled {
    my ($method, $path, $head) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port,
                                     Proto => 'tcp', Timeout => 5) or die "connect: $!";
    my $body = $head =~ /chunked/ ? "a\r\n0123456789\r\n" : '0123456789';
    print $sock "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n$head\r\n\r\n$body";
    my ($status, $h, $text) = read_response($sock, 15);
    return ($status // 0, $h // {}, decode_json_ok($text // ''));
}
sub counter { my (undef, $j) = $srv->request('GET', '/hl/counter/stats'); $j->{current_value} }

my $before = counter();
for my $c (['POST', '/hl/counter/increment', 'Transfer-Encoding: chunked'],
           ['GET', '/hl/memory/benchmark', 'Content-Length: 1000'],
           ['POST', '/hl/process', 'Content-Length: 1000'],
           ['POST', '/hl/process/pooled', 'Transfer-Encoding: chunked']) {
    my ($method, $path, $head) = @$c;
    my ($status, $h, $j) = stalled(@$c);
    ok t_cmp($status, 408, "$method $path, $head, stalled: 408");
    check(($h->{'content-type'} // '') =~ m{^application/json} && $j && $j->{status} == 408,
          "$method $path: as JSON (" . ($h->{'content-type'} // 'none') . ')');
}
ok t_cmp(counter(), $before, 'no increment from a body that never came');

# counter/stats takes GET only.  A small body is read before the 405 (a
# stalled one is 408 JSON); a large one is not read: 405 JSON at once,
# and the connection closes.
my ($status, $h, $j) = stalled('POST', '/hl/counter/stats', 'Content-Length: 1000');
ok t_cmp($status, 408, 'POST counter/stats with a small stalled body: 408');
check($j && $j->{status} == 408, 'as JSON');
($status, $h, $j) = stalled('POST', '/hl/counter/stats', 'Content-Length: 1000000');
ok t_cmp($status, 405, 'POST counter/stats with a large stalled body: 405');
check($j && $j->{status} == 405, 'as JSON');
check(($h->{connection} // '') =~ /close/i, 'and the connection closes');
# A small body that arrives whole: 405, and the connection goes on.
{
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port,
                                     Proto => 'tcp', Timeout => 5) or die "connect: $!";
    print $sock "POST /hl/counter/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              . "Content-Length: 5\r\n\r\nhello";
    my ($s1) = read_response($sock, 15);
    print $sock "GET /hl/counter/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    my ($s2, undef, $t2) = read_response($sock, 15);
    ok t_cmp($s1 // 0, 405, 'a whole small body to the wrong method: 405');
    check(($s2 // 0) == 200 && decode_json_ok($t2 // ''),
          'and the next request on that connection is answered (' . ($s2 // 'none') . ')');
}

# process/pooled: what the pool counts (buffers made or reused) moves by
# one for each request that gets a buffer, not for one refused by its
# announced length.
sub pool_uses {
    my ($res, $j) = $srv->request('POST', '/hl/process/pooled', content => 'abc');
    return $j ? $j->{memory_pool}{created} + $j->{memory_pool}{reused} : -1;
}
my $uses = pool_uses();
for (1 .. 3) {
    my ($res) = $srv->request('POST', '/hl/process/pooled', content => 'x' x (2 * 1024 * 1024));
    ok t_cmp($res->code, 413, 'a body over HyperlaneMaxBody: 413');
}
ok t_cmp(pool_uses(), $uses + 1, 'the refused ones took no buffer');
check($srv->stop, 'stopped');
