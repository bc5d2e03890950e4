package HL::RedisHost;
# An Apache host of a Redis store for the Redis tests: a private httpd
# (HL::Server) of a given MPM whose HyperlaneStore is a Redis URL, the
# module mounted at /hl, with workers enough for 50 keep-alive clients.
#
#   my $a = HL::RedisHost::host(mpm => 'prefork', store => $redis->url,
#                               conf => "HyperlaneCacheTTL 2\n");
use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use HL::Server ();

our @EXPORT_OK = qw(host backend_built);

my $WORKERS = <<'CONF';
<IfModule mpm_prefork_module>
    StartServers 10
    MinSpareServers 10
    MaxSpareServers 40
    ServerLimit 40
    MaxRequestWorkers 40
</IfModule>
<IfModule mpm_event_module>
    StartServers 2
    ServerLimit 4
    ThreadsPerChild 25
    MinSpareThreads 25
    MaxSpareThreads 100
    MaxRequestWorkers 100
</IfModule>
MaxKeepAliveRequests 0
KeepAliveTimeout 5
# What each worker spent on a request, as the server measured it (%D, in
# microseconds; mod_log_config is built into Debian's httpd): a bound on a
# worker's time is checked here, where a stalled client cannot add to it.
LogFormat "%D %>s %m %U" hltime
CustomLog "@DIR@/access_log" hltime
CONF

# An HL::Server, configured; started unless start => 0.  Dies with the
# error_log when it does not start.
sub host {
    my (%o) = @_;
    my $srv = HL::Server->new(mpm => $o{mpm});
    # ServerName with the port: the host's name in the history entries
    # it makes, two hosts on one machine told apart.
    $srv->configure("ServerName 127.0.0.1:\@PORT\@\n"
                    . ($o{store} ? "HyperlaneStore $o{store}\n" : '')
                    . ($o{conf} // '') . $WORKERS . <<'CONF');
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
    return $srv if defined $o{start} && !$o{start};
    $srv->start or die "httpd ($o{mpm}) did not answer: " . $srv->log;
    return $srv;
}

# True when the module under test has the Redis backend (configure
# builds it when hiredis is there): configtest takes a redis:// store.
sub backend_built {
    my $srv = HL::Server->new;
    $srv->configure("HyperlaneStore redis://127.0.0.1:1\n");
    my ($rc) = $srv->configtest;
    return $rc == 0;
}

1;
