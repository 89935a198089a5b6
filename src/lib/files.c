/* See files.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "files.h"

/* The umask from /proc: umask() cannot read it without setting it, which
 * another thread could see. Read once per process; a race reads it twice,
 * to the same value. */
mode_t oi__create_mode(void)
{
	static atomic_int cached = -1;
	int mode = atomic_load_explicit(&cached, memory_order_relaxed);
	if (mode >= 0)
		return (mode_t)mode;
	FILE *f = fopen("/proc/self/status", "re");
	unsigned mask = 022;
	if (f) {
		char line[256];
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "Umask: %o", &mask) == 1)
				break;
		fclose(f);
	}
	mode = (int)(0666 & ~mask);
	atomic_store_explicit(&cached, mode, memory_order_relaxed);
	return (mode_t)mode;
}

bool oi__is_file(const char *path, uint64_t dev, uint64_t ino)
{
	struct stat st;
	return lstat(path, &st) == 0 && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

int oi__temp_create(oi_temp *t, const char *dir, const char *base, mode_t mode)
{
	t->fd = -1;
	t->path = NULL;
	for (int attempt = 0; attempt < 8; attempt++) {
		char *p = oi__asprintf("%s/.%s.oi-XXXXXX", dir, base);
		if (!p)
			return OI_ENOMEM;
		int fd = mkostemp(p, O_CLOEXEC);
		if (fd < 0) {
			int rc = oi__fail(OI_EIO, "cannot create a file in %s: %s", dir, strerror(errno));
			free(p);
			return rc;
		}
		/* Blocking: another save may hold it for a moment to test it. If
		 * that one took it for stale meanwhile and removed it, start over. */
		int lrc;
		while ((lrc = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
			;
		struct stat st;
		if (lrc == 0 && fstat(fd, &st) == 0 &&
		    oi__is_file(p, (uint64_t)st.st_dev, (uint64_t)st.st_ino)) {
			t->path = p;
			t->fd = fd;
			t->dev = (uint64_t)st.st_dev;
			t->ino = (uint64_t)st.st_ino;
			if (fchmod(fd, mode) != 0) {
				int rc = oi__fail(OI_EIO, "%s: cannot set mode: %s", p, strerror(errno));
				oi__temp_close(t, true);
				return rc;
			}
			return 0;
		}
		close(fd);
		free(p);
	}
	return oi__fail(OI_EIO, "cannot create a file in %s: another program keeps removing it",
	                dir);
}

void oi__temp_close(oi_temp *t, bool unlink_it)
{
	if (unlink_it && t->path && oi__is_file(t->path, t->dev, t->ino))
		unlink(t->path);
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	free(t->path);
	t->path = NULL;
}

/* ---- other saves' temporaries ------------------------------------------- */

/* Whether name is ".base.oi-" and mkostemp's six characters. */
static bool temp_name_of(const char *name, const char *base)
{
	size_t bl = strlen(base);
	if (name[0] != '.' || strncmp(name + 1, base, bl) || strncmp(name + 1 + bl, ".oi-", 4))
		return false;
	const char *x = name + 1 + bl + 4;
	if (strlen(x) != 6)
		return false;
	for (; *x; x++)
		if (!((*x >= '0' && *x <= '9') || (*x >= 'a' && *x <= 'z') || (*x >= 'A' && *x <= 'Z')))
			return false;
	return true;
}

enum { TEMP_GONE, TEMP_LIVE, TEMP_STALE_REMOVED, TEMP_STALE };

/* Test one temporary: live (locked), or stale (then removed if asked). */
static int test_temp(const char *path, const oi_temp *mine, bool remove)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? TEMP_GONE : TEMP_LIVE; /* unknown: not ours to judge */
	struct stat st;
	int state = TEMP_LIVE;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		state = TEMP_LIVE;
	} else if (mine && (uint64_t)st.st_dev == mine->dev && (uint64_t)st.st_ino == mine->ino) {
		state = TEMP_GONE;
	} else if (flock(fd, (remove ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) {
		state = TEMP_STALE;
		/* it must still be the file tested, not one created since */
		if (remove && oi__is_file(path, (uint64_t)st.st_dev, (uint64_t)st.st_ino) &&
		    unlink(path) == 0)
			state = TEMP_STALE_REMOVED;
	}
	close(fd);
	return state;
}

/* Test every dir/.base.oi-XXXXXX; stop at the first live one if stop_live.
 * Returns whether one is live. */
static bool each_temp(const char *dir, const char *base, const oi_temp *mine, bool remove,
                      bool stop_live)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool live = false;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!temp_name_of(e->d_name, base))
			continue;
		char *p = oi__asprintf("%s/%s", dir, e->d_name);
		if (!p)
			break;
		if (test_temp(p, mine, remove) == TEMP_LIVE)
			live = true;
		free(p);
		if (live && stop_live)
			break;
	}
	closedir(d);
	return live;
}

void oi__remove_stale_temps(const char *dir, const char *base)
{
	each_temp(dir, base, NULL, true, false);
}

bool oi__temps_live(const char *dir, const char *base, const oi_temp *mine)
{
	return each_temp(dir, base, mine, false, true);
}

bool oi__file_locked(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool locked = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return locked;
}

/* ---- names -------------------------------------------------------------- */

int oi__rename_new(const char *from, const char *dest)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, dest, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return 1;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return oi__fail(OI_EIO, "cannot rename %s to %s: %s", from, dest, strerror(errno));
	/* a file system without RENAME_NOREPLACE: a hard link is as exclusive */
	if (link(from, dest) == 0) {
		unlink(from);
		return 0;
	}
	if (errno == EEXIST)
		return 1;
	/* nor hard links: the name is free if nothing is there now */
	struct stat st;
	if (lstat(dest, &st) == 0)
		return 1;
	if (rename(from, dest) != 0)
		return oi__fail(OI_EIO, "cannot rename %s to %s: %s", from, dest, strerror(errno));
	return 0;
}

/* The last extension of the base name of loc: its dot, or the end. */
static size_t ext_start(const char *loc)
{
	const char *slash = strrchr(loc, '/');
	const char *base = slash ? slash + 1 : loc;
	const char *dot = strrchr(base, '.');
	return (size_t)((dot && dot > base ? dot : base + strlen(base)) - loc);
}

static bool is_hex_part(const char *p)
{
	if (p[0] != '.')
		return false;
	for (int i = 1; i <= 8; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

char *oi__name_without_hex(const char *loc)
{
	size_t e = ext_start(loc);
	const char *slash = strrchr(loc, '/');
	size_t base = slash ? (size_t)(slash + 1 - loc) : 0;
	/* "X.<hex>.ext" or, with no extension left of it, "X.<hex>" */
	if (e >= base + 10 && is_hex_part(loc + e - 9))
		return oi__asprintf("%.*s%s", (int)(e - 9), loc, loc + e);
	size_t n = strlen(loc);
	if (e < n && n - e == 9 && e > base && is_hex_part(loc + e) && !strchr(loc + e + 1, '.'))
		return oi__asprintf("%.*s", (int)e, loc);
	return oi__strdup(loc);
}

char *oi__name_with_hex(const char *loc)
{
	uint32_t v;
	if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
		static _Thread_local uint64_t counter;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t mix[4] = { (uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, (uint64_t)getpid(),
		                    ++counter };
		v = (uint32_t)oi__hash_bytes(mix, sizeof mix, 0);
	}
	size_t e = ext_start(loc);
	return oi__asprintf("%.*s.%08x%s", (int)e, loc, (unsigned)v, loc + e);
}
