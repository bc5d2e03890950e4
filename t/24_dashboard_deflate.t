# The dashboard behind mod_deflate as Debian's deflate.conf sets it up
# (DEFLATE for text/html, text/css and the scripts; DeflateAlterETag
# AddSuffix, the default): the browser gets "X-gzip" and revalidates with
# it, and that must be a 304, not the whole page again at every load.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use HL::Server;
use HL::Test qw(check);

my $srv = HL::Server->new;
my $lib = $srv->libexec;
plan tests => 17, need { 'mod_filter and mod_deflate' => -e "$lib/mod_filter.so"
                                                        && -e "$lib/mod_deflate.so" };
my $modules = "LoadModule filter_module $lib/mod_filter.so\n"
            . "LoadModule deflate_module $lib/mod_deflate.so";
$srv->configure(<<'CONF', $modules);
AddOutputFilterByType DEFLATE text/html text/plain text/xml text/css text/javascript
AddOutputFilterByType DEFLATE application/x-javascript application/javascript
<Location /hl>
    SetHandler hyperlane
</Location>
CONF
check($srv->start, 'private server with mod_deflate');

my @gzip = ('Accept-Encoding' => 'gzip');
for my $path ('dashboard', 'dashboard/app.js', 'dashboard/style.css') {
    my ($res) = $srv->request('GET', "/hl/$path", headers => \@gzip);
    my $tag = $res->header('ETag') // '';
    check($res->code == 200 && ($res->header('Content-Encoding') // '') eq 'gzip'
          && $tag =~ /^"[^"]+-gzip"$/, "$path: 200, gzip, ETag $tag");
    ($res) = $srv->request('GET', "/hl/$path", headers => [@gzip, 'If-None-Match' => $tag]);
    ok t_cmp($res->code, 304, "$path: If-None-Match $tag -> 304");
    if ($path eq 'dashboard') {
        # The 304 is what the 200 was: the compressed page's tag, which
        # depends on Accept-Encoding.
        ok t_cmp(scalar $res->header('ETag'), $tag, 'the 304 carries the tag sent');
        check(($res->header('Vary') // '') =~ /Accept-Encoding/i, 'and Vary: Accept-Encoding');
        ok t_cmp(scalar $res->header('Cache-Control'), 'no-cache', 'and the 200\'s Cache-Control');
    }
    (my $other = $tag) =~ s/^"/"x/;
    ($res) = $srv->request('GET', "/hl/$path", headers => [@gzip, 'If-None-Match' => $other]);
    ok t_cmp($res->code, 200, "$path: another tag -> 200");
}
my ($res) = $srv->request('GET', '/hl/dashboard', headers => \@gzip);
my $tag = $res->header('ETag');
($res) = $srv->request('GET', '/hl/dashboard',
                       headers => [@gzip, 'If-None-Match' => qq{"a", W/$tag, "b"}]);
ok t_cmp($res->code, 304, 'the suffixed tag in a list, weak: 304 (weak comparison)');
($res) = $srv->request('HEAD', '/hl/dashboard', headers => [@gzip, 'If-None-Match' => $tag]);
ok t_cmp($res->code, 304, 'HEAD: 304 too');
($res) = $srv->request('GET', '/hl/dashboard', headers => [@gzip, 'If-None-Match' => '*']);
ok t_cmp($res->code, 304, 'If-None-Match: * -> 304, as Apache answers it');
($res) = $srv->request('GET', '/hl/dashboard', headers => [@gzip, 'If-None-Match' => 'bogus']);
ok t_cmp($res->code, 200, 'a value that is no tag list: the page');
