package HL::JSON;
# decode(): the answers of the server, parsed by json-c, as the module
# parses what it reads.  t/tools/hl-json-decode runs as a co-process, one
# per Perl process (a forked client starts its own); this file only turns
# its prefix form back into Perl data.  Booleans come back as JSON::PP's
# true and false, so tests may compare them as they would JSON::PP's.
#
#     my $data = HL::JSON::decode($bytes);                  # object or array
#     my $any  = HL::JSON::decode($bytes, allow_nonref => 1);
#
# Undef when json-c rejects the text ($HL::JSON::error says why), or when
# the value is a bare scalar and allow_nonref is not given.
use strict;
use warnings;

use IO::Select ();
use IPC::Open2 ();
use JSON::PP ();

our $error;
my ($pid, $owner, $to, $from);

# HL_JSON_DECODE names the tool outside Apache::Test (t/steps/deb).
sub tool {
    return $ENV{HL_JSON_DECODE} if $ENV{HL_JSON_DECODE};
    require Apache::Test;
    return Apache::Test::vars('top_dir') . '/t/tools/hl-json-decode';
}

sub helper {
    return if $pid && $owner == $$;
    # A forked child leaves its parent's co-process alone: it shares the
    # pipes, so it must not write to them.
    ($to, $from) = (undef, undef);
    $pid = IPC::Open2::open2($from, $to, tool()) or die "cannot run " . tool();
    $owner = $$;
    binmode $_ for $to, $from;
}

sub decode {
    my ($bytes, %o) = @_;
    $error = undef;
    if (!defined $bytes) { $error = 'no text'; return undef }
    utf8::downgrade($bytes, 1) or do { $error = 'wide characters'; return undef };
    my $got = eval { exchange($bytes) };
    if (!defined $got) {
        # The stream may be out of step: the next call starts a new tool.
        stop();
        die $@;
    }
    if (substr($got, 0, 1) eq 'E') { $error = substr($got, 1); return undef }
    my $pos = 0;
    my $v = value(\$got, \$pos);
    if (!$o{allow_nonref} && ref $v ne 'HASH' && ref $v ne 'ARRAY') {
        $error = 'not an object or array';
        return undef;
    }
    return $v;
}

# One frame out, one back: the tool's payload.
sub exchange {
    my ($bytes) = @_;
    local ($,, $\, $.);
    local $SIG{PIPE} = 'IGNORE';
    helper();
    print {$to} length($bytes), "\n", $bytes or die "hl-json-decode: $!";
    $to->flush or die "hl-json-decode: $!";
    # The tool answers at once; a test must not hang on it if it does not.
    IO::Select->new($from)->can_read(30) or die "hl-json-decode: no answer in 30 s";
    my $len = do { local $/ = "\n"; readline $from };
    die "hl-json-decode stopped" unless defined $len && $len =~ /^(\d+)\n\z/;
    $len = $1;
    my $got = '';
    while (length $got < $len) {
        my $n = read $from, $got, $len - length $got, length $got;
        die "hl-json-decode stopped" unless $n;
    }
    return $got;
}

sub stop {
    return unless $pid && $owner == $$;
    close $to;
    close $from;
    kill 'TERM', $pid;
    waitpid $pid, 0;
    $pid = undef;
}

# "<n>:" at $$pos: n, and $$pos past the colon.
sub count {
    my ($s, $pos) = @_;
    my $colon = index($$s, ':', $$pos);
    my $n = substr($$s, $$pos, $colon - $$pos);
    $$pos = $colon + 1;
    return $n;
}

sub counted {
    my ($s, $pos) = @_;
    my $n = count($s, $pos);
    my $bytes = substr($$s, $$pos, $n);
    $$pos += $n;
    # The tool checked the text as strict UTF-8.
    utf8::decode($bytes) or die "hl-json-decode passed bytes that are not UTF-8";
    return $bytes;
}

sub value {
    my ($s, $pos) = @_;
    my $tag = substr($$s, $$pos++, 1);
    return undef if $tag eq 'n';
    return JSON::PP::true if $tag eq 't';
    return JSON::PP::false if $tag eq 'f';
    if ($tag eq 'i' || $tag eq 'd') {
        my $end = index($$s, ';', $$pos);
        my $text = substr($$s, $$pos, $end - $$pos);
        $$pos = $end + 1;
        return 0 + $text;
    }
    return counted($s, $pos) if $tag eq 's';
    my $n = count($s, $pos);
    return [ map { value($s, $pos) } 1 .. $n ] if $tag eq 'a';
    die "hl-json-decode wrote '$tag'" unless $tag eq 'o';
    my %h;
    for (1 .. $n) {
        my $k = counted($s, $pos);
        $h{$k} = value($s, $pos);
    }
    return \%h;
}

1;
