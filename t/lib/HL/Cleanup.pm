package HL::Cleanup;
# The services a test starts (private httpds, redis-servers) are stopped
# whatever happens to the test: at a normal end, after a die, and when the
# test is sent TERM, INT or HUP (which become an exit, so that END runs).
# Only the process that started a service stops it: the children a test
# forks (load clients) inherit this list but never act on it.  Services
# go in the reverse order of their start (an httpd before the Redis it
# talks to).
use strict;
use warnings FATAL => 'all';

my @services;

# $obj has a stop method; it is kept until forget($obj) or the end.
sub register {
    my $obj = shift;
    push @services, [$obj, $$];
    for my $sig (qw(TERM INT HUP)) {
        $SIG{$sig} = sub { exit 128 } unless $SIG{$sig} && ref $SIG{$sig};
    }
}

sub forget {
    my $obj = shift;
    @services = grep { $_->[0] != $obj } @services;
}

sub stop_all {
    while (my $s = pop @services) {
        my ($obj, $owner) = @$s;
        next unless $owner == $$;
        local $@;
        eval { $obj->stop };
    }
}

END {
    my $rc = $?;
    stop_all();
    $? = $rc;
}

1;
