/*
 * text.h - strings that come from traced processes (thread and command
 * names, paths, symbols) made safe for a log line or a terminal. Such a
 * string is whatever bytes a program chose: an escape sequence would
 * recolour or move a terminal's cursor, a newline would forge a log line,
 * bytes that are not UTF-8 would break what parses them. Portable C: the
 * daemon, memwatchctl and the Windows port share it.
 */
#ifndef MEMWATCH_TEXT_H
#define MEMWATCH_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The length (1 to 4) of the valid UTF-8 character at s, which is not
 * the string's end, or 0: a stray or truncated byte, an overlong form, a
 * surrogate, or past U+10FFFF.
 */
unsigned text__utf8_len(const unsigned char *s);
/*
 * A control character (C0, DEL or C1: a terminal acts on each, and C1's
 * U+009B is a second CSI) at s, a character text__utf8_len accepted.
 */
bool text__is_control(const unsigned char *s, unsigned n);
/*
 * Copy src into dst (len > 0 bytes, always terminated) with each control
 * character and each byte that is not UTF-8 turned into '?'. Copies
 * whole characters only, as many as fit. Returns the length written.
 */
size_t text__safe(char *dst, size_t len, const char *src);
/*
 * The file name in a path a program recorded (a module, a source file):
 * after its last '/' or, in a path recorded on Windows, its last '\\'.
 */
const char *text__base_name(const char *path);
/*
 * The systemd unit a cgroup v2 path names, into buf (len > 0 bytes): its
 * last component ending in ".service", else its last ending in ".scope";
 * "" for none.
 */
void text__cgroup_unit(const char *cgroup, char *buf, size_t len);

#endif
