/*
 * version.h - memwatch's version: what memwatchd --version and memwatchctl
 * --version print, the man pages' headers and the packages' version
 * (make deb, make rpm read it here).
 */
#ifndef MEMWATCH_VERSION_H
#define MEMWATCH_VERSION_H

#define VERSION "0.1.0"

#endif
