#!/usr/bin/perl
# lua_to_c.pl FILE.lua: prints a C header holding FILE as one string
# constant, HL_REDIS_LUA, and the library's name from its first line
# ("#!lua name=NAME") as HL_REDIS_LIBRARY, so that the Lua source is kept
# and edited as Lua (src/store/hl_store_redis.lua), never typed into C.
use strict;
use warnings;

my $file = shift or die "usage: $0 FILE.lua\n";
open(my $in, '<', $file) or die "$file: $!\n";
my @lines = <$in>;
close $in;
@lines or die "$file: empty\n";
$lines[0] =~ /^#!lua name=([A-Za-z0-9_]+)\s*$/
    or die "$file: the first line must be #!lua name=NAME\n";
my $name = $1;
print "/* Generated from $file by lua_to_c.pl: do not edit. */\n";
print "#define HL_REDIS_LIBRARY \"$name\"\n";
print "static const char HL_REDIS_LUA[] =\n";
for my $line (@lines) {
    (my $s = $line) =~ s/([\\"])/\\$1/g;
    $s =~ s/\n/\\n/;
    $s =~ s/([^\x20-\x7e\\])/sprintf("\\%03o", ord($1))/ge;
    print "    \"$s\"\n";
}
print "    ;\n";
