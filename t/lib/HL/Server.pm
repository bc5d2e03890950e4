package HL::Server;
# A private httpd beside the Apache::Test one, with a configuration of the
# test's own (for settings that differ from the suite's, such as a tiny
# cache or several virtual hosts).  It listens on 127.0.0.1 only, on a free
# port, and runs the MPM the suite runs, or the one new(mpm => ...) names
# (two hosts of one Redis store, one of each MPM).  Once started it is
# stopped whatever happens to the test (HL::Cleanup).
use strict;
use warnings FATAL => 'all';

use Apache::Test ();
use HL::Cleanup ();
use HL::Test ();
use File::Copy ();
use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use HTTP::Request ();
use IO::Socket::INET ();
use HL::JSON ();
use LWP::UserAgent ();
use Time::HiRes qw(sleep time);

sub new {
    my ($class, %opt) = @_;
    my $cfg = Apache::Test::config();
    chomp(my $libexec = `"$cfg->{vars}{apxs}" -q LIBEXECDIR`);
    my $self = bless {
        httpd   => $cfg->{vars}{httpd},
        libexec => $libexec,
        mpm     => $opt{mpm} || $cfg->{server}{mpm} || 'event',
        so      => "$cfg->{vars}{top_dir}/.libs/mod_hyperlane.so",
        # Removed by DESTROY once the server is down (File::Temp's own
        # cleanup runs at exit before DESTROY, and would take the pid file).
        dir     => tempdir(CLEANUP => 0),
        ua      => LWP::UserAgent->new(timeout => 30),
    }, $class;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "no free port: $!";
    $self->{port} = $s->sockport;
    close $s;
    return $self;
}

sub dir  { $_[0]{dir} }
sub port { $_[0]{port} }
sub mpm  { $_[0]{mpm} }
# The parent's pid, once started.
sub pid  { $_[0]{pid} }

# Writes httpd.conf: the common part, then $body (the test's own lines,
# where @DIR@ and @PORT@ are filled in).  $modules: more LoadModule lines,
# loaded before mod_hyperlane.
sub configure {
    my ($self, $body, $modules) = @_;
    $modules //= '';
    my ($dir, $port) = @$self{qw(dir port)};
    $body =~ s/\@DIR\@/$dir/g;
    $body =~ s/\@PORT\@/$port/g;
    open my $fh, '>', "$dir/httpd.conf" or die $!;
    print $fh <<"CONF";
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error_log"
LogLevel notice
DefaultRuntimeDir "$dir"
LoadModule mpm_$self->{mpm}_module $self->{libexec}/mod_mpm_$self->{mpm}.so
LoadModule authz_core_module $self->{libexec}/mod_authz_core.so
$modules
LoadModule hyperlane_module $self->{so}
<Directory />
    Require all granted
</Directory>
$body
CONF
    close $fh;
}

sub libexec { $_[0]{libexec} }

sub ctl {
    my ($self, $what) = @_;
    return system($self->{httpd}, '-f', "$self->{dir}/httpd.conf", '-k', $what) == 0;
}

# (exit code, what httpd -t said)
sub configtest {
    my $self = shift;
    my $out = `"$self->{httpd}" -t -f "$self->{dir}/httpd.conf" 2>&1`;
    return ($? >> 8, $out);
}

sub start {
    my $self = shift;
    HL::Cleanup::register($self);
    $self->ctl('start') or die "httpd did not start: " . $self->log;
    my $up = wait_for(sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                                  PeerPort => $self->{port}) });
    # The port may answer before the pid file is written.
    wait_for(sub { -s "$self->{dir}/httpd.pid" });
    $self->note_pid;
    return $up;
}

# The parent's pid, kept so that the server can be stopped even if its pid
# file is gone.
sub note_pid {
    my $self = shift;
    if (open my $fh, '<', "$self->{dir}/httpd.pid") {
        chomp(my $pid = <$fh> // '');
        $self->{pid} = $pid if $pid =~ /^\d+$/;
    }
}

# Stopped when the parent has exited, not only when its pid file is gone:
# httpd removes the file before the parent closes its listening socket, and
# a start on the same port right after would fail to bind.
sub stop {
    my $self = shift;
    $self->ctl('stop');
    my $pid = $self->{pid};
    my $gone = wait_for(sub { !-e "$self->{dir}/httpd.pid"
                              && !($pid && kill(0, $pid)) });
    if ($gone) {
        delete $self->{pid};
        HL::Cleanup::forget($self);
    }
    return $gone;
}

sub log { HL::Test::read_file("$_[0]{dir}/error_log") }
# The access log, when the configuration keeps one in the server's dir.
sub access_log { HL::Test::read_file("$_[0]{dir}/access_log") }

# (HTTP::Response, decoded JSON or undef)
sub request {
    my ($self, $method, $path, %o) = @_;
    my $req = HTTP::Request->new($method, "http://127.0.0.1:$self->{port}$path",
                                 [ Host => $o{host} || '127.0.0.1' ]);
    $req->content($o{content}) if defined $o{content};
    $req->header(@{ $o{headers} }) if $o{headers};
    # max_redirect => 0: the redirect itself, not where it leads.
    my $keep = $self->{ua}->max_redirect;
    $self->{ua}->max_redirect($o{max_redirect}) if defined $o{max_redirect};
    my $res = $self->{ua}->request($req);
    $self->{ua}->max_redirect($keep);
    my $j = HL::JSON::decode($res->content);
    return ($res, $j);
}

# The condition's first true value, or its false one after 20 s.  Not
# asked once more at the end: a condition that makes a request (a host
# of several children, each with its own state) may answer otherwise the
# second time.
sub wait_for {
    my $cond = shift;
    my $deadline = time + 20;
    my $got;
    sleep 0.1 until ($got = $cond->()) || time > $deadline;
    return $got;
}

sub DESTROY {
    my $self = shift;
    # Whether the test failed, read before stopping the server: the
    # system() of ctl sets $?, which at exit is the test's status (kept
    # for perl by the local).
    my $failed = @Test::FAILDETAIL || (${^GLOBAL_PHASE} eq 'DESTRUCT' && $?);
    local $?;
    if (-e "$self->{dir}/httpd.pid") {
        $self->ctl('stop');
        wait_for(sub { !-e "$self->{dir}/httpd.pid" });
    }
    if ($self->{pid} && kill(0, $self->{pid})) {
        kill 'TERM', $self->{pid};
        my $deadline = time + 10;
        sleep 0.1 while kill(0, $self->{pid}) && time < $deadline;
    }
    $self->keep_log if $failed;
    remove_tree($self->{dir}) if $self->{dir} && -d $self->{dir};
}

# When a check of the test has failed (Test.pm keeps each failure in
# @Test::FAILDETAIL) or it dies, the server's error_log is what the next
# diagnosis needs: it is copied to test-logs/servers/ before the
# directory goes.  A passing test leaves nothing behind.
sub keep_log {
    my $self = shift;
    my $log = "$self->{dir}/error_log";
    return unless -s $log;
    my $keep = Apache::Test::vars('top_dir') . '/test-logs/servers';
    (my $name = $0) =~ s{.*/|\.t$}{}g;
    eval {
        File::Path::make_path($keep);
        File::Copy::copy($log, "$keep/$name-$self->{mpm}-$self->{port}-error_log")
            or die "$!\n";
        1;
    } or warn "# could not keep $log: $@";
}

1;
