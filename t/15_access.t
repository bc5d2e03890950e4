# Access control below a mount is Apache's, all of it (issue 14, findings 1
# and 5): <Directory> and .htaccess sections that the mount's URL maps into
# apply to every endpoint, as they do to server-status at the same place;
# HyperlaneSkipDirectoryWalk On is the documented way to skip them; and
# HyperlaneFastPath answers only where the module is mounted for the host.
use strict;
use warnings FATAL => 'all';
use lib 't/lib', 'lib';

use Apache::Test;
use Apache::TestUtil;
use Digest::SHA qw(sha1_base64);
use HL::Server;
use HL::Test qw(check);
use MIME::Base64 qw(encode_base64);

plan tests => 53;

my $srv = HL::Server->new;
my $dir = $srv->dir;
for my $d (qw(docs docs/hl docs/ht docs/st docs/open docs/open/files docs/b docs/b/fast
               docs/b/fast/cache)) {
    mkdir "$dir/$d" or die "$d: $!";
}
sub write_file { open my $f, '>', $_[0] or die "$_[0]: $!"; print $f $_[1]; close $f }
write_file("$dir/htpasswd", "alice:{SHA}" . sha1_base64('wonderland') . "=\n");
write_file("$dir/docs/ht/.htaccess", <<"HT");
AuthType Basic
AuthName "hyperlane"
AuthUserFile "$dir/htpasswd"
Require valid-user
HT
write_file("$dir/docs/b/fast/cache/secret", "b.test's own file\n");
write_file("$dir/docs/open/files/a.txt", "a static file\n");

my $libexec = $srv->libexec;
my $modules = join "\n", map { "LoadModule ${_}_module $libexec/mod_$_.so" }
    qw(authz_host authn_core authn_file auth_basic authz_user status rewrite);
$srv->configure(<<'CONF', $modules);
DocumentRoot "@DIR@/docs"
AccessFileName .htaccess
<Directory "@DIR@/docs">
    AllowOverride None
</Directory>
<Directory "@DIR@/docs/hl">
    Require ip 10.0.0.1
</Directory>
<Directory "@DIR@/docs/st">
    Require ip 10.0.0.1
</Directory>
<Directory "@DIR@/docs/ht">
    AllowOverride AuthConfig
</Directory>
<Location /hl>
    SetHandler hyperlane
</Location>
<Location /ht>
    SetHandler hyperlane
</Location>
<Location /open>
    SetHandler hyperlane
</Location>
<Location /open/files>
    SetHandler none
</Location>
<LocationMatch "^/lm/">
    SetHandler hyperlane
</LocationMatch>
<Location /st>
    SetHandler server-status
</Location>
HyperlaneFastPath /fast
<VirtualHost 127.0.0.1:@PORT@>
    ServerName main.test
    ServerAlias alias.test *.wild.test
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName skip.test
    HyperlaneSkipDirectoryWalk On
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName a.test
    <Location /fast>
        SetHandler hyperlane
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName b.test
    DocumentRoot "@DIR@/docs/b"
    <Location /fast>
        Require all denied
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName rw.test
    AllowEncodedSlashes NoDecode
    RewriteEngine On
    RewriteRule ^/legacy/(.*)$ /open/$1 [PT]
    RewriteRule ^/legacy-hl/(.*)$ /hl/$1 [PT]
    RewriteRule ^/legacy-dots/(.*)$ /open/x/../$1 [PT]
    RewriteRule ^/open/moved/(.*)$ /open/$1 [R=302,L]
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName c.test
    HyperlaneFastPath off
    <Location /fast>
        SetHandler hyperlane
        Require all denied
    </Location>
</VirtualHost>
CONF
check($srv->start, 'private server with <Directory> and .htaccess rules');

sub req {
    my ($method, $path, %o) = @_;
    return $srv->request($method, $path, host => $o{host} || 'main.test', %o);
}
sub counter { my (undef, $j) = req('GET', '/open/counter/stats'); $j->{current_value} }

# A page's requests (Fetch Metadata) are served under the host's names:
# its ServerName, a ServerAlias, a wildcard one; a name it does not have
# (the default host takes the request) is refused: DNS rebinding.
for my $h (['main.test', 200], ['alias.test', 200], ['x.wild.test', 200],
           ['rebound.example', 421]) {
    my ($host, $code) = @$h;
    my ($r) = req('GET', '/open/counter/stats', host => $host,
                  headers => ['Sec-Fetch-Site' => 'same-origin']);
    ok t_cmp($r->code, $code, "a page at $host: $code");
}

# <Directory ... docs/hl> with Require ip 10.0.0.1: every endpoint, as for
# server-status under the same kind of rule.
my ($res) = req('GET', '/st');
ok t_cmp($res->code, 403, 'server-status under Require ip 10.0.0.1: 403');
for my $p ('/hl', '/hl/counter/stats', '/hl/counter/increment', '/hl/cache',
           '/hl/cache/x', '/hl/memory/benchmark?allocations=1&size=1',
           '/hl/nonexistent') {
    ($res) = req('GET', $p);
    ok t_cmp($res->code, 403, "GET $p: 403 like server-status");
}
($res) = req('PUT', '/hl/cache/x', content => 'stolen');
ok t_cmp($res->code, 403, 'PUT below the mount: 403');
($res) = req('POST', '/hl/counter/increment', content => '');
ok t_cmp($res->code, 403, 'POST counter/increment: 403');
($res) = req('POST', '/hl/process', content => 'abc');
ok t_cmp($res->code, 403, 'POST process: 403');
ok t_cmp(counter(), 0, 'no increment got through');
($res) = req('GET', '/open/cache/x');
ok t_cmp($res->code, 404, 'nothing was stored');

# .htaccess with Basic auth (AllowOverride AuthConfig).
($res) = req('GET', '/ht/counter/increment');
ok t_cmp($res->code, 401, '.htaccess asks for credentials');
check(($res->header('WWW-Authenticate') // '') =~ /Basic/, 'Basic challenge');
my $good = 'Basic ' . encode_base64('alice:wonderland', '');
my $bad = 'Basic ' . encode_base64('alice:looking-glass', '');
my $r = HTTP::Request->new(GET => 'http://127.0.0.1:' . $srv->port . '/ht/counter/increment',
                           [ Host => 'main.test', Authorization => $bad ]);
ok t_cmp($srv->{ua}->request($r)->code, 401, 'a wrong password: 401');
($res) = req('PUT', '/ht/cache/y', content => 'v');
ok t_cmp($res->code, 401, 'PUT without credentials: 401');
ok t_cmp(counter(), 0, 'still no increment');
$r->header(Authorization => $good);
$res = $srv->{ua}->request($r);
ok t_cmp($res->code, 200, 'with the password: served');
ok t_cmp(counter(), 1, 'one increment, the authorised one');

# HyperlaneSkipDirectoryWalk On (skip.test): the documented bypass.
($res) = req('GET', '/hl/counter/increment', host => 'skip.test');
ok t_cmp($res->code, 200, 'HyperlaneSkipDirectoryWalk On skips <Directory>');
($res) = req('GET', '/ht/counter/stats', host => 'skip.test');
ok t_cmp($res->code, 200, 'and .htaccess');
ok t_cmp(counter(), 2, 'counted');

# HyperlaneFastPath /fast, set in the main server.  a.test mounts /fast:
# served there.  b.test inherits the directive but has no mount at /fast,
# only files of its own under Require all denied: the fast path must not
# answer there.  c.test mounts /fast and turns the fast path off.
($res) = req('PUT', '/fast/cache/secret', host => 'a.test', content => 'shared value');
ok t_cmp($res->code, 201, 'a.test stores a value below its mount');
my $j;
($res, $j) = req('GET', '/fast/cache/secret', host => 'a.test');
ok t_cmp($res->code, 200, 'a.test: fast path answers');
ok t_cmp($j && $j->{value}, 'shared value');
($res) = req('GET', '/fast/cache/secret', host => 'b.test');
ok t_cmp($res->code, 403, 'b.test (no mount): its own Require applies');
check($res->content !~ /shared value/, 'and the shared value is not shown');
($res) = req('GET', '/fast/counter/stats', host => 'b.test');
ok t_cmp($res->code, 403, 'nor counter/stats');
($res) = req('GET', '/fast/cache/secret', host => 'c.test');
ok t_cmp($res->code, 403, 'c.test: HyperlaneFastPath off, Require applies');
check($srv->log =~ /HyperlaneFastPath \/fast is not used for b\.test/,
      'the log says where the fast path is not used');
check($srv->log =~ /SetHandler hyperlane at \S+httpd\.conf:\d+ is not in a plain <Location \/path>/,
      'the log says where SetHandler hyperlane is no mount (a <LocationMatch>)');
my ($mounted) = $srv->log =~ /(mounted at .*)/;
# (httpd keeps its hosts in the reverse of their order in the file)
check(($mounted // '') =~ /^mounted at \/hl \/ht \/open( \/fast \([ac]\.test:\d+\)){2}$/
      && $mounted =~ /a\.test/ && $mounted =~ /c\.test/,
      'the start lists every host\'s mounts, the main server\'s first: ' . ($mounted // 'none'));

# mod_rewrite's [PT] in server context changes r->uri after Apache has
# normalised it, and <Location> and <Directory> then match the new path:
# the module routes that path, with its key decoded once, and access
# control is the new path's.
($res, $j) = req('GET', '/legacy/counter/stats', host => 'rw.test');
ok t_cmp($res->code, 200, 'a [PT] rewrite into a mount is served');
check($j && defined $j->{current_value}, 'with counter/stats\' answer');
($res) = req('PUT', '/legacy/cache/a%20b%2541', host => 'rw.test', content => 'rewritten');
ok t_cmp($res->code, 201, 'a PUT through the rewrite stores');
($res, $j) = req('GET', '/open/cache/a%20b%2541', host => 'rw.test');
check($res->code == 200 && $j && $j->{key} eq 'a b%41' && $j->{value} eq 'rewritten',
      'under the key the same path names without the rewrite');
# AllowEncodedSlashes NoDecode: an encoded slash stays one through the
# rewrite, as it is without it.
($res) = req('PUT', '/legacy/cache/x%2Fy', host => 'rw.test', content => 'slashed');
ok t_cmp($res->code, 201, 'a PUT of an encoded slash through the rewrite');
($res, $j) = req('GET', '/open/cache/x%2Fy', host => 'rw.test');
check($res->code == 200 && $j && $j->{key} eq 'x/y' && $j->{value} eq 'slashed',
      'under the key x/y, as without the rewrite (' . ($j ? $j->{key} // '' : '') . ')');
($res, $j) = req('GET', '/legacy-hl/counter/increment', host => 'rw.test');
ok t_cmp($res->code, 403, 'the rewritten path\'s <Directory> Require applies');
check($j && $j->{status} == 403, 'as JSON');
($res, $j) = req('GET', '/legacy-dots/counter/stats', host => 'rw.test');
check($res->code == 400 && $j && $j->{status} == 400,
      'a rewrite to a path with dot segments: 400 JSON (' . $res->code . ')');
ok t_cmp(counter(), 2, 'no increment through the rewrites');
# A redirect below a mount is Apache's, not a refusal in JSON.
($res) = req('GET', '/open/moved/counter/stats', host => 'rw.test', max_redirect => 0);
check($res->code == 302 && ($res->header('Location') // '') =~ m{/open/counter/stats$}
      && ($res->header('Content-Type') // '') =~ m{^text/html},
      'a [R=302] below a mount: Apache\'s redirect (' . $res->code . ', '
      . ($res->header('Content-Type') // '') . ')');

# A <Location> below a mount with another handler serves as Apache does,
# its errors included; the mount's own paths stay the module's.
($res) = req('GET', '/open/files/a.txt');
check($res->code == 200 && $res->content eq "a static file\n",
      'SetHandler none below a mount: its file is served');
($res) = req('GET', '/open/files/missing.txt');
check($res->code == 404 && ($res->header('Content-Type') // '') =~ m{^text/html},
      'and its 404 is Apache\'s page (' . ($res->header('Content-Type') // '') . ')');
($res, $j) = req('GET', '/open/nope');
check($res->code == 404 && $j && $j->{status} == 404, 'the mount\'s own 404 is JSON');

check($srv->stop, 'the private server stopped');
