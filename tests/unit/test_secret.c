/*
 * test_secret.c: secrets are locked, excluded from dumps and children,
 * bounded, and the allocator fails closed when it cannot lock.
 */
#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "secret.h"

#define SMAPS_LINE_MAX 512

/*
 * AddressSanitizer turns mlock() into a no-op (it would otherwise lock
 * its shadow memory too), so lock checks only mean something without it.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SKIP_UNDER_ASAN() skip()
#else
#define SKIP_UNDER_ASAN()                                                      \
	do {                                                                   \
	} while (0)
#endif

/* Copy the smaps "VmFlags" and "Locked" lines of the mapping at addr. */
static void
smaps_of(const void *addr, char *flags, size_t flagcap, long *locked_kb)
{
	char line[SMAPS_LINE_MAX];
	unsigned long lo;
	unsigned long hi;
	int in = 0;
	FILE *f;

	flags[0] = '\0';
	*locked_kb = -1;
	f = fopen("/proc/self/smaps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (!in) {
			continue;
		}
		if (strncmp(line, "Locked:", 7) == 0) {
			*locked_kb = strtol(line + 7, NULL, 10);
		} else if (strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(flags, flagcap, "%s", line + 8);
		}
	}
	fclose(f);
}

static void
test_bounds(void **state)
{
	struct secret *s;

	(void)state;
	assert_null(secret_new(0));
	assert_null(secret_new(SECRET_MAX + 1));
	assert_null(secret_new((size_t)-1));

	s = secret_new(SECRET_MAX);
	assert_non_null(s);
	assert_int_equal(s->cap, SECRET_MAX);
	secret_free(s);
	secret_free(NULL);
}

static void
test_locked_and_advised(void **state)
{
	char flags[SMAPS_LINE_MAX];
	struct secret *s;
	long locked;

	(void)state;
	s = secret_new(100);
	assert_non_null(s);
	assert_int_equal(s->len, 0);
	assert_int_equal(s->cap, 100);
	assert_int_equal((uintptr_t)s->data % (uintptr_t)getpagesize(), 0);

	/* dd: no core dump; wf or dc: not in children; lo: locked. */
	smaps_of(s->data, flags, sizeof(flags), &locked);
	assert_non_null(strstr(flags, " dd"));
	assert_true(strstr(flags, " wf") != NULL ||
		    strstr(flags, " dc") != NULL);
	secret_free(s);
	if (strstr(flags, " lo") == NULL) {
		SKIP_UNDER_ASAN();
	}
	assert_non_null(strstr(flags, " lo"));
	assert_true(locked >= 4);
}

static void
test_from_copies(void **state)
{
	static const unsigned char key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	struct secret *s;

	(void)state;
	s = secret_from(key, sizeof(key));
	assert_non_null(s);
	assert_int_equal(s->len, sizeof(key));
	assert_memory_equal(s->data, key, sizeof(key));
	assert_true(s->data != key);
	secret_free(s);
	assert_null(secret_from(key, 0));
}

/* A forked child must not see the parent's key bytes. */
static void
test_child_sees_no_key(void **state)
{
	struct secret *s;
	int status = 0;
	pid_t pid;
	size_t i;

	(void)state;
	s = secret_from("0123456789abcdef", 16);
	assert_non_null(s);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* With MADV_DONTFORK this read faults: also a pass. */
		for (i = 0; i < 16; i++) {
			if (s->data[i] != 0) {
				_exit(1);
			}
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
		    (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV));
	assert_memory_equal(s->data, "0123456789abcdef", 16);
	secret_free(s);
}

/* Drop CAP_IPC_LOCK from the effective set so RLIMIT_MEMLOCK applies. */
static int
drop_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) != 0) {
		return -1;
	}
	data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	return (int)syscall(SYS_capset, &hdr, data);
}

static void
test_fails_closed_without_mlock(void **state)
{
	struct rlimit rl = {0, 0};
	int status = 0;
	pid_t pid;

	(void)state;
	SKIP_UNDER_ASAN();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (drop_ipc_lock() != 0 ||
		    setrlimit(RLIMIT_MEMLOCK, &rl) != 0) {
			_exit(2);
		}
		/* No lockable memory left: the allocator must refuse. */
		_exit(secret_new(32) == NULL ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_ct_memeq(void **state)
{
	unsigned char a[64];
	unsigned char b[64];
	size_t i;

	(void)state;
	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_int_equal(ct_memeq(a, b, sizeof(a)), 1);
	assert_int_equal(ct_memeq(a, b, 0), 1);
	for (i = 0; i < sizeof(a); i++) {
		b[i] ^= 0x01;
		assert_int_equal(ct_memeq(a, b, sizeof(a)), 0);
		b[i] ^= 0x01;
	}
}

static void
test_wipe_mem(void **state)
{
	unsigned char buf[48];
	size_t i;

	(void)state;
	memset(buf, 0xa5, sizeof(buf));
	secret_wipe_mem(buf, sizeof(buf));
	for (i = 0; i < sizeof(buf); i++) {
		assert_int_equal(buf[i], 0);
	}
	secret_wipe_mem(NULL, 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_locked_and_advised),
	    cmocka_unit_test(test_from_copies),
	    cmocka_unit_test(test_child_sees_no_key),
	    cmocka_unit_test(test_fails_closed_without_mlock),
	    cmocka_unit_test(test_ct_memeq),
	    cmocka_unit_test(test_wipe_mem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
