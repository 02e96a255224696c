/* A test-and-test-and-set spinlock on compiler atomics (usable freestanding and under TSan). */
#ifndef SVSM_SPINLOCK_H
#define SVSM_SPINLOCK_H

#include <svsm/types.h>

struct spinlock {
	u32 locked;
};

#define SPINLOCK_INIT {0}

void arch_spin_backoff(void);

/* Spins between two arch_spin_backoff() calls of a waiter. */
#define SPIN_BACKOFF_SPINS 256

/* Take @l with an exchange of memory order @order (ACQUIRE, or SEQ_CST; a constant). */
static inline void spin_lock_ordered(struct spinlock *l, int order)
{
	for (;;) {
		if (!__atomic_exchange_n(&l->locked, 1, order)) {
			return;
		}
		unsigned spins = 0;
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED)) {
			__builtin_ia32_pause();
			if (++spins == SPIN_BACKOFF_SPINS) {
				spins = 0;
				arch_spin_backoff();
			}
		}
	}
}

static inline void spin_lock(struct spinlock *l)
{
	spin_lock_ordered(l, __ATOMIC_ACQUIRE);
}

/*
 * Take @l with a sequentially consistent exchange: for a lock whose word lock-free code
 * reads to learn whether someone is inside (a store/load pairing, as in emu/rmp.c).
 */
static inline void spin_lock_seq_cst(struct spinlock *l)
{
	spin_lock_ordered(l, __ATOMIC_SEQ_CST);
}

static inline bool spin_trylock(struct spinlock *l)
{
	return !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
}

static inline void spin_unlock(struct spinlock *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

#endif
