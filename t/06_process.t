# process and process/pooled: answers match the formulas for bodies of
# every shape and size, the worker's memory stays flat while a 1 GiB body
# streams through, and limits and broken bodies answer with JSON.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use HL::Test qw(check json_req connect_server send_request read_response
                refsum decode_json_ok);
use POSIX qw(ceil);

plan tests => 115;

my $dir = tempdir(CLEANUP => 1);
my $MiB = 1024 * 1024;

sub random_file {
    my ($name, $size) = @_;
    my $file = "$dir/$name";
    system("head -c $size /dev/urandom > '$file'") == 0 or die "head: $?";
    return $file;
}

# Pieces of a file, of random sizes between 1 and $max bytes.
sub file_pieces {
    my ($file, $max) = @_;
    open my $fh, '<:raw', $file or die "$file: $!";
    return sub {
        my $n = read($fh, my $buf, 1 + int(rand($max)));
        return $n ? $buf : undef;
    };
}

sub post_file {
    my ($path, $file, $chunked) = @_;
    my $sock = connect_server();
    send_request($sock, 'POST', $path, next => file_pieces($file, 300_000),
                 $chunked ? () : (length => -s $file));
    my ($status, $h, $body) = read_response($sock, 300);
    return ($status, $h, decode_json_ok($body));
}

sub check_process {
    my ($file, $label, $chunked) = @_;
    my ($total, $sum, $pooled) = refsum($file);
    my ($status, $h, $j) = post_file('/hl/process', $file, $chunked);
    ok t_cmp($status, 200, "process $label: 200");
    ok t_cmp($h->{'content-type'}, qr{^application/json});
    ok t_cmp($j->{total_bytes}, $total, "process $label: total_bytes");
    ok t_cmp($j->{checksum}, $sum, "process $label: checksum");
    ok t_cmp($j->{chunks_processed}, ceil($total / 4096), "process $label: chunks");
    check($j->{chunk_size} == 4096 && $j->{processing_method} eq 'streaming',
          "process $label: chunk_size and method");

    ($status, $h, $j) = post_file('/hl/process/pooled', $file, $chunked);
    my $pr = $j->{processing_result};
    ok t_cmp($status, 200, "pooled $label: 200");
    check($pr->{input_size} == $total && $pr->{output_size} == $total,
          "pooled $label: sizes $pr->{input_size} $pr->{output_size}");
    ok t_cmp($pr->{checksum}, $pooled, "pooled $label: checksum");
    ok t_cmp($pr->{average}, $total ? int($pooled / $total) : 0, "pooled $label: average");
    my $mp = $j->{memory_pool};
    check($pr->{buffer_capacity} == 8192 && $mp->{buffer_size} == 8192
          && $mp->{max_size} == 100 && $mp->{current_size} <= 100
          && $mp->{created} >= 1 && $mp->{pid} > 0,
          "pooled $label: pool statistics");
}

# Content-Length bodies at the chunk boundaries, and 10 MiB of random bytes.
for my $size (0, 1, 4095, 4096, 4097, 10 * $MiB) {
    check_process(random_file("body-$size", $size), "$size bytes", 0);
}
# 100 MiB, chunked, in pieces of random sizes.
check_process(random_file('body-100M', 100 * $MiB), '100 MiB chunked', 1);
# A small body, chunked too.
check_process(random_file('body-small-chunked', 10_000), '10000 bytes chunked', 1);

# The pool hands buffers back: after the requests above, nothing is in use.
my (undef, undef, $j) = post_file('/hl/process/pooled', random_file('one', 1), 0);
ok t_cmp($j->{memory_pool}{in_use}, 1, 'only this request holds a buffer');
check($j->{memory_pool}{reused} + $j->{memory_pool}{created} >= 1, 'pool counts');

# 1 GiB through one worker: its RSS, read from /proc while the body
# streams, stays within 8 MiB of where it started.
{
    my $sock = connect_server();
    send_request($sock, 'GET', '/hl/counter/stats');
    my ($st, undef, $body) = read_response($sock);
    my $before = decode_json_ok($body)->{memory_usage};
    my $pid = $before->{pid};
    my $rss = sub {
        open my $fh, '<', "/proc/$pid/statm" or return 0;
        my (undef, $pages) = split ' ', scalar <$fh>;
        return $pages * POSIX::sysconf(POSIX::_SC_PAGESIZE());
    };
    my $start = $rss->();
    my $peak = $start;
    my $block = '';
    $block .= pack('N', int rand(2**32)) for 1 .. 256 * 1024;   # 1 MiB
    my $sent = 0;
    open my $ref, '|-', Apache::Test::vars('top_dir') . "/t/tools/refsum > $dir/ref-1g"
        or die "refsum: $!";
    binmode $ref;
    send_request($sock, 'POST', '/hl/process', length => 1024 * $MiB, next => sub {
        return undef if $sent >= 1024 * $MiB;
        if ($sent % (32 * $MiB) == 0) { my $r = $rss->(); $peak = $r if $r > $peak }
        $sent += length $block;
        print $ref $block;
        return $block;
    });
    close $ref;
    my ($status, undef, $out) = read_response($sock, 300);
    my $r = $rss->();
    $peak = $r if $r > $peak;
    my $res = decode_json_ok($out) || {};
    open my $fh, '<', "$dir/ref-1g"; my ($total, $sum) = split ' ', scalar <$fh>;
    ok t_cmp($status, 200, '1 GiB: 200');
    ok t_cmp($res->{total_bytes}, 1024 * $MiB, '1 GiB: total_bytes');
    ok t_cmp($res->{checksum}, $sum, '1 GiB: checksum');
    ok t_cmp($res->{chunks_processed}, 1024 * $MiB / 4096, '1 GiB: chunks');
    t_debug(sprintf "worker %d RSS: start %.1f MiB, peak while streaming %.1f MiB",
            $pid, $start / $MiB, $peak / $MiB);
    check($start > 0 && $peak - $start < 8 * $MiB,
          sprintf('RSS grew by %.2f MiB (< 8)', ($peak - $start) / $MiB));
    send_request($sock, 'GET', '/hl/counter/stats');
    ($st, undef, $body) = read_response($sock);
    my $after = decode_json_ok($body)->{memory_usage};
    ok t_cmp($after->{pid}, $pid, 'same worker answered on the connection');
}

# Over LimitRequestBody (1000 in /hl-limited): 413 JSON, by Content-Length
# and mid-stream when chunked.
for my $case (['process', 0], ['process', 1], ['process/pooled', 0], ['process/pooled', 1]) {
    my ($ep, $chunked) = @$case;
    my $file = random_file("over-$chunked", 5000);
    my ($status, $h, $j) = post_file("/hl-limited/$ep", $file, $chunked);
    ok t_cmp($status, 413, "LimitRequestBody, $ep, chunked=$chunked: 413");
    check($j && $j->{status} == 413 && length $j->{error}, '413 is JSON');
    ok t_cmp($h->{'content-type'}, qr{^application/json});
}
{
    my ($status, $h, $j) = post_file('/hl-limited/process/pooled',
                                     random_file('under', 1000), 0);
    ok t_cmp($status, 200, 'at the limit: 200');
}
# Over HyperlaneMaxBody (1536M here): refused before reading.
{
    my $sock = connect_server();
    send_request($sock, 'POST', '/hl/process', length => 2048 * $MiB);
    my ($status, $h, $body) = read_response($sock, 30);
    ok t_cmp($status, 413, 'HyperlaneMaxBody: 413 on Content-Length');
    my $j = decode_json_ok($body);
    check($j && $j->{status} == 413 && $j->{error} =~ /1610612736/, 'names the limit');
}

# A client that stops mid-body: one log line, and the server goes on.
{
    my $log = Apache::Test::vars('t_logs') . '/error_log';
    my $count = sub {
        open my $fh, '<', $log or return 0;
        return scalar grep { m{/api/v2/state/process.*request body ended} } <$fh>;
    };
    my $before = $count->();
    my $sock = connect_server();
    my $sent = 0;
    send_request($sock, 'POST', '/api/v2/state/process', length => 1_000_000,
                 next => sub { return undef if $sent; $sent = 1; 'x' x 1000 });
    close $sock;
    my $lines = 0;
    for (1 .. 50) { $lines = $count->() - $before; last if $lines; select(undef, undef, undef, 0.1) }
    ok t_cmp($lines, 1, 'one log line for the aborted body');
    my ($res) = json_req('GET', '/hl/counter/stats');
    ok t_cmp($res->code, 200, 'the server still answers');
}

# Methods.
my ($res) = json_req('GET', '/hl/process');
ok t_cmp($res->code, 405, 'GET process: 405');
ok t_cmp($res->header('Allow'), 'POST');
