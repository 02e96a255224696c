/*
 * The vTPM state stores (store.h): a crash-safe file in a directory, and memory.
 *
 * The file (vtpm-state) is a 64-byte header and the blob:
 *   0  8  magic "SVSMvTPM"       16 8  generation (one more at every save)
 *   8  4  format version (1)     24 4  blob length
 *   12 4  flags (bit 0: manufactured)   28 4  reserved (0)
 *   32 32 SHA-256 of bytes 0-31 and of the blob
 * A save writes vtpm-state.tmp completely, fsyncs it, renames it over vtpm-state and
 * fsyncs the directory: rename is atomic, so a reader finds the old file or the new one.
 * The checksum catches what rename cannot (a torn or truncated file on a medium that lied).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "store.h"

#define STORE_MAGIC "SVSMvTPM"
#define STORE_FORMAT_VERSION 1u
#define STORE_FLAG_MANUFACTURED 0x1u
#define STORE_HASHED_HEADER 32u
#define STORE_LOCK_FILE "vtpm.lock"

/* --- crash injection (the crash test) ------------------------------------------------- */

static long store_crash_at = -1; /* -1: not read yet, 0: off */
static long store_crash_count;

/* A crash point of a save: die here if the test asked for it. */
static void store_crash_point(void)
{
	if (store_crash_at < 0) {
		const char *s = getenv("SVSM_EMU_VTPM_CRASH_AT");
		store_crash_at = s ? strtol(s, NULL, 10) : 0;
		if (store_crash_at < 0) {
			store_crash_at = 0;
		}
	}
	if (store_crash_at > 0 && ++store_crash_count == store_crash_at) {
		raise(SIGKILL);
	}
}

/* --- helpers ------------------------------------------------------------------------------ */

static void store_error(struct vtpm_store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) {
		p[i] = (uint8_t)(v >> (8 * i));
	}
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		p[i] = (uint8_t)(v >> (8 * i));
	}
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* SHA-256 of the hashed header part and the blob into @out; 0 or -1. */
static int store_digest(const uint8_t *hdr, const uint8_t *blob, uint32_t len, uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, hdr, STORE_HASHED_HEADER) == 1 &&
		 (len == 0 || EVP_DigestUpdate(ctx, blob, len) == 1) && EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32;

	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* --- the file store ---------------------------------------------------------------------- */

struct file_store {
	struct vtpm_store base;
	int dir_fd;
	int lock_fd;
	uint64_t generation; /* of the state on disk */
};

/* Write all of @len bytes; 0 or -1 (errno set). */
static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			if (n == 0) {
				errno = EIO;
			}
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static enum vtpm_store_result file_load(struct vtpm_store *base, uint8_t **blob, uint32_t *len, bool *manufactured)
{
	struct file_store *s = (struct file_store *)base;
	uint8_t hdr[VTPM_STORE_HEADER_SIZE];
	struct stat st;

	*blob = NULL;
	*len = 0;
	*manufactured = false;
	int fd = openat(s->dir_fd, VTPM_STORE_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			return VTPM_STORE_EMPTY;
		}
		store_error(base, "cannot open %s: %s", VTPM_STORE_FILE, strerror(errno));
		return VTPM_STORE_IO;
	}
	enum vtpm_store_result r = VTPM_STORE_CORRUPT;
	uint8_t *data = NULL;
	if (fstat(fd, &st) != 0) {
		store_error(base, "cannot stat %s: %s", VTPM_STORE_FILE, strerror(errno));
		r = VTPM_STORE_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)VTPM_STORE_HEADER_SIZE ||
	    st.st_size > (off_t)(VTPM_STORE_HEADER_SIZE + VTPM_STORE_MAX_BLOB)) {
		store_error(base, "%s: %lld bytes is no state file", VTPM_STORE_FILE, (long long)st.st_size);
		goto out;
	}
	size_t total = (size_t)st.st_size;
	data = malloc(total);
	if (!data) {
		store_error(base, "out of memory");
		r = VTPM_STORE_IO;
		goto out;
	}
	size_t got = 0;
	while (got < total) {
		ssize_t n = pread(fd, data + got, total - got, (off_t)got);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			store_error(base, "cannot read %s: %s", VTPM_STORE_FILE, n < 0 ? strerror(errno) : "short file");
			r = n < 0 ? VTPM_STORE_IO : VTPM_STORE_CORRUPT;
			goto out;
		}
		got += (size_t)n;
	}
	memcpy(hdr, data, sizeof(hdr));
	uint32_t blob_len = get_le32(hdr + 24);
	uint8_t digest[32];
	if (memcmp(hdr, STORE_MAGIC, 8) != 0 || get_le32(hdr + 8) != STORE_FORMAT_VERSION ||
	    (get_le32(hdr + 12) & ~STORE_FLAG_MANUFACTURED) != 0 || get_le32(hdr + 28) != 0 ||
	    blob_len != total - VTPM_STORE_HEADER_SIZE) {
		store_error(base, "%s: bad header", VTPM_STORE_FILE);
		goto out;
	}
	if (store_digest(hdr, data + VTPM_STORE_HEADER_SIZE, blob_len, digest) != 0) {
		store_error(base, "SHA-256 failed");
		r = VTPM_STORE_IO;
		goto out;
	}
	if (memcmp(digest, hdr + 32, 32) != 0) {
		store_error(base, "%s: checksum mismatch", VTPM_STORE_FILE);
		goto out;
	}
	s->generation = get_le64(hdr + 16);
	*manufactured = (get_le32(hdr + 12) & STORE_FLAG_MANUFACTURED) != 0;
	*len = blob_len;
	if (blob_len > 0) {
		memmove(data, data + VTPM_STORE_HEADER_SIZE, blob_len);
		*blob = data;
		data = NULL;
	}
	r = VTPM_STORE_OK;
out:
	free(data);
	close(fd);
	return r;
}

static enum vtpm_store_result file_save(struct vtpm_store *base, const uint8_t *blob, uint32_t len, bool manufactured)
{
	struct file_store *s = (struct file_store *)base;
	uint8_t hdr[VTPM_STORE_HEADER_SIZE] = {0};

	if (len > VTPM_STORE_MAX_BLOB) {
		store_error(base, "state of %u bytes is too large", len);
		return VTPM_STORE_IO;
	}
	memcpy(hdr, STORE_MAGIC, 8);
	put_le32(hdr + 8, STORE_FORMAT_VERSION);
	put_le32(hdr + 12, manufactured ? STORE_FLAG_MANUFACTURED : 0);
	put_le64(hdr + 16, s->generation + 1);
	put_le32(hdr + 24, len);
	if (store_digest(hdr, blob, len, hdr + 32) != 0) {
		store_error(base, "SHA-256 failed");
		return VTPM_STORE_IO;
	}

	int fd = openat(s->dir_fd, VTPM_STORE_TMP_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		store_error(base, "cannot create %s: %s", VTPM_STORE_TMP_FILE, strerror(errno));
		return VTPM_STORE_IO;
	}
	store_crash_point();
	uint32_t half = len / 2;
	if (write_all(fd, hdr, sizeof(hdr)) != 0 || write_all(fd, blob, half) != 0) {
		goto fail;
	}
	store_crash_point();
	if (write_all(fd, blob + half, len - half) != 0) {
		goto fail;
	}
	store_crash_point();
	if (fsync(fd) != 0) {
		goto fail;
	}
	store_crash_point();
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(s->dir_fd, VTPM_STORE_TMP_FILE, s->dir_fd, VTPM_STORE_FILE) != 0) {
		goto fail;
	}
	store_crash_point();
	if (fsync(s->dir_fd) != 0) {
		/* The new state is in place; only its durability across a power loss is in doubt. */
		store_error(base, "cannot sync the state directory: %s", strerror(errno));
		s->generation++;
		return VTPM_STORE_IO;
	}
	store_crash_point();
	s->generation++;
	base->saves++;
	return VTPM_STORE_OK;
fail:
	store_error(base, "cannot write %s: %s", VTPM_STORE_TMP_FILE, strerror(errno));
	if (fd >= 0) {
		close(fd);
	}
	unlinkat(s->dir_fd, VTPM_STORE_TMP_FILE, 0);
	return VTPM_STORE_IO;
}

static void file_close(struct vtpm_store *base)
{
	struct file_store *s = (struct file_store *)base;

	close(s->dir_fd);
	close(s->lock_fd); /* releases the lock */
	free(s);
}

static const struct vtpm_store_ops file_ops = {
	.load = file_load,
	.save = file_save,
	.close = file_close,
};

/* See store.h. */
struct vtpm_store *vtpm_store_file_open(const char *dir, char *err, size_t err_size)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, err_size, "cannot create state directory %s: %s", dir, strerror(errno));
		return NULL;
	}
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		snprintf(err, err_size, "cannot open state directory %s: %s", dir, strerror(errno));
		return NULL;
	}
	int lock_fd = openat(dir_fd, STORE_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock_fd < 0) {
		snprintf(err, err_size, "cannot create %s/%s: %s", dir, STORE_LOCK_FILE, strerror(errno));
		close(dir_fd);
		return NULL;
	}
	if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, err_size, "state directory %s is in use by another process", dir);
		close(lock_fd);
		close(dir_fd);
		return NULL;
	}
	/* A save that never reached its rename left its temporary file: it is not the state. */
	if (unlinkat(dir_fd, VTPM_STORE_TMP_FILE, 0) != 0 && errno != ENOENT) {
		snprintf(err, err_size, "cannot remove %s/%s: %s", dir, VTPM_STORE_TMP_FILE, strerror(errno));
		close(lock_fd);
		close(dir_fd);
		return NULL;
	}
	struct file_store *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, err_size, "out of memory");
		close(lock_fd);
		close(dir_fd);
		return NULL;
	}
	s->base.ops = &file_ops;
	s->dir_fd = dir_fd;
	s->lock_fd = lock_fd;
	return &s->base;
}

/* --- the memory store --------------------------------------------------------------------- */

struct mem_store {
	struct vtpm_store base;
	bool saved;
	bool manufactured;
	uint8_t *blob;
	uint32_t len;
};

static enum vtpm_store_result mem_load(struct vtpm_store *base, uint8_t **blob, uint32_t *len, bool *manufactured)
{
	struct mem_store *s = (struct mem_store *)base;

	*blob = NULL;
	*len = 0;
	*manufactured = false;
	if (!s->saved) {
		return VTPM_STORE_EMPTY;
	}
	if (s->len > 0) {
		*blob = malloc(s->len);
		if (!*blob) {
			store_error(base, "out of memory");
			return VTPM_STORE_IO;
		}
		memcpy(*blob, s->blob, s->len);
	}
	*len = s->len;
	*manufactured = s->manufactured;
	return VTPM_STORE_OK;
}

static enum vtpm_store_result mem_save(struct vtpm_store *base, const uint8_t *blob, uint32_t len, bool manufactured)
{
	struct mem_store *s = (struct mem_store *)base;
	uint8_t *copy = NULL;

	if (len > 0) {
		copy = malloc(len);
		if (!copy) {
			store_error(base, "out of memory");
			return VTPM_STORE_IO;
		}
		memcpy(copy, blob, len);
	}
	free(s->blob);
	s->blob = copy;
	s->len = len;
	s->manufactured = manufactured;
	s->saved = true;
	base->saves++;
	return VTPM_STORE_OK;
}

static void mem_close(struct vtpm_store *base)
{
	struct mem_store *s = (struct mem_store *)base;

	free(s->blob);
	free(s);
}

static const struct vtpm_store_ops mem_ops = {
	.load = mem_load,
	.save = mem_save,
	.close = mem_close,
};

/* See store.h. */
struct vtpm_store *vtpm_store_mem_new(void)
{
	struct mem_store *s = calloc(1, sizeof(*s));

	if (!s) {
		return NULL;
	}
	s->base.ops = &mem_ops;
	return &s->base;
}
