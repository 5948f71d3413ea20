/*
 * paths.h - where memwatch's files are by default, and the group that may
 * read them: the daemon and memwatchctl must agree, and the packages
 * (packaging/) install them there.
 */
#ifndef MEMWATCH_PATHS_H
#define MEMWATCH_PATHS_H

#define MW_DEFAULT_SOCKET "/run/memwatch/memwatchd.sock"
#ifdef _WIN32
/* Where docs/WINDOWS.md has memwatchw write; memwatchctl's default. */
#define MW_DEFAULT_DB "C:\\ProgramData\\memwatch\\memwatch.db"
#else
#define MW_DEFAULT_DB "/var/lib/memwatch/memwatch.db"
#endif
/*
 * Who may talk to memwatchd: root, and for queries (MW_MSG_STATUS) the
 * members of this group, when it exists. The socket and the database
 * belong to it (modes 0660 and 0640); without it both are root's alone.
 */
#define MW_GROUP "memwatch"

#endif
