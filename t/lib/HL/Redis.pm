package HL::Redis;
# A private redis-server for the tests, never the system's service: it
# listens on 127.0.0.1 only, on a free port, keeps its files in a temp
# dir, and is stopped whatever happens to the test (HL::Cleanup).  It can
# be killed (SIGKILL), started again on the same port with the same data
# dir, and paused (SIGSTOP) and resumed.
#
#   my $r = HL::Redis->new(password => 'pw', aof => 1);
#   $r->url;                  # redis://:pw@127.0.0.1:PORT
#   $r->command('GET', 'k');  # one command, its reply
#
# Options: password (requirepass), aof (appendonly yes, appendfsync
# always: every write is on disk before Redis answers it), unix (a unix
# socket in the temp dir too: unix_url).
use strict;
use warnings FATAL => 'all';

use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use IO::Select ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes qw(sleep time);
use HL::Cleanup ();
use HL::Test ();

sub binary {
    for my $d (split(/:/, $ENV{PATH} // ''), '/usr/bin', '/usr/sbin') {
        return "$d/redis-server" if -x "$d/redis-server";
    }
    return undef;
}

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub new {
    my ($class, %opt) = @_;
    my $bin = binary() or die "no redis-server on PATH (Debian: redis-server)";
    my $self = bless {
        bin      => $bin,
        dir      => tempdir('hl-redis.XXXXXX', TMPDIR => 1, CLEANUP => 0),
        port     => $opt{port} || free_port(),
        password => $opt{password},
        aof      => $opt{aof} ? 1 : 0,
        unix     => $opt{unix} ? 1 : 0,
    }, $class;
    $self->write_conf;
    HL::Cleanup::register($self);
    $self->start;
    return $self;
}

sub port     { $_[0]{port} }
sub dir      { $_[0]{dir} }
sub pid      { $_[0]{pid} }
sub password { $_[0]{password} }
sub addr     { "127.0.0.1:$_[0]{port}" }

# The URL HyperlaneStore takes.
sub url {
    my $self = shift;
    my $auth = defined $self->{password} ? ":$self->{password}@" : '';
    return "redis://$auth" . $self->addr;
}

# redis+unix:///DIR/redis.sock, with unix => 1.
sub unix_url { "redis+unix://$_[0]{dir}/redis.sock" }

sub write_conf {
    my $self = shift;
    my ($dir, $port) = @$self{qw(dir port)};
    open my $fh, '>', "$dir/redis.conf" or die "$dir/redis.conf: $!";
    print $fh <<"CONF";
bind 127.0.0.1
protected-mode yes
port $port
dir $dir
logfile $dir/redis.log
daemonize no
save ""
appendonly @{[ $self->{aof} ? 'yes' : 'no' ]}
appendfsync always
enable-debug-command local
CONF
    print $fh "requirepass $self->{password}\n" if defined $self->{password};
    print $fh "unixsocket $dir/redis.sock\nunixsocketperm 700\n" if $self->{unix};
    close $fh;
}

# Starts redis-server and waits (60 s at most: a busy machine) until it
# answers PING, with PONG or, while it loads its data, LOADING.  Dies if
# it does not.
sub start {
    my $self = shift;
    die "redis-server already running" if $self->{pid};
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/redis.out";
        open STDERR, '>&', \*STDOUT;
        # Killed with the test if the test itself is killed (no END then).
        my @pdeath = -x '/usr/bin/setpriv' ? ('/usr/bin/setpriv', '--pdeathsig', 'KILL') : ();
        { exec @pdeath, $self->{bin}, "$self->{dir}/redis.conf" }
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    my $deadline = time + 60;
    while (time < $deadline) {
        my $r = eval { $self->command('PING') };
        return 1 if defined $r && ($r eq 'PONG' || (ref $r && $r->{error} =~ /^LOADING/));
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            delete $self->{pid};
            die "redis-server exited: " . $self->log;
        }
        sleep 0.05;
    }
    die "redis-server did not answer PING within 60 s: " . $self->log;
}

# SIGKILL, and reaped: Redis has no chance to write anything more.
sub kill {
    my $self = shift;
    my $pid = delete $self->{pid} or return;
    CORE::kill('KILL', $pid);
    waitpid($pid, 0);
}

sub restart { my $self = shift; $self->kill; $self->start }

# SIGSTOP: the socket stays open and accepts, but nothing answers.
sub pause  { CORE::kill('STOP', $_[0]{pid}) if $_[0]{pid} }
sub resume { CORE::kill('CONT', $_[0]{pid}) if $_[0]{pid} }

sub stop {
    my $self = shift;
    if (my $pid = delete $self->{pid}) {
        CORE::kill('CONT', $pid);
        CORE::kill('TERM', $pid);
        my $deadline = time + 10;
        sleep 0.05 while waitpid($pid, POSIX::WNOHANG()) == 0 && time < $deadline;
        if (CORE::kill(0, $pid)) {
            CORE::kill('KILL', $pid);
            waitpid($pid, 0);
        }
    }
    HL::Cleanup::forget($self);
    my $dir = delete $self->{dir};
    remove_tree($dir) if $dir && -d $dir && !$ENV{HL_KEEP_REDIS};
}

sub log { HL::Test::read_file("$_[0]{dir}/redis.log") }

# One command on a new connection (AUTH first when there is a password);
# the reply: a string, an integer, undef (nil), an array ref, or for an
# error reply a hash ref {error => text}.  Dies when no reply comes within
# $self->{timeout} (5 s).
sub command {
    my ($self, @args) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                     Proto => 'tcp', Timeout => 5)
        or die "connect to " . $self->addr . ": $!";
    my $conn = { sock => $sock, buf => '' };
    if (defined $self->{password}) {
        my $r = _call($conn, 'AUTH', $self->{password});
        die "AUTH: $r->{error}" if ref $r eq 'HASH';
    }
    my $r = _call($conn, @args);
    close $sock;
    return $r;
}

sub _call {
    my ($conn, @args) = @_;
    my $req = '*' . @args . "\r\n";
    $req .= '$' . length($_) . "\r\n$_\r\n" for @args;
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite($conn->{sock}, $req, length($req) - $off, $off);
        die "write to redis: $!" unless $n;
        $off += $n;
    }
    $conn->{deadline} = time + 5;
    return _reply($conn);
}

sub _line {
    my $conn = shift;
    while ((my $i = index($conn->{buf}, "\r\n")) < 0) { _fill($conn) }
    my $i = index($conn->{buf}, "\r\n");
    my $line = substr($conn->{buf}, 0, $i);
    substr($conn->{buf}, 0, $i + 2, '');
    return $line;
}

sub _fill {
    my $conn = shift;
    my $left = $conn->{deadline} - time;
    die "no reply from redis within 5 s\n"
        if $left <= 0 || !IO::Select->new($conn->{sock})->can_read($left);
    my $n = sysread($conn->{sock}, $conn->{buf}, 65536, length $conn->{buf});
    die "redis closed the connection\n" unless $n;
}

sub _reply {
    my $conn = shift;
    my $line = _line($conn);
    my ($t, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $t eq '+';
    return { error => $rest } if $t eq '-';
    return 0 + $rest if $t eq ':';
    if ($t eq '$') {
        return undef if $rest < 0;
        _fill($conn) while length($conn->{buf}) < $rest + 2;
        my $s = substr($conn->{buf}, 0, $rest);
        substr($conn->{buf}, 0, $rest + 2, '');
        return $s;
    }
    if ($t eq '*') {
        return undef if $rest < 0;
        return [ map { _reply($conn) } 1 .. $rest ];
    }
    die "not a redis reply: $line\n";
}

# run_with(LOG, COMMAND...): COMMAND with a private redis-server as the
# suite's store (HL_STORE its URL, HL_REDIS_PREFIX a fresh prefix: see
# HL::SuiteStore); its exit code, or 1 if redis-server did not start.
# redis-server is stopped whatever happens, its log copied to LOG.
# t/steps/redis runs it as
#     perl -MHL::Redis -e 'exit HL::Redis::run_with(@ARGV)' LOG COMMAND...
sub run_with {
    my ($log, @cmd) = @_;
    my $redis = eval { HL::Redis->new };
    if (!$redis) {
        print STDERR "no private redis-server for the suite: $@";
        return 1;
    }
    local $ENV{HL_STORE} = $redis->url;
    local $ENV{HL_REDIS_PREFIX} = "hl-suite-$$:";
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        setpgrp(0, 0);
        { exec @cmd }
        print STDERR "$cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    # TERM, INT or HUP end this process (HL::Cleanup): the command's
    # process group is sent TERM first, then redis-server is stopped.
    my $child = bless { pid => $pid }, 'HL::Redis::Command';
    HL::Cleanup::register($child);
    waitpid($pid, 0);
    HL::Cleanup::forget($child);
    my $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    if (open my $fh, '>', $log) {
        print $fh $redis->log, $redis->slowest;
        close $fh;
    }
    $redis->stop;
    return $rc;
}

# Redis's slow log (commands over 10 ms, the default), slowest first, one
# line each: what to look at when the module's commands hit its timeout.
sub slowest {
    my $self = shift;
    my $log = eval { $self->command('SLOWLOG', 'GET', 128) };
    return '' unless ref $log eq 'ARRAY';
    my @lines = map { sprintf "slowlog: %d us: %s\n", $_->[2],
                          join(' ', map { substr($_, 0, 40) } grep { defined }
                                        @{ $_->[3] }[0 .. 2]) }
                sort { $b->[2] <=> $a->[2] } @$log;
    return join '', @lines;
}

sub DESTROY {
    my $self = shift;
    local ($@, $?);
    $self->stop if $self->{dir};
}

package HL::Redis::Command;

sub stop {
    my $self = shift;
    kill 'TERM', -$self->{pid};
    waitpid($self->{pid}, 0);
}

1;
