/* The save's files: temporaries that say whether their writer still runs,
 * the removal of those whose writer is gone, and names claimed without
 * replacing anything.
 *
 * A temporary is ".NAME.oi-XXXXXX" beside the file it becomes, and its
 * writer holds flock(LOCK_EX) on it from its creation until it is renamed
 * or removed. The lock dies with the process, even with kill -9: a
 * temporary whose lock can be taken has no writer, and is stale. */
#ifndef OI_FILES_H
#define OI_FILES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "internal.h"

typedef struct oi_temp {
	char *path;          /* NULL: none */
	int fd;              /* open, and locked, while path is a temporary */
	uint64_t dev, ino;
} oi_temp;

/* The mode a plain create gives (0666 less the umask, as it was at the
 * first call: a program that changes its umask later is not seen). */
mode_t oi__create_mode(void);

/* Create and lock dir/.base.oi-XXXXXX with the given mode. */
int oi__temp_create(oi_temp *t, const char *dir, const char *base, mode_t mode);
/* Close the temporary (its lock goes); unlink it first if unlink_it and it
 * is still the file it was. Frees path. */
void oi__temp_close(oi_temp *t, bool unlink_it);

/* Unlink every dir/.base.oi-XXXXXX nobody holds locked: the temporaries
 * that a killed save left. Best effort: what cannot be checked stays. */
void oi__remove_stale_temps(const char *dir, const char *base);
/* Whether a save other than the owner of mine (NULL: none) is writing a
 * temporary dir/.base.oi-XXXXXX now. */
bool oi__temps_live(const char *dir, const char *base, const oi_temp *mine);

/* Whether another open file description holds a flock on path. */
bool oi__file_locked(const char *path);

/* Rename from to dest unless dest exists: 0 done, 1 dest exists, or an
 * error. */
int oi__rename_new(const char *from, const char *dest);

/* Whether path names the file dev:ino (without following a last link). */
bool oi__is_file(const char *path, uint64_t dev, uint64_t ino);

/* A location with the unique part ".xxxxxxxx" (8 hex digits) before its
 * last extension, a new random one each call; or (strip) without such a
 * part. malloc'd. */
char *oi__name_with_hex(const char *loc);
char *oi__name_without_hex(const char *loc);

#endif
