package HL::FlatTAP;
# A TAP::Harness formatter that prints the results of all test files as
# one TAP stream, so that a harness running t/TEST as one of its sources
# (t/steps/apache) counts every test of every file:
#
#     HARNESS_OPTIONS=fHL-FlatTAP PERL5LIB=t/lib perl t/TEST.PL ...
#
# Each test is renumbered and named after its file ("ok 12 - t/02_counter.t
# 3 - ..."), SKIP and TODO directives are kept, comments and other lines
# pass as comments.  A file that ends badly without a failed test (no
# plan, a wrong count, a non-zero exit) adds one "not ok"; so does a run
# in which no test ran.  The plan comes last.
use strict;
use warnings;
use parent 'TAP::Formatter::Base';

sub open_test {
    my ($self, $name, $parser) = @_;
    return HL::FlatTAP::Session->new(
        { name => $name, formatter => $self, parser => $parser });
}

sub emit {
    my ($self, $ok, $text) = @_;
    $text =~ s/#/\\#/g;
    $self->{hl_count}++;
    print(($ok ? 'ok' : 'not ok'), " $self->{hl_count} - $text", @_[3 .. $#_], "\n");
}

sub summary {
    my ($self) = @_;
    $self->emit(0, 'no Apache::Test test ran') unless $self->{hl_count};
    print "1..$self->{hl_count}\n";
}

package HL::FlatTAP::Session;
use strict;
use warnings;
use parent 'TAP::Formatter::Session';

sub result {
    my ($self, $r) = @_;
    if ($r->is_test) {
        my $desc = $r->description;
        $desc =~ s/^-\s*//;
        $self->formatter->emit($r->is_actual_ok, join(' ', $self->name, $r->number,
                                                      length $desc ? ('-', $desc) : ()),
                               $r->has_directive
                               ? (' # ', $r->directive, ' ', $r->explanation) : ());
    }
    elsif (!$r->is_plan && !$r->is_version) {
        my $line = $r->as_string;
        print $line =~ /^#/ ? $line : "# $line", "\n" if length $line;
    }
}

sub close_test {
    my ($self) = @_;
    my $p = $self->parser;
    if ($p->skip_all) {
        print '# ', $self->name, ' skipped: ', $p->skip_all, "\n";
    }
    elsif ($p->has_problems && !$p->actual_failed) {
        my @why = ($p->parse_errors,
                   $p->exit ? 'exit status ' . $p->exit : (),
                   $p->wait && !$p->exit ? 'wait status ' . $p->wait : ());
        $self->formatter->emit(0, $self->name . ': '
                               . (@why ? join('; ', @why) : 'ended badly'));
    }
}

1;
