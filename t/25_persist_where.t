# Where the snapshot file lives: the parent (root, in production) never
# writes through a symlink someone put at path.tmp, a FIFO at the path
# does not hold the start, a directory others can write is logged at
# start, so is a directory above it that others can change, and
# graceful restarts closer together than the interval do not put the
# periodic write off for ever.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use HL::Test qw(check);
use POSIX ();
use Time::HiRes qw(sleep time);

plan tests => 20;

my $srv = HL::Server->new;
my $dir = $srv->dir;
my $file = "$dir/hl.snapshot";
sub conf {
    my $interval = shift;
    $srv->configure(<<"CONF");
LogLevel notice hyperlane:info
HyperlanePersistFile hl.snapshot
HyperlanePersistInterval $interval
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
}
sub slurp { open my $fh, '<:raw', $_[0] or return; local $/; <$fh> }
sub spill { open my $fh, '>:raw', $_[0] or die "$_[0]: $!"; print $fh $_[1]; close $fh }
my $others = qr/HyperlanePersistFile, \Q$dir\E .*can be written by others/;

# A symlink at path.tmp to a file of someone else's choosing.
conf(0);
spill("$dir/victim", "not yours\n");
symlink("$dir/victim", "$file.tmp") or die "symlink: $!";
check($srv->start, 'private server with HyperlanePersistFile');
check($srv->log !~ $others, 'its own directory: no warning');
$srv->request('POST', '/hl/counter/increment') for 1 .. 3;
check($srv->stop, 'stopped: the snapshot is written at the stop');
ok t_cmp(slurp("$dir/victim"), "not yours\n", 'the symlink\'s target is untouched');
my $snap = slurp($file) // '';
check(!-l $file && substr($snap, 0, 8) eq 'HLSNAPSH' && !-e "$file.tmp",
      'the snapshot is a file of its own');

# A FIFO at the path: not opened for a blocking read, moved aside.
unlink $file;
POSIX::mkfifo($file, 0600) or die "mkfifo: $!";
my $log_before = length $srv->log;
check($srv->start, 'a FIFO at the path: the server starts');
check(substr($srv->log, $log_before) =~ /not loaded: not a regular file.*moved aside/,
      'logged as not a regular file, and moved aside');
check($srv->stop, 'stopped');

# A directory its group can write: said at start.
chmod 0770, $dir or die "chmod: $!";
$log_before = length $srv->log;
check($srv->start, 'a directory its group can write: the server starts');
check(substr($srv->log, $log_before) =~ $others, 'and says so');
check($srv->stop, 'stopped');
chmod 0700, $dir;

# A directory of its own below one that others can write: they could
# rename it away and put theirs in its place, unless the sticky bit
# stops them.
mkdir "$dir/own", 0700 or die "mkdir: $!";
$srv->configure(<<"CONF");
HyperlanePersistFile $dir/own/hl.snapshot
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
my $above = qr/\Q$dir\E, above the directory of HyperlanePersistFile \(\Q$dir\E\/own\)/;
for my $case ([0777, 1, 'others can write it'], [01777, 0, 'sticky'],
              [0700, 0, 'only the parent\'s']) {
    my ($mode, $warned, $what) = @$case;
    chmod $mode, $dir or die "chmod: $!";
    $log_before = length $srv->log;
    check($srv->start, "a directory above, $what: the server starts");
    my $log = substr($srv->log, $log_before);
    check(($log =~ $above ? 1 : 0) == $warned && $log !~ $others,
          $warned ? 'and says so' : 'no warning');
    $srv->stop;
}
chmod 0700, $dir;

# A graceful restart that moves the file: its new directory is judged
# then, not at the next full start.
mkdir "$dir/shared", 0770 or die "mkdir: $!";
chmod 0770, "$dir/shared";
check($srv->start, 'started with the file in its own directory');
$srv->configure(<<"CONF");
HyperlanePersistFile $dir/shared/hl.snapshot
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
$log_before = length $srv->log;
$srv->ctl('graceful');
my $said;
for (1 .. 100) {
    last if ($said = substr($srv->log, $log_before)
                     =~ /HyperlanePersistFile, \Q$dir\E\/shared .*can be written by others/);
    sleep 0.1;
}
check($said, 'moved by a graceful restart into a directory its group can write: said then');
$srv->stop;

# Restarts every second against an interval of two: without a write
# being due from the last one (or the start), every new helper would
# sleep a whole interval and die at the next restart first.
unlink $file;
conf(2);
$srv->start;
my $end = time + 8;
while (time < $end) {
    sleep 1;
    $srv->ctl('graceful');
}
my $written = () = $srv->log =~ /snapshot \(periodic\) written/g;
t_debug("$written periodic snapshots");
$srv->stop;
check($written >= 2, "restarts every second, an interval of 2 s: $written periodic "
      . 'snapshots in 8 s');
