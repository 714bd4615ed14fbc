/* segment: see segment.h. Plain shm_open/ftruncate/mmap; the only subtle part
 * is the creation race, settled by O_EXCL and the magic published last. */
#include "shm/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int segment_name(char *buf, size_t len, const char *instance, const char *what)
{
	if (!instance || !*instance || strchr(instance, '/') || strchr(what, '/'))
		return -EINVAL;
	int n = snprintf(buf, len, "/mcs.%s.%s", instance, what);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int segment_map_fd(struct segment *seg, int fd, size_t size, int writable)
{
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	void *p = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	seg->base = p;
	seg->size = size;
	return 0;
}

int segment_open(struct segment *seg, const char *name, size_t size)
{
	memset(seg, 0, sizeof(*seg));
	if (strlen(name) >= sizeof(seg->name))
		return -ENAMETOOLONG;
	snprintf(seg->name, sizeof(seg->name), "%s", name);

	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd >= 0) {
		if (ftruncate(fd, (off_t)size) != 0) {
			int err = -errno;
			close(fd);
			shm_unlink(name);
			return err;
		}
		seg->created = 1;
	} else if (errno == EEXIST) {
		fd = shm_open(name, O_RDWR, 0600);
		if (fd < 0)
			return -errno;
		/* The creator may not have sized it yet: wait briefly. */
		struct stat st;
		for (int i = 0; i < 2000; i++) {
			if (fstat(fd, &st) != 0) {
				int err = -errno;
				close(fd);
				return err;
			}
			if (st.st_size != 0)
				break;
			usleep(1000);
		}
		if ((size_t)st.st_size != size) {
			close(fd);
			return -EEXIST;
		}
	} else {
		return -errno;
	}
	int rc = segment_map_fd(seg, fd, size, 1);
	close(fd);
	return rc;
}

int segment_map_existing(struct segment *seg, const char *name, int writable)
{
	memset(seg, 0, sizeof(*seg));
	if (strlen(name) >= sizeof(seg->name))
		return -ENAMETOOLONG;
	snprintf(seg->name, sizeof(seg->name), "%s", name);
	int fd = shm_open(name, writable ? O_RDWR : O_RDONLY, 0);
	if (fd < 0)
		return -errno;
	/* A creator between shm_open(O_EXCL) and ftruncate shows size 0: wait
	 * for it briefly (as segment_open does) rather than call it damaged. */
	struct stat st;
	for (int i = 0;; i++) {
		if (fstat(fd, &st) != 0) {
			int err = -errno;
			close(fd);
			return err;
		}
		if (st.st_size != 0 || i >= 2000)
			break;
		usleep(1000);
	}
	if (st.st_size < 4096) {
		close(fd);
		return -EPROTO;
	}
	int rc = segment_map_fd(seg, fd, (size_t)st.st_size, writable);
	close(fd);
	return rc;
}

void segment_publish(struct segment *seg, uint64_t magic)
{
	/* Release: pairs with the acquire load in segment_wait_magic(). */
	atomic_store_explicit((_Atomic uint64_t *)seg->base, magic, memory_order_release);
}

int segment_wait_magic(const struct segment *seg, uint64_t magic, int timeout_ms)
{
	_Atomic uint64_t *m = (_Atomic uint64_t *)seg->base;
	for (int waited = 0;; waited++) {
		/* Acquire: pairs with the release store in segment_publish(). */
		uint64_t v = atomic_load_explicit(m, memory_order_acquire);
		if (v == magic)
			return 0;
		if (v != 0)
			return -EPROTO;
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

void segment_close(struct segment *seg)
{
	if (seg && seg->base) {
		munmap(seg->base, seg->size);
		seg->base = NULL;
	}
}

int segment_unlink(const char *name)
{
	return shm_unlink(name) == 0 ? 0 : -errno;
}

uint64_t segment_now_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t segment_now_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
