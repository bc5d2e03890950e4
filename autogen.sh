#!/bin/sh
# Generates configure, Makefile.in and the rest of the autotools output,
# which git does not keep (release tarballs from "make dist" carry them).
# Run it once after a clone, and again after editing configure.ac or
# Makefile.am; then ./configure && make.
set -e
cd "$(dirname "$0")"
exec autoreconf -fi
